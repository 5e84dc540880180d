"""What head ablation and activation patching return: numpy only, read-only, no model reference, picklable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from explainer.capture.validation import label_index as checked_label_index
from explainer.frozen import FrozenArrays

if TYPE_CHECKING:  # light on import (MODES is the command line's choices): no torch
    from explainer.loading.bundle import ModelBundle

MODES = ("mean", "zero")


def label_index(bundle: ModelBundle, target: int | str | None, default: int) -> int:
    """The label a caller named (a name, an index or its digits), or `default` for None."""
    return default if target is None else checked_label_index(bundle.label_names, target)


@dataclass(frozen=True, eq=False, repr=False)
class Ablation(FrozenArrays):
    """The effect of removing each head's output (and each layer's MLP) on one text's target logit."""

    model_name: str
    architecture: str
    text: str
    tokens: tuple[str, ...]
    label_names: tuple[str, ...]
    target: int
    mode: str  # "mean": the head's mean output over the reference set; "zero": zeros
    baseline_logits: np.ndarray  # [labels], nothing ablated
    heads: np.ndarray  # [layers, heads] target logit with the head ablated - baseline target logit
    head_probability: np.ndarray  # [layers, heads] change of the target label's probability
    mlp: np.ndarray | None  # [layers] target logit change with the layer's MLP write ablated
    mlp_probability: np.ndarray | None  # [layers]
    marker_off: np.ndarray | None  # [layers] target logit change with the layer's thought markers off
    gate_pinned: np.ndarray | None  # [2, layers] target logit change with the layer's gates pinned shut (0), open (1)
    reference_size: int  # texts the means were taken over (0 in zero mode)
    forward_passes: int  # model calls (each one batched pass; rows may join it mid-stack)
    layer_evaluations: int  # layers run summed over batch rows: / layers = work in single-row forward passes
    truncated: bool
    notes: tuple[str, ...] = ()

    @property
    def target_label(self) -> str:
        return self.label_names[self.target]

    @property
    def baseline_logit(self) -> float:
        return float(self.baseline_logits[self.target])

    @property
    def baseline_probability(self) -> float:
        shifted = np.exp(self.baseline_logits - self.baseline_logits.max())
        return float(shifted[self.target] / shifted.sum())

    @property
    def importance(self) -> np.ndarray:  # [layers, heads] how much the head supports the target: -change
        return -self.heads

    def top_heads(self, count: int = 10) -> list[tuple[int, int, float]]:
        """(layer, head, target logit change) of the heads whose removal lowers the target logit most: at most
        `count`, and only those it lowers (a head whose removal raises it does not support the target)."""
        return _ranked(self.heads, self.heads < 0, self.heads, count)


@dataclass(frozen=True, eq=False, repr=False)
class Patching(FrozenArrays):
    """Activation patching from the clean run into the corrupted run: the share of the logit difference each
    patched activation restores, (LD(patched) - LD(corrupted)) / (LD(clean) - LD(corrupted)), where
    LD = logit[target] - logit[foil]. 0: the corrupted run's; 1: the clean run's. Maps are over the corrupted
    text's tokens; positions without a clean partner are NaN."""

    model_name: str
    architecture: str
    clean_text: str
    corrupted_text: str
    clean_tokens: tuple[str, ...]
    corrupted_tokens: tuple[str, ...]
    label_names: tuple[str, ...]
    target: int
    foil: int
    clean_logits: np.ndarray  # [labels]
    corrupted_logits: np.ndarray  # [labels]
    residual: np.ndarray  # [layers+1, T] residual stream entering layer l (l = layers: the last layer's output)
    attention: np.ndarray  # [layers, T] the attention's write (output projection) at one position
    mlp: np.ndarray | None  # [layers, T] the MLP's write at one position (None: the family declares no MLP)
    heads: np.ndarray  # [layers, heads] one head's output at every partnered position
    partners: np.ndarray  # [T] clean position of each corrupted token, -1 for none
    unpartnered_clean: tuple[int, ...]
    unpartnered_corrupted: tuple[int, ...]
    readout: int  # the corrupted text's readout position
    nothing_patched: float  # the share measured with no patch (0 up to float error)
    forward_passes: int  # model calls (each one batched pass; rows may join it mid-stack)
    layer_evaluations: int  # layers run summed over batch rows: / layers = work in single-row forward passes
    truncated: tuple[bool, bool]  # (clean, corrupted) texts cut at the model's length
    notes: tuple[str, ...] = ()

    @property
    def logit_difference_clean(self) -> float:
        return float(self.clean_logits[self.target] - self.clean_logits[self.foil])

    @property
    def logit_difference_corrupted(self) -> float:
        return float(self.corrupted_logits[self.target] - self.corrupted_logits[self.foil])

    def logit_difference(self, share: np.ndarray | float) -> np.ndarray | float:
        """The patched run's logit difference from its restored share."""
        gap = self.logit_difference_clean - self.logit_difference_corrupted
        return self.logit_difference_corrupted + np.asarray(share) * gap

    def top_heads(self, count: int = 10) -> list[tuple[int, int, float]]:
        """(layer, head, restored share), largest share first: at most `count`, and only heads that restore some
        of it (a negative share moves the run further from the clean one)."""
        return _ranked(self.heads, self.heads > 0, -self.heads, count)


def _ranked(values: np.ndarray, kept: np.ndarray, order_by: np.ndarray, count: int) -> list[tuple[int, int, float]]:
    """(layer, head, value) of the `count` heads of `kept` (finite values only: NaN or inf says nothing of a head)
    with the smallest `order_by`, in that order. values, kept, order_by: [layers, heads]."""
    kept = kept & np.isfinite(values)
    flat = np.flatnonzero(kept)
    chosen = flat[np.argsort(order_by.ravel()[flat], kind="stable")][:count]
    heads = values.shape[1]
    return [(int(i // heads), int(i % heads), float(values.flat[i])) for i in chosen]
