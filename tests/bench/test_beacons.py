"""The beacons bench reports skipping-at-tau against the same model dense, in the report shape of
docs/architecture.md ("Benchmarks")."""

from __future__ import annotations

import pytest

from explainer import load_model
from explainer.bench import beacons
from explainer.bench.beacons import run
from explainer.bench.common import BenchOptions
from tests.conftest import build_model, save_checkpoint


def test_beacons_bench_on_a_tiny_model_with_a_threshold(tmp_path, tokenizer):
    folder = save_checkpoint(build_model("ours", beacon_threshold=0.5), tokenizer, tmp_path / "gated")
    data = run(BenchOptions(repeats=1, quick=True), bundle=load_model(folder))
    assert data["bench"] == "beacons"
    rows = data["results"]
    assert [r["case"].split(",")[0].split()[-1] for r in rows] == ["1", "1", "32", "32"]  # batch sizes
    for against_dense, against_ideal in (rows[:2], rows[2:]):
        for row in (against_dense, against_ideal):
            assert "tau 0.5" in row["case"]
            assert row["ratio"] == pytest.approx(row["ours"] / row["reference"])
        assert against_dense["reference_name"] == "same model dense (tau = 0)"
        assert against_dense["meets"] == (against_dense["ratio"] <= 1.0)
        # The ideal: dense time x (1 - FLOPs saved), from the same timing as the dense row.
        saved = float(against_ideal["case"].split("% of the FLOPs saved")[0].split()[-1]) / 100
        assert 0 <= saved < 1  # never all the work: attention always runs
        assert against_ideal["ours"] == against_dense["ours"]
        assert against_ideal["reference"] == pytest.approx(against_dense["reference"] * (1 - saved), rel=2e-3)
        assert against_ideal["reference_name"] == "dense time x (1 - share of FLOPs saved)"
        assert against_ideal["meets"] == (against_ideal["ratio"] <= 1.25)


def test_flops_counts_the_skipped_ffn(tmp_path, tokenizer):
    folder = save_checkpoint(build_model("ours", beacon_threshold=0.5), tokenizer, tmp_path / "gated")
    loaded = load_model(folder)
    texts = ["a quiet triumph , warm and funny .", "a dull , lifeless script ."]
    gated, dense = beacons.flops(loaded, texts, 0.5), beacons.flops(loaded, texts, 0.0)
    closed = beacons.flops(loaded, texts, 1.5)  # a gate is at most 1: every FFN skipped
    config = loaded.model.config
    slots = len(texts) * len(loaded.tokenizer(texts, padding=True)["input_ids"][0])
    ffn = 2 * 2 * config.hidden_size * config.intermediate_size * slots * config.num_hidden_layers  # two products
    assert dense - closed == ffn
    assert closed <= gated <= dense


def test_beacons_bench_refuses_a_model_without_beacons(bundle):
    with pytest.raises(ValueError, match="no activation beacons"):
        run(BenchOptions(repeats=1), bundle=bundle("baseline"))
