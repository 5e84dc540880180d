"""Thought markers and activation beacons: the blocks both architectures add to a transformer layer.

Definitions (docs/architecture.md), for layer l, position i, residual stream x:

Thought markers (one shared bank M of K marker vectors):
    p[l,i] = softmax(R_l(LN(x_i)) / temperature)       routing over the K markers
    m[l,i] = p[l,i] @ M
    t_i    = x_i + W_m,l m[l,i]                         W_m,l starts at zero
Attention runs on t.

Activation beacons (one learned beacon vector b_l per layer), gating the layer's feed-forward block on its input
u_i (LN(h_i) in the pre-LN ThoughtBeacon, h_i itself in a post-LN BERT layer):
    g[l,i] = sigmoid(W_a,l [u_i ; b_l])
    update = g[l,i] * FFN(u_i)
Positions with g < tau skip the FFN: only kept positions are gathered, run and scattered back.

Interventions: a MarkerForce replaces the routing p[l,i] with a one-hot on one marker; a GatePin replaces the
gate g[l,i] with a fixed value. Both apply at the given positions of every row of a batch.

The router (router_norm, router), the marker projection (marker_proj), the beacon and the gate carry these names
in both models' state dicts; MarkerBeaconBlock creates them, so checkpoints load unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers.utils import ModelOutput


class MarkerForce(NamedTuple):
    """Override routing at `layer` with a one-hot on `marker`, at `positions` (None: every position)."""

    layer: int
    positions: Sequence[int] | None
    marker: int


class GatePin(NamedTuple):
    """Pin the beacon gate at `layer` to `value` (0 shuts the MLP, 1 opens it), at `positions` (None: all)."""

    layer: int
    positions: Sequence[int] | None
    value: float


@dataclass
class ThoughtBeaconOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # [batch, labels]
    hidden_states: tuple[torch.Tensor, ...] | None = None  # layers+1 x [batch, T, d], residual stream (pre final LN)
    attentions: tuple[torch.Tensor, ...] | None = None  # layers x [batch, heads, T, T], BERT layout
    thought_markers: tuple[torch.Tensor, ...] | None = None  # layers x [batch, T, K] routing probabilities
    beacon_gates: tuple[torch.Tensor, ...] | None = None  # layers x [batch, T], g in (0, 1) after pins
    marker_contributions: tuple[torch.Tensor, ...] | None = None  # layers x [batch, T], ||W_m m|| / ||x||
    mlp_update_ratios: tuple[torch.Tensor, ...] | None = None  # layers x [batch, T], ||g MLP(LN h)|| / ||h||


def norm_ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """||numerator|| / ||denominator|| over the last dimension: [..., d] -> [...]."""
    return numerator.norm(dim=-1) / denominator.norm(dim=-1).clamp_min(1e-12)


def position_index(positions: Sequence[int] | None) -> slice | list[int]:
    """The index of `positions` along the sequence dimension; None means every position."""
    return slice(None) if positions is None else list(positions)


Intervention = TypeVar("Intervention", MarkerForce, GatePin)


def check_layers(forces: Sequence[MarkerForce], pins: Sequence[GatePin], num_layers: int) -> None:
    """Refuse a force or pin aimed at a layer the model does not have."""
    for item in list(forces) + list(pins):
        if not 0 <= item.layer < num_layers:
            raise ValueError(f"layer {item.layer} is out of range: the model has {num_layers} layers")


def at_layer(items: Sequence[Intervention], index: int) -> list[Intervention]:
    """The forces (or pins) aimed at layer `index`."""
    return [item for item in items if item.layer == index]


def pin_gates(gates: torch.Tensor, pins: Sequence[GatePin]) -> torch.Tensor:
    """`gates` [batch, T] with each pin's value written at its positions (a copy when there are pins)."""
    for pin in pins:
        gates = gates.clone()
        gates[:, position_index(pin.positions)] = pin.value
    return gates


