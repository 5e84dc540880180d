"""One table of what the library needs to know about each model family, beyond its outputs.

Capture, the logit lens, attribution, the attribution graph and loading read these facts from here and nowhere
else. A family entry says where its transformer blocks live, and in each block the attention output projection
(whose input is the merged heads' context), the MLP (the module whose first input is the residual entering it,
and the module whose output is its update), the final norm and the classifier; which position the classifier
reads; and how many slots its position ids lose to an offset.

Hidden states follow each model's own `output_hidden_states` convention, so the lens differs per family:
post-LN families (BERT, RoBERTa, DistilBERT) emit normalised states the head reads directly; pre-LN families
(GPT-2, ours) need the final LayerNorm first, except GPT-2's last state, which already has it.

Adding a family = one `Family(...)` entry in FAMILIES (and a tiny config in tests/conftest.py, which the table's
test requires). A model type with no entry still traces (attention and hidden states); its logit lens, MLP ratio
and attribution graph stay empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

# (module whose first input is h, the residual entering the MLP; module whose output is the MLP's update)
MlpProbe = tuple[nn.Module, nn.Module]
# (model, hidden_states: layers+1 x [batch, T, d], input_ids [batch, T]) -> [layers+1, batch, labels]
LogitLens = Callable[[Any, tuple[torch.Tensor, ...], torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Family:
    """Where one family keeps its parts. Callables take the model (or one of its blocks) and return modules."""

    model_types: tuple[str, ...]  # config.model_type values this entry covers
    readout: Literal["first", "last"] = "first"  # the position the classifier reads: [CLS] / <s>, or the last token
    layers: Callable[[Any], list[nn.Module]] | None = None  # the transformer blocks, in order
    attention_output: Callable[[nn.Module], nn.Module] | None = None  # block -> attention output projection
    mlp: Callable[[nn.Module], MlpProbe] | None = None  # block -> (reads h, writes the update); None: no hooks needed
    final_norm: Callable[[Any], nn.Module] | None = None  # pre-LN families: the norm before the head
    classifier: Callable[[Any], nn.Module] | None = None  # the head's last linear layer
    logit_lens: LogitLens | None = None
    position_offset: Callable[[Any], int] = lambda config: 0  # position ids lost before the first token

    def blocks(self, model: Any) -> list[nn.Module]:
        if self.layers is None:
            raise KeyError(f"{self.model_types[0]} declares no layers")
        return list(self.layers(model))

    def attention_outputs(self, model: Any) -> list[nn.Module] | None:
        """The module whose input is each layer's merged attention context, in layer order (None: unknown)."""
        if self.attention_output is None or self.layers is None:
            return None
        return [self.attention_output(block) for block in self.blocks(model)]

    def mlp_probes(self, model: Any) -> list[MlpProbe]:
        """Where to hook to measure ||MLP update|| / ||h|| per layer ([] when the model reports it itself)."""
        if self.mlp is None or self.layers is None:
            return []
        return [self.mlp(block) for block in self.blocks(model)]

    def readout_position(self, length: int) -> int:
        return length - 1 if self.readout == "last" else 0


@dataclass(frozen=True)
class Sizes:
    layers: int
    heads: int
    hidden: int


def sizes(config: Any) -> Sizes:
    """Layers, heads and hidden size of any config (HF maps GPT-2's n_layer etc. onto these names); a config
    that names none of them is sized as BERT-base."""
    return Sizes(
        layers=int(getattr(config, "num_hidden_layers", None) or 12),
        heads=int(getattr(config, "num_attention_heads", None) or 12),
        hidden=int(getattr(config, "hidden_size", None) or 768),
    )


# ---- logit lenses: the classifier head read off every layer's hidden state ----


def _bert_lens(model, hidden_states, input_ids):
    return torch.stack([model.classifier(model.bert.pooler(h)) for h in hidden_states])


def _roberta_lens(model, hidden_states, input_ids):
    return torch.stack([model.classifier(h) for h in hidden_states])


def _distilbert_lens(model, hidden_states, input_ids):
    return torch.stack(
        [model.classifier(nn.functional.relu(model.pre_classifier(h[:, 0]))) for h in hidden_states]
    )


