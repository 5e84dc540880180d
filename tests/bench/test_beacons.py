"""The beacons bench reports skipping-at-tau against the same model dense, in the report shape of
docs/architecture.md ("Benchmarks")."""

from __future__ import annotations

import pytest

from explainer import load_model
from explainer.bench.beacons import run
from explainer.bench.common import BenchOptions
from tests.conftest import build_model, save_checkpoint


def test_beacons_bench_on_a_tiny_model_with_a_threshold(tmp_path, tokenizer):
    folder = save_checkpoint(build_model("ours", beacon_threshold=0.5), tokenizer, tmp_path / "gated")
    data = run(BenchOptions(repeats=1, quick=True), bundle=load_model(folder))
    assert data["bench"] == "beacons"
    assert [r["case"].split(",")[0].split()[-1] for r in data["results"]] == ["1", "32"]  # batch sizes
    for row in data["results"]:
        assert "tau 0.5" in row["case"] and row["reference_name"] == "same model dense (tau = 0)"
        assert row["ratio"] == pytest.approx(row["ours"] / row["reference"])
        assert row["meets"] == (row["ratio"] <= 1.0)


def test_beacons_bench_refuses_a_model_without_beacons(bundle):
    with pytest.raises(ValueError, match="no activation beacons"):
        run(BenchOptions(repeats=1), bundle=bundle("baseline"))
