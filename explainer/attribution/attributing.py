"""Attribution of one prediction to the input tokens: one call per method, configured up front, arrays back.

`attribute(bundle, text, method)` tokenises once (explainer/attribution/inputs.py), picks the target, and runs the
method's registered compute function (explainer/attribution/registry.py) under the bundle's lock with gradients
enabled and a fixed seed. Every model use leaves the model as it found it (no train(), no config change; the
methods that hook remove their hooks in `finally`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TypeVar

import torch

from explainer.attribution.inputs import GAP_FLOOR, dense_notes, prepare, target_of
from explainer.attribution.options import UNRELIABLE, AttributionOptions, enumerable
from explainer.attribution.registry import METHODS, REGISTRY, title
from explainer.attribution.result import Attribution, Computed
from explainer.capture.encoding import InputError
from explainer.capture.validation import check_tau
from explainer.loading.bundle import ModelBundle
from explainer.models import uses_beacons

MethodProgress = Callable[[int, int, str], None]  # (done, total, method) after each method
T = TypeVar("T")


def attribute(
    bundle: ModelBundle,
    text: str,
    method: str,
    *,
    target: int | str | None = None,
    options: AttributionOptions = AttributionOptions(),
    tau: float | None = None,
) -> Attribution:
    """Attribute the model's `target` logit (default: the predicted label) for `text` with `method`. `tau`: the
    beacon threshold a method that reads the model as it is (attention rollout) runs it at (None: the model's
    own); the other methods run a ThoughtBeacon model dense whatever it is."""
    if not isinstance(options, AttributionOptions):  # a dict failed later as "'dict' object has no attribute"
        raise TypeError(f"options must be an AttributionOptions (AttributionOptions(steps=16, ...)), not "
                        f"{type(options).__name__}")
    if method not in REGISTRY:
        raise InputError(f"Unknown method '{method}': choose one of {', '.join(METHODS)}")
    compute = REGISTRY[method].function()
    dense = REGISTRY[method].dense
    # checked as trace checks it (1.5 or NaN ran silently); kept only where it is read: a method that runs the model
    # as it is, of a model with beacons (an Attribution's tau says at which tau it ran)
    tau = check_tau(tau)
    tau = None if dense or not uses_beacons(bundle.model.config) else tau
    # a method that reads no baseline builds none: saliency with baseline "mask" failed on a tokenizer without a
    # mask token, for a token it never uses
    prepared = prepare(bundle, text, options.baseline if "baseline" in REGISTRY[method].reads else "zero",
                       dense=dense, tau=tau)
    label, logits = target_of(bundle, prepared, target)
    started = time.perf_counter()
    with bundle.lock, torch.enable_grad(), torch.random.fork_rng(devices=_rng_devices(bundle)):
        torch.manual_seed(options.seed)
        computed = compute(bundle, prepared, label, float(logits[label]), options)
    seconds = time.perf_counter() - started
    notes = dense_notes(bundle, prepared, target, label, logits)
    unmet = completeness_note(method, computed, float(logits[label]), options) or sampling_note(
        method, int((~prepared.special).sum()), options
    )
    notes = (*notes, unmet) if unmet else notes
    return Attribution(
        method=method,
        model_name=bundle.name,
        architecture=bundle.architecture,
        text=text,
        tokens=prepared.tokens,
        offsets=prepared.offsets,
        special_tokens=prepared.special,
        label_names=bundle.label_names,
        target=label,
        logits=logits,
        scores=computed.scores,
        layer_scores=computed.layer_scores,
        convergence_delta=computed.delta,
        target_logit=float(logits[label]),
        baseline_logit=computed.baseline_logit,
        baseline=options.baseline,
        steps=computed.steps,
        seconds=seconds,
        truncated=prepared.truncated,
        notes=notes,
        error_bound=computed.error_bound,
        tau=tau,
    )




def completeness_note(method: str, computed: Computed, target_logit: float, options: AttributionOptions) -> str | None:
    """What to say when a path method stopped short of completeness: its steps ran out while its error (adaptive
    IG: the error bound it stops on; the others: |delta|) still exceeds the method's tolerance x |F(x) -
    F(baseline)| (a path that turns sharply, as an RMSNorm decoder's does near an all-zero baseline). The scores
    are then not to be trusted, and the page says so."""
    if computed.delta is None or computed.baseline_logit is None or computed.steps is None:
        return None
    gap = target_logit - computed.baseline_logit
    tolerance = options.conductance_tolerance if method == "layer_conductance" else options.tolerance
    bound = computed.error_bound is not None and options.ig_stop == "error_bound"
    error = computed.error_bound if bound else abs(computed.delta)
    if error <= tolerance * max(abs(gap), GAP_FLOOR):
        return None
    share = f"{error / abs(gap):.0%} of" if abs(gap) >= GAP_FLOOR else "while"
    what = f"its error bound is {error:.3g}" if bound else f"it misses completeness by {computed.delta:+.3g}"
    return (
        f"{title(method)}: {what} ({share} F(x) - F(baseline) = {gap:.3g}) after {computed.steps} steps, the most "
        f"allowed: the integral has not converged, so {UNRELIABLE}"
        + ("" if method == "integrated_gradients" and options.integration == "adaptive"
           else "; integrated gradients with adaptive steps refines where the path turns")
    )


def sampling_note(method: str, features: int, options: AttributionOptions) -> str | None:
    """What to say when LIME or KernelSHAP drew no more samples than the text has tokens (its features): a linear
    fit of one weight per token is then underdetermined (1 sample gave every token 0, KernelSHAP's 2 gave every
    token the same score). KernelSHAP of so few tokens that every coalition fits in the samples is exact."""
    if method not in ("lime", "kernel_shap") or options.samples > features:
        return None
    if method == "kernel_shap" and enumerable(features, options.samples):  # exact by enumeration, not a fit
        return None
    samples = f"{options.samples} sample{'s' if options.samples != 1 else ''}"
    return (
        f"{title(method)}: {samples} for {features} tokens: a fit of one weight per token needs more samples than "
        f"tokens (at least {features + 1}), so {UNRELIABLE}"
    )


def attribute_all(
    bundle: ModelBundle,
    text: str,
    methods: Iterable[str] = METHODS,
    *,
    target: int | str | None = None,
    options: AttributionOptions = AttributionOptions(),
    progress: MethodProgress | None = None,
) -> dict[str, Attribution]:
    """Every method in `methods` on the same input and target; `progress(done, total, method)` after each."""
    def one(method: str) -> Attribution:
        return attribute(bundle, text, method, target=target, options=options)

    return each_method(one, methods, progress)


def each_method(
    compute: Callable[[str], T], methods: Iterable[str] = METHODS, progress: MethodProgress | None = None
) -> dict[str, T]:
    """{method: compute(method)} in registry order, `progress(done, total, method)` after each: the one loop over
    methods (attributions, their faithfulness, the page's cached versions of both). A method the model cannot take
    (MethodUnsupported) is left out of the result."""
    from explainer.attribution.layer_methods import MethodUnsupported

    methods = list(methods)
    results: dict[str, T] = {}
    for index, method in enumerate(methods):
        try:
            results[method] = compute(method)
        except MethodUnsupported:  # this model cannot take it (e.g. no single readout position): left out
            pass
        if progress is not None:
            progress(index + 1, len(methods), method)
    return results


def _rng_devices(bundle: ModelBundle) -> list[int]:
    return [bundle.device.index or 0] if bundle.device.type == "cuda" else []
