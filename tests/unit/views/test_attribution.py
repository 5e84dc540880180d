"""Attribution figures and HTML: escaping of user text, one bar / cell per token, graph traces per edge."""

from __future__ import annotations

import numpy as np
import pytest

from explainer.attribution import AttributionOptions, attribute, attribute_all
from explainer.attribution.faithfulness import agreement, faithfulness
from explainer.attribution.graph import attention_attribution
from explainer.views import attribution as attribution_figures

TEXT = 'Great <script>alert("x")</script> & <b>bold</b> film.'


@pytest.fixture(scope="module")
def results(bundle):
    return attribute_all(bundle("bert"), TEXT, options=AttributionOptions(samples=20, conductance_steps=4))


def test_highlighted_text_escapes_markup_and_keeps_every_character(results):
    result = results["integrated_gradients"]
    markup = attribution_figures.highlighted_html(result)
    assert "<script" not in markup and "<b>" not in markup
    assert "&lt;" in markup and "&amp;" in markup
    assert markup.count("class='attribution-token'") == len(result.tokens)
    # The text between the tags, unescaped, is the input's characters in order (spaces aside).
    import html
    import re

    visible = html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<small[^>]*>.*?</small>", "", markup)))
    assert visible.replace(" ", "").lower() == TEXT.replace(" ", "").lower()
    assert "padding:1px 2px" not in markup  # no side padding: pieces of a word and its punctuation stay together
    strongest = int(np.abs(result.scores).argmax())
    assert "0.850)" in markup.split("class='attribution-token'")[strongest + 1]  # full colour on the strongest
    assert "color:#fff" in markup.split("class='attribution-token'")[strongest + 1]  # and white text on it


def test_figures_have_one_value_per_token_and_escaped_labels(results):
    result = results["layer_conductance"]
    bars = attribution_figures.bars(result)
    assert len(bars.data[0].y) == len(result.tokens)
    assert not any("<script" in str(label) for label in bars.data[0].x)
    heatmap = attribution_figures.layer_heatmap(result)
    assert np.asarray(heatmap.data[0].z).shape == result.layer_scores.shape
    # Rows named as every view names hidden states: row 1 is layer 0's output (it once read "layer 1", while the
    # Attention and Causal pages call the first block "layer 0").
    assert list(heatmap.data[0].y) == ["embeddings", *(f"after layer {i}" for i in range(len(heatmap.data[0].y) - 1))]
    with pytest.raises(ValueError):
        attribution_figures.layer_heatmap(results["saliency"])
    table = attribution_figures.methods_table(results)
    assert list(table["token"]) == list(result.tokens) and table.shape[1] == 1 + len(results)


def test_curves_agreement_and_graph_figures(bundle, results):
    loaded = bundle("bert")
    scores = {m: faithfulness(loaded, results[m]) for m in ("occlusion", "saliency")}
    curves = attribution_figures.faithfulness_curves(scores)
    assert len(curves.data) == 4  # two methods x (deletion, insertion)
    matrix = attribution_figures.agreement_heatmap(agreement(results), "overlap")
    assert np.asarray(matrix.data[0].z).shape == (len(results), len(results))
    heads = attention_attribution(loaded, TEXT, steps=2)
    graph = heads.graph(0.0)
    figure = attribution_figures.graph_figure(graph)
    assert len(figure.data) == len(graph.edges) + 2  # one line per edge, the hover midpoints, the nodes
    assert len(figure.data[-2].hovertext) == len(graph.edges)
    assert all("<script" not in text for text in figure.data[-1].hovertext)
    assert attribute(loaded, TEXT, "saliency").tokens == graph.tokens
    # Numbered from 0 as on the Attention and Causal pages: an edge into row l is layer l - 1's attention, and its
    # heads are that layer's heads (the hover once said "layer 1" beside 0-based heads of the Attention's layer 0).
    assert list(figure.layout.yaxis.ticktext) == ["embeddings", "after layer 0", "after layer 1"]
    first = next(k for k, edge in enumerate(graph.edges) if edge.target[0] == 1)
    assert figure.data[-2].hovertext[first].startswith("layer 0 attention: ")
    assert f"head {graph.edges[first].heads[0][0]}: " in figure.data[-2].hovertext[first]


