"""The Attention page's figures, built from a Trace without Streamlit: pooling, limits, click targets, sizes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from explainer import trace
from explainer.views import attention_page as attention_views
from explainer.views.attention_page import AttentionOptions, build, derive, payload_bytes, pool_attention


@pytest.fixture(scope="module")
def small_trace(bundle):
    return trace(bundle("bert"), "a dull plot , but great acting")


def long_trace(base, tokens: int, seed: int = 0):
    """`base` with random attention over `tokens` tokens (rows sum to 1), to exercise the size limits."""
    rng = np.random.default_rng(seed)
    weights = rng.random((base.num_layers, base.num_heads, tokens, tokens)).astype(np.float32)
    weights /= weights.sum(axis=-1, keepdims=True)
    return dataclasses.replace(
        base,
        tokens=tuple(f"t{i}" for i in range(tokens)),
        attentions=weights,
        offsets=np.zeros((tokens, 2), dtype=np.int64),
        special_tokens=np.zeros(tokens, dtype=bool),
        hidden_states=np.zeros((base.num_layers + 1, tokens, base.hidden_states.shape[-1]), dtype=np.float32),
    )


def test_pooling_averages_blocks_exactly():
    rng = np.random.default_rng(1)
    attention = rng.random((1, 1, 10, 10)).astype(np.float32)
    pooled, block = pool_attention(attention, cells=5)
    assert pooled.shape == (1, 1, 5, 5) and block == 2.0
    expected = attention[0, 0].reshape(5, 2, 5, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(pooled[0, 0], expected, rtol=1e-6)
    same, one = pool_attention(attention, cells=32)  # short inputs are not pooled
    assert one == 1.0 and np.array_equal(same, attention)


def test_page_has_every_figure_and_no_limits_on_a_short_input(small_trace):
    page = build(small_trace, AttentionOptions(layer=1, head=1))
    assert list(page.figures) == ["head", "grid", "statistics", "rollout_readout", "rollout", "logit_lens"]
    assert page.figures["head"].layout.title.text == "Layer 1, head 1"
    assert page.notes == {}
    assert page.head_view is not None and page.head_view.layers == (1,)  # head view follows the chosen layer
    assert page.model_view.layers == tuple(range(small_trace.num_layers))
    np.testing.assert_allclose(page.figures["rollout_readout"].data[0].y, page.rollout[0], rtol=1e-6)
    sizes = payload_bytes(page)
    assert set(sizes) == {*page.figures, "head_view", "model_view"} and all(size > 0 for size in sizes.values())


@pytest.mark.parametrize("family, readout", [("bert", "first"), ("gpt2", "last"), ("llama", "last")])
def test_the_rollout_bar_is_the_row_of_the_token_the_classifier_reads(bundle, family, readout):
    """A decoder's first token attends only to itself, so its rollout row is one-hot whatever the text: the bar
    once showed that for GPT-2 and Llama. It shows the row of the position the classifier reads."""
    traced = trace(bundle(family), "The film is a quiet triumph, warm and funny.")
    assert traced.readout == (0 if readout == "first" else len(traced.tokens) - 1)
    page = build(traced, AttentionOptions(layer=0, head=0))
    bar = np.asarray(page.figures["rollout_readout"].data[0].y, dtype=float)
    np.testing.assert_allclose(bar, page.rollout[traced.readout], rtol=1e-6)
    assert f"(the {readout}: " in page.figures["rollout_readout"].layout.title.text
    assert np.count_nonzero(bar > 1e-6) > 1  # draws on more than itself


def test_grid_and_statistics_map_points_name_their_head(small_trace):
    page = build(small_trace, AttentionOptions(layer=1, head=0))
    layers, heads = small_trace.num_layers, small_trace.num_heads
    for name in ("grid", "statistics"):
        picker = next(t for t in page.figures[name].data if t.name == "heads")
        assert [tuple(c) for c in picker.customdata] == [(lay, hd) for lay in range(layers) for hd in range(heads)]
        ring = next(t for t in page.figures[name].data if t.name == "selected")
        index = 1 * heads + 0
        assert (ring.x[0], ring.y[0]) == (picker.x[index], picker.y[index])  # the open head is ringed
    stat = page.figures["statistics"].data[0].z
    np.testing.assert_allclose(stat, page.statistics.entropy)
    distance = build(small_trace, AttentionOptions(statistic="mean_distance")).figures["statistics"]
    assert distance.data[0].colorbar.title.text == "mean distance" == distance.layout.title.text  # not the field
    assert next(t for t in distance.data if t.name == "heads").hovertext[0].startswith("layer 0, head 0<br>mean dist")


def test_the_rollout_axes_are_positions_and_input_tokens_not_keys_and_queries(small_trace):
    rollout = build(small_trace, AttentionOptions()).figures["rollout"]
    assert (rollout.layout.xaxis.title.text, rollout.layout.yaxis.title.text) == ("input token drawn on", "position")


def test_long_input_pools_thumbnails_windows_bertviz_and_says_so(small_trace):
    long = long_trace(small_trace, 200)
    page = build(long, AttentionOptions(bertviz_layers=(0, 1)))
    assert set(page.notes) == {"grid", "head_view", "model_view"}
    assert "pooled" in page.notes["grid"] and "Showing tokens" in page.notes["head_view"]
    assert page.figures["grid"].data[0].z.shape[0] == long.num_layers * 33 - 1  # 32-cell thumbnails + gaps
    for view in (page.head_view, page.model_view):
        cells = len(view.layers) * len(view.heads) * (view.token_end - view.token_start) ** 2
        assert cells <= attention_views.bertviz_views.DEFAULT_VALUE_BUDGET and view.limited
    # the full head and the rollout stay complete
    assert len(page.figures["head"].data[0].x) == 200 and page.rollout.shape == (200, 200)


def test_derived_is_reused_and_matches(small_trace):
    derived = derive(small_trace)
    again = build(small_trace, AttentionOptions(statistic="self_share"), derived)
    np.testing.assert_allclose(again.figures["statistics"].data[0].z, derived.statistics.self_share)
    assert again.rollout is derived.rollout


def test_the_logit_lens_names_hidden_states_as_the_other_views(small_trace):
    """Its x axis once read "layer (0 = embeddings)", 1 to L: its layer 1 was the Attention page's layer 0."""
    from explainer.views.attention import logit_lens_chart

    figure = logit_lens_chart(small_trace)
    states = len(small_trace.layer_probabilities)
    assert states == small_trace.num_layers + 1
    names = ["embeddings", *(f"after layer {layer}" for layer in range(small_trace.num_layers))]
    assert all(list(line.x) == names for line in figure.data)
    assert figure.layout.xaxis.type == "category"
    # a label is the trace's name, referred to: in the template plotly filled in a name holding "%{y}"
    odd = logit_lens_chart(dataclasses.replace(small_trace, label_names=("%{y}", "b")))
    assert [line.name for line in odd.data] == ["%{y}", "b"]
    assert all("%{y}" not in line.hovertemplate.split("<extra>")[1] for line in odd.data)


