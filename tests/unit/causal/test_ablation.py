"""Head ablation: the cue head ranks first, batching changes nothing, zero and mean modes, MLPs, ThoughtBeacon
markers and gates, and bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from explainer.capture.encoding import InputError
from explainer.causal import ablate_heads, reference_means
from explainer.causal.hooks import forward_extra, layout
from explainer.families import family_of
from explainer.models import GatePin
from tests.conftest import build_model
from tests.unit.causal.conftest import CUE_HEAD, CUE_LAYER, CUE_WORD, wrap

CUE_TEXT = f"the film is {CUE_WORD} ."


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_the_cue_head_ranks_first(cue_bundle, mode):
    reference = ["the film is warm .", "a dull script ."] if mode == "mean" else None  # zero ablation reads none
    result = ablate_heads(cue_bundle, CUE_TEXT, mode=mode, reference=reference)
    assert result.target_label == "pos"
    layer, head, change = result.top_heads(1)[0]
    assert (layer, head) == (CUE_LAYER, CUE_HEAD) and change < -1.0
    assert result.head_probability[CUE_LAYER, CUE_HEAD] < -0.2
    others = np.delete(result.heads.ravel(), CUE_LAYER * result.heads.shape[1] + CUE_HEAD)
    assert np.abs(others).max() < abs(change) / 2


def test_the_top_heads_are_only_those_whose_removal_lowers_the_target_logit(cue_bundle):
    """The five lowest changes were listed whatever their sign: heads whose removal raised the logit stood in the
    CLI's top_heads and the page's table, with buttons, as heads that support the target."""
    result = ablate_heads(cue_bundle, CUE_TEXT, mode="zero")
    lowering = int((result.heads < 0).sum())
    assert 0 < lowering < result.heads.size  # both kinds here, so the test can fail
    top = result.top_heads(result.heads.size)
    assert len(top) == lowering and all(change < 0 for _, _, change in top)
    assert [change for _, _, change in top] == sorted(change for _, _, change in top)
    raising = result.heads.copy()
    raising[raising < 0] *= -1
    assert not dataclasses.replace(result, heads=raising + 1e-3).top_heads(5)
    assert not dataclasses.replace(result, heads=np.full_like(result.heads, np.nan)).top_heads(5)
    # a value that says nothing (-inf) takes no slot from a head that qualifies
    odd = np.zeros_like(result.heads)
    odd.flat[:3] = (-np.inf, -2.0, -1.0)
    assert [change for _, _, change in dataclasses.replace(result, heads=odd).top_heads(2)] == [-2.0, -1.0]


@pytest.mark.parametrize("family", ["bert", "qwen3", "gemma"])
def test_zero_ablating_a_head_is_zeroing_its_slice(bundle, family):
    """Ground truth from a hand-written hook: the ablated logit equals a forward pass with that head's slice of the
    output projection's input zeroed. Qwen3's and Gemma's tiny heads are 16 wide on a hidden size of 32 with 4
    heads, as their published checkpoints set head_dim apart: slices of hidden // heads cut every head wrong."""
    loaded = bundle(family)
    text = "The film is a quiet triumph."
    result = ablate_heads(loaded, text, mode="zero")
    config = loaded.model.config
    dh = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    projection = family_of(loaded.model).attention_outputs(loaded.model)
    for layer, head in ((0, 1), (1, 3)):

        def zero(module, args, head=head):
            context = args[0].clone()
            context[..., head * dh : (head + 1) * dh] = 0
            return (context,)

        inputs = loaded.tokenizer(text, return_tensors="pt")
        handle = projection[layer].register_forward_pre_hook(zero)
        try:
            with torch.no_grad():
                expected = loaded.model(**inputs).logits[0, result.target].item()
        finally:
            handle.remove()
        assert result.baseline_logit + result.heads[layer, head] == pytest.approx(expected, abs=1e-5), (layer, head)


def test_batching_equals_one_head_per_pass_and_mean_uses_the_challenge_set(bundle):
    roberta = bundle("roberta")
    batched = ablate_heads(roberta, "A gentle, honest little film.", mode="mean")
    naive = ablate_heads(roberta, "A gentle, honest little film.", mode="mean", batch_rows=1)
    assert batched.forward_passes == 1 and naive.forward_passes == 1 + 2 * 4 + 2
    np.testing.assert_allclose(batched.heads, naive.heads, atol=1e-5)
    np.testing.assert_allclose(batched.mlp, naive.mlp, atol=1e-5)
    assert batched.reference_size == 420  # the shipped challenge set
    means = reference_means(roberta)
    assert len(means.heads) == 2 and means.heads[0].shape == (32,) and means.mlp[0].shape == (32,)
    zero = ablate_heads(roberta, "A gentle, honest little film.", mode="zero")
    assert not np.allclose(zero.heads, batched.heads)


