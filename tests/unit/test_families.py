"""The per-architecture table (explainer/families.py), checked entry by entry on a tiny model of each family:
where its blocks, attention output projections, MLPs, final norm and classifier live; which position the
classifier reads; the logit lens; the position-id offset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from explainer.capture import layer_hooks
from explainer.families import FAMILIES, UNKNOWN, family_of, missing_family_note, sizes
from explainer.models import ThoughtBeaconBertConfig, ThoughtBeaconBertForSequenceClassification
from tests.conftest import HEADS, HIDDEN, LAYERS, MARKERS, MORE_FAMILIES, build_model, tiny_config

# One tiny model per table entry that declares its parts; "retrofit" is BERT with markers and beacons.
TINY = ("ours", "baseline", "bert", "distilbert", "roberta", "gpt2", "retrofit", *MORE_FAMILIES)
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
    declared = {t for f in FAMILIES if f.layers is not None for t in f.model_types}
    untested = {"camembert"}  # RoBERTa's classes under another name: the roberta and xlm-roberta models cover it
    assert declared - untested <= covered, (
        f"add a tiny model of {declared - untested - covered} to this test (and tests/conftest.py)"
    )


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
    seen: list[tuple[int, tuple[int, ...]]] = []
    with layer_hooks.forward_pre_hooks(projections, lambda layer, m, args: seen.append((layer, tuple(args[0].shape)))):
        run_with_hooks(model, [])
    # called once per layer, in order, on [batch, T, heads x head_dim] (ALBERT: one shared module, told apart by
    # call order); head_dim is HIDDEN / HEADS but for the tiny Qwen3 and Gemma, whose heads are twice as wide
    width = (getattr(model.config, "head_dim", None) or HIDDEN // HEADS) * HEADS
    assert seen == [(layer, (1, IDS.shape[1], width)) for layer in range(LAYERS)]
    assert not any(p._forward_pre_hooks for p in projections)


def test_mlp_probes_read_the_residual_and_write_the_update(model):
    family = family_of(model)
    probes = family.mlp_probes(model)
    if family.mlp is None:  # the model reports its MLP update ratios itself
        out = model(input_ids=IDS)
        assert out.mlp_update_ratios is not None and len(out.mlp_update_ratios) == LAYERS
        return
    shapes: list[tuple[str, int, tuple[int, ...]]] = []
    readers, writers = [r for r, _ in probes], [w for _, w in probes]
    with (
        layer_hooks.forward_hooks(readers, lambda layer, m, a, o: shapes.append(("in", layer, tuple(a[0].shape)))),
        layer_hooks.forward_hooks(writers, lambda layer, m, a, o: shapes.append(("out", layer, tuple(o.shape)))),
    ):
        run_with_hooks(model, [])
    expected = (1, IDS.shape[1], HIDDEN)
    want = [(side, layer, expected) for layer in range(LAYERS) for side in ("in", "out")]
    assert len(probes) == LAYERS and sorted(shapes) == sorted(want)


def test_logit_lens_last_row_is_the_models_prediction(model):
    family = family_of(model)
    with torch.no_grad():
        out = model(input_ids=IDS, output_hidden_states=True)
        lens = family.logit_lens(model, out.hidden_states, IDS)  # [layers+1, batch, labels]
    assert lens.shape == (LAYERS + 1, 1, model.config.num_labels)
    torch.testing.assert_close(lens[-1], out.logits, atol=1e-5, rtol=1e-5)


# Models whose code cannot run with zero layers: their row 0 (the embeddings) is checked only through the others.
NO_ZERO_LAYER_MODEL = ("ours", "baseline", "deberta-v2", "modernbert")


@pytest.mark.parametrize("name", [n for n in TINY if n != "retrofit"])  # the retrofit's rows are BERT's
def test_every_lens_row_is_the_model_cut_after_that_layer(name):
    """Ground truth for the intermediate rows: the same weights with only the first l layers give lens row l
    (final norm, pooler and head included), whatever the family's norm placement."""
    model = tiny(name)
    family = family_of(model)
    with torch.no_grad():
        out = model(input_ids=IDS, output_hidden_states=True)
        lens = family.logit_lens(model, out.hidden_states, IDS)[:, 0]  # [layers+1, labels]
    state = model.state_dict()
    for layers in range(1 if name in NO_ZERO_LAYER_MODEL else 0, LAYERS):
        cut = type(model)(tiny_config(name, num_hidden_layers=layers)).eval()
        missing, _ = cut.load_state_dict(state, strict=False)  # the later layers' weights are left out
        assert not missing
        with torch.no_grad():
            torch.testing.assert_close(lens[layers], cut(input_ids=IDS).logits[0], atol=1e-5, rtol=1e-5)


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
    if family.final_norm is not None:  # a LayerNorm or RMSNorm over the hidden size, run once per forward pass
        norm = family.final_norm(model)
        assert norm.weight.shape == (HIDDEN,)
        seen: list[tuple[int, ...]] = []
        run_with_hooks(model, [norm.register_forward_hook(lambda m, a, o: seen.append(tuple(o.shape)))])
        assert len(seen) == 1 and seen[0][0] == 1 and seen[0][-1] == HIDDEN  # ours normalises only [CLS]


