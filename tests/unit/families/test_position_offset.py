"""families.position_offset: the position ids a model loses before its first token, from the table for a listed
family and from the model's own embeddings for a type the table lacks (RoBERTa-style embeddings number positions
from padding_idx + 1; BERT-style ones from 0)."""

from __future__ import annotations

import json

import pytest
import torch
import transformers
from transformers import PreTrainedModel

from explainer.capture.tracing import trace
from explainer.families import UNKNOWN, family_of, inferred_position_offset, position_offset
from explainer.loading.bundle import load_model
from tests.conftest import (
    FAMILIES,
    HEADS,
    HIDDEN,
    ID2LABEL,
    INTERMEDIATE,
    LABEL2ID,
    LAYERS,
    MAX_POSITIONS,
    MORE_FAMILIES,
    VOCAB,
    build_model,
    save_checkpoint,
)

ROBERTA_LIKE = ("RobertaPreLayerNorm", "Data2VecText")  # not in the table; positions from padding_idx + 1
BERT_LIKE = ("MegatronBert", "Ernie")  # not in the table; positions from 0


def unlisted(prefix: str, pad: int = 0) -> PreTrainedModel:
    """A tiny classifier of a family the table lacks, with RoBERTa's two extra position rows (pad 0)."""
    torch.manual_seed(0)
    config = getattr(transformers, f"{prefix}Config")(
        vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        intermediate_size=INTERMEDIATE, max_position_embeddings=MAX_POSITIONS + 2, pad_token_id=pad,
        bos_token_id=2, eos_token_id=3, id2label=dict(ID2LABEL), label2id=dict(LABEL2ID),
    )
    return getattr(transformers, f"{prefix}ForSequenceClassification")(config).eval()


def runs(model: PreTrainedModel, length: int) -> bool:
    try:
        with torch.no_grad():
            model(input_ids=torch.full((1, length), 10))
    except (IndexError, RuntimeError):
        return False
    return True


@pytest.mark.parametrize("family", (*FAMILIES, *MORE_FAMILIES))
def test_the_inference_agrees_with_every_listed_family(family):
    """What the embeddings show is what the table says, for every family it lists (and the table is still used)."""
    model = build_model(family)
    assert position_offset(model) == family_of(model).position_offset(model.config) == inferred_position_offset(model)


@pytest.mark.parametrize("prefix", ROBERTA_LIKE)
@pytest.mark.parametrize("pad", (0, 1))  # 1: RoBERTa's own <pad>, so positions start at 2
def test_unlisted_roberta_style_families_lose_padding_idx_plus_one(prefix, pad):
    model = unlisted(prefix, pad)
    assert family_of(model) is UNKNOWN
    assert position_offset(model) == pad + 1
    usable = model.config.max_position_embeddings - position_offset(model)
    assert runs(model, usable) and not runs(model, usable + 1)


@pytest.mark.parametrize("prefix", BERT_LIKE)
def test_unlisted_bert_style_families_lose_nothing(prefix):
    model = unlisted(prefix)
    assert family_of(model) is UNKNOWN and position_offset(model) == 0
    assert runs(model, model.config.max_position_embeddings)


def test_a_long_text_on_an_unlisted_roberta_style_family_is_truncated(tmp_path, tokenizer):
    """With no model_max_length in tokenizer_config.json the length comes from the position table alone: it was
    66 for a table of 66 rows, and a long text ran off it ("index 66 is out of bounds")."""
    folder = save_checkpoint(unlisted("RobertaPreLayerNorm"), tokenizer, tmp_path / "rpln")
    settings = folder / "tokenizer_config.json"
    kept = {key: value for key, value in json.loads(settings.read_text()).items() if key != "model_max_length"}
    settings.write_text(json.dumps(kept))
    bundle = load_model(folder, device="cpu")
    assert bundle.max_length == MAX_POSITIONS + 1
    traced = trace(bundle, " ".join(["the film is a quiet triumph warm and funny"] * 20))
    assert traced.truncated and len(traced.tokens) == MAX_POSITIONS + 1
