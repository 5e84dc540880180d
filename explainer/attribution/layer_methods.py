"""Attributions read off the model's layers: layer conductance per layer, attention rollout, and
gradient x attention (Chefer et al. 2021). No hooks: hidden states and attention probabilities come back
through the model's own outputs, and gradients are taken with respect to those tensors.

Layer conductance (Dhamdhere et al. 2019, captum's LayerConductance) of every layer at once: along the
integrated-gradients path from the baseline to the input, for each layer output h_l,
    cond_l[i] = sum_d  integral  dF/dh_l[i,d] * dh_l[i,d]/dalpha  dalpha,
computed with the trapezoid rule over `conductance_steps` intervals, doubled (up to `max_steps`) while the
largest layer's completeness error exceeds `conductance_tolerance` x |F(x) - F(baseline)|. Each layer's row
sums to F(x) - F(baseline) (up to the integration error, reported as the delta: the largest over layers).
"""

from __future__ import annotations

import numpy as np
import torch

from explainer.attention.statistics import attention_rollout
from explainer.attribution.inputs import GAP_FLOOR, Prepared, rows_per_batch
from explainer.attribution.options import AttributionOptions
from explainer.attribution.result import Computed
from explainer.capture.encoding import InputError
from explainer.families import single_readout_note
from explainer.loading.bundle import ModelBundle


def layer_conductance(
    bundle: ModelBundle, prepared: Prepared, label: int, target_logit: float, options: AttributionOptions
) -> Computed:
    layers, delta, baseline_logit, steps = conductance_by_layer(
        bundle, prepared, label, options.conductance_steps, options.conductance_tolerance, options.max_steps
    )
    return Computed(
        scores=layers.mean(axis=0),
        layer_scores=layers,
        delta=delta,
        baseline_logit=baseline_logit,
        steps=steps,
    )


def rollout(
    bundle: ModelBundle, prepared: Prepared, label: int, target_logit: float, options: AttributionOptions
) -> Computed:
    _one_readout(bundle)
    attentions, _ = attention_and_gradients(bundle, prepared, label, with_gradients=False)
    return Computed(scores=attention_rollout(attentions)[prepared.readout].astype(np.float32))


def grad_x_attention(
    bundle: ModelBundle, prepared: Prepared, label: int, target_logit: float, options: AttributionOptions
) -> Computed:
    _one_readout(bundle)
    attentions, grads = attention_and_gradients(bundle, prepared, label, with_gradients=True)
    return Computed(scores=chefer_relevance(attentions, grads, prepared.readout))


class MethodUnsupported(InputError):
    """This method cannot attribute this model (the message says why); `each_method` leaves it out."""


def _one_readout(bundle: ModelBundle) -> None:
    """Refuse, with the reason, a model whose classifier reads no single position (see families.py)."""
    note = single_readout_note(bundle.model)
    if note is not None:
        raise MethodUnsupported(note)


def conductance_by_layer(
    bundle: ModelBundle,
    prepared: Prepared,
    label: int,
    steps: int,
    tolerance: float | None = None,
    max_steps: int | None = None,
) -> tuple[np.ndarray, float, float, int]:
    """([layers+1, T] conductance of every layer output, embeddings first; the largest completeness error over
    layers; F(baseline); the intervals used). With a `tolerance`, the grid doubles while that error exceeds
    tolerance x max(|F(x) - F(baseline)|, GAP_FLOOR) and `max_steps` allows: a fixed grid misses sharp turns of
    the path (on RMSNorm decoders near the baseline, a 32-interval error was 150x the gap). Each doubling runs the
    whole finer grid again (at most twice the last grid's passes in all): keeping every point's states instead
    would cost memory that grows with the steps. Call under the bundle's lock with gradients enabled."""
    while True:
        scores, values = _trapezoid(bundle, prepared, label, steps)
        gap = float(values[1] - values[0])
        delta = float(max((scores.sum(axis=1) - gap), key=abs))
        converged = tolerance is not None and abs(delta) <= tolerance * max(abs(gap), GAP_FLOOR)
        if tolerance is None or converged or max_steps is None or 2 * steps > max_steps:
            return scores, delta, float(values[0]), steps
        steps *= 2


