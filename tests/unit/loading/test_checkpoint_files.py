"""A checkpoint's files as the loader finds them: a sharded checkpoint's index (its shard names are joined to the
folder and opened as given), unreadable files, a config that does not belong to its weights, and heads the
workbench cannot explain. Each case here loaded, hung or read outside the folder before (a loader fuzz)."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from explainer.loading.bundle import ModelLoadError, load_model
from tests.conftest import xlnet_folder

MARK = "pickle code ran"


class Payload:  # unpickling it would call print
    def __reduce__(self):
        return (print, (MARK,))


def sharded(checkpoint, tmp_path, shards: dict[str, str] | None = None, index: object = None):
    """The tiny BERT checkpoint split into two safetensors shards behind model.safetensors.index.json."""
    folder = shutil.copytree(checkpoint("bert"), tmp_path / "sharded")
    state = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    names = sorted(state)
    half = len(names) // 2
    save_file({k: state[k] for k in names[:half]}, folder / "model-00001-of-00002.safetensors")
    save_file({k: state[k] for k in names[half:]}, folder / "model-00002-of-00002.safetensors")
    weight_map = {k: "model-00001-of-00002.safetensors" if i < half else "model-00002-of-00002.safetensors"
                  for i, k in enumerate(names)}
    for old, new in (shards or {}).items():
        weight_map = {k: new if v == old else v for k, v in weight_map.items()}
    written = {"metadata": {"total_size": 1}, "weight_map": weight_map} if index is None else index
    (folder / "model.safetensors.index.json").write_text(json.dumps(written))
    return folder, state


def test_a_sharded_checkpoint_loads_with_its_shards_linked_from_elsewhere(checkpoint, tmp_path):
    # the Hugging Face cache's snapshot folders link every file to a blob outside them: links are followed
    folder, state = sharded(checkpoint, tmp_path)
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    shard = folder / "model-00002-of-00002.safetensors"
    shutil.move(shard, blobs / "b2")
    shard.symlink_to(blobs / "b2")
    loaded = load_model(folder, device="cpu")
    for key, value in state.items():
        assert torch.equal(loaded.model.state_dict()[key], value), key


@pytest.mark.parametrize("shard", ["../outside.safetensors", "/etc/passwd", "/dev/zero", "sub/x.safetensors", ".."])
def test_a_shard_named_outside_the_folder_is_refused_before_it_is_read(checkpoint, tmp_path, shard):
    # "/dev/zero" read for minutes into gigabytes; "../x" and absolute names were read from outside the folder
    folder, _ = sharded(checkpoint, tmp_path, {"model-00002-of-00002.safetensors": shard})
    (tmp_path / "outside.safetensors").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="names a shard outside the folder"):
        load_model(folder)


def test_a_fifo_or_missing_shard_is_refused_not_waited_on(checkpoint, tmp_path):
    folder, _ = sharded(checkpoint, tmp_path)
    shard = folder / "model-00002-of-00002.safetensors"
    shard.unlink()
    os.mkfifo(shard)  # opening it would block forever
    with pytest.raises(ModelLoadError, match="model-00002-of-00002.safetensors that .* is missing or not a file"):
        load_model(folder)
    shard.unlink()
    with pytest.raises(ModelLoadError, match="is missing or not a file"):
        load_model(folder)


def test_a_pickle_shard_behind_a_safetensors_index_is_refused(checkpoint, tmp_path, capsys):
    # transformers torch.loads any shard not named .safetensors: the folder counted as safetensors, no opt-in asked
    folder, _ = sharded(checkpoint, tmp_path, {"model-00002-of-00002.safetensors": "weights-2.bin"})
    second = load_file(folder / "model-00002-of-00002.safetensors")
    torch.save({**second, "payload": Payload()}, folder / "weights-2.bin")
    for allow_pickle in (False, True):  # a pickle shard belongs in pytorch_model.bin.index.json
        with pytest.raises(ModelLoadError, match=r"names a shard that is not a safetensors file \(weights-2.bin\)"):
            load_model(folder, allow_pickle=allow_pickle)
    assert MARK not in capsys.readouterr().out


@pytest.mark.parametrize("index, said", [
    ({"weight_map": {"a": "model-00001-of-00002.safetensors"}}, "has no metadata object"),
    ({"metadata": {}}, "has no weight_map"),
    ({"metadata": {}, "weight_map": ["model-00001-of-00002.safetensors"]}, "has no weight_map"),
    ([1, 2], "has no weight_map"),
])
def test_a_damaged_index_is_named(checkpoint, tmp_path, index, said):
    # they read "'metadata'", "'weight_map'", "'list' object has no attribute 'values'"
    folder, _ = sharded(checkpoint, tmp_path, index=index)
    with pytest.raises(ModelLoadError, match=f"model.safetensors.index.json {said}"):
        load_model(folder)
    (folder / "model.safetensors.index.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="model.safetensors.index.json cannot be read as JSON"):
        load_model(folder)
    (folder / "model.safetensors.index.json").write_text("[" * 100_000 + "]" * 100_000)  # a RecursionError
    with pytest.raises(ModelLoadError, match=r"model.safetensors.index.json cannot be read as JSON \(Recursion"):
        load_model(folder)


def test_an_unreadable_folder_or_weights_file_is_said_as_such(checkpoint, tmp_path, monkeypatch):
    # the weights read "No such file or directory"; a folder raised a bare PermissionError
    import explainer.loading.bundle as bundle_module

    folder = shutil.copytree(checkpoint("bert"), tmp_path / "locked")
    real_access = os.access
    monkeypatch.setattr(bundle_module.os, "access",
                        lambda path, mode: False if str(path).endswith(".safetensors") else real_access(path, mode))
    with pytest.raises(ModelLoadError, match="model.safetensors cannot be read \\(permission denied\\)"):
        load_model(folder)
    monkeypatch.undo()

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(folder / "config.json"))

    monkeypatch.setattr(bundle_module, "_read_folder", refuse)
    with pytest.raises(ModelLoadError, match="config.json cannot be read \\(permission denied\\)"):
        load_model(folder)


@pytest.mark.parametrize("family", ["bert", "ours"])  # ours: weight names start "layers.3.", with no dot before
def test_a_config_of_fewer_layers_than_its_weights_is_refused(checkpoint, tmp_path, family):
    # transformers drops the unexpected layers in silence: half the model ran, under the full model's name
    folder = shutil.copytree(checkpoint(family), tmp_path / "fewer")
    config = json.loads((folder / "config.json").read_text())
    held = config["num_hidden_layers"]
    config["num_hidden_layers"] = 1
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=f"hold at least {held} layers, its config.json 1"):
        load_model(folder)


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_a_single_output_head_is_refused(tmp_path, tokenizer, family):
    # a softmax over one logit gave probability 1.0 whatever the text
    from tests.conftest import build_model, save_checkpoint

    model = build_model(family, num_labels=1, id2label={0: "score"}, label2id={"score": 0})
    save_checkpoint(model, tokenizer, tmp_path / "one")
    with pytest.raises(ModelLoadError, match="has a single output"):
        load_model(tmp_path / "one")


@pytest.mark.parametrize("problem", ["multi_label_classification", "regression"])
def test_a_multi_label_or_regression_head_is_refused(tmp_path, tokenizer, problem):
    # shown with a softmax: three independent sigmoids of 0.59, 0.56, 0.38 read as 0.44, 0.38, 0.19, no word said
    from tests.conftest import build_model, save_checkpoint

    names = {0: "toxic", 1: "insult", 2: "threat"}
    model = build_model("bert", num_labels=3, id2label=names, label2id={v: k for k, v in names.items()},
                        problem_type=problem)
    save_checkpoint(model, tokenizer, tmp_path / "multi")
    with pytest.raises(ModelLoadError, match=f"problem_type {problem}"):
        load_model(tmp_path / "multi")


def test_weights_of_another_architecture_are_named_so(checkpoint, tmp_path):
    # GPT-2's weights under BERT's config were "no trained classification head": every BERT tensor was missing
    folder = shutil.copytree(checkpoint("gpt2"), tmp_path / "other")
    shutil.copy(checkpoint("bert") / "config.json", folder / "config.json")
    with pytest.raises(ModelLoadError, match=r"do not match its config.json \(bert\).*another architecture"):
        load_model(folder)


def test_labels_numbered_with_a_gap_are_refused(checkpoint, tmp_path):
    # {"0": "neg", "5": "pos"} loaded as the labels ('neg', 'LABEL_1')
    folder = shutil.copytree(checkpoint("bert"), tmp_path / "gap")
    config = json.loads((folder / "config.json").read_text())
    config["id2label"], config["label2id"] = {"0": "neg", "5": "pos"}, {"neg": 0, "pos": 5}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="numbers its labels 0, 5; the classifier's 2 outputs are numbered 0 to 1"):
        load_model(folder)


def test_two_labels_of_one_name_are_refused(checkpoint, tmp_path):
    # {"0": "pos", "1": "pos"}: probabilities by name kept one of the two, summing to 0.5, and a file's "pos" rows
    # were matched to id 1 while the model's "pos" was id 0 (accuracy 0)
    folder = shutil.copytree(checkpoint("bert"), tmp_path / "twice")
    config = json.loads((folder / "config.json").read_text())
    config["id2label"], config["label2id"] = {"0": "pos", "1": "pos"}, {"pos": 1}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="names ids 0, 1 .pos. and .pos., one name"):
        load_model(folder)
    # data files match labels with case and edge spaces set aside: "Pos" rows read as the "pos" label's id
    config["id2label"], config["label2id"] = {"0": "pos", "1": " Pos"}, {"pos": 0, " Pos": 1}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="names ids 0, 1 'pos' and ' Pos', one name where case and spaces"):
        load_model(folder)


def test_a_family_that_reads_the_last_column_batches_as_it_predicts_alone(tokenizer, tmp_path):
    # XLNet's -1 positions crashed every command (OverflowError in the tokenizer); padded on the right, as every
    # model is, a batch read padding where the text alone gave its prediction ([0.18, 0.66, 0.16] vs [0.47, ...])
    import numpy as np

    from explainer.capture import trace
    from explainer.evaluation.predict import predict

    bundle = load_model(xlnet_folder(tokenizer, tmp_path), device="cpu")
    assert bundle.max_length > 0 and bundle.tokenizer.padding_side == "left"
    texts = ["a fine film", "the plot of this film is clever and the cast is warm", "film"]
    alone = np.stack([trace(bundle, text).probabilities for text in texts])
    assert np.allclose(predict(bundle, texts, batch_size=8).probabilities, alone, atol=1e-5)


def test_a_model_no_padding_side_serves_is_refused(tokenizer, tmp_path, monkeypatch):
    import transformers

    real = transformers.XLNetForSequenceClassification.forward

    def reads_the_batch(self, *args, **kwargs):  # each row's logits shifted by the batch size: no side helps
        out = real(self, *args, **kwargs)
        out.logits = out.logits + out.logits.new_tensor([float(out.logits.shape[0]), 0.0, 0.0])
        return out

    folder = xlnet_folder(tokenizer, tmp_path)
    monkeypatch.setattr(transformers.XLNetForSequenceClassification, "forward", reads_the_batch)
    with pytest.raises(ModelLoadError, match="predicts otherwise for a text in a batch than alone"):
        load_model(folder, device="cpu")


def test_a_model_with_no_one_embedding_table_has_no_row_count():
    # CANINE hashes characters: get_input_embeddings raised NotImplementedError, a traceback at load
    from explainer.loading.bundle import embedding_rows

    class Hashed(torch.nn.Module):
        def get_input_embeddings(self):
            raise NotImplementedError("get_input_embeddings not auto-handled for CanineModel")

    assert embedding_rows(Hashed()) is None


def test_a_loaded_model_keeps_its_numbers_when_its_weights_file_is_rewritten_in_place(checkpoint, tmp_path):
    """safetensors maps the file: `cp new.safetensors model.safetensors` (truncate, then write) changed a loaded
    model's numbers with no reload, and a truncation killed the server with SIGBUS mid-computation."""
    import shutil

    import numpy as np
    from safetensors.torch import load_file, save_file

    from explainer import load_model, trace

    folder = tmp_path / "m"
    shutil.copytree(checkpoint("bert"), folder)
    bundle = load_model(folder, device="cpu")
    shared = load_model(folder, device="cpu", shared_weights=True)  # a Ray worker's: one copy per node, the file's
    before = trace(bundle, "a fine film").probabilities
    weights = folder / "model.safetensors"
    tensors = load_file(weights)
    # copies: load_file maps the file too, and reading a map of a truncated file is the SIGBUS itself
    flipped = {name: -tensor if name.startswith("classifier.") else tensor.clone() for name, tensor in tensors.items()}
    with weights.open("r+b") as file:  # in place, as cp writes over a file: the same inode, the same size
        file.truncate(0)
        staged = tmp_path / "staged.safetensors"
        save_file(flipped, staged)
        file.write(staged.read_bytes())
    assert not np.allclose(trace(load_model(folder, device="cpu"), "a fine film").probabilities, before)  # changed
    np.testing.assert_array_equal(trace(bundle, "a fine film").probabilities, before)  # the loaded model: its own
    assert not np.allclose(trace(shared, "a fine film").probabilities, before)  # mapped: the file's pages


