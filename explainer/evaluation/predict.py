"""Batch prediction over a labelled data set and the figures computed from it.

Inputs are sorted by length and padded per batch (dynamic padding), so short texts do not pay for long ones.
For ThoughtBeacon models the pass also counts skipped MLP evaluations and marker routing statistics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from explainer.capture.encoding import read_length, texts_from, tokenize
from explainer.capture.validation import check_tau, is_count
from explainer.loading.bundle import ModelBundle
from explainer.models import is_thought_beacon
from explainer.progress import Progress

LENGTH_CHUNK = 4096  # texts tokenised at once: bounds the tokenizer's memory on 100,000-row files

# Called after each batch's forward pass with (rows [batch] of the inputs in input order, the model's output with
# hidden states, attention_mask [batch, T]): how the data-set map collects embeddings in the same pass.
BatchHook = Callable[[np.ndarray, Any, np.ndarray], None]


@dataclass(frozen=True)
class Predictions:
    probabilities: np.ndarray  # [N, labels]
    seconds: float  # wall-clock time of the whole pass
    slots: int  # (layer, real token) MLP slots evaluated or skipped
    skipped_slots: int  # of those, skipped because the gate was below tau
    tokens: int  # real tokens over all inputs
    max_prob_sum: float  # sum over (layer, token) slots of the top marker probability
    marker_counts: np.ndarray | None  # [K], slots where each marker is the argmax
    lengths: np.ndarray | None = None  # [N] tokens each input was read with (special tokens included)

    @property
    def predicted(self) -> np.ndarray:  # [N]
        return self.probabilities.argmax(axis=1)


def predict(
    bundle: ModelBundle,
    texts: Sequence[str],
    *,
    batch_size: int = 32,
    beacon_threshold: float | None = None,
    progress: Progress | None = None,
    on_batch: BatchHook | None = None,
) -> Predictions:
    """Probabilities for every text, in the input order. Texts longer than the model reads are truncated.

    Memory stays bounded on large inputs: texts are tokenised LENGTH_CHUNK at a time into compact id arrays,
    batches are padded from those, and only each batch's probabilities are kept, never hidden states.
    `on_batch`, when given, gets each batch's output with its hidden states (see BatchHook) before the next."""
    if not is_count(batch_size):  # range() below would run no batch for 0 (every probability left at zero)
        raise ValueError(f"batch_size must be a whole number of at least 1, not {batch_size!r}")
    beacon_threshold = check_tau(beacon_threshold)
    model, tokenizer = bundle.model, bundle.tokenizer
    config = model.config
    is_ours = is_thought_beacon(config)
    ids = token_ids(bundle, texts)  # tokenised once; batches are padded from these
    lengths = np.fromiter((len(row) for row in ids), dtype=np.int32, count=len(ids))
    order = np.argsort(lengths, kind="stable")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    left = tokenizer.padding_side == "left"
    probabilities = np.zeros((len(texts), config.num_labels), dtype=np.float32)
    k = getattr(config, "num_thought_markers", 0) if is_ours else 0
    marker_counts = np.zeros(k, dtype=np.int64) if k else None
    slots = skipped = tokens = 0
    max_prob_sum = 0.0
    extra: dict[str, Any] = {"beacon_threshold": beacon_threshold} if is_ours else {}
    if on_batch is not None:
        extra["output_hidden_states"] = True
    tau = (config.beacon_threshold if beacon_threshold is None else beacon_threshold) if is_ours else 0.0
    start = time.perf_counter()
    for first in range(0, len(texts), batch_size):
        rows = order[first : first + batch_size]
        input_ids, attention_mask = _pad([ids[i] for i in rows], pad_id, left)  # [batch, T] each
        with bundle.lock, torch.inference_mode():
            out = model(
                input_ids=torch.from_numpy(input_ids).to(bundle.device),
                attention_mask=torch.from_numpy(attention_mask).to(bundle.device),
                **extra,
            )
        probabilities[rows] = out.logits.float().softmax(-1).cpu().numpy()
        mask = torch.from_numpy(attention_mask).to(bundle.device).bool()  # [batch, T]
        tokens += int(attention_mask.sum())
        if is_ours and out.beacon_gates is not None:
            gates = torch.stack(out.beacon_gates)  # [layers, batch, T]
            slots += int(mask.sum()) * gates.shape[0]
            skipped += int(((gates < tau) & mask).sum()) if tau > 0 else 0
        if marker_counts is not None:
            routing = torch.stack(out.thought_markers)[:, mask]  # [layers, real tokens, K]
            max_prob_sum += float(routing.max(dim=-1).values.double().sum())  # in float64, as the engines sum rows
            marker_counts += np.bincount(routing.argmax(-1).flatten().cpu().numpy(), minlength=k)
        if on_batch is not None:
            on_batch(rows, out, attention_mask)
        if progress:
            progress(min(first + batch_size, len(texts)), len(texts))
    return Predictions(
        probabilities=probabilities,
        seconds=time.perf_counter() - start,
        slots=slots,
        skipped_slots=skipped,
        tokens=tokens,
        max_prob_sum=max_prob_sum,
        marker_counts=marker_counts,
        lengths=lengths,
    )