def gated_update(
    inputs: torch.Tensor,  # [batch, T, d], the feed-forward block's input u
    gates: torch.Tensor | None,  # [batch, T], None: no beacons (the block always runs, ungated)
    tau: float,
    feed_forward: Callable[[torch.Tensor], torch.Tensor],  # [..., d] -> [..., d]
) -> torch.Tensor:
    """g * FFN(u), [batch, T, d]. With tau > 0 the FFN really is skipped where g < tau: it runs only on the
    gathered (batch, position) slots whose gate reaches tau, and the others get a zero update."""
    if gates is None:
        return feed_forward(inputs)
    if tau > 0:
        # Flat [batch * T] slots, one index for the kept ones: one gather and one scatter per layer (index_select
        # and index_copy_ on views, no advanced-indexing copies), and no FFN call at all when no slot is kept.
        d = inputs.shape[-1]
        flat_gates = gates.reshape(-1)
        kept = (flat_gates >= tau).nonzero().squeeze(1)  # [K]
        if kept.numel() == 0:
            return inputs.new_zeros(inputs.shape)
        computed = flat_gates.index_select(0, kept).unsqueeze(-1) * feed_forward(
            inputs.reshape(-1, d).index_select(0, kept)
        )
        update = inputs.new_zeros(inputs.shape, dtype=computed.dtype)  # autocast may run the FFN in lower precision
        update.view(-1, d).index_copy_(0, kept, computed)
        return update
    return gates.unsqueeze(-1) * feed_forward(inputs)


class MarkerBeaconBlock(nn.Module):
    """The tensors a layer gains for thought markers (router_norm, router, marker_proj) and activation beacons
    (beacon, gate), and the computations on them. A subclass calls `add_marker_router` and `add_beacon` in its
    __init__ (where in its module order is its choice: the order fixes the state-dict order and the draws of a
    seeded initialisation); the config needs hidden_size, layer_norm_eps, num_thought_markers,
    marker_temperature and use_beacons."""

    def add_marker_router(self, config) -> None:
        d = config.hidden_size
        self.temperature = config.marker_temperature
        if config.num_thought_markers > 0:
            self.router_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
            self.router = nn.Linear(d, config.num_thought_markers)  # R_l
            self.marker_proj = nn.Linear(d, d, bias=False)  # W_m,l, zero at init so markers start as a no-op

    def add_beacon(self, config) -> None:
        if config.use_beacons:
            self.beacon = nn.Parameter(torch.zeros(config.hidden_size))  # b_l
            self.gate = nn.Linear(2 * config.hidden_size, 1)  # W_a,l

    @torch.no_grad()
    def init_markers_and_beacons(
        self, beacon_init_bias: float, zero_gate_weight: bool, initializer_range: float = 0.02
    ) -> None:
        """Marker projection at zero (markers start as a no-op), gate bias at beacon_init_bias, beacon at zero; with
        `zero_gate_weight` the gate weight is zero (every gate starts at sigmoid(beacon_init_bias)) and the beacon
        N(0, initializer_range) instead: with both at zero neither has a gradient (b_l's is W_a's beacon half times
        the error, and that half's is b_l), and the retrofit's b_l never left zero."""
        if hasattr(self, "marker_proj"):
            init.zeros_(self.marker_proj.weight)
        if hasattr(self, "gate"):
            if zero_gate_weight:
                init.zeros_(self.gate.weight)
                init.normal_(self.beacon, mean=0.0, std=initializer_range)
            else:
                init.zeros_(self.beacon)
            init.constant_(self.gate.bias, beacon_init_bias)

    def route_markers(
        self,
        x: torch.Tensor,  # [batch, T, d], the layer's input
        markers: torch.Tensor | None,  # [K, d], the shared bank M; None: the model has no markers
        forces: Sequence[MarkerForce],  # those aimed at this layer
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """t = x + W_m (p @ M), the routing p [batch, T, K] (after forces) and the contribution ||W_m m|| / ||x||
        [batch, T]; x, None, None without markers."""
        if markers is None:
            return x, None, None
        routing = (self.router(self.router_norm(x)) / self.temperature).softmax(dim=-1)  # [batch, T, K]
        for force in forces:
            one_hot = F.one_hot(torch.tensor(force.marker, device=x.device), routing.shape[-1]).to(routing.dtype)
            routing = routing.clone()
            routing[:, position_index(force.positions)] = one_hot
        marker_update = self.marker_proj(routing @ markers)  # W_m,l m[l,i]
        return x + marker_update, routing, norm_ratio(marker_update, x)

    def gates(self, features: torch.Tensor, pins: Sequence[GatePin]) -> torch.Tensor | None:
        """g = sigmoid(W_a [u ; b]) [batch, T] on the FFN input u [batch, T, d], after pins; None without
        beacons."""
        if not hasattr(self, "gate"):
            return None
        beacon = self.beacon.expand(*features.shape[:-1], -1)
        gates = torch.sigmoid(self.gate(torch.cat([features, beacon], dim=-1))).squeeze(-1)  # [batch, T]
        return pin_gates(gates, pins)
