"""Derived views of a Trace's attention: rollout and per-head statistics. Pure numpy, no model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def attention_rollout(attentions: np.ndarray, residual: bool = True) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020): how much each token's final representation draws on each input
    token, through all layers. `attentions` [layers, heads, T, T] -> [T, T] (query x input token).

    Heads are averaged; with `residual`, each layer is 0.5 * A + 0.5 * I, re-normalised per row, to account for
    the skip connection. Layers compose as A_L' ... A_1'."""
    # Sum the heads in the attention's own precision (a few values per cell), then compose in float64.
    mean = attentions.sum(axis=1) / attentions.shape[1]  # [layers, T, T]
    size = mean.shape[-1]
    identity = np.eye(size)
    rollout = identity
    for layer in mean:
        step = 0.5 * layer + 0.5 * identity if residual else layer.astype(np.float64)
        step /= step.sum(axis=-1, keepdims=True)
        rollout = step @ rollout
    return rollout


@dataclass(frozen=True)
class HeadStatistics:
    """Per-head summaries, each [layers, heads], averaged over query positions."""

    entropy: np.ndarray  # nats; low = focused head
    mean_distance: np.ndarray  # expected |query - key| in tokens
    first_token_share: np.ndarray  # weight on position 0 ([CLS] / <s> / first token)
    last_token_share: np.ndarray  # weight on the last position ([SEP] / </s> / last token)
    self_share: np.ndarray  # weight on the query's own position
    previous_token_share: np.ndarray  # weight on the position before the query (queries 1.. only)

    def as_rows(self) -> list[dict[str, float | int]]:
        """One dict per head, for a sortable table."""
        layers, heads = self.entropy.shape
        return [
            {"layer": layer, "head": head, **{name: float(getattr(self, name)[layer, head]) for name in FIELDS}}
            for layer in range(layers)
            for head in range(heads)
        ]


FIELDS = ("entropy", "mean_distance", "first_token_share", "last_token_share", "self_share", "previous_token_share")


def field_title(field: str) -> str:
    """A statistic as the pages and reports name it in words ("mean_distance" -> "mean distance")."""
    return field.replace("_", " ")


def head_statistics(attentions: np.ndarray) -> HeadStatistics:
    """Statistics of every head from attention [layers, heads, T, T] (rows sum to 1).

    Computed one layer at a time in the attention's own precision: each row is summed pairwise (numpy's
    contiguous reduction), and the row sums are added in float64. Converting a 512-token, 144-head stack to
    float64 at once would allocate ~300 MB per temporary and take several times longer."""
    layers, heads, size, _ = attentions.shape
    positions = np.arange(size)
    distance = np.abs(positions[:, None] - positions[None, :]).astype(attentions.dtype)  # [T, T]
    fields = {name: np.zeros((layers, heads)) for name in FIELDS}
    for layer in range(layers):
        weights = attentions[layer]  # [heads, T, T]
        logs = np.log(np.where(weights > 0, weights, 1))  # 0 log 0 = 0
        fields["entropy"][layer] = -(weights * logs).sum(axis=-1).sum(axis=-1, dtype=np.float64) / size
        fields["mean_distance"][layer] = (weights * distance).sum(axis=-1).sum(axis=-1, dtype=np.float64) / size
        fields["first_token_share"][layer] = weights[:, :, 0].mean(axis=-1, dtype=np.float64)
        fields["last_token_share"][layer] = weights[:, :, -1].mean(axis=-1, dtype=np.float64)
        fields["self_share"][layer] = weights[:, positions, positions].mean(axis=-1, dtype=np.float64)
        if size > 1:
            previous = weights[:, positions[1:], positions[1:] - 1]
            fields["previous_token_share"][layer] = previous.mean(axis=-1, dtype=np.float64)
    return HeadStatistics(**fields)