def absolute_position_table(model: nn.Module) -> nn.Embedding | None:
    """The learned absolute position embeddings, if the model has them (rotary and relative families do not)."""
    tables = [m for name, m in model.named_modules() if name.endswith(("position_embeddings", "wpe"))]
    tables = [m for m in tables if isinstance(m, nn.Embedding)]
    return tables[0] if tables else None


def test_position_offset_is_what_the_position_table_loses(model):
    family = family_of(model)
    config = model.config
    table = absolute_position_table(model)
    positions = getattr(config, "max_position_embeddings", None) or config.n_positions
    if table is None:  # rotary (ModernBERT, Llama, Qwen, Mistral) or relative-only (DeBERTa-v3): nothing is lost
        assert family.position_offset(config) == 0
        with torch.no_grad():
            model(input_ids=torch.full((1, positions), 10))
        return
    assert table.num_embeddings == positions
    usable = positions - family.position_offset(config)
    ids = torch.full((1, usable), 10)
    with torch.no_grad():
        model(input_ids=ids)  # the longest input the table allows runs
        with pytest.raises((IndexError, RuntimeError)):
            model(input_ids=torch.full((1, usable + 1), 10))  # one more token runs off the position table


def test_unknown_model_types_trace_without_parts():
    assert family_of("no-such-family") is UNKNOWN
    assert UNKNOWN.mlp_probes(object()) == [] and UNKNOWN.attention_outputs(object()) is None
    assert family_of("llama").readout_position(7) == 6 and family_of("bert").readout_position(7) == 0
    note = missing_family_note("no-such-family", "the logit lens")
    assert note is not None and "'no-such-family'" in note and "explainer/families.py" in note
    assert note.startswith("The logit lens") and "How to add a model family" in note
    known_by_readout = missing_family_note("gptj")  # known only by its readout: still lacks the parts
    assert known_by_readout is not None and "readout position only" in known_by_readout
    assert "has no 'gptj' entry" not in known_by_readout and "complete its Family" in known_by_readout
    assert all(missing_family_note(t) is None for f in FAMILIES if f.logit_lens for t in f.model_types)


def test_albert_lists_its_shared_layer_once_per_call():
    model = tiny("albert")
    blocks = family_of(model).blocks(model)
    assert len(blocks) == LAYERS and all(block is blocks[0] for block in blocks)  # one module, LAYERS calls


