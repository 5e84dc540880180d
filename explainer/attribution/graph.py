"""The attribution graph: self-attention attribution (Hao et al. 2021) pruned to the flow that reaches the
prediction.

For layer l with attention probabilities A (heads x T x T), the attribution of every attention weight is
    Attr(A) = A * integral_0^1 dF(alpha A)/dA dalpha
where F is the target logit and only layer l's attention is scaled. Scaling A by alpha scales the heads'
context alpha * A V, so the scaling is done at one point every family has: the input of the attention output
projection (a forward pre-hook on that linear layer, which reads the merged heads), with the gradient passed
through unscaled, so the gradient read for A is the integrand F'(alpha A) itself, at alpha = 0 too.

Adaptive steps per layer, as adaptive IG (ig_adaptive.py): the integrand summed against A is dF(alpha A)/dalpha,
so over any stretch [a, c] of the path its integral is exactly F(c) - F(a), and every path point returns F at no
extra cost. Each Simpson panel (a, its middle, c) therefore knows its own error. Every layer starts on a uniform
grid of FIRST_STEPS intervals (two panels); each round bisects, for every layer still over the tolerance, the
panels carrying most of its error (ig_adaptive.panels_to_split), until the layer's error bound (the sum of its
panels' |errors|, where errors of different panels cannot cancel) is within `tolerance` of its total, F(x) - F(x
with layer l's attention zeroed), and every cell's estimated error (adaptive Simpson's, a panel and its sibling
against their parent; errors of different cells do cancel in a panel's sum) within `tolerance` of the layer's
largest cell, or `steps` intervals are spent; a layer refined until no interval is left is named as not shown to
converge. The end points are shared: alpha = 0 is that zeroed row
(needed for the total anyway), alpha = 1 is the unscaled input, one row for every layer at once. Each round's rows
(every layer still refining) are one batch, chunked to fit memory.
Why: a fixed 16-point Gauss-Legendre rule per layer cost 38x one forward+backward pass on the shipped model at
64 tokens and 140x on BERT-base at 128, while most layers meet the check with 4 intervals. A nested
Clenshaw-Curtis rule, doubled while completeness or the edges' change from half as many intervals failed, came
next; on the shipped sst2-thought-beacon it stopped layer 0 of "A gentle film with a big heart." at 32 intervals
with cells 24% of the largest off (edges 10%), and even 128 left 13%: a negative spike about 0.005 wide at
alpha 0.07 fell between its nodes, and both checks compared the grid with a coarser copy of itself. Bisecting the
panel whose F difference disagrees finds it: 34 intervals, cells within 2.3%, edges 1.3% (against 512 intervals).

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

from explainer.attribution.ig_adaptive import panels_to_split
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
FIRST_STEPS = 4  # every layer starts here: most layers of the shipped models and of BERT-base pass at 4
# A layer is refined while its error bound is over this share of its total: stricter than the 5% the graph promises,
# as single edges are less exact than their layer's sum.
DEFAULT_TOLERANCE = 0.02
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


@dataclass(frozen=True, eq=False, repr=False)
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
    layer_steps: np.ndarray  # [layers] intervals each layer used (steps + 1 path points)
    error_bounds: np.ndarray  # [layers] sum over the layer's Simpson panels of |estimate - exact F difference|
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

    @property
    def relative_error_bounds(self) -> np.ndarray:  # [layers]
        """Each layer's error bound over its gap (floored as relative_deltas): what its refinement held under the
        tolerance. At least the relative completeness error, since panel errors cannot cancel in it."""
        gaps = self.logits[self.target] - self.zeroed_logits
        return np.abs(self.error_bounds) / np.maximum(np.abs(gaps), GAP_FLOOR)

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
    each layer starts at FIRST_STEPS (or `steps` rounded down to even, if fewer) and bisects its worst panels,
    reusing its points, until its error bound is within `tolerance` x |F(x) - F(layer zeroed)| or no panel fits
    under `steps` (tolerance 0: every layer at `steps`, rounded down to even, unless its error is exactly 0).
    `progress(done_rows, rows_planned)` per chunk; rows_planned is the most the run can still take, so it shrinks
    as layers pass."""
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
    first = _first_intervals(steps)
    full = float(logits[label])
    run = _Runner(bundle, prepared, projections, label, progress)
    started = time.perf_counter()
    with bundle.lock, torch.enable_grad():
        # Round 1: the unscaled input (alpha = 1 for every layer at once), each layer zeroed (alpha = 0), and the
        # first grid's interior points of every layer; later rounds: the points that split failing panels.
        paths = [_LayerPath(np.linspace(0.0, 1.0, first + 1)) for _ in range(layers)]
        rows: list[tuple[int | None, float]] = [(None, 1.0)] + [(layer, 0.0) for layer in range(layers)]
        rows += [(layer, float(a)) for layer in range(layers) for a in paths[layer].ends[1:-1]]
        run.planned = len(rows) + layers * (steps + 1 - (first + 1))
        attention, values = run(rows)
        for (layer, alpha), value, grads in values:
            for each in range(layers) if layer is None else (layer,):
                paths[each].add(alpha, value, grads[each], attention[each])
        refining = set(range(layers))
        while refining:
            plan: list[tuple[int | None, float]] = []
            for layer in sorted(refining):
                points = paths[layer].to_split(tolerance, full - paths[layer].value(0.0), steps + 1)
                plan += [(layer, a) for a in points]
                if not points:  # within the tolerance, or out of points: done
                    refining.discard(layer)
            if not plan:
                break
            # the most the run can still take: each layer still refining up to its cap (this round's points too)
            run.planned = run.done + sum(steps + 1 - len(paths[layer].values) for layer in refining)
            _, values = run(plan)
            for (layer, alpha), value, grads in values:
                paths[layer].add(alpha, value, grads[layer], attention[layer])
        if progress is not None:
            progress(run.done, run.done)  # planned was the most the run could still take: it took this many
    scores = [path.integral(attention[layer]) for layer, path in enumerate(paths)]
    stacked = torch.stack(scores).numpy()  # [L, H, T, T]
    zeroed = np.array([path.value(0.0) for path in paths])
    deltas = stacked.sum(axis=(1, 2, 3)) - (full - zeroed)
    used = [path.intervals for path in paths]
    bounds = np.array([path.error_bound() for path in paths])
    cell_errors = np.array([path.cell_errors()[0] for path in paths])
    # A layer that refined until no panel fit under `steps` is not shown to have converged, whatever its estimates
    # say at the end: the shipped baseline's layer 0 ended at 128 intervals with estimates within 2% and its edges
    # 8% off. (tolerance 0 asks for every layer at `steps`.)
    capped = [tolerance > 0 and path.intervals > first and path.intervals + 2 > steps for path in paths]
    unmet = _unconverged_note(bounds, full - zeroed, used, tolerance or DEFAULT_TOLERANCE, cell_errors, capped)
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
        error_bounds=bounds,
        seconds=time.perf_counter() - started,
        truncated=prepared.truncated,
        notes=dense_notes(bundle, prepared, target, label, logits) + ((unmet,) if unmet else ()),
    )