def _trapezoid(bundle: ModelBundle, prepared: Prepared, label: int, steps: int) -> tuple[np.ndarray, tuple]:
    """The trapezoid rule over `steps` equal intervals, a batch of path points at a time (only the last point of
    a batch is kept for the next: memory stays at one batch whatever the steps); ([layers+1, T], (F(0), F(1)))."""
    forward = bundle.model
    x, base = prepared.embeddings, prepared.baseline_embeddings
    alphas = torch.linspace(0.0, 1.0, steps + 1, device=x.device, dtype=x.dtype)
    chunk = rows_per_batch(bundle, prepared.length)
    rows: list[torch.Tensor] | None = None  # per layer [T]
    last: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None  # (states, grads) of the previous point
    first_value = last_value = 0.0
    for part in alphas.split(chunk):
        # Requires grad itself: in decoders without position embeddings (Llama, Qwen, Mistral) the first hidden
        # state is these very embeddings, which no parameter touches before layer 0.
        embeds = (base + part[:, None, None] * (x - base)).requires_grad_()
        mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=x.device)
        out = forward(inputs_embeds=embeds, attention_mask=mask, output_hidden_states=True, **prepared.extra)
        hidden = list(out.hidden_states)
        target = out.logits[:, label]
        grads = torch.autograd.grad(target.sum(), hidden, allow_unused=True)
        if any(g is None for g in grads):  # XLNet returns copies of its states, permuted off the logit's path
            raise MethodUnsupported(f"{bundle.architecture}'s layer outputs (hidden_states) are not on the path to "
                                    "its logits, so no layer's conductance can be measured")
        grads = [g.detach() for g in grads]
        states = [h.detach() for h in hidden]
        if last is None:
            first_value = float(target[0].detach())
            rows = [torch.zeros(h.shape[1], dtype=torch.float64, device=h.device) for h in states]
        else:  # the segment from the previous batch's last point to this batch's first
            states = [torch.cat([p[-1:], h]) for p, h in zip(last[0], states)]
            grads = [torch.cat([p[-1:], g]) for p, g in zip(last[1], grads)]
        for layer, (h, g) in enumerate(zip(states, grads)):
            mean_grad = 0.5 * (g[1:] + g[:-1])  # trapezoid: gradient at each segment's ends, averaged
            rows[layer] += (mean_grad * (h[1:] - h[:-1])).sum(dim=(0, 2)).double()  # [T]
        last = ([h[-1:] for h in states], [g[-1:] for g in grads])
        last_value = float(target[-1].detach())
    return torch.stack(rows).float().cpu().numpy(), (first_value, last_value)


def attention_and_gradients(
    bundle: ModelBundle, prepared: Prepared, label: int, with_gradients: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """(attention [layers, heads, T, T], d target logit / d attention of the same shape or None)."""
    context = torch.enable_grad() if with_gradients else torch.no_grad()
    with context:
        out = bundle.model(
            inputs_embeds=prepared.embeddings,
            attention_mask=torch.ones(prepared.input_ids.shape, dtype=torch.long, device=prepared.input_ids.device),
            output_attentions=True,
            **prepared.extra,
        )
        attentions = list(out.attentions)
        if not attentions or attentions[0] is None:
            raise RuntimeError(f"{bundle.name} returned no attention weights: it must run with eager attention")
        grads = torch.autograd.grad(out.logits[0, label], attentions) if with_gradients else None
    stacked = torch.stack([a[0] for a in attentions]).detach().float().cpu().numpy()
    if grads is None:
        return stacked, None
    return stacked, torch.stack([g[0] for g in grads]).float().cpu().numpy()


def chefer_relevance(attentions: np.ndarray, grads: np.ndarray, readout: int) -> np.ndarray:
    """Chefer et al. (2021), rule for self-attention: per layer A_bar = mean over heads of (grad * A)^+,
    relevance R = I, then R <- R + A_bar R through the layers; the readout row of R, the identity removed.
    attentions, grads: [layers, heads, T, T] -> [T]."""
    size = attentions.shape[-1]
    relevance = np.eye(size)
    for attention, grad in zip(attentions, grads):
        mixed = np.clip(grad * attention, 0, None).mean(axis=0)  # [T, T]
        relevance = relevance + mixed @ relevance
    return (relevance[readout] - np.eye(size)[readout]).astype(np.float32)
