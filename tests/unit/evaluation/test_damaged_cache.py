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


def signed(path, text: str) -> None:
    """Write JSON of another shape as the cache signs its entries: the value checks, not the digest, refuse it."""
    path.write_bytes(disk_cache._signed(text.encode("utf-8")))


@pytest.fixture
def data(bundle):
    return read_dataset(CSV, filename="rows.csv", label_names=bundle("ours").label_names)


@pytest.mark.parametrize("damage", [
    lambda path: path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2]),  # truncated
    lambda path: path.write_bytes(b"\x00\xff garbage"),
    lambda path: signed(path, '{"probabilities": [[0.5, 0.5]], "seconds": 1, "slots": 1, "skipped_slots": 0, '
                                 '"tokens": 1, "max_prob_sum": 1, "marker_counts": null, "lengths": null}'),  # 1 row
    lambda path: signed(path, "[1, 2, 3]"),
    lambda path: signed(path,   # valid probabilities, a short `lengths`: once a crash on every read
        '{"probabilities": [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]], "seconds": 1, "slots": 1, '
        '"skipped_slots": 0, "tokens": 1, "max_prob_sum": 1, "marker_counts": null, "lengths": [1]}'),
    lambda path: signed(path,   # marker counts of another model
        '{"probabilities": [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]], "seconds": 1, "slots": 1, '
        '"skipped_slots": 0, "tokens": 1, "max_prob_sum": 1, "marker_counts": [1, 2], "lengths": [1, 1, 1, 1]}'),
    lambda path: signed(path,   # the right shapes, rows that are not probabilities: once shown as the model's
        '{"probabilities": [[5, -4], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]], "seconds": 1, "slots": 1, '
        '"skipped_slots": 0, "tokens": 1, "max_prob_sum": 1, "marker_counts": null, "lengths": null}'),
    lambda path: signed(path,
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


def test_a_flipped_byte_that_leaves_valid_json_is_a_miss(bundle, data):
    """A one-byte edit of a marker dictionary's key kept valid JSON and crashed the Markers page on every load:
    an entry's bytes must be the ones written."""
    ours = bundle("ours")
    prediction_cache.forget(ours, data)
    first, _ = prediction_cache.cached_predictions(ours, data)
    path = disk_cache.cache_path(prediction_cache.NAMESPACE, *prediction_cache.cache_key(ours, data, None))
    content = path.read_bytes()
    assert content.startswith(disk_cache.SIGNED)
    at = content.index(b"0.", content.index(b"\n"))  # a digit of the first probability: still valid JSON
    path.write_bytes(content[: at + 2] + (b"1" if content[at + 2 : at + 3] != b"1" else b"2") + content[at + 3 :])
    again, cached = prediction_cache.cached_predictions(ours, data)
    assert not cached
    np.testing.assert_allclose(again.probabilities, first.probabilities, atol=1e-6)
    _, payload = path.read_bytes().split(b"\n", 1)
    path.write_bytes(payload)  # an entry written before entries were signed: computed again once, then signed
    assert not prediction_cache.cached_predictions(ours, data)[1]
    assert prediction_cache.cached_predictions(ours, data)[1]


def test_an_embedding_store_naming_a_marker_the_model_lacks_is_recomputed(bundle, data):
    """markers[0] = 300 in a stored map of a 16-marker model drew a marker "m300" in the legend."""
    ours = bundle("ours")
    _, store, _ = embed_dataset(ours, data)
    expected = store.markers()
    path = store_folder(ours, data, None) / "markers.npy"
    dominant = np.load(path)
    dominant[0] = ours.model.config.num_thought_markers  # one past the last
    np.save(path, dominant)
    _, again, cached = embed_dataset(ours, data)
    assert not cached
    np.testing.assert_array_equal(again.markers(), expected)
    plain = bundle("baseline")  # a model without markers: every row -1
    _, store, _ = embed_dataset(plain, data)
    assert (store.markers() == -1).all()
    path = store_folder(plain, data, None) / "markers.npy"
    np.save(path, np.zeros(len(data), dtype=np.int16))
    assert not embed_dataset(plain, data)[2]


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
