"""Results cached on disk between runs (batch predictions, marker dictionaries, tau sweeps).

A key is a namespace plus whatever identifies the result: the model's fingerprint (changes when its weights
or config do), the data set's content hash, the options. Values are JSON (dicts, lists, numbers, strings);
writes are atomic, so a crash or a second process never leaves half a file. Nothing here unpickles.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from explainer import registry

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors", "config.json")


def cache_root() -> Path:
    return registry.cache_dir() / "results"


def model_fingerprint(bundle) -> str:
    """Identifies a loaded model's weights: its folder's weight/config files (path, size, mtime) when it has
    one, else its name and config. Changing a checkpoint in place changes the fingerprint."""
    folder = registry.resolve(bundle.name)
    parts: list[str] = [bundle.name, bundle.model.config.to_json_string(use_diff=False)]
    if folder is not None:
        for filename in WEIGHT_FILES:
            path = folder / filename
            if path.is_file():
                stat = path.stat()
                parts.append(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def input_key(bundle, data) -> tuple:
    """What identifies a model's pass over a labelled file: its weights, the file's bytes, which columns were read,
    how many rows survived, and how many tokens the model reads. Every per-data-set cache keys on all of it."""
    return (
        model_fingerprint(bundle), data.content_hash, data.text_column, data.label_column, len(data), bundle.max_length
    )


def cache_path(namespace: str, *key_parts: Any) -> Path:
    """The file for this key (it may not exist yet)."""
    digest = hashlib.sha256(json.dumps(key_parts, sort_keys=True, default=str).encode()).hexdigest()[:40]
    return cache_root() / namespace / f"{digest}.json"


def load(namespace: str, *key_parts: Any) -> Any | None:
    """The cached value, or None when absent or unreadable (a damaged file is treated as a miss)."""
    path = cache_path(namespace, *key_parts)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def store(namespace: str, value: Any, *key_parts: Any) -> Path:
    """Write `value` as JSON atomically; returns its path."""
    path = cache_path(namespace, *key_parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(value, out)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def cached(namespace: str, key_parts: tuple[Any, ...], compute: Callable[[], Any]) -> tuple[Any, bool]:
    """(value, was_cached): the stored value for the key, or compute it, store it and return it."""
    value = load(namespace, *key_parts)
    if value is not None:
        return value, True
    value = compute()
    store(namespace, value, *key_parts)
    return value, False
