"""Attribution of one prediction to the input tokens: one call per method, configured up front, arrays back.

Gradient and perturbation methods run on the word embeddings (see attribution_inputs.py): integrated gradients
(by default on an adaptive nested grid of Simpson panels, each round one batch, refined until the error bound is
within `tolerance` of the logit gap: see ig_adaptive.py; captum's fixed rules on request), and captum's saliency,
input x gradient, occlusion, LIME and KernelSHAP. Layer conductance per layer, attention rollout and gradient x
attention live in attribution_layers.py.

Every model use runs under the bundle's lock, with gradients enabled, and leaves the model as it found it
(no hooks here; no train(), no config change).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from captum.attr import InputXGradient, IntegratedGradients, KernelShap, Lime, Occlusion, Saliency

from explainer.attribution import ig_adaptive
from explainer.attribution.inputs import (
    BASELINES,
    DENSE_NOTE,
    Prepared,
    logits_of_embeddings,
    prepare,
    rows_per_batch,
    target_of,
)
from explainer.capture.tracing import InputError
from explainer.frozen import FrozenArrays
from explainer.loading.bundle import ModelBundle

METHODS = (
    "integrated_gradients",
    "saliency",
    "input_x_gradient",
    "occlusion",
    "lime",
    "kernel_shap",
    "layer_conductance",
    "rollout",
    "grad_x_attention",
)
METHOD_TITLES = {
    "integrated_gradients": "Integrated gradients",
    "saliency": "Saliency",
    "input_x_gradient": "Input × gradient",
    "occlusion": "Occlusion",
    "lime": "LIME",
    "kernel_shap": "KernelSHAP",
    "layer_conductance": "Layer conductance",
    "rollout": "Attention rollout",
    "grad_x_attention": "Gradient × attention",
}
SIGNED = {"integrated_gradients", "input_x_gradient", "occlusion", "lime", "kernel_shap", "layer_conductance"}
# "adaptive": ig_adaptive.py (nested Simpson panels, bisected where the exact per-panel error is); the others
# are captum's fixed rules, their step count doubled until the delta is within tolerance. Not captum's
# riemann_trapezoid: its weights sum to (n-1)/n, so it is biased by F-gap/n (tests/test_ig_adaptive.py).
INTEGRATIONS = ("adaptive", "gausslegendre", "riemann_middle")


@dataclass(frozen=True)
class AttributionOptions:
    """How methods run. Hashable: it is part of every cache key."""

    baseline: str = "pad"  # pad | mask | zero: what replaces text tokens (special tokens stay)
    steps: int = 8  # integrated gradients: intervals of the first grid (adaptive) / first step count (captum's)
    max_steps: int = 256  # ... path points allowed while the error bound (captum's rules: delta) > tolerance x gap
    tolerance: float = 0.01
    integration: str = "adaptive"  # one of INTEGRATIONS
    ig_stop: str = "error_bound"  # adaptive IG stops on: error_bound (no cancellation) | delta
    conductance_steps: int = 32  # trapezoid points of layer conductance
    samples: int = 200  # LIME and KernelSHAP perturbed samples
    seed: int = 0  # LIME / KernelSHAP sampling

    def __post_init__(self) -> None:
        if self.baseline not in BASELINES:
            raise InputError(f"Unknown baseline '{self.baseline}': choose one of {', '.join(BASELINES)}")
        if self.ig_stop not in ig_adaptive.STOPS:
            raise InputError(f"Unknown ig_stop '{self.ig_stop}': choose one of {', '.join(ig_adaptive.STOPS)}")
        if self.integration not in INTEGRATIONS:
            raise InputError(f"Unknown integration '{self.integration}': choose one of {', '.join(INTEGRATIONS)}")
        for name in ("steps", "max_steps", "conductance_steps", "samples"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise InputError(f"{name} must be a positive whole number, not {getattr(self, name)!r}")
        if self.integration == "adaptive" and self.max_steps < 3:
            raise InputError(f"max_steps must be at least 3 for adaptive integration (one panel), not {self.max_steps}")
        if not (math.isfinite(self.tolerance) and self.tolerance > 0):
            raise InputError(f"tolerance must be a positive number, not {self.tolerance!r}")


@dataclass(frozen=True, eq=False)
class Attribution(FrozenArrays):
    """One method's attribution of one prediction. Numpy on CPU, read-only, no model reference."""

    method: str
    model_name: str
    architecture: str
    text: str
    tokens: tuple[str, ...]
    offsets: np.ndarray  # [T, 2] character span of each token; (0, 0) for special tokens
    special_tokens: np.ndarray  # [T] bool
    label_names: tuple[str, ...]
    target: int  # label attributed
    logits: np.ndarray  # [labels] of the input, as attributed (ThoughtBeacon: dense)
    scores: np.ndarray  # [T] one value per token (layer methods: mean over layers)
    layer_scores: np.ndarray | None  # [layers+1, T] per-layer methods: embeddings first, then each layer
    convergence_delta: float | None  # sum(scores) - (F(x) - F(baseline)) where the method has one
    target_logit: float  # F(x): the target's logit
    baseline_logit: float | None  # F(baseline) for path methods
    baseline: str
    steps: int | None  # integration steps actually used
    seconds: float
    truncated: bool
    notes: tuple[str, ...] = ()
    error_bound: float | None = None  # adaptive IG: sum over path panels of |error| (>= |delta|)

    @property
    def target_label(self) -> str:
        return self.label_names[self.target]

    @property
    def title(self) -> str:
        return METHOD_TITLES[self.method]

    @property
    def signed(self) -> bool:
        return self.method in SIGNED

    @property
    def logit_gap(self) -> float | None:
        return None if self.baseline_logit is None else self.target_logit - self.baseline_logit

    @property
    def relative_delta(self) -> float | None:
        """|delta| / |F(x) - F(baseline)|, the convergence measure of the speed target."""
        if self.convergence_delta is None or not self.logit_gap:
            return None
        return abs(self.convergence_delta) / abs(self.logit_gap)

    def as_dict(self) -> dict[str, Any]:
        """The CLI's JSON: tokens, attributions (per layer for layer methods), target, delta."""
        out: dict[str, Any] = {
            "model": self.model_name,
            "method": self.method,
            "tokens": list(self.tokens),
            "target": self.target,
            "target_label": self.target_label,
            "attributions": (self.layer_scores if self.layer_scores is not None else self.scores).tolist(),
            "baseline": self.baseline,
            "target_logit": self.target_logit,
        }
        if self.layer_scores is not None:
            out["token_attributions"] = self.scores.tolist()
        if self.convergence_delta is not None:
            out["convergence_delta"] = self.convergence_delta
            out["baseline_logit"] = self.baseline_logit
            out["steps"] = self.steps
        if self.error_bound is not None:
            out["error_bound"] = self.error_bound
        if self.truncated:
            out["truncated"] = True
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def attribute(
    bundle: ModelBundle,
    text: str,
    method: str,
    *,
    target: int | str | None = None,
    options: AttributionOptions = AttributionOptions(),
) -> Attribution:
    """Attribute the model's `target` logit (default: the predicted label) for `text` with `method`."""
    if method not in METHODS:
        raise InputError(f"Unknown method '{method}': choose one of {', '.join(METHODS)}")
    prepared = prepare(bundle, text, options.baseline)
    label, logits = target_of(bundle, prepared, target)
    started = time.perf_counter()
    with bundle.lock, torch.enable_grad(), torch.random.fork_rng(devices=_rng_devices(bundle)):
        torch.manual_seed(options.seed)
        computed = _compute(bundle, prepared, method, label, float(logits[label]), options)
    seconds = time.perf_counter() - started
    notes = (DENSE_NOTE,) if prepared.extra else ()
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
    )


