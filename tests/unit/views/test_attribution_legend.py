"""Pure checks of the Attribution views (no model): the legend and colours follow each method's kind of score
(signed, unsigned, label-independent), undefined rank correlations read as such, and long inputs thin the graph's
token labels."""

from __future__ import annotations

import numpy as np
import pytest

from explainer.attribution.faithfulness import Agreement
from explainer.attribution.graph import AttributionGraph
from explainer.attribution.registry import METHODS, REGISTRY
from explainer.attribution.result import Attribution
from explainer.views import attribution as views


def fake(method: str, scores, tokens=None, special=None) -> Attribution:
    scores = np.asarray(scores, dtype=np.float32)
    tokens = tokens or tuple(f"t{i}" for i in range(len(scores)))
    return Attribution(
        method=method, model_name="m", architecture="bert", text=" ".join(tokens), tokens=tuple(tokens),
        offsets=np.array([[3 * i, 3 * i + 2] for i in range(len(tokens))]),
        special_tokens=np.zeros(len(tokens), bool) if special is None else np.array(special),
        label_names=("negative", "positive"), target=1, logits=np.array([0.0, 1.0]), scores=scores,
        layer_scores=None, convergence_delta=None, target_logit=1.0, baseline_logit=None, baseline="pad", steps=None,
        seconds=0.0, truncated=False,
    )


def test_the_registry_says_which_methods_are_signed_and_which_read_the_label():
    assert {m for m in METHODS if not REGISTRY[m].signed} == {"saliency", "rollout", "grad_x_attention"}
    assert [m for m in METHODS if not REGISTRY[m].depends_on_target] == ["rollout"]


def test_legend_sentence_fits_each_kind_of_score():
    signed = views.legend_sentence("integrated_gradients", "positive")
    assert "Blue supports positive" in signed and "red speaks against it" in signed
    for method in ("saliency", "grad_x_attention"):
        unsigned = views.legend_sentence(method, "positive")
        assert "unsigned" in unsigned and "not for which label" in unsigned and "Blue" not in unsigned
        assert "does not depend on the label" not in unsigned.lower()
    rollout = views.legend_sentence("rollout", "positive")
    assert "unsigned" in rollout and "does not depend on the label" in rollout.lower() and "positive" not in rollout
    assert "Blue supports" in views.legend_sentence("not-registered", "x")  # unknown: taken as signed


@pytest.mark.parametrize("method", ["saliency", "rollout", "grad_x_attention"])
def test_unsigned_scores_get_one_hue_and_say_so_in_their_titles(method):
    result = fake(method, [0.1, 0.5, 0.9])
    assert views.colour_scale(method) == views.ONE_SIDED
    figure = views.bars(result)
    assert len(set(figure.data[0].marker.color)) == 1  # one colour: no bar reads "for" or "against"
    assert "→" not in figure.layout.title.text and "unsigned" in figure.layout.title.text
    assert ("any label" in figure.layout.title.text) == (method == "rollout")
    markup = views.highlighted_html(result)
    assert "rgba(33, 102, 172" not in markup and "rgba(178, 24, 43" not in markup  # neither blue nor red


def test_signed_scores_keep_the_diverging_colours_and_the_arrow():
    result = fake("integrated_gradients", [-0.5, 0.5])
    assert views.colour_scale("integrated_gradients") == views.DIVERGING
    assert list(views.bars(result).data[0].marker.color) == ["#b2182b", "#2166ac"]
    assert views.bars(result).layout.title.text.endswith("→ positive")
    assert "rgba(178, 24, 43" in views.highlighted_html(result)


def agreement(tokens: int, spearman) -> Agreement:
    spearman = np.asarray(spearman, dtype=float)
    return Agreement(methods=("saliency", "occlusion"), spearman=spearman, top_k_overlap=np.ones_like(spearman),
                     k=1, absolute=True, tokens=tokens)


def test_agreement_over_one_token_shows_a_note_not_a_grid_of_nan():
    figure = views.agreement_heatmap(agreement(1, [[1.0, np.nan], [np.nan, 1.0]]), "spearman")
    assert "nan" not in " ".join(map(str, np.ravel(figure.data[0].text))).lower()
    notes = [a.text for a in figure.layout.annotations]
    assert notes and "fewer than 2 tokens" in notes[0] and "1 token" in notes[0] and "1 tokens" not in notes[0]


