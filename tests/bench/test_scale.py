"""The scale bench: its shards hold every row as the reader sees it, and a quick run on a tiny model (local and Ray
drivers in fresh processes) reports the rows of docs/architecture.md ("Benchmarks") with the right row counts,
positive times and memory, and targets only where the issue sets them."""

from __future__ import annotations

import json

import pytest

from explainer.bench import BENCHES, BenchOptions
from explainer.bench import scale as scale_bench
from explainer.bench.common import RESULT_KEYS, random_bert_folder
from explainer.data.labelled import read_dataset
from explainer.scale.inputs import resolve_inputs


def test_shards_hold_every_row_in_order(tmp_path):
    pairs = [('a "quoted", comma\ttext', 1), ("plain", 0), ("multi\nline", 1), ("x", 0), ("y", 1)]
    folder = scale_bench.write_shards(tmp_path / "in", pairs, 4)
    inputs = resolve_inputs(folder)
    assert [p.name for p in inputs.files] == ["part-00.csv", "part-01.csv", "part-02.csv", "part-03.csv"]
    texts, labels = [], []
    for path in inputs.files:
        data = read_dataset(path, label_names=("negative", "positive"))
        assert not data.problems
        texts += data.texts
        labels += data.labels
    assert texts == ['a "quoted", comma text', "plain", "multi line", "x", "y"]  # whitespace folded, quotes kept
    assert labels == [1, 0, 1, 0, 1]


TINY_BERT = {
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "hidden_size": 32,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
}


@pytest.mark.slow
def test_quick_scale_bench_on_a_tiny_model(tmp_path):
    pytest.importorskip("ray")
    missing = tmp_path / "no-such-train.tsv"  # generated sentences: the bench runs without the shared data
    # A tiny BERT keeps the model's share small: the run's time is the four drivers' and Ray's start.
    model = random_bert_folder(**TINY_BERT)
    data = scale_bench.run(BenchOptions(repeats=1, quick=True), model=model, data=missing)
    assert BENCHES["scale"] is scale_bench.run
    assert list(data) == ["bench", "machine", "results"] and data["bench"] == "scale"
    small, large = scale_bench.QUICK_SIZES
    rows = data["results"]
    assert [row["rows"] for row in rows] == [small, small, large, large, large, large]
    for row in rows:
        assert tuple(row)[: len(RESULT_KEYS)] == RESULT_KEYS
        assert row["ours"] > 0 and row["reference"] > 0
        assert row["ratio"] == pytest.approx(row["ours"] / row["reference"], rel=1e-12)
    small_time, small_run, large_time, large_run, ray_memory, local_memory = rows

    # Time: ray against local at each size; the target only at the largest size, as the issue sets it.
    for timed, size in ((small_time, small), (large_time, large)):
        assert f"{size:,} rows" in timed["case"] and "generated" in timed["case"]
        assert timed["metric"] == "seconds, Ray's start included"
        runs = timed["runs"]
        for engine in ("ray", "local"):
            run = runs[engine]
            assert run["engine"] == engine and run["rows"] == size and run["skipped"] == 0
            assert run["seconds"] > run["run_seconds"] > 0 and run["process_seconds"] > run["seconds"]
            assert run["driver_vmhwm_mb"] > 50 and run["driver_peak_rss_polled_mb"] > 50
            assert run["driver_peak_rss_mb"] == max(run["driver_vmhwm_mb"], run["driver_peak_rss_polled_mb"])
            # seconds are rounded to the millisecond: a short run's rate moves by that share
            rate_tolerance = 1e-3 + 6e-4 / run["seconds"]
            assert timed["rows_per_second"][engine] == pytest.approx(size / run["seconds"], rel=rate_tolerance)
        assert runs["ray"]["workers"] == scale_bench.WORKERS and runs["local"]["workers"] == 1
        assert runs["ray"]["ray_start_seconds"] > 0 and runs["local"]["ray_start_seconds"] < 0.01
        # Ray's driver is only the driver: its workers and Ray's own processes add to the tree, not to it.
        assert runs["ray"]["tree_peak_rss_polled_mb"] > runs["ray"]["driver_peak_rss_mb"]
        assert timed["ours"] == pytest.approx(runs["ray"]["seconds"], rel=1e-3, abs=6e-4)
        assert timed["reference"] == pytest.approx(runs["local"]["seconds"], rel=1e-3, abs=6e-4)
        assert "2 actors x 1 torch thread" in timed["threads"]["ray"] and "torch" in timed["threads"]["local"]
    assert small_time["target"] is None and small_time["meets"] is None
    assert large_time["target"] == "ratio <= 1.25" and large_time["meets"] == (large_time["ratio"] <= 1.25)
    for timed, bare in ((small_time, small_run), (large_time, large_run)):
        assert bare["target"] is None and bare["meets"] is None and "without Ray's start" in bare["metric"]
        # The runs' seconds are rounded to the millisecond, the rows' are not.
        assert bare["ours"] == pytest.approx(timed["runs"]["ray"]["run_seconds"], abs=6e-4)
        assert bare["reference"] == pytest.approx(timed["runs"]["local"]["run_seconds"], abs=6e-4)

    # Memory: each driver's peak at the largest size against its peak at the smallest; the target on Ray's driver.
    assert ray_memory["metric"] == "MB" and "ray engine's driver" in ray_memory["case"]
    assert ray_memory["ours"] == pytest.approx(large_time["runs"]["ray"]["driver_peak_rss_mb"], rel=1e-3)
    assert ray_memory["reference"] == pytest.approx(small_time["runs"]["ray"]["driver_peak_rss_mb"], rel=1e-3)
    assert ray_memory["target"] == "ratio <= 1.2" and ray_memory["meets"] == (ray_memory["ratio"] <= 1.2)
    assert local_memory["target"] is None and local_memory["meets"] is None
    assert local_memory["ours"] == pytest.approx(large_time["runs"]["local"]["driver_peak_rss_mb"], rel=1e-3)
    json.loads(json.dumps(data))