def _gpt2_lens(model, hidden_states, input_ids):
    # GPT-2 classifies from the rightmost token that is not pad_token_id (HF's own rule, so a text ending in a
    # literal pad/EOS token reads the same slot); its final hidden state already went through ln_f.
    positions = torch.arange(input_ids.shape[-1], device=input_ids.device)
    last = ((input_ids != model.config.pad_token_id).int() * positions).argmax(-1)  # [batch]
    rows = torch.arange(input_ids.shape[0], device=input_ids.device)
    lens = []
    for index, h in enumerate(hidden_states):
        normed = h if index == len(hidden_states) - 1 else model.transformer.ln_f(h)
        lens.append(model.score(normed[rows, last]))
    return torch.stack(lens)


def _thought_beacon_lens(model, hidden_states, input_ids):
    return torch.stack([model.classify(h) for h in hidden_states])


def _bert_mlp(block: nn.Module) -> MlpProbe:
    return block.intermediate, block.output.dense


def _roberta_offset(config: Any) -> int:
    # RoBERTa-style position ids start after the padding index, which costs padding_idx + 1 slots.
    return int(config.pad_token_id) + 1


FAMILIES: tuple[Family, ...] = (
    Family(
        model_types=("bert",),
        layers=lambda m: m.bert.encoder.layer,
        attention_output=lambda block: block.attention.output.dense,
        mlp=_bert_mlp,
        classifier=lambda m: m.classifier,
        logit_lens=_bert_lens,
    ),
    Family(
        model_types=("roberta", "xlm-roberta", "camembert"),
        layers=lambda m: m.roberta.encoder.layer,
        attention_output=lambda block: block.attention.output.dense,
        mlp=_bert_mlp,
        classifier=lambda m: m.classifier.out_proj,
        logit_lens=_roberta_lens,
        position_offset=_roberta_offset,
    ),
    Family(
        model_types=("distilbert",),
        layers=lambda m: m.distilbert.transformer.layer,
        attention_output=lambda block: block.attention.out_lin,
        mlp=lambda block: (block.ffn, block.ffn),
        classifier=lambda m: m.classifier,
        logit_lens=_distilbert_lens,
    ),
    Family(
        model_types=("gpt2",),
        readout="last",
        layers=lambda m: m.transformer.h,
        attention_output=lambda block: block.attn.c_proj,
        mlp=lambda block: (block.ln_2, block.mlp),
        final_norm=lambda m: m.transformer.ln_f,
        classifier=lambda m: m.score,
        logit_lens=_gpt2_lens,
    ),
    # Our from-scratch model reports its MLP update ratios through its outputs: no hooks needed (mlp=None).
    Family(
        model_types=("thought_beacon",),
        layers=lambda m: m.layers,
        attention_output=lambda block: block.attn.out,
        final_norm=lambda m: m.final_norm,
        classifier=lambda m: m.classifier,
        logit_lens=_thought_beacon_lens,
    ),
    # BERT/MiniLM with retrofitted markers and beacons: BERT's own pooler + classifier read its hidden states.
    Family(
        model_types=("thought_beacon_bert",),
        layers=lambda m: m.bert.encoder.layer,
        attention_output=lambda block: block.attention.output.dense,
        classifier=lambda m: m.classifier,
        logit_lens=_bert_lens,
    ),
    # Decoders known only by their readout: they trace, and attribution reads the right position.
    Family(model_types=("gpt_neo", "gptj", "llama", "mistral", "qwen2"), readout="last"),
)

_BY_TYPE: dict[str, Family] = {model_type: family for family in FAMILIES for model_type in family.model_types}
UNKNOWN = Family(model_types=("unknown",))


def family_of(model_or_config: Any) -> Family:
    """The table entry of a model (or config, or model_type string); UNKNOWN when the family is not listed."""
    if isinstance(model_or_config, str):
        model_type = model_or_config
    else:
        config = getattr(model_or_config, "config", model_or_config)
        model_type = getattr(config, "model_type", "")
    return _BY_TYPE.get(model_type, UNKNOWN)


def is_known(model_type: str) -> bool:
    return model_type in _BY_TYPE