def attribute_all(
    bundle: ModelBundle,
    text: str,
    methods: Iterable[str] = METHODS,
    *,
    target: int | str | None = None,
    options: AttributionOptions = AttributionOptions(),
    progress=None,
) -> dict[str, Attribution]:
    """Every method in `methods` on the same input and target; `progress(done, total, method)` after each."""
    methods = list(methods)
    results: dict[str, Attribution] = {}
    for index, method in enumerate(methods):
        results[method] = attribute(bundle, text, method, target=target, options=options)
        if progress is not None:
            progress(index + 1, len(methods), method)
    return results


@dataclass(frozen=True)
class Computed:
    scores: np.ndarray  # [T]
    layer_scores: np.ndarray | None = None  # [layers+1, T]
    delta: float | None = None
    baseline_logit: float | None = None
    steps: int | None = None
    error_bound: float | None = None


def _rng_devices(bundle: ModelBundle) -> list[int]:
    return [bundle.device.index or 0] if bundle.device.type == "cuda" else []


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return np.array(tensor.detach().float().cpu().numpy(), copy=True)


def _compute(
    bundle: ModelBundle, prepared: Prepared, method: str, label: int, target_logit: float, options: AttributionOptions
) -> Computed:
    if method in ("layer_conductance", "rollout", "grad_x_attention"):
        from explainer.attribution import layer_methods as attribution_layers

        return attribution_layers.compute(bundle, prepared, method, label, options)
    logits = logits_of_embeddings(bundle, prepared)

    def forward(embeds: torch.Tensor) -> torch.Tensor:
        return logits(embeds)[:, label]

    x, base = prepared.embeddings, prepared.baseline_embeddings
    batch = rows_per_batch(bundle, prepared.length)
    if method == "integrated_gradients":
        return integrated_gradients(forward, x, base, float(target_logit), options, batch)
    if method == "saliency":
        grads = Saliency(forward).attribute(x.clone().requires_grad_(True), abs=False)
        return Computed(scores=_numpy(grads[0].norm(dim=-1)))  # gradient magnitude per token
    if method == "input_x_gradient":
        values = InputXGradient(forward).attribute(x.clone().requires_grad_(True))
        return Computed(scores=_numpy(values[0].sum(dim=-1)))
    with torch.no_grad():
        if method == "occlusion":
            values = Occlusion(forward).attribute(
                x,
                sliding_window_shapes=(1, x.shape[-1]),
                strides=(1, x.shape[-1]),
                baselines=base,
                perturbations_per_eval=batch,
            )
            # Every element of a token's window gets the token's whole effect: read one of them.
            return Computed(scores=_numpy(values[0, :, 0]))
        feature_mask = torch.arange(prepared.length, device=x.device)[None, :, None].expand_as(x)
        if method == "lime":
            from captum._utils.models.linear_model import SkLearnRidge

            explainer = Lime(forward, interpretable_model=SkLearnRidge(alpha=1.0))
        else:
            explainer = KernelShap(forward)
        values = explainer.attribute(
            x,
            baselines=base,
            feature_mask=feature_mask,
            n_samples=options.samples,
            perturbations_per_eval=min(batch, 64),
        )
        return Computed(scores=_numpy(values[0, :, 0]))


