"""One forward pass in, one immutable Trace out.

validation.py InputError, validate_text(), MAX_TEXT_CHARS: what a text must be (light: no torch, no transformers)
encoding.py   encode(): one tokenisation under the bundle's lock (the first chunk the model reads)
tracing.py    trace() -> Trace: attention of every head, hidden states, logit lens, MLP update ratios, and for
              ThoughtBeacon models marker routing and beacon gates
layer_hooks.py hooks on one part of every layer, layers told apart by call order (ALBERT's shared layer)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_PUBLIC = {
    "MAX_TEXT_CHARS": "validation",
    "InputError": "validation",
    "encode": "encoding",
    "Trace": "tracing",
    "trace": "tracing",
}
__all__ = ["MAX_TEXT_CHARS", "InputError", "Trace", "encode", "trace"]

if TYPE_CHECKING:
    from explainer.capture.encoding import encode
    from explainer.capture.tracing import Trace, trace
    from explainer.capture.validation import MAX_TEXT_CHARS, InputError


def __getattr__(name: str) -> Any:  # loaded on first use: importing a submodule costs no more than it needs
    if name not in _PUBLIC:
        raise AttributeError(f"module 'explainer.capture' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"explainer.capture.{_PUBLIC[name]}"), name)
    globals()[name] = value
    return value
