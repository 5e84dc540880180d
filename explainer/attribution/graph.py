"""The attribution graph: self-attention attribution (Hao et al. 2021) pruned to the flow that reaches the
prediction.

For layer l with attention probabilities A (heads x T x T), the attribution of every attention weight is
    Attr(A) = A * integral_0^1 dF(alpha A)/dA dalpha
where F is the target logit and only layer l's attention is scaled. Scaling A by alpha scales the heads'
context alpha * A V, so the scaling is done at one point every family has: the input of the attention output
projection (a forward pre-hook on that linear layer, which reads the merged heads). The gradient returned for
A at that point is alpha * F'(alpha A): divided by alpha it is the integrand. Every layer and Gauss-Legendre
step is one row of one batch (chunked to fit memory), plus one row per layer at alpha = 0 for the
completeness check: sum(Attr(A_l)) = F(x) - F(x with layer l's attention zeroed), error reported per layer.

Graph: nodes (layer, token), layer 0 the input tokens and layer l the output of model layer l; an edge
(l-1, j) -> (l, i) carries the attribution of layer l's attention from query i to key j summed over heads.
Edges are normalised by the largest in their layer, kept above a threshold, and only where they lie on a
path to the prediction node (last layer, the position the classifier reads). Residual connections are not
edges: the graph shows attention flow only.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from explainer.attribution.inputs import DENSE_NOTE, prepare, rows_per_batch, target_of
from explainer.capture import layer_hooks
from explainer.families import FAMILIES, family_of, missing_family_note
from explainer.frozen import FrozenArrays
from explainer.loading.bundle import ModelBundle

# Model types whose family declares its attention output projection (explainer/families.py).
SUPPORTED = tuple(t for f in FAMILIES if f.attention_output is not None for t in f.model_types)
DEFAULT_STEPS = 16  # 8 leaves 10-16% completeness error on the shipped model; 16 measured in the bench
DEFAULT_THRESHOLD = 0.25  # relative to the strongest edge of each layer (Hao et al. prune their tree at 0.4)
MAX_HEADS_SHOWN = 3


class GraphUnsupported(ValueError):
    """The model's family has no known attention output projection to scale."""


def supports_graph(architecture: str) -> bool:
    return architecture in SUPPORTED


@dataclass(frozen=True, eq=False)
class AttentionAttribution(FrozenArrays):
    """Hao et al.'s attribution of every attention weight of one input. Numpy, read-only, no model reference."""

    model_name: str
    architecture: str
    text: str
    tokens: tuple[str, ...]
    special_tokens: np.ndarray  # [T] bool
    label_names: tuple[str, ...]
    target: int
    logits: np.ndarray  # [labels]
    scores: np.ndarray  # [layers, heads, T, T] attribution of attention from query i to key j
    deltas: np.ndarray  # [layers] sum(scores[l]) - (F(x) - F(layer l's attention zeroed))
    zeroed_logits: np.ndarray  # [layers] F with layer l's attention zeroed
    readout: int  # position the classifier reads: the prediction node is (layers, readout)
    steps: int
    seconds: float
    truncated: bool
    notes: tuple[str, ...] = ()

    @property
    def num_layers(self) -> int:
        return self.scores.shape[0]

    @property
    def target_label(self) -> str:
        return self.label_names[self.target]

    @property
    def relative_deltas(self) -> np.ndarray:  # [layers]
        gaps = self.logits[self.target] - self.zeroed_logits
        return np.abs(self.deltas) / np.maximum(np.abs(gaps), 1e-12)

    def graph(self, threshold: float = DEFAULT_THRESHOLD) -> AttributionGraph:
        return build_graph(self, threshold)


@dataclass(frozen=True)
class GraphEdge:
    source: tuple[int, int]  # (layer, token position)
    target: tuple[int, int]  # (layer + 1, token position)
    weight: float  # attribution summed over heads
    relative: float  # weight / the largest edge weight of this layer
    heads: tuple[tuple[int, float], ...]  # (head, attribution), largest first, the heads carrying the edge


@dataclass(frozen=True)
class AttributionGraph:
    tokens: tuple[str, ...]
    num_layers: int
    prediction: tuple[int, int]
    threshold: float
    target_label: str
    nodes: tuple[tuple[int, int], ...]  # every node of a kept edge, and the prediction node
    edges: tuple[GraphEdge, ...]

    def as_dict(self) -> dict[str, Any]:
        def node_id(node: tuple[int, int]) -> str:
            return f"{node[0]}:{node[1]}"

        return {
            "tokens": list(self.tokens),
            "target_label": self.target_label,
            "threshold": self.threshold,
            "prediction": node_id(self.prediction),
            "nodes": [
                {"id": node_id(n), "layer": n[0], "position": n[1], "token": self.tokens[n[1]]} for n in self.nodes
            ],
            "edges": [
                {
                    "source": node_id(e.source),
                    "target": node_id(e.target),
                    "weight": e.weight,
                    "relative": e.relative,
                    "heads": [{"head": h, "attribution": v} for h, v in e.heads],
                }
                for e in self.edges
            ],
        }


