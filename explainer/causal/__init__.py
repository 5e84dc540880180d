"""Causal tests of an explanation: head ablation and activation patching (with word alignment of two texts), batched
with the prefix rows share run once (batching.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from explainer.lazy import lazy_names

# Loaded on first use, so that reading MODES and the result types (results.py) imports no torch.
_PUBLIC = {
    "ablate_heads": "ablation",
    "reference_means": "ablation",
    "Alignment": "alignment",
    "SUPPORTED": "hooks",
    "CausalUnsupported": "hooks",
    "patch": "patching",
    "MODES": "results",
    "Ablation": "results",
    "Patching": "results",
}
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

if TYPE_CHECKING:
    from explainer.causal.ablation import ablate_heads, reference_means
    from explainer.causal.alignment import Alignment
    from explainer.causal.hooks import SUPPORTED, CausalUnsupported
    from explainer.causal.patching import patch
    from explainer.causal.results import MODES, Ablation, Patching


__getattr__ = lazy_names(__name__, _PUBLIC, globals())
