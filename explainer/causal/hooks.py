"""Where causal interventions hook into a model, and the scoped hooks that read or overwrite activations there.

Sites, per layer l (every family in explainer/families.py that declares its blocks and attention output):
- residual l (0 … layers): the module output that *is* `hidden_states[l]` as the model reports it. It is found
  by one probe pass (the first module whose output equals that state), which works whatever a
  block returns (a tensor, a tuple, our layer's dict) and for models that never call their blocks as modules
  (the retrofit runs a BERT layer's parts itself).
- head l: the input of the attention output projection, [batch, T, heads * head_dim]; head h is its slice
  h * head_dim … (h + 1) * head_dim (the merged heads' context).
- attention l: the output of that projection, the attention's write to the residual stream.
- mlp l: the MLP's write. The family's MLP writer where it declares one; for the ThoughtBeacon types (whose
  table entries declare none) the ungated feed-forward output, patched together with the beacon gate's logit
  (`gate` l) so that the gated update g * FFN(u) is the clean one.
- marker l: the thought-marker projection W_m,l m (ThoughtBeacon types with markers).

Every hook is installed by `hooked(...)` inside the caller's `with bundle.lock`, and removed in its `finally`.
Hooks return new tensors (clones with the edits written in): the model's parameters and modules are never
changed. `hooked` can also grow the batch at a residual point (rows joining mid-stack: batching.py).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from explainer.capture.encoding import InputError
from explainer.families import FAMILIES, UNKNOWN, Family, family_of, sizes
from explainer.loading.bundle import ModelBundle, probe_inputs
from explainer.models import is_thought_beacon
from explainer.thought_beacon.dense import dense_forward_args

Kind = Literal["residual", "head", "attention", "mlp", "gate", "marker"]
# Where in a module's output the activation is: None (the output is the tensor), a tuple index or a dict key.
Path = int | str | None

# Model types whose family declares blocks and an attention output projection: what causal analysis needs.
SUPPORTED = tuple(t for f in FAMILIES if f.layers is not None and f.attention_output is not None for t in f.model_types)


class CausalUnsupported(InputError):
    """The model's family is not in the architecture table (or lacks what ablation and patching hook)."""


@dataclass(frozen=True)
class Site:
    kind: Kind
    layer: int


@dataclass(frozen=True)
class Edit:
    """Overwrite activations of one batch row: tensor[row, positions, features] = values."""

    row: int
    positions: torch.Tensor | slice  # [n] token positions, or slice(None) for all
    features: slice  # slice(None), or one head's slice of the merged context
    values: torch.Tensor  # broadcastable to [n, width]


@dataclass(frozen=True)
class Point:
    """The `occurrence`-th call (of `period` calls per forward pass) of `module`; `path` locates the activation in
    its output. Shared modules (ALBERT runs one layer module for every layer) are told apart by the call."""

    module: nn.Module
    occurrence: int = 0
    period: int = 1
    path: Path = None


def _points(modules: Sequence[nn.Module]) -> tuple[Point, ...]:
    """One point per listed module call; a module listed n times is called n times per pass, in list order."""
    ids = [id(m) for m in modules]
    return tuple(Point(m, ids[:index].count(id(m)), ids.count(id(m))) for index, m in enumerate(modules))


@dataclass(frozen=True, eq=False)
class Layout:
    """The hook points of one model (found once per model and kept while it lives)."""

    layers: int
    heads: int
    head_dim: int
    residual: tuple[Point, ...]  # layers+1 points whose output is hidden_states[l]
    projections: tuple[Point, ...]  # [layers] attention output projections
    mlp: tuple[Point, ...] | None  # [layers] the MLP write (ThoughtBeacon: the FFN output its gate then scales)
    gates: tuple[Point, ...] | None  # [layers] beacon gate linears (ThoughtBeacon types with beacons)
    markers: tuple[Point, ...] | None  # [layers] marker projections (ThoughtBeacon types with markers)

    def point(self, site: Site) -> Point:
        if site.kind == "residual":
            return self.residual[site.layer]
        if site.kind in ("head", "attention"):
            return self.projections[site.layer]
        table = {"mlp": self.mlp, "gate": self.gates, "marker": self.markers}[site.kind]
        if table is None:
            raise KeyError(f"this model has no {site.kind} sites")
        return table[site.layer]

    @property
    def mlp_is_gated(self) -> bool:
        """Whether the MLP site is a feed-forward output that a beacon gate scales afterwards (ThoughtBeacon):
        the layer writes g * FFN(u), not the site's value."""
        return self.mlp is not None and self.gates is not None

    def head_slice(self, head: int) -> slice:
        return slice(head * self.head_dim, (head + 1) * self.head_dim)


