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
