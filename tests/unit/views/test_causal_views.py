"""The patching and ablation figures: rows named as the other views name them, partners shown as the axis shows
tokens, and typed text escaped."""

from __future__ import annotations

import numpy as np

from explainer.causal import patch
from explainer.views import causal as views


def test_the_patching_maps_name_hidden_states_and_partners_as_the_axis_does(bundle):
    """The residual rows read L0..L2 on a 2-layer model (a layer 2 that does not exist, where the other views say
    "after layer 1"); a partner read as the raw token, without its position, so a repeated word was ambiguous."""
    gpt2 = bundle("gpt2")
    result = patch(gpt2, "the film and the plot and <b>x</b>", "the film and the story and <b>x</b>")
    residual = views.position_map(result, "residual")
    layers = result.residual.shape[0] - 1
    assert list(residual.data[0].y) == ["embeddings", *(f"after layer {i}" for i in range(layers))]
    assert list(views.position_map(result, "attention").data[0].y) == [f"layer {i}" for i in range(layers)]
    hover = residual.data[0].text
    second_and = [p for p, token in enumerate(result.corrupted_tokens) if token.lstrip("Ġ") == "and"][1]
    partner = result.partners[second_and]
    axis = residual.data[0].x
    assert f"clean partner: {views.token_labels(result.clean_tokens)[partner]}<br>" in hover[0][second_and]
    assert axis[second_and].split()[0] == str(second_and)
    assert hover[-1][second_and].startswith(f"after layer {layers - 1} · ")
    cells = [cell.replace("<br>", "\n") for row in hover for cell in row]
    assert any("&lt;" in cell for cell in cells) and not any("<" in cell for cell in cells)  # typed markup: text


def test_the_patching_summary_escapes_label_names_and_counts_in_words(bundle, checkpoint, tokenizer, tmp_path):
    """"1 corrupted tokens"; and label names (a model's config sets them) went into markdown as written."""
    from explainer.loading.bundle import load_model
    from tests.conftest import build_model, save_checkpoint

    model = build_model("bert", id2label={0: "*neg*", 1: "[pos](x)"}, label2id={"*neg*": 0, "[pos](x)": 1})
    named = load_model(save_checkpoint(model, tokenizer, tmp_path / "named"), device="cpu")
    summary = views.patch_summary(patch(named, "the film is funny .", "the film is not funny ."))
    assert "\\*neg\\*" in summary and "\\[pos\\](x)" in summary
    count = len(patch(named, "the film is funny .", "the film is not funny .").unpartnered_corrupted)
    assert f"{count} corrupted tokens without a partner" in summary and count > 1
    one = views.patch_summary(patch(named, "the film is funny .", "the film is a funny ."))
    assert "1 corrupted token without a partner" in one


def test_the_ablation_map_spans_its_largest_change_and_the_patching_maps_at_least_one(bundle):
    """Ablation reused the shares' ±1 floor: heads moving the logit by 0.15 drew a map nearly white."""
    import numpy as np

    small = np.array([[0.15, -0.05], [0.0, 0.02]])
    logit = views.head_map(small, "t", "logit change", "change", shares=False).data[0]
    assert (logit.zmin, logit.zmax) == (-0.15, 0.15)
    share = views.head_map(small, "t", "restored", "restored").data[0]
    assert (share.zmin, share.zmax) == (-1.0, 1.0)
    flat = views.head_map(np.zeros((2, 2)), "t", "logit change", "change", shares=False).data[0]
    assert (flat.zmin, flat.zmax) == (-1.0, 1.0)  # no change anywhere: a scale, not a division by zero


def test_the_top_heads_keep_four_significant_digits_and_titles_clip_long_labels(bundle, tokenizer, tmp_path):
    from explainer.causal import ablate_heads
    from explainer.loading.bundle import load_model
    from tests.conftest import build_model, save_checkpoint

    table = views.top_heads_table([(0, 1, 1.234567e-5), (1, 0, -0.5)], "logit change")
    assert table["logit change"].tolist() == [1.235e-5, -0.5]  # rounded to 4 places, the first read 0.0
    long = "a label name far too long for a half-width chart title"
    model = build_model("bert", id2label={0: "neg", 1: long}, label2id={"neg": 0, long: 1})
    named = load_model(save_checkpoint(model, tokenizer, tmp_path / "named"), device="cpu")
    figure = views.ablated_heads(ablate_heads(named, "the film is funny .", target=long, mode="zero"))
    assert figure.layout.title.text == "Change of the a label name … title logit, head zero-ablated"  # its end kept
    layers = views.layer_effects(ablate_heads(named, "the film is funny .", target=long, mode="zero"))
    assert layers.layout.yaxis.exponentformat == "power"  # not SI: a logit change of 5e-5 read "−50µ"
    # a model without markers draws one series, whose name plotly hides unless asked: the bars said not what went
    assert [bar.name for bar in layers.data] == ["MLP zero-ablated"] and layers.layout.showlegend is True


def test_the_rank_correlation_caption_says_when_there_is_none():
    """A one-head model read "Spearman's ρ between the logit drop on ablation and entropy: nan"; two heads always
    give ±1."""
    one, two = np.array([[0.3]]), np.array([[0.3, -0.1]])
    assert views.rank_correlation_caption(one, one, "entropy") == (
        "With 1 head, a rank correlation between the logit drop and entropy would say nothing: none is given.")
    assert "With 2 heads" in views.rank_correlation_caption(two, two, "entropy")
    flat = views.rank_correlation_caption(np.array([[0.1, 0.2, 0.3]]), np.array([[1.0, 1.0, 1.0]]), "entropy")
    assert flat.startswith("No rank correlation") and "nan" not in flat
    said = views.rank_correlation_caption(np.array([[0.1, 0.2, 0.3]]), np.array([[3.0, 2.0, 1.0]]), "entropy")
    assert said == "Spearman's ρ between the logit drop on ablation and entropy: -1.00"