def test_convergence_caption_states_delta_bound_and_points(results):
    ig = results["integrated_gradients"]
    caption = attribution_figures.convergence_caption(ig)
    assert f"{ig.convergence_delta:+.5f}" in caption
    assert f"{ig.relative_delta:.2%}" in caption
    assert f"error bound {ig.error_bound / abs(ig.logit_gap):.2%} of F(x) − F(baseline)" in caption
    assert "not a bound on each token" in caption  # read as every token's accuracy, it overstated it
    assert caption.endswith(f"{ig.steps} path points")
    assert ig.error_bound >= abs(ig.convergence_delta) - 1e-6  # the bound holds the delta
    layer = results["layer_conductance"]
    conductance = attribution_figures.convergence_caption(layer)
    # its steps count intervals: the trapezoid evaluates one point more (it said "32 path points" for 33)
    assert "error bound" not in conductance
    assert conductance.endswith(f"{layer.steps} intervals ({layer.steps + 1} path points)")


def test_highlighted_text_holds_no_raw_line_break(bundle):
    # a blank line inside st.markdown's HTML would end the block and let the rest be read as markdown
    result = attribute(bundle("bert"), "good\n\n[here](http://e.com)\n\n    **bold**", "saliency")
    markup = attribution_figures.highlighted_html(result)
    assert "\n" not in markup and "&#10;&#10;" in markup


def test_a_bidi_override_in_the_text_reverses_no_other_piece(bundle):
    """An unclosed U+202E before "evil" drew the highlighted word as "live" (the bars said "evil"): each piece
    holding an explicit bidi control is set apart, so its override ends with it."""
    import re

    result = attribute(bundle("bert"), "a \u202eevil film", "saliency")
    markup = attribution_figures.highlighted_html(result)
    isolated = re.findall(r"<bdi>(.*?)</bdi>", markup)
    assert isolated and all("\u202e" in piece for piece in isolated)
    assert markup.count("\u202e") == len(isolated)  # no override outside an isolate
    plain = attribution_figures.highlighted_html(attribute(bundle("bert"), "a film", "saliency"))
    assert "<bdi>" not in plain


def test_a_byte_level_token_with_no_span_reads_as_the_axes_show_it(results):
    """GPT-2's lone "Ġ" (a space with no characters of its own in the offsets) showed as "Ġ" in the text and
    as "␣" on the axis; the methods table showed "Ġfilm" where the axis shows "film"."""
    import dataclasses

    result = results["saliency"]
    tokens = list(result.tokens)
    offsets = np.array(result.offsets)
    tokens[2], offsets[2] = "Ġ", (offsets[2][0], offsets[2][0])  # an empty span: shown beside the text
    tokens[3] = "Ġfilm"
    bent = dataclasses.replace(result, tokens=tuple(tokens), offsets=offsets)
    markup = attribution_figures.highlighted_html(bent)
    assert "Ġ" not in markup and "␣" in markup
    table = attribution_figures.methods_table({"saliency": bent})
    assert table["token"].iloc[2] == "␣" and table["token"].iloc[3] == "film"


def test_texts_shaded_on_a_shared_scale_compare_score_for_score(bundle):
    """What-if drew each text on its own scale: a 0.97 score four times lighter than a 0.36 one beside it."""
    import dataclasses
    import re

    import numpy as np

    result = attribute(bundle("bert"), "a fine film", "saliency")
    doubled = dataclasses.replace(result, scores=result.scores * 2)
    scale = attribution_figures.shade_scale(result, doubled)
    assert scale == float(np.abs(doubled.scores).max()) and attribution_figures.shade_scale() == 0.0

    def shades(attribution, scale=None):
        markup = attribution_figures.highlighted_html(attribution, scale)
        return [float(a) for a in re.findall(r"rgba\([^)]*, ([0-9.]+)\)", markup)]

    assert max(shades(result)) == max(shades(doubled)) == 0.85  # each alone: both drawn darkest
    np.testing.assert_allclose(shades(result, scale), np.array(shades(doubled, scale)) / 2, atol=1e-3)