def _pad(rows: list[np.ndarray], pad_id: int, left: bool) -> tuple[np.ndarray, np.ndarray]:
    """input_ids [batch, T] padded to the longest row (on the tokenizer's padding side: the right for every loaded
    model but one of a family the table lacks that reads a fixed column, see loading/bundle.py), attention_mask
    [batch, T]."""
    width = max(len(row) for row in rows)
    input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    attention_mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        span = slice(width - len(row), width) if left else slice(0, len(row))
        input_ids[i, span] = row
        attention_mask[i, span] = 1
    return input_ids, attention_mask


def token_ids(bundle: ModelBundle, texts: Sequence[str]) -> list[np.ndarray]:
    """The token ids of each text (truncated at the model's limit, special tokens added), tokenised
    LENGTH_CHUNK texts at a time and kept as one compact int32 array per text."""
    ids: list[np.ndarray] = []
    for first in range(0, len(texts), LENGTH_CHUNK):
        chunk = [texts[i] for i in range(first, min(first + LENGTH_CHUNK, len(texts)))]
        with texts_from(first):  # an unembeddable token is named by its text's index in all texts
            encoded = tokenize(bundle, chunk, return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        # what trace() reads of each: a decoder's trailing pad-id tokens left out, so a batch's mask ends where
        # the classifier reads and pooled vectors and token counts match the single-text views
        ids.extend(np.asarray(row[: read_length(bundle, row)], dtype=np.int32) for row in encoded)
    return ids


READ_SLACK = 8  # tokens under the limit a cut text may read as: a decoder's trailing pad-id tokens are left out


def longer_than_read(bundle: ModelBundle, texts: Sequence[str], lengths: np.ndarray | None = None) -> np.ndarray:
    """[N] bool: which texts hold more tokens than the model reads (only their beginning is judged: a trace of one
    says "truncated"). The batched passes read each text's first max_length tokens and their token counts stop
    there, so a file's long rows were cut unsaid. Given `lengths` [N] (Predictions.lengths: tokens each was read
    with), only the texts read at the limit are tokenised again; else every one is, LENGTH_CHUNK at a time, with
    overflow on (each text past the limit comes back with extra rows)."""
    longer = np.zeros(len(texts), dtype=bool)
    if lengths is not None:
        suspects = np.flatnonzero(np.asarray(lengths) >= bundle.max_length - READ_SLACK)
        longer[suspects] = longer_than_read(bundle, [texts[i] for i in suspects])
        return longer
    for first in range(0, len(texts), LENGTH_CHUNK):
        chunk = [texts[i] for i in range(first, min(first + LENGTH_CHUNK, len(texts)))]
        with bundle.lock:  # as tokenize(): the truncation switch is per tokenizer, not per call
            encoded = bundle.tokenizer(chunk, truncation=True, max_length=bundle.max_length,
                                       return_overflowing_tokens=True, return_attention_mask=False,
                                       return_token_type_ids=False)
        rows = np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.int64)  # the text of each row
        counts = np.bincount(rows, minlength=len(chunk))
        longer[first : first + len(chunk)] = counts > 1
    return longer


