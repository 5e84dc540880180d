"""Thought markers and activation beacons retrofitted onto a pretrained BERT-family encoder (BERT, MiniLM).

The definitions are those of docs/architecture.md (the blocks are marker_beacon_blocks.py's), adapted to BERT's
post-LayerNorm layer, which computes
    h = LN_1(x + Attn(x))            (BertAttention: self-attention, output projection, LayerNorm)
    y = LN_2(h + FFN(h))             (BertIntermediate + BertOutput: the feed-forward block, LayerNorm)
For layer l and position i the retrofit computes:

Thought markers, at each layer's input x (the shared bank M holds K marker vectors):
    p[l,i] = softmax(R_l(LN(x_i)) / temperature)
    t_i    = x_i + W_m,l (p[l,i] @ M)                 W_m,l starts at zero
    h      = LN_1(t + Attn(t))                        attention (and its residual) run on t, as in the ThoughtBeacon

Activation beacons, gating each layer's feed-forward block:
    g[l,i] = sigmoid(W_a,l [h_i ; b_l])
    y_i    = LN_2(h_i + g[l,i] * FFN(h_i))
In a post-LN layer the FFN input h is already the output of a LayerNorm (LN_1), so h itself plays the role of
the ThoughtBeacon's LN(h) in the gate and the FFN: no second normalisation is inserted, which keeps the pretrained
computation intact. Skipping at tau: slots with g < tau do not run the FFN (only kept positions are gathered,
run and scattered back) and get y_i = LN_2(h_i); LN_2 is kept because the next layer was trained on
normalised inputs, and it costs O(d) against the FFN's O(d * d_ff).

Exactly open until trained. A sigmoid gate is never exactly 1, and a saturated one (sigmoid(z) rounds to 1.0
in float32 for z > ~17) has zero gradient and could never train. So the gates are honest about both: the
config flag `beacons_engaged` is False on a freshly retrofitted model, and then the applied (and reported)
gate is exactly 1 everywhere, which with W_m,l = 0 makes the model compute bit for bit what the pretrained
one does. Fine-tuning engages the beacons before its first step: from then on g is the sigmoid above, starting
at sigmoid(beacon_init_bias) (0.95) with zero W_a, so training starts from a 5% damped FFN and learns from there.
Pinned gates (GatePin) override the applied gate in either state.

Only the trained tensors are saved (adapter_io.py); building a retrofit on a verified base and loading an adapter
checkpoint onto it is explainer.loading.retrofit's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertModel, PreTrainedModel

from explainer.models.adapter_io import write_adapter
from explainer.models.configuration_retrofit import ThoughtBeaconBertConfig
from explainer.models.marker_beacon_blocks import (
    GatePin,
    MarkerBeaconBlock,
    MarkerForce,
    ThoughtBeaconOutput,
    at_layer,
    check_layers,
    gated_update,
    norm_ratio,
    pin_gates,
)


class RetrofitLayer(MarkerBeaconBlock):
    """The tensors one BERT layer gains: router, marker projection, beacon and gate."""

    def __init__(self, config: ThoughtBeaconBertConfig):
        super().__init__()
        self.add_marker_router(config)  # router_norm, router (R_l), marker_proj (W_m,l)
        self.add_beacon(config)  # beacon (b_l), gate (W_a,l)

    def applied_gates(self, h: torch.Tensor, pins: Sequence[GatePin], engaged: bool) -> torch.Tensor:
        """The gates applied to the FFN, [batch, T]: the sigmoid gates once the beacons are engaged, exactly 1
        before; pins apply in either state."""
        if engaged:
            return self.gates(h, pins)
        return pin_gates(h.new_ones(h.shape[:-1]), pins)


class ThoughtBeaconBertPreTrainedModel(PreTrainedModel):
    config_class = ThoughtBeaconBertConfig
    config: ThoughtBeaconBertConfig
    base_model_prefix = "bert"
    main_input_name = "input_ids"
    _supports_sdpa = False  # attention weights are the point: eager only

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, RetrofitLayer):
            module.init_markers_and_beacons(self.config.beacon_init_bias, zero_gate_weight=True,
                                            initializer_range=self.config.initializer_range)
        elif isinstance(module, ThoughtBeaconBertForSequenceClassification) and module.markers is not None:
            module.markers.normal_(0.0, self.config.initializer_range)


class ThoughtBeaconBertForSequenceClassification(ThoughtBeaconBertPreTrainedModel):
    def __init__(self, config: ThoughtBeaconBertConfig):
        config._attn_implementation = "eager"
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=True)
        self.dropout = nn.Dropout(config.classifier_dropout or config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        k = config.num_thought_markers
        self.markers = nn.Parameter(torch.zeros(k, config.hidden_size)) if k > 0 else None  # M, [K, d]
        self.retrofit = nn.ModuleList(RetrofitLayer(config) for _ in range(config.num_hidden_layers))
        self.lora_state: dict[str, torch.Tensor] = {}  # LoRA tensors merged at load, kept to save again
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.bert.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.bert.embeddings.word_embeddings = value

    def classify(self, hidden: torch.Tensor) -> torch.Tensor:
        """Pooler + classifier on the [CLS] slot of any layer's output: [..., T, d] -> [..., labels]."""
        return self.classifier(self.dropout(self.bert.pooler.activation(self.bert.pooler.dense(hidden[..., 0, :]))))

    @staticmethod
    def _feed_forward(layer: nn.Module):
        """BERT layer `layer`'s FFN without its residual and LayerNorm: h -> dropout(W_2 GELU(W_1 h))."""
        return lambda h: layer.output.dropout(layer.output.dense(layer.intermediate(h)))

    def forward(
        self,
        input_ids: torch.Tensor | None = None,  # [batch, T]
        attention_mask: torch.Tensor | None = None,  # [batch, T], 1 = token, 0 = padding
        token_type_ids: torch.Tensor | None = None,  # [batch, T]
        position_ids: torch.Tensor | None = None,  # [batch, T]
        inputs_embeds: torch.Tensor | None = None,  # [batch, T, d], replaces word embeddings (attribution)
        labels: torch.Tensor | None = None,  # [batch]
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        beacon_threshold: float | None = None,
        forced_markers: Sequence[MarkerForce] = (),
        pinned_gates: Sequence[GatePin] = (),
        **kwargs,
    ) -> ThoughtBeaconOutput:
        config, bert = self.config, self.bert
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Give exactly one of input_ids or inputs_embeds")
        x = bert.embeddings(
            input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids, inputs_embeds=inputs_embeds
        )  # [batch, T, d]
        if attention_mask is None:
            attention_mask = torch.ones(x.shape[:2], dtype=torch.long, device=x.device)
        mask, _ = bert._create_attention_masks(
            attention_mask=attention_mask,
            encoder_attention_mask=None,
            embedding_output=x,
            encoder_hidden_states=None,
            past_key_values=None,
        )
        tau = config.beacon_threshold if beacon_threshold is None else beacon_threshold
        layers = bert.encoder.layer
        check_layers(forced_markers, pinned_gates, len(layers))

        hidden, attentions, routings, gates_all, contributions, ratios = [x], [], [], [], [], []
        for index, (layer, extra) in enumerate(zip(layers, self.retrofit)):
            x, routing, contribution = extra.route_markers(x, self.markers, at_layer(forced_markers, index))
            h, probs = layer.attention(x, mask)  # h = LN_1(t + Attn(t)); probs [b, heads, T, T]

            gates = None
            if config.use_beacons:
                gates = extra.applied_gates(h, at_layer(pinned_gates, index), config.beacons_engaged)
            update = gated_update(h, gates, tau, self._feed_forward(layer))
            x = layer.output.LayerNorm(update + h)  # same operand order as BertOutput: bit-exact
            hidden.append(x)
            attentions.append(probs)
            routings.append(routing)
            gates_all.append(gates)
            contributions.append(contribution)
            ratios.append(norm_ratio(update, h))

        logits = self.classify(x)
        loss = F.cross_entropy(logits, labels) if labels is not None else None

        def collect(values: list) -> tuple[torch.Tensor, ...] | None:
            return None if values[0] is None else tuple(values)

        return ThoughtBeaconOutput(
            loss=loss,
            logits=logits,
            hidden_states=tuple(hidden) if output_hidden_states else None,
            attentions=tuple(attentions) if output_attentions else None,
            thought_markers=collect(routings),
            beacon_gates=collect(gates_all),
            marker_contributions=collect(contributions),
            mlp_update_ratios=tuple(ratios),
        )

    def save_pretrained(self, save_directory, **kwargs) -> None:  # type: ignore[override]
        """Write config.json and adapter.safetensors (the trained tensors only; the base is referenced)."""
        out = Path(save_directory)
        out.mkdir(parents=True, exist_ok=True)
        self.config.architectures = [type(self).__name__]
        self.config.save_pretrained(out)
        write_adapter(self, out)
