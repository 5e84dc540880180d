"""The whole map of a data set on a tiny model: its table, the chosen layer, cached projections and neighbours,
bad options refused with clear messages."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from explainer.dataset_map.embeddings import MapError, embed_dataset
from explainer.dataset_map.maps import (
    MapOptions,
    build_map,
    mislabelled_csv,
    mislabelled_table,
    neighbours_table,
    resolve_layer,
)
from explainer.dataset_map.neighbours import nearest_neighbours
from explainer.dataset_map.projection import axis_titles, project, unit_rows


def test_map_of_a_data_set(bert_bundle, corpus_data, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    result = build_map(bert_bundle, corpus_data, MapOptions(layer=1, pooling="mean", neighbours=4))
    frame = result.frame
    assert list(frame["row"]) == list(range(len(corpus_data))) and list(frame["text"]) == list(corpus_data.texts)
    assert {"x", "y", "label", "predicted", "confidence", "correct", "tokens", "marker"} <= set(frame.columns)
    _, store, _ = embed_dataset(bert_bundle, corpus_data)
    vectors = unit_rows(store.layer(1, "mean"))
    np.testing.assert_allclose(frame[["x", "y"]].to_numpy(), project(vectors, "pca").coordinates, atol=1e-5)
    np.testing.assert_array_equal(result.neighbours.indices, nearest_neighbours(vectors, 4).indices)
    assert (result.layer, result.layers, result.method, result.cached) == (1, 3, "pca", False)
    table = neighbours_table(result, 3)
    assert list(table["row"]) == list(result.neighbours.indices[3]) and len(table) == 4
    # each row's file line beside it, as the Errors page names rows (the map said "row 317", Errors "line 319")
    assert list(table["line"]) == list(frame["line"].iloc[result.neighbours.indices[3]])
    assert list(mislabelled_table(result).columns[:2]) == ["row", "line"]
    # A row whose vector is not finite keeps the search's -1s: no neighbours listed (iloc read -1 as the last row).
    lost = dataclasses.replace(result, neighbours=dataclasses.replace(result.neighbours,
                                                                      indices=result.neighbours.indices.copy()))
    lost.neighbours.indices[3] = -1
    assert neighbours_table(lost, 3).empty
    for row in (-1, len(frame)):  # -1 gave the last row's neighbours, len(frame) numpy's IndexError
        with pytest.raises(IndexError, match=f"row {row} is not a row of this map"):
            neighbours_table(result, row)
    assert mislabelled_csv(result).startswith(b"row,line,score")
    again = build_map(bert_bundle, corpus_data, MapOptions(layer=1, pooling="mean", neighbours=4))
    assert again.cached  # predictions and embeddings from disk; the projection too
    np.testing.assert_array_equal(again.frame["x"], frame["x"])
    shares = project(vectors, "pca").variance_shares
    assert result.axis_titles == again.axis_titles == axis_titles("pca", shares)  # kept with the projection
    assert result.axis_titles[0].startswith("PC 1 (") and "% of the variance)" in result.axis_titles[1]
    last = build_map(bert_bundle, corpus_data, MapOptions(neighbours=4))
    assert last.layer == 2 and not np.array_equal(last.frame["x"], frame["x"])


def test_a_layer_where_every_row_has_one_vector_says_so_and_suspects_no_row(bert_bundle, corpus_data, tmp_path,
                                                                            monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    flat = build_map(bert_bundle, corpus_data, MapOptions(layer=0, neighbours=4))  # [CLS] before any block
    assert any("same readout-position vector at hidden state 0" in note for note in flat.notes)
    assert len(flat.mislabelled) == 0
    mean = build_map(bert_bundle, corpus_data, MapOptions(layer=0, pooling="mean", neighbours=4))
    assert not any("same" in note for note in mean.notes)


def test_copies_of_one_text_with_conflicting_labels_are_suspected_not_called_uninformative(bert_bundle, tmp_path,
                                                                                           monkeypatch):
    """Copies of one text share one vector as they should: the note that the layer carries no information, and
    the emptied list, hid the clearest mislabel there is (one text, two labels)."""
    from explainer.capture.tracing import trace
    from explainer.data.labelled import read_dataset

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    text = "a fine film"
    predicted = ("neg", "pos")[trace(bert_bundle, text).predicted]
    other = "pos" if predicted == "neg" else "neg"
    for third in (text, "a  fine  film"):  # a copy, or a text the model reads as the same tokens
        csv = f"text,label\n{text},{predicted}\n{text},{predicted}\n{third},{other}\n".encode()
        data = read_dataset(csv, filename="copies.csv", label_names=("neg", "pos"))
        result = build_map(bert_bundle, data, MapOptions(neighbours=2))
        assert not any("carry no information" in note for note in result.notes), third
        assert list(result.mislabelled["row"]) == [2], third


@pytest.mark.slow
def test_a_umap_map_searches_once_for_its_graph_and_its_neighbours(bert_bundle, corpus_data, tmp_path, monkeypatch):
    from explainer.dataset_map import maps

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    widths: list[int] = []
    search = maps.nearest_neighbours
    monkeypatch.setattr(maps, "nearest_neighbours", lambda vectors, k: widths.append(k) or search(vectors, k))
    result = build_map(bert_bundle, corpus_data, MapOptions(method="umap", neighbours=4))
    assert widths == [maps.UMAP_GRAPH_WIDTH]  # one search, as wide as UMAP's graph, for both
    _, store, _ = embed_dataset(bert_bundle, corpus_data)
    vectors = unit_rows(store.layer(2, "readout"))
    np.testing.assert_array_equal(result.neighbours.indices, nearest_neighbours(vectors, 4).indices)  # its first 4
    assert result.neighbours.k == 4 and result.method == "umap" and result.axis_titles == ("UMAP 1", "UMAP 2")
    np.testing.assert_array_equal(result.frame[["x", "y"]].to_numpy(dtype=np.float32),
                                  project(vectors, "umap", seed=0).coordinates)  # as if UMAP had searched itself


def test_bad_options(bert_bundle, corpus_data, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    with pytest.raises(MapError, match="layer 3 is out of range: this model has layers 0-2"):
        build_map(bert_bundle, corpus_data, MapOptions(layer=3))
    with pytest.raises(MapError, match="layer -1 is out of range"):
        resolve_layer(-1, 3)
    with pytest.raises(MapError, match="unknown method"):
        build_map(bert_bundle, corpus_data, MapOptions(method="tsne"))
    with pytest.raises(MapError, match="unknown pooling"):
        build_map(bert_bundle, corpus_data, MapOptions(pooling="max"))
    small = build_map(bert_bundle, corpus_data, MapOptions(neighbours=50))
    assert small.neighbours.k == len(corpus_data) - 1
    assert any("not the 50 asked for" in note for note in small.notes)


class _Recorder:
    """A progress callback with a `stage` method, as the pages' bar has."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def __call__(self, done: int, total: int) -> None:
        self.events.append(("count", done, total))

    def stage(self, text: str) -> None:
        self.events.append(("stage", text))