def supported_family(bundle: ModelBundle) -> Family:
    family = family_of(bundle.model)
    if family.layers is None or family.attention_output is None:
        where = (
            "is not one" if family is UNKNOWN else "is known there by its readout position only, not its layers"
        )
        raise CausalUnsupported(
            f"Ablation and patching need a model family from the architecture table with its layers; "
            f"{bundle.architecture} {where}. Supported: {', '.join(SUPPORTED)}."
        )
    return family


def forward_extra(bundle: ModelBundle) -> dict[str, Any]:
    """Keyword arguments of every causal forward pass. ThoughtBeacon models run dense (tau = 0: every MLP update
    scaled by its gate, none skipped), so every position has an MLP write to patch, as attribution runs them."""
    return dense_forward_args(bundle.model.config)


_LAYOUTS: weakref.WeakKeyDictionary[nn.Module, Layout] = weakref.WeakKeyDictionary()


def layout(bundle: ModelBundle) -> Layout:
    """The hook points of `bundle`'s model (a probe pass under the lock the first time)."""
    family = supported_family(bundle)
    model = bundle.model
    with bundle.lock:
        found = _LAYOUTS.get(model)
        if found is None:
            found = _LAYOUTS[model] = _build_layout(bundle, family)
    return found


def _build_layout(bundle: ModelBundle, family: Family) -> Layout:
    model = bundle.model
    size = sizes(model.config)
    blocks = family.blocks(model)
    projections = _points([family.attention_output(block) for block in blocks])
    mlp: tuple[Point, ...] | None = None
    if family.mlp is not None:
        mlp = _points([family.mlp(block)[1] for block in blocks])
    elif is_thought_beacon(model.config):
        mlp = _points([_beacon_ffn(model, block) for block in blocks])
    gates = _named(model, "gate", len(blocks))
    markers = _named(model, "marker_proj", len(blocks))
    residual = _probe_residual(bundle, len(blocks))
    return Layout(
        layers=len(blocks),
        heads=size.heads,
        head_dim=_head_dim(model.config, family.attention_output(blocks[0]), size.heads, size.hidden),
        residual=residual,
        projections=projections,
        mlp=mlp,
        gates=gates,
        markers=markers,
    )


