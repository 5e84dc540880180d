"""Views that run a ThoughtBeacon model dense (attribution, ablation, patching: every MLP update scaled by its gate,
none skipped at tau) still watch the label the model predicts at its own tau, the one every other view and the
`trace` command show. The skipping can change the prediction (on a near-tie, and sometimes confidently); those views
then say so."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch-free on import: views read the notes below
    import torch

    from explainer.loading.bundle import ModelBundle

# Said plainly that the numbers can differ from the other pages' (a browser walk read the two probabilities as a
# bug). Not "skips some": on a text whose gates are all above τ it skips none, and on one below, all.
ATTRIBUTED_DENSE = (
    "ThoughtBeacon model attributed dense: every MLP update runs, scaled by its gate, where at its τ the model skips "
    "each update whose gate is below τ (skipping is a step function, which gradients cannot see; every method but "
    "attention rollout, which reads no gradient, runs dense, so they explain the same function). So its logits and "
    "probabilities here can differ a little from the other pages', which show the model at its τ."
)
RUN_DENSE = (
    "ThoughtBeacon model run dense: every MLP update runs, scaled by its gate, where at its τ the model skips each "
    "update whose gate is below τ, so every position has an MLP write to ablate or patch. So its logits and "
    "probabilities here can differ a little from the other pages', which show the model at its τ."
)


def dense_forward_args(config) -> dict[str, float]:
    """Keyword arguments that run a model dense: tau 0 for a model with beacons (every MLP update scaled by its
    gate, none skipped: skipping at tau is a step function gradients cannot see, and every position then has an
    MLP write to patch); none for any other model, its baseline twin included."""
    from explainer.models import uses_beacons

    return {"beacon_threshold": 0.0} if uses_beacons(config) else {}


def dense_differs(config, tau: float | None = None) -> bool:
    """Whether a dense run is another function than the model at `tau` (None: its own): a model with beacons at a
    tau that skips some MLP updates. At tau 0 (the config's default, an untrained fallback, a training run that
    found no better tau) it skips none, so the dense run is the model itself and the notes above would say what is
    not so."""
    from explainer.models import uses_beacons

    at = float(getattr(config, "beacon_threshold", 0.0) or 0.0) if tau is None else tau
    return uses_beacons(config) and at > 0.0


DENSE_SUFFIX = (" with every MLP update run (dense); the other pages show the model at its τ, which skips the updates "
                "whose gate is below it")


def dense_suffix(notes: Sequence[str]) -> str:
    """What a view's headline numbers add when its run was dense (its logits differ a little from the model's at
    its own tau, which every other view shows), else ""."""
    return DENSE_SUFFIX if ATTRIBUTED_DENSE in notes or RUN_DENSE in notes else ""


def own_prediction(bundle: ModelBundle, inputs: Mapping[str, torch.Tensor]) -> int:
    """The label the model predicts for one input (`inputs` as the model takes them, batch 1) at its own tau.
    Call under the bundle's lock."""
    import torch

    with torch.no_grad():
        return int(bundle.model(**inputs).logits[0].argmax())


def differs_note(
    label_names: Sequence[str],
    own: int,
    dense_logits: Sequence[float],
    what: str = "",
    at: str = "its own tau",
    is_target: bool = True,
) -> str | None:
    """The note for a dense run (its logits [labels]) that predicts another label than the model does at `at`
    (None when they agree). Not called a near-tie: skipping can flip a confident prediction (0.73 one way at tau,
    0.71 the other dense). `is_target`: whether that prediction is the default target (not for patching's
    corrupted text, whose dense run is the one shown)."""
    logits = np.asarray(dense_logits, dtype=np.float64)
    dense = int(logits.argmax())
    if own == dense:
        return None
    probability = float(np.exp(logits[dense] - logits.max()) / np.exp(logits - logits.max()).sum())
    of = f" {what}" if what else ""
    said = (
        f"The target by default is {label_names[own]}, the prediction the other views show."
        if is_target
        else f"The {label_names[dense]} shown here is the dense run's; the other views show {label_names[own]}."
    )
    return (
        f"At {at} the model predicts {label_names[own]}{of}; run dense it would predict {label_names[dense]} "
        f"({probability:.0%}): the MLP updates it skips at τ decide between them. {said}"
    )
