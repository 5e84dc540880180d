"""Thought markers and activation beacons retrofitted onto a pretrained BERT-family encoder (BERT, MiniLM).

The definitions are DESIGN.md section 4's, adapted to BERT's post-LayerNorm layer, which computes
    h = LN_1(x + Attn(x))            (BertAttention: self-attention, output projection, LayerNorm)
    y = LN_2(h + FFN(h))             (BertIntermediate + BertOutput: the feed-forward block, LayerNorm)
For layer l and position i the retrofit computes:

Thought markers, at each layer's input x (the shared bank M holds K marker vectors):
    p[l,i] = softmax(R_l(LN(x_i)) / temperature)
    t_i    = x_i + W_m,l (p[l,i] @ M)                 W_m,l starts at zero
    h      = LN_1(t + Attn(t))                        attention (and its residual) run on t, as in section 4

Activation beacons, gating each layer's feed-forward block:
    g[l,i] = sigmoid(W_a,l [h_i ; b_l])
    y_i    = LN_2(h_i + g[l,i] * FFN(h_i))
In a post-LN layer the FFN input h is already the output of a LayerNorm (LN_1), so h itself plays the role of
section 4's LN(h) in the gate and the FFN: no second normalisation is inserted, which keeps the pretrained
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

What is trained: LoRA adapters (Hugging Face peft) on the attention and FFN projections, the pooler, the
classifier and every retrofit tensor; the base encoder stays frozen. `save_pretrained` writes only those
tensors (adapter.safetensors) plus the config, which names the base and the SHA-256 of its weights;
`load_retrofit` resolves and verifies the base (explainer.backbone), loads it, merges the LoRA deltas into
its projections and loads the rest.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn
from transformers import BertConfig, BertModel, PreTrainedModel

from explainer.loading import backbone
from explainer.models.modeling_thought_beacon import GatePin, MarkerForce, ThoughtBeaconOutput, _norm_ratio, _positions

ADAPTER_FILE = "adapter.safetensors"
BASE_PREFIXES = ("bert.embeddings.", "bert.encoder.")  # frozen base tensors, never saved with the adapter
LORA_TARGETS = r".*\.(attention\.self\.(query|key|value)|attention\.output\.dense|intermediate\.dense|output\.dense)"


class ThoughtBeaconBertConfig(BertConfig):
    model_type = "thought_beacon_bert"

    def __init__(
        self,
        num_thought_markers: int = 16,
        marker_temperature: float = 1.0,
        use_beacons: bool = True,
        beacon_threshold: float = 0.0,
        beacon_init_bias: float = 3.0,
        beacons_engaged: bool = False,
        base_model: str | None = None,
        base_sha256: str | None = None,
        lora_rank: int = 0,
        lora_alpha: float = 16.0,
        **kwargs,
    ):
        kwargs.pop("model_type", None)
        super().__init__(**kwargs)
        self.num_thought_markers = num_thought_markers
        self.marker_temperature = marker_temperature
        self.use_beacons = use_beacons
        self.beacon_threshold = beacon_threshold  # tau used when forward() is not given one
        self.beacon_init_bias = beacon_init_bias  # engaged gates start at sigmoid(3) ~ 0.95
        self.beacons_engaged = beacons_engaged  # False: applied gates are exactly 1 (see module docstring)
        self.base_model = base_model  # hub id or folder of the pretrained encoder
        self.base_sha256 = base_sha256  # SHA-256 of its model.safetensors
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha


class RetrofitLayer(nn.Module):
    """The tensors one BERT layer gains: router, marker projection, beacon and gate."""

    def __init__(self, config: ThoughtBeaconBertConfig):
        super().__init__()
        d = config.hidden_size
        if config.num_thought_markers > 0:
            self.router_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
            self.router = nn.Linear(d, config.num_thought_markers)  # R_l
            self.marker_proj = nn.Linear(d, d, bias=False)  # W_m,l
        if config.use_beacons:
            self.beacon = nn.Parameter(torch.zeros(d))  # b_l
            self.gate = nn.Linear(2 * d, 1)  # W_a,l


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
            if hasattr(module, "marker_proj"):
                module.marker_proj.weight.zero_()
            if hasattr(module, "gate"):
                module.beacon.zero_()
                module.gate.weight.zero_()
                module.gate.bias.fill_(self.config.beacon_init_bias)
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

    def _feed_forward(self, layer: nn.Module, h: torch.Tensor) -> torch.Tensor:
        return layer.output.dropout(layer.output.dense(layer.intermediate(h)))

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
        for item in list(forced_markers) + list(pinned_gates):
            if not 0 <= item.layer < len(layers):
                raise ValueError(f"layer {item.layer} is out of range: the model has {len(layers)} layers")

        hidden, attentions, routings, gates_all, contributions, ratios = [x], [], [], [], [], []
        for index, (layer, extra) in enumerate(zip(layers, self.retrofit)):
            routing = contribution = None
            if self.markers is not None:
                routing = (extra.router(extra.router_norm(x)) / config.marker_temperature).softmax(-1)  # [b, T, K]
                for force in (f for f in forced_markers if f.layer == index):
                    one_hot = F.one_hot(torch.tensor(force.marker, device=x.device), routing.shape[-1])
                    routing = routing.clone()
                    routing[:, _positions(force.positions)] = one_hot.to(routing.dtype)
                marker_update = extra.marker_proj(routing @ self.markers)  # W_m,l m[l,i], [b, T, d]
                contribution = _norm_ratio(marker_update, x)
                x = x + marker_update
            h, probs = layer.attention(x, mask)  # h = LN_1(t + Attn(t)); probs [b, heads, T, T]

            gates = None
            if config.use_beacons:
                if config.beacons_engaged:
                    beacon = extra.beacon.expand(*h.shape[:-1], -1)
                    gates = torch.sigmoid(extra.gate(torch.cat([h, beacon], dim=-1))).squeeze(-1)  # [b, T]
                else:
                    gates = h.new_ones(h.shape[:-1])
                for pin in (p for p in pinned_gates if p.layer == index):
                    gates = gates.clone()
                    gates[:, _positions(pin.positions)] = pin.value
            if gates is None:
                update = self._feed_forward(layer, h)
            elif tau > 0:
                kept = (gates >= tau).nonzero(as_tuple=True)  # really skip: the FFN runs on kept slots only
                computed = gates[kept].unsqueeze(-1) * self._feed_forward(layer, h[kept])
                update = h.new_zeros(h.shape, dtype=computed.dtype)
                update[kept] = computed
            else:
                update = gates.unsqueeze(-1) * self._feed_forward(layer, h)
            x = layer.output.LayerNorm(update + h)  # same operand order as BertOutput: bit-exact
            hidden.append(x)
            attentions.append(probs)
            routings.append(routing)
            gates_all.append(gates)
            contributions.append(contribution)
            ratios.append(_norm_ratio(update, h))

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

    # ---- adapter checkpoint ----

    def adapter_state(self) -> dict[str, torch.Tensor]:
        """Every tensor not in the frozen base: LoRA pairs, pooler, classifier, markers, routers, gates."""
        state: dict[str, torch.Tensor] = {}
        live_lora = False
        for name, module in self.named_modules():
            if hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {}):
                live_lora = True
                state[f"{name}.lora_A"] = module.lora_A["default"].weight.detach()
                state[f"{name}.lora_B"] = module.lora_B["default"].weight.detach()
        if not live_lora:
            state.update(self.lora_state)
        for key, value in self.state_dict().items():
            if key.startswith(BASE_PREFIXES) or ".lora_" in key or ".base_layer." in key:
                continue
            state[key] = value.detach()
        return {k: v.contiguous().cpu() for k, v in state.items()}

    def save_pretrained(self, save_directory, **kwargs) -> None:  # type: ignore[override]
        """Write config.json and adapter.safetensors (the trained tensors only; the base is referenced)."""
        out = Path(save_directory)
        out.mkdir(parents=True, exist_ok=True)
        self.config.architectures = [type(self).__name__]
        self.config.save_pretrained(out)
        save_file(self.adapter_state(), str(out / ADAPTER_FILE), metadata={"format": "pt"})


def lora_scaling(config: ThoughtBeaconBertConfig) -> float:
    return config.lora_alpha / config.lora_rank if config.lora_rank else 0.0


def _load_base_weights(model: ThoughtBeaconBertForSequenceClassification, weights: Path) -> None:
    """Copy the base encoder (and a classifier head, when the base has one) into `model`; every encoder tensor
    must be present."""
    targets = model.state_dict()
    loaded: dict[str, torch.Tensor] = {}
    with safe_open(str(weights), framework="pt") as handle:
        for key in handle.keys():
            name = key if key.startswith(("bert.", "classifier.")) else f"bert.{key}"
            if name in targets:
                loaded[name] = handle.get_tensor(key)
    needed = [k for k in targets if k.startswith(BASE_PREFIXES) and ".lora_" not in k]
    missing = [k for k in needed if k not in loaded]
    if missing:
        raise backbone.BackboneError(
            f"{weights} is not a BERT encoder matching this model: missing {', '.join(missing[:4])}"
        )
    model.load_state_dict(loaded, strict=False)


def retrofit(
    base: str | Path,
    *,
    num_thought_markers: int = 16,
    use_beacons: bool = True,
    marker_temperature: float = 1.0,
    base_sha256: str | None = None,
    label_names: Sequence[str] = ("negative", "positive"),
    lora_rank: int = 0,
    lora_alpha: float = 16.0,
) -> ThoughtBeaconBertForSequenceClassification:
    """A retrofitted model on the verified base, before training: it computes exactly what the base computes
    (marker projections zero, beacons not engaged). A classifier head in the base is kept; otherwise it is new."""
    folder = backbone.resolve(base, base_sha256)
    base_config = BertConfig.from_pretrained(folder).to_dict()
    for key in ("architectures", "model_type", "transformers_version", "_name_or_path", "id2label", "label2id"):
        base_config.pop(key, None)
    config = ThoughtBeaconBertConfig(
        **base_config,
        num_thought_markers=num_thought_markers,
        marker_temperature=marker_temperature,
        use_beacons=use_beacons,
        base_model=str(base),
        base_sha256=backbone.sha256_of(folder / backbone.WEIGHTS),
        lora_rank=lora_rank,
        lora_alpha=lora_alpha,
        id2label=dict(enumerate(label_names)),
        label2id={name: i for i, name in enumerate(label_names)},
    )
    model = ThoughtBeaconBertForSequenceClassification(config)
    _load_base_weights(model, folder / backbone.WEIGHTS)
    return model.eval()


def add_lora(model: ThoughtBeaconBertForSequenceClassification, rank: int, alpha: float, dropout: float = 0.05):
    """Inject LoRA adapters (peft) into the attention and FFN projections and freeze the base encoder.
    Returns the trainable parameters: LoRA, pooler, classifier and the retrofit tensors."""
    from peft import LoraConfig, inject_adapter_in_model

    model.config.lora_rank, model.config.lora_alpha = rank, alpha
    if rank > 0:
        lora = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=LORA_TARGETS)
        inject_adapter_in_model(lora, model)
    trainable = []
    for name, parameter in model.named_parameters():
        parameter.requires_grad = ".lora_" in name or not name.startswith(BASE_PREFIXES)
        if parameter.requires_grad:
            trainable.append(parameter)
    return trainable


def load_retrofit(folder: str | Path) -> ThoughtBeaconBertForSequenceClassification:
    """Load an adapter checkpoint: resolve and verify its base, load it, merge LoRA, load the trained tensors."""
    folder = Path(folder)
    config = ThoughtBeaconBertConfig.from_pretrained(folder)
    if not config.base_model or not config.base_sha256:
        raise backbone.BackboneError(f"{folder}/config.json does not name its base model and its SHA-256")
    base = backbone.resolve(config.base_model, config.base_sha256)
    model = ThoughtBeaconBertForSequenceClassification(config)
    _load_base_weights(model, base / backbone.WEIGHTS)
    adapter: dict[str, torch.Tensor] = {}
    with safe_open(str(folder / ADAPTER_FILE), framework="pt") as handle:
        for key in handle.keys():
            adapter[key] = handle.get_tensor(key)
    lora = {k: v for k, v in adapter.items() if k.endswith((".lora_A", ".lora_B"))}
    rest = {k: v for k, v in adapter.items() if k not in lora}
    expected = {k for k in model.state_dict() if not k.startswith(BASE_PREFIXES)}
    if missing := sorted(expected - rest.keys()):
        raise backbone.BackboneError(f"{folder / ADAPTER_FILE} is incomplete: missing {', '.join(missing[:4])}")
    if unexpected := sorted(rest.keys() - expected):
        raise backbone.BackboneError(f"{folder / ADAPTER_FILE} has unknown tensors: {', '.join(unexpected[:4])}")
    model.load_state_dict(rest, strict=False)
    scaling = lora_scaling(config)
    modules = dict(model.named_modules())
    with torch.no_grad():
        for key in (k for k in lora if k.endswith(".lora_A")):
            name = key[: -len(".lora_A")]
            if name not in modules or f"{name}.lora_B" not in lora:
                raise backbone.BackboneError(f"{folder / ADAPTER_FILE}: LoRA pair for unknown module {name}")
            modules[name].weight += scaling * (lora[f"{name}.lora_B"] @ lora[key])
    model.lora_state = lora
    return model.eval()


def describe(folder: str | Path) -> dict:
    """Base model and sizes recorded in an adapter checkpoint's config (for model cards)."""
    config = json.loads((Path(folder) / "config.json").read_text())
    return {"base_model": config.get("base_model"), "base_sha256": config.get("base_sha256")}
