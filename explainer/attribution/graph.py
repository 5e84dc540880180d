"""The attribution graph: self-attention attribution (Hao et al. 2021) pruned to the flow that reaches the
prediction.

For layer l with attention probabilities A (heads x T x T), the attribution of every attention weight is
    Attr(A) = A * integral_0^1 dF(alpha A)/dA dalpha
where F is the target logit and only layer l's attention is scaled. Scaling A by alpha scales the heads'
context alpha * A V, so the scaling is done at one point every family has: the input of the attention output
projection (a forward pre-hook on that linear layer, which reads the merged heads), with the gradient passed
through unscaled, so the gradient read for A is the integrand F'(alpha A) itself, at alpha = 0 too.

Adaptive steps per layer: the integral is a Clenshaw-Curtis rule (nodes (1 - cos(pi j / n)) / 2, end points
included, nested: doubling n reuses every point). Every layer starts at FIRST_STEPS intervals and doubles up to
`steps`, only while its completeness error is over `tolerance` of its total (sum(Attr(A_l)) should equal
F(x) - F(x with layer l's attention zeroed)) or its scores moved more than EDGE_CHANGE of its largest from those
of half as many intervals (the nested points: no extra pass). Completeness alone can pass by cancellation: one
sum matches while the edges are far off. The end points are shared: alpha = 0 is that zeroed row (needed for
the check anyway), alpha = 1 is the unscaled input, one row for every layer at once. Each round's rows (every
layer still refining) are one batch, chunked to fit memory. Why: a fixed 16-point Gauss-Legendre rule per layer
cost 38x one forward+backward pass on the shipped model at 64 tokens and 140x on BERT-base at 128, while most
layers meet the check with 4 intervals (4 rows each); the few jagged layers still get up to 128 (the first layer of
the shipped from-scratch models needs 32 to 128 on ordinary sentences).

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

from explainer.attribution.inputs import GAP_FLOOR, Prepared, dense_notes, prepare, rows_per_batch, target_of
from explainer.attribution.options import GRAPH_STEPS as DEFAULT_STEPS  # defined there: the command line reads
from explainer.attribution.options import GRAPH_THRESHOLD as DEFAULT_THRESHOLD  # them without importing torch
from explainer.attribution.options import UNRELIABLE
from explainer.capture import layer_hooks
from explainer.capture.encoding import InputError
from explainer.families import FAMILIES, family_of, missing_family_note, single_readout_note
from explainer.frozen import FrozenArrays
from explainer.loading.bundle import ModelBundle

# Model types whose family declares its attention output projection (explainer/families.py).
SUPPORTED = tuple(t for f in FAMILIES if f.attention_output is not None for t in f.model_types)
FIRST_STEPS = 4  # every layer starts here: most layers of the shipped model and of BERT-base pass at 4
# A layer is refined while its completeness error is at least this share of its total: stricter than the 5% the
# graph promises, as single edges are less exact than their layer's sum.
DEFAULT_TOLERANCE = 0.02
# A layer's scores count as settled while they move less than this share of its largest score from those of half
# as many intervals. That change estimates the coarser level's error, so the finer one sits well within it: on the
# default model at 64 tokens, layers passing at 10% were within 1.8% of 128 intervals (2% would double some
# layers' steps for nothing), while a layer complete by cancellation moves by 100-400%.
EDGE_CHANGE = 0.10
MAX_HEADS_SHOWN = 3


class GraphUnsupported(InputError):
    """The model's family has no known attention output projection to scale (an InputError, as
    MethodUnsupported and CausalUnsupported are: a model the request cannot take)."""


def supports_graph(architecture: str) -> bool:
    return architecture in SUPPORTED


def graph_unavailable(model: Any, architecture: str) -> str | None:
    """Why `model` (its class name `architecture`) has no attribution graph, or None: a family whose attention
    output the table does not name, or a classifier that reads no single position (a mean-pooling ModernBERT: no
    prediction node to trace back from). What attention_attribution refuses, for a page to say before it runs."""
    if not supports_graph(architecture):
        return (missing_family_note(model, "the attribution graph")
                or f"The attribution graph supports {', '.join(SUPPORTED)} models, not {architecture}")
    return single_readout_note(model)


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
    steps: int  # the most intervals any layer used
    layer_steps: np.ndarray  # [layers] intervals each layer used (Clenshaw-Curtis, steps + 1 points)
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
        """Each layer's completeness error over its gap, or over GAP_FLOOR when the gap is smaller (a layer whose
        zeroing barely moves the logit is not held to float noise, as the embedding methods are not)."""
        gaps = self.logits[self.target] - self.zeroed_logits
        return np.abs(self.deltas) / np.maximum(np.abs(gaps), GAP_FLOOR)

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
    note: str = ""  # why there is no edge, when there is none
    truncated: bool = False  # the model read only the text's beginning: the graph is of that

    def as_dict(self) -> dict[str, Any]:
        def node_id(node: tuple[int, int]) -> str:
            return f"{node[0]}:{node[1]}"

        # A node's "row" counts hidden states (0: the input embeddings, r: after layer r - 1); an edge's "layer" is
        # the layer whose attention carries it, from 0 as the notes, the pages and the heads number layers.
        return {
            "tokens": list(self.tokens),
            "target_label": self.target_label,
            "threshold": self.threshold,
            "truncated": self.truncated,  # as every other method's output says it
            "prediction": node_id(self.prediction),
            "nodes": [
                {"id": node_id(n), "row": n[0], "position": n[1], "token": self.tokens[n[1]]} for n in self.nodes
            ],
            "edges": [
                {
                    "source": node_id(e.source),
                    "target": node_id(e.target),
                    "layer": e.source[0],
                    "weight": e.weight,
                    "relative": e.relative,
                    "heads": [{"head": h, "attribution": v} for h, v in e.heads],
                }
                for e in self.edges
            ],
            **({"note": self.note} if self.note else {}),
        }


def attention_attribution(
    bundle: ModelBundle,
    text: str,
    *,
    target: int | str | None = None,
    steps: int = DEFAULT_STEPS,
    tolerance: float = DEFAULT_TOLERANCE,
    progress: Callable[[int, int], None] | None = None,
) -> AttentionAttribution:
    """Self-attention attribution of every layer for `text`. `steps` is the most path intervals a layer may use:
    each layer starts at FIRST_STEPS (or `steps` if fewer) and doubles, reusing its points, until its
    completeness error is under `tolerance` x |F(x) - F(layer zeroed)| or `steps` is reached (tolerance 0: every
    layer at `steps`). `progress(done_rows, rows_planned)` per chunk; rows_planned is the most the run can still
    take, so it shrinks as layers pass."""
    if (why := graph_unavailable(bundle.model, bundle.architecture)) is not None:
        raise GraphUnsupported(why)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a positive whole number, not {steps!r}")
    if not 0.0 <= tolerance < 1.0:
        raise ValueError(f"tolerance must be from 0 to 1, not {tolerance!r}")
    prepared = prepare(bundle, text)
    label, logits = target_of(bundle, prepared, target)
    projections = family_of(bundle.model).attention_outputs(bundle.model)
    layers = len(projections)
    levels = _levels(steps)
    finest = levels[-1]
    full = float(logits[label])
    run = _Runner(bundle, prepared, projections, label, finest, progress)
    started = time.perf_counter()
    with bundle.lock, torch.enable_grad():
        # Round 1: the unscaled input (alpha = 1 for every layer at once), each layer zeroed (alpha = 0), and the
        # first level's interior points of every layer; later rounds: the next level's points of failing layers.
        integrands: list[dict[int, torch.Tensor]] = [{} for _ in range(layers)]  # layer -> finest-grid index -> [H,T,T]
        zeroed = np.zeros(layers)
        rows = [(None, finest)] + [(layer, 0) for layer in range(layers)]
        rows += [(layer, k) for layer in range(layers) for k in _new_points(levels[0], finest, first=True)]
        run.planned = len(rows) + layers * sum(len(_new_points(n, finest)) for n in levels[1:])
        attention, values = run(rows)
        for (layer, k), value, grads in values:
            if layer is None:  # alpha = 1: every layer's integrand at its end point
                for each in range(layers):
                    integrands[each][finest] = grads[each]
            else:
                integrands[layer][k] = grads[layer]
                if k == 0:
                    zeroed[layer] = value
        used = [levels[0]] * layers
        scores = [_integral(attention[layer], integrands[layer], levels[0], finest) for layer in range(layers)]
        for level in levels[1:]:
            failing = [
                layer for layer in range(layers)
                if not _converged(attention[layer], integrands[layer], scores[layer], used[layer], finest,
                                  full - zeroed[layer], tolerance)
            ]
            run.planned = run.done + len(failing) * sum(
                len(_new_points(n, finest)) for n in levels[levels.index(level) :]
            )
            if not failing:
                break
            _, values = run([(layer, k) for layer in failing for k in _new_points(level, finest)])
            for (layer, k), _, grads in values:
                integrands[layer][k] = grads[layer]
            for layer in failing:
                used[layer] = level
                scores[layer] = _integral(attention[layer], integrands[layer], level, finest)
    stacked = torch.stack(scores).numpy()  # [L, H, T, T]
    deltas = stacked.sum(axis=(1, 2, 3)) - (full - zeroed)
    changes = np.array([_change(attention[layer], integrands[layer], scores[layer], used[layer], finest)
                        for layer in range(layers)])
    unmet = _unconverged_note(deltas, full - zeroed, used, tolerance or DEFAULT_TOLERANCE, changes)
    return AttentionAttribution(
        model_name=bundle.name,
        architecture=bundle.architecture,
        text=text,
        tokens=prepared.tokens,
        special_tokens=prepared.special,
        label_names=bundle.label_names,
        target=label,
        logits=logits,
        scores=stacked,
        deltas=deltas,
        zeroed_logits=zeroed,
        readout=prepared.readout,
        steps=max(used),
        layer_steps=np.array(used),
        seconds=time.perf_counter() - started,
        truncated=prepared.truncated,
        notes=dense_notes(bundle, prepared, target, label, logits) + ((unmet,) if unmet else ()),
    )


def _change(attention: torch.Tensor, integrands: dict[int, torch.Tensor], score: torch.Tensor, level: int,
            finest: int) -> float:
    """How far the layer's scores moved from the level below (its nested points, no new pass), relative to its
    largest score: the completeness check alone can pass by cancellation (one sum matches while the edges are
    far off: on the shipped baseline a layer passed at 4 intervals with its strongest edge 8.6x too small)."""
    if level < 2:
        return 0.0
    coarser = _integral(attention, integrands, level // 2, finest)
    return float((score - coarser).abs().max()) / max(float(score.abs().max()), 1e-12)


def _converged(attention: torch.Tensor, integrands: dict[int, torch.Tensor], score: torch.Tensor, level: int,
               finest: int, gap: float, tolerance: float) -> bool:
    """Completeness within `tolerance` of the layer's gap, and its scores within EDGE_CHANGE of the level below."""
    complete = abs(float(score.sum()) - gap) < tolerance * max(abs(gap), GAP_FLOOR)
    return complete and _change(attention, integrands, score, level, finest) < EDGE_CHANGE


