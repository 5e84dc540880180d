"""Causal tests of an explanation: head ablation and activation patching (with word alignment of two texts), batched
with the prefix rows share run once (batching.py)."""

from explainer.causal.ablation import ablate_heads, reference_means
from explainer.causal.alignment import Alignment
from explainer.causal.hooks import SUPPORTED, CausalUnsupported
from explainer.causal.patching import patch
from explainer.causal.results import MODES, Ablation, Patching

__all__ = [
    "MODES",
    "SUPPORTED",
    "Ablation",
    "Alignment",
    "CausalUnsupported",
    "Patching",
    "ablate_heads",
    "patch",
    "reference_means",
]