@pytest.mark.parametrize(("family", "config_pad"), [("gpt2", None), ("bert", 0), ("bert", "film")])
def test_a_tokenizer_with_no_token_to_pad_with_takes_the_configs_or_is_refused(tokenizer, tmp_path, family,
                                                                              config_pad):
    # A GPT-2 whose tokenizer names no pad, eos or unk token loaded, then every trace crashed inside the readout
    # ("'bool' object has no attribute 'int'": input_ids != None); a BERT's config's pad id is its pad token (its
    # batches failed: "the tokenizer does not have a padding token")
    import copy

    import numpy as np

    from explainer import trace
    from explainer.evaluation.predict import predict
    from tests.conftest import build_model, save_checkpoint

    bare = copy.deepcopy(tokenizer)
    bare.pad_token = bare.unk_token = bare.eos_token = None
    if config_pad == "film":  # an ordinary word's id: made the pad token, a typed "film" read as special
        config_pad = bare.convert_tokens_to_ids("film")
        assert bare.convert_ids_to_tokens(config_pad) == "film"
    folder = save_checkpoint(build_model(family, pad_token_id=config_pad), bare, tmp_path / family)
    if config_pad != 0:
        with pytest.raises(ModelLoadError, match="names no padding, end-of-text or unknown token, nor its config a "
                                                 "special token as pad_token_id"):
            load_model(folder, device="cpu")
    else:
        bundle = load_model(folder, device="cpu")
        assert bundle.tokenizer.pad_token_id == config_pad == bundle.model.config.pad_token_id
        traced = trace(bundle, "a fine film")
        assert "film" in traced.tokens and abs(float(traced.probabilities.sum()) - 1) < 1e-5
        assert np.allclose(predict(bundle, ["a fine film", "film"]).probabilities[0], traced.probabilities, atol=1e-5)