def test_uncounted_steps_are_announced_after_the_counts_and_not_when_cached(
    bert_bundle, corpus_data, tmp_path, monkeypatch
):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    first = _Recorder()
    build_map(bert_bundle, corpus_data, MapOptions(neighbours=4), first)
    n = len(corpus_data)
    stages = [event[1] for event in first.events if event[0] == "stage"]
    assert stages == [
        f"Finding the 4 nearest neighbours of {n:,} points…",
        f"Projecting {n:,} points with PCA…",
    ]
    counts = [event for event in first.events if event[0] == "count"]
    assert counts[-1] == ("count", n, n)
    assert first.events.index(counts[-1]) < first.events.index(("stage", stages[0]))  # predictions come first
    again = _Recorder()
    build_map(bert_bundle, corpus_data, MapOptions(neighbours=4), again)
    assert not [event for event in again.events if event[0] == "stage"]  # read from the cache: nothing to announce
    build_map(bert_bundle, corpus_data, MapOptions(layer=1, neighbours=4), lambda done, total: None)  # no stage: fine


@pytest.mark.slow
def test_a_umap_map_of_repeated_texts_lays_each_vector_out_once(bert_bundle, tmp_path, monkeypatch):
    from explainer.data.labelled import read_dataset
    from explainer.dataset_map import projection
    from tests.conftest import CORPUS
    from tests.unit.dataset_map.conftest import corpus_csv

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    texts = [*CORPUS, *CORPUS[:5], *CORPUS]
    data = read_dataset(corpus_csv(texts), filename="repeated.csv", label_names=("neg", "pos"))
    laid_out: list[int] = []
    umap = projection._umap
    monkeypatch.setattr(projection, "_umap", lambda reduced, *a: (laid_out.append(len(reduced)), umap(reduced, *a))[1])
    result = build_map(bert_bundle, data, MapOptions(method="umap", neighbours=4))
    _, store, _ = embed_dataset(bert_bundle, data)
    vectors = unit_rows(store.layer(2, "readout"))
    _, first, group = np.unique(vectors, axis=0, return_index=True, return_inverse=True)
    assert laid_out == [len(first)] < [len(data)]  # each distinct vector once
    xy = result.frame[["x", "y"]].to_numpy()
    np.testing.assert_array_equal(xy, xy[first][group.ravel()])  # a repeated text's rows share one place
    assert len(np.unique(xy, axis=0)) == len(first)
    again = build_map(bert_bundle, data, MapOptions(method="umap", neighbours=4))  # from the cache, graph and all
    assert laid_out == [len(first)] and again.cached
    np.testing.assert_array_equal(again.frame[["x", "y"]].to_numpy(), xy)
    np.testing.assert_array_equal(result.neighbours.indices, nearest_neighbours(vectors, 4).indices)