def attention_attribution(
    bundle: ModelBundle,
    text: str,
    *,
    target: int | str | None = None,
    steps: int = DEFAULT_STEPS,
    progress: Callable[[int, int], None] | None = None,
) -> AttentionAttribution:
    """Self-attention attribution of every layer for `text`; `progress(done_rows, total_rows)` per chunk."""
    if not supports_graph(bundle.architecture):
        raise GraphUnsupported(
            missing_family_note(bundle.architecture, "the attribution graph")
            or f"The attribution graph supports {', '.join(SUPPORTED)} models, not {bundle.architecture}"
        )
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive whole number, not {steps!r}")
    prepared = prepare(bundle, text)
    label, logits = target_of(bundle, prepared, target)
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas = [float(a) for a in (nodes + 1) / 2]
    weights = (weights / 2).tolist()
    projections = family_of(bundle.model).attention_outputs(bundle.model)
    layers = len(projections)
    # Row plan: (layer scaled, alpha, quadrature weight); alpha = 0 rows measure F with that layer zeroed.
    plan = [(layer, a, w) for layer in range(layers) for a, w in zip(alphas, weights)]
    plan += [(layer, 0.0, 0.0) for layer in range(layers)]
    length = prepared.length
    zeroed = np.zeros(layers)
    attention = integral = None
    seen = [False] * layers
    chunk = rows_per_batch(bundle, length)
    started = time.perf_counter()
    with bundle.lock, torch.enable_grad():
        for start in range(0, len(plan), chunk):
            rows = plan[start : start + chunk]
            scales = torch.ones(layers, len(rows), device=bundle.device)
            for row, (layer, alpha, _) in enumerate(rows):
                scales[layer, row] = alpha
            with _scaled_context(projections, scales):
                out = bundle.model(
                    inputs_embeds=prepared.embeddings.expand(len(rows), -1, -1),
                    attention_mask=torch.ones(len(rows), length, dtype=torch.long, device=bundle.device),
                    output_attentions=True,
                    **prepared.extra,
                )
                target_logits = out.logits[:, label]
                grads = torch.autograd.grad(target_logits.sum(), list(out.attentions))
            for row, (layer, alpha, weight) in enumerate(rows):
                if attention is None:
                    shape = (layers, *out.attentions[0].shape[1:])
                    attention, integral = torch.zeros(shape), torch.zeros(shape)  # [L, H, T, T]
                if alpha == 0.0:
                    zeroed[layer] = float(target_logits[row].detach())
                    continue
                if not seen[layer]:  # A of layer l as the input has it: only rows scaling layer l leave it intact
                    attention[layer] = out.attentions[layer][row].detach().float().cpu()
                    seen[layer] = True
                integral[layer] += weight / alpha * grads[layer][row].detach().float().cpu()
            if progress is not None:
                progress(min(start + chunk, len(plan)), len(plan))
            del out, grads, target_logits
    scores = (attention * integral).numpy()
    full = float(logits[label])
    deltas = scores.sum(axis=(1, 2, 3)) - (full - zeroed)
    return AttentionAttribution(
        model_name=bundle.name,
        architecture=bundle.architecture,
        text=text,
        tokens=prepared.tokens,
        special_tokens=prepared.special,
        label_names=bundle.label_names,
        target=label,
        logits=logits,
        scores=scores,
        deltas=deltas,
        zeroed_logits=zeroed,
        readout=prepared.readout,
        steps=steps,
        seconds=time.perf_counter() - started,
        truncated=prepared.truncated,
        notes=(DENSE_NOTE,) if prepared.extra else (),
    )


def _scaled_context(projections: list[nn.Module], scales: torch.Tensor) -> contextlib.AbstractContextManager[None]:
    """Scale the input of each layer's output projection per batch row (scales [layers, rows]); layers are told
    apart by call order (ALBERT's one shared layer), and every hook is removed on exit, also when the forward or
    backward pass raises."""

    def scale(layer: int, module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        context = args[0]
        shape = (-1,) + (1,) * (context.dim() - 1)
        return (context * scales[layer].to(context.dtype).view(shape), *args[1:])

    return layer_hooks.forward_pre_hooks(projections, scale)


def build_graph(result: AttentionAttribution, threshold: float = DEFAULT_THRESHOLD) -> AttributionGraph:
    """Edges above `threshold` x the strongest edge of their layer that lie on a path to the prediction."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be from 0 to 1, not {threshold}")
    layers = result.num_layers
    candidates: dict[tuple[int, int], list[tuple[int, int, float, float]]] = {}  # target node -> (layer, j, w, rel)
    for layer in range(layers):
        weights = result.scores[layer].sum(axis=0)  # [T, T] query x key
        top = float(weights.max())
        if top <= 0:
            continue
        relative = weights / top
        for i, j in zip(*np.nonzero(relative >= max(threshold, 1e-9))):
            edge = (layer, int(j), float(weights[i, j]), float(relative[i, j]))
            candidates.setdefault((layer + 1, int(i)), []).append(edge)
    prediction = (layers, result.readout)
    reached = {prediction}
    frontier = [prediction]
    kept: list[GraphEdge] = []
    while frontier:  # walk down from the prediction: every edge into a reached node lies on a path to it
        node = frontier.pop()
        for layer, j, weight, relative in candidates.get(node, []):
            per_head = result.scores[layer, :, node[1], j]
            heads = tuple(
                (int(h), float(per_head[h])) for h in np.argsort(-per_head)[:MAX_HEADS_SHOWN] if per_head[h] > 0
            )
            kept.append(GraphEdge((layer, j), node, weight, relative, heads))
            if (layer, j) not in reached:
                reached.add((layer, j))
                frontier.append((layer, j))
    kept.sort(key=lambda e: (e.source[0], e.target[1], e.source[1]))
    return AttributionGraph(
        tokens=result.tokens,
        num_layers=layers,
        prediction=prediction,
        threshold=float(threshold),
        target_label=result.target_label,
        nodes=tuple(sorted(reached)),
        edges=tuple(kept),
    )