def test_a_tokenizer_that_keeps_a_long_texts_end_is_read_from_the_beginning_and_says_so(checkpoint, tmp_path,
                                                                                        capsys):
    # truncation_side "left" (common for decoder classifiers): the trace kept the text's end while every page,
    # command and the counterfactual search said and assumed "only the beginning was analysed"
    from explainer import trace
    from explainer.capture.validation import truncation_sentence
    from explainer.cli import trace as trace_cli

    folder = shutil.copytree(checkpoint("gpt2"), tmp_path / "left")
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**settings, "truncation_side": "left"}))
    bundle = load_model(folder, device="cpu")
    assert bundle.cuts_left_elsewhere and bundle.tokenizer.truncation_side == "right"
    assert not load_model(checkpoint("gpt2"), device="cpu").cuts_left_elsewhere
    text = "zany " + "the film is fine " * 200
    cut = trace(bundle, text)
    assert cut.truncated and "zany" in "".join(cut.tokens[:6]).replace("##", "")
    said = truncation_sentence(cut.num_text_tokens, cut.max_length, cuts_left_elsewhere=True)
    assert said.startswith(truncation_sentence(cut.num_text_tokens, cut.max_length))
    assert "truncation_side 'left'" in said
    trace_cli.main(["--model", str(folder), "--text", text])
    assert said in json.loads(capsys.readouterr().out)["notes"]
    # and where the Causal page, patch, ablate and the counterfactual search say it
    from explainer.capture.validation import CUT_LEFT_ELSEWHERE
    from explainer.causal.ablation import ablate_heads
    from explainer.counterfactual.search import find_counterfactuals

    assert any(note.endswith(CUT_LEFT_ELSEWHERE) for note in ablate_heads(bundle, text, mode="zero").notes)
    assert any(note.endswith(CUT_LEFT_ELSEWHERE) for note in find_counterfactuals(bundle, text, max_candidates=4).notes)


def test_a_left_truncating_tokenizers_results_are_keyed_apart_from_those_read_from_the_end(checkpoint, tmp_path):
    # its long texts were read from their end before, under the same fingerprint: those cached results were served
    from dataclasses import replace

    from explainer.data.disk_cache import model_fingerprint

    folder = shutil.copytree(checkpoint("gpt2"), tmp_path / "left")
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**settings, "truncation_side": "left"}))
    left = load_model(folder, device="cpu")
    assert model_fingerprint(left) != model_fingerprint(replace(left, cuts_left_elsewhere=False))
