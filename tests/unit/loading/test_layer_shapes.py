"""A model that pools tokens between layers (Funnel Transformer) is refused in one sentence, not a numpy traceback:
its attention maps change size between layers, and every view stacks the layers over the same tokens. A sliding
window (Longformer) is refused for what it is."""

from __future__ import annotations

import pytest
import torch
from transformers import FunnelConfig, FunnelForSequenceClassification

from explainer.capture.tracing import trace
from explainer.loading.bundle import ModelBundle, ModelLoadError, load_model
from explainer.loading.layer_shapes import layer_shape_refusal
from tests.conftest import FAMILIES, HEADS, HIDDEN, ID2LABEL, LABEL2ID, VOCAB, build_model, save_checkpoint

TEXT = "The film is a quiet triumph, warm and funny."
IDS = torch.tensor([[2, 10, 11, 12, 13, 14, 3]])


def funnel() -> FunnelForSequenceClassification:
    """Two blocks of one layer: the second block's layers read the sequence pooled to about half."""
    torch.manual_seed(0)
    config = FunnelConfig(
        vocab_size=VOCAB, block_sizes=[1, 1], d_model=HIDDEN, n_head=HEADS, d_head=HIDDEN // HEADS, d_inner=37,
        pad_token_id=0, id2label=dict(ID2LABEL), label2id=dict(LABEL2ID),
    )
    return FunnelForSequenceClassification(config).eval()


def outputs(model):
    with torch.inference_mode():
        return model(input_ids=IDS, output_attentions=True, output_hidden_states=True)


def test_pooled_attention_maps_are_refused_in_words():
    out = outputs(funnel())
    said = layer_shape_refusal("tiny-funnel", "funnel", IDS.shape[1], out.attentions, out.hidden_states)
    assert said is not None and "\n" not in said
    assert said.startswith("'tiny-funnel' (funnel) pools its tokens between layers")
    assert "7x7 at layer 1" in said and "cannot show this model" in said


def test_a_sliding_window_is_refused_for_what_it_is():
    # Longformer's maps are [T, window + 1] in every layer: it was said to "pool its tokens between layers"
    from transformers import LongformerConfig, LongformerForSequenceClassification

    torch.manual_seed(0)
    config = LongformerConfig(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=HEADS,
                              intermediate_size=37, max_position_embeddings=70, attention_window=8, pad_token_id=1,
                              attn_implementation="eager")
    out = outputs(LongformerForSequenceClassification(config).eval())
    said = layer_shape_refusal("tiny-longformer", "longformer", IDS.shape[1], out.attentions, out.hidden_states)
    assert said is not None and "pools" not in said
    assert said.startswith("'tiny-longformer' (longformer) returns attention maps that are not token by token (7x")


@pytest.mark.parametrize("family", FAMILIES)
def test_listed_families_pass(family):
    out = outputs(build_model(family))
    assert layer_shape_refusal(family, family, IDS.shape[1], out.attentions, out.hidden_states) is None


def test_layers_of_different_head_counts_are_refused():
    maps = [torch.zeros(1, 4, 7, 7), torch.zeros(1, 2, 7, 7)]
    said = layer_shape_refusal("m", "odd", 7, maps)
    assert said is not None and "different number of attention heads" in said and "(4, 2)" in said


def test_trace_refuses_a_funnel_bundle_in_one_line(tokenizer):
    """A bundle made without the load probe (which refuses it first) still gets the sentence: it was a
    "could not broadcast (4,4,8) into (4,8,8)" ValueError from stacking the layers."""
    model = funnel()
    bundle = ModelBundle(
        name="tiny-funnel", model=model, tokenizer=tokenizer, label_names=("neg", "pos"),
        device=torch.device("cpu"), max_length=64,
    )
    with pytest.raises(RuntimeError, match=r"^'tiny-funnel' \(funnel\) pools its tokens between layers"):
        trace(bundle, TEXT)


def test_load_refuses_a_funnel_checkpoint(tmp_path, tokenizer):
    folder = save_checkpoint(funnel(), tokenizer, tmp_path / "funnel")
    with pytest.raises(ModelLoadError, match="pools its tokens between layers"):
        load_model(folder, device="cpu")
