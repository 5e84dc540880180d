"""One table of what the library needs to know about each model family, beyond its outputs.

Capture, the logit lens, attribution, the attribution graph and loading read these facts from here and nowhere
else. A family entry says where its transformer blocks live, and in each block the attention output projection
(whose input is the merged heads' context), the MLP (the module whose first input is the residual entering it,
and the module whose output is its update), the final norm and the classifier; which position the classifier
reads; and how many slots its position ids lose to an offset.

Hidden states follow each model's own `output_hidden_states` convention, so the lens differs per family:
post-LN families (BERT, RoBERTa, DistilBERT, ELECTRA, DeBERTa, ALBERT, MPNet) emit normalised states the head
reads directly; pre-LN families (GPT-2, ModernBERT, Llama, Qwen, Mistral, Gemma, Phi-3, ours) need the final norm
first, except on their last state, which already has it.

`blocks` lists one entry per layer *call*, in order: ALBERT runs one shared layer N times, so its list holds the
same module N times, and whoever hooks a block's parts must count calls (explainer/capture/layer_hooks.py)
rather than hook the module once per layer.

Adding a family = one `Family(...)` entry in FAMILIES (and a tiny config in tests/conftest.py, which the table's
test requires). A model type with no entry still traces (attention and hidden states); its logit lens, MLP ratio
and attribution graph stay empty, and `missing_family_note` says so in words. Its position offset is read off its
embeddings (`position_offset`). A model whose layers change the number of tokens (Funnel pools them) cannot be
shown at all: explainer/loading/layer_shapes.py says so.
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
    layers = int(getattr(config, "num_hidden_layers", None) or 12)
    if getattr(config, "model_type", None) == "albert":  # each of its layers runs inner_group_num attention layers
        layers *= int(getattr(config, "inner_group_num", 1) or 1)
    return Sizes(
        layers=layers,
        heads=int(getattr(config, "num_attention_heads", None) or 12),
        hidden=int(getattr(config, "hidden_size", None) or 768),
    )


# ---- logit lenses: the classifier head read off every layer's hidden state ----


def _bert_lens(model, hidden_states, input_ids):
    return torch.stack([model.classifier(model.bert.pooler(h)) for h in hidden_states])


def _roberta_lens(model, hidden_states, input_ids):
    return torch.stack([model.classifier(h) for h in hidden_states])


def _distilbert_lens(model, hidden_states, input_ids):
    return torch.stack([model.classifier(nn.functional.relu(model.pre_classifier(h[:, 0]))) for h in hidden_states])


def _decoder_lens(final_norm: Callable[[Any], nn.Module]) -> LogitLens:
    """The lens of a decoder classifier: its `score` head on the rightmost token that is not pad_token_id (HF's
    own rule, so a text ending in a literal pad/EOS token reads the same slot), after the final norm; the last
    hidden state already went through it (ln_f for GPT-2, the final RMSNorm for Llama, Qwen and Mistral)."""

    def lens(model, hidden_states, input_ids):
        positions = torch.arange(input_ids.shape[-1], device=input_ids.device)
        last = ((input_ids != model.config.pad_token_id).int() * positions).argmax(-1)  # [batch]
        rows = torch.arange(input_ids.shape[0], device=input_ids.device)
        norm = final_norm(model)
        rows_out = []
        for index, h in enumerate(hidden_states):
            normed = h if index == len(hidden_states) - 1 else norm(h)
            rows_out.append(model.score(normed[rows, last]))
        return torch.stack(rows_out)

    return lens


_gpt2_lens = _decoder_lens(lambda m: m.transformer.ln_f)


def _deberta_lens(model, hidden_states, input_ids):
    # ContextPooler: dense + activation on the first token, then the classifier.
    return torch.stack([model.classifier(model.pooler(h)) for h in hidden_states])


def _albert_lens(model, hidden_states, input_ids):
    albert = model.albert
    return torch.stack([model.classifier(albert.pooler_activation(albert.pooler(h[:, 0]))) for h in hidden_states])


def _modernbert_lens(model, hidden_states, input_ids):
    # Pre-LN: final_norm before the head (the last state already has it), then the model's own pooling (the
    # [CLS] state, or the mean over the tokens; a traced input has no padding), head and classifier.
    lens = []
    for index, h in enumerate(hidden_states):
        normed = h if index == len(hidden_states) - 1 else model.model.final_norm(h)
        pooled = normed[:, 0] if model.config.classifier_pooling == "cls" else normed.mean(dim=1)
        lens.append(model.classifier(model.head(pooled)))
    return torch.stack(lens)


def _thought_beacon_lens(model, hidden_states, input_ids):
    return torch.stack([model.classify(h) for h in hidden_states])


def _bert_mlp(block: nn.Module) -> MlpProbe:
    return block.intermediate, block.output.dense


def _roberta_offset(config: Any) -> int:
    # RoBERTa-style position ids start after the padding index, which costs padding_idx + 1 slots.
    return int(config.pad_token_id) + 1


def _albert_layers(model: Any) -> list[nn.Module]:
    """Every AlbertLayer call in order: layer i runs group i // (layers / groups), each group all its layers.
    Published ALBERTs have one group of one layer, so this is the same module num_hidden_layers times; a group of
    inner_group_num layers runs them all, each a layer of its own in the views (sizes counts them)."""
    config = model.config
    groups = model.albert.encoder.albert_layer_groups
    per_group = config.num_hidden_layers / config.num_hidden_groups
    return [layer for i in range(config.num_hidden_layers) for layer in groups[int(i / per_group)].albert_layers]


def _llama_like(*model_types: str, mlp: Callable[[nn.Module], MlpProbe] | None = None) -> Family:
    """Llama, Qwen2/3, Mistral, Gemma and Phi-3 share one layout: pre-RMSNorm decoder layers under model.model,
    rotary positions (no offset), grouped-query attention whose maps come back one per query head, and a `score`
    head on the last non-pad token after the final RMSNorm. `mlp`: where a family's MLP reads and writes, when
    not Llama's post_attention_layernorm -> mlp (Gemma 2 norms the MLP's output too)."""
    return Family(
        model_types=model_types,
        readout="last",
        layers=lambda m: m.model.layers,
        attention_output=lambda block: block.self_attn.o_proj,
        mlp=mlp or (lambda block: (block.post_attention_layernorm, block.mlp)),
        final_norm=lambda m: m.model.norm,
        classifier=lambda m: m.score,
        logit_lens=_decoder_lens(lambda m: m.model.norm),
    )


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
        model_types=("roberta", "xlm-roberta", "camembert"),  # XLM-RoBERTa: RoBERTa's layout and offset
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
    # ELECTRA's discriminator: BERT's blocks (after a projection up from the embedding size) and RoBERTa's
    # head (dense + GELU + out_proj on the first token).
    Family(
        model_types=("electra",),
        layers=lambda m: m.electra.encoder.layer,
        attention_output=lambda block: block.attention.output.dense,
        mlp=_bert_mlp,
        classifier=lambda m: m.classifier.out_proj,
        logit_lens=_roberta_lens,
    ),
    # DeBERTa v2 and v3: BERT's post-LN blocks with disentangled attention; relative positions only (v3) or
    # absolute ones from 0 (v2), so no offset; ContextPooler + classifier on the first token.
    Family(
        model_types=("deberta-v2",),
        layers=lambda m: m.deberta.encoder.layer,
        attention_output=lambda block: block.attention.output.dense,
        mlp=_bert_mlp,
        classifier=lambda m: m.classifier,
        logit_lens=_deberta_lens,
    ),
    # ModernBERT: pre-LN, global and local (sliding-window) layers alike, rotary positions, a GLU MLP; the head
    # (dense, activation, norm) reads the [CLS] state or the mean (config.classifier_pooling) after final_norm.
    # The lens follows either pooling; `readout` is "first", which is exact for "cls" pooling only: with "mean"
    # the methods that read one position (rollout, gradient x attention, the graph's prediction node) read [CLS].
    Family(
        model_types=("modernbert",),
        layers=lambda m: m.model.layers,
        attention_output=lambda block: block.attn.Wo,
        mlp=lambda block: (block.mlp_norm, block.mlp),
        final_norm=lambda m: m.model.final_norm,
        classifier=lambda m: m.classifier,
        logit_lens=_modernbert_lens,
    ),
    # ALBERT: one shared layer run num_hidden_layers times; every call is a layer of its own in the views.
    Family(
        model_types=("albert",),
        layers=_albert_layers,
        attention_output=lambda block: block.attention.dense,
        mlp=lambda block: (block.ffn, block.ffn_output),
        classifier=lambda m: m.classifier,
        logit_lens=_albert_lens,
    ),
    # Gemma scales its embeddings by sqrt(hidden) in its embedding module (transformers 5), so whoever makes
    # embeddings calls the module, never its bare weight; Phi-3 fuses q, k, v and gate, up, which no entry names.
    _llama_like("llama", "mistral", "qwen2", "qwen3", "gemma", "phi3"),
    # Gemma 2: the attention output and the MLP's are normed before they join the residual (post_attention_layernorm
    # and post_feedforward_layernorm), so the MLP's update is the second norm's output.
    _llama_like("gemma2", mlp=lambda block: (block.pre_feedforward_layernorm, block.post_feedforward_layernorm)),
    # MPNet: BERT's post-LN blocks (self-attention in attention.attn, output projection `o`) with a relative position
    # bias, RoBERTa's head and position ids from the padding index.
    Family(
        model_types=("mpnet",),
        layers=lambda m: m.mpnet.encoder.layer,
        attention_output=lambda block: block.attention.attn.o,
        mlp=_bert_mlp,
        classifier=lambda m: m.classifier.out_proj,
        logit_lens=_roberta_lens,
        position_offset=lambda config: 2,  # numbered from padding index 1, fixed in MPNet's code, not the config's
    ),
    # DeBERTa (v1): v2's layout with a fused in_proj; absolute positions from 0 and ContextPooler + classifier.
    Family(
        model_types=("deberta",),
        layers=lambda m: m.deberta.encoder.layer,
        attention_output=lambda block: block.attention.output.dense,
        mlp=_bert_mlp,
        classifier=lambda m: m.classifier,
        logit_lens=_deberta_lens,
    ),
    # Decoders known only by their readout: they trace, and attribution reads the right position.
    Family(model_types=("gpt_neo", "gptj"), readout="last"),
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


def position_offset(model: Any) -> int:
    """Position ids a loaded model loses before its first token: its table entry's, or, for a type the table
    lacks, what its embeddings show, so that an unlisted RoBERTa-style family (roberta-prelayernorm,
    data2vec-text) is not fed positions past its table. The loader's maximum length subtracts this."""
    family = family_of(model)
    if family is not UNKNOWN:
        return family.position_offset(model.config)
    return inferred_position_offset(model)