def test_thought_beacon_variants(ours_bundle):
    text = "The film is a quiet triumph."
    result = ablate_heads(ours_bundle, text, mode="zero")
    assert result.marker_off.shape == (2,) and result.gate_pinned.shape == (2, 2) and result.mlp.shape == (2,)
    assert not any("dense" in note for note in result.notes)  # tau 0: the dense run is the model itself
    # Ground truth for a pin: the model's own GatePin on a plain forward pass.
    inputs = ours_bundle.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        shut = ours_bundle.model(**inputs, beacon_threshold=0.0, pinned_gates=(GatePin(1, None, 0.0),)).logits
    assert result.baseline_logit + result.gate_pinned[0, 1] == pytest.approx(shut[0, result.target].item(), abs=1e-5)
    # The tiny model's marker projections W_m are at their zero init: turning markers off changes nothing (up to
    # float rounding). test_marker_off_is_the_marker_update_removed moves them off it.
    assert np.abs(result.marker_off).max() < 1e-5


def test_marker_off_is_the_marker_update_removed(tokenizer):
    """Ground truth from a hand-written hook: a layer's marker-off logit equals a forward pass with that layer's
    marker update W_m m zeroed, on a model whose W_m moved off its zero init (as training moves it)."""
    model = build_model("ours")
    with torch.no_grad():
        for block in model.layers:
            block.marker_proj.weight.normal_(0.0, 0.5)
    private = wrap(model, tokenizer, "tiny-ours-markers")
    text = "The film is a quiet triumph."
    result = ablate_heads(private, text, mode="zero")
    inputs = tokenizer(text, return_tensors="pt")
    for layer, block in enumerate(model.layers):
        handle = block.marker_proj.register_forward_hook(lambda module, args, output: torch.zeros_like(output))
        try:
            with torch.no_grad():
                expected = model(**inputs, beacon_threshold=0.0).logits[0, result.target].item()
        finally:
            handle.remove()
        assert result.baseline_logit + result.marker_off[layer] == pytest.approx(expected, abs=1e-5)
    assert np.abs(result.marker_off).min() > 1e-3


def test_retrofit_has_markers_gates_and_mlp_sites(retrofit_bundle):
    plan = layout(retrofit_bundle)
    assert plan.markers is not None and plan.gates is not None and plan.mlp is not None
    text = "The film is a quiet triumph."
    result = ablate_heads(retrofit_bundle, text, mode="zero")
    assert np.isfinite(result.heads).all() and result.marker_off.shape == (2,) and result.gate_pinned.shape == (2, 2)
    # Ground truth from hand-written hooks on the retrofit's own modules (the class the shipped MiniLM models use):
    # markers off is W_m's output zeroed; a gate pinned shut or open is its logit at -inf or +inf (sigmoid 0 or 1).
    model = retrofit_bundle.model
    inputs = retrofit_bundle.tokenizer(text, return_tensors="pt")
    extra = forward_extra(retrofit_bundle)

    def hooked_logit(module, replace) -> float:
        handle = module.register_forward_hook(lambda _module, _args, output: replace(output))
        try:
            with torch.no_grad():
                return model(**inputs, **extra).logits[0, result.target].item()
        finally:
            handle.remove()

    for layer, extra_layer in enumerate(model.retrofit):
        expected = hooked_logit(extra_layer.marker_proj, torch.zeros_like)
        assert result.baseline_logit + result.marker_off[layer] == pytest.approx(expected, abs=1e-5), layer
        for row, value in enumerate((-torch.inf, torch.inf)):
            expected = hooked_logit(extra_layer.gate, lambda output, value=value: torch.full_like(output, value))
            assert result.baseline_logit + result.gate_pinned[row, layer] == pytest.approx(expected, abs=1e-5)
    assert np.abs(result.marker_off).min() > 1e-4 and np.abs(result.gate_pinned).min() > 1e-4  # the tensors act


def test_bad_input(bundle):
    bert = bundle("bert")
    with pytest.raises(InputError, match="Unknown ablation mode"):
        ablate_heads(bert, "fine", mode="half")
    with pytest.raises(InputError, match="empty"):
        ablate_heads(bert, "   ")
    with pytest.raises(InputError, match="no texts"):
        ablate_heads(bert, "fine", reference=["  "])
    with pytest.raises(InputError, match="zero ablation reads none"):  # a reference set unused, unsaid
        ablate_heads(bert, "fine", mode="zero", reference=["a fine film"])
    for rows in (-3, 0, 2.5, True):  # -3 ran no pass and returned never-filled logits as the result
        with pytest.raises(InputError, match=f"batch_rows must be a whole number of rows, 1 or more.*not {rows!r}"):
            ablate_heads(bert, "fine", mode="zero", batch_rows=rows)
    long = ablate_heads(bert, " ".join(["the film is funny ."] * 40), mode="zero")
    assert long.truncated and any("only the beginning was analysed. That is its first" in note for note in long.notes)


