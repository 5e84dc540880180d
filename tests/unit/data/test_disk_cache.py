"""The on-disk result cache: keys, misses, damaged files, and invalidation when a checkpoint changes."""

from __future__ import annotations

import os

from explainer.data import disk_cache


def test_store_load_and_miss(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    assert disk_cache.load("ns", "a", 1) is None
    disk_cache.store("ns", {"x": [1, 2]}, "a", 1)
    assert disk_cache.load("ns", "a", 1) == {"x": [1, 2]}
    assert disk_cache.load("ns", "a", 2) is None  # another key
    calls = []
    value, hit = disk_cache.cached("ns", ("b",), lambda: calls.append(1) or {"y": 3})
    assert (value, hit, calls) == ({"y": 3}, False, [1])
    value, hit = disk_cache.cached("ns", ("b",), lambda: calls.append(1) or {"y": 4})
    assert (value, hit, calls) == ({"y": 3}, True, [1])


def test_damaged_file_is_a_miss(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    path = disk_cache.store("ns", [1], "k")
    path.write_text("{not json", encoding="utf-8")
    assert disk_cache.load("ns", "k") is None
    assert not list(path.parent.glob("*.tmp"))


def test_fingerprint_follows_the_checkpoint_as_loaded(tmp_path, checkpoint):
    import shutil

    from explainer import load_model

    folder = shutil.copytree(checkpoint("bert"), tmp_path / "model")

    loaded = load_model(str(folder))
    first = disk_cache.model_fingerprint(loaded)
    assert first == disk_cache.model_fingerprint(loaded) == disk_cache.model_fingerprint(load_model(str(folder)))
    weights = folder / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    # The model in memory is still the one loaded: its results keep their key, not the new file's.
    assert disk_cache.model_fingerprint(loaded) == first
    reloaded = load_model(str(folder))
    assert disk_cache.model_fingerprint(reloaded) != first
    # The tokenizer is part of the checkpoint too: another vocabulary gives other predictions.
    tokenizer_file = folder / "tokenizer.json"
    assert tokenizer_file.is_file()
    tokenizer_file.write_text(tokenizer_file.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert disk_cache.model_fingerprint(load_model(str(folder))) != disk_cache.model_fingerprint(reloaded)
