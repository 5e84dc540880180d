"""trace(): exact capture for every family, the logit lens, MLP ratios, immutability, hooks, threads, bad input."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from torch import nn

from explainer.capture.encoding import MAX_TEXT_CHARS, InputError
from explainer.capture.tracing import Trace, trace
from explainer.models import GatePin, MarkerForce
from tests.conftest import CORPUS, FAMILIES, HIDDEN, LAYERS, MARKERS

TEXT = "The film is a quiet triumph, warm and funny from the first scene to the last."
ARRAY_FIELDS = [f.name for f in dataclasses.fields(Trace) if "np.ndarray" in str(f.type)]


def reference(bundle, text: str):
    """The model's own outputs for `text`, without trace(): the ground truth capture must reproduce."""
    encoded = bundle.tokenizer(
        text, truncation=True, max_length=bundle.max_length, return_offsets_mapping=True, return_tensors="pt"
    )
    offsets = encoded.pop("offset_mapping")[0].numpy()
    with torch.no_grad():
        out = bundle.model(**encoded, output_attentions=True, output_hidden_states=True)
    return encoded, offsets, out


def stack(per_layer) -> np.ndarray:
    return np.stack([t[0].numpy() for t in per_layer])


def assert_traces_equal(a: Trace, b: Trace) -> None:
    for item in dataclasses.fields(Trace):
        x, y = getattr(a, item.name), getattr(b, item.name)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            assert isinstance(x, np.ndarray) and isinstance(y, np.ndarray), item.name
            assert x.dtype == y.dtype and np.array_equal(x, y), item.name
        else:
            assert x == y, item.name


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


# --- exactness, every family ---------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_trace_reproduces_the_model_outputs_exactly(bundle, family):
    loaded = bundle(family)
    captured = trace(loaded, TEXT)
    encoded, offsets, out = reference(loaded, TEXT)
    length = encoded["input_ids"].shape[1]

    assert captured.architecture == loaded.model.config.model_type
    assert captured.model_name == loaded.name and captured.text == TEXT
    assert captured.attentions.shape == (LAYERS, 4, length, length)
    assert np.array_equal(captured.attentions, stack(out.attentions))
    assert captured.hidden_states.shape == (LAYERS + 1, length, HIDDEN)
    assert np.array_equal(captured.hidden_states, stack(out.hidden_states))
    assert np.array_equal(captured.logits, out.logits[0].numpy())
    assert np.allclose(captured.attentions.sum(-1), 1.0, atol=1e-5)

    assert captured.probabilities.shape == (2,)
    assert np.allclose(captured.probabilities, softmax(captured.logits), atol=1e-6)
    assert np.isclose(captured.probabilities.sum(), 1.0, atol=1e-6)
    assert captured.predicted == int(np.argmax(captured.logits))
    assert captured.label_names == ("neg", "pos")
    assert captured.predicted_label == ("neg", "pos")[captured.predicted]

    # Tokens and offsets are the tokenizer's own.
    ids = encoded["input_ids"][0].tolist()
    assert captured.tokens == tuple(loaded.tokenizer.convert_ids_to_tokens(ids))
    assert captured.tokens[0] == "[CLS]" and captured.tokens[-1] == "[SEP]"
    assert np.array_equal(captured.offsets, offsets)
    assert captured.special_tokens.tolist() == [t in ("[CLS]", "[SEP]") for t in captured.tokens]
    for token, (start, end), special in zip(captured.tokens, captured.offsets, captured.special_tokens):
        if special:
            assert (start, end) == (0, 0)
        else:
            assert 0 <= start < end <= len(TEXT)
            assert TEXT[start:end].lower() == token.removeprefix("##"), (token, TEXT[start:end])
    assert captured.num_text_tokens == length - 2 and not captured.truncated
    assert captured.max_length == loaded.max_length

    # Logit lens: one row per hidden state, the last one is the model's own prediction.
    assert captured.layer_logits.shape == (LAYERS + 1, 2)
    assert np.allclose(captured.layer_logits[-1], captured.logits, rtol=0, atol=1e-5)
    assert not np.allclose(captured.layer_logits[0], captured.layer_logits[-1], atol=1e-3)
    assert np.allclose(captured.layer_probabilities.sum(-1), 1.0)

    assert captured.mlp_update_ratio.shape == (LAYERS, length)
    assert np.isfinite(captured.mlp_update_ratio).all() and (captured.mlp_update_ratio > 0).all()

    if family == "ours":
        assert captured.thought_markers.shape == (LAYERS, length, MARKERS)
        assert np.array_equal(captured.thought_markers, stack(out.thought_markers))
        assert np.allclose(captured.thought_markers.sum(-1), 1.0, atol=1e-5)
        assert captured.marker_path.shape == (LAYERS, length)
        assert captured.beacon_gates.shape == (LAYERS, length)
        assert np.array_equal(captured.beacon_gates, stack(out.beacon_gates))
        assert captured.marker_contributions.shape == (LAYERS, length)
        assert captured.beacon_threshold == 0.0
    else:
        assert captured.thought_markers is None and captured.marker_path is None
        assert captured.beacon_gates is None and captured.marker_contributions is None
        assert captured.beacon_threshold is None
    if family in ("ours", "baseline"):
        assert np.array_equal(captured.mlp_update_ratio, stack(out.mlp_update_ratios))
    assert captured.forced_markers == () and captured.pinned_gates == ()
    assert captured.shapes()["attentions"] == [LAYERS, 4, length, length]


