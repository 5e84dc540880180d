"""The attribution methods, one entry each (captum/inseq style): name, title, whether scores are signed, what
changes them (the target label among it, or not: depends_on_target), and the function that computes them. Used
by `attribute()`, the command line, the Attribution page and its legend (views/attribution.py) and the contract
test.

Torch-free on import: `compute` names its function as "module:function" and loads it on first use, so views and
pages can read titles without importing torch or captum. Adding a method = one `Method(...)` entry below and a
function `compute(bundle, prepared, label, target_logit, options) -> Computed` (run under the bundle's lock
with gradients enabled; see explainer/attribution/attributing.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Method:
    name: str
    title: str
    signed: bool  # scores for and against the label; unsigned ones are magnitudes or shares
    compute: str  # "module:function" of (bundle, prepared, label, target_logit, options) -> Computed
    reads: frozenset[str] = frozenset({"target"})  # of baseline, steps, samples, target: what changes its scores
    one_readout: bool = False  # follows the one position the classifier reads: none for a model that reads none
    # Runs a ThoughtBeacon model dense, as gradients need (its skipping is a step function); a method reading the
    # attention alone runs the model as it is, so it shows the Attention page's rollout.
    dense: bool = True

    @property
    def depends_on_target(self) -> bool:
        """Whether the scores change with the target label (attention rollout's do not: it reads no label)."""
        return "target" in self.reads

    def function(self) -> Callable[..., Any]:
        module, _, name = self.compute.partition(":")
        return getattr(importlib.import_module(module), name)


_READS = frozenset({"target"})
_EMBEDDING = "explainer.attribution.embedding_methods"
_LAYER = "explainer.attribution.layer_methods"

REGISTRY: dict[str, Method] = {
    m.name: m
    for m in (
        Method("integrated_gradients", "Integrated gradients", True, f"{_EMBEDDING}:integrated_gradients",
               _READS | {"baseline", "steps"}),
        Method("saliency", "Saliency", False, f"{_EMBEDDING}:saliency"),
        Method("input_x_gradient", "Input × gradient", True, f"{_EMBEDDING}:input_x_gradient"),
        Method("occlusion", "Occlusion", True, f"{_EMBEDDING}:occlusion", _READS | {"baseline"}),
        Method("lime", "LIME", True, f"{_EMBEDDING}:lime", _READS | {"baseline", "samples"}),
        Method("kernel_shap", "KernelSHAP", True, f"{_EMBEDDING}:kernel_shap", _READS | {"baseline", "samples"}),
        Method("layer_conductance", "Layer conductance", True, f"{_LAYER}:layer_conductance",
               _READS | {"baseline", "steps"}),
        Method("rollout", "Attention rollout", False, f"{_LAYER}:rollout", frozenset(),  # the same for any label
               one_readout=True, dense=False),
        Method("grad_x_attention", "Gradient × attention", False, f"{_LAYER}:grad_x_attention", one_readout=True),
    )
}
METHODS: tuple[str, ...] = tuple(REGISTRY)


def methods_for(model: Any) -> tuple[str, ...]:
    """The methods that can attribute `model`: all but those following one readout position when its classifier
    reads none (families.single_readout_note: a family the table lacks, a mean-pooling ModernBERT)."""
    from explainer.families import single_readout_note  # torch: only when a model is at hand

    if single_readout_note(model) is None:
        return METHODS
    return tuple(name for name in METHODS if not REGISTRY[name].one_readout)


def title(method: str) -> str:
    """The method's display title (the name itself for one not registered)."""
    return REGISTRY[method].title if method in REGISTRY else method
