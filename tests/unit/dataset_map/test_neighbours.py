"""Nearest neighbours: exact cosine (checked against a brute-force numpy search), the row itself excluded, fewer
rows than neighbours asked said and handled."""

from __future__ import annotations

import numpy as np
import pytest

from explainer.dataset_map.neighbours import nearest_neighbours


def brute_force(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    distance = 1.0 - unit @ unit.T
    np.fill_diagonal(distance, np.inf)
    order = np.argsort(distance, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(distance, order, axis=1)


def test_exact_cosine_neighbours():
    x = np.random.default_rng(0).normal(size=(200, 16)).astype(np.float32)
    found = nearest_neighbours(x, 7)
    indices, distances = brute_force(x.astype(np.float64), 7)
    assert found.k == 7 and found.notes == ()
    np.testing.assert_array_equal(found.indices, indices)
    np.testing.assert_allclose(found.distances, distances, atol=1e-5)
    assert (found.indices != np.arange(200)[:, None]).all()


def test_scale_does_not_matter_for_cosine():
    x = np.random.default_rng(1).normal(size=(30, 5))
    scaled = x * np.random.default_rng(2).uniform(0.1, 10, size=(30, 1))
    np.testing.assert_array_equal(nearest_neighbours(x, 4).indices, nearest_neighbours(scaled, 4).indices)


def test_fewer_rows_than_neighbours_asked():
    x = np.eye(4, 6)
    found = nearest_neighbours(x, 10)
    assert found.k == 3 and found.requested == 10
    assert "4 rows" in found.notes[0] and "3 neighbours, not the 10 asked" in found.notes[0]
    assert sorted(found.indices[0]) == [1, 2, 3]
    single = nearest_neighbours(np.ones((1, 3)), 5)
    assert single.k == 0 and single.indices.shape == (1, 0) and "1 row" in single.notes[0]
    with pytest.raises(ValueError, match="at least 1"):
        nearest_neighbours(x, 0)


def test_duplicates_never_list_the_row_itself():
    x = np.array([[1.0, 0.0]] * 4 + [[0.0, 1.0]] * 2)
    found = nearest_neighbours(x, 3)
    assert (found.indices != np.arange(6)[:, None]).all()
    np.testing.assert_allclose(found.distances[:4, :3], 0.0, atol=1e-6)
