"""Likely mislabels: on two well-separated clusters with a few labels flipped on purpose, the flipped rows rank
at the top of the list (and nothing else is listed); the score is what the module says it is."""

from __future__ import annotations

import numpy as np

from explainer.dataset_map.mislabels import COLUMNS, likely_mislabelled
from explainer.dataset_map.neighbours import nearest_neighbours


def clusters(seed=0, per_cluster=60, width=12):
    rng = np.random.default_rng(seed)
    centres = np.zeros((2, width))
    centres[0, 0], centres[1, 1] = 10.0, 10.0
    truth = np.repeat([0, 1], per_cluster)
    x = centres[truth] + rng.normal(size=(2 * per_cluster, width))
    return x, truth


def nearest_centroid_probabilities(x, labels):
    """A real classifier fit on the (noisy) labels: softmax over negative distances to each class centroid."""
    centroids = np.stack([x[labels == c].mean(0) for c in (0, 1)])
    logits = -np.linalg.norm(x[:, None] - centroids[None], axis=2)
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_flipped_labels_rank_at_the_top():
    x, truth = clusters()
    flipped = np.array([3, 17, 70, 101])
    labels = truth.copy()
    labels[flipped] = 1 - labels[flipped]
    probabilities = nearest_centroid_probabilities(x, labels)
    ranked = likely_mislabelled(labels, probabilities, nearest_neighbours(x, 10))
    assert tuple(ranked.columns) == COLUMNS
    assert set(ranked["row"].head(len(flipped))) == set(flipped)
    assert len(ranked) == len(flipped)  # clean rows agree with their neighbours: none listed
    assert ranked["score"].is_monotonic_decreasing
    assert (ranked["neighbour_label"].to_numpy() == truth[ranked["row"]]).all()  # the label it probably is


def test_score_is_the_mean_of_neighbour_and_model_disagreement():
    x, truth = clusters(seed=1, per_cluster=20)
    labels = truth.copy()
    labels[5] = 1
    probabilities = nearest_centroid_probabilities(x, truth)  # a model that learnt the true clusters
    found = nearest_neighbours(x, 6)
    ranked = likely_mislabelled(labels, probabilities, found)
    top = ranked.iloc[0]
    assert top["row"] == 5
    expected = ((labels[found.indices[5]] != 1).mean() + (1 - probabilities[5, 1])) / 2
    assert np.isclose(top["score"], expected)


def test_no_neighbours_no_list():
    probabilities = np.array([[0.9, 0.1]])
    assert likely_mislabelled(np.array([1]), probabilities, nearest_neighbours(np.ones((1, 2)), 3)).empty


def test_a_row_without_a_finite_vector_or_output_is_not_ranked():
    """The search leaves a NaN row's list at -1, and labels[-1] is the last row's label: the row was listed with
    a disagreement made up from it (a model's overflow gives such rows)."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(6, 4)).astype(np.float32)
    vectors[2] = np.nan
    labels = np.array([0, 0, 1, 1, 1, 0])
    probabilities = np.tile([[0.9, 0.1]], (6, 1)).astype(np.float32)
    probabilities[2] = np.nan
    neighbours = nearest_neighbours(vectors, 3)
    assert (neighbours.indices[2] == -1).all() and not (np.delete(neighbours.indices, 2, axis=0) == 2).any()
    table = likely_mislabelled(labels, probabilities, neighbours)
    assert 2 not in set(table["row"])
    finite = np.isfinite(vectors).all(axis=1)
    assert set(table["row"]) <= set(np.flatnonzero(finite))
