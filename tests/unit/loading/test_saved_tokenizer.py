"""A checkpoint's text is cut into the ids it was saved with: transformers 5 rebuilds a Qwen2 checkpoint's
tokenizer as its model type's class, which turns a saved WordPiece tokenizer into one that spells every word out
letter by letter; the loader then reads tokenizer.json as saved."""

from __future__ import annotations

import logging

from tokenizers import Tokenizer
from transformers import AutoTokenizer

from explainer import load_model, trace
from explainer.loading.saved_tokenizer import PROBES
from tests.conftest import build_model, save_checkpoint


def saved_ids(folder, text: str) -> list[int]:
    return Tokenizer.from_file(str(folder / "tokenizer.json")).encode(text, add_special_tokens=False).ids


def test_a_checkpoint_whose_model_type_class_tokenizes_otherwise_is_read_as_saved(tokenizer, tmp_path, caplog):
    folder = save_checkpoint(build_model("qwen2"), tokenizer, tmp_path / "qwen2")
    text = "a fine film"
    rebuilt = AutoTokenizer.from_pretrained(folder)  # what transformers alone gives: letters
    assert rebuilt(text, add_special_tokens=False)["input_ids"] != saved_ids(folder, text)
    with caplog.at_level(logging.WARNING, logger="explainer.loading.saved_tokenizer"):
        loaded = load_model(folder, device="cpu")
    assert "tokenizer.json as saved" in caplog.text
    for probe in (text, *PROBES):
        assert loaded.tokenizer(probe, add_special_tokens=False)["input_ids"] == saved_ids(folder, probe)
    assert trace(loaded, text).tokens == tuple(tokenizer.convert_ids_to_tokens(tokenizer(text)["input_ids"]))


def test_a_tokenizer_that_agrees_with_its_file_is_kept_as_transformers_builds_it(tokenizer, tmp_path, caplog):
    folder = save_checkpoint(build_model("bert"), tokenizer, tmp_path / "bert")
    with caplog.at_level(logging.WARNING, logger="explainer.loading.saved_tokenizer"):
        loaded = load_model(folder, device="cpu")
    assert caplog.text == "" and type(loaded.tokenizer) is type(AutoTokenizer.from_pretrained(folder))


def test_a_tokenizer_file_that_pads_to_a_fixed_length_is_not_taken_for_another_tokenizer(tokenizer, tmp_path, caplog):
    """The MiniLM base's tokenizer.json pads and truncates at 128: its probes came back padded with [PAD], and the
    checkpoint's tokenizer was swapped for the file's, with a warning, though both cut text alike."""
    import json

    folder = save_checkpoint(build_model("bert"), tokenizer, tmp_path / "bert")
    pipeline = json.loads((folder / "tokenizer.json").read_text())
    pipeline["padding"] = {"strategy": {"Fixed": 128}, "direction": "Right", "pad_to_multiple_of": None,
                           "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"}
    pipeline["truncation"] = {"direction": "Right", "max_length": 128, "strategy": "LongestFirst", "stride": 0}
    (folder / "tokenizer.json").write_text(json.dumps(pipeline))
    with caplog.at_level(logging.WARNING, logger="explainer.loading.saved_tokenizer"):
        loaded = load_model(folder, device="cpu")
    assert caplog.text == "" and type(loaded.tokenizer) is type(AutoTokenizer.from_pretrained(folder))
