"""Methods on the word embeddings (the model's `inputs_embeds`, see explainer/attribution/inputs.py): integrated
gradients (by default on an adaptive nested grid of Simpson panels, each round one batch, refined until the error
bound is within `tolerance` of the logit gap: explainer/attribution/ig_adaptive.py; captum's fixed rules on
request), and captum's saliency, input x gradient, occlusion, LIME and KernelSHAP.

Each is `f(bundle, prepared, label, target_logit, options) -> Computed`, registered in registry.py, called by
`attribute()` under the bundle's lock with gradients enabled. No hooks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from captum.attr import InputXGradient, IntegratedGradients, KernelShap, Lime, Occlusion, Saliency

from explainer.attribution import ig_adaptive
from explainer.attribution.inputs import Prepared, logits_of_embeddings, rows_per_batch
from explainer.attribution.options import AttributionOptions, enumerable
from explainer.attribution.result import Computed
from explainer.loading.bundle import ModelBundle


def _target_logit(bundle: ModelBundle, prepared: Prepared, label: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """F(embeds [B, T, d]) -> [B]: the target's logit."""
    logits = logits_of_embeddings(bundle, prepared)

    def forward(embeds: torch.Tensor) -> torch.Tensor:
        return logits(embeds)[:, label]

    return forward


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return np.array(tensor.detach().float().cpu().numpy(), copy=True)


def integrated_gradients(
    bundle: ModelBundle, prepared: Prepared, label: int, target_logit: float, options: AttributionOptions
) -> Computed:
    forward = _target_logit(bundle, prepared, label)
    batch = rows_per_batch(bundle, prepared.length)
    return _path_integral(forward, prepared.embeddings, prepared.baseline_embeddings, target_logit, options, batch)


def saliency(
    bundle: ModelBundle, prepared: Prepared, label: int, target_logit: float, options: AttributionOptions
) -> Computed:
    forward = _target_logit(bundle, prepared, label)
    grads = Saliency(forward).attribute(prepared.embeddings.clone().requires_grad_(True), abs=False)
    return Computed(scores=_numpy(grads[0].norm(dim=-1)))  # gradient magnitude per token


def input_x_gradient(
    bundle: ModelBundle, prepared: Prepared, label: int, target_logit: float, options: AttributionOptions
) -> Computed:
    forward = _target_logit(bundle, prepared, label)
    values = InputXGradient(forward).attribute(prepared.embeddings.clone().requires_grad_(True))
    return Computed(scores=_numpy(values[0].sum(dim=-1)))


def occlusion(
    bundle: ModelBundle, prepared: Prepared, label: int, target_logit: float, options: AttributionOptions
) -> Computed:
    forward = _target_logit(bundle, prepared, label)
    x = prepared.embeddings
    with torch.no_grad():
        values = Occlusion(forward).attribute(
            x,
            sliding_window_shapes=(1, x.shape[-1]),
            strides=(1, x.shape[-1]),
            baselines=prepared.baseline_embeddings,
            perturbations_per_eval=rows_per_batch(bundle, prepared.length),
        )
    # Every element of a token's window gets the token's whole effect: read one of them.
    return Computed(scores=_numpy(values[0, :, 0]))


def lime(
    bundle: ModelBundle, prepared: Prepared, label: int, target_logit: float, options: AttributionOptions
) -> Computed:
    from captum._utils.models.linear_model import SkLearnRidge

    surrogate = Lime(_target_logit(bundle, prepared, label), interpretable_model=SkLearnRidge(alpha=1.0))
    return _token_perturbations(surrogate, bundle, prepared, options)


def kernel_shap(
    bundle: ModelBundle, prepared: Prepared, label: int, target_logit: float, options: AttributionOptions
) -> Computed:
    return _token_perturbations(KernelShap(_target_logit(bundle, prepared, label)), bundle, prepared, options)


