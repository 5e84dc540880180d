"""Interpretability workbench for Transformer text classifiers: the library behind the Streamlit app.

    bundle = explainer.load_model()            # shipped default, a local folder, or a hub id
    t = explainer.trace(bundle, "some text")   # one forward pass -> immutable Trace
"""

from explainer.capture import InputError, Trace, trace
from explainer.loading import ModelBundle, ModelLoadError, load_model

__all__ = ["InputError", "ModelBundle", "ModelLoadError", "Trace", "load_model", "trace"]