def inferred_position_offset(model: nn.Module) -> int:
    """padding_idx + 1 when the embeddings number positions from their padding index, as RoBERTa's do (the
    module keeps `padding_idx`, and its position table of max_position_embeddings rows pads that row); else 0.
    A table that pads row 0 but counts from 0 (LXMERT) keeps no padding_idx of its own: 0."""
    rows = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    for module in model.modules():
        table = getattr(module, "position_embeddings", None)
        weight = getattr(table, "weight", None)  # I-BERT's QuantEmbedding has a weight but no num_embeddings
        if not isinstance(table, nn.Module) or not isinstance(weight, torch.Tensor) or weight.shape[0] != rows:
            continue  # rotary or relative positions keep no table; another table is not the one positions index
        padding = getattr(module, "padding_idx", None)
        if isinstance(padding, int) and padding >= 0 and getattr(table, "padding_idx", None) == padding:
            return padding + 1
        return 0
    return 0


def is_known(model_type: str) -> bool:
    return model_type in _BY_TYPE


ADD_FAMILY_DOC = "docs/architecture.md, 'How to add a model family'"


def missing_family_note(
    model_or_config: Any, what: str = "the logit lens, MLP update ratio and attribution graph"
) -> str | None:
    """None when the model's family declares its parts; otherwise one sentence saying which family the table
    lacks and how to add it, for the views that need the table (`what` names them)."""
    family = family_of(model_or_config)
    if family.layers is not None and family.attention_output is not None and family.logit_lens is not None:
        return None
    model_type = (
        model_or_config
        if isinstance(model_or_config, str)
        else getattr(getattr(model_or_config, "config", model_or_config), "model_type", "unknown")
    )
    needs = (
        f"{what[0].upper()}{what[1:]} {'need' if ' and ' in what else 'needs'} to know where a model of type "
        f"'{model_type}' keeps its layers, attention output, MLP and classifier"
    )
    if family is not UNKNOWN:  # an entry without these parts: by its readout position only (gpt_neo, gptj)
        known = "by its readout position only" if family.layers is None else "without all of these parts"
        return (
            f"{needs}, and the per-architecture table (explainer/families.py) knows '{model_type}' {known}. "
            "Attention and hidden states are shown as usual. To add its parts, complete its "
            f"Family(...) entry there (see {ADD_FAMILY_DOC})."
        )
    return (
        f"{needs}, and the per-architecture table (explainer/families.py) has no '{model_type}' entry. Attention "
        f"and hidden states are shown as usual. To add the family, add one Family(...) entry to FAMILIES there "
        f"(see {ADD_FAMILY_DOC})."
    )


