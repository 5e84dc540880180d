"""Every view and command on every family of the per-architecture table (explainer/families.py), each a tiny
model built from a config, saved and loaded through `load_model` like a user's folder: attention exact against
Hugging Face's `output_attentions` and against its own context (A @ V), the logit lens ending at the logits,
integrated gradients complete within their delta, the attribution graph complete and on paths to the
prediction, head matching, hooks removed after success and failure, eight threads equal to one. And a family the
table does not know: it loads and shows attention, and says what is missing and how to add it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn
from transformers import AutoModelForSequenceClassification, MegatronBertConfig, MegatronBertForSequenceClassification

from explainer import trace
from explainer.attribution import REGISTRY, AttributionOptions, attribute, attribute_all
from explainer.attribution.attributing import UNRELIABLE
from explainer.attribution.graph import GraphUnsupported, attention_attribution, build_graph
from explainer.capture import layer_hooks
from explainer.cli import attribute as attribute_command
from explainer.cli import trace as trace_command
from explainer.evaluation.compare import compare_text
from explainer.families import family_of
from explainer.loading.bundle import load_model
from tests.conftest import GQA_KV_HEADS, HEADS, HIDDEN, LAYERS, MORE_FAMILIES, VOCAB, save_checkpoint

# One model of each table entry, and an ALBERT whose layer runs a group of two (inner_group_num 2).
CASES = ("ours", "bert", "distilbert", "roberta", "gpt2", *MORE_FAMILIES, "albert-groups")
TEXT = "The film is a quiet triumph, warm and funny."
OPTIONS = AttributionOptions(samples=16, conductance_steps=4)
HEAD_DIM = HIDDEN // HEADS


def _split_heads(v: torch.Tensor, heads: int = HEADS) -> torch.Tensor:  # [B, T, H * dh] -> [B, T, H, dh]
    return v.view(*v.shape[:2], heads, -1)  # dh from the width: Qwen3's and Gemma's heads are wider than HIDDEN / H


def _third_of_fused(v: torch.Tensor) -> torch.Tensor:  # fused [B, T, 3 * H * dh] (q, k, v) -> v [B, T, H, dh]
    return v.view(*v.shape[:2], 3, HEADS, -1)[:, :, 2]


def _gpt2_value(v: torch.Tensor) -> torch.Tensor:  # c_attn: q, k, v side by side
    return _split_heads(v.split(HIDDEN, dim=-1)[2])


def _grouped(v: torch.Tensor) -> torch.Tensor:  # grouped-query: each key/value head serves HEADS / kv query heads
    return _split_heads(v, GQA_KV_HEADS).repeat_interleave(HEADS // GQA_KV_HEADS, dim=2)


def _phi3_value(v: torch.Tensor) -> torch.Tensor:  # qkv_proj: H query heads, then kv key heads, then kv value heads
    heads = _split_heads(v, HEADS + 2 * GQA_KV_HEADS)
    return heads[:, :, HEADS + GQA_KV_HEADS :].repeat_interleave(HEADS // GQA_KV_HEADS, dim=2)


def _deberta_value(v: torch.Tensor) -> torch.Tensor:  # in_proj: per head q, k, v side by side
    return v.view(*v.shape[:2], HEADS, 3, -1)[:, :, :, 2]


_BERT_VALUE = (lambda block: block.attention.self.value, _split_heads)
_LLAMA_VALUE = (lambda block: block.self_attn.v_proj, _grouped)
# Test-side knowledge (not the library's): where each family computes V, and how to lay it out [B, T, H, dh].
VALUES: dict[str, tuple[Callable[[nn.Module], nn.Module], Callable[[torch.Tensor], torch.Tensor]]] = {
    "thought_beacon": (lambda block: block.attn.qkv, _third_of_fused),
    "bert": _BERT_VALUE,
    "roberta": _BERT_VALUE,
    "xlm-roberta": _BERT_VALUE,
    "electra": _BERT_VALUE,
    "distilbert": (lambda block: block.attention.v_lin, _split_heads),
    "gpt2": (lambda block: block.attn.c_attn, _gpt2_value),
    "deberta-v2": (lambda block: block.attention.self.value_proj, _split_heads),
    "modernbert": (lambda block: block.attn.Wqkv, _third_of_fused),
    "albert": (lambda block: block.attention.value, _split_heads),
    "llama": _LLAMA_VALUE,
    "qwen2": _LLAMA_VALUE,
    "mistral": _LLAMA_VALUE,
    "qwen3": _LLAMA_VALUE,
    "gemma": _LLAMA_VALUE,
    "gemma2": _LLAMA_VALUE,
    "phi3": (lambda block: block.self_attn.qkv_proj, _phi3_value),
    "mpnet": (lambda block: block.attention.attn.v, _split_heads),
    "deberta": (lambda block: block.attention.self.in_proj, _deberta_value),
}
# A value bias added after the projection (DeBERTa v1), [H * dh].
VALUE_BIAS: dict[str, Callable[[nn.Module], torch.Tensor]] = {"deberta": lambda block: block.attention.self.v_bias}


def hook_counts(model: nn.Module) -> list[int]:
    return [len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules()]


def ids_of(loaded, text: str = TEXT) -> torch.Tensor:
    return loaded.tokenizer(text, return_tensors="pt")["input_ids"]


def extra_of(loaded) -> dict:
    return {"beacon_threshold": 0.0} if loaded.architecture == "thought_beacon" else {}


@pytest.fixture(scope="module", params=CASES)
def case(request, bundle, checkpoint):
    """(family name, the loaded bundle, its folder)."""
    return request.param, bundle(request.param), checkpoint(request.param)


def test_attention_is_exact_and_per_query_head(case):
    name, loaded, folder = case
    assert loaded.model.config._attn_implementation == "eager"
    result = trace(loaded, TEXT)
    ids = ids_of(loaded)
    assert result.attentions.shape == (LAYERS, HEADS, ids.shape[1], ids.shape[1])  # one map per query head
    # Hugging Face's own output_attentions, on an independently loaded copy of the folder.
    reference = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="eager").eval()
    family = family_of(reference)
    value_of, layout = VALUES[reference.config.model_type]
    blocks = family.blocks(reference)
    values: dict[int, torch.Tensor] = {}
    contexts: dict[int, torch.Tensor] = {}
    with (
        torch.no_grad(),
        layer_hooks.forward_hooks([value_of(b) for b in blocks], lambda i, m, a, o: values.__setitem__(i, o)),
        layer_hooks.forward_pre_hooks(
            family.attention_outputs(reference), lambda i, m, a: contexts.__setitem__(i, a[0])
        ),
    ):
        out = reference(input_ids=ids, output_attentions=True, **extra_of(loaded))
    np.testing.assert_allclose(result.attentions, torch.stack([a[0] for a in out.attentions]).numpy(), atol=1e-6)
    for layer, attention in enumerate(out.attentions):  # ground truth: the maps are what mixes the values
        value = layout(values[layer])
        if (bias := VALUE_BIAS.get(reference.config.model_type)) is not None:
            value = value + bias(blocks[layer]).view(HEADS, HEAD_DIM)
        mixed = torch.einsum("bhij,bjhd->bihd", attention, value).flatten(2)
        torch.testing.assert_close(mixed, contexts[layer], atol=1e-5, rtol=1e-4)
    config = loaded.model.config
    if getattr(config, "num_key_value_heads", HEADS) < HEADS:  # GQA: heads sharing keys still differ
        assert not np.allclose(result.attentions[:, 0], result.attentions[:, 1])
    if family.readout == "last":  # decoders attend only backwards
        assert np.allclose(np.triu(result.attentions, k=1), 0)
    if name == "modernbert":  # layer 0 global, layer 1 local: a window of 2 tokens each side
        distance = np.abs(np.subtract.outer(np.arange(ids.shape[1]), np.arange(ids.shape[1])))
        assert (result.attentions[0][:, distance > 2] > 0).all()
        assert (result.attentions[1][:, distance > 2] == 0).all() and (result.attentions[1][:, distance <= 2] > 0).all()


def test_logit_lens_ends_at_the_logits_and_mlp_ratio_is_measured(case):
    _, loaded, _ = case
    result = trace(loaded, TEXT)
    tokens = len(result.tokens)
    assert result.layer_logits is not None and result.layer_logits.shape == (LAYERS + 1, 2)
    np.testing.assert_allclose(result.layer_logits[-1], result.logits, atol=1e-5, rtol=1e-5)
    assert not np.allclose(result.layer_logits[0], result.layer_logits[-1])  # the lens moves across layers
    assert result.hidden_states.shape == (LAYERS + 1, tokens, HIDDEN)
    assert result.mlp_update_ratio is not None and result.mlp_update_ratio.shape == (LAYERS, tokens)
    assert np.isfinite(result.mlp_update_ratio).all() and (result.mlp_update_ratio > 0).all()
    assert result.notes == ()


def test_integrated_gradients_are_complete_within_their_delta(case):
    _, loaded, _ = case
    result = attribute(loaded, TEXT, "integrated_gradients")
    ids = ids_of(loaded)
    base = ids.clone()
    base[0, ~torch.tensor(result.special_tokens)] = loaded.tokenizer.pad_token_id
    # Through the embeddings, as attribution runs: RoBERTa-style models would otherwise skip pad positions.
    with torch.no_grad():
        embeds = loaded.model.get_input_embeddings()(torch.cat([ids, base]))
        logits = loaded.model(inputs_embeds=embeds, **extra_of(loaded)).logits[:, result.target]
    gap = float(logits[0] - logits[1])
    assert result.logit_gap == pytest.approx(gap, abs=1e-4)
    assert abs(result.scores.sum() - gap) <= abs(result.convergence_delta) + 1e-4
    assert result.relative_delta <= 0.01


def test_integrated_gradients_say_when_a_zero_baseline_defeats_them(bundle):
    """Gemma 2 norms the residual's updates again before adding them, so on the path from all-zero embeddings
    nearly the whole change happens at alpha ~ 0: the adaptive rule runs out of steps and must say so."""
    result = attribute(bundle("gemma2"), TEXT, "integrated_gradients", options=AttributionOptions(baseline="zero"))
    assert result.relative_delta > 0.01 and result.steps >= 255
    assert any(UNRELIABLE in note and "has not converged" in note for note in result.notes), result.notes


def test_every_attribution_method_runs(case):
    _, loaded, _ = case
    results = attribute_all(loaded, TEXT, options=OPTIONS)
    tokens = len(ids_of(loaded)[0])
    for method, result in results.items():
        assert result.scores.shape == (tokens,) and np.isfinite(result.scores).all(), method
        if not REGISTRY[method].signed:
            assert (result.scores >= 0).all(), method
    layers = results["layer_conductance"].layer_scores
    assert layers.shape == (LAYERS + 1, tokens)
    gap = results["layer_conductance"].logit_gap
    assert np.abs(layers.sum(axis=1) - gap).max() <= abs(results["layer_conductance"].convergence_delta) + 1e-4


def zeroed_logit(loaded, layer: int, label: int) -> float:
    """F with layer `layer`'s merged attention context zeroed, hooked here independently of the graph's code."""
    projections = family_of(loaded.model).attention_outputs(loaded.model)

    def zero(index: int, module: nn.Module, args: tuple) -> tuple | None:
        return (torch.zeros_like(args[0]), *args[1:]) if index == layer else None

    with loaded.lock, torch.no_grad(), layer_hooks.forward_pre_hooks(projections, zero):
        return float(loaded.model(input_ids=ids_of(loaded), **extra_of(loaded)).logits[0, label])


def test_attribution_graph_is_complete_and_on_paths_to_the_prediction(case):
    name, loaded, _ = case
    result = attention_attribution(loaded, TEXT, steps=64)  # Gemma's first layer needs 64 intervals
    tokens = len(result.tokens)
    assert result.scores.shape == (LAYERS, HEADS, tokens, tokens)
    family = family_of(loaded.model)
    assert result.readout == (tokens - 1 if family.readout == "last" else 0)
    for layer in range(LAYERS):
        assert result.zeroed_logits[layer] == pytest.approx(zeroed_logit(loaded, layer, result.target), abs=1e-4)
    unreliable = [note for note in result.notes if UNRELIABLE in note]
    if name == "gemma2":
        # Gemma 2 norms each attention output before adding it (RMSNorm(alpha y) = RMSNorm(y) for all but the
        # smallest alpha), so the effect of scaling the attention sits at alpha ~ 0: no rule of 64 intervals
        # finds it, and the graph says so instead of drawing edges as if it had.
        assert (result.relative_deltas[0] >= 0.02) and unreliable and "layer 0:" in unreliable[0], result.notes
    else:
        assert (result.relative_deltas < 0.02).all() and not unreliable, result.relative_deltas
    for threshold in (0.0, 0.3):
        graph = build_graph(result, threshold)
        assert graph.prediction == (LAYERS, result.readout) and graph.edges
        upward: dict = {}
        for edge in graph.edges:
            upward.setdefault(edge.source, set()).add(edge.target)

        def reaches(node, upward=upward, goal=graph.prediction) -> bool:
            return node == goal or any(reaches(n) for n in upward.get(node, ()))

        for edge in graph.edges:
            assert edge.target[0] == edge.source[0] + 1 and reaches(edge.target), edge
            assert edge.relative >= threshold - 1e-9 and edge.weight > 0


class Boom(RuntimeError):
    pass


RUNS: dict[str, Callable] = {
    "trace": lambda loaded: trace(loaded, TEXT),
    "graph": lambda loaded: attention_attribution(loaded, TEXT, steps=2),
    "integrated_gradients": lambda loaded: attribute(loaded, TEXT, "integrated_gradients", options=OPTIONS),
}


@pytest.mark.parametrize("run", RUNS)
def test_hooks_are_removed_after_success_and_after_an_exception(case, run):
    _, loaded, _ = case
    model = loaded.model
    before = hook_counts(model)
    RUNS[run](loaded)
    assert hook_counts(model) == before

    calls: list[int] = []
    passes = 0 if run == "trace" else 1  # graph and IG first predict; fail inside the method's own passes

    def explode(module, args):
        calls.append(1)
        if len(calls) > passes:
            raise Boom("mid-forward failure")

    handle = family_of(model).classifier(model).register_forward_pre_hook(explode)
    try:
        with pytest.raises(Boom):
            RUNS[run](loaded)
    finally:
        handle.remove()
    assert hook_counts(model) == before
    assert loaded.lock.acquire(timeout=2)
    loaded.lock.release()


def test_eight_threads_equal_serial(case):
    _, loaded, _ = case
    texts = [f"{TEXT} {word}" for word in ("warm", "dull", "funny", "slow", "bold", "thin", "fresh", "empty")]

    def work(text: str) -> tuple:
        return trace(loaded, text), attention_attribution(loaded, text, steps=2).scores

    serial = [work(text) for text in texts]
    parallel: list = [None] * len(texts)

    def run(index: int) -> None:
        parallel[index] = work(texts[index])

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for (trace_a, scores_a), (trace_b, scores_b) in zip(serial, parallel):
        assert trace_a == trace_b
        np.testing.assert_array_equal(scores_a, scores_b)


def test_compare_matches_heads(case, bundle):
    _, loaded, _ = case
    itself = compare_text(loaded, loaded, TEXT)
    assert itself.level == "token" and len(itself.matching.pairs) == LAYERS * HEADS
    for pair in itself.matching.pairs:  # identical models: every head pairs with itself
        assert (pair.layer_a, pair.head_a) == (pair.layer_b, pair.head_b)
        assert pair.similarity == pytest.approx(1.0, abs=1e-6)
    other = compare_text(loaded, bundle("bert"), TEXT, by_layer=True)
    assert other.matching.similarity.shape == (LAYERS * HEADS, LAYERS * HEADS)
    assert len(other.matching.pairs) == LAYERS * HEADS
    assert all(p.layer_a == p.layer_b for p in other.matching.pairs)


@pytest.fixture(scope="module")
def unknown(tmp_path_factory, tokenizer):
    """A classifier of a family the table does not list (Megatron-BERT), saved as a user's folder."""
    torch.manual_seed(0)
    config = MegatronBertConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=37,
        max_position_embeddings=64,
        pad_token_id=0,
        id2label={0: "neg", 1: "pos"},
        label2id={"neg": 0, "pos": 1},
    )
    folder = save_checkpoint(
        MegatronBertForSequenceClassification(config).eval(), tokenizer, tmp_path_factory.mktemp("unknown")
    )
    return load_model(folder, device="cpu")