def unknown_decoder(tmp_path, tokenizer):
    """GPT-NeoX: a decoder the per-architecture table lacks (its classifier reads the last token, the table's
    fallback the first)."""
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForSequenceClassification

    from explainer import load_model
    from tests.conftest import ID2LABEL, LABEL2ID, VOCAB, save_checkpoint

    torch.manual_seed(0)
    config = GPTNeoXConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=37, max_position_embeddings=64, pad_token_id=0, bos_token_id=2,
                           eos_token_id=3, id2label=ID2LABEL, label2id=LABEL2ID)
    folder = save_checkpoint(GPTNeoXForSequenceClassification(config).eval(), tokenizer, tmp_path / "gpt-neox")
    return load_model(folder, device="cpu")


def test_no_rollout_bar_where_no_single_position_carries_the_prediction(tmp_path, tokenizer):
    """The bar showed the first token's rollout row as "the token the classifier reads": for a decoder the table
    lacks that row is [1, 0, ...] whatever the text, and a mean-pooling ModernBERT reads no single position."""
    from explainer import load_model
    from tests.conftest import build_model, save_checkpoint

    mean = save_checkpoint(build_model("modernbert", classifier_pooling="mean"), tokenizer, tmp_path / "mean")
    for loaded in (unknown_decoder(tmp_path, tokenizer), load_model(mean, device="cpu")):
        result = trace(loaded, "a dull plot , but great acting")
        assert result.readout_note is not None and "position" in result.readout_note
        page = build(result, AttentionOptions(bertviz=False))
        assert "rollout_readout" not in page.figures and page.notes["rollout_readout"] == result.readout_note
        assert "rollout" in page.figures


def test_a_family_whose_readout_is_known_has_no_readout_note(small_trace):
    assert small_trace.readout_note is None


def test_prediction_bars_keep_numeric_label_names_as_categories(small_trace):
    """Labels named "1" and "0": the bars' axis became a number line (ticks -0.5 … 1.5)."""
    from explainer.views.attention import logit_lens_chart, prediction_bars
    from explainer.views.thought_beacon import prediction_change

    named = dataclasses.replace(small_trace, label_names=("1", "0"))
    bars = prediction_bars(named)
    assert bars.layout.yaxis.type == "category" and list(bars.data[0].y) == ["1", "0"]
    assert prediction_change(named, named).layout.xaxis.type == "category"
    long = dataclasses.replace(small_trace, label_names=("x" * 100 + "NEG", "x" * 100 + "POS"))
    assert [line.name[-3:] for line in logit_lens_chart(long).data] == ["NEG", "POS"]
    assert all(len(line.name) == 40 for line in logit_lens_chart(long).data)


def test_the_rollout_title_names_the_readout_token_as_the_axis_does(small_trace):
    """On GPT-2 the title read "(the last: Ġfriend)" over an axis reading "3 friend"."""
    from explainer.views.attention import rollout_readout_token

    last = len(small_trace.tokens) - 1
    named = dataclasses.replace(small_trace, tokens=(*small_trace.tokens[:-1], "Ġfriend"), readout=last)
    figure = rollout_readout_token(np.ones((last + 1, last + 1)) / (last + 1), named)
    assert figure.layout.title.text.endswith("(the last: friend)"), figure.layout.title.text


def test_the_grid_note_says_how_many_tokens_share_a_cell():
    """33 tokens read "cells of 1.0 tokens a side on average", as if nothing were pooled."""
    from explainer.views.attention_page import grid_note

    assert "32 x 32 cells of 1 or 2 tokens a side." in grid_note(33, 32)
    assert "cells of 2 tokens a side." in grid_note(64, 32)
    assert "cells of 4 or 5 tokens a side." in grid_note(137, 32)
