"""load_model: every family loads ready for capture; every broken or unsafe checkpoint is a ModelLoadError."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from transformers import BertForMaskedLM, BertModel

from explainer.capture.tracing import trace
from explainer.data import disk_cache
from explainer.loading import shipped
from explainer.loading.bundle import ModelBundle, ModelLoadError, load_model
from tests.conftest import CORPUS, FAMILIES, LAYERS, MAX_POSITIONS, build_model, save_checkpoint, tiny_config


def copy_checkpoint(checkpoint, family: str, target):
    return shutil.copytree(checkpoint(family), target)


# --- every family -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_loads_ready_for_capture(bundle, checkpoint, family):
    loaded = bundle(family)
    assert isinstance(loaded, ModelBundle)
    assert loaded.name == str(checkpoint(family))
    assert loaded.label_names == ("neg", "pos")
    assert loaded.device == torch.device("cpu") and loaded.device_label == "CPU"
    assert next(loaded.model.parameters()).device.type == "cpu"
    assert loaded.model.config._attn_implementation == "eager"
    assert not loaded.model.training
    assert loaded.untrained is False
    assert loaded.tokenizer.is_fast
    assert loaded.tokenizer.pad_token_id == 0
    config = loaded.model.config
    assert loaded.architecture == config.model_type
    expected_type = {"ours": "thought_beacon", "baseline": "thought_beacon"}.get(family, family)
    assert config.model_type == expected_type
    if family == "roberta":
        assert loaded.max_length == config.max_position_embeddings - config.pad_token_id - 1 == MAX_POSITIONS + 1
    else:
        assert loaded.max_length == MAX_POSITIONS
    # The longest input allowed really runs (position embeddings suffice).
    encoded = loaded.tokenizer(" ".join(CORPUS), truncation=True, max_length=loaded.max_length, return_tensors="pt")
    assert encoded["input_ids"].shape[1] == loaded.max_length
    with torch.no_grad():
        out = loaded.model(**encoded, output_attentions=True)
    assert len(out.attentions) == LAYERS


def test_explicit_device_is_used(checkpoint):
    loaded = load_model(str(checkpoint("bert")), device=torch.device("cpu"))
    assert loaded.device.type == "cpu"


def test_a_device_this_torch_cannot_use_is_a_model_load_error(checkpoint):
    """device="bogus" raised torch's RuntimeError listing every device type, "cuda" on a CPU-only torch (or "xpu")
    an AssertionError after the weights were read, and "meta" loaded a model holding no numbers; the README says
    every failure is a ModelLoadError."""
    devices = ["bogus", "meta", f"cuda:{torch.cuda.device_count()}"]  # one past the last GPU: "cuda:0" on a CPU
    devices += [] if torch.backends.mps.is_available() else ["mps"]
    devices += [] if hasattr(torch, "xpu") and torch.xpu.is_available() else ["xpu"]
    for device in devices:
        with pytest.raises(ModelLoadError, match=f"Device '{device}' is not one this machine can use"):
            load_model(str(checkpoint("bert")), device=device)
    assert load_model(str(checkpoint("bert")), device="cpu:3").device == torch.device("cpu")


# --- broken and unsafe checkpoints --------------------------------------------------------------------------


def test_missing_path_names_the_path(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelLoadError) as error:
        load_model(missing)
    assert str(missing) in str(error.value)
    with pytest.raises(ModelLoadError, match="no-such-model"):
        load_model(str(missing))


def test_an_empty_name_or_a_non_name_is_refused():
    for empty in ("", "  "):  # "" read the current folder: ". has no config.json"
        with pytest.raises(ModelLoadError, match="^No model given"):
            load_model(empty)
    with pytest.raises(TypeError, match="not int"):  # 3 was looked up as the model '3'
        load_model(3)


def test_unknown_hub_id_offline_is_a_load_error_naming_it(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # never try the network from tests
    with pytest.raises(ModelLoadError, match="nobody-here/no-such-classifier"):
        load_model("nobody-here/no-such-classifier")
    with pytest.raises(ModelLoadError) as typo:  # a mistyped shipped name: the names are said, no dead end
        load_model("sst2-basline")
    assert f"not a shipped model ({', '.join(m.name for m in shipped.SHIPPED)})" in str(typo.value)
    assert "sst2-baseline" in str(typo.value)


def test_folder_without_config_is_refused(tmp_path, tokenizer):
    folder = tmp_path / "no-config"
    folder.mkdir()
    tokenizer.save_pretrained(folder)
    with pytest.raises(ModelLoadError, match="config.json"):
        load_model(folder)


def test_folder_without_weights_is_refused(tmp_path, checkpoint):
    folder = copy_checkpoint(checkpoint, "bert", tmp_path / "no-weights")
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="weights"):
        load_model(folder)


@pytest.mark.parametrize("content", ["{ not json", ""])
def test_unreadable_config_is_named_as_such(tmp_path, checkpoint, content):
    folder = copy_checkpoint(checkpoint, "bert", tmp_path / "bad-config")
    (folder / "config.json").write_text(content)
    with pytest.raises(ModelLoadError, match="config of .* cannot be read") as error:
        load_model(folder)
    assert "Could not find" not in str(error.value)  # the folder is there: not a missing model


@pytest.mark.parametrize("family", ["bert", "ours"])
def test_folder_without_tokenizer_files_is_refused(tmp_path, checkpoint, family):
    folder = copy_checkpoint(checkpoint, family, tmp_path / "no-tokenizer")
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)
    assert not any(path.name.startswith(("tokenizer", "vocab")) for path in folder.iterdir())
    with pytest.raises(ModelLoadError, match="(?i)no tokenizer files .*save the tokenizer beside the model") as error:
        load_model(folder)
    assert "\n" not in str(error.value)  # one line, not transformers' numbered list of backends


def test_a_tokenizer_of_special_tokens_alone_is_refused_as_such(tmp_path, checkpoint):
    """Its files are there (it was said to have none): every word would be [UNK]."""
    from transformers import BertTokenizerFast

    folder = copy_checkpoint(checkpoint, "bert", tmp_path / "specials-only")
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    BertTokenizerFast(vocab={token: i for i, token in enumerate(specials)}).save_pretrained(folder)
    with pytest.raises(ModelLoadError, match="vocabulary is only special tokens: every word would read as the unknown "
                                             "token. Save the tokenizer beside the model"):
        load_model(folder)


def _pickle_only_checkpoint(tmp_path, tokenizer):
    model = build_model("bert")
    folder = tmp_path / "pickle-only"
    folder.mkdir()
    model.config.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")  # what save_pretrained(safe_serialization=False) wrote
    tokenizer.save_pretrained(folder)
    return model, folder


def test_pickle_weights_are_refused_unless_allowed(tmp_path, tokenizer, encode):
    model, folder = _pickle_only_checkpoint(tmp_path, tokenizer)
    assert not (folder / "model.safetensors").exists()
    with pytest.raises(ModelLoadError, match="(?i)pickle") as error:
        load_model(folder)
    assert "allow_pickle" in str(error.value)

    loaded = load_model(folder, allow_pickle=True, device="cpu")
    assert loaded.label_names == ("neg", "pos")
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key
    inputs = encode(CORPUS[1])
    with torch.no_grad():
        assert torch.allclose(loaded.model(**inputs).logits, model(**inputs).logits, atol=1e-6)


class Payload:  # unpickling it would call print: torch's weights_only loader refuses it
    def __reduce__(self):
        return (print, ("pickle code ran",))


def test_pickle_weights_holding_more_than_tensors_are_one_line_even_when_allowed(tmp_path, tokenizer):
    _, folder = _pickle_only_checkpoint(tmp_path, tokenizer)
    torch.save({"payload": Payload()}, folder / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="hold more than tensors") as error:
        load_model(folder, allow_pickle=True)
    assert "\n" not in str(error.value) and "weights_only" not in str(error.value)


def test_weights_of_other_shapes_than_the_config_are_named(tmp_path, checkpoint):
    folder = copy_checkpoint(checkpoint, "bert", tmp_path / "shapes")
    config = json.loads((folder / "config.json").read_text())
    config["intermediate_size"] += 16
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError) as error:
        load_model(folder)
    said = str(error.value)
    assert "do not fit its config.json" in said and "intermediate.dense" in said and "in the file" in said
    assert "\n" not in said and "above" not in said


def test_a_token_the_model_cannot_embed_is_refused_where_it_is_used(tmp_path, checkpoint):
    from transformers import AutoTokenizer

    from explainer.capture.encoding import InputError, encode
    from explainer.causal.ablation import reference_texts
    from explainer.evaluation.predict import predict

    folder = copy_checkpoint(checkpoint, "bert", tmp_path / "added")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    known = tokenizer.get_vocab()
    rare = next(word for text in reference_texts(None) for word in text.lower().split() if word.isalpha()
                and word not in known)  # a challenge-set word the tiny vocabulary lacks: mean ablation's reference
    # without resizing the model's embeddings; the load's and the causal tools' own probes ("attention check",
    # "causal probe text") meet the added words
    tokenizer.add_tokens(["<movie>", "causal", "attention", rare])
    tokenizer.save_pretrained(folder)
    loaded = load_model(folder)  # most texts never meet the added token
    # the added words change nothing for a text without them: the same logits as the checkpoint as it was shipped
    plain = load_model(checkpoint("bert"))
    np.testing.assert_allclose(trace(loaded, "a fine film").logits, trace(plain, "a fine film").logits, atol=1e-6)
    # nor do the causal tools' own probe of the model's layout ("causal probe text"): an IndexError on every text
    from explainer.causal import ablate_heads, patch

    ablated = ablate_heads(loaded, "a fine film")  # mean ablation over the challenge set, some saying `rare`
    assert ablated.heads.shape[0] >= 1 and 0 < ablated.reference_size < len(reference_texts(None))
    assert abs(patch(loaded, "a fine film", "a dull film").nothing_patched) < 1e-4
    for run in (lambda: encode(loaded, "a fine <movie> film"), lambda: predict(loaded, ["a film", "<movie>"])):
        with pytest.raises(InputError, match="'<movie>' .* has no embedding for"):
            run()
    tokenizer.add_special_tokens({"pad_token": "<pad-beyond>"})  # every padded batch would hold it: refused now
    tokenizer.save_pretrained(folder)
    with pytest.raises(ModelLoadError, match=r"'<pad-beyond>'.*has no embedding for|no embedding for.*'<pad-beyond>'"):
        load_model(folder)


def test_an_unknown_model_type_is_one_line(tmp_path, checkpoint):
    folder = copy_checkpoint(checkpoint, "bert", tmp_path / "unknown")
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "frobnicator"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="frobnicator") as error:
        load_model(folder)
    assert "\n" not in str(error.value) and "pip install" not in str(error.value)


@pytest.mark.parametrize("written, said", [
    (None, "not a valid model config"),  # JSON, but not an object
    (123, "not a valid model config"),
    ({"model_type": ["bert"]}, "not a valid model config"),
    ({"num_labels": "x"}, "not a valid model config"),
    ({"id2label": [1, 2]}, "not a valid model config"),
    ({"hidden_size": "32"}, "expected int, got str"),
    ({"vocab_size": 0}, "no model can be built from its config.json"),
    ({"architectures": 5}, "architectures must be a list of class names"),
    ({"architectures": [1]}, "architectures must be a list of class names"),
    ("[" * 20_000 + "]" * 20_000, "not a valid model config"),  # past the JSON parser's recursion limit
    # a model of no layers or heads was built, then refused as "does not return attention weights"
    ({"num_hidden_layers": 0}, "num_hidden_layers must be a whole number of at least 1, not 0"),
    ({"num_hidden_layers": -1}, "num_hidden_layers must be a whole number of at least 1, not -1"),
    ({"num_attention_heads": 0}, "num_attention_heads must be a whole number of at least 1, not 0"),
    ({"num_labels": 0, "id2label": None, "label2id": None}, "num_labels must be a whole number of at least 1, not 0"),
    # built in full first (10,000 layers: 92 s, 2.5 GB), then refused as weights that do not fit
    ({"num_hidden_layers": 10_000}, "asks for num_hidden_layers 10,000, more than any model this app loads"),
])
def test_a_config_of_the_wrong_shape_is_a_load_error_not_a_traceback(tmp_path, checkpoint, written, said):
    folder = copy_checkpoint(checkpoint, "bert", tmp_path / "shape")
    if isinstance(written, dict):
        merged = {**json.loads((folder / "config.json").read_text()), **written}
        written = {key: value for key, value in merged.items() if value is not None}  # None: field left out
    (folder / "config.json").write_text(written if isinstance(written, str) else json.dumps(written))
    with pytest.raises(ModelLoadError, match=said) as error:  # a TypeError, AttributeError or IndexError before
        load_model(folder)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("family, written, said", [
    # grouped-query attention of 0 key/value heads divided by zero while the model was built
    ("llama", {"num_key_value_heads": 0}, "num_key_value_heads must be a whole number of at least 1, not 0"),
    # built, then every forward pass divided by zero: a traceback on every page
    ("albert", {"num_hidden_groups": 0}, "fails on a short probe text, so no view can run it: ZeroDivisionError"),
])
def test_a_count_of_zero_a_family_divides_by_is_a_load_error(tmp_path, checkpoint, family, written, said):
    folder = copy_checkpoint(checkpoint, family, tmp_path / family)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **written}))
    with pytest.raises(ModelLoadError, match=said) as error:
        load_model(folder)
    assert "\n" not in str(error.value)


def test_the_probe_says_an_empty_error_once_and_lets_out_of_memory_through(checkpoint, monkeypatch):
    """An error without a message read "AssertionError: AssertionError"; out of memory, the machine's state, was
    "fails on a short probe text, so no view can run it", as if the model were broken (also as MPS says it)."""
    from explainer.loading import bundle as loading

    model = load_model(checkpoint("bert"))
    mps = RuntimeError("MPS backend out of memory (MPS allocated: 8.00 GB). Tried to allocate 2.00 GiB")
    for raised, expected in ((AssertionError(), ModelLoadError), (torch.OutOfMemoryError("out of memory"),
                                                                  torch.OutOfMemoryError), (mps, RuntimeError),
                             (RuntimeError("CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate"), RuntimeError),
                             (RuntimeError("shape mismatch"), ModelLoadError)):
        def failing(*args, error=raised, **kwargs):
            raise error

        monkeypatch.setattr(model.model, "forward", failing)
        with pytest.raises(expected) as error:
            loading._check_attention_is_returned(model)
        assert type(error.value) is expected  # MPS and cuBLAS say it in a plain RuntimeError
        if raised.__class__ is AssertionError:
            assert str(error.value).endswith("so no view can run it: AssertionError")


@pytest.mark.parametrize("written", ["null", "[]", "[" * 20_000 + "]" * 20_000])
def test_a_tokenizer_config_of_the_wrong_shape_is_a_load_error(tmp_path, checkpoint, written):
    folder = copy_checkpoint(checkpoint, "bert", tmp_path / "tokenizer")
    (folder / "tokenizer_config.json").write_text(written)  # an AttributeError or RecursionError before
    with pytest.raises(ModelLoadError, match="tokenizer"):
        load_model(folder)


def test_architectures_written_as_one_name_is_read_as_that_name(tmp_path, checkpoint):
    folder = copy_checkpoint(checkpoint, "bert", tmp_path / "one-name")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "architectures": "BertForSequenceClassification"}))
    assert load_model(folder).architecture == "bert"  # refused, its name spelled "B, e, r, t, ..."
    (folder / "config.json").write_text(json.dumps({**config, "architectures": "BertModel"}))
    with pytest.raises(ModelLoadError, match="is a BertModel checkpoint, not a sequence classifier"):
        load_model(folder)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "bad-header"])
def test_corrupt_safetensors_is_a_load_error(tmp_path, checkpoint, damage):
    folder = copy_checkpoint(checkpoint, "bert", tmp_path / damage)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    if damage == "garbage":
        weights.write_bytes(b"\x8b\x00not a safetensors file\xff" * 100)
    elif damage == "truncated":
        weights.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        weights.write_bytes(b"")
    else:  # a plausible header length followed by broken JSON
        weights.write_bytes((64).to_bytes(8, "little") + b"{" * 64 + data[72:])
    with pytest.raises(ModelLoadError, match="(?i)corrupt|weights"):
        load_model(folder)


def test_masked_lm_checkpoint_is_not_a_sequence_classifier(tmp_path, tokenizer):
    torch.manual_seed(0)
    folder = save_checkpoint(BertForMaskedLM(tiny_config("bert")), tokenizer, tmp_path / "mlm")
    with pytest.raises(ModelLoadError, match="not a sequence classifier"):
        load_model(folder)


def test_checkpoint_without_a_trained_head_is_refused(tmp_path, tokenizer):
    """A bare encoder saved under a config that claims to be a classifier: the head would be random."""
    torch.manual_seed(0)
    encoder = BertModel(tiny_config("bert"), add_pooling_layer=True)
    folder = save_checkpoint(encoder, tokenizer, tmp_path / "headless")
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["BertForSequenceClassification"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="classification head|classifier"):
        load_model(folder)


# --- remote code is never run -------------------------------------------------------------------------------

REMOTE_CODE = """
import pathlib
pathlib.Path({marker!r}).write_text("remote code ran")
from transformers import BertConfig, BertForSequenceClassification