def test_a_family_the_table_does_not_know_loads_shows_attention_and_says_what_is_missing(unknown):
    assert unknown.architecture == "megatron-bert" and family_of(unknown.model).layers is None
    result = trace(unknown, TEXT)
    tokens = len(result.tokens)
    assert result.attentions.shape == (LAYERS, HEADS, tokens, tokens)
    np.testing.assert_allclose(result.attentions.sum(-1), 1.0, atol=1e-5)
    assert result.hidden_states.shape == (LAYERS + 1, tokens, HIDDEN)
    assert result.layer_logits is None and result.mlp_update_ratio is None
    (note,) = result.notes
    assert "'megatron-bert'" in note and "explainer/families.py" in note and "How to add a model family" in note
    with pytest.raises(GraphUnsupported, match="megatron-bert.*explainer/families.py"):
        attention_attribution(unknown, TEXT)
    ig = attribute(unknown, TEXT, "integrated_gradients")  # methods on the embeddings need no table
    assert ig.scores.shape == (tokens,) and np.isfinite(ig.scores).all()


@pytest.mark.parametrize("name", ["albert", "qwen3"])
def test_the_commands_trace_and_draw_the_graph(name, checkpoint, capsys):
    folder = str(checkpoint(name))
    trace_command.main(["--model", folder, "--text", TEXT])
    shapes = json.loads(capsys.readouterr().out)["shapes"]
    assert shapes["layer_logits"] == [LAYERS + 1, 2] and shapes["mlp_update_ratio"][0] == LAYERS
    attribute_command.main(["--model", folder, "--text", TEXT, "--method", "graph", "--steps", "4"])
    graph = json.loads(capsys.readouterr().out)
    assert graph["edges"] and graph["prediction"].startswith(f"{LAYERS}:")


def test_the_graph_command_names_the_missing_family(unknown, capsys):
    with pytest.raises(SystemExit) as exit_info:
        attribute_command.main(["--model", unknown.name, "--text", TEXT, "--method", "graph"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "'megatron-bert'" in error and "explainer/families.py" in error and "Traceback" not in error


def test_the_views_and_the_trace_command_say_which_family_is_missing(unknown, capsys):
    from explainer.views import attention_page

    page = attention_page.build(trace(unknown, TEXT), attention_page.AttentionOptions())
    assert "logit_lens" not in page.figures and "'megatron-bert'" in page.notes["logit_lens"]
    trace_command.main(["--model", unknown.name, "--text", TEXT])
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert len(notes) == 1 and "explainer/families.py" in notes[0]