def _first_intervals(steps: int) -> int:
    """The first grid's intervals: FIRST_STEPS, or `steps` rounded down to even if fewer (Simpson panels span two;
    one interval for steps 1)."""
    return max(1, min(FIRST_STEPS, steps - steps % 2 if steps > 1 else 1))


class _LayerPath:
    """One layer's path points: alpha -> (F(alpha A), the integrand dF/dA at alpha A [H, T, T]) on a dyadic grid of
    Simpson panels [start, stop] (midpoint evaluated too). The integrand summed against A is dF/dalpha, whose
    integral over a panel is exactly F(stop) - F(start): each panel knows its own quadrature error at no extra
    cost, as adaptive IG's do (attribution/ig_adaptive.py)."""

    def __init__(self, ends: np.ndarray) -> None:
        self.ends = ends
        if len(ends) > 2:
            self.starts, self.stops = ends[:-2:2], ends[2::2]
        else:  # one interval (steps 1): one panel without a middle, the trapezoid
            self.starts, self.stops = ends[:1], ends[1:]
        self.values: dict[float, float] = {}
        self.integrands: dict[float, torch.Tensor] = {}
        self.slopes: dict[float, float] = {}  # alpha -> dF/dalpha = sum(A * integrand)
        self.attention: torch.Tensor | None = None  # A [H, T, T], the layer's unscaled attention

    def add(self, alpha: float, value: float, integrand: torch.Tensor, attention: torch.Tensor) -> None:
        self.values[alpha], self.integrands[alpha], self.attention = value, integrand, attention
        self.slopes[alpha] = float((attention.double() * integrand.double()).sum())

    def value(self, alpha: float) -> float:
        return self.values[alpha]

    @property
    def intervals(self) -> int:
        return len(self.values) - 1

    def _rule(self, a: float, c: float) -> list[tuple[float, float]]:
        """(alpha, weight) of panel [a, c]'s rule: Simpson, or the trapezoid on a panel without its middle (only a
        budget of 2 points leaves one)."""
        m = (a + c) / 2
        if m in self.values:
            return [(a, (c - a) / 6), (m, 4 * (c - a) / 6), (c, (c - a) / 6)]
        return [(a, (c - a) / 2), (c, (c - a) / 2)]

    def errors(self) -> np.ndarray:
        """[panels] each panel's estimate of F(stop) - F(start) minus its exact value."""
        return np.array([sum(w * self.slopes[x] for x, w in self._rule(a, c)) - (self.values[c] - self.values[a])
                         for a, c in zip(self.starts, self.stops)])

    def error_bound(self) -> float:
        """The sum of |error| over panels: >= the completeness error, and errors of opposite sign cannot cancel."""
        return float(np.abs(self.errors()).sum())

    def _simpson(self, a: float, c: float) -> torch.Tensor | None:
        """Simpson's rule over [a, c] of the integrand, per cell [H, T, T]; None when a point is missing."""
        m = (a + c) / 2
        if any(x not in self.integrands for x in (a, m, c)):
            return None
        f = self.integrands
        return (c - a) / 6 * (f[a].double() + 4 * f[m].double() + f[c].double())

    def cell_errors(self) -> tuple[float, np.ndarray, float]:
        """(the layer's largest |cell error| over its largest |cell|, each panel's largest |cell error| [panels],
        the largest |cell|).
        The panels' errors above are of the sum over cells, where errors of opposite sign in different cells
        cancel: a spike in a few cells passed at 4 intervals with cells off by most of the strongest. A cell's
        error is estimated as adaptive Simpson's is, from a panel and its sibling against their parent's rule on the
        parent's three points: A x (S(left) + S(right) - S(parent)) / 4, 0 for a cubic as Simpson's error is; a
        quarter, not the asymptotic fifteenth, as a path's spike is not yet in the asymptotic regime (at /15 the
        shipped models' layer 0 stopped with edges 2-4% off, at /4 within 2%; the default model's layers pass
        at 4 intervals either way)."""
        largest = np.zeros(len(self.starts))
        if self.attention is None:
            return 0.0, largest, 0.0
        attention = self.attention.double()
        total = torch.zeros_like(attention)
        pairs: set[tuple[float, float]] = set()
        for panel, (a, c) in enumerate(zip(self.starts, self.stops)):
            width = c - a
            index = round(a / width)
            start = (index - index % 2) * width  # the parent's start on the dyadic grid
            rules = [self._simpson(start, start + width), self._simpson(start + width, start + 2 * width),
                     self._simpson(start, start + 2 * width)]
            # No parent (a first grid of one panel, steps 1 to 3): not estimated. The first grid of FIRST_STEPS
            # (a power of 2) keeps every later panel dyadic, so a / width is whole and the parent's points exist.
            if any(rule is None for rule in rules):
                continue
            error = attention * ((rules[0] + rules[1] - rules[2]) / 4)
            largest[panel] = float(error.abs().max())
            if (start, width) not in pairs:
                pairs.add((start, width))
                total += error
        strongest = float(self.integral(self.attention).abs().max())
        return float(total.abs().max()) / max(strongest, 1e-12), largest, strongest

    def to_split(self, tolerance: float, gap: float, max_points: int) -> list[float]:
        """The new points this round: the quarter points of each panel to bisect (ig_adaptive.panels_to_split),
        none once the error bound is within `tolerance` x |gap| (floored at GAP_FLOOR) and every cell's error
        within `tolerance` x the largest cell (cell_errors), or a split would pass `max_points`. Updates the panels
        for the points returned."""
        errors, widths = self.errors(), self.stops - self.starts
        allowed = tolerance * max(abs(gap), GAP_FLOOR)
        budget = (max_points - len(self.values)) // 2
        split = np.array([], dtype=np.int64)
        if float(np.abs(errors).sum()) > allowed:
            split = panels_to_split(errors, widths, allowed, budget)
        relative, largest, strongest = self.cell_errors()
        if relative > tolerance:  # the sum met its bound (or not), but some cells did not
            cells_allowed = tolerance * strongest
            split = np.union1d(split, panels_to_split(largest, widths, cells_allowed, budget)).astype(np.int64)
            if len(split) > budget:  # the worst of both first, each measured against its own allowance
                share = np.maximum(np.abs(errors) / max(allowed, 1e-12), largest / max(cells_allowed, 1e-12))
                split = np.sort(split[np.argsort(-share[split], kind="stable")][:budget])
        if len(split) == 0:
            return []
        middles = (self.starts[split] + self.stops[split]) / 2
        new = np.concatenate([(self.starts[split] + middles) / 2, (middles + self.stops[split]) / 2])
        keep = np.setdiff1d(np.arange(len(self.starts)), split)
        self.starts = np.concatenate([self.starts[keep], self.starts[split], middles])
        self.stops = np.concatenate([self.stops[keep], middles, self.stops[split]])
        order = np.argsort(self.starts, kind="stable")
        self.starts, self.stops = self.starts[order], self.stops[order]
        return [float(a) for a in new]

    def integral(self, attention: torch.Tensor) -> torch.Tensor:
        """A * (each panel's rule over the integrand, summed), [H, T, T]."""
        total = torch.zeros_like(attention)
        for a, c in zip(self.starts, self.stops):
            for x, weight in self._rule(a, c):
                total += float(weight) * self.integrands[x]
        return attention * total