def _unconverged_note(deltas: np.ndarray, gaps: np.ndarray, used: list[int], tolerance: float,
                      changes: np.ndarray | None = None) -> str | None:
    """A warning naming the layers whose completeness error is still over `tolerance`, or whose change from the
    level below (`changes`, relative to the layer's largest score) is still over EDGE_CHANGE, at their last level
    (the pages warn on UNRELIABLE, as for the embedding methods); None when every layer meets both."""
    relative = np.abs(deltas) / np.maximum(np.abs(gaps), GAP_FLOOR)  # as relative_deltas
    changes = np.zeros(len(deltas)) if changes is None else changes
    failing = [layer for layer in range(len(deltas)) if relative[layer] >= tolerance or changes[layer] >= EDGE_CHANGE]
    if not failing:
        return None
    # layers numbered from 0, as the pages number them
    listed = ", ".join(
        f"layer {layer}: {relative[layer]:.1%} after {used[layer]} intervals"
        + (f", its edges {changes[layer]:.0%} off those of half as many" if changes[layer] >= EDGE_CHANGE else "")
        for layer in failing
    )
    return (
        f"Attribution graph: the completeness error is over {tolerance:.0%}, or the edges still move by "
        f"{EDGE_CHANGE:.0%} from half as many intervals, with every interval allowed spent ({listed}): the "
        f"integral has not converged, so {UNRELIABLE} for {'that layer' if len(failing) == 1 else 'those layers'}"
    )