def test_mean_mlp_ablation_writes_the_mean_gated_update(retrofit_bundle):
    """What a beacon layer's MLP writes is g * FFN(u). Ground truth by hand-written hooks: that product's mean over
    the reference's real tokens written at every position with the gate passing it whole. The ablation once wrote
    the mean FFN output under each position's live gate, up to 1.6 logits off on the shipped MiniLM retrofit."""
    model, tokenizer = retrofit_bundle.model, retrofit_bundle.tokenizer
    reference = ["A dull, lifeless script.", "The performances are wonderful.", "Bad sound, bad everything."]
    text = "A gentle film with a big heart."
    result = ablate_heads(retrofit_bundle, text, mode="mean", reference=reference)
    batch = tokenizer(reference, padding=True, return_tensors="pt")
    mask = batch["attention_mask"].bool()
    inputs = tokenizer(text, return_tensors="pt")
    for layer in range(model.config.num_hidden_layers):
        ffn, gate = model.bert.encoder.layer[layer].output.dense, model.retrofit[layer].gate
        seen = {}
        handles = [ffn.register_forward_hook(lambda m, a, o, seen=seen: seen.__setitem__("ffn", o)),
                   gate.register_forward_hook(lambda m, a, o, seen=seen: seen.__setitem__("gate", o))]
        with torch.no_grad():
            model(**batch, beacon_threshold=0.0)
        for handle in handles:
            handle.remove()
        mean_write = (torch.sigmoid(seen["gate"]) * seen["ffn"])[mask].double().mean(0).float()  # [d]
        handles = [ffn.register_forward_hook(lambda m, a, o, mean=mean_write: mean.expand_as(o).clone()),
                   gate.register_forward_hook(lambda m, a, o: torch.full_like(o, 100.0))]  # g = 1
        try:
            with torch.no_grad():
                expected = model(**inputs, beacon_threshold=0.0).logits[0, result.target].item()
        finally:
            for handle in handles:
                handle.remove()
        assert result.baseline_logit + result.mlp[layer] == pytest.approx(expected, abs=1e-5)
    assert any("gate times the feed-forward output" in note for note in result.notes)


def test_mean_ablation_of_a_retrofit_whose_beacons_are_not_engaged(tokenizer):
    """A fresh retrofit's gates are exactly 1 and its gate layer never runs: mean ablation raised KeyError
    (Site gate) looking for its output. Its MLP writes FFN(u), so the mean is the plain FFN output's, as on
    the same model with the gate opened."""
    from explainer.models import ThoughtBeaconBertConfig, ThoughtBeaconBertForSequenceClassification
    from tests.conftest import MARKERS, tiny_config

    torch.manual_seed(0)
    config = ThoughtBeaconBertConfig(**tiny_config("bert").to_dict(), num_thought_markers=MARKERS)
    assert not config.beacons_engaged
    fresh = wrap(ThoughtBeaconBertForSequenceClassification(config).eval(), tokenizer, "fresh-retrofit")
    reference = ["A dull, lifeless script.", "The performances are wonderful."]
    result = ablate_heads(fresh, "A gentle film with a big heart.", mode="mean", reference=reference)
    model = fresh.model
    batch = tokenizer(reference, padding=True, return_tensors="pt")
    mask = batch["attention_mask"].bool()
    for layer in range(config.num_hidden_layers):
        ffn, seen = model.bert.encoder.layer[layer].output.dense, {}
        handle = ffn.register_forward_hook(lambda m, a, o, seen=seen: seen.__setitem__("ffn", o))
        with torch.no_grad():
            model(**batch)
        handle.remove()
        mean_write = seen["ffn"][mask].double().mean(0).float()
        handle = ffn.register_forward_hook(lambda m, a, o, mean=mean_write: mean.expand_as(o).clone())
        try:
            with torch.no_grad():
                expected = model(**tokenizer("A gentle film with a big heart.", return_tensors="pt")).logits[
                    0, result.target].item()
        finally:
            handle.remove()
        assert result.baseline_logit + result.mlp[layer] == pytest.approx(expected, abs=1e-5)


def test_forward_passes_count_every_model_call(bundle, retrofit_bundle):
    """`forward_passes` is the number of model calls: the run at a beacon model's own tau and the gate pins too."""
    for loaded in (bundle("bert"), retrofit_bundle):
        ablate_heads(loaded, "A gentle, honest little film.", mode="zero")  # once first: layout probes
        calls = []
        handle = loaded.model.register_forward_pre_hook(lambda *_, calls=calls: calls.append(1))
        try:
            result = ablate_heads(loaded, "A gentle, honest little film.", mode="zero")  # no reference set
        finally:
            handle.remove()
        assert result.forward_passes == len(calls), loaded.name
