"""A special token typed in the text ("[CLS]", "</s>") is read by Hugging Face's tokenizers as that token, not as
characters: a typed "</s>" became the token a Llama's classifier reads. The pages say so."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from explainer.views.text import markdown_literal
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def scratch_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path_factory.getbasetemp() / "typed-special-cache"))


def run_page(model: str, text: str) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app_pages" / "attention.py"), default_timeout=300)
    app.query_params.update({"model": model, "text": text})
    return app.run()


def test_a_typed_special_token_is_said_and_plain_text_says_nothing(checkpoint):
    from explainer import load_model

    folder = str(checkpoint("bert"))
    tokenizer = load_model(folder).tokenizer
    cls, sep = tokenizer.cls_token, tokenizer.sep_token
    app = run_page(folder, f"a fine {cls} film {sep} {cls}")
    assert not app.exception, app.exception
    said = [i.value for i in app.info if "which the tokenizer reads as" in i.value]
    assert said == [markdown_literal(f"The text holds '{cls}', '{sep}', which the tokenizer reads as special tokens, "
                                     "as Hugging Face does: the model sees those tokens there, not the characters.")]
    plain = run_page(folder, "a fine film \u2603")  # a character the vocabulary lacks is read as [UNK]: not typed
    assert not any("which the tokenizer reads as" in i.value for i in plain.info)


def test_compare_names_model_b_s_folder_once_escaped(checkpoint, tmp_path):
    """Compare passed B's name escaped, and the note escaped it again: "Model B (/tmp/probe\\_s75/...)" showed its
    backslashes (a folder holding "_" or "*")."""
    import shutil

    folder = tmp_path / "my_tiny_bert"
    shutil.copytree(checkpoint("bert"), folder)
    app = AppTest.from_file(str(ROOT / "app_pages" / "compare.py"), default_timeout=300)
    app.query_params.update({"model": "sst2-baseline", "model_b": str(folder), "text": "a fine [SEP] film"})
    app.run()
    assert not app.exception, app.exception
    said = [i.value for i in app.info if i.value.startswith("Model B")]
    assert said and all(s.startswith(f"Model B ({markdown_literal(str(folder))}): The text holds") for s in said), said
