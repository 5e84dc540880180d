"""Projections: the streaming PCA equals scikit-learn's on the same matrix (components, signs, coordinates),
whatever the chunk size; UMAP is deterministic for a seed (slow: numba compiles on first use)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from explainer.dataset_map import projection
from explainer.dataset_map.knn_search import exact_top_k, exact_top_k_distinct
from explainer.dataset_map.projection import axis_titles, fit_pca, project, unit_rows


def matrix(rows=300, width=24, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scales = np.linspace(5.0, 0.2, width)  # distinct variances: a well-defined order of components
    return (rng.normal(size=(rows, width)) * scales + rng.normal(size=width) * 3).astype(np.float32)


@pytest.mark.parametrize("chunk", [8192, 64])
def test_pca_matches_scikit_learn(monkeypatch, chunk):
    monkeypatch.setattr(projection, "CHUNK", chunk)  # 64: the sums run over several chunks
    x = matrix()
    ours = fit_pca(x, 5)
    theirs = PCA(n_components=5, svd_solver="full").fit(x.astype(np.float64))
    np.testing.assert_allclose(ours.components, theirs.components_, atol=1e-6)
    np.testing.assert_allclose(ours.explained_variance, theirs.explained_variance_, rtol=1e-6)
    np.testing.assert_allclose(ours.transform(x), theirs.transform(x.astype(np.float64)), atol=1e-4)
    np.testing.assert_allclose(project(x, "pca").coordinates, theirs.transform(x.astype(np.float64))[:, :2], atol=1e-4)
    # the axes' shares of the variance are scikit-learn's explained_variance_ratio_
    np.testing.assert_allclose(ours.explained_variance / ours.total_variance, theirs.explained_variance_ratio_,
                               rtol=1e-6)
    shares = project(x, "pca").variance_shares
    np.testing.assert_allclose(shares, theirs.explained_variance_ratio_[:2], rtol=1e-6)
    x_title, y_title = axis_titles("pca", shares)
    assert x_title == f"PC 1 ({theirs.explained_variance_ratio_[0]:.0%} of the variance)"
    assert y_title.startswith("PC 2 (")


def test_pca_of_degenerate_sets():
    assert project(np.ones((1, 4), np.float32), "pca").coordinates.shape == (1, 2)
    line = np.outer(np.arange(5.0), [1.0, 2.0, 0.0]).astype(np.float32)  # rank 1: y is 0
    flat = project(line, "pca")
    xy = flat.coordinates
    assert np.allclose(xy[:, 1], 0.0, atol=1e-5) and np.ptp(xy[:, 0]) > 1
    assert flat.variance_shares == pytest.approx((1.0, 0.0), abs=1e-9)  # all of it along x
    assert project(np.ones((1, 4), np.float32), "pca").variance_shares == (0.0, 0.0)  # no variance at all
    assert project(np.zeros((0, 3), np.float32)).coordinates.shape == (0, 2)
    with pytest.raises(ValueError, match="unknown projection"):
        project(line, "tsne")


def test_unit_rows():
    rows = unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(rows, [[0.6, 0.8], [0.0, 0.0]])


def test_umap_of_too_few_rows_falls_back_to_pca():
    result = project(matrix(rows=3), "umap")
    assert result.method == "pca" and "PCA instead" in result.notes[0]
    assert axis_titles(result.method, result.variance_shares)[0].startswith("PC 1 (")


def test_axis_titles_say_what_x_and_y_are():
    assert axis_titles("umap") == ("UMAP 1", "UMAP 2")  # no unit, no share: only neighbourhoods mean something
    assert axis_titles("pca", (0.345, 0.12)) == ("PC 1 (34% of the variance)", "PC 2 (12% of the variance)")
    assert axis_titles("pca") == ("PC 1", "PC 2")  # no shares given: the bare components


@pytest.mark.slow
def test_umap_is_deterministic_for_a_seed_and_separates_clusters():
    rng = np.random.default_rng(1)
    apart = np.zeros((2, 60))
    apart[0, 0] = apart[1, 1] = 10.0  # two directions: clusters apart in the cosine geometry UMAP's graph uses
    x = np.concatenate([rng.normal(size=(40, 60)) + apart[0], rng.normal(size=(40, 60)) + apart[1]]).astype(np.float32)
    first, again, other = project(x, "umap", seed=3), project(x, "umap", seed=3), project(x, "umap", seed=4)
    assert first.method == "umap" and first.coordinates.shape == (80, 2)
    np.testing.assert_array_equal(first.coordinates, again.coordinates)
    assert not np.array_equal(first.coordinates, other.coordinates)
    a, b = first.coordinates[:40], first.coordinates[40:]
    gap = np.linalg.norm(a.mean(0) - b.mean(0))
    assert gap > 3 * max(a.std(0).max(), b.std(0).max())  # the two clusters stay apart on the map


@pytest.mark.slow
def test_umap_over_a_given_graph_equals_umap_searching_it():
    x = matrix(rows=60)
    others, distances = exact_top_k(unit_rows(x), 20, "cosine")  # wider than UMAP's graph: its first 14 are used
    given = project(x, "umap", seed=2, graph=(others, distances))
    np.testing.assert_array_equal(given.coordinates, project(x, "umap", seed=2).coordinates)


@pytest.mark.slow
def test_repeated_rows_are_laid_out_once_and_copies_share_their_place(monkeypatch):
    distinct = matrix(rows=60, seed=7)
    order = np.random.default_rng(8).integers(0, 60, 200)
    order[:60] = np.arange(60)  # every vector at least once, most several times, in no order
    x = distinct[order]
    laid_out: list[int] = []
    umap = projection._umap
    monkeypatch.setattr(projection, "_umap", lambda reduced, *a: (laid_out.append(len(reduced)), umap(reduced, *a))[1])
    searched = project(x, "umap", seed=2)
    *graph, graph_of_distinct = exact_top_k_distinct(unit_rows(x), 20, "cosine")
    given = project(x, "umap", seed=2, graph=tuple(graph), distinct=graph_of_distinct)
    assert laid_out == [60, 60]  # the distinct vectors, once each
    np.testing.assert_array_equal(searched.coordinates, given.coordinates)
    xy = searched.coordinates
    np.testing.assert_array_equal(xy, xy[np.unique(order, return_index=True)[1][order]])  # copies: one place
    assert len(np.unique(xy, axis=0)) == 60
    # The distinct vectors' layout is the UMAP of the distinct rows (PCA fitted on all the rows)
    reduced = projection.fit_pca(x, projection.UMAP_PCA_DIMENSIONS).transform(x)
    first = graph_of_distinct.first
    alone = umap(reduced[first], graph_of_distinct.near[:, :14], graph_of_distinct.far[:, :14], 2)
    np.testing.assert_array_equal(xy[first], alone)


@pytest.mark.slow
def test_a_new_process_loads_umaps_kernels_from_disk_and_draws_the_same_map(tmp_path):
    # umap-learn compiles its numba kernels in every process unless asked to cache them (about 9 s of a first map)
    import os
    import subprocess
    import sys
    from pathlib import Path

    import umap
    from numba.core.caching import NullCache

    package = Path(umap.__file__).parent  # numba writes into __pycache__, making it when a wheel has none
    if not os.access(package / "__pycache__" if (package / "__pycache__").exists() else package, os.W_OK):
        pytest.skip("umap-learn is installed read-only here: numba may find no folder to cache its kernels in")
    x = matrix(rows=40)
    here = project(x, "umap", seed=5).coordinates  # compiles the kernels, or loads them, and keeps them on disk
    from umap import umap_

    assert not isinstance(umap_.smooth_knn_dist._cache, NullCache)
    np.save(tmp_path / "x.npy", x)
    script = (
        "import sys, numpy as np\n"
        "from explainer.dataset_map.projection import project\n"
        f"xy = project(np.load({str(tmp_path / 'x.npy')!r}), 'umap', seed=5).coordinates\n"
        f"np.save({str(tmp_path / 'xy.npy')!r}, xy)\n"
        "from umap import umap_\n"
        "stats = umap_.smooth_knn_dist.stats\n"
        "print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))\n"
    )
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    hits, misses = (int(v) for v in done.stdout.split()[-2:])
    assert hits >= 1 and misses == 0  # loaded, not compiled again
    np.testing.assert_array_equal(np.load(tmp_path / "xy.npy"), here)  # the same seeded map


def test_unit_rows_of_float16_vectors_scale_in_float64():
    """float16's squares overflow above 256 and its 1e-12 floor is 0: [300, 0, 0] became 0 and a zero row NaN."""
    vectors = np.array([[300.0, 0.0, 0.0], [0.0, 0.0, 0.0], [3.0, 4.0, 0.0]], dtype=np.float16)
    np.testing.assert_allclose(unit_rows(vectors), [[1, 0, 0], [0, 0, 0], [0.6, 0.8, 0]], atol=1e-6)
    assert unit_rows(vectors).dtype == np.float32


@pytest.mark.parametrize("kinds", [1, 3])
def test_umap_of_too_few_distinct_vectors_falls_back_to_pca(kinds):
    """Every row one vector (the readout at the embedding layer, a row copied): UMAP laid out NaN, written and
    cached as the map."""
    rng = np.random.default_rng(0)
    vectors = np.repeat(rng.normal(size=(kinds, 8)).astype(np.float32), 6, axis=0)
    projection = project(vectors, "umap")
    assert projection.method == "pca" and np.isfinite(projection.coordinates).all()
    assert projection.notes == (f"UMAP needs at least 5 distinct vectors; these {6 * kinds} rows hold "
                                f"{'1 distinct vector' if kinds == 1 else '3 distinct vectors'}, mapped with PCA "
                                "instead.",)