class EvilConfig(BertConfig):
    model_type = "evil-bert"

class EvilModel(BertForSequenceClassification):
    config_class = EvilConfig
"""


@pytest.mark.parametrize("model_type", ["evil-bert", "bert"])
def test_auto_map_remote_code_is_never_executed(tmp_path, checkpoint, model_type):
    """A config asking for its own code (auto_map) must not run it: error or load the built-in class."""
    folder = copy_checkpoint(checkpoint, "bert", tmp_path / f"remote-{model_type}")
    marker = tmp_path / f"remote-code-ran-{model_type}"
    (folder / "evil.py").write_text(REMOTE_CODE.format(marker=str(marker)))
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = model_type
    config["architectures"] = ["EvilModel"] if model_type != "bert" else ["BertForSequenceClassification"]
    config["auto_map"] = {
        "AutoConfig": "evil.EvilConfig",
        "AutoModel": "evil.EvilModel",
        "AutoModelForSequenceClassification": "evil.EvilModel",
    }
    (folder / "config.json").write_text(json.dumps(config))
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    tokenizer_config["auto_map"] = {"AutoTokenizer": ["evil.EvilTokenizer", "evil.EvilTokenizer"]}
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))

    try:
        loaded = load_model(folder)
    except ModelLoadError as error:
        loaded = None
        said = str(error)
        assert "\n" not in said and "trust_remote_code" not in said  # never advises running the code
    assert not marker.exists(), "load_model executed code shipped inside the checkpoint"
    if model_type != "bert":
        assert loaded is None, "an unknown model_type can only be loaded by running its code"
    if loaded is not None:
        assert type(loaded.model).__module__.startswith("transformers.")


# --- the untrained placeholder ------------------------------------------------------------------------------


def test_untrained_placeholder_builds_offline_into_the_cache(explainer_cache):
    assert disk_cache.cache_dir() == explainer_cache
    loaded = load_model(shipped.UNTRAINED_NAME, device="cpu")
    assert loaded.untrained is True
    assert loaded.name == shipped.UNTRAINED_NAME
    assert loaded.architecture == "thought_beacon"
    assert (explainer_cache / shipped.UNTRAINED_NAME / "config.json").is_file()
    assert (explainer_cache / shipped.UNTRAINED_NAME / "model.safetensors").is_file()
    assert trace(loaded, "A quiet triumph.").untrained is True
    # A second load reuses the folder and gives the same weights.
    again = load_model(shipped.UNTRAINED_NAME, device="cpu")
    for key, value in loaded.model.state_dict().items():
        assert torch.equal(again.model.state_dict()[key], value), key


@pytest.mark.parametrize("tau", [1.5, -0.1, "0.4", True])
def test_a_thought_beacon_tau_outside_0_to_1_is_a_load_error(tmp_path, checkpoint, tau):
    """beacon_threshold 1.5: the Beacons page's slider raised StreamlitValueAboveMaxError and the tau sweep a raw
    ValueError; the model itself skipped as at 1.0."""
    folder = copy_checkpoint(checkpoint, "ours", tmp_path / "tau")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "beacon_threshold": tau}))
    with pytest.raises(ModelLoadError, match=r"beacon_threshold \(tau\) must be a number from 0 to 1, not "):
        load_model(folder)
    (folder / "config.json").write_text(json.dumps({**config, "beacon_threshold": 1}))
    assert load_model(folder).model.config.beacon_threshold == 1  # the ends are taus


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_model_whose_output_is_not_finite_is_refused_at_load_and_a_text_it_overflows_on_is_refused(
        tmp_path, tokenizer, value):
    """A NaN classifier bias was analysed anyway: trace gave the first label with no probabilities, attribute and
    ablate another label as 'the predicted' one."""
    from explainer.capture.encoding import InputError

    model = build_model("bert")
    with torch.no_grad():
        model.classifier.bias[1] = value
    folder = save_checkpoint(model, tokenizer, tmp_path / "broken")
    with pytest.raises(ModelLoadError, match="gives no finite output on a short probe text"):
        load_model(folder, device="cpu")
    bundle = load_model(save_checkpoint(build_model("bert"), tokenizer, tmp_path / "fine"), device="cpu")
    from explainer.attribution import attribute
    from explainer.causal.patching import patch
    from explainer.counterfactual import find_counterfactuals

    overflow = bundle.model.classifier.register_forward_hook(lambda module, args, out: out * value)
    try:  # finite at load, not on this text: every analysis refuses it (argmax read a NaN as the prediction)
        for run, what in ((lambda: trace(bundle, "a fine film"), "this text"),
                          (lambda: attribute(bundle, "a fine film", "saliency"), "this text"),
                          (lambda: find_counterfactuals(bundle, "a fine film"), "this text"),
                          (lambda: patch(bundle, "a fine film", "a dull film"), "the clean text")):
            with pytest.raises(InputError, match=f"output for {what} is not a finite number"):
                run()
    finally:
        overflow.remove()
    assert np.isfinite(trace(bundle, "a fine film").logits).all()


def test_a_model_of_few_positions_loads_and_runs_the_causal_methods(tmp_path, tokenizer):
    """The load check's and the causal hooks' probe texts were tokenised whole: a model of fewer positions than the
    probe's tokens was refused at load (a model of 16 positions, reading "a gentle film" fine, failed in `patch` and
    `ablate` with a traceback). The probes are cut to the readable length, as every user text is."""
    from transformers import BertForSequenceClassification

    from explainer.causal import ablate_heads, patch

    positions = 3
    assert len(tokenizer("attention check")["input_ids"]) > positions  # the probe is longer than the model reads
    torch.manual_seed(0)
    folder = save_checkpoint(BertForSequenceClassification(tiny_config("bert", max_position_embeddings=positions)),
                             tokenizer, tmp_path / "short")
    bundle = load_model(folder, device="cpu")
    assert bundle.max_length == positions
    patched = patch(bundle, "fine", "dull")
    assert patched.residual[-1, patched.readout] == pytest.approx(1.0, abs=1e-4)
    assert ablate_heads(bundle, "fine", mode="zero").heads.shape[0] == LAYERS


@pytest.mark.parametrize("edit, said", [
    ({"num_thought_markers": 0}, "hold tensors its config.json builds no place for"),
    ({"use_beacons": False}, "hold tensors its config.json builds no place for"),
    ({"num_thought_markers": -1}, "num_thought_markers must be a whole number of at least 0, not -1"),
    ({"num_thought_markers": 2.5}, "num_thought_markers must be a whole number of at least 0, not 2.5"),
])
def test_a_thought_beacon_config_edited_past_its_weights_is_refused(tmp_path, checkpoint, edit, said):
    """Markers or beacons switched off in config.json over trained weights: their tensors were dropped in silence
    and the model ran without them (76.8% where the model says 96.2%); -1 markers loaded, then miscounted FLOPs
    and failed the tau sweep."""
    folder = tmp_path / "edited"
    shutil.copytree(checkpoint("ours"), folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **edit}))
    with pytest.raises(ModelLoadError, match=said):
        load_model(str(folder), device="cpu")
    load_model(str(checkpoint("ours")), device="cpu")  # the model as saved loads
