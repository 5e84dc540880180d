"""How attribution methods run: one hashable options object, checked when made (it is part of every cache key),
and the choices and defaults the command line and the pages offer. Light on import (no torch): the command line
builds its parser from these without loading a model."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from explainer.capture.validation import InputError, is_count

if TYPE_CHECKING:  # the options are read without torch
    from explainer.loading.bundle import ModelBundle

BASELINES = ("pad", "mask", "zero")  # what replaces text tokens: the pad token, the mask token, zero embeddings
STOPS = ("error_bound", "delta")  # what adaptive IG (ig_adaptive.py) stops on

# "adaptive": ig_adaptive.py (nested Simpson panels, bisected where the exact per-panel error is); the others
# are captum's fixed rules, their step count doubled until the delta is within tolerance. Not captum's
# riemann_trapezoid: its weights sum to (n-1)/n, so it is biased by F-gap/n
# (tests/unit/attribution/test_ig_adaptive.py).
INTEGRATIONS = ("adaptive", "gausslegendre", "riemann_middle")

# Ends the note of a method (or graph layer) whose integral has not converged: the pages warn on it.
UNRELIABLE = "these scores are not reliable here"

# The attribution graph's defaults (graph.py: DEFAULT_STEPS, DEFAULT_THRESHOLD).
# The most intervals per layer (each layer stops at the first level that passes: 4 or 8 on the default model and
# on BERT-base, so the cap costs only where a layer needs it). 16 left the first layer of the shipped from-scratch
# models unconverged on 8 of 8 ordinary sentences (a permanent "not reliable" on the page); they need 32 to 128.
GRAPH_STEPS = 128
GRAPH_THRESHOLD = 0.25  # relative to the strongest edge of each layer (Hao et al. prune their tree at 0.4)
GRAPH_THRESHOLD_STEP = 0.05  # the Attribution page's slider (a link's threshold is snapped to it)


@dataclass(frozen=True)
class AttributionOptions:
    """How methods run. Hashable: it is part of every cache key."""

    baseline: str = "pad"  # pad | mask | zero: what replaces text tokens (special tokens stay)
    steps: int = 8  # integrated gradients: intervals of the first grid (adaptive) / first step count (captum's)
    max_steps: int = 256  # ... path points allowed while the error bound (captum's rules: delta) > tolerance x gap;
    # also the most intervals layer conductance's grid may double to
    tolerance: float = 0.01
    integration: str = "adaptive"  # one of INTEGRATIONS
    ig_stop: str = "error_bound"  # adaptive IG stops on: error_bound (no cancellation) | delta
    conductance_steps: int = 32  # trapezoid intervals of layer conductance's first grid
    conductance_tolerance: float = 0.05  # ... doubled while its worst layer misses completeness by more x gap
    samples: int = 200  # LIME and KernelSHAP perturbed samples
    seed: int = 0  # LIME / KernelSHAP sampling

    def __post_init__(self) -> None:
        if self.baseline not in BASELINES:
            raise InputError(f"Unknown baseline '{self.baseline}': choose one of {', '.join(BASELINES)}")
        if self.ig_stop not in STOPS:
            raise InputError(f"Unknown ig_stop '{self.ig_stop}': choose one of {', '.join(STOPS)}")
        if self.integration not in INTEGRATIONS:
            raise InputError(f"Unknown integration '{self.integration}': choose one of {', '.join(INTEGRATIONS)}")
        for name in ("steps", "max_steps", "conductance_steps", "samples"):
            if not is_count(value := getattr(self, name)):
                raise InputError(f"{name} must be a positive whole number, not {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            # torch.manual_seed failed on "x" only once LIME ran, and numpy's generators take no negative seed
            raise InputError(f"seed must be a whole number from 0, not {self.seed!r}")
        if self.integration == "adaptive" and self.max_steps < 3:
            raise InputError(f"max_steps must be at least 3 for adaptive integration (one panel), not {self.max_steps}")
        for name in ("tolerance", "conductance_tolerance"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise InputError(f"{name} must be a positive number, not {value!r}")


PAGE_MAX_STEPS = 128  # the pages' cap on path points, so a page answers in seconds; a run that needs more says so


def page_options(baseline: str = "pad") -> AttributionOptions:
    """What the pages run attribution with, and the report too, so that its numbers are the page's it redraws."""
    return AttributionOptions(baseline=baseline, max_steps=PAGE_MAX_STEPS)


def enumerable(features: int, samples: int) -> bool:
    """Whether every coalition of `features` tokens but the empty and the full one (whose values the gap already
    holds) costs no more model runs than `samples`: KernelSHAP is then computed exactly, not estimated."""
    return features <= 20 and 2**features - 2 <= samples


def offered_baselines(bundle: ModelBundle) -> tuple[str, ...]:
    """BASELINES the model's tokenizer can build: "mask" only with a mask token (GPT-2's, Llama's, RoBERTa-BPE's
    have none; chosen, the page was left empty but for a line saying so)."""
    return tuple(b for b in BASELINES if b != "mask" or bundle.tokenizer.mask_token_id is not None)
