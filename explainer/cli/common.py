"""Shared pieces of the `python -m explainer <command>` entry points: JSON output, argparse types, one-line errors."""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


def to_jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def print_json(payload: dict[str, Any]) -> None:
    print(json.dumps(to_jsonable(payload), indent=2, ensure_ascii=False))


def at_least_one(text: str) -> int:
    """argparse type: a whole number >= 1 (batch sizes, step and sample counts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def unit_interval(text: str) -> float:
    """argparse type: a number from 0 to 1 (thresholds)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text}")
    return value


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error for the user and exit non-zero."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


@contextmanager
def writing_to(path: str | Path) -> Iterator[None]:
    """`with writing_to(path):` an OSError while writing `path` (a folder in the way, no permission, a full disk)
    becomes one line for the user instead of a traceback."""
    try:
        yield
    except OSError as error:
        fail(f"cannot write to {path}: {error.strerror or error}")


def check_output_folder(path: str | Path) -> Path:
    """The --out folder, created and proven writable before any work (a folder that cannot be written fails in
    a second, not after minutes of computation): a probe file is written and removed."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        fail(f"--out {folder} is a file: give a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as error:
        fail(f"cannot write to {folder}: {error.strerror or error}")
    return folder


# ---- demo mode (EXPLAINER_DEMO): the CLI takes only what the demo config offers, like the app ------------------


def _demo():
    from explainer.serving.demo import DemoConfigError, active_demo

    try:
        return active_demo()
    except DemoConfigError as error:
        fail(str(error))


def model_argument(name: str | None) -> str | None:
    """--model as load_model takes it. Under EXPLAINER_DEMO only an offered name (its shipped name or folder);
    anything else, a path or a hub id included, is refused before anything is read or fetched."""
    demo = _demo()
    if demo is None:
        return name
    if name is None:
        return demo.models[0].target
    if name not in demo.model_names:
        fail(f"model {name!r} is not offered by this demo; offered: {', '.join(demo.model_names)}")
    return demo.model_target(name)


def data_argument(raw: str | Path) -> str:
    """--data as a path to read. Under EXPLAINER_DEMO: an offered data set's name, or a path that resolves
    (symlinks followed) inside one of the config's data roots; anything else is refused without reading it."""
    demo = _demo()
    if demo is None:
        return str(raw)
    from explainer.serving.paths import PathRefused, resolve_inside

    offered = demo.data_choices()
    if str(raw) in offered:
        return str(demo.data_path(str(raw)))
    try:
        return str(resolve_inside(raw, [root for _, root in demo.data_roots], base=demo.source.parent))
    except PathRefused as refused:
        fail(f"{refused} Offered data sets: {', '.join(offered) or 'none'}")
    raise AssertionError("unreachable")


def quote_contents() -> bool:
    """Whether error messages may quote a data file's contents: not under EXPLAINER_DEMO."""
    return _demo() is None
