"""A cache file truncated or corrupted on disk is recomputed, never crashed on: the prediction cache (JSON) and
the data-set map's embedding store (.npy files)."""

from __future__ import annotations

import numpy as np
import pytest

from explainer.data import disk_cache
from explainer.data.labelled import read_dataset
from explainer.dataset_map.embeddings import embed_dataset, store_folder
from explainer.evaluation import prediction_cache

CSV = b"text,label\na fine film,1\na dull film,0\nwarm and funny,1\nflat,0\n"


@pytest.fixture
def data(bundle):
    return read_dataset(CSV, filename="rows.csv", label_names=bundle("ours").label_names)


@pytest.mark.parametrize("damage", [
    lambda path: path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2]),  # truncated
    lambda path: path.write_bytes(b"\x00\xff garbage"),
    lambda path: path.write_text('{"probabilities": [[0.5, 0.5]], "seconds": 1, "slots": 1, "skipped_slots": 0, '
                                 '"tokens": 1, "max_prob_sum": 1, "marker_counts": null, "lengths": null}'),  # 1 row
    lambda path: path.write_text("[1, 2, 3]"),
    lambda path: path.write_text(  # valid probabilities, a short `lengths`: once a crash on every read
        '{"probabilities": [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]], "seconds": 1, "slots": 1, '
        '"skipped_slots": 0, "tokens": 1, "max_prob_sum": 1, "marker_counts": null, "lengths": [1]}'),
    lambda path: path.write_text(  # marker counts of another model
        '{"probabilities": [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]], "seconds": 1, "slots": 1, '
        '"skipped_slots": 0, "tokens": 1, "max_prob_sum": 1, "marker_counts": [1, 2], "lengths": [1, 1, 1, 1]}'),
    lambda path: path.write_text(  # the right shapes, rows that are not probabilities: once shown as the model's
        '{"probabilities": [[5, -4], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]], "seconds": 1, "slots": 1, '
        '"skipped_slots": 0, "tokens": 1, "max_prob_sum": 1, "marker_counts": null, "lengths": null}'),
    lambda path: path.write_text(
        '{"probabilities": [[0.9, 0.9], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]], "seconds": 1, "slots": 1, '
        '"skipped_slots": 0, "tokens": 1, "max_prob_sum": 1, "marker_counts": null, "lengths": null}'),
])
def test_a_damaged_prediction_cache_is_recomputed(bundle, data, damage):
    ours = bundle("ours")
    prediction_cache.forget(ours, data)
    first, cached = prediction_cache.cached_predictions(ours, data)
    assert not cached
    path = disk_cache.cache_path(prediction_cache.NAMESPACE, *prediction_cache.cache_key(ours, data, None))
    damage(path)
    again, cached = prediction_cache.cached_predictions(ours, data)
    assert not cached
    np.testing.assert_allclose(again.probabilities, first.probabilities, atol=1e-6)
    assert prediction_cache.cached_predictions(ours, data)[1]  # stored whole again


@pytest.mark.parametrize("victim", ["readout.npy", "mean.npy", "markers.npy", "rows.npy", "meta.json"])
def test_a_damaged_embedding_store_is_recomputed(bundle, data, victim):
    ours = bundle("ours")
    predictions, store, cached = embed_dataset(ours, data)
    expected = store.layer(1)
    path = store_folder(ours, data, None) / victim
    path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 3)])
    _, again, cached = embed_dataset(ours, data)
    assert not cached
    np.testing.assert_array_equal(again.layer(1), expected)