def test_a_constant_ranking_reads_as_not_defined():
    figure = views.agreement_heatmap(agreement(4, [[1.0, np.nan], [np.nan, 1.0]]), "spearman")
    text = np.asarray(figure.data[0].text)
    assert text[0, 1] == "–" and text[0, 0] == "1.00" and not figure.layout.annotations
    assert "not defined" in np.asarray(figure.data[0].customdata)[0, 1]


def test_correlation_text_and_plurals():
    assert views.correlation_text(float("nan")) == "not defined"
    assert views.correlation_text(0.41234) == "0.412"
    assert "fewer than 2 words" in views.undefined_reason(1, "word") and "1 word." in views.undefined_reason(1, "word")
    assert views.plural(1, "edge") == "1 edge" and views.plural(0, "edge") == "0 edges"


def test_graph_axis_thins_long_inputs_like_the_other_charts():
    def axis(count: int):
        graph = AttributionGraph(tokens=tuple(f"w{i}" for i in range(count)), num_layers=2, prediction=(2, 0),
                                 threshold=0.1, target_label="positive", nodes=((2, 0),), edges=())
        return views.graph_figure(graph).layout.xaxis

    long = axis(137)
    assert len(long.tickvals) <= views.MOST_TICKS and list(long.tickvals[:3]) == [0, 3, 6]
    assert long.ticktext[1] == "3 w3"
    short = axis(12)
    assert list(short.tickvals) == list(range(12))


def test_agreement_counts_the_text_tokens_it_ranked():
    from explainer.attribution.faithfulness import agreement as rank

    one = {m: fake(m, [0.2, 0.7], special=[True, False]) for m in ("saliency", "occlusion")}  # [CLS], one word
    ranked = rank(one)
    assert ranked.tokens == 1 and np.isnan(ranked.spearman[0, 1])
    assert rank({m: fake(m, [0.2, 0.7, 0.1]) for m in ("saliency", "occlusion")}).tokens == 3


def test_the_headline_names_the_attributed_label_except_for_a_method_that_reads_none():
    ig = views.headline(fake("integrated_gradients", [0.1, 0.2]))
    assert ig == "m: attributing **positive** (logit 1.000) · 2 tokens"
    rollout = views.headline(fake("rollout", [0.1, 0.2]), " (dense)")
    assert "attributing" not in rollout and "the same for every label" in rollout
    assert "**positive** has logit 1.000 (dense)" in rollout and rollout.endswith("· 2 tokens")
    crafted = fake("saliency", [0.1])
    crafted = type(crafted)(**{**crafted.__dict__, "model_name": "**x** [a](http://e.com)"})
    assert "**x**" not in views.headline(crafted) and "](http" not in views.headline(crafted)


def test_a_per_layer_method_says_its_one_score_per_token_is_the_mean_of_its_hidden_states():
    """Layer conductance's bars and its column of the methods table showed the mean of 7 rows unlabelled: [CLS]
    0.36 beside integrated gradients' 0, where the heatmap below read about 0 in every row but the last (a
    browser walk)."""
    from dataclasses import replace

    rows = np.array([[0.0, 1.0], [0.0, 1.0], [2.1, -1.1]], dtype=np.float32)  # each sums to the logit's change
    conductance = replace(fake("layer_conductance", rows.mean(axis=0)), layer_scores=rows)
    gradients = fake("integrated_gradients", [0.0, 1.0])
    assert views.bars(conductance).layout.title.text.startswith("Layer conductance (mean over the 3 hidden states)")
    assert "mean" not in views.bars(gradients).layout.title.text
    columns = list(views.methods_table({"layer_conductance": conductance, "integrated_gradients": gradients}))
    assert columns == ["token", "Layer conductance (mean over the 3 hidden states)", "Integrated gradients"]


def test_graph_axis_names_tokens_as_the_bars_do():
    """The graph's axis read "5 Ġfilm" and "1 ▁A" where every other chart of the page reads "5 film" and "1 A"."""
    tokens = ("<s>", "ĠA", "Ġfilm", "▁big", "Ġ", "<b>")
    graph = AttributionGraph(tokens=tokens, num_layers=1, prediction=(1, 0), threshold=0.1, target_label="positive",
                             nodes=((1, 0), (0, 2)), edges=())
    figure = views.graph_figure(graph)
    assert list(figure.layout.xaxis.ticktext) == views.token_labels(tokens)
    assert "token 2 film" in " ".join(figure.data[-1].hovertext)
