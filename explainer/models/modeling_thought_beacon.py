"""The ThoughtBeacon transformer: a pre-LayerNorm encoder classifier with thought markers and activation beacons.

Definitions (docs/architecture.md), for layer l, position i, residual stream x:

Thought markers (one shared bank M of K marker vectors):
    p[l,i] = softmax(R_l(LN(x_i)) / temperature)       routing over the K markers
    m[l,i] = p[l,i] @ M
    t_i    = x_i + W_m,l m[l,i]                         W_m,l starts at zero
Attention runs on t:  h = t + Attn(LN(t)).

Activation beacons (one learned beacon vector b_l per layer):
    g[l,i] = sigmoid(W_a,l [LN(h_i) ; b_l])
    x_i    = h_i + g[l,i] * MLP(LN(h_i))
Positions with g < tau skip the MLP: only kept positions are gathered, run and scattered back.

The marker and beacon blocks are shared with the retrofit (marker_beacon_blocks.py).
`num_thought_markers=0` and `use_beacons=False` give the baseline twin (a plain pre-LN encoder).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init

from explainer.models.configuration_thought_beacon import ThoughtBeaconConfig
from explainer.models.marker_beacon_blocks import (
    GatePin,
    MarkerBeaconBlock,
    MarkerForce,
    ThoughtBeaconOutput,
    at_layer,
    check_layers,
    gated_update,
    norm_ratio,
)


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


class ThoughtBeaconLayer(MarkerBeaconBlock):
    def __init__(self, config: ThoughtBeaconConfig):
        super().__init__()
        d, eps = config.hidden_size, config.layer_norm_eps
        self.add_marker_router(config)  # router_norm, router (R_l), marker_proj (W_m,l)
        self.attn_norm = nn.LayerNorm(d, eps=eps)
        self.attn = SelfAttention(config)
        self.mlp_norm = nn.LayerNorm(d, eps=eps)
        ff = config.intermediate_size
        self.mlp = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Linear(ff, d))
        self.add_beacon(config)  # beacon (b_l), gate (W_a,l)
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
        x, routing, contribution = self.route_markers(x, markers, forces)  # t = x + W_m,l m[l,i]
        attn_out, probs = self.attn(self.attn_norm(x), mask_bias)
        h = x + self.dropout(attn_out)

        normed = self.mlp_norm(h)
        gates = self.gates(normed, pins)
        update = gated_update(normed, gates, tau, self.mlp)
        return {
            "x": h + self.dropout(update),
            "attention": probs,
            "routing": routing,
            "gates": gates,
            "contribution": contribution,
            "mlp_ratio": norm_ratio(update, h),
        }


class ThoughtBeaconPreTrainedModel(PreTrainedModel):
    config_class = ThoughtBeaconConfig
    config: ThoughtBeaconConfig
    base_model_prefix = "thought_beacon"
    main_input_name = "input_ids"

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, ThoughtBeaconLayer):
            module.init_markers_and_beacons(self.config.beacon_init_bias, zero_gate_weight=False)
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
        check_layers(forced_markers, pinned_gates, len(self.layers))

        hidden, per_layer = [x], []
        for index, layer in enumerate(self.layers):
            step = layer(
                x,
                mask_bias,
                self.markers,
                at_layer(forced_markers, index),
                at_layer(pinned_gates, index),
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
