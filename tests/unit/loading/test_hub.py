"""Hub ids: when the hub cannot be reached, loading fails at once with a message saying so."""

from __future__ import annotations

import time

import pytest

import explainer
from explainer.loading import bundle as loading


def test_unreachable_hub_fails_fast_and_clearly(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty local cache
    monkeypatch.setattr(loading, "_hub_reachable", lambda timeout=3.0: False)
    start = time.monotonic()
    with pytest.raises(explainer.ModelLoadError, match="unreachable .* not in the local Hugging Face cache"):
        explainer.load_model("someone/some-classifier")
    assert time.monotonic() - start < 10  # no retry loop against an unreachable host


def test_paths_are_not_mistaken_for_hub_ids(tmp_path):
    with pytest.raises(explainer.ModelLoadError, match="not found"):
        explainer.load_model(str(tmp_path / "missing" / "model"))
    with pytest.raises(explainer.ModelLoadError, match="not found"):
        explainer.load_model("./relative/missing")


def test_hub_ids_with_dots_are_hub_ids_not_paths(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setattr(loading, "_hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(explainer.ModelLoadError, match="unreachable"):  # not "folder not found"
        explainer.load_model("some-org/classifier-v1.5")


def test_a_cached_hub_id_with_pickle_weights_only_gets_the_pickle_refusal(tmp_path, checkpoint):
    """It was "weights are missing or corrupt ... do not set use_safetensors=True"; a folder says why and how to
    opt in. A fresh process, since the hub cache's place is read when huggingface_hub is imported."""
    import shutil
    import subprocess
    import sys

    from safetensors.torch import load_file
    from torch import save

    source = checkpoint("bert")
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--someone--pickled"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(source / name, snapshot / name)
    save(load_file(str(source / "model.safetensors")), snapshot / "pytorch_model.bin")
    script = (
        "import explainer\n"
        "try:\n    explainer.load_model('someone/pickled', device='cpu')\n"
        "except explainer.ModelLoadError as error:\n    print(error)\n"
    )
    env = {**__import__("os").environ, "HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    said = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120).stdout
    assert "'someone/pickled' has only pickle weights" in said and "--allow-pickle" in said, said
