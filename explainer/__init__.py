"""Interpretability workbench for Transformer text classifiers: the library behind the Streamlit app.

    bundle = explainer.load_model()            # shipped default, a local folder, or a hub id
    t = explainer.trace(bundle, "some text")   # one forward pass -> immutable Trace

The public names load on first use, so tools that need no model (data sets, challenge set) start without
importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_PUBLIC = {
    "InputError": "explainer.capture",
    "Trace": "explainer.capture",
    "trace": "explainer.capture",
    "ModelBundle": "explainer.loading",
    "ModelLoadError": "explainer.loading",
    "load_model": "explainer.loading",
}
__all__ = ["InputError", "ModelBundle", "ModelLoadError", "Trace", "load_model", "trace"]

if TYPE_CHECKING:
    from explainer.capture import InputError, Trace, trace
    from explainer.loading import ModelBundle, ModelLoadError, load_model


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'explainer' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value