def test_modernbert_mean_pooling_lens_rows_are_the_model_cut_after_each_layer():
    model = build_model("modernbert", classifier_pooling="mean")
    with torch.no_grad():
        out = model(input_ids=IDS, output_hidden_states=True)
        lens = family_of(model).logit_lens(model, out.hidden_states, IDS)[:, 0]
        torch.testing.assert_close(lens[-1], out.logits[0], atol=1e-5, rtol=1e-5)
        cut = type(model)(tiny_config("modernbert", classifier_pooling="mean", num_hidden_layers=1)).eval()
        cut.load_state_dict(model.state_dict(), strict=False)
        torch.testing.assert_close(lens[1], cut(input_ids=IDS).logits[0], atol=1e-5, rtol=1e-5)


def test_a_mean_pooled_modernbert_refuses_the_one_position_methods_and_keeps_the_others(tokenizer, tmp_path):
    from explainer import load_model
    from explainer.attribution.attributing import attribute, attribute_all
    from explainer.attribution.layer_methods import MethodUnsupported
    from tests.conftest import save_checkpoint

    folder = save_checkpoint(build_model("modernbert", classifier_pooling="mean"), tokenizer, tmp_path / "mean")
    loaded = load_model(folder, device="cpu")
    for method in ("rollout", "grad_x_attention"):
        with pytest.raises(MethodUnsupported, match="mean-pools every position"):
            attribute(loaded, "a fine film", method)
    results = attribute_all(loaded, "a fine film")
    assert "integrated_gradients" in results and "rollout" not in results and "grad_x_attention" not in results


def test_a_mean_pooled_modernbert_has_no_attribution_graph(tokenizer, tmp_path):
    from explainer import InputError, load_model
    from explainer.attribution import GraphUnsupported, MethodUnsupported
    from explainer.attribution.graph import attention_attribution
    from tests.conftest import save_checkpoint

    folder = save_checkpoint(build_model("modernbert", classifier_pooling="mean"), tokenizer, tmp_path / "mean")
    with pytest.raises(GraphUnsupported, match="mean-pools every position"):
        attention_attribution(load_model(folder, device="cpu"), "a fine film")
    # one kind of error for "this model cannot take that request", as MethodUnsupported and CausalUnsupported are
    assert issubclass(GraphUnsupported, InputError) and issubclass(MethodUnsupported, InputError)


def test_a_family_not_in_the_table_refuses_the_one_position_methods(tokenizer, tmp_path):
    # an OPT classifier reads a position the table does not know (its last token): rollout read at 0 explained nothing
    from transformers import OPTConfig, OPTForSequenceClassification

    from explainer import load_model
    from explainer.attribution.attributing import attribute, attribute_all
    from explainer.attribution.layer_methods import MethodUnsupported
    from tests.conftest import save_checkpoint

    config = OPTConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       ffn_dim=64, word_embed_proj_dim=32, max_position_embeddings=130, num_labels=2, pad_token_id=0)
    torch.manual_seed(0)
    folder = save_checkpoint(OPTForSequenceClassification(config).eval(), tokenizer, tmp_path / "opt")
    loaded = load_model(folder, device="cpu")
    assert family_of(loaded.model) is UNKNOWN
    for method in ("rollout", "grad_x_attention"):
        with pytest.raises(MethodUnsupported, match="not in the per-architecture table"):
            attribute(loaded, "a fine film", method)
    results = attribute_all(loaded, "a fine film")
    assert "integrated_gradients" in results and "rollout" not in results and "grad_x_attention" not in results
    assert missing_family_note(loaded.model, "the attribution graph").startswith("The attribution graph needs")
    from explainer.report import build_report

    # the report from such a page: its attribution section says why it is left out; the rest is drawn (the whole
    # file once read "No report: ...")
    document = build_report(loaded, "a fine film", pages=("overview", "attention", "attribution"), method="rollout")
    assert "Left out: " in document and "not in the per-architecture table" in document
    assert '<h2 id="overview">' in document and '<h2 id="attention">' in document


