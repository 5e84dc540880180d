"""The map bench run briefly on a tiny model (PCA and neighbours; UMAP and the browser are left to the real run):
the report's shape, its stages, and the ratio and memory flags computed from them."""

from __future__ import annotations

import json

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
    assert set(stages) == {"predictions_alone", "predictions_with_embeddings", "pca", "neighbours"}
    # Stages are reported in milliseconds: their sum may differ from the row's seconds by the rounding, 0.5 ms each.
    assert timing["ours"] == pytest.approx(sum(v for k, v in stages.items() if k != "predictions_alone"), abs=2e-3)
    assert timing["reference"] == pytest.approx(stages["predictions_alone"], abs=1e-3)
    assert timing["meets"] == (timing["ratio"] <= map_bench.TARGET_RATIO)
    slices = timing["pass_ratio_per_slice"]  # the passes alternated over slices, each slice's ratio kept
    assert len(slices) == len(map_bench._slices(300)) >= 2 and all(r > 0 for r in slices)
    assert "generated" in timing["case"] and "300 rows" in timing["case"]
    assert memory["metric"] == "GB" and 0 < memory["ours"] < 100
    assert memory["meets"] == (memory["ours"] < map_bench.MEMORY_BUDGET_GB)
    json.loads(json.dumps(data))


def test_bench_rows_are_distinct(tmp_path):
    # Repeated rows are searched and laid out once by the map but predicted every time: the bench's rows must
    # differ, the file's sentences first (each once), then two of them joined.
    path = tmp_path / "train.tsv"
    path.write_text("sentence\tlabel\na fine film\t1\na dull film\t0\nok\t1\na fine  film\t1\n")
    rows, name = map_bench.bench_rows(7, path)
    texts = [text for text, _ in rows]
    assert texts[:3] == ["a fine film", "a dull film", "ok"] and len(set(texts)) == 7
    sentences = {"a fine film", "a dull film", "ok"}
    assert all(text.count(" ") >= 1 and any(text.startswith(s + " ") for s in sentences) for text in texts[3:])
    assert all(label == {"a fine film": 1, "a dull film": 0, "ok": 1}[next(s for s in sentences if text.startswith(s))]
               for text, label in rows)
    assert name == "SST-2 train (3 distinct sentences, and 4 texts of two of them joined)"
    assert map_bench.bench_rows(7, path) == (rows, name)  # seeded
    assert map_bench.bench_rows(2, path)[1] == "SST-2 train (2 distinct sentences)"
    with pytest.raises(ValueError, match="cannot make 13 distinct rows"):
        map_bench.bench_rows(13, path)


def test_generated_rows_are_distinct(tmp_path):
    rows, name = map_bench.bench_rows(500, tmp_path / "missing.tsv")
    assert len({text for text, _ in rows}) == 500 and name.startswith("generated")


def test_slices_cover_the_rows_once():
    for count in (1, 100, 2_000, 100_000, 100_003):
        slices = map_bench._slices(count)
        assert [i for part in slices for i in part] == list(range(count))
        assert len(slices) == (map_bench.SLICES if count >= 100_000 else len(slices)) and len(slices) >= 1
