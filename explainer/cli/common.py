"""Shared pieces of the `python -m explainer <command>` entry points: JSON output, argparse types, one-line errors."""

from __future__ import annotations

import argparse
import json
import math
import sys
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
