"""How faithful an attribution is to the model, and how much methods agree.

Faithfulness, on the text tokens (special tokens always stay), ranked by attribution, highest first:
- deletion curve: the target probability as the top-k tokens are replaced by the baseline (k from none to all);
  a faithful ranking makes it fall fast. AOPC (Samek et al. 2017) = mean over the curve of p(x) - p_k.
- insertion curve: the target probability with only the top-k tokens present (the rest baseline); it should
  rise fast. Areas under both curves are means over evenly spaced fractions of the tokens.
- comprehensiveness and sufficiency (DeYoung et al. 2020, ERASER): mean over k in 1, 5, 10, 20, 50% of the
  text tokens of p(x) - p(x with the top k removed) and of p(x) - p(only the top k kept); tokens are removed
  from the sequence, as ERASER does. k is the share of the text tokens rounded up, at least one token: on a
  short text several bins hold the same k (on 10 tokens, 1%, 5% and 10% all remove one), which weighs that k more.
  A removal that would leave no token at all (the one text token of a model that adds no special tokens) is not
  scored: a padded empty row is no input the model can read. With no bin left, comprehensiveness is NaN.
Agreement: Spearman rank correlation and top-k overlap between every pair of methods.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from explainer.attribution import Attribution
from explainer.attribution.inputs import prepare, rows_per_batch, run_args
from explainer.attribution.registry import REGISTRY
from explainer.capture.encoding import InputError
from explainer.frozen import FrozenArrays
from explainer.loading.bundle import ModelBundle

ERASER_BINS = (0.01, 0.05, 0.10, 0.20, 0.50)
MAX_CURVE_POINTS = 21


@dataclass(frozen=True, eq=False, repr=False)
class Faithfulness(FrozenArrays):
    method: str
    fractions: np.ndarray  # [P] share of the text tokens deleted / inserted
    deletion: np.ndarray  # [P] target probability, top tokens replaced by the baseline
    insertion: np.ndarray  # [P] target probability, only the top tokens present
    deletion_auc: float  # lower is more faithful
    insertion_auc: float  # higher is more faithful
    aopc: float  # mean of p(x) - deletion: higher is more faithful
    comprehensiveness: float  # higher is more faithful
    sufficiency: float  # lower is more faithful

    def summary(self) -> dict[str, float]:
        return {
            "deletion_auc": self.deletion_auc,
            "insertion_auc": self.insertion_auc,
            "aopc": self.aopc,
            "comprehensiveness": self.comprehensiveness,
            "sufficiency": self.sufficiency,
        }


def ranking(attribution: Attribution) -> np.ndarray:
    """Positions of the text tokens, highest attribution first (ties: earlier first)."""
    positions = np.flatnonzero(~attribution.special_tokens)
    return positions[np.argsort(-attribution.scores[positions], kind="stable")]


def curve_counts(n: int) -> np.ndarray:
    """How many tokens to delete/insert at each curve point: every count for short inputs, else evenly spaced."""
    if n + 1 <= MAX_CURVE_POINTS:
        return np.arange(n + 1)
    return np.unique(np.round(np.linspace(0, n, MAX_CURVE_POINTS)).astype(int))


def faithfulness(
    bundle: ModelBundle, attribution: Attribution, order: np.ndarray | None = None
) -> Faithfulness:
    """Faithfulness of `attribution` (or of an explicit `order` of token positions, e.g. a random one), on the
    model that made it."""
    if attribution.model_name != bundle.name or attribution.label_names != tuple(bundle.label_names):
        # another model's ranking, scored here, says nothing of either (or fails on a shape, if the tokens differ)
        raise InputError(f"This attribution is of {attribution.model_name}, not {bundle.name}: faithfulness removes "
                         "tokens in its order and watches the model that made it. Pass that model's bundle.")
    order = ranking(attribution) if order is None else _checked_order(order, attribution.special_tokens)
    # the model as the attribution ran it: dense, but for attention rollout, which reads the model at its tau
    dense = REGISTRY[attribution.method].dense if attribution.method in REGISTRY else True
    prepared = prepare(bundle, attribution.text, attribution.baseline, dense=dense, tau=attribution.tau)
    n = len(order)
    counts = curve_counts(n)
    rank = np.full(prepared.length, n)  # special tokens rank after everything: never removed
    rank[order] = np.arange(n)
    rank_t = torch.tensor(rank, device=bundle.device)
    x, base = prepared.embeddings[0], prepared.baseline_embeddings[0]
    text_token = torch.tensor(~attribution.special_tokens, device=bundle.device)
    deleted, inserted = [], []
    for k in counts:
        top = (rank_t < int(k))[:, None]
        deleted.append(torch.where(top, base, x))
        inserted.append(torch.where(top | ~text_token[:, None], x, base))
    probabilities = _probabilities_of_embeddings(bundle, prepared, torch.stack(deleted + inserted), attribution.target)
    deletion, insertion = probabilities[: len(counts)], probabilities[len(counts) :]
    full = deletion[0]
    comprehensiveness, sufficiency = _eraser(bundle, prepared.input_ids[0].tolist(), order, attribution, full,
                                             run_args(bundle, dense, attribution.tau))
    fractions = counts / max(n, 1)
    return Faithfulness(
        method=attribution.method,
        fractions=fractions,
        deletion=deletion,
        insertion=insertion,
        deletion_auc=float(deletion.mean()),
        insertion_auc=float(insertion.mean()),
        aopc=float((full - deletion).mean()),
        comprehensiveness=comprehensiveness,
        sufficiency=sufficiency,
    )


def _probabilities_of_embeddings(bundle, prepared, embeds: torch.Tensor, target: int) -> np.ndarray:
    """Target probability of each row of embeds [rows, T, d]."""
    chunk = rows_per_batch(bundle, prepared.length)
    out = []
    with bundle.lock, torch.no_grad():
        for part in embeds.split(chunk):
            mask = torch.ones(part.shape[:2], dtype=torch.long, device=part.device)
            logits = bundle.model(inputs_embeds=part, attention_mask=mask, **prepared.extra).logits
            out.append(logits.float().softmax(-1)[:, target].cpu())
    return torch.cat(out).numpy()


def _checked_order(order, special: np.ndarray) -> np.ndarray:
    """An explicit `order`: each text token's position once (an index past the text, a repeat or a special token
    would be removed as if it were a word, or fail deep in numpy)."""
    order = np.asarray(order)
    text = set(np.flatnonzero(~np.asarray(special, dtype=bool)).tolist())
    if order.ndim != 1 or order.size == 0 or not np.issubdtype(order.dtype, np.integer):
        raise InputError(f"order must list positions of the text's tokens, not {order.tolist()!r:.80}")
    listed = order.tolist()
    if outside := [p for p in listed if p not in text]:
        raise InputError(f"order must list positions of the text's tokens: {outside[0]} is not one (a special "
                         f"token's or past the {len(special)} tokens)")
    if len(set(listed)) != len(listed):
        raise InputError("order must list positions of the text's tokens, each at most once")
    return order


def _eraser(bundle, ids: list[int], order: np.ndarray, attribution: Attribution, full: float,
            extra: dict) -> tuple[float, float]:
    """ERASER's comprehensiveness and sufficiency; `extra`: the forward arguments the rest of faithfulness ran
    the model with (dense or at its tau), so `full` and the removals are one model's."""
    n = len(order)
    special = attribution.special_tokens
    sequences: list[list[int]] = []
    for share in ERASER_BINS:
        top = set(order[: max(1, math.ceil(share * n))].tolist())
        sequences.append([t for i, t in enumerate(ids) if i not in top])  # the top tokens removed
        sequences.append([t for i, t in enumerate(ids) if i in top or special[i]])  # only the top tokens
    scored = np.array([len(s) > 0 for s in sequences[0::2]])  # removals that leave the model something to read
    sequences = [s or [ids[0]] for s in sequences]  # a placeholder row for an empty removal: its p is not used
    pad = bundle.tokenizer.pad_token_id
    longest = max(len(s) for s in sequences)
    input_ids = torch.tensor([s + [pad] * (longest - len(s)) for s in sequences], device=bundle.device)
    mask = torch.tensor([[1] * len(s) + [0] * (longest - len(s)) for s in sequences], device=bundle.device)
    chunk = rows_per_batch(bundle, longest)
    probabilities = []
    with bundle.lock, torch.no_grad():
        for rows, masks in zip(input_ids.split(chunk), mask.split(chunk)):
            logits = bundle.model(input_ids=rows, attention_mask=masks, **extra).logits
            probabilities.append(logits.float().softmax(-1)[:, attribution.target].cpu())
    p = torch.cat(probabilities).numpy()
    comprehensiveness = float((full - p[0::2][scored]).mean()) if scored.any() else float("nan")
    return comprehensiveness, float((full - p[1::2]).mean())


