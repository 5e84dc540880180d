"""What an attribution method returns: `Computed` (its raw arrays) and `Attribution` (the result a user gets).
Numpy only, no model reference: safe to cache and to pass to views."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from explainer.attribution import registry
from explainer.frozen import FrozenArrays


@dataclass(frozen=True)
class Computed:
    """One method's raw output, before `attribute()` wraps it with the input and the prediction."""

    scores: np.ndarray  # [T]
    layer_scores: np.ndarray | None = None  # [layers+1, T]
    delta: float | None = None
    baseline_logit: float | None = None
    steps: int | None = None
    error_bound: float | None = None


@dataclass(frozen=True, eq=False, repr=False)
class Attribution(FrozenArrays):
    """One method's attribution of one prediction. Numpy on CPU, read-only, no model reference."""

    method: str
    model_name: str
    architecture: str
    text: str
    tokens: tuple[str, ...]
    offsets: np.ndarray  # [T, 2] character span of each token; (0, 0) for special tokens
    special_tokens: np.ndarray  # [T] bool
    label_names: tuple[str, ...]
    target: int  # label attributed
    logits: np.ndarray  # [labels] of the input, as attributed (ThoughtBeacon: dense)
    scores: np.ndarray  # [T] one value per token (layer methods: mean over layers)
    layer_scores: np.ndarray | None  # [layers+1, T] per-layer methods: embeddings first, then each layer
    # path methods: sum(scores) - (F(x) - F(baseline)); layer conductance: the largest of its rows' errors
    # sum(layer_scores[l]) - (F(x) - F(baseline)) (scores, their mean, can miss by less)
    convergence_delta: float | None
    target_logit: float  # F(x): the target's logit
    baseline_logit: float | None  # F(baseline) for path methods
    baseline: str
    steps: int | None  # path points evaluated (adaptive IG: a first grid of 8 intervals is 9 points; captum: n_steps)
    seconds: float
    truncated: bool
    notes: tuple[str, ...] = ()
    error_bound: float | None = None  # adaptive IG: sum over path panels of |error| (>= |delta|)
    tau: float | None = None  # the tau a method that reads the model as it is (rollout) ran it at; None: its own

    @property
    def target_label(self) -> str:
        return self.label_names[self.target]

    @property
    def title(self) -> str:
        return registry.title(self.method)

    @property
    def signed(self) -> bool:
        return registry.REGISTRY[self.method].signed

    @property
    def logit_gap(self) -> float | None:
        return None if self.baseline_logit is None else self.target_logit - self.baseline_logit

    @property
    def relative_delta(self) -> float | None:
        """|delta| / |F(x) - F(baseline)|, the convergence measure of the speed target."""
        if self.convergence_delta is None or not self.logit_gap:
            return None
        return abs(self.convergence_delta) / abs(self.logit_gap)

    def as_dict(self) -> dict[str, Any]:
        """The CLI's JSON: tokens, attributions (per layer for layer methods), target, delta."""
        out: dict[str, Any] = {
            "model": self.model_name,
            "method": self.method,
            "tokens": list(self.tokens),
            "target": self.target,
            "target_label": self.target_label,
            "attributions": (self.layer_scores if self.layer_scores is not None else self.scores).tolist(),
            # a method that reads none says so: "pad" read as if saliency's or rollout's scores depended on it
            "baseline": self.baseline if "baseline" in registry.REGISTRY[self.method].reads else None,
            "target_logit": self.target_logit,
        }
        if self.layer_scores is not None:
            out["token_attributions"] = self.scores.tolist()
        if self.convergence_delta is not None:
            out["convergence_delta"] = self.convergence_delta
            out["baseline_logit"] = self.baseline_logit
            out["steps"] = self.steps
        if self.error_bound is not None:
            out["error_bound"] = self.error_bound
        if self.truncated:
            out["truncated"] = True
        if self.notes:
            out["notes"] = list(self.notes)
        return out