def _levels(steps: int) -> list[int]:
    """The interval counts a layer goes through: FIRST_STEPS (or `steps` if fewer), doubled while within `steps`."""
    levels = [min(FIRST_STEPS, steps)]
    while levels[-1] * 2 <= steps:
        levels.append(levels[-1] * 2)
    return levels


def _new_points(level: int, finest: int, first: bool = False) -> list[int]:
    """Finest-grid indices of the Clenshaw-Curtis points `level` adds to the level below it (all its interior
    points when `first`); the end points (alpha 0 and 1) are evaluated once for every layer, not here."""
    stride = finest // level
    return [j * stride for j in range(1, level) if first or j % 2 == 1]


def _alpha(index: int, finest: int) -> float:
    """The Clenshaw-Curtis node of finest-grid `index` on [0, 1] (0 -> 0, finest -> 1)."""
    return float((1.0 - np.cos(np.pi * index / finest)) / 2.0)


def _integral(attention: torch.Tensor, integrands: dict[int, torch.Tensor], level: int, finest: int) -> torch.Tensor:
    """A * (Clenshaw-Curtis rule with `level` intervals over the integrand), [H, T, T]."""
    weights = clenshaw_curtis_weights(level)
    stride = finest // level
    total = torch.zeros_like(attention)
    for j, weight in enumerate(weights):
        total += float(weight) * integrands[j * stride]
    return attention * total


