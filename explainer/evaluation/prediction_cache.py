"""Batch predictions cached on disk, keyed by (model fingerprint, file content, columns read, tau): reopening the
same file with the same model reads them back instead of running the model again."""

from __future__ import annotations

import numpy as np

from explainer.capture.validation import check_tau
from explainer.data import disk_cache
from explainer.data.labelled import LabelledData
from explainer.evaluation.predict import Predictions, predict
from explainer.loading.bundle import ModelBundle
from explainer.progress import Progress

NAMESPACE = "predictions"
CACHE_VERSION = 3  # bump when the cached layout or numbers change (2: batches pad on the right for every model; 3: a
# decoder's trailing pad-id tokens are left out of the batch, as trace() leaves them: tokens and map vectors)


def cache_key(bundle: ModelBundle, data: LabelledData, beacon_threshold: float | None) -> tuple:
    """What identifies a prediction pass: the weights, the file's bytes, which columns were read, tau (a float:
    np.float32(0.25) or an int 0 keyed entries of their own; the map's vector store is keyed by this too)."""
    return (CACHE_VERSION, *disk_cache.input_key(bundle, data), check_tau(beacon_threshold))


def _to_json(p: Predictions) -> dict:
    return {
        "probabilities": p.probabilities.tolist(),
        "lengths": p.lengths.tolist() if p.lengths is not None else None,
        "seconds": p.seconds,
        "slots": p.slots,
        "skipped_slots": p.skipped_slots,
        "tokens": p.tokens,
        "max_prob_sum": p.max_prob_sum,
        "marker_counts": p.marker_counts.tolist() if p.marker_counts is not None else None,
    }


def _from_json(value: dict) -> Predictions:
    return Predictions(
        probabilities=np.asarray(value["probabilities"], dtype=np.float32),
        seconds=float(value["seconds"]),
        slots=int(value["slots"]),
        skipped_slots=int(value["skipped_slots"]),
        tokens=int(value["tokens"]),
        max_prob_sum=float(value["max_prob_sum"]),
        marker_counts=None if value["marker_counts"] is None else np.asarray(value["marker_counts"], dtype=np.int64),
        lengths=None if value["lengths"] is None else np.asarray(value["lengths"], dtype=np.int32),
    )


def cached_predictions(
    bundle: ModelBundle,
    data: LabelledData,
    *,
    beacon_threshold: float | None = None,
    batch_size: int = 32,
    progress: Progress | None = None,
) -> tuple[Predictions, bool]:
    """(predictions, came_from_cache). Reopening the same file with the same model reads them from disk."""
    value, was_cached = disk_cache.cached(
        NAMESPACE,
        cache_key(bundle, data, beacon_threshold),
        lambda: _to_json(
            predict(bundle, data.texts, batch_size=batch_size, beacon_threshold=beacon_threshold, progress=progress)
        ),
    )
    try:
        predictions = _from_json(value)
        if not _fits(predictions, bundle, data):
            raise ValueError("cached predictions do not match the data set")
    except (KeyError, TypeError, ValueError, AttributeError):  # damaged on disk, or an older layout: afresh
        predictions = predict(bundle, data.texts, batch_size=batch_size, beacon_threshold=beacon_threshold,
                              progress=progress)
        disk_cache.store(NAMESPACE, _to_json(predictions), *cache_key(bundle, data, beacon_threshold))
        return predictions, False
    if was_cached and progress:
        progress(len(data), len(data))
    return predictions, was_cached


def load_cached(bundle: ModelBundle, data: LabelledData, beacon_threshold: float | None = None) -> Predictions | None:
    """The cached predictions of this model on this file, or None when there are none (or of an older layout)."""
    value = disk_cache.load(NAMESPACE, *cache_key(bundle, data, beacon_threshold))
    try:
        predictions = None if value is None else _from_json(value)
    except (KeyError, TypeError, ValueError, AttributeError):  # damaged on disk: as if absent
        return None
    if predictions is None or not _fits(predictions, bundle, data):
        return None
    return predictions


def _fits(predictions: Predictions, bundle: ModelBundle, data: LabelledData) -> bool:
    """Whether cached predictions have the shapes this model on this file gives, and rows that are probabilities: a
    file damaged on disk into valid JSON of other shapes or values is recomputed, never a crash on every later read
    (a short `lengths` once was) nor numbers shown as the model's."""
    rows, markers = len(data), getattr(bundle.model.config, "num_thought_markers", None)
    probabilities = predictions.probabilities
    finite = probabilities[np.isfinite(probabilities).all(axis=1)]  # a NaN row is what an overflowing model gives
    return (
        probabilities.shape == (rows, bundle.model.config.num_labels)
        and bool(((finite >= 0) & (finite <= 1)).all())
        and bool((np.abs(finite.sum(axis=1) - 1) < 1e-3).all())  # edited into [5, -4]: not probabilities
        and (predictions.lengths is None or predictions.lengths.shape == (rows,))
        and (predictions.marker_counts is None or predictions.marker_counts.shape == (markers,))
    )


def remember(
    bundle: ModelBundle, data: LabelledData, predictions: Predictions, beacon_threshold: float | None = None
) -> None:
    """Cache predictions computed elsewhere (the data-set map's pass, which also collects embeddings)."""
    disk_cache.store(NAMESPACE, _to_json(predictions), *cache_key(bundle, data, beacon_threshold))


def forget(bundle: ModelBundle, data: LabelledData, beacon_threshold: float | None = None) -> None:
    """Drop the cached predictions of this model on this file (the next pass recomputes them)."""
    try:
        disk_cache.cache_path(NAMESPACE, *cache_key(bundle, data, beacon_threshold)).unlink(missing_ok=True)
    except OSError:  # a cache folder that cannot hold files holds none to forget (--no-cache needs none)
        pass
