"""Interpretability workbench for Transformer text classifiers: the library behind the Streamlit app.

    bundle = explainer.load_model()            # shipped default, a local folder, or a hub id
    t = explainer.trace(bundle, "some text")   # one forward pass -> immutable Trace

The public names load on first use, so tools that need no model (data sets, challenge set) start without
importing torch.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

# oneDNN (under torch's CPU kernels) keeps a compiled primitive, scratch memory included, for every shape it has
# run, up to 1,024 by default, for the life of the process. A pass over a data set runs a new shape for nearly
# every batch (lengths and kept beacon positions vary): predicting 20,000 SST-2 rows grew the process to 1.5 GB
# with the default and to 0.87 GB with 64, at the same speed (also for one text at a time). It is read when
# oneDNN first runs, so setting it here, before any model runs, is enough; a value the user set is kept.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "64")

_PUBLIC = {
    "InputError": "explainer.capture.tracing",
    "Trace": "explainer.capture.tracing",
    "trace": "explainer.capture.tracing",
    "ModelBundle": "explainer.loading.bundle",
    "ModelLoadError": "explainer.loading.bundle",
    "load_model": "explainer.loading.bundle",
}
__all__ = ["InputError", "ModelBundle", "ModelLoadError", "Trace", "load_model", "trace"]

if TYPE_CHECKING:
    from explainer.capture.encoding import InputError
    from explainer.capture.tracing import Trace, trace
    from explainer.loading.bundle import ModelBundle, ModelLoadError, load_model


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'explainer' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value