def integrated_gradients(
    forward, x: torch.Tensor, base: torch.Tensor, target_logit: float, options: AttributionOptions, batch: int
):
    """IG from `base` to `x` ([1, T, d]; F(x) = target_logit) with `batch` path points per pass, refined until
    the error bound (adaptive; or |delta|) <= tolerance x |F(x) - F(base)| or options.max_steps points are
    spent."""
    if options.integration == "adaptive":
        evaluate = ig_adaptive.path_integrand(forward, x, base, batch)
        path = ig_adaptive.integrate(
            evaluate,
            tolerance=options.tolerance,
            max_points=options.max_steps,
            first_intervals=options.steps,
            stop=options.ig_stop,
        )
        baseline_logit = float(path.values[0])
        delta_value = float(path.token_scores.sum()) - (target_logit - baseline_logit)
        return Computed(
            scores=path.token_scores.astype(np.float32), delta=delta_value, baseline_logit=baseline_logit,
            steps=path.points, error_bound=path.error_bound,
        )
    ig = IntegratedGradients(forward)
    with torch.no_grad():  # F(x) is known from the prediction; the delta is computed here, not by captum again
        baseline_logit = float(forward(base)[0])
    gap = target_logit - baseline_logit
    steps = options.steps
    while True:
        values = ig.attribute(
            x, baselines=base, n_steps=steps, method=options.integration, internal_batch_size=min(batch, steps)
        )
        delta_value = float(values.sum()) - gap
        if abs(delta_value) <= options.tolerance * abs(gap) or steps * 2 > options.max_steps:
            break
        steps *= 2
    return Computed(
        scores=_numpy(values[0].sum(dim=-1)), delta=delta_value, baseline_logit=baseline_logit, steps=steps
    )
