"""The causal bench, run briefly on tiny models for the shape of its report (never for speed)."""

from __future__ import annotations

import json

import pytest

from explainer.bench import BENCHES, BenchOptions
from explainer.bench import causal as causal_bench
from explainer.bench.common import RESULT_KEYS


def test_causal_bench_rows(bundle):
    data = causal_bench.run(
        BenchOptions(repeats=1, quick=True), models=[("tiny bert", lambda: bundle("bert"))], lengths={"tiny bert": 24}
    )
    assert BENCHES["causal"] is causal_bench.run
    assert data["bench"] == "causal" and len(data["results"]) == 4
    metrics = [row["metric"] for row in data["results"]]
    assert metrics == [
        causal_bench.ABLATION_METRIC,
        causal_bench.NAIVE_METRIC,
        causal_bench.SHARING_METRIC,
        causal_bench.PATCH_METRIC,
    ]
    for row in data["results"]:
        assert tuple(row)[: len(RESULT_KEYS)] == RESULT_KEYS
        assert row["case"] == "tiny bert 24 tokens, 2 layers x 4 heads"
        assert row["ratio"] == pytest.approx(row["ours"] / row["reference"], rel=1e-9)
        assert row["forward_seconds"] > 0 and row["batched_seconds"] > 0 and row["naive_seconds"] > 0
    ablation, naive, sharing, patching = data["results"]
    assert ablation["target"].startswith("ratio <= 4 ") and ablation["meets"] == (ablation["ratio"] <= 4)
    # Prefix sharing ran (layer 1's 4 heads join at layer 1) and did less work than every row from the input.
    assert sharing["prefix_shared"] and sharing["full_recompute_layer_evaluations"] == 9 * 2
    assert sharing["layer_evaluations"] == 2 + 2 + 4 * 2 + 4 * 1  # seed, check row, layer 0's heads, layer 1's
    assert sharing["full_recompute_seconds"] > 0 and sharing["meets"] == (sharing["ratio"] < 1)
    # nothing patched, 3 residual + 2 attention + 2 MLP rows per partnered position, one per head (2 x 4)
    partnered = (patching["patch_rows"] - 1 - 8) / 7
    assert partnered == int(partnered) and 10 <= partnered < 24  # the swapped word's tokens have no partner
    assert patching["patch_timing"].startswith("full run")
    json.loads(json.dumps(data))
