"""Fixtures of the causal tests: a tiny MiniLM-style retrofit (BERT with markers and beacons, moved off its
init) and a tiny model whose weights make one known head carry a cue word to the readout."""

from __future__ import annotations

import pytest
import torch

from explainer.loading.bundle import ModelBundle
from explainer.models import ThoughtBeaconBertConfig, ThoughtBeaconBertForSequenceClassification
from tests.conftest import HEADS, HIDDEN, MARKERS, build_model, tiny_config

CUE_LAYER, CUE_HEAD = 1, 2
CUE_WORD, OTHER_WORD = "funny", "warm"  # one token each in the tiny WordPiece vocabulary


def wrap(model, tokenizer, name: str) -> ModelBundle:
    return ModelBundle(
        name=name,
        model=model.eval(),
        tokenizer=tokenizer,
        label_names=("neg", "pos"),
        device=torch.device("cpu"),
        max_length=64,
    )


@pytest.fixture(scope="session")
def retrofit_bundle(tokenizer) -> ModelBundle:
    """BERT retrofitted with markers and engaged beacons, every marker and gate tensor moved off its init."""
    torch.manual_seed(0)
    config = ThoughtBeaconBertConfig(**tiny_config("bert").to_dict(), num_thought_markers=MARKERS)
    config.beacons_engaged = True
    model = ThoughtBeaconBertForSequenceClassification(config).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith(("retrofit.", "markers")):
                parameter.add_(0.3 * torch.randn(parameter.shape, generator=generator))
    return wrap(model, tokenizer, "tiny-retrofit")


@pytest.fixture(scope="session")
def cue_bundle(tokenizer) -> ModelBundle:
    """A baseline ThoughtBeacon encoder whose head CUE_HEAD of layer CUE_LAYER moves the cue word's feature
    (residual dimension 0) into the [CLS] slot, the only thing the classifier reads. Every other head and MLP is
    random but never writes dimension 0, so the cue reaches the prediction through that head alone."""
    model = build_model("baseline")
    cue = tokenizer.convert_tokens_to_ids(CUE_WORD)
    d, dh = HIDDEN, HIDDEN // HEADS
    with torch.no_grad():
        model.token_embeddings.weight[:, 0] = 0.0
        model.token_embeddings.weight[cue, 0] = 5.0
        model.position_embeddings.weight[:, 0] = 0.0
        for layer in model.layers:
            layer.attn.out.weight[0, :] = 0.0  # no head writes dimension 0 ...
            layer.attn.out.bias[0] = 0.0
            layer.mlp[2].weight[0, :] = 0.0  # ... and no MLP
            layer.mlp[2].bias[0] = 0.0
            for norm in (layer.attn_norm, layer.mlp_norm):
                norm.weight.fill_(1.0)
                norm.bias.zero_()
        block = model.layers[CUE_LAYER]
        qkv = block.attn.qkv
        rows = {kind: kind * d + CUE_HEAD * dh for kind in range(3)}  # first row of q, k, v of the cue head
        for first in rows.values():
            qkv.weight[first : first + dh] = 0.0
            qkv.bias[first : first + dh] = 0.0
        qkv.bias[rows[0]] = 4.0  # the query asks the same everywhere ...
        qkv.weight[rows[1], 0] = 4.0  # ... and keys answer with dimension 0: the cue's position wins
        qkv.weight[rows[2], 0] = 1.0  # the value carries dimension 0
        block.attn.out.weight[0, CUE_HEAD * dh] = 3.0  # ... which this head alone writes back to dimension 0
        model.final_norm.weight.fill_(1.0)
        model.final_norm.bias.zero_()
        model.pooler.weight.zero_()
        model.pooler.bias.zero_()
        model.pooler.weight[0, 0] = 1.0
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
        model.classifier.weight[0, 0], model.classifier.weight[1, 0] = -2.0, 2.0
    return wrap(model, tokenizer, "tiny-cue")
