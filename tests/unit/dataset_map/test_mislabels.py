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


def test_a_row_whose_own_label_leads_its_neighbours_is_not_listed():
    """Three labels: 4 neighbours share the row's label 0, 3 and 3 hold labels 1 and 2, and the model says 1.
    60% of the neighbours disagree, so the row was listed, with neighbour_label 0: its own label."""
    from explainer.dataset_map.neighbours import Neighbours

    labels = np.array([0] + [0] * 4 + [1] * 3 + [2] * 3 + [0])
    indices = np.zeros((len(labels), 10), dtype=np.int64)
    indices[0] = np.arange(1, 11)  # row 0: 4 x label 0, 3 x label 1, 3 x label 2
    indices[11] = np.array([5, 6, 7, 8, 9, 10, 1, 2, 3, 4])  # row 11 (label 0) likewise, in another order
    for row in range(1, 11):
        indices[row] = [r for r in range(len(labels)) if r != row][:10]
    neighbours = Neighbours(indices=indices, distances=np.zeros(indices.shape, np.float32), requested=10)
    probabilities = np.tile([0.2, 0.7, 0.1], (len(labels), 1))  # the model says 1 everywhere
    table = likely_mislabelled(labels, probabilities, neighbours)
    assert not {0, 11} & set(table["row"])
    outvoted = labels.copy()
    outvoted[[1, 2]] = 1  # now 2 x label 0, 5 x label 1, 3 x label 2: label 1 leads
    table = likely_mislabelled(outvoted, probabilities, neighbours)
    listed = table.set_index("row")
    assert 0 in listed.index and listed.loc[0, "neighbour_label"] == 1
    assert (table["neighbour_label"] != table["label"]).all()
