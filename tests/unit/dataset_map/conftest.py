"""Fixtures of the data-set map tests: a labelled data set of the tiny corpus, and a model whose family has no
readout convention in the architecture table."""

from __future__ import annotations

from pathlib import Path

import pytest

from explainer.data.labelled import LabelledData, read_dataset
from tests.conftest import CORPUS, ID2LABEL, LABEL2ID, save_checkpoint


def corpus_csv(texts=CORPUS) -> bytes:
    rows = [f'"{text}",{"neg" if i % 2 else "pos"}' for i, text in enumerate(texts)]
    return ("text,label\n" + "\n".join(rows) + "\n").encode()


@pytest.fixture(scope="session")
def corpus_data() -> LabelledData:
    return read_dataset(corpus_csv(), filename="corpus.csv", label_names=("neg", "pos"))


UNLISTED = ("megatron-bert", "nystromformer", "yoso")  # BERT-like configs; the first not in families.py


@pytest.fixture(scope="session")
def unlisted_folder(tmp_path_factory, tokenizer) -> Path:
    """A tiny classifier of a family the architecture table does not list: it loads and traces, but no readout
    position is known for it."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from explainer.families import is_known

    model_type = next((t for t in UNLISTED if not is_known(t)), None)
    if model_type is None:
        pytest.skip("every candidate family is in the architecture table now")
    torch.manual_seed(0)
    config = AutoConfig.for_model(
        model_type,
        vocab_size=128,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=66,
        id2label=dict(ID2LABEL),
        label2id=dict(LABEL2ID),
        pad_token_id=0,
    )
    model = AutoModelForSequenceClassification.from_config(config).eval()
    return save_checkpoint(model, tokenizer, tmp_path_factory.mktemp("unlisted") / model_type)