def clenshaw_curtis_weights(n: int) -> np.ndarray:
    """[n + 1] weights of the Clenshaw-Curtis rule with n intervals on [0, 1], for the nodes (1 - cos(pi j / n)) / 2,
    j = 0..n (Trefethen, Spectral Methods in MATLAB, clencurt)."""
    if n == 1:
        return np.array([0.5, 0.5])
    theta = np.pi * np.arange(n + 1) / n
    weights = np.zeros(n + 1)
    inner = np.ones(n - 1)
    if n % 2 == 0:
        weights[0] = weights[n] = 1.0 / (n * n - 1)
        for k in range(1, n // 2):
            inner -= 2.0 * np.cos(2 * k * theta[1:-1]) / (4 * k * k - 1)
        inner -= np.cos(n * theta[1:-1]) / (n * n - 1)
    else:
        weights[0] = weights[n] = 1.0 / (n * n)
        for k in range(1, (n - 1) // 2 + 1):
            inner -= 2.0 * np.cos(2 * k * theta[1:-1]) / (4 * k * k - 1)
    weights[1:-1] = 2.0 * inner / n
    return weights / 2.0  # [-1, 1] -> [0, 1]


class _Runner:
    """Runs rows (layer scaled or None, finest-grid index) in batches of rows_per_batch, and returns the attention
    of every layer (from the unscaled row, when there is one) and, per row, F and the integrand of every layer."""

    def __init__(
        self,
        bundle: ModelBundle,
        prepared: Prepared,
        projections: list[nn.Module],
        label: int,
        finest: int,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.bundle, self.prepared, self.projections, self.label = bundle, prepared, projections, label
        self.finest, self.progress = finest, progress
        self.done = 0
        self.planned = 0
        self.chunk = rows_per_batch(bundle, prepared.length)

    def __call__(self, plan: list[tuple[int | None, int]]):
        bundle, prepared = self.bundle, self.prepared
        layers, length = len(self.projections), prepared.length
        attention: list[torch.Tensor] | None = None
        values = []
        # Rows in layer order, the unscaled one first: a chunk then asks for the gradient of few layers' attention,
        # and the backward pass stops at the lowest of them.
        plan = sorted(plan, key=lambda row: -1 if row[0] is None else row[0])
        for start in range(0, len(plan), self.chunk):
            rows = plan[start : start + self.chunk]
            scales = torch.ones(layers, len(rows), device=bundle.device)
            for row, (layer, k) in enumerate(rows):
                if layer is not None:
                    scales[layer, row] = _alpha(k, self.finest)
            needed = sorted({layer for layer, _ in rows if layer is not None})
            if any(layer is None for layer, _ in rows):
                needed = list(range(layers))
            with _scaled_context(self.projections, scales):
                out = bundle.model(
                    inputs_embeds=prepared.embeddings.expand(len(rows), -1, -1),
                    attention_mask=torch.ones(len(rows), length, dtype=torch.long, device=bundle.device),
                    output_attentions=True,
                    **prepared.extra,
                )
                target_logits = out.logits[:, self.label]
                grads = dict(zip(needed, torch.autograd.grad(target_logits.sum(), [out.attentions[n] for n in needed])))
            for row, (layer, k) in enumerate(rows):
                if layer is None:  # nothing scaled: A and the integrand (alpha = 1) of every layer
                    attention = [a[row].detach().float().cpu() for a in out.attentions]
                    per_layer = {n: grads[n][row].detach().float().cpu() for n in range(layers)}
                else:
                    per_layer = {layer: grads[layer][row].detach().float().cpu()}
                values.append(((layer, k), float(target_logits[row].detach()), per_layer))
            self.done += len(rows)
            if self.progress is not None:
                self.progress(self.done, max(self.planned, self.done))
            del out, grads, target_logits
        return attention, values


def _scaled_context(projections: list[nn.Module], scales: torch.Tensor) -> contextlib.AbstractContextManager[None]:
    """Scale the input of each layer's output projection per batch row (scales [layers, rows]), passing the
    gradient through unscaled: the gradient then read for A is F'(alpha A) itself, also at alpha = 0 (scaling
    in the backward pass too would return alpha F'(alpha A)). Layers are told apart by call order (ALBERT's one
    shared layer), and every hook is removed on exit, also when the forward or backward pass raises."""

    def scale(layer: int, module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        context = args[0]
        shape = (-1,) + (1,) * (context.dim() - 1)
        # value: context x scale exactly (context - context.detach() is 0); gradient: the identity
        scaled = context.detach() * scales[layer].to(context.dtype).view(shape) + (context - context.detach())
        return (scaled, *args[1:])

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
        note="" if kept else _no_edge_note(result, threshold),
        truncated=result.truncated,
    )


def _no_edge_note(result: AttentionAttribution, threshold: float) -> str:
    """Why no edge reaches the prediction. Edges carry evidence for the target label; towards a label the model
    does not predict, every edge into the prediction can carry evidence against it, and the graph is empty."""
    last = result.num_layers - 1
    strongest = float(result.scores[last].sum(axis=0)[result.readout].max())  # the edges into the prediction
    if strongest <= 0:
        return (f"No edge reaches the prediction: the graph draws edges that carry evidence for "
                f"'{result.target_label}', and every edge into the prediction at layer {last} carries evidence "
                f"against it (the strongest {strongest:+.3g}). The predicted label's graph shows the paths to it.")
    return (f"No edge into the prediction is above the threshold ({threshold:g} x the strongest edge of layer "
            f"{last}): lower it to see them.")
