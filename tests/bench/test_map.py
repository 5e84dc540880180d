"""The map bench run briefly on a tiny model (PCA and neighbours; UMAP and the browser are left to the real run):
the report's shape, its stages, and the ratio and memory flags computed from them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from explainer.bench import BENCHES, BenchOptions
from explainer.bench import map as map_bench
from explainer.bench.common import RESULT_KEYS


def test_map_bench_on_a_tiny_model(bundle, tmp_path):
    missing = tmp_path / "no-such-train.tsv"  # generated sentences: the bench runs without the shared data
    data = map_bench.run(
        BenchOptions(repeats=1, quick=True), bundle=bundle("bert"), rows=300, data=missing, umap=False, browser=False
    )
    assert BENCHES["map"] is map_bench.run
    assert list(data) == ["bench", "machine", "results"] and data["bench"] == "map"
    timing, memory = data["results"]
    for row in data["results"]:
        assert tuple(row)[: len(RESULT_KEYS)] == RESULT_KEYS and row["rows"] == 300
        assert row["ratio"] == pytest.approx(row["ours"] / row["reference"], rel=1e-12)
    assert 0 < timing["distinct_vectors"] <= 300  # what the search ran over, said beside the rows
    stages = timing["seconds"]
    assert set(stages) == {"predictions_alone", "predictions_with_embeddings", "vectors", "pca", "neighbours"}
    # Stages are reported in milliseconds: their sum may differ from the row's seconds by the rounding, 0.5 ms each.
    # The pass counts as the predictions' seconds times the slices' median ratio; the plain sums are beside it.
    ratios = timing["pass_ratio_per_slice"]
    after = sum(v for k, v in stages.items() if k not in ("predictions_alone", "predictions_with_embeddings"))
    assert timing["pass_ratio_median"] == pytest.approx(float(np.median(ratios)), abs=2e-3)
    # Each stage is rounded to 0.5 ms, the median ratio to 5e-5: the checks allow exactly that rounding.
    alone, half = stages["predictions_alone"], 5e-4
    after_error = half * (len(stages) - 2)
    low = (alone - half) * (timing["pass_ratio_median"] - 5e-5) + after - after_error
    high = (alone + half) * (timing["pass_ratio_median"] + 5e-5) + after + after_error
    assert low <= timing["ours"] <= high
    summed = stages["predictions_with_embeddings"] + after
    assert (summed - half - after_error) / (alone + half) - 5e-5 <= timing["ratio_of_sums"]
    assert timing["ratio_of_sums"] <= (summed + half + after_error) / (alone - half) + 5e-5
    assert timing["reference"] == pytest.approx(stages["predictions_alone"], abs=1e-3)
    assert timing["meets"] == (timing["ratio"] <= map_bench.TARGET_RATIO)
    slices = timing["pass_ratio_per_slice"]  # the passes alternated over slices, each slice's ratio kept
    assert len(slices) == len(map_bench._slices(300)) == 2
    assert "generated" in timing["case"] and "300 rows" in timing["case"]
    assert memory["metric"] == "GB" and 0 < memory["ours"] < 100
    assert memory["meets"] == (memory["ours"] < map_bench.MEMORY_BUDGET_GB)
    json.loads(json.dumps(data))


def test_bench_rows_are_distinct_and_of_the_files_lengths(tmp_path):
    # Repeated rows are searched and laid out once by the map but predicted every time, and longer rows make
    # predicting dearer while the map's search costs the same: the file's sentences each once (a repeat keeps its
    # first label), then copies with one word replaced, as long as their sentence; shuffled.
    path = tmp_path / "train.tsv"
    path.write_text("sentence\tlabel\na fine film\t1\na dull film\t0\nok then\t1\na fine  film\t0\n")
    rows, name = map_bench.bench_rows(7, path)
    texts = [text for text, _ in rows]
    labels = {"a fine film": 1, "a dull film": 0, "ok then": 1}
    assert len(set(texts)) == 7 and set(labels) <= set(texts)
    vocabulary = {"a", "fine", "film", "dull", "ok", "then"}
    for text, label in rows:
        if text in labels:
            assert label == labels[text]
            continue
        # one word replaced: the source sentence is the one it differs from in one place, of its length
        words = text.split()
        sources = [s for s in labels if len(s.split()) == len(words)
                   and sum(a != b for a, b in zip(s.split(), words)) == 1]
        assert sources and set(words) <= vocabulary and label in {labels[s] for s in sources}
    assert name == "SST-2 train (3 distinct sentences, and 4 copies of them with one word replaced)"
    assert map_bench.bench_rows(7, path) == (rows, name)  # seeded
    assert map_bench.bench_rows(2, path)[1] == "SST-2 train (2 distinct sentences)"
    with pytest.raises(ValueError, match="cannot make 100 distinct rows"):
        map_bench.bench_rows(100, path)  # 3 sentences of 2-3 words over 6 words: fewer variants than that


def test_bench_rows_spread_the_copies_evenly(tmp_path):
    # Slices of the rows are timed against each other: each must hold the same mix, not the copies last.
    path = tmp_path / "train.tsv"
    path.write_text("sentence\tlabel\n" + "".join(f"sentence number {i}\t{i % 2}\n" for i in range(300)))
    rows, _ = map_bench.bench_rows(600, path)
    originals = {f"sentence number {i}" for i in range(300)}
    for part in map_bench._slices(600):
        copies = sum(text not in originals for text, _ in rows[part.start : part.stop])
        assert 0.3 < copies / len(part) < 0.7


def test_generated_rows_are_distinct(tmp_path):
    rows, name = map_bench.bench_rows(500, tmp_path / "missing.tsv")
    assert len({text for text, _ in rows}) == 500 and name.startswith("generated")


def test_slices_cover_the_rows_once():
    for count, parts in ((1, 1), (100, 1), (300, 2), (2_000, 15), (100_000, 20), (100_003, 20)):
        slices = map_bench._slices(count)
        assert len(slices) == parts
        assert [i for part in slices for i in part] == list(range(count))


def test_sliced_passes_equal_one_pass_and_the_frame_is_the_maps(bundle, tmp_path, monkeypatch):
    # The bench joins its slices' stores back: the vectors must be the data set's, row for row, and the figure's
    # table the one build_map makes (colour by label reads no marker).
    import numpy as np
    import pandas as pd

    from explainer.data.labelled import read_dataset
    from explainer.dataset_map.embeddings import embed_dataset
    from explainer.dataset_map.maps import MapOptions, build_map, points_frame
    from explainer.dataset_map.projection import fit_pca, unit_rows

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    model = bundle("bert")
    rows, _ = map_bench.bench_rows(400, tmp_path / "missing.tsv")
    file = tmp_path / "rows.tsv"
    file.write_text("sentence\tlabel\n" + "".join(f"{t}\t{model.label_names[y]}\n" for t, y in rows))
    labelled = read_dataset(file, label_names=model.label_names)
    seconds, predictions, vectors, markers, ratios = map_bench._timed_passes(model, labelled)
    assert set(seconds) == {"predictions_alone", "predictions_with_embeddings", "vectors"} and len(ratios) == 3
    whole, store, _ = embed_dataset(model, labelled)
    assert np.array_equal(vectors, unit_rows(store.layer(store.layers - 1, "readout")))
    # batches of a slice differ from the whole file's, in the last float bit only
    np.testing.assert_allclose(predictions.probabilities, whole.probabilities, rtol=0, atol=1e-6)
    assert np.array_equal(predictions.lengths, whole.lengths)
    xy = fit_pca(vectors, 2).transform(vectors)
    frame = points_frame(labelled, predictions, tuple(model.label_names), markers, xy)
    mapped = build_map(model, labelled, MapOptions(method="pca", layer=store.layers - 1))
    assert list(frame.columns) == list(mapped.frame.columns)
    same = [c for c in frame.columns if c not in ("marker", "x", "y")]
    pd.testing.assert_frame_equal(frame[same], mapped.frame[same], check_exact=False, rtol=0, atol=1e-6)