def test_the_batched_passes_read_a_decoder_s_text_where_trace_reads_it(tokenizer, tmp_path):
    """Llama with pad = </s> and a tokenizer that appends </s>, as above: the data-set pass (predictions, the map's
    readout and mean vectors, token counts) must leave the trailing pad-id token out as trace() does; its mask
    once ended on it, so every text's readout vector was the state at </s> and its mean counted it."""
    from explainer import load_model
    from explainer.capture.tracing import trace
    from explainer.dataset_map.embeddings import embed_texts
    from explainer.evaluation.predict import predict
    from tests.conftest import save_checkpoint

    folder = save_checkpoint(build_model("llama", pad_token_id=tokenizer.sep_token_id), tokenizer, tmp_path / "l")
    loaded = load_model(folder, device="cpu")
    # its tokenizer pads with [PAD], its classifier skips [SEP]: batches pad with what the classifier skips
    assert loaded.tokenizer.pad_token_id == loaded.model.config.pad_token_id == tokenizer.sep_token_id
    texts = ["a fine film", f"a dull plot {tokenizer.sep_token}", "the film is a quiet triumph, warm and funny"]
    batch = embed_texts(loaded, texts)
    lengths = predict(loaded, texts, batch_size=3).lengths
    for row, text in enumerate(texts):
        single = trace(loaded, text)
        states = single.hidden_states  # [layers+1, T, d]
        assert lengths[row] == len(single.tokens)
        np.testing.assert_allclose(batch.probabilities[row], single.probabilities, atol=1e-5)
        np.testing.assert_allclose(batch.readout[:, row], states[:, -1], atol=2e-3, rtol=2e-3)  # float16 store
        np.testing.assert_allclose(batch.mean[:, row], states.mean(axis=1), atol=2e-3, rtol=2e-3)


def test_a_decoder_whose_pad_id_ends_the_text_is_read_where_transformers_reads_it(tokenizer, tmp_path):
    # Llama with pad = </s> and a tokenizer that appends </s>: given ids, transformers reads the token before it;
    # the methods follow the last position and get embeddings, so the trailing pad-id token is left out for all.
    from explainer import load_model
    from explainer.attribution.attributing import attribute
    from explainer.capture.encoding import encode
    from explainer.capture.tracing import trace
    from tests.conftest import save_checkpoint

    sep = tokenizer.sep_token_id
    folder = save_checkpoint(build_model("llama", pad_token_id=sep), tokenizer, tmp_path / "llama-eos")
    loaded = load_model(folder, device="cpu")
    text = "a fine film"
    ids = tokenizer(text, return_tensors="pt")
    assert int(ids["input_ids"][0, -1]) == sep
    with torch.no_grad():
        expected = loaded.model(**ids).logits[0]
    assert encode(loaded, text).inputs["input_ids"] == ids["input_ids"][0, :-1].tolist()
    torch.testing.assert_close(torch.as_tensor(trace(loaded, text).logits), expected, atol=1e-5, rtol=1e-5)
    result = attribute(loaded, text, "integrated_gradients")
    assert abs(result.target_logit - float(expected[result.target])) < 1e-5
    assert not trace(loaded, text).notes  # the tokenizer's own </s>: nothing to say
    typed = trace(loaded, f"{text} {tokenizer.sep_token}")  # one typed, one added: both unread, one said
    assert any(note.startswith("The text ends in 1 x '[SEP]'") and "not read" in note for note in typed.notes)
    assert typed.tokens[-1] != tokenizer.sep_token and not typed.truncated
    assert typed.unread_note in typed.notes and typed.family_notes == ()  # the logit lens's place stays empty


def test_attribute_s_json_says_the_unread_tokens_as_trace_s_does(tokenizer, tmp_path, capsys, monkeypatch):
    """trace --json said "The text ends in 1 x '[SEP]' ... not read"; attribute --json left the same token out of
    its scores without a word."""
    from explainer import load_model
    from explainer.capture.tracing import trace
    from tests.cli.test_patch import run
    from tests.conftest import save_checkpoint

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    folder = save_checkpoint(build_model("llama", pad_token_id=tokenizer.sep_token_id), tokenizer, tmp_path / "l")
    text = f"a fine film {tokenizer.sep_token}"
    said = trace(load_model(folder, device="cpu"), text).unread_note
    code, payload, err = run(capsys, "attribute", "--model", str(folder), "--text", text, "--method", "saliency")
    assert code == 0, err
    assert said in payload["notes"]
    code, plain, err = run(capsys, "attribute", "--model", str(folder), "--text", "a fine film", "--method", "saliency")
    assert code == 0 and not any("not read" in note for note in plain.get("notes", []))


