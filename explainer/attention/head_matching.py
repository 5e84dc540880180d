"""Match the attention heads of two models by what they do on one input, not by their index.

Similarity of two heads is the Pearson correlation of their flattened [T, T] attention maps on the same
units (tokens, or words when the two tokenisers differ: see explainer.compare). The one-to-one pairing that
maximises the total similarity is scipy's Hungarian solver (linear_sum_assignment); with different head counts
the smaller model's heads are all paired.

A constant map (a head that spreads its attention evenly over every unit, or every map of a text whose one token
covers all its words) has no correlation: it is given 0 against a map that varies and 1 against another constant
map (both do the same thing: nothing that tells units apart), so a model matched with itself pairs every head with
itself at 1. How many maps are constant is kept, for the page to say.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass(frozen=True)
class HeadPair:
    layer_a: int
    head_a: int
    layer_b: int
    head_b: int
    similarity: float  # Pearson correlation of the two maps, in [-1, 1]


@dataclass(frozen=True)
class HeadMatching:
    similarity: np.ndarray  # [layers_a * heads_a, layers_b * heads_b], layer-major
    pairs: tuple[HeadPair, ...]  # the optimal one-to-one pairing, most similar first
    heads_a: int  # heads per layer of model A
    heads_b: int
    by_layer: bool  # pairs were restricted to the same layer
    constant_a: int = 0  # heads of A whose map is constant on this input (similarity 0, or 1 with another such)
    constant_b: int = 0

    @property
    def unpaired_a(self) -> int:
        """Heads of A with no partner (B has fewer heads, or by-layer pairing left them out)."""
        return self.similarity.shape[0] - len(self.pairs)

    @property
    def unpaired_b(self) -> int:
        return self.similarity.shape[1] - len(self.pairs)

    def partner_of_a(self, layer: int, head: int) -> HeadPair | None:
        return next((p for p in self.pairs if (p.layer_a, p.head_a) == (layer, head)), None)

    @property
    def mean_similarity(self) -> float:
        return float(np.mean([p.similarity for p in self.pairs])) if self.pairs else 0.0

    def as_rows(self) -> list[dict]:
        return [
            {
                "A head": f"L{p.layer_a}.H{p.head_a}",
                "B head": f"L{p.layer_b}.H{p.head_b}",
                "similarity": round(p.similarity, 4),
                "same index": (p.layer_a, p.head_a) == (p.layer_b, p.head_b),
            }
            for p in self.pairs
        ]


def head_similarity(attention_a: np.ndarray, attention_b: np.ndarray) -> np.ndarray:
    """attention_a [La, Ha, U, U], attention_b [Lb, Hb, U, U] -> [La*Ha, Lb*Hb] Pearson correlations. A head whose
    map is constant correlates 0 with a map that varies and 1 with another constant map (the module's docstring)."""
    if attention_a.shape[-2:] != attention_b.shape[-2:]:
        raise ValueError(f"maps of different sizes: {attention_a.shape[-2:]} vs {attention_b.shape[-2:]}")
    flat_a, flat_b = _flat(attention_a), _flat(attention_b)
    similarity = _normalised(flat_a) @ _normalised(flat_b).T
    similarity[np.ix_(_constant(flat_a), _constant(flat_b))] = 1.0
    return similarity


def constant_maps(attention: np.ndarray) -> np.ndarray:
    """[L, H, U, U] -> [L * H] whether each head's map is constant (the same weight on every cell)."""
    return _constant(_flat(attention))


def _flat(attention: np.ndarray) -> np.ndarray:  # [L, H, U, U] -> [L * H, U * U] float64
    return attention.reshape(-1, attention.shape[-1] * attention.shape[-2]).astype(np.float64)


def _spread(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # centred rows [N, D] and their norms [N, 1]
    centred = flat - flat.mean(axis=1, keepdims=True)
    return centred, np.linalg.norm(centred, axis=1, keepdims=True)


def _constant(flat: np.ndarray) -> np.ndarray:  # [N, D] -> [N] rows with no spread
    return _spread(flat)[1][:, 0] <= 1e-12


def _normalised(flat: np.ndarray) -> np.ndarray:  # [N, D] -> [N, D] centred, unit norm (zero if constant)
    centred, norms = _spread(flat)
    return np.divide(centred, norms, out=np.zeros_like(centred), where=norms > 1e-12)


def match_heads(attention_a: np.ndarray, attention_b: np.ndarray, *, by_layer: bool = False) -> HeadMatching:
    """Optimal one-to-one pairing of heads of A [La, Ha, U, U] with heads of B [Lb, Hb, U, U].

    by_layer=True pairs heads only within the same layer (needs La == Lb); otherwise any head may pair with any."""
    layers_a, heads_a = attention_a.shape[:2]
    layers_b, heads_b = attention_b.shape[:2]
    similarity = head_similarity(attention_a, attention_b)
    if by_layer and layers_a != layers_b:
        raise ValueError(f"by-layer matching needs equal layer counts, got {layers_a} and {layers_b}")
    if by_layer:
        cost = np.full_like(similarity, 1e6)  # forbids pairs across layers (a finite cost keeps it solvable)
        for layer in range(layers_a):
            rows = slice(layer * heads_a, (layer + 1) * heads_a)
            columns = slice(layer * heads_b, (layer + 1) * heads_b)
            cost[rows, columns] = -similarity[rows, columns]
    else:
        cost = -similarity
    rows, columns = linear_sum_assignment(cost)
    pairs = [
        HeadPair(
            layer_a=int(r // heads_a), head_a=int(r % heads_a), layer_b=int(c // heads_b), head_b=int(c % heads_b),
            similarity=float(similarity[r, c]),
        )
        for r, c in zip(rows, columns)
        if not by_layer or r // heads_a == c // heads_b
    ]
    pairs.sort(key=lambda p: (-p.similarity, p.layer_a, p.head_a))
    constant_a, constant_b = (int(constant_maps(attention).sum()) for attention in (attention_a, attention_b))
    return HeadMatching(similarity=similarity, pairs=tuple(pairs), heads_a=heads_a, heads_b=heads_b, by_layer=by_layer,
                        constant_a=constant_a, constant_b=constant_b)
