"""The attribution bench on tiny models: registered, the report shape of docs/architecture.md ("Benchmarks"), every
row present with its ratio and target."""

from __future__ import annotations

from explainer.bench import BENCHES, BenchOptions
from explainer.bench import attribution as attribution_bench
from explainer.bench.common import RESULT_KEYS, random_bert

TINY_BERT = {"num_hidden_layers": 2, "num_attention_heads": 2, "hidden_size": 32, "intermediate_size": 64,
             "max_position_embeddings": 64}


def test_attribution_bench_reports_ig_captum_and_graph_against_forward_backward():
    assert BENCHES["attribution"] is attribution_bench.run
    data = attribution_bench.run(
        BenchOptions(repeats=1, quick=True), models=[("tiny bert", lambda: random_bert(**TINY_BERT))], lengths=[16]
    )
    assert data["bench"] == "attribution" and data["machine"]
    rows = data["results"]
    assert len(rows) == 4
    for row in rows:
        assert tuple(row) == RESULT_KEYS
        assert row["ours"] > 0 and row["reference"] > 0
        assert row["ratio"] == row["ours"] / row["reference"]
        assert row["reference_name"].startswith("one forward+backward")
    assert "integrated gradients, ours (" in rows[0]["case"] and "points" in rows[0]["case"]
    assert "ours stopped on |delta| alone" in rows[1]["case"]
    for row in rows[:3]:
        assert "worst token" in row["case"]  # per-token error against the 128-point reference
    assert "captum's default call (50 steps" in rows[2]["case"]
    assert "attribution graph" in rows[3]["case"]
    assert rows[2]["meets"] == (rows[2]["ratio"] <= 10)
    if rows[0]["meets"]:
        assert rows[0]["ratio"] <= 10


def test_attribution_bench_sentence_row_times_ours_on_real_sentences(tmp_path):
    data = tmp_path / "dev.tsv"
    data.write_text("sentence\tlabel\na quiet triumph .\t1\na dull , lifeless script .\t0\nwarm and funny .\t1\n")
    rows = attribution_bench.run(
        BenchOptions(repeats=1, quick=True),
        models=[("tiny bert", lambda: random_bert(**TINY_BERT))],
        lengths=[16],
        data=data,
    )["results"]
    assert len(rows) == 6
    sentences, joined = rows[-2:]
    assert "ours on 3 SST-2 dev sentences" in sentences["case"] and "points median" in sentences["case"]
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
