"""The attribution bench on tiny models: registered, the report shape of docs/architecture.md ("Benchmarks"), every
row present with its ratio and target."""

from __future__ import annotations

import pytest

from explainer.bench import BENCHES, BenchOptions
from explainer.bench import attribution as attribution_bench
from explainer.bench.common import RESULT_KEYS, random_bert

TINY_BERT = {
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "hidden_size": 32,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
}


def test_attribution_bench_reports_ig_captum_and_graph_against_forward_backward():
    assert BENCHES["attribution"] is attribution_bench.run
    data = attribution_bench.run(
        BenchOptions(repeats=1, quick=True), models=[("tiny bert", lambda: random_bert(**TINY_BERT))], lengths=[16]
    )
    assert data["bench"] == "attribution" and data["machine"]
    rows = data["results"]
    assert len(rows) == 5
    for row in rows:
        assert tuple(row) == RESULT_KEYS
        assert row["ours"] > 0 and row["reference"] > 0
        assert row["ratio"] == row["ours"] / row["reference"]
    ours, on_delta, captum, against_captum, graph = rows
    for row in (ours, on_delta, captum, graph):
        assert row["reference_name"].startswith("one forward+backward")
    assert "integrated gradients, ours (" in ours["case"] and "points" in ours["case"]
    assert "ours stopped on |delta| alone" in on_delta["case"]
    for row in (ours, on_delta, captum):
        assert "worst token" in row["case"]  # per-token error against the 128-point reference
    assert "captum's default call (50 steps" in captum["case"]
    # captum's row is a reference row: no target, no meets (docs/architecture.md, "Benchmarks"); the |delta|-only
    # row shows what that stop costs, with no target of its own (it carried ours' 10x on random models)
    assert captum["target"] is None and captum["meets"] is None
    assert on_delta["target"] is None and on_delta["meets"] is None
    # A random model (not the trained default) keeps the 10x target.
    assert ours["target"].startswith("ratio <= 10") and isinstance(ours["meets"], bool)
    if ours["meets"]:
        assert ours["ratio"] <= 10
    # Ours against captum at the same |delta|: captum's n_steps doubled from 50, target ours >= 5x faster.
    assert against_captum["reference_name"] == attribution_bench.CAPTUM_NAME
    assert "steps, |delta|" in against_captum["case"] and against_captum["target"].startswith("ratio <= 0.2")
    assert isinstance(against_captum["meets"], bool)
    if against_captum["meets"]:
        assert against_captum["ratio"] <= 0.2
    assert "attribution graph (steps per layer [" in graph["case"] and "no time target" in graph["target"]
    assert isinstance(graph["meets"], bool)


def test_captum_search_doubles_n_steps_until_the_delta_is_within_the_tolerance():
    # Larger random weights: at the default init the tiny model's logit gap is ~1e-6. The tolerances below come from
    # captum's own deltas on this model, not fixed numbers: in two full-suite runs of 2026-11-30 (never alone) the
    # 50-step delta exceeded a fixed loose tolerance of 100% of the gap.
    from explainer.attribution import attribute

    bundle = random_bert(**TINY_BERT, initializer_range=0.5)
    text = "a quiet triumph , warm and funny ."
    gap = attribute(bundle, text, "integrated_gradients").logit_gap
    _, first_steps, first_delta = attribution_bench.captum_search(bundle, text, tolerance=float("inf"))
    assert first_steps == attribution_bench.CAPTUM_FIRST_STEPS
    loose_call, loose_steps, loose_delta = attribution_bench.captum_search(bundle, text, tolerance=first_delta)
    assert loose_steps == attribution_bench.CAPTUM_FIRST_STEPS and loose_delta == pytest.approx(first_delta), gap
    strict_call, strict_steps, strict_delta = attribution_bench.captum_search(bundle, text, 1e-9, max_steps=200)
    assert strict_steps == 200  # never reached: doubled 50 -> 100 -> 200, stopped at the cap, says how far it got
    assert strict_delta > 1e-9
    # The returned call is captum's at that n_steps, and the delta it reports is that call's (float32 noise aside).
    error = abs(float(strict_call().sum()) - gap)
    assert error == pytest.approx(strict_delta * abs(gap), abs=5e-4 * abs(gap) + 1e-6), gap


def test_attribution_bench_sentence_rows_compare_with_captum_on_real_sentences(tmp_path):
    data = tmp_path / "dev.tsv"
    data.write_text("sentence\tlabel\na quiet triumph .\t1\na dull , lifeless script .\t0\nwarm and funny .\t1\n")
    rows = attribution_bench.run(
        BenchOptions(repeats=1, quick=True),
        models=[("tiny bert", lambda: random_bert(**TINY_BERT))],
        lengths=[16],
        data=data,
    )["results"]
    assert len(rows) == 7
    sentences, joined = rows[-2:]
    assert "on 3 SST-2 dev sentences, ours" in sentences["case"] and "n_steps median" in sentences["case"]
    assert sentences["reference_name"] == attribution_bench.CAPTUM_NAME
    assert f"ours on {attribution_bench.LONG_TEXTS} texts of {attribution_bench.LONG_TOKENS} tokens" in joined["case"]
    for row in (sentences, joined):
        assert row["metric"] == "seconds for all texts"
        assert row["ours"] > 0 and row["reference"] > 0 and row["ratio"] == row["ours"] / row["reference"]


def test_joined_dev_texts_have_the_asked_token_count():
    dev = ["a quiet triumph .", "a dull , lifeless script .", "warm and funny ."]
    bundle = random_bert(**TINY_BERT)
    texts = attribution_bench._joined_dev_texts(bundle.tokenizer, dev, 20)
    assert len(texts) == attribution_bench.LONG_TEXTS
    assert [len(bundle.tokenizer(text)["input_ids"]) for text in texts] == [20] * len(texts)
    assert len(set(texts)) > 1  # drawn at random, not one text repeated
