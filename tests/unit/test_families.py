"""The per-architecture table (explainer/families.py), checked entry by entry on a tiny model of each family:
where its blocks, attention output projections, MLPs, final norm and classifier live; which position the
classifier reads; the logit lens; the position-id offset."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from explainer.families import FAMILIES, UNKNOWN, family_of, sizes
from explainer.models import ThoughtBeaconBertConfig, ThoughtBeaconBertForSequenceClassification
from tests.conftest import HIDDEN, LAYERS, MARKERS, build_model, tiny_config

# One tiny model per table entry that declares its parts; "retrofit" is BERT with markers and beacons.
TINY = ("ours", "baseline", "bert", "distilbert", "roberta", "gpt2", "retrofit")
IDS = torch.tensor([[2, 10, 11, 12, 13, 14, 3]])  # [CLS] five words [SEP]; no pad id (0) anywhere


def tiny(name: str) -> nn.Module:
    if name == "retrofit":
        torch.manual_seed(0)
        config = ThoughtBeaconBertConfig(**tiny_config("bert").to_dict(), num_thought_markers=MARKERS)
        config.beacons_engaged = True  # real sigmoid gates, not the untrained model's exact 1
        return ThoughtBeaconBertForSequenceClassification(config).eval()
    return build_model(name)


def test_every_family_that_declares_parts_has_a_tiny_model_here():
    covered = {tiny(name).config.model_type for name in TINY}
    declared = {f.model_types[0] for f in FAMILIES if f.layers is not None}
    assert declared <= covered, f"add a tiny model of {declared - covered} to this test (and tests/conftest.py)"


def run_with_hooks(model: nn.Module, handles: list) -> None:
    """One forward pass on IDS with the hooks behind `handles` in place; they are removed afterwards."""
    try:
        with torch.no_grad():
            model(input_ids=IDS)
    finally:
        for handle in handles:
            handle.remove()


@pytest.fixture(scope="module", params=TINY)
def model(request) -> nn.Module:
    return tiny(request.param)


def test_the_family_is_found_and_sized(model):
    family = family_of(model)
    assert family is not UNKNOWN and model.config.model_type in family.model_types
    assert family_of(model.config) is family and family_of(model.config.model_type) is family
    assert sizes(model.config).layers == LAYERS and sizes(model.config).hidden == HIDDEN
    assert len(family.blocks(model)) == LAYERS


def test_attention_outputs_read_the_merged_heads_of_every_layer(model):
    family = family_of(model)
    projections = family.attention_outputs(model)
    assert projections is not None and len(projections) == LAYERS
    seen: list[tuple[int, ...]] = []
    handles = [p.register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape))) for p in projections]
    run_with_hooks(model, handles)
    assert seen == [(1, IDS.shape[1], HIDDEN)] * LAYERS  # called once per layer, in order, on [batch, T, d]


def test_mlp_probes_read_the_residual_and_write_the_update(model):
    family = family_of(model)
    probes = family.mlp_probes(model)
    if family.mlp is None:  # the model reports its MLP update ratios itself
        out = model(input_ids=IDS)
        assert out.mlp_update_ratios is not None and len(out.mlp_update_ratios) == LAYERS
        return
    shapes: list[tuple[str, tuple[int, ...]]] = []
    handles = []
    for reader, writer in probes:
        handles.append(reader.register_forward_hook(lambda m, a, o: shapes.append(("in", tuple(a[0].shape)))))
        handles.append(writer.register_forward_hook(lambda m, a, o: shapes.append(("out", tuple(o.shape)))))
    run_with_hooks(model, handles)
    expected = (1, IDS.shape[1], HIDDEN)
    assert len(probes) == LAYERS and sorted(shapes) == sorted([("in", expected), ("out", expected)] * LAYERS)


def test_logit_lens_last_row_is_the_models_prediction(model):
    family = family_of(model)
    with torch.no_grad():
        out = model(input_ids=IDS, output_hidden_states=True)
        lens = family.logit_lens(model, out.hidden_states, IDS)  # [layers+1, batch, labels]
    assert lens.shape == (LAYERS + 1, 1, model.config.num_labels)
    torch.testing.assert_close(lens[-1], out.logits, atol=1e-5, rtol=1e-5)


def test_the_classifier_reads_exactly_the_declared_readout_position(model):
    family = family_of(model)
    out = model(input_ids=IDS, output_hidden_states=True)
    grad = torch.autograd.grad(out.logits.sum(), out.hidden_states[-1])[0][0]  # [T, d]
    reads = grad.abs().sum(-1) > 0
    expected = torch.zeros(IDS.shape[1], dtype=torch.bool)
    expected[family.readout_position(IDS.shape[1])] = True
    assert reads.tolist() == expected.tolist()


def test_declared_classifier_and_final_norm(model):
    family = family_of(model)
    head = family.classifier(model)
    assert head.weight.shape[0] == model.config.num_labels  # the head's last layer: one row per label
    if family.final_norm is not None:
        assert isinstance(family.final_norm(model), nn.LayerNorm)


def test_position_offset_is_what_the_position_table_loses(model):
    family = family_of(model)
    config = model.config
    usable = config.max_position_embeddings - family.position_offset(config)
    ids = torch.full((1, usable), 10)
    with torch.no_grad():
        model(input_ids=ids)  # the longest input the table allows runs
        with pytest.raises((IndexError, RuntimeError)):
            model(input_ids=torch.full((1, usable + 1), 10))  # one more token runs off the position table


def test_unknown_model_types_trace_without_parts():
    assert family_of("no-such-family") is UNKNOWN
    assert UNKNOWN.mlp_probes(object()) == [] and UNKNOWN.attention_outputs(object()) is None
    assert family_of("llama").readout_position(7) == 6 and family_of("bert").readout_position(7) == 0