def single_readout_note(model_or_config: Any, advice: bool = True) -> str | None:
    """None when the classifier reads one position (the family's `readout`); otherwise why the methods that follow
    one position (attention rollout, gradient x attention, the attribution graph's prediction node) would be
    wrong for this model: a ModernBERT fine-tune with mean pooling reads every position. `advice`: with the
    attribution methods to use instead (a view that has no other method leaves them out)."""
    config = getattr(model_or_config, "config", model_or_config)
    model_type = getattr(config, "model_type", "")
    if family_of(model_type) is UNKNOWN:  # decoders read the last token, encoders the first: not known here
        why = (f"A model of type '{model_type}' is not in the per-architecture table (explainer/families.py), so the "
               "position its classifier reads is not known")
        wrong, then = "could explain the wrong one", f" To add the family, see {ADD_FAMILY_DOC}."
    elif model_type == "modernbert" and getattr(config, "classifier_pooling", "cls") == "mean":
        why = ("This ModernBERT classifier mean-pools every position (classifier_pooling='mean'), so no single "
               "position carries the prediction")
        wrong, then = "would be wrong for it", ""
    else:
        return None
    if not advice:
        return f"{why}.{then}"
    return (f"{why}; methods that follow one readout position (attention rollout, gradient x attention, the "
            f"attribution graph) {wrong}. Use a gradient method (integrated gradients, saliency, input x gradient) "
            f"or occlusion, LIME, KernelSHAP.{then}")
