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
    assert "generated" in timing["case"] and "300 rows" in timing["case"]
    assert memory["metric"] == "GB" and 0 < memory["ours"] < 100
    assert memory["meets"] == (memory["ours"] < map_bench.MEMORY_BUDGET_GB)
    json.loads(json.dumps(data))


def test_bench_rows_repeat_the_file(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("sentence\tlabel\na fine film\t1\na dull film\t0\nok\t1\n")
    rows, name = map_bench.bench_rows(7, path)
    assert [text for text, _ in rows] == ["a fine film", "a dull film", "ok"] * 2 + ["a fine film"]
    assert "SST-2 train (3 sentences, repeated)" == name