def _truncated_to(model: nn.Module, family: str, keep: int) -> nn.Module:
    """A copy of `model` that runs only its first `keep` layers."""
    short = copy.deepcopy(model)
    owner, attribute = {
        "ours": (lambda m: m, "layers"),
        "baseline": (lambda m: m, "layers"),
        "bert": (lambda m: m.bert.encoder, "layer"),
        "roberta": (lambda m: m.roberta.encoder, "layer"),
        "distilbert": (lambda m: m.distilbert.transformer, "layer"),
        "gpt2": (lambda m: m.transformer, "h"),
    }[family]
    container = owner(short)
    setattr(container, attribute, nn.ModuleList(list(getattr(container, attribute))[:keep]))
    return short


@pytest.mark.parametrize("family", FAMILIES)
def test_logit_lens_row_k_is_the_prediction_of_the_first_k_layers(bundle, family):
    """Independent of the lens code: cutting the model after k layers must predict layer_logits[k]."""
    loaded = bundle(family)
    captured = trace(loaded, CORPUS[3])
    encoded = loaded.tokenizer(CORPUS[3], return_tensors="pt")
    for keep in range(LAYERS + 1):
        with torch.no_grad():
            if keep == 0 and family in ("ours", "baseline"):  # our forward needs at least one layer
                logits = loaded.model.classify(loaded.model.embed(encoded["input_ids"]))[0].numpy()
            else:
                logits = _truncated_to(loaded.model, family, keep)(**encoded).logits[0].numpy()
        assert np.allclose(captured.layer_logits[keep], logits, rtol=1e-5, atol=1e-5), keep


# --- MLP update ratio ---------------------------------------------------------------------------------------