def _head_dim(config: Any, projection: nn.Module, heads: int, hidden: int) -> int:
    """The width of one head in the output projection's input: the projection's own input width over the heads.
    Not hidden // heads: Qwen3, Gemma, Mistral-Nemo and others set head_dim apart (Qwen3-0.6B: 16 heads of 128 on
    a hidden size of 1024), and slicing by hidden // heads cut every head in the wrong place."""
    width = getattr(projection, "in_features", None)  # nn.Linear
    if width is None and type(projection).__name__ == "Conv1D":  # GPT-2's transposed linear: weight [in, out]
        width = projection.weight.shape[0]
    if width is None:
        width = (getattr(config, "head_dim", None) or hidden // heads) * heads
    if width % heads:
        raise CausalUnsupported(f"the attention output projection reads {width} features: not {heads} equal heads")
    return int(width) // heads


def _beacon_ffn(model: nn.Module, block: nn.Module) -> nn.Module:
    # Our layer keeps its feed-forward block as `mlp`; the retrofit runs a BERT layer's intermediate and
    # output.dense itself (dropout after it is the identity in eval), so output.dense writes the update.
    if hasattr(block, "mlp"):
        return block.mlp
    return block.output.dense


def _named(model: nn.Module, leaf: str, layers: int) -> tuple[Point, ...] | None:
    """The modules named `*.{leaf}` in layer order, when there is one per layer."""
    found = [module for name, module in model.named_modules() if name.rsplit(".", 1)[-1] == leaf]
    return _points(found) if len(found) == layers else None


def _tensors(output: Any) -> Iterator[tuple[Path, torch.Tensor]]:
    if isinstance(output, torch.Tensor):
        yield None, output
    elif isinstance(output, (tuple, list)):
        for index, item in enumerate(output):
            if isinstance(item, torch.Tensor):
                yield index, item
    elif isinstance(output, dict):
        for key, item in output.items():
            if isinstance(item, torch.Tensor):
                yield key, item


def _probe_residual(bundle: ModelBundle, layers: int) -> tuple[Point, ...]:
    """One forward pass recording every module call's output; hidden_states[l] is found among them. The first
    call to return it computed it: outer modules only pass it on, and one of them may return it beside a value
    already derived from it (BertModel beside its pooler's output), where a patch would come too late."""
    model = bundle.model
    encoded = probe_inputs(bundle, "causal probe text")
    events: list[tuple[nn.Module, Any]] = []
    handles = []
    try:
        for module in model.modules():
            if module is not model:
                handles.append(module.register_forward_hook(lambda m, a, o: events.append((m, o))))
        with torch.inference_mode():
            out = model(**encoded, output_hidden_states=True, **forward_extra(bundle))
    finally:
        for handle in handles:
            handle.remove()
    hidden = out.hidden_states
    if hidden is None or len(hidden) != layers + 1:
        raise CausalUnsupported(f"{bundle.architecture} does not report one hidden state per layer")
    calls: dict[int, int] = {}
    numbered: list[tuple[nn.Module, int, Any]] = []
    for module, output in events:
        numbered.append((module, calls.get(id(module), 0), output))
        calls[id(module)] = calls.get(id(module), 0) + 1
    points: list[Point] = []
    for index, state in enumerate(hidden):
        match = next(
            (
                Point(module, occurrence, calls[id(module)], path)
                for module, occurrence, output in numbered
                for path, tensor in _tensors(output)
                if tensor.shape == state.shape and torch.equal(tensor, state)
            ),
            None,
        )
        if match is None:
            raise CausalUnsupported(f"Cannot locate the residual stream of layer {index} in {bundle.architecture}")
        points.append(match)
    return tuple(points)


# ---- scoped hooks ----


def _edited(tensor: torch.Tensor, edits: Sequence[Edit]) -> torch.Tensor:
    result = tensor.clone()
    for edit in edits:
        result[edit.row, edit.positions, edit.features] = edit.values.to(result.dtype)
    return result


def _grown(tensor: torch.Tensor, rows: int) -> torch.Tensor:
    """`rows` copies of row 0 (the unedited seed row) appended to the batch: [b, ...] -> [b + rows, ...]."""
    return torch.cat([tensor, tensor[:1].expand(rows, *tensor.shape[1:])])


def _replace(output: Any, path: Path, change: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    if path is None:
        return change(output)
    if isinstance(output, tuple):
        return tuple(change(item) if index == path else item for index, item in enumerate(output))
    if isinstance(output, list):
        return [change(item) if index == path else item for index, item in enumerate(output)]
    # A dict (our layer) or a ModelOutput (a base model's output): a copy of the same type with the entry changed.
    changed = {**output, path: change(output[path])}
    return changed if type(output) is dict else type(output)(**changed)


def _get(output: Any, path: Path) -> torch.Tensor:
    return output if path is None else output[path]


@contextlib.contextmanager
def hooked(
    plan: Layout,
    edits: dict[Site, list[Edit]] | None = None,
    record: Sequence[Site] = (),
    grow: Mapping[int, int] | None = None,
) -> Iterator[dict[Site, torch.Tensor]]:
    """Within the block, the model's forward passes get `edits` written at their sites, and the activation at
    every `record` site (after edits) is stored in the yielded dict ([batch, T, width]). `grow` {level: rows}
    appends `rows` copies of batch row 0 to the residual stream at residual point `level`, before that point's
    edits (rows joining the batch there). One hook per module and kind counts the module's calls, so a module
    shared by several layers is edited at the right call. Call under the bundle's lock; every hook is removed on
    exit, also when the forward pass raises."""
    edits = edits or {}
    grow = {level: rows for level, rows in (grow or {}).items() if rows > 0}
    recorded: dict[Site, torch.Tensor] = {}
    # (module, before the call?) -> {occurrence: site}, and the module's calls per pass
    groups: dict[tuple[int, bool], tuple[nn.Module, int, dict[int, list[Site]]]] = {}
    for site in {*edits, *record, *(Site("residual", level) for level in grow)}:
        point = plan.point(site)
        key = (id(point.module), site.kind == "head")
        groups.setdefault(key, (point.module, point.period, {}))[2].setdefault(point.occurrence, []).append(site)
    handles = []

    def on_call(counter: list[int], period: int, sites: dict[int, list[Site]]) -> list[Site]:
        occurrence = counter[0] % period
        counter[0] += 1
        return sites.get(occurrence, [])

    try:
        for (_, before), (module, period, sites) in groups.items():
            counter = [0]
            if before:

                def pre(module, args, kwargs, counter=counter, period=period, sites=sites):
                    here = on_call(counter, period, sites)
                    if not here:
                        return None
                    site = here[0]  # one head site per projection call
                    site_edits = edits.get(site, [])
                    if args:
                        context = _edited(args[0], site_edits) if site_edits else args[0]
                        args = (context, *args[1:])
                    else:  # called with a keyword: the first tensor keyword is the context
                        key = next(k for k, v in kwargs.items() if isinstance(v, torch.Tensor))
                        context = _edited(kwargs[key], site_edits) if site_edits else kwargs[key]
                        kwargs = {**kwargs, key: context}
                    if site in record:
                        recorded[site] = context.detach()
                    return args, kwargs

                handles.append(module.register_forward_pre_hook(pre, with_kwargs=True))
            else:

                def post(module, args, output, counter=counter, period=period, sites=sites):
                    here = on_call(counter, period, sites)
                    for site in here:  # rows join first: edits at this call may be theirs
                        if site.kind == "residual" and site.layer in grow:
                            rows = grow[site.layer]
                            output = _replace(output, plan.point(site).path, lambda t, rows=rows: _grown(t, rows))
                    for site in here:  # a module may be two sites (its output both a write and a state)
                        path = plan.point(site).path
                        site_edits = edits.get(site, [])
                        if site_edits:
                            output = _replace(output, path, lambda t, site_edits=site_edits: _edited(t, site_edits))
                        if site in record:
                            recorded[site] = _get(output, path).detach()
                    return output if here else None

                handles.append(module.register_forward_hook(post))
        yield recorded
    finally:
        for handle in handles:
            handle.remove()


def model_inputs(bundle: ModelBundle, inputs: dict[str, list[int]], rows: int) -> dict[str, torch.Tensor]:
    """One tokenised input repeated `rows` times, as tensors on the model's device."""
    return {key: torch.tensor([row], device=bundle.device).expand(rows, -1) for key, row in inputs.items()}


def rows_per_pass(bundle: ModelBundle, length: int, budget_bytes: float | None = None) -> int:
    """How many copies of a `length`-token input one inference pass may batch: activations of one layer at a
    time (attention maps, the MLP's hidden layer, a few d-wide tensors) within the budget (1 GB on a CPU, 4 GB on
    a GPU), at most 512 rows."""
    if budget_bytes is None:
        budget_bytes = 4e9 if bundle.device.type == "cuda" else 1e9
    config = bundle.model.config
    size = sizes(config)
    inner = int(getattr(config, "intermediate_size", None) or getattr(config, "n_inner", None) or 4 * size.hidden)
    per_row = 4 * (3 * size.heads * length * length + 12 * length * size.hidden + 2 * length * inner)
    return int(max(1, min(512, budget_bytes // per_row)))