@pytest.mark.parametrize("damage", ["empty", "half", "flipped", "garbage"])
def test_a_map_cache_file_damaged_on_disk_is_computed_again(bert_bundle, corpus_data, tmp_path, monkeypatch, damage):
    """A cached projection or neighbour search cut short or changed on disk (a full disk, a crash of another tool)
    is computed again, never a crash on every later visit: an empty or half file once raised EOFError or
    BadZipFile, a changed byte a bad CRC."""
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    options = MapOptions(layer=1, pooling="mean", neighbours=3)
    first = build_map(bert_bundle, corpus_data, options)
    files = sorted(tmp_path.rglob("dataset_map/*.npz"))
    assert len(files) == 2  # the neighbour search and the projection
    for path in files:
        data = path.read_bytes()
        path.write_bytes({"empty": b"", "half": data[: len(data) // 2], "garbage": b"not a zip file",
                          "flipped": data[:200] + bytes(255 - c for c in data[200:260]) + data[260:]}[damage])
    again = build_map(bert_bundle, corpus_data, options)
    np.testing.assert_array_equal(again.frame[["x", "y"]].to_numpy(), first.frame[["x", "y"]].to_numpy())
    np.testing.assert_array_equal(again.neighbours.indices, first.neighbours.indices)
    for path in files:  # and written again whole
        with np.load(path) as stored:
            assert stored.files


def test_map_cache_files_swapped_on_disk_are_computed_again(bert_bundle, corpus_data, tmp_path, monkeypatch):
    # valid .npz files of other contents (the projection's in the search's place) raised KeyError: 'indices' on
    # every later run
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    options = MapOptions(layer=1, pooling="mean", neighbours=3)
    first = build_map(bert_bundle, corpus_data, options)
    one, two = sorted(tmp_path.rglob("dataset_map/*.npz"))
    held = one.read_bytes()
    one.write_bytes(two.read_bytes())
    two.write_bytes(held)
    again = build_map(bert_bundle, corpus_data, options)
    np.testing.assert_array_equal(again.frame[["x", "y"]].to_numpy(), first.frame[["x", "y"]].to_numpy())
    np.testing.assert_array_equal(again.neighbours.indices, first.neighbours.indices)


def test_a_cached_projection_of_nan_is_laid_out_again(bert_bundle, corpus_data, tmp_path, monkeypatch):
    """A UMAP of one repeated vector was laid out as NaN and cached so: every later visit drew no points."""
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    options = MapOptions(layer=1, pooling="mean", neighbours=3)
    first = build_map(bert_bundle, corpus_data, options)
    for path in tmp_path.rglob("dataset_map/*.npz"):
        with np.load(path) as stored:
            arrays = {name: stored[name] for name in stored.files}
        if "xy" in arrays:
            arrays["xy"] = np.full_like(arrays["xy"], np.nan)
            with path.open("wb") as out:
                np.savez(out, **arrays)
    again = build_map(bert_bundle, corpus_data, options)
    np.testing.assert_array_equal(again.frame[["x", "y"]].to_numpy(), first.frame[["x", "y"]].to_numpy())


def test_stored_vectors_damaged_on_disk_are_computed_again_not_blamed_on_the_model(
    bert_bundle, corpus_data, tmp_path, monkeypatch
):
    # bytes of readout.npy overwritten read as NaN: "the model's numbers overflowed", on every run until deleted
    from explainer.dataset_map.embeddings import store_folder

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    options = MapOptions(layer=1, pooling="mean", neighbours=3)
    first = build_map(bert_bundle, corpus_data, options)
    stored = store_folder(bert_bundle, corpus_data, None) / "mean.npy"
    vectors = np.load(stored, mmap_mode="r+")
    vectors[1, 2] = np.nan  # as random bytes decode: a NaN among them
    vectors.flush()
    del vectors
    again = build_map(bert_bundle, corpus_data, options)
    np.testing.assert_array_equal(again.frame[["x", "y"]].to_numpy(), first.frame[["x", "y"]].to_numpy())
    assert np.isfinite(np.load(stored)).all()  # written again whole


@pytest.mark.parametrize("damage", ["zeros", "a file in the store's place"])
def test_a_store_left_zero_or_replaced_by_a_file_is_computed_again(bert_bundle, corpus_data, tmp_path, monkeypatch,
                                                                    damage):
    """A store whose vectors read all zero (written sparse, lost before reaching the disk) gave every point
    (0, 0) and no mislabels; a file where the store's folder goes failed every later build (NotADirectoryError)."""
    import shutil

    from explainer.dataset_map.embeddings import store_folder

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    options = MapOptions(layer=1, pooling="mean", neighbours=3)
    first = build_map(bert_bundle, corpus_data, options)
    folder = store_folder(bert_bundle, corpus_data, None)
    if damage == "zeros":
        vectors = np.load(folder / "mean.npy", mmap_mode="r+")
        vectors[:] = 0
        vectors.flush()
        del vectors
    else:
        shutil.rmtree(folder)
        folder.write_text("not a store")
    again = build_map(bert_bundle, corpus_data, options)
    np.testing.assert_array_equal(again.frame[["x", "y"]].to_numpy(), first.frame[["x", "y"]].to_numpy())
    assert folder.is_dir() and np.load(folder / "mean.npy").any(axis=1).all()  # written again whole


@pytest.mark.parametrize("value", [np.nan, 0.0])
def test_a_model_s_own_odd_vectors_cost_one_pass_not_one_per_build(bert_bundle, corpus_data, tmp_path, monkeypatch,
                                                                   value):
    # non-finite or all-zero rows read back from the cache are taken for damage on disk (bytes overwritten, a store
    # lost before reaching the disk) and computed again; those the model's own pass wrote are noted, so later
    # builds do not run the whole pass again for them (an overflowing model's ran on every build)
    from explainer.dataset_map import embeddings

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    pool, passes = embeddings.pool, []

    def odd(bundle, out, mask):
        passes.append(1)
        batch = pool(bundle, out, mask)
        batch.mean[:, 0] = value  # the first row of every batch, at every layer
        return batch

    monkeypatch.setattr(embeddings, "pool", odd)
    for _ in range(3):
        options = MapOptions(layer=1, pooling="mean", neighbours=3)
        if np.isnan(value):
            with pytest.raises(MapError, match="have no finite mean vector"):
                build_map(bert_bundle, corpus_data, options)
        else:
            build_map(bert_bundle, corpus_data, options)
    assert len(passes) == -(-len(corpus_data) // MapOptions().batch_size)  # one pass, for the first build only


def test_map_arrays_that_cannot_be_kept_are_used_not_a_traceback(bert_bundle, corpus_data, tmp_path, monkeypatch):
    # a disk that filled while the neighbour search or projection was saved: a traceback after the work was done
    from explainer.dataset_map import maps

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(maps.np, "savez", full)
    result = build_map(bert_bundle, corpus_data, MapOptions(layer=1, pooling="mean", neighbours=3))
    assert len(result.frame) == len(corpus_data) and not list(tmp_path.rglob("dataset_map/*.npz"))


def test_a_cache_folder_that_cannot_be_written_is_said_in_one_line(bert_bundle, corpus_data, tmp_path, monkeypatch):
    # EXPLAINER_CACHE naming a file: a NotADirectoryError traceback from the store's first write
    (tmp_path / "a-file").write_text("x")
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "a-file"))
    with pytest.raises(MapError, match=r"keeps its vectors on disk, under .*a-file.*which cannot be written \(Not a "
                                       r"directory\); set EXPLAINER_CACHE to a folder that can be"):
        build_map(bert_bundle, corpus_data, MapOptions(layer=1, pooling="mean", neighbours=3))


