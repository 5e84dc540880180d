"""The ThoughtBeacon transformer: a pre-LayerNorm encoder classifier with thought markers and activation beacons.

Definitions (DESIGN.md section 4), for layer l, position i, residual stream x:

Thought markers (one shared bank M of K marker vectors):
    p[l,i] = softmax(R_l(LN(x_i)) / temperature)       routing over the K markers
    m[l,i] = p[l,i] @ M
    t_i    = x_i + W_m,l m[l,i]                         W_m,l starts at zero
Attention runs on t:  h = t + Attn(LN(t)).

Activation beacons (one learned beacon vector b_l per layer):
    g[l,i] = sigmoid(W_a,l [LN(h_i) ; b_l])
    x_i    = h_i + g[l,i] * MLP(LN(h_i))
Positions with g < tau skip the MLP: only kept positions are gathered, run and scattered back.

`num_thought_markers=0` and `use_beacons=False` give the baseline twin (a plain pre-LN encoder).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
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


class ThoughtBeaconConfig(PretrainedConfig):
    model_type = "thought_beacon"

    def __init__(
        self,
        vocab_size: int = 8000,
        hidden_size: int = 256,
        num_hidden_layers: int = 4,
        num_attention_heads: int = 4,
        intermediate_size: int = 1024,
        max_position_embeddings: int = 512,
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.1,
        layer_norm_eps: float = 1e-5,
        initializer_range: float = 0.02,
        num_thought_markers: int = 16,
        marker_temperature: float = 1.0,
        use_beacons: bool = True,
        beacon_threshold: float = 0.0,
        beacon_init_bias: float = 2.0,
        pad_token_id: int = 0,
        **kwargs,
    ):
        super().__init__(pad_token_id=pad_token_id, **kwargs)
        if hidden_size % num_attention_heads:
            raise ValueError(f"hidden_size {hidden_size} is not a multiple of {num_attention_heads} attention heads")
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.max_position_embeddings = max_position_embeddings
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        self.num_thought_markers = num_thought_markers
        self.marker_temperature = marker_temperature
        self.use_beacons = use_beacons
        self.beacon_threshold = beacon_threshold  # tau used when forward() is not given one
        self.beacon_init_bias = beacon_init_bias  # gates start open: sigmoid(2) ~ 0.88


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


def _norm_ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    return numerator.norm(dim=-1) / denominator.norm(dim=-1).clamp_min(1e-12)


class SelfAttention(nn.Module):
    def __init__(self, config: ThoughtBeaconConfig):
        super().__init__()
        self.heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.out = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, length, _ = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + mask_bias  # [batch, heads, T, T]
        probs = scores.softmax(dim=-1)
        context = (self.dropout(probs) @ v).transpose(1, 2).reshape(batch, length, -1)
        return self.out(context), probs


class ThoughtBeaconLayer(nn.Module):
    def __init__(self, config: ThoughtBeaconConfig):
        super().__init__()
        d, eps = config.hidden_size, config.layer_norm_eps
        self.temperature = config.marker_temperature
        if config.num_thought_markers > 0:
            self.router_norm = nn.LayerNorm(d, eps=eps)
            self.router = nn.Linear(d, config.num_thought_markers)  # R_l
            self.marker_proj = nn.Linear(d, d, bias=False)  # W_m,l, zero at init so markers start as a no-op
        self.attn_norm = nn.LayerNorm(d, eps=eps)
        self.attn = SelfAttention(config)
        self.mlp_norm = nn.LayerNorm(d, eps=eps)
        ff = config.intermediate_size
        self.mlp = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Linear(ff, d))
        if config.use_beacons:
            self.beacon = nn.Parameter(torch.zeros(d))  # b_l
            self.gate = nn.Linear(2 * d, 1)  # W_a,l
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self,
        x: torch.Tensor,  # [batch, T, d]
        mask_bias: torch.Tensor,  # [batch, 1, 1, T], 0 or -inf-like
        markers: torch.Tensor | None,  # [K, d], the shared bank M
        forces: Sequence[MarkerForce],
        pins: Sequence[GatePin],
        tau: float,
    ) -> dict[str, torch.Tensor | None]:
        routing = contribution = None
        if markers is not None:
            routing = (self.router(self.router_norm(x)) / self.temperature).softmax(dim=-1)  # [batch, T, K]
            for force in forces:
                one_hot = F.one_hot(torch.tensor(force.marker, device=x.device), routing.shape[-1]).to(routing.dtype)
                routing = routing.clone()
                routing[:, _positions(force.positions)] = one_hot
            marker_update = self.marker_proj(routing @ markers)  # W_m,l m[l,i]
            contribution = _norm_ratio(marker_update, x)
            x = x + marker_update
        attn_out, probs = self.attn(self.attn_norm(x), mask_bias)
        h = x + self.dropout(attn_out)

        normed = self.mlp_norm(h)
        gates = None
        if hasattr(self, "gate"):
            beacon = self.beacon.expand(*normed.shape[:-1], -1)
            gates = torch.sigmoid(self.gate(torch.cat([normed, beacon], dim=-1))).squeeze(-1)  # [batch, T]
            for pin in pins:
                gates = gates.clone()
                gates[:, _positions(pin.positions)] = pin.value
        if gates is None:
            update = self.mlp(normed)
        elif tau > 0:
            # Really skip: run the MLP only on the (batch, position) slots whose gate reaches tau.
            kept = (gates >= tau).nonzero(as_tuple=True)
            computed = gates[kept].unsqueeze(-1) * self.mlp(normed[kept])
            update = h.new_zeros(h.shape, dtype=computed.dtype)  # autocast may run the MLP in lower precision
            update[kept] = computed
        else:
            update = gates.unsqueeze(-1) * self.mlp(normed)
        return {
            "x": h + self.dropout(update),
            "attention": probs,
            "routing": routing,
            "gates": gates,
            "contribution": contribution,
            "mlp_ratio": _norm_ratio(update, h),
        }


def _positions(positions: Sequence[int] | None) -> slice | list[int]:
    return slice(None) if positions is None else list(positions)


class ThoughtBeaconPreTrainedModel(PreTrainedModel):
    config_class = ThoughtBeaconConfig
    config: ThoughtBeaconConfig
    base_model_prefix = "thought_beacon"
    main_input_name = "input_ids"

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, ThoughtBeaconLayer):
            if hasattr(module, "marker_proj"):
                init.zeros_(module.marker_proj.weight)
            if hasattr(module, "gate"):
                init.zeros_(module.beacon)
                init.constant_(module.gate.bias, self.config.beacon_init_bias)
        elif isinstance(module, ThoughtBeaconForSequenceClassification) and module.markers is not None:
            # Same scale as the token embeddings: larger markers swamp the residual stream once W_m moves
            # off zero, and training stalls at chance (measured: loss 0.69 at std 1.0).
            init.normal_(module.markers, mean=0.0, std=self.config.initializer_range)


class ThoughtBeaconForSequenceClassification(ThoughtBeaconPreTrainedModel):
    def __init__(self, config: ThoughtBeaconConfig):
        super().__init__(config)
        d = config.hidden_size
        self.token_embeddings = nn.Embedding(config.vocab_size, d, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, d)
        self.embedding_dropout = nn.Dropout(config.hidden_dropout_prob)
        k = config.num_thought_markers
        self.markers = nn.Parameter(torch.zeros(k, d)) if k > 0 else None  # M, [K, d]
        self.layers = nn.ModuleList(ThoughtBeaconLayer(config) for _ in range(config.num_hidden_layers))
        self.final_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.pooler = nn.Linear(d, d)
        self.classifier = nn.Linear(d, config.num_labels)
        self.classifier_dropout = nn.Dropout(config.hidden_dropout_prob)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.token_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.token_embeddings = value

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token + position embeddings, [batch, T] -> [batch, T, d]. Exposed for attribution on embeddings."""
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        return self.token_embeddings(input_ids) + self.position_embeddings(positions)

    def classify(self, residual: torch.Tensor) -> torch.Tensor:
        """Classifier head on the [CLS] slot of any layer's residual stream: [..., T, d] -> [..., labels].
        Used for the output itself and for the logit lens."""
        pooled = torch.tanh(self.pooler(self.final_norm(residual[..., 0, :])))
        return self.classifier(self.classifier_dropout(pooled))

    def forward(
        self,
        input_ids: torch.Tensor | None = None,  # [batch, T]
        attention_mask: torch.Tensor | None = None,  # [batch, T], 1 = token, 0 = padding
        labels: torch.Tensor | None = None,  # [batch]
        inputs_embeds: torch.Tensor | None = None,  # [batch, T, d], replaces token embeddings (attribution)
        token_type_ids: torch.Tensor | None = None,  # accepted for tokenizer compatibility, unused
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        beacon_threshold: float | None = None,
        forced_markers: Sequence[MarkerForce] = (),
        pinned_gates: Sequence[GatePin] = (),
        **kwargs,
    ) -> ThoughtBeaconOutput:
        if inputs_embeds is None:
            x = self.embed(input_ids)
        else:
            positions = torch.arange(inputs_embeds.shape[1], device=inputs_embeds.device)
            x = inputs_embeds + self.position_embeddings(positions)
        x = self.embedding_dropout(x)
        if attention_mask is None:
            attention_mask = torch.ones(x.shape[:2], dtype=torch.long, device=x.device)
        mask_bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        tau = self.config.beacon_threshold if beacon_threshold is None else beacon_threshold
        for item in list(forced_markers) + list(pinned_gates):
            if not 0 <= item.layer < len(self.layers):
                raise ValueError(f"layer {item.layer} is out of range: the model has {len(self.layers)} layers")

        hidden, per_layer = [x], []
        for index, layer in enumerate(self.layers):
            step = layer(
                x,
                mask_bias,
                self.markers,
                [f for f in forced_markers if f.layer == index],
                [p for p in pinned_gates if p.layer == index],
                tau,
            )
            x = step["x"]
            hidden.append(x)
            per_layer.append(step)

        logits = self.classify(x)
        loss = F.cross_entropy(logits, labels) if labels is not None else None

        def collect(key: str) -> tuple[torch.Tensor, ...] | None:
            values = [step[key] for step in per_layer]
            return None if values[0] is None else tuple(values)

        return ThoughtBeaconOutput(
            loss=loss,
            logits=logits,
            hidden_states=tuple(hidden) if output_hidden_states else None,
            attentions=collect("attention") if output_attentions else None,
            thought_markers=collect("routing"),
            beacon_gates=collect("gates"),
            marker_contributions=collect("contribution"),
            mlp_update_ratios=collect("mlp_ratio"),
        )
