"""One forward pass in, one immutable Trace out.

validation.py InputError, validate_text(), MAX_TEXT_CHARS: what a text must be (light: no torch, no transformers)
encoding.py   encode(): one tokenisation under the bundle's lock (the first chunk the model reads); the notes on
              tokens left unread and special tokens typed in the text (Trace.typed_special_tokens finds them)
token_names.py readable_tokens(): token names for the views (byte-level BPE past ASCII by its text, "<0xF0>" for a
              split character)
tracing.py    trace() -> Trace: attention of every head, hidden states, logit lens, MLP update ratios, and for
              ThoughtBeacon models marker routing and beacon gates
layer_hooks.py hooks on one part of every layer, layers told apart by call order (ALBERT's shared layer)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from explainer.lazy import lazy_names

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


__getattr__ = lazy_names(__name__, _PUBLIC, globals())