def test_patch_and_ablate_say_the_unread_tokens_of_the_text_they_name(tokenizer, tmp_path, capsys, monkeypatch):
    """trace and attribute said a trailing pad-id token is not read; patching and ablation left it out silently.
    Ablation runs the sidebar's text, whose note the Causal page shows already: its command line says it."""
    from explainer import load_model
    from explainer.causal import ablate_heads, patch
    from tests.cli.test_patch import run
    from tests.conftest import save_checkpoint

    folder = save_checkpoint(build_model("llama", pad_token_id=tokenizer.sep_token_id), tokenizer, tmp_path / "l")
    loaded = load_model(folder, device="cpu")
    typed = f"a fine film {tokenizer.sep_token}"
    said = "ends in 1 x '[SEP]'"
    patched = patch(loaded, "a dull film", typed)
    assert [note for note in patched.notes if said in note and "not read" in note] == [
        next(n for n in patched.notes if n.startswith(f"The corrupted text {said}"))]
    assert not any(said in note for note in patch(loaded, "a dull film", "a fine film").notes)
    assert not any(said in note for note in ablate_heads(loaded, typed, mode="zero").notes)  # the page's, once
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    for text, expected in ((typed, 1), ("a fine film", 0)):
        code, payload, err = run(capsys, "ablate", "--model", str(folder), "--text", text, "--mode", "zero")
        assert code == 0, err
        assert len([note for note in payload["notes"] if note.startswith(f"The text {said}")]) == expected


def test_the_counterfactual_gradient_reads_a_decoder_s_text_where_trace_reads_it(tokenizer, tmp_path):
    """The search's gradient pass feeds embeddings: a trailing pad-id token must be left out as trace() leaves it,
    or HotFlip and removal's estimate follow the state at </s> (objective 2.34 against trace's -0.75 once)."""
    from explainer import load_model
    from explainer.capture.tracing import trace
    from explainer.counterfactual.scoring import Scorer
    from explainer.counterfactual.words import split_words
    from tests.conftest import save_checkpoint

    folder = save_checkpoint(build_model("llama", pad_token_id=tokenizer.sep_token_id), tokenizer, tmp_path / "l")
    loaded = load_model(folder, device="cpu")
    text = "a fine film"
    logits = trace(loaded, text).logits
    scorer = Scorer(loaded, int(logits.argmax()), None)
    expected = float(scorer.objective(torch.as_tensor(logits, dtype=torch.float32)))
    assert scorer.gradient(text, split_words(text)).objective == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("method", ["lime", "kernel_shap"])
def test_a_text_of_only_unread_pad_id_tokens_gets_zero_scores_from_the_sampling_methods(tokenizer, tmp_path, method):
    """Llama padding with </s>, the text "</s>": every token read is special. LIME and KernelSHAP, with no feature to
    switch, failed with "attempt to get argmin of an empty sequence"; the other methods score every token 0."""
    from explainer import load_model
    from explainer.attribution.attributing import attribute
    from tests.conftest import save_checkpoint

    folder = save_checkpoint(build_model("llama", pad_token_id=tokenizer.sep_token_id), tokenizer, tmp_path / "l")
    loaded = load_model(folder, device="cpu")
    result = attribute(loaded, tokenizer.sep_token, method)
    occluded = attribute(loaded, tokenizer.sep_token, "occlusion")
    assert len(result.scores) == len(occluded.scores) > 0
    assert not np.any(result.scores) and not np.any(occluded.scores)
