"""Attribution of a prediction to its input tokens, and its checks.

    from explainer.attribution import AttributionOptions, attribute, attribute_all

registry.py        the methods (name, title, signed, compute), one entry each
attributing.py     attribute() / attribute_all(): tokenise once, pick the target, run a method under the lock
inputs.py          what every method starts from: embeddings, baseline, readout, the model as f(embeddings)
options.py         AttributionOptions (hashable, checked)
result.py          Attribution and Computed (numpy only)
embedding_methods.py  integrated gradients (adaptive, ig_adaptive.py), saliency, input x gradient, occlusion,
                   LIME, KernelSHAP on the word embeddings (captum)
layer_methods.py   layer conductance per layer, attention rollout, gradient x attention
graph.py           the attribution graph (self-attention attribution, Hao et al. 2021)
faithfulness.py    deletion/insertion curves, AOPC, comprehensiveness/sufficiency, agreement between methods
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from explainer.lazy import lazy_names

# Loaded on first use, so that reading the registry (titles, for views) imports no torch.
_PUBLIC = {
    "attribute": "attributing",
    "attribute_all": "attributing",
    "each_method": "attributing",
    "AttributionOptions": "options",
    "METHODS": "registry",
    "REGISTRY": "registry",
    "Method": "registry",
    "Attribution": "result",
    "MethodUnsupported": "layer_methods",
    "GraphUnsupported": "graph",
}
__all__ = [
    "METHODS",
    "REGISTRY",
    "Attribution",
    "AttributionOptions",
    "GraphUnsupported",
    "Method",
    "MethodUnsupported",
    "attribute",
    "attribute_all",
    "each_method",
]

if TYPE_CHECKING:
    from explainer.attribution.attributing import attribute, attribute_all, each_method
    from explainer.attribution.graph import GraphUnsupported
    from explainer.attribution.layer_methods import MethodUnsupported
    from explainer.attribution.options import AttributionOptions
    from explainer.attribution.registry import METHODS, REGISTRY, Method
    from explainer.attribution.result import Attribution


__getattr__ = lazy_names(__name__, _PUBLIC, globals())