def _token_perturbations(method: Lime | KernelShap, bundle: ModelBundle, prepared: Prepared, options) -> Computed:
    """LIME and KernelSHAP with one feature per text token (its whole embedding switched to the baseline).

    A special token keeps its embedding in the baseline, so as a feature of its own it was a dummy that still drew
    weight (KernelSHAP gave [CLS] +0.10 and [SEP] -0.10 where their Shapley values are 0, more than "film" had) and
    noise in every other token's estimate. Each joins the feature of its nearest text token instead, where
    switching it changes nothing, and scores 0.

    KernelSHAP of a text whose every coalition costs no more model runs than the samples asked (2^n - 2 <= samples
    for n text tokens; 7 at the default 200) gets the exact Shapley values by enumeration instead (exact_shapley):
    captum's estimate from 200 draws was off by 0.52 of a 0.94 logit gap on a 7-token text."""
    x = prepared.embeddings
    text = np.flatnonzero(~prepared.special)  # positions of the text tokens, the features in order
    if not len(text):  # all read is special ("</s>" typed to a model that pads with it): nothing to switch
        return Computed(scores=np.zeros(prepared.length, dtype=np.float32))  # as occlusion and the rest score it
    nearest = np.abs(np.arange(prepared.length)[:, None] - text[None, :]).argmin(axis=1)  # [T] feature of each
    if isinstance(method, KernelShap) and enumerable(len(text), options.samples):
        batch = rows_per_batch(bundle, prepared.length)
        with torch.no_grad():
            shapley = exact_shapley(method.forward_func, x, prepared.baseline_embeddings, nearest, len(text), batch)
        return Computed(scores=np.where(prepared.special, 0.0, shapley[nearest]).astype(np.float32))
    feature_mask = torch.as_tensor(nearest, device=x.device)[None, :, None].expand_as(x)
    with torch.no_grad():
        values = method.attribute(
            x,
            baselines=prepared.baseline_embeddings,
            feature_mask=feature_mask,
            n_samples=options.samples,
            perturbations_per_eval=min(rows_per_batch(bundle, prepared.length), 64),
        )
    scores = _numpy(values[0, :, 0])
    scores[prepared.special] = 0.0  # each shares its text token's feature: the score is the text token's
    return Computed(scores=scores)


def exact_shapley(
    forward: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    base: torch.Tensor,
    feature_of: np.ndarray,
    features: int,
    batch: int,
) -> np.ndarray:
    """Shapley values [features] of the game v(S) = forward(x on the positions of the features in S, `base`
    elsewhere), over all 2^features coalitions: phi_k = sum over S without k of |S|! (n - |S| - 1)! / n! *
    (v(S + k) - v(S)). Their sum is v(all) - v(none), exactly. `feature_of` [T]: each position's feature;
    `x`, `base` [1, T, d]; `forward` maps [B, T, d] to [B]. Written out, not taken from a library: captum offers
    sampled KernelSHAP and permutation Shapley values (n! orderings), and this is one weighted sum."""
    n = features
    coalitions = (np.arange(2**n)[:, None] >> np.arange(n)) & 1  # [2^n, n]: bit k of row S = feature k in S
    position_on = torch.as_tensor(coalitions[:, feature_of].astype(bool), device=x.device)  # [2^n, T]
    values = np.empty(2**n)
    for start in range(0, 2**n, batch):
        on = position_on[start : start + batch, :, None]  # [b, T, 1]
        values[start : start + batch] = forward(torch.where(on, x, base)).double().cpu().numpy()
    sizes = coalitions.sum(axis=1)  # [2^n]
    factorials = np.cumprod([1.0, *range(1, n + 1)])  # [n + 1]: 0! .. n!
    weights = factorials[sizes] * factorials[np.maximum(n - sizes - 1, 0)] / factorials[n]  # for S without k
    rows = np.arange(2**n)
    shapley = np.empty(n)
    for k in range(n):
        without = rows[coalitions[:, k] == 0]
        shapley[k] = np.sum(weights[without] * (values[without | (1 << k)] - values[without]))
    return shapley


def _path_integral(
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
