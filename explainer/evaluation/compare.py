"""Two models side by side: on one text (predictions, attention with heads matched, attributions and their rank
agreement) and on a data set (both metrics, the examples where one is right and the other wrong).

Two models may tokenise differently (the shipped ones do): attention and attributions are then compared on
words (counterfactual/words.py's: runs of letters and digits with their accents and joiners, or one punctuation
mark or emoji; one visible character is never split), pooling each model's tokens into the words they cover.
Special tokens ([CLS], [SEP], <s>...) cover no word and drop out of a word-level comparison.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from explainer.attention.head_matching import HeadMatching, match_heads
from explainer.capture.encoding import UnembeddableToken
from explainer.capture.tracing import Trace, trace
from explainer.capture.validation import label_index, label_key
from explainer.counterfactual.words import split_words
from explainer.data.labelled import DatasetError, LabelledData
from explainer.evaluation.error_report import ErrorReport, analyse
from explainer.loading.bundle import ModelBundle
from explainer.progress import Progress

TOP_K = 5


class CompareError(ValueError):
    """The two models cannot be compared this way; the message says why."""


# ---- attribution -------------------------------------------------------------------------------------------


def input_x_gradient(bundle: ModelBundle, text: str, target: int) -> np.ndarray:  # [T]
    """Gradient x input on the token embeddings, one score per token of `trace(bundle, text)`, towards the logit
    of label `target` (explainer.attribution's method; ThoughtBeacon models are attributed dense there)."""
    from explainer.attribution import attribute

    return attribute(bundle, text, "input_x_gradient", target=int(target)).scores


@dataclass(frozen=True)
class RankAgreement:
    spearman: float  # rank correlation of the two attributions (signed), nan with fewer than 2 units
    kendall: float
    top_k_overlap: float  # |top-k(A) ∩ top-k(B)| / k, top by absolute attribution
    k: int
    units: int = 0  # how many units were ranked

    @property
    def chance_overlap(self) -> float:
        """The overlap two unrelated rankings have on average (k / units): what top_k_overlap is read against."""
        return self.k / self.units if self.units else float("nan")


def rank_agreement(a: np.ndarray, b: np.ndarray, k: int = TOP_K) -> RankAgreement:
    """a [U], b [U]: attributions of the same units by two models. k is at most half the units: a top-k of
    nearly every unit overlaps by construction (top-5 of 6 share at least 4), which says nothing."""
    if a.shape != b.shape:
        raise ValueError(f"attributions of different lengths: {a.shape} vs {b.shape}")
    n = len(a)
    if n < 2:
        k = min(k, n)
        return RankAgreement(spearman=float("nan"), kendall=float("nan"), top_k_overlap=1.0 if k else 0.0, k=k,
                             units=n)
    k = max(1, min(k, n // 2))
    spearman = float(stats.spearmanr(a, b).statistic)
    kendall = float(stats.kendalltau(a, b).statistic)
    top_a = set(np.argsort(-np.abs(a), kind="stable")[:k].tolist())
    top_b = set(np.argsort(-np.abs(b), kind="stable")[:k].tolist())
    return RankAgreement(spearman=spearman, kendall=kendall, top_k_overlap=len(top_a & top_b) / k, k=k, units=n)


# ---- units: tokens, or words when the tokenisers differ ----------------------------------------------------


def word_membership(t: Trace, words: list[tuple[int, int]]) -> np.ndarray:  # [W, T]
    """The share of token t that word w holds: 1 for a token inside one word, 1/n for a token that covers n words
    (one [UNK] over "great😀", which the word split makes two words: counted whole in each, a pooled attention row
    summed to 2 and the token's attribution was counted twice); a token of spaces only (byte-level BPE's lone "Ġ"
    before a word, which GPT-2 spans over the space and RoBERTa trims to an empty span) belongs to the word after
    it, or to the last word at the end; special tokens cover nothing.
    Each text token's shares sum to 1, so pooled rows keep at most the weight the tokens had and attribution totals
    are kept."""
    membership = np.zeros((len(words), len(t.tokens)), dtype=np.float64)
    starts = np.array([s for s, _ in words])
    ends = np.array([e for _, e in words])
    for i, (start, end) in enumerate(t.offsets.tolist()):
        if t.special_tokens[i]:
            continue
        covered = (starts < end) & (ends > start)  # none for an empty span
        if covered.any():
            membership[covered, i] = 1.0 / covered.sum()
        elif len(words):  # between words: its weight and attribution went nowhere
            after = np.flatnonzero(starts >= end)
            membership[after[0] if len(after) else len(words) - 1, i] = 1.0
    return membership


def _read_to(t: Trace, length: int) -> int:
    """Where a model stopped reading the text: the end of its last text token when it was cut, else its end."""
    if not t.truncated:
        return length
    ends = [end for (start, end), special in zip(t.offsets.tolist(), t.special_tokens) if not special and end > start]
    return max(ends, default=0)


def pool_attention(attentions: np.ndarray, membership: np.ndarray) -> np.ndarray:
    """[L, H, T, T] -> [L, H, W, W]: the mean over the word's query tokens (weighted by its shares of them) of the
    weight on its key tokens (each counted by the word's share of it)."""
    held = membership.sum(axis=1, keepdims=True)
    query = membership / np.where(held > 0, held, 1.0)  # [W, T]
    return np.einsum("wq,lhqk,vk->lhwv", query, attentions.astype(np.float64), membership)


@dataclass(frozen=True)
class TextComparison:
    trace_a: Trace
    trace_b: Trace
    level: str  # "token" (same tokens in both) or "word"
    units: tuple[str, ...]  # the tokens or words compared
    attention_a: np.ndarray  # [La, Ha, U, U]
    attention_b: np.ndarray  # [Lb, Hb, U, U]
    matching: HeadMatching
    target: int  # A's label the attributions are towards (an id of A's labels)
    attribution_a: np.ndarray | None  # [U]; None: left out, a model reads more tokens than attribution_tokens
    attribution_b: np.ndarray | None  # [U]
    agreement: RankAgreement | None
    target_b: int  # B's label its attributions are towards (an id of B's labels; see `target_in_b`)
    notes: tuple[str, ...] = ()  # why B's attribution is towards another label name than A's

    @property
    def why_words(self) -> str:
        """Why the comparison pools tokens into words: the tokenisers differ, or (the same tokens, one list a
        prefix of the other) the two models read different lengths of the text."""
        a, b = (
            [token for token, special in zip(t.tokens, t.special_tokens) if not special]
            for t in (self.trace_a, self.trace_b)
        )
        shorter, longer = sorted((a, b), key=len)
        if len(a) != len(b) and shorter == longer[: len(shorter)]:
            return f"the two models read different lengths of the text ({len(a)} and {len(b)} tokens)"
        return "the two tokenisers differ"

    @property
    def target_names(self) -> tuple[str, str]:
        """The label names A's and B's attributions are towards (different only when B lacks A's label)."""
        return self.trace_a.label_names[self.target], self.trace_b.label_names[self.target_b]

    @property
    def same_prediction(self) -> bool:
        return label_key(self.trace_a.predicted_label) == label_key(self.trace_b.predicted_label)

    @property
    def order_b(self) -> list[int] | None:
        """B's label indices in A's label order, where both models have the same labels once each (B may number
        them otherwise: its bars listed POSITIVE above NEGATIVE beside A's negative above positive); else None."""
        names_a, names_b = self.trace_a.label_names, self.trace_b.label_names
        if len({label_key(n) for n in names_b}) != len(names_b):
            return None
        try:
            return label_order(names_a, names_b)
        except CompareError:
            return None


def label_order(names_a: tuple[str, ...], names_b: tuple[str, ...]) -> list[int]:
    """For each label of A, the index of the same label (label_key) in B; CompareError if the two models do not
    have the same labels."""
    folded_b = [label_key(n) for n in names_b]
    if sorted(label_key(n) for n in names_a) != sorted(folded_b):
        raise CompareError(
            f"The two models have different labels (A: {', '.join(names_a)}; B: {', '.join(names_b)}): they can be "
            "compared on one text, not scored on one data set"
        )
    return [folded_b.index(label_key(n)) for n in names_a]


def target_in_b(trace_a: Trace, trace_b: Trace, target_a: int) -> tuple[int, tuple[str, ...]]:
    """B's label for A's label `target_a`: the same name (case-insensitive) when B has it; else, when both have as
    many labels, the same id (two checkpoints named LABEL_0, LABEL_1 or in other words), else B's own prediction;
    with a note when B's label has another name, so no one reads B's attribution as towards A's label. Of two and
    five labels, id 1 ('pos' and 'negative') means nothing alike: the rank agreement read -1."""
    names_a, names_b = trace_a.label_names, trace_b.label_names
    folded_b = [label_key(n) for n in names_b]
    name = names_a[target_a]
    if label_key(name) in folded_b:
        return folded_b.index(label_key(name)), ()
    if len(names_a) == len(names_b):
        return target_a, (f"B has no label '{name}': B's attribution is towards its label '{names_b[target_a]}', "
                          f"the same id ({target_a}).",)
    return trace_b.predicted, (f"B has no label '{name}' (its {len(names_b)} labels are not A's {len(names_a)}): "
                               f"B's attribution is towards its own prediction, '{names_b[trace_b.predicted]}'.",)


@contextmanager
def naming_model(who: str) -> Iterator[None]:
    """A text one model cannot embed says "this model": of two, name which ("Model A: ...")."""
    try:
        yield
    except UnembeddableToken as error:
        error.args = (f"Model {who}: {error}",)
        raise


def compare_text(bundle_a: ModelBundle, bundle_b: ModelBundle, text: str, *, by_layer: bool = False,
                 target: int | str | None = None, attribution_tokens: int | None = None) -> TextComparison:
    """Both models on `text`. Attributions are towards A's predicted label (or `target`, one of A's labels by name
    or id: label_index),
    and in B towards the label `target_in_b` picks (the same name when B has it); left out (None), not computed,
    when a model reads more than `attribution_tokens` tokens (a demo's limit)."""
    # checked before any pass: target=5 on two labels was an IndexError, and "positive" a ValueError of int()
    chosen = None if target is None else label_index(bundle_a.label_names, target, "target label")
    with naming_model("A"):
        trace_a = trace(bundle_a, text)
    with naming_model("B"):
        trace_b = trace(bundle_b, text)
    target_a = trace_a.predicted if chosen is None else chosen
    target_b, notes = target_in_b(trace_a, trace_b, target_a)
    attribute = attribution_tokens is None or max(len(trace_a.tokens), len(trace_b.tokens)) <= attribution_tokens
    # left out: zeros stand in below (pooled like scores, never shown) and the result holds None
    scores_a = input_x_gradient(bundle_a, text, target_a) if attribute else np.zeros(len(trace_a.tokens))
    scores_b = input_x_gradient(bundle_b, text, target_b) if attribute else np.zeros(len(trace_b.tokens))
    if trace_a.tokens == trace_b.tokens:
        level, units = "token", trace_a.tokens
        attention_a, attention_b = trace_a.attentions, trace_b.attentions
        attribution_a, attribution_b = scores_a, scores_b
        # [CLS], [SEP] and the like are ranked in neither model's agreement: they are not the text's (as on the
        # Attribution page's agreement of methods); the figures still show them.
        content = ~np.asarray(trace_a.special_tokens, dtype=bool)
    else:
        spans = [(word.start, word.end) for word in split_words(text)]
        member_a, member_b = word_membership(trace_a, spans), word_membership(trace_b, spans)
        ends = np.array([end for _, end in spans])
        # words both models read, whole: a model cut inside "quiet" (read "q" alone) did not read the word
        covered = (member_a.sum(axis=1) > 0) & (member_b.sum(axis=1) > 0)
        covered &= (ends <= _read_to(trace_a, len(text))) & (ends <= _read_to(trace_b, len(text)))
        if not covered.any():
            first_end = int(ends[0]) if len(ends) else 0
            cut = [side for side, t in (("A", trace_a), ("B", trace_b)) if _read_to(t, len(text)) < first_end]
            why = ""
            if len(cut) == 1:
                why = f": model {cut[0]} reads only the beginning of the text, up to its token limit, which ends"
            elif cut:
                why = ": models A and B read only the beginning of the text, up to their token limits, which end"
            raise CompareError(f"The two models share no whole word of this text to compare"
                               f"{why + ' inside its first word' if why else ''}.")
        member_a, member_b = member_a[covered], member_b[covered]
        level = "word"
        units = tuple(text[s:e] for (s, e), keep in zip(spans, covered) if keep)
        attention_a, attention_b = pool_attention(trace_a.attentions, member_a), pool_attention(trace_b.attentions,
                                                                                                member_b)
        attribution_a, attribution_b = member_a @ scores_a, member_b @ scores_b
        content = np.ones(len(units), dtype=bool)  # words: special tokens cover none
    matching = match_heads(attention_a, attention_b, by_layer=by_layer and trace_a.num_layers == trace_b.num_layers)
    return TextComparison(
        trace_a=trace_a, trace_b=trace_b, level=level, units=tuple(units),
        attention_a=attention_a, attention_b=attention_b, matching=matching, target=target_a,
        attribution_a=attribution_a if attribute else None, attribution_b=attribution_b if attribute else None,
        agreement=rank_agreement(attribution_a[content], attribution_b[content]) if attribute else None,
        target_b=target_b, notes=notes,
    )


# ---- a data set --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataComparison:
    report_a: ErrorReport
    report_b: ErrorReport
    counts: dict[str, int]  # both_right, both_wrong, only_a_right, only_b_right, different_predictions
    disagreements: pd.DataFrame  # the rows where exactly one model is right, most confident mistake first

    def confusions(self) -> tuple[tuple[list[list[int]], tuple[str, ...]], tuple[list[list[int]], tuple[str, ...]]]:
        """Each model's confusion matrix with its label names, both in A's label order: B may number the same labels
        otherwise, and side by side one cell must mean one thing."""
        order = label_order(self.report_a.label_names, self.report_b.label_names)
        confusion_b = np.asarray(self.report_b.metrics["confusion"])[np.ix_(order, order)]
        return ((self.report_a.metrics["confusion"], tuple(self.report_a.label_names)),
                (confusion_b.tolist(), tuple(self.report_b.label_names[i] for i in order)))


SAME_TAU = object()  # compare_data's default for B's tau: A's


def compare_data(
    bundle_a: ModelBundle,
    bundle_b: ModelBundle,
    data: LabelledData,
    *,
    progress_a: Progress | None = None,
    progress_b: Progress | None = None,
    beacon_threshold: float | None = None,
    batch_size: int = 32,
    beacon_threshold_b: float | None | object = SAME_TAU,
) -> DataComparison:
    """Both models on one labelled data set (read with A's labels). B's labels must be A's, in any order.
    `beacon_threshold` applies to both unless `beacon_threshold_b` gives B its own (two results folders run at
    their own taus)."""
    order = label_order(bundle_a.label_names, bundle_b.label_names)
    renumbered = order != list(range(len(order)))  # B numbers the same labels differently
    data_b = data
    if renumbered and data.labels_by_id:  # read as A's ids, B's accuracy differed from its own
        numbering = lambda names: ", ".join(f"{i} {name}" for i, name in enumerate(names))  # noqa: E731
        raise CompareError(
            "The data set's labels are ids, and the two models number their labels differently "
            f"(A: {numbering(bundle_a.label_names)}; B: {numbering(bundle_b.label_names)}): an id would be another "
            "label to each. Write the labels by name to score both on one truth"
        )
    if renumbered:
        data_b = dataclasses.replace(data, labels=tuple(order[label] for label in data.labels))
    tau_b = beacon_threshold if beacon_threshold_b is SAME_TAU else beacon_threshold_b
    reports = []
    for who, bundle, rows, progress, tau in (("A", bundle_a, data, progress_a, beacon_threshold),
                                             ("B", bundle_b, data_b, progress_b, tau_b)):
        with naming_model(who):  # its row stays named: text_index
            reports.append(analyse(bundle, rows, progress=progress, beacon_threshold=tau, batch_size=batch_size))
    report_a, report_b = reports
    return DataComparison(report_a, report_b, disagreement_counts(report_a, report_b),
                          disagreement_table(report_a, report_b))


def disagreement_counts(report_a: ErrorReport, report_b: ErrorReport) -> dict[str, int]:
    a, b = report_a.frame["correct"].to_numpy(bool), report_b.frame["correct"].to_numpy(bool)
    if len(a) != len(b):
        raise DatasetError("the two reports are of different data sets")
    predicted_a = report_a.frame["predicted"].map(label_key).to_numpy()
    predicted_b = report_b.frame["predicted"].map(label_key).to_numpy()
    return {
        "n": int(len(a)),
        "both_right": int((a & b).sum()),
        "both_wrong": int((~a & ~b).sum()),
        "only_a_right": int((a & ~b).sum()),
        "only_b_right": int((~a & b).sum()),
        "different_predictions": int((predicted_a != predicted_b).sum()),
    }


def disagreement_table(report_a: ErrorReport, report_b: ErrorReport) -> pd.DataFrame:
    """(file,) line, text, label, right ("A" or "B"), A's and B's prediction and confidence (and the tag column);
    the file of several, whose lines restart in each."""
    a, b = report_a.frame, report_b.frame
    columns = {
        **({"file": a["file"]} if "file" in a else {}),
        "line": a["line"],
        "text": a["text"],
        "label": a["label"],
        "right": np.where(a["correct"], "A", "B"),
        "predicted A": a["predicted"],
        "confidence A": a["confidence"],
        "predicted B": b["predicted"].to_numpy(),
        "confidence B": b["confidence"].to_numpy(),
        "tokens A": a["tokens"],
    }
    if report_a.tag_column:
        columns[report_a.tag_column] = a[report_a.tag_column]
    table = pd.DataFrame(columns)
    keep = a["correct"].to_numpy(bool) != b["correct"].to_numpy(bool)
    table = table[keep]
    wrong_confidence = np.where(table["right"] == "A", table["confidence B"], table["confidence A"])
    return table.iloc[np.argsort(-wrong_confidence, kind="stable")]