@dataclass(frozen=True, eq=False)
class Agreement:
    methods: tuple[str, ...]
    spearman: np.ndarray  # [M, M] rank correlation over the text tokens
    top_k_overlap: np.ndarray  # [M, M] share of the k highest-ranked tokens in common
    k: int
    absolute: bool  # ranked by |attribution| (signs ignored) rather than by value
    tokens: int = 0  # how many text tokens were ranked: both measures need at least 2 (nan below)

    @property
    def chance_overlap(self) -> float:
        """The top-k overlap two unrelated rankings have on average (k / tokens): what the overlap is read against."""
        return self.k / self.tokens if self.tokens >= 2 else float("nan")


def agreement(attributions: Mapping[str, Attribution], k: int = 5, absolute: bool = True) -> Agreement:
    """Rank agreement between methods on the same input. Magnitudes by default: saliency and the attention
    methods have no sign, and a token strongly against the label is as important as one for it.

    k is at most half the text tokens, as in Compare's rank_agreement: a top-k of nearly every token overlaps by
    construction (on 2 tokens, top-2 is everything: two opposite rankings overlapped 100%), which says nothing.
    Below 2 tokens neither measure is defined (nan off the diagonal)."""
    methods = tuple(attributions)
    if not methods:
        raise ValueError("No attributions to compare")
    first = attributions[methods[0]]
    text = ~first.special_tokens
    values = []
    for method in methods:
        each = attributions[method]
        if (each.model_name, each.text, each.tokens) != (first.model_name, first.text, first.tokens):
            # of two texts of one length, it ranked token 1 of one against token 1 of the other (Spearman 1.0)
            raise InputError(f"Attributions of different inputs cannot be compared: {methods[0]} is of "
                             f"{first.model_name} on {first.text[:40]!r}, {method} of {each.model_name} on "
                             f"{each.text[:40]!r}")
        scores = each.scores
        values.append(np.abs(scores[text]) if absolute else scores[text])
    n = int(text.sum())
    k = max(1, min(k, n // 2))
    ranks = [pd.Series(v).rank(method="average").to_numpy() for v in values]
    tops = [set(np.argsort(-v, kind="stable")[:k].tolist()) for v in values]
    size = len(methods)
    spearman = np.eye(size)
    overlap = np.eye(size)
    for a in range(size):
        for b in range(a + 1, size):
            spearman[a, b] = spearman[b, a] = _correlation(ranks[a], ranks[b])
            overlap[a, b] = overlap[b, a] = len(tops[a] & tops[b]) / k if n >= 2 else float("nan")
    return Agreement(methods=methods, spearman=spearman, top_k_overlap=overlap, k=k, absolute=absolute, tokens=n)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")  # undefined for a constant ranking
    return float(np.corrcoef(a, b)[0, 1])
