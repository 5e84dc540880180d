"""The patching and ablation figures: rows named as the other views name them, partners shown as the axis shows
tokens, and typed text escaped."""

from __future__ import annotations

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
