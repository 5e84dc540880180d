"""The attention bench: the Attention page's bytes and build time against bertviz's own head view, run quickly
on tiny models (the BERT-base-sized page-size check is marked slow)."""

from __future__ import annotations

import json

import pytest

from explainer.bench import BENCHES, BenchOptions
from explainer.bench import attention as attention_bench
from explainer.bench.common import RESULT_KEYS, random_bert, text_with_tokens
from explainer.cli.bench import main

# 4 heads make bertviz's all-heads page outgrow ours (which inlines ~0.4 MB of JavaScript per view) by 128 tokens.
TINY_BERT = {"num_hidden_layers": 2, "num_attention_heads": 4, "hidden_size": 32, "intermediate_size": 64}
FIELDS = (
    "tokens",
    "layers",
    "heads",
    "bytes_per_figure",
    "total_bytes",
    "reference_bytes",
    "build_seconds",
    "reference_seconds",
    "within_10mb",
    "within_1s",
    "timing",
)
FIGURES = {"head", "grid", "statistics", "rollout_readout", "rollout", "head_view", "model_view"}


@pytest.fixture(scope="module")
def tiny_bert():
    return random_bert(**TINY_BERT)


def check_rows(data: dict) -> None:
    assert list(data) == ["bench", "machine", "results"] and data["bench"] == "attention"
    assert data["results"] and len(data["results"]) % 2 == 0
    for row in data["results"]:
        assert tuple(row)[: len(RESULT_KEYS)] == RESULT_KEYS
        assert set(FIELDS) <= set(row)
        assert row["reference_name"] == attention_bench.REFERENCE_NAME
        assert FIGURES <= set(row["bytes_per_figure"])
        assert all(isinstance(size, int) and size > 0 for size in row["bytes_per_figure"].values())
        assert row["total_bytes"] == sum(row["bytes_per_figure"].values())
        assert row["reference_bytes"] > 0 and row["build_seconds"] > 0 and row["reference_seconds"] > 0
        assert row["within_10mb"] == (row["total_bytes"] <= 10_000_000)
        assert row["within_1s"] == (row["build_seconds"] <= 1.0)
        assert row["ratio"] == pytest.approx(row["ours"] / row["reference"], rel=1e-12)
    # Two rows per case, bytes then seconds, sharing the case's fields.
    for bytes_row, seconds_row in zip(data["results"][::2], data["results"][1::2]):
        assert bytes_row["case"] == seconds_row["case"]
        assert bytes_row["metric"] == attention_bench.BYTES_METRIC
        assert seconds_row["metric"] == attention_bench.SECONDS_METRIC
        assert bytes_row["ours"] == pytest.approx(bytes_row["total_bytes"], rel=1e-5)
        assert bytes_row["reference"] == pytest.approx(bytes_row["reference_bytes"], rel=1e-5)
        assert bytes_row["meets"] == bytes_row["within_10mb"]
        assert seconds_row["ours"] == pytest.approx(seconds_row["build_seconds"], rel=1e-5)
        assert seconds_row["meets"] == seconds_row["within_1s"]
        assert {k: bytes_row[k] for k in FIELDS} == {k: seconds_row[k] for k in FIELDS}
    json.loads(json.dumps(data))


def test_attention_bench_on_tiny_models(tiny_bert, bundle):
    models = [("tiny bert", lambda: tiny_bert), ("conftest bert", lambda: bundle("bert"))]
    data = attention_bench.run(BenchOptions(repeats=1, quick=True), models=models, lengths=(16, 96, 128))
    check_rows(data)
    cases = [row["case"] for row in data["results"][::2]]
    assert cases[:3] == [
        "tiny bert 16 tokens, 2 layers x 4 heads",
        "tiny bert 96 tokens, 2 layers x 4 heads",
        "tiny bert 128 tokens, 2 layers x 4 heads",
    ]
    # The conftest model reads at most 64 tokens: 96 and 128 both truncate to the same input, run once.
    assert cases[3:] == [
        "conftest bert 16 tokens, 2 layers x 4 heads",
        "conftest bert 64 tokens (text of 128, truncated), 2 layers x 4 heads",
    ]
    rows = data["results"][::2]
    assert [row["tokens"] for row in rows] == [16, 96, 128, 16, 64]
    # bertviz's page grows with every weight of every head; ours is bounded, and smaller on the longest input.
    assert rows[2]["total_bytes"] < rows[2]["reference_bytes"]
    assert rows[2]["reference_bytes"] > 1.5 * rows[1]["reference_bytes"]


def test_time_case_times_a_slow_reference_once():
    calls: list[str] = []

    def ours():
        calls.append("A")

    def reference():
        calls.append("B")

    fast = attention_bench.time_case(ours, reference, repeats=3, budget=60.0)
    assert calls == ["A", "B"] * 4 and fast[2].startswith("alternating")  # 1 warm-up round, 3 timed ones
    calls.clear()
    slow = attention_bench.time_case(ours, reference, repeats=3, budget=0.0)
    assert calls == ["A", "B", "A", "A", "A"] and slow[2].startswith("separately")  # reference run once


def test_utf8_size_counts_bytes():
    assert attention_bench.utf8_size("abc") == 3
    assert attention_bench.utf8_size("naïve ✓") == len("naïve ✓".encode())


def test_cli_quick_json(capsys):
    import torch

    assert BENCHES["attention"] is attention_bench.run
    threads = torch.get_num_threads()
    try:
        assert main(["attention", "--json", "--quick", "--repeats", "1", "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
    data = json.loads(capsys.readouterr().out)
    check_rows(data)
    assert any(row["case"].startswith("default model ") for row in data["results"])
    assert any(row["case"].startswith("small bert (random weights) 128 tokens") for row in data["results"])


@pytest.mark.slow
def test_page_on_bert_base_at_512_tokens_is_within_10mb():
    """The target case, ours only (bertviz's reference there takes a minute and ~8 GB: run the bench for it)."""
    bundle = random_bert()
    config = bundle.model.config
    assert (config.num_hidden_layers, config.num_attention_heads) == (12, 12)
    from explainer import trace

    t = trace(bundle, text_with_tokens(bundle.tokenizer, 512))
    assert len(t.tokens) == 512
    sizes = attention_bench.page_payload(t)
    assert FIGURES <= set(sizes)
    assert sum(sizes.values()) <= attention_bench.MAX_BYTES
