"""What capture needs to know about each architecture beyond its outputs: where the MLP block reads the
residual stream and writes its update (to measure ||MLP(h)|| / ||h||), and how to read a prediction off any
layer's hidden state through the model's own classifier head (the logit lens).

Hidden states follow each model's own `output_hidden_states` convention, so the lens differs per family:
post-LN families (BERT, RoBERTa, DistilBERT) emit normalised states the head reads directly; pre-LN
families (GPT-2, ours) need the final LayerNorm first, except GPT-2's last state, which already has it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel

# (module whose first input is h, the residual entering the MLP; module whose output is the MLP's update)
MlpProbe = tuple[nn.Module, nn.Module]


@dataclass(frozen=True)
class Adapter:
    mlp_probes: Callable[[PreTrainedModel], list[MlpProbe]] | None
    # (model, hidden_states tuple of [batch, T, d], input_ids [batch, T]) -> [layers+1, batch, labels]
    logit_lens: Callable[[PreTrainedModel, tuple[torch.Tensor, ...], torch.Tensor], torch.Tensor] | None


def _bert_like_probes(encoder_layers: Callable[[PreTrainedModel], nn.ModuleList]):
    def probes(model: PreTrainedModel) -> list[MlpProbe]:
        return [(layer.intermediate, layer.output.dense) for layer in encoder_layers(model)]

    return probes


def _bert_lens(model, hidden_states, input_ids):
    return torch.stack([model.classifier(model.bert.pooler(h)) for h in hidden_states])


def _roberta_lens(model, hidden_states, input_ids):
    return torch.stack([model.classifier(h) for h in hidden_states])


def _distilbert_probes(model) -> list[MlpProbe]:
    return [(layer.ffn, layer.ffn) for layer in model.distilbert.transformer.layer]


def _distilbert_lens(model, hidden_states, input_ids):
    return torch.stack(
        [model.classifier(nn.functional.relu(model.pre_classifier(h[:, 0]))) for h in hidden_states]
    )


def _gpt2_probes(model) -> list[MlpProbe]:
    return [(block.ln_2, block.mlp) for block in model.transformer.h]


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


ADAPTERS: dict[str, Adapter] = {
    "bert": Adapter(_bert_like_probes(lambda m: m.bert.encoder.layer), _bert_lens),
    "roberta": Adapter(_bert_like_probes(lambda m: m.roberta.encoder.layer), _roberta_lens),
    "distilbert": Adapter(_distilbert_probes, _distilbert_lens),
    "gpt2": Adapter(_gpt2_probes, _gpt2_lens),
    # Our model reports its MLP update ratios through its outputs: no hooks needed.
    "thought_beacon": Adapter(None, _thought_beacon_lens),
    # BERT/MiniLM with retrofitted markers and beacons: BERT's own pooler + classifier read its hidden states.
    "thought_beacon_bert": Adapter(None, _bert_lens),
}


def adapter_for(model: PreTrainedModel) -> Adapter | None:
    """The adapter of this model's family, or None: then capture still records attention and hidden states,
    and leaves the logit lens and MLP ratio empty."""
    return ADAPTERS.get(model.config.model_type)