def _unconverged_note(bounds: np.ndarray, gaps: np.ndarray, used: list[int], tolerance: float,
                      cell_errors: np.ndarray | None = None, capped: list[bool] | None = None) -> str | None:
    """A warning naming the layers whose error bound (the sum of their panels' |errors|) is still over
    `tolerance` of their gap, or whose cells' estimated error (_LayerPath.cell_errors) is over `tolerance` of
    their largest cell, at the most points allowed, and those `capped` (refined until no interval was left)
    (the pages warn on UNRELIABLE, as for the embedding methods); None when no layer is named."""
    relative = np.abs(bounds) / np.maximum(np.abs(gaps), GAP_FLOOR)  # as relative_deltas
    cells = np.zeros(len(bounds)) if cell_errors is None else cell_errors
    at_cap = capped or [False] * len(bounds)
    failing = [layer for layer in range(len(bounds))
               if relative[layer] > tolerance or cells[layer] > tolerance or at_cap[layer]]
    if not failing:
        return None

    def said(layer: int) -> str:  # layers numbered from 0, as the pages number them
        parts = ([f"error {relative[layer]:.1%} of its total"] if relative[layer] > tolerance else []) + (
            [f"cells' error {cells[layer]:.1%} of its largest"] if cells[layer] > tolerance else []) + (
            ["every interval allowed used"] if at_cap[layer] else [])
        return f"layer {layer}: {', '.join(parts)} ({used[layer]} intervals)"

    return (
        f"Attribution graph: a layer's error over {tolerance:.0%} of its total or of its largest cell, or a layer "
        f"refined until no interval was left, is not shown to have converged ({'; '.join(map(said, failing))}), "
        f"so {UNRELIABLE} for {'that layer' if len(failing) == 1 else 'those layers'}"
    )


class _Runner:
    """Runs rows (layer scaled or None, alpha) in batches of rows_per_batch, and returns the attention
    of every layer (from the unscaled row, when there is one) and, per row, F and the integrand of every layer."""

    def __init__(
        self,
        bundle: ModelBundle,
        prepared: Prepared,
        projections: list[nn.Module],
        label: int,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.bundle, self.prepared, self.projections, self.label = bundle, prepared, projections, label
        self.progress = progress
        self.done = 0
        self.planned = 0
        self.chunk = rows_per_batch(bundle, prepared.length)

    def __call__(self, plan: list[tuple[int | None, float]]):
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
            for row, (layer, alpha) in enumerate(rows):
                if layer is not None:
                    scales[layer, row] = alpha
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
            for row, (layer, alpha) in enumerate(rows):
                if layer is None:  # nothing scaled: A and the integrand (alpha = 1) of every layer
                    attention = [a[row].detach().float().cpu() for a in out.attentions]
                    per_layer = {n: grads[n][row].detach().float().cpu() for n in range(layers)}
                else:
                    per_layer = {layer: grads[layer][row].detach().float().cpu()}
                values.append(((layer, alpha), float(target_logits[row].detach()), per_layer))
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