def classification_metrics(labels: np.ndarray, predicted: np.ndarray, num_labels: int) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1 (None for a label neither true nor predicted) and the
    confusion matrix (rows: true, cols: predicted)."""
    confusion = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    true_positive = np.diag(confusion).astype(float)
    predicted_count = confusion.sum(axis=0)
    actual_count = confusion.sum(axis=1)
    precision = np.divide(true_positive, predicted_count, out=np.zeros(num_labels), where=predicted_count > 0)
    recall = np.divide(true_positive, actual_count, out=np.zeros(num_labels), where=actual_count > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros(num_labels), where=denominator > 0)
    present = (actual_count + predicted_count) > 0

    def per_label(values: np.ndarray) -> list[float | None]:
        # a label neither true nor predicted has no score (null in JSON, as the page's empty cell): its 0s read as
        # a failure that macro-F1, which leaves it out, does not count
        return [float(v) if here else None for v, here in zip(values, present, strict=True)]

    return {
        "n": int(len(labels)),
        "accuracy": float((labels == predicted).mean()) if len(labels) else 0.0,
        # over the labels that occur as truth or prediction (scikit-learn's average="macro", as the map's slices):
        # a label the model has but the data never shows nor gets is no evidence of anything
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "precision": per_label(precision),
        "recall": per_label(recall),
        "f1": per_label(f1),
        "confusion": confusion.tolist(),
    }


def mlp_slot_flops(config) -> int:
    """FLOPs of one (layer, token) MLP evaluation, 2 per multiply-add: what a skipped slot saves."""
    return 4 * config.hidden_size * config.intermediate_size


def forward_flops(config, lengths: np.ndarray) -> float:
    """FLOPs of dense forward passes over texts of `lengths` tokens each [N], 2 per multiply-add, as torch's
    FlopCounterMode counts a ThoughtBeacon model's matrix products: per layer and token the attention projections
    (8 d^2), the MLP (4 d ff), the marker router, mixing and projection (4 d K + 2 d^2) and the gate (4 d); per
    layer the attention scores and mixing (4 T^2 d: quadratic, so a mean length would understate long texts);
    per text the pooler and the classifier. Matrix products only: norms, softmaxes and sums are not counted."""
    d, layers = config.hidden_size, config.num_hidden_layers
    k = getattr(config, "num_thought_markers", 0)
    per_token = 8 * d * d + mlp_slot_flops(config)
    if k:
        per_token += 4 * d * k + 2 * d * d
    if getattr(config, "use_beacons", False):
        per_token += 4 * d
    t = np.asarray(lengths, dtype=np.float64)
    head = 2 * d * d + 2 * d * config.num_labels
    return float(layers * (per_token * t.sum() + 4 * d * (t**2).sum()) + head * len(t))


def flops_saved_share(config, lengths: np.ndarray, skipped_slots: int) -> float:
    """The share of the dense forward passes' FLOPs (over texts of `lengths` tokens) that `skipped_slots` skipped
    MLP evaluations save."""
    dense = forward_flops(config, lengths)
    return skipped_slots * mlp_slot_flops(config) / dense if dense > 0 else 0.0


def _total_saved(config, predictions: Predictions) -> float:
    if not predictions.slots or predictions.lengths is None:
        return 0.0
    return flops_saved_share(config, predictions.lengths, predictions.skipped_slots)


def summarise(bundle: ModelBundle, labels: np.ndarray, predictions: Predictions) -> dict:
    """The evaluation CLI's figures: classification metrics, compute skipped, throughput, marker statistics."""
    config = bundle.model.config
    result = classification_metrics(labels, predictions.predicted, config.num_labels)
    skip_rate = predictions.skipped_slots / predictions.slots if predictions.slots else 0.0
    n = len(labels)
    result.update(
        {
            "label_names": list(bundle.label_names),
            "skip_rate": skip_rate,
            "mlp_flops_saved": skip_rate,  # every MLP evaluation costs the same, so the shares coincide
            "total_flops_saved": _total_saved(config, predictions),
            "examples_per_s": n / predictions.seconds if predictions.seconds > 0 else 0.0,
            # rows whose output is NaN or infinite (the model overflowed): argmax reads them as the first label
            "non_finite": int((~np.isfinite(predictions.probabilities)).any(axis=1).sum()),
        }
    )
    if predictions.marker_counts is not None:
        marker_slots = int(predictions.marker_counts.sum())
        result["marker_mean_max_prob"] = predictions.max_prob_sum / marker_slots if marker_slots else 0.0
        result["marker_usage"] = (predictions.marker_counts / max(marker_slots, 1)).tolist()
    return result


def evaluate(
    bundle: ModelBundle,
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    beacon_threshold: float | None = None,
    batch_size: int = 32,
    progress: Progress | None = None,
) -> dict:
    """Predict every text and summarise against `labels` (ids in the model's label order)."""
    predictions = predict(
        bundle, texts, batch_size=batch_size, beacon_threshold=beacon_threshold, progress=progress
    )
    return summarise(bundle, np.asarray(labels, dtype=np.int64), predictions)