def test_bert_mlp_ratio_matches_a_manual_computation(bert_bundle):
    model = bert_bundle.model
    residuals, updates, handles = {}, {}, []
    for index, layer in enumerate(model.bert.encoder.layer):
        handles.append(
            layer.intermediate.register_forward_hook(
                lambda m, args, out, i=index: residuals.__setitem__(i, args[0][0].detach().clone())
            )
        )
        handles.append(
            layer.output.dense.register_forward_hook(
                lambda m, args, out, i=index: updates.__setitem__(i, out[0].detach().clone())
            )
        )
    try:
        encoded = bert_bundle.tokenizer(TEXT, return_tensors="pt")
        with torch.no_grad():
            out = model(**encoded, output_hidden_states=True)
    finally:
        for handle in handles:
            handle.remove()

    expected = np.stack([(updates[i].norm(dim=-1) / residuals[i].norm(dim=-1)).numpy() for i in range(LAYERS)])
    for index, layer in enumerate(model.bert.encoder.layer):
        # The pair really is (residual entering the MLP, MLP update): LN(update + residual) is the layer output.
        rebuilt = layer.output.LayerNorm(updates[index] + residuals[index])
        assert torch.allclose(rebuilt, out.hidden_states[index + 1][0], atol=1e-5)
    captured = trace(bert_bundle, TEXT)
    assert captured.mlp_update_ratio.shape == expected.shape
    assert np.allclose(captured.mlp_update_ratio, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("family", ["roberta", "distilbert", "gpt2"])
def test_other_families_mlp_ratio_reads_the_residual_and_the_update(bundle, family):
    """Rebuild each layer's output from an independent capture of the MLP block and check the ratio."""
    loaded = bundle(family)
    model = loaded.model
    blocks = {
        "roberta": lambda: [
            (layer.intermediate, layer.output.dense, layer.output.LayerNorm) for layer in model.roberta.encoder.layer
        ],
        "distilbert": lambda: [
            (layer.ffn, layer.ffn, layer.output_layer_norm) for layer in model.distilbert.transformer.layer
        ],
        "gpt2": lambda: [(block.ln_2, block.mlp, None) for block in model.transformer.h],
    }[family]()
    residuals, updates, handles = {}, {}, []
    for index, (reader, writer, _) in enumerate(blocks):
        handles.append(
            reader.register_forward_pre_hook(
                lambda m, args, i=index: residuals.__setitem__(i, args[0][0].detach().clone())
            )
        )
        handles.append(
            writer.register_forward_hook(lambda m, args, out, i=index: updates.__setitem__(i, out[0].detach().clone()))
        )
    try:
        encoded = loaded.tokenizer(TEXT, return_tensors="pt")
        with torch.no_grad():
            out = model(**encoded, output_hidden_states=True)
    finally:
        for handle in handles:
            handle.remove()
    captured = trace(loaded, TEXT)
    for index, (_, _, norm) in enumerate(blocks):
        following = out.hidden_states[index + 1][0]
        if norm is not None:  # post-LN: LN(residual + update) is the next hidden state
            assert torch.allclose(norm(residuals[index] + updates[index]), following, atol=1e-5)
        elif index < LAYERS - 1:  # GPT-2 pre-LN: residual + update (the last state also went through ln_f)
            assert torch.allclose(residuals[index] + updates[index], following, atol=1e-5)
        ratio = (updates[index].norm(dim=-1) / residuals[index].norm(dim=-1)).numpy()
        assert np.allclose(captured.mlp_update_ratio[index], ratio, rtol=1e-5, atol=1e-7)


# --- immutability -------------------------------------------------------------------------------------------


def _walk(value, path="trace", seen=None):
    """Yield (path, object) for everything reachable through fields, containers and NamedTuples."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return
    seen.add(id(value))
    yield path, value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            yield from _walk(getattr(value, item.name), f"{path}.{item.name}", seen)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}[{key!r}]", seen)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]", seen)


@pytest.fixture(scope="module")
def ours_trace(bundle) -> Trace:
    return trace(bundle("ours"), TEXT, forced_markers=[MarkerForce(1, (1,), 2)], pinned_gates=[GatePin(0, None, 1.0)])


def test_trace_fields_cannot_be_reassigned(ours_trace):
    with pytest.raises(dataclasses.FrozenInstanceError):
        ours_trace.text = "something else"
    with pytest.raises(dataclasses.FrozenInstanceError):
        ours_trace.attentions = np.zeros(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        del ours_trace.logits


@pytest.mark.parametrize("family", ["ours", "bert"])
def test_trace_arrays_are_read_only(bundle, family):
    captured = trace(bundle(family), TEXT)
    present = [name for name in ARRAY_FIELDS if getattr(captured, name) is not None]
    assert {
        "offsets",
        "special_tokens",
        "logits",
        "probabilities",
        "attentions",
        "hidden_states",
        "layer_logits",
        "mlp_update_ratio",
    } <= set(present)
    if family == "ours":
        assert {"thought_markers", "beacon_gates", "marker_contributions"} <= set(present)
    for name in present:
        array = getattr(captured, name)
        assert not array.flags.writeable, name
        with pytest.raises(ValueError, match="read-only"):
            array.reshape(-1)[0] = 1
        with pytest.raises(ValueError, match="read-only"):
            array += 1


def test_trace_pickles_round_trip_and_stays_read_only(ours_trace):
    restored = pickle.loads(pickle.dumps(ours_trace))
    assert restored is not ours_trace
    assert_traces_equal(restored, ours_trace)
    assert restored.forced_markers == (MarkerForce(1, (1,), 2),)
    assert isinstance(restored.forced_markers[0], MarkerForce)
    for name in ARRAY_FIELDS:
        array = getattr(restored, name)
        if array is not None:
            assert not array.flags.writeable, name
            with pytest.raises(ValueError):
                array.reshape(-1)[0] = 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        restored.text = "x"


def test_traces_compare_with_eq(ours_trace, ours_bundle):
    """Trace is a frozen dataclass, so it promises == (and hash); with array fields the generated
    __eq__ raises "truth value of an array is ambiguous" instead of answering."""
    restored = pickle.loads(pickle.dumps(ours_trace))
    assert restored == ours_trace
    assert trace(ours_bundle, CORPUS[4]) != ours_trace


def test_trace_holds_no_tensor_and_no_module(ours_trace, bundle):
    bert_trace = trace(bundle("bert"), TEXT)
    for captured in (ours_trace, bert_trace):
        for path, value in _walk(captured):
            assert not isinstance(value, (torch.Tensor, nn.Module, torch.nn.Parameter)), path
            assert value is not bundle("ours").model and value is not bundle("ours").tokenizer, path
            if isinstance(value, np.ndarray):
                assert value.dtype != object, path


def test_trace_arrays_do_not_keep_torch_tensors_alive(ours_trace):
    for name in ARRAY_FIELDS:
        array = getattr(ours_trace, name)
        base = array
        while isinstance(base, np.ndarray):
            base = base.base
        assert not isinstance(base, torch.Tensor), name


def test_trace_record_of_interventions_cannot_change_afterwards(ours_bundle):
    """The Trace is immutable: mutating the list the caller passed must not rewrite what it recorded."""
    positions = [1, 2]
    captured = trace(
        ours_bundle, TEXT, forced_markers=[MarkerForce(1, positions, 3)], pinned_gates=[GatePin(0, positions, 0.0)]
    )
    positions.append(5)
    assert list(captured.forced_markers[0].positions) == [1, 2]
    assert list(captured.pinned_gates[0].positions) == [1, 2]


# --- hooks never survive ------------------------------------------------------------------------------------


def hook_counts(model: nn.Module) -> dict[str, tuple[int, int, int, int]]:
    return {
        name: (
            len(module._forward_hooks),
            len(module._forward_pre_hooks),
            len(module._backward_hooks),
            len(getattr(module, "_backward_pre_hooks", {})),
        )
        for name, module in model.named_modules()
    }


def global_hook_counts() -> tuple[int, int]:
    from torch.nn.modules import module as torch_module

    return len(torch_module._global_forward_hooks), len(torch_module._global_forward_pre_hooks)


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("family", ["bert", "ours"])
def test_no_hook_survives_a_trace_or_an_exception(bundle, family):
    loaded = bundle(family)
    first = trace(loaded, TEXT)  # any lazy, permanent hooks of the library under us are installed by now
    baseline, global_baseline = hook_counts(loaded.model), global_hook_counts()

    # The library does hook the model while tracing (BERT: MLP probes)...
    during: list[int] = []
    deep = loaded.model.bert.encoder.layer[1].output.dense if family == "bert" else loaded.model.layers[1].mlp
    spy = deep.register_forward_pre_hook(lambda m, a: during.append(sum(map(sum, hook_counts(loaded.model).values()))))
    try:
        trace(loaded, TEXT)
    finally:
        spy.remove()
    extra = during[0] - 1 - sum(map(sum, baseline.values()))  # minus the spy itself
    assert extra == (2 * LAYERS if family == "bert" else 0)

    # ...and removes every hook after a normal run,
    assert_traces_equal(trace(loaded, TEXT), first)
    assert hook_counts(loaded.model) == baseline and global_hook_counts() == global_baseline

    # ...and after a forward pass that raises half way.
    def explode(module, args):
        raise Boom("mid-forward failure")

    handle = deep.register_forward_pre_hook(explode)
    try:
        with pytest.raises(Boom, match="mid-forward"):
            trace(loaded, TEXT)
    finally:
        handle.remove()
    assert hook_counts(loaded.model) == baseline and global_hook_counts() == global_baseline

    # The lock was released (another thread can take it) and tracing still works, unchanged.
    acquired = []
    probe = threading.Thread(
        target=lambda: acquired.append(loaded.lock.acquire(timeout=5) and (loaded.lock.release() or True))
    )
    probe.start()
    probe.join()
    assert acquired == [True]
    assert_traces_equal(trace(loaded, TEXT), first)


# --- threads ------------------------------------------------------------------------------------------------


def sixteen_texts() -> list[str]:
    """16 different inputs: short sentences and passages longer than the model reads (truncated)."""
    short = CORPUS[:8]
    long = [" ".join(CORPUS[i:] + CORPUS[:i]) for i in range(8)]  # hundreds of tokens each
    texts = [t for pair in zip(short, long) for t in pair]
    assert len(set(texts)) == 16
    return texts


@pytest.mark.parametrize("family", ["bert", "ours"])
def test_eight_threads_give_the_same_traces_as_a_serial_run(bundle, family):
    loaded = bundle(family)
    texts = sixteen_texts()
    serial = [trace(loaded, text) for text in texts]
    assert any(t.truncated for t in serial) and not all(t.truncated for t in serial)
    for _ in range(4):  # several rounds: races show up by chance
        with ThreadPoolExecutor(8) as pool:
            parallel = list(pool.map(lambda text: trace(loaded, text), texts))
        for expected, actual in zip(serial, parallel, strict=True):
            assert_traces_equal(actual, expected)


# --- bad and unusual input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["", " ", "   \n\t  \r\n", "\u00a0\u3000"], ids=["empty", "space", "whitespace", "unicode-space"]
)
def test_empty_or_blank_text_is_an_input_error(ours_bundle, text):
    with pytest.raises(InputError, match="empty"):
        trace(ours_bundle, text)


@pytest.mark.parametrize(
    "text",
    ["\u200b", "\u200b\u200d\ufeff\u2060", "\x00\x01\x7f", "\u0301"],
    ids=["zero-width-space", "zero-width-only", "control-only", "lone-combining-mark"],
)
def test_text_without_any_token_is_an_input_error(ours_bundle, text):
    """Invisible-only text passes the blank check but tokenises to nothing: the model would be asked to
    classify [CLS] [SEP] alone. That should be the same clear "empty" message, not a prediction."""
    with pytest.raises(InputError):
        trace(ours_bundle, text)


@pytest.mark.parametrize("value", [None, b"bytes are not text", 42, ["a list"]], ids=["none", "bytes", "int", "list"])
def test_non_string_is_an_input_error(ours_bundle, value):
    with pytest.raises(InputError, match="string"):
        trace(ours_bundle, value)


def test_text_over_the_character_limit_is_an_input_error(ours_bundle):
    with pytest.raises(InputError, match="limit"):
        trace(ours_bundle, "a" * (MAX_TEXT_CHARS + 1))


@pytest.mark.parametrize("family", FAMILIES)
def test_long_text_is_truncated_and_says_so(bundle, family):
    loaded = bundle(family)
    text = ("A gentle, honest little film that stays with you. " * 200)[:10_000]
    assert len(text) == 10_000
    captured = trace(loaded, text)
    assert captured.truncated is True
    assert len(captured.tokens) == loaded.max_length == captured.max_length
    assert captured.tokens[-1] == "[SEP]"
    assert captured.num_text_tokens > loaded.max_length
    assert captured.attentions.shape[-1] == loaded.max_length
    assert captured.offsets.max() <= len(text)
    assert np.isclose(captured.probabilities.sum(), 1.0, atol=1e-6)


def test_text_at_the_limit_is_not_truncated(ours_bundle):
    words = ["the"] * (ours_bundle.max_length - 2)
    # "the" is one token in the tiny vocabulary
    assert len(ours_bundle.tokenizer(" ".join(words), add_special_tokens=False)["input_ids"]) == len(words)
    captured = trace(ours_bundle, " ".join(words))
    assert not captured.truncated and len(captured.tokens) == ours_bundle.max_length
    assert captured.num_text_tokens == ours_bundle.max_length - 2
    assert trace(ours_bundle, " ".join(words + ["the"])).truncated


UNUSUAL = {
    "emoji": "Loved it 😀🎬👍🏽 best film 🍿",
    "arabic": "الفيلم رائع جدا but the ending was slow",
    "hebrew": "הסרט היה נהדר and the cast was great",
    "combining": "cafe\u0301 nai\u0308ve Zoe\u0308 film, a\u0300 la carte",
    "zero-width": "great\u200bfilm\u200c with\u200d joiners\ufeff and\u2060 marks",
    "html": "<script>alert(1)</script> <b>bold</b> film",
    "mixed-rtl": "\u202eevil override\u202c the film \u2067isolate\u2069",
}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", list(UNUSUAL))
def test_unusual_text_gives_a_correct_trace(bundle, family, kind):
    loaded = bundle(family)
    text = UNUSUAL[kind]
    captured = trace(loaded, text)
    encoded, offsets, out = reference(loaded, text)
    assert captured.text == text
    assert len(captured.tokens) == encoded["input_ids"].shape[1] > 2
    assert not captured.truncated
    assert (~captured.special_tokens).sum() == captured.num_text_tokens > 0
    assert np.isclose(captured.probabilities.sum(), 1.0, atol=1e-6)
    assert np.isfinite(captured.attentions).all() and np.isfinite(captured.hidden_states).all()
    assert np.array_equal(captured.attentions, stack(out.attentions))
    assert np.array_equal(captured.offsets, offsets)
    assert (captured.offsets >= 0).all() and (captured.offsets <= len(text)).all()
    assert (captured.offsets[:, 0] <= captured.offsets[:, 1]).all()
    for (start, end), special in zip(captured.offsets, captured.special_tokens):
        if not special:
            assert text[start:end].strip(), (start, end)


def test_html_is_kept_as_text(ours_bundle):
    text = UNUSUAL["html"]
    captured = trace(ours_bundle, text)
    assert captured.text == text
    assert not captured.truncated
    assert "<" in captured.tokens and "script" in "".join(t.removeprefix("##") for t in captured.tokens)


# --- forced markers and pinned gates through trace() --------------------------------------------------------


def test_forced_markers_are_recorded_and_take_effect(ours_bundle):
    free = trace(ours_bundle, TEXT)
    force = MarkerForce(layer=1, positions=[2, 3], marker=4)
    forced = trace(ours_bundle, TEXT, forced_markers=[force])
    assert forced.forced_markers == (MarkerForce(1, (2, 3), 4),)  # positions stored as a tuple
    assert forced.pinned_gates == ()
    one_hot = np.eye(MARKERS, dtype=np.float32)[4]
    for position in (2, 3):
        assert np.array_equal(forced.thought_markers[1, position], one_hot)
    others = [i for i in range(len(forced.tokens)) if i not in (2, 3)]
    assert np.array_equal(forced.thought_markers[1, others], free.thought_markers[1, others])
    assert np.array_equal(forced.thought_markers[0], free.thought_markers[0])
    assert forced.marker_path[1, 2] == 4


def test_an_intervention_alone_or_malformed_or_empty_is_read_or_refused_clearly(ours_bundle):
    """A MarkerForce passed alone was unpacked as three interventions (a bare TypeError), [[0]] was a ValueError of
    unpacking, and positions=[] changed nothing yet was recorded as a force."""
    alone = trace(ours_bundle, TEXT, forced_markers=MarkerForce(1, [2], 4), pinned_gates=GatePin(0, None, 1.0))
    assert alone.forced_markers == (MarkerForce(1, (2,), 4),) and alone.pinned_gates == (GatePin(0, None, 1.0),)
    listed = trace(ours_bundle, TEXT, forced_markers=[MarkerForce(1, [2], 4)], pinned_gates=[GatePin(0, None, 1.0)])
    assert alone == listed
    with pytest.raises(InputError, match=r"Each intervention is a MarkerForce\(layer, positions, marker\)"):
        trace(ours_bundle, TEXT, forced_markers=[[0]])
    with pytest.raises(InputError, match=r"Each intervention is a GatePin\(layer, positions, value\)"):
        trace(ours_bundle, TEXT, pinned_gates=[3])
    with pytest.raises(InputError, match="no positions would change nothing"):
        trace(ours_bundle, TEXT, forced_markers=[MarkerForce(0, [], 5)])


def test_pinned_gates_are_recorded_and_take_effect(ours_bundle):
    free = trace(ours_bundle, TEXT)
    pins = (GatePin(0, [1, 4], 0.0), GatePin(1, None, 1.0))
    pinned = trace(ours_bundle, TEXT, pinned_gates=pins)
    assert pinned.pinned_gates == (GatePin(0, (1, 4), 0.0), GatePin(1, None, 1.0)) and pinned.forced_markers == ()
    assert np.array_equal(pinned.beacon_gates[0, [1, 4]], [0.0, 0.0])
    assert np.array_equal(pinned.mlp_update_ratio[0, [1, 4]], [0.0, 0.0])  # gate 0: no MLP update at all
    assert np.array_equal(pinned.beacon_gates[1], np.ones(len(pinned.tokens), dtype=np.float32))
    assert not np.allclose(pinned.hidden_states[1], free.hidden_states[1])
    assert not np.array_equal(pinned.logits, free.logits)


def test_beacon_threshold_is_recorded_and_skips(ours_bundle):
    free = trace(ours_bundle, TEXT)
    tau = float(np.median(free.beacon_gates[0]))
    skipped = trace(ours_bundle, TEXT, beacon_threshold=tau)
    assert skipped.beacon_threshold == tau and free.beacon_threshold == 0.0
    below = skipped.beacon_gates < tau
    assert below.any()
    assert (skipped.mlp_update_ratio[below] == 0).all() and (skipped.mlp_update_ratio[~below] > 0).all()


@pytest.mark.parametrize(
    "options",
    [
        {"forced_markers": [MarkerForce(0, [1], 0)]},
        {"pinned_gates": [GatePin(0, [1], 0.0)]},
        {"beacon_threshold": 0.5},
    ],
    ids=["force", "pin", "threshold"],
)
def test_interventions_on_a_bert_bundle_are_input_errors(bert_bundle, options):
    with pytest.raises(InputError, match="ThoughtBeacon"):
        trace(bert_bundle, TEXT, **options)


def test_interventions_on_the_baseline_twin_are_input_errors(bundle):
    baseline = bundle("baseline")
    with pytest.raises(InputError, match="marker"):
        trace(baseline, TEXT, forced_markers=[MarkerForce(0, [1], 0)])
    with pytest.raises(InputError, match="beacon"):
        trace(baseline, TEXT, pinned_gates=[GatePin(0, [1], 0.0)])


OUT_OF_RANGE = {  # length -> trace() options; `length` is the number of tokens of TEXT
    "force-past-end": lambda n: {"forced_markers": [MarkerForce(0, [999], 0)]},
    "force-negative": lambda n: {"forced_markers": [MarkerForce(0, [-1], 0)]},
    "force-at-length": lambda n: {"forced_markers": [MarkerForce(0, [1, n], 0)]},
    "pin-past-end": lambda n: {"pinned_gates": [GatePin(1, [999], 1.0)]},
    "pin-negative": lambda n: {"pinned_gates": [GatePin(1, [-2], 1.0)]},
    "pin-at-length": lambda n: {"pinned_gates": [GatePin(1, [n], 0.0)]},
    "force-bad-layer": lambda n: {"forced_markers": [MarkerForce(LAYERS, [1], 0)]},
    "pin-bad-layer": lambda n: {"pinned_gates": [GatePin(-1, None, 0.0)]},
    "bad-marker": lambda n: {"forced_markers": [MarkerForce(0, [1], MARKERS)]},
    "negative-marker": lambda n: {"forced_markers": [MarkerForce(0, [1], -1)]},
}


@pytest.mark.parametrize("case", list(OUT_OF_RANGE))
def test_out_of_range_interventions_are_input_errors(ours_bundle, case):
    length = len(ours_bundle.tokenizer(TEXT)["input_ids"])
    trace(ours_bundle, TEXT, forced_markers=[MarkerForce(0, [length - 1], 0)])  # the last slot is fine
    with pytest.raises(InputError):
        trace(ours_bundle, TEXT, **OUT_OF_RANGE[case](length))


@pytest.mark.parametrize(
    "options",
    [
        {"pinned_gates": [GatePin(0, None, 2.0)]},
        {"pinned_gates": [GatePin(0, None, -0.5)]},
        {"pinned_gates": [GatePin(0, None, float("nan"))]},
        {"forced_markers": [MarkerForce(0, [1], 2.5)]},
        {"forced_markers": [MarkerForce(0, 3, 1)]},
        {"beacon_threshold": float("nan")},
    ],
    ids=["gate-above-1", "gate-below-0", "gate-nan", "marker-not-int", "positions-not-a-list", "tau-nan"],
)
def test_malformed_interventions_are_input_errors(ours_bundle, options):
    """Gates live in [0, 1] (Trace.beacon_gates says so), markers and positions are integers: anything else
    should be refused with an InputError, not crash deep in the model or yield NaN probabilities."""
    with pytest.raises(InputError):
        trace(ours_bundle, TEXT, **options)


def test_a_result_s_repr_is_short_enough_to_read(ours_bundle):
    """The dataclass repr of a Trace was 43 KB (every array in full); a ModelBundle's was the module tree."""
    captured = trace(ours_bundle, TEXT * 20)
    shown = repr(captured)
    assert len(shown) < 2000 and shown.startswith("Trace(model_name=")
    assert f"attentions=array(shape={captured.attentions.shape}, dtype=float32)" in shown
    assert f"({len(captured.text):,} characters)" in shown and f"{len(captured.tokens):,} items)" in shown
    assert "predicted=" in shown and "beacon_threshold=" in shown
    bundle_shown = repr(ours_bundle)
    assert len(bundle_shown) < 500 and "label_names=" in bundle_shown and "Linear(" not in bundle_shown
