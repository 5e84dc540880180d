"""Prefix sharing (explainer/causal/batching.py): rows that join the batch at the layer they edit give the numbers
of the plain full recompute (every row from the input) on families whose blocks differ (ours with markers and
beacons, the retrofit that runs a BERT layer's parts itself, BERT, DistilBERT, RoBERTa, GPT-2 whose head picks
its readout by the input's batch size, and the other families of the table), in less work."""

from __future__ import annotations

import numpy as np
import pytest

from explainer.causal import ablate_heads, patch
from explainer.causal.ablation import run_rows
from explainer.causal.alignment import tokenized
from explainer.causal.batching import planned_evaluations
from explainer.causal.hooks import layout, rows_per_pass
from explainer.loading.bundle import ModelBundle
from tests.conftest import (
    FAMILIES,
    MORE_FAMILIES,  # families beyond FAMILIES in the shared fixtures
    build_model,
)
from tests.unit.causal.conftest import wrap

TEXT = "The film is a quiet triumph, warm and funny."
CORRUPTED = "The film is a dull mess, warm and funny."
TOLERANCE = 1e-5


@pytest.fixture(params=[*FAMILIES, "retrofit", *MORE_FAMILIES, "albert-groups"])
def any_bundle(request, bundle, retrofit_bundle) -> ModelBundle:
    return retrofit_bundle if request.param == "retrofit" else bundle(request.param)


def test_ablation_equals_the_full_recompute(any_bundle):
    shared = ablate_heads(any_bundle, TEXT, mode="zero")
    full = ablate_heads(any_bundle, TEXT, mode="zero", share_prefix=False)
    np.testing.assert_allclose(shared.baseline_logits, full.baseline_logits, atol=TOLERANCE)
    np.testing.assert_allclose(shared.heads, full.heads, atol=TOLERANCE)
    np.testing.assert_allclose(shared.head_probability, full.head_probability, atol=TOLERANCE)
    for name in ("mlp", "marker_off"):
        if getattr(full, name) is not None:
            np.testing.assert_allclose(getattr(shared, name), getattr(full, name), atol=TOLERANCE)
    assert np.abs(full.heads).max() > 1e-3  # the heads matter, so equal maps say something
    # Less work: a row ablating layer l runs layers l … L only (the full recompute runs all L for every row).
    assert shared.layer_evaluations < full.layer_evaluations


def test_patching_equals_the_full_recompute(any_bundle):
    shared = patch(any_bundle, TEXT, CORRUPTED)
    full = patch(any_bundle, TEXT, CORRUPTED, share_prefix=False)
    for name in ("residual", "attention", "mlp", "heads"):
        if getattr(full, name) is not None:
            # shares are ratios of logit differences, so float32 rounding grows with them (Gemma's scaled embeddings)
            np.testing.assert_allclose(
                getattr(shared, name), getattr(full, name), atol=TOLERANCE, rtol=1e-4, equal_nan=True
            )
    assert shared.residual[-1, shared.readout] == pytest.approx(1.0, abs=1e-4)
    assert shared.layer_evaluations < full.layer_evaluations


def test_mean_ablation_and_small_batches(tokenizer):
    """Mean ablation (edits with values) on a 4-layer GPT-2, and a cap of 8 rows per pass: the seed and check row
    ride in every pass, so the 20 rows spread over passes that start at different layers."""
    gpt2 = wrap(build_model("gpt2", n_layer=4), tokenizer, "tiny-gpt2-4-layers")
    reference = ["a dull script .", "warm and funny ."]
    full = ablate_heads(gpt2, TEXT, mode="mean", reference=reference, share_prefix=False)
    small = ablate_heads(gpt2, TEXT, mode="mean", reference=reference, batch_rows=8)
    np.testing.assert_allclose(small.heads, full.heads, atol=TOLERANCE)
    np.testing.assert_allclose(small.mlp, full.mlp, atol=TOLERANCE)
    assert small.forward_passes == 4  # 16 heads and 4 MLPs beside the baseline, 6 new rows per pass
    assert small.layer_evaluations < full.layer_evaluations == 21 * 4


def test_accounting(bundle):
    """Layer evaluations: every row of layer l runs layers l … L-1, the seed all of them, the check row those from
    the first level that rows join."""
    bert = bundle("bert")
    plan = layout(bert)
    item = tokenized(bert, TEXT)
    rows = [("baseline", -1, -1)] + [("head", layer, head) for layer in range(2) for head in range(4)]
    shared = run_rows(bert, plan, item, rows, None)
    full = run_rows(bert, plan, item, rows, None, share_prefix=False)
    assert shared.shared_prefix and not full.shared_prefix
    assert shared.passes == full.passes == 1
    assert full.layer_evaluations == 9 * 2
    assert shared.layer_evaluations == 2 + 2 + 4 * 2 + 4 * 1  # seed, check row, layer 0's heads, layer 1's
    levels = [max(layer, 0) for _, layer, _ in rows]
    assert planned_evaluations(levels, 2, rows_per_pass(bert, item.length)) == shared.layer_evaluations
    np.testing.assert_allclose(shared.logits, full.logits, atol=TOLERANCE)
    # Two heads on two layers: sharing would save no layer evaluation, so every row runs from the input.
    few = run_rows(bert, plan, item, [rows[0], rows[1], rows[5]], None)
    assert not few.shared_prefix and few.passes == 1


@pytest.mark.skipif("modernbert" not in MORE_FAMILIES, reason="the shared fixtures have no ModernBERT")
def test_a_model_that_builds_masks_from_the_embeddings_joins_from_layer_1(bundle):
    """ModernBERT builds its masks from the embeddings' output, which then cannot grow (so do the Llama-like
    decoders): rows of layer 0 run from the input in a pass of their own, the others join from layer 1, and the
    numbers stay the same."""
    modern = bundle("modernbert")
    shared = ablate_heads(modern, TEXT, mode="zero")
    full = ablate_heads(modern, TEXT, mode="zero", share_prefix=False)
    np.testing.assert_allclose(shared.heads, full.heads, atol=TOLERANCE)
    assert shared.forward_passes == 2 and full.forward_passes == 1
    # seed 2, check row 1, layer 1's 4 heads and MLP 1 each; layer 0's 4 heads and MLP from the input
    assert shared.layer_evaluations == 2 + 1 + 5 * 1 + 5 * 2


@pytest.mark.skipif("modernbert" not in MORE_FAMILIES, reason="the shared fixtures have no ModernBERT")
def test_a_join_level_proven_on_a_short_text_falls_back_on_a_text_that_needs_more(tokenizer):
    """ModernBERT builds a sliding-window mask only for a text longer than its window: a short text proved rows
    could join from the embeddings, and a longer one's grown pass then raised IndexError (the Causal page on a
    model that had patched a short sentence) instead of running as the full recompute does."""
    from tests.conftest import build_model

    windowed = wrap(build_model("modernbert", local_attention=16), tokenizer, "tiny-modernbert-window-16")
    short = ablate_heads(windowed, "a film", mode="zero")
    assert short.forward_passes == 1  # every row joined one grown pass, layer 0's from the embeddings: proven
    assert len(tokenized(windowed, TEXT).tokens) > 8  # past the window's half: the sliding mask is built
    shared = ablate_heads(windowed, TEXT, mode="zero")
    full = ablate_heads(windowed, TEXT, mode="zero", share_prefix=False)
    np.testing.assert_allclose(shared.heads, full.heads, atol=TOLERANCE)
    patched = patch(windowed, TEXT, CORRUPTED)
    assert patched.residual[-1, patched.readout] == pytest.approx(1.0, abs=1e-4)