def test_rows_without_a_finite_vector_are_a_clear_error(bert_bundle, corpus_data, tmp_path, monkeypatch):
    """A model that overflowed on some rows: PCA raised LinAlgError ("Eigenvalues did not converge")."""
    from explainer.dataset_map.embeddings import EmbeddingStore

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    read = EmbeddingStore.layer

    def overflowed(self, layer, pooling="readout"):
        vectors = read(self, layer, pooling)
        vectors[3] = np.nan
        return vectors

    monkeypatch.setattr(EmbeddingStore, "layer", overflowed)
    line = corpus_data.lines[3] if corpus_data.lines else 5
    with pytest.raises(MapError, match=rf"1 row\(s\) have no finite mean vector at hidden state 1 .*lines {line}\)"):
        build_map(bert_bundle, corpus_data, MapOptions(layer=1, pooling="mean", neighbours=4))


def test_a_killed_runs_partial_store_is_removed_and_a_store_put_in_place_meanwhile_is_read(
        bert_bundle, corpus_data, tmp_path, monkeypatch):
    # A run killed mid-pass left <key>.partial-<pid> forever (its name is no cache entry: the size limit neither
    # counted nor removed it); a store another process moved in between our removing the old one and our rename
    # failed the build as "the cache cannot be written"
    import os
    import shutil
    import socket
    import subprocess
    import sys
    from pathlib import Path

    from explainer.dataset_map import embeddings

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    folder = embeddings.store_folder(bert_bundle, corpus_data, None)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    here = socket.gethostname()
    dead = folder.with_name(f"{folder.name}.partial-{here}-{int(gone.stdout)}")
    live = folder.with_name(f"{folder.name}.partial-{here}-{os.getppid()}")  # a running process's: left alone
    for partial in (dead, live):
        (partial / "inside").mkdir(parents=True)
    options = MapOptions(layer=1, pooling="mean", neighbours=3)
    first = build_map(bert_bundle, corpus_data, options)
    assert not dead.exists() and live.exists() and folder.is_dir()

    shutil.copytree(folder, tmp_path / "theirs")  # the same store, whole, as another process builds it
    (folder / "mean.npy").unlink()  # damaged: the next build computes the store again
    replace = os.replace

    def another_process_first(source, target):  # moves its store in just before ours: our rename fails
        if ".partial-" in str(source) and Path(target) == folder:
            shutil.copytree(tmp_path / "theirs", target)
            raise OSError(39, "Directory not empty")
        return replace(source, target)

    monkeypatch.setattr(os, "replace", another_process_first)
    again = build_map(bert_bundle, corpus_data, options)
    np.testing.assert_array_equal(again.frame[["x", "y"]].to_numpy(), first.frame[["x", "y"]].to_numpy())
    assert not list(folder.parent.glob(f"{folder.name}.partial-{here}-{os.getpid()}.*"))  # ours removed
