"""The map of a labelled data set through a model: one pass for predictions and embeddings (cached), one layer's
vectors projected to 2-D, their nearest neighbours and the likely-mislabelled rows. Projections and neighbours
are cached on disk too (UMAP and an exact search over 100,000 rows take minutes), keyed by the embeddings they
come from and the options.

    result = build_map(bundle, data, MapOptions(layer=None, method="umap"), progress=print)
    result.frame.head()          # row, line, text, label, predicted, confidence, correct, tokens, tag, marker, x, y
    neighbours_table(result, 12) # the nearest rows of row 12
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from explainer.capture.validation import InputError, check_tau, is_count
from explainer.data import disk_cache
from explainer.data.labelled import DatasetError, LabelledData, label_id_note, text_column_note
from explainer.data.spreadsheet import spreadsheet_csv
from explainer.dataset_map import mislabels
from explainer.dataset_map.embeddings import (
    POOLINGS,
    EmbeddingStore,
    MapError,
    Pooling,
    check_readout,
    embed_dataset,
    forget_store,
    store_folder,
)
from explainer.dataset_map.knn_search import DistinctGraph
from explainer.dataset_map.neighbours import DEFAULT_K, Neighbours, nearest_neighbours
from explainer.dataset_map.projection import METHODS, UMAP_GRAPH_WIDTH, Method, axis_titles, project, unit_rows
from explainer.evaluation.error_report import example_table, tag_column
from explainer.evaluation.predict import Predictions, token_ids
from explainer.loading.bundle import ModelBundle
from explainer.progress import Progress, announce

NAMESPACE = "dataset_map"
SAME_VECTOR = 1e-4  # largest spread, in any unit-row coordinate, at which every row counts as one vector
CACHE_VERSION = 2  # 2: UMAP's graph is the whole-space cosine neighbours; the search is keyed by its width


@dataclass(frozen=True)
class MapOptions:
    layer: int | None = None  # hidden-state index, 0 = the embedding layer; None: the last layer
    pooling: Pooling = "readout"
    method: Method = "pca"
    neighbours: int = DEFAULT_K
    seed: int = 0
    beacon_threshold: float | None = None
    batch_size: int = 32


@dataclass(frozen=True)
class MapResult:
    model_name: str
    label_names: tuple[str, ...]
    source: str
    frame: pd.DataFrame  # one row per example in file order: row, line, text, label, predicted, confidence,
    #                      correct, tokens, [tag column], marker, x, y, p(<label>)...
    neighbours: Neighbours
    mislabelled: pd.DataFrame  # mislabels.COLUMNS with label names, and text; ranked
    layer: int
    layers: int  # hidden states per example (blocks + 1)
    pooling: str
    method: str  # what ran ("umap" asked of too few rows runs "pca")
    seed: int
    axis_titles: tuple[str, str]  # what x and y are (projection.axis_titles)
    problems: tuple[tuple[int, str], ...]  # rows of the file that were skipped
    tag_column: str | None
    has_markers: bool
    cached: bool  # predictions and embeddings came from the disk cache
    notes: tuple[str, ...] = ()
    data_id: str = ""  # which file and columns the rows number (content hash, text and label columns): row slices
    #                    made on one data set are not applied to another
    label_note: str | None = None  # how integer labels were read (data.labelled.label_id_note); pages show it
    column_note: str | None = None  # which column the texts were read from, when guessed (text_column_note)
    seconds: dict[str, float] = field(default_factory=dict)  # per stage: embeddings, projection, neighbours


def resolve_layer(layer: int | None, layers: int) -> int:
    """The hidden-state index asked for (None: the last); MapError naming the range when it is out of it."""
    if layer is None:
        return layers - 1
    if not 0 <= layer < layers:
        raise MapError(
            f"layer {layer} is out of range: this model has layers 0-{layers - 1} "
            f"(0: the embedding layer, {layers - 1}: the last block)"
        )
    return layer


def search_width(method: str, neighbours: int) -> int:
    """How many neighbours of each row the map searches: the `neighbours` listed, and for UMAP at least its graph's
    width, since UMAP's graph is the same search (one search for both; the list is its first `neighbours`)."""
    return max(neighbours, UMAP_GRAPH_WIDTH) if method == "umap" else neighbours


def _check(options: MapOptions) -> MapOptions:
    """`options`, checked, with tau as a float (a numpy one keyed a cache folder of its own)."""
    if options.pooling not in POOLINGS:
        raise MapError(f"unknown pooling {options.pooling!r}; use one of {', '.join(POOLINGS)}")
    if options.method not in METHODS:
        raise MapError(f"unknown method {options.method!r}; use one of {', '.join(METHODS)}")
    for name in ("neighbours", "batch_size"):
        if not is_count(value := getattr(options, name)):  # True and 2.5 failed deep inside
            raise MapError(f"{name} must be a whole number of at least 1, not {value!r}")
    try:
        return replace(options, beacon_threshold=check_tau(options.beacon_threshold))
    except InputError as error:
        raise MapError(str(error)) from None


def _cached_arrays(
    key: tuple, compute: Callable[[], dict[str, np.ndarray]], valid: Callable[[dict[str, np.ndarray]], bool]
) -> tuple[dict[str, np.ndarray], bool]:
    """Arrays stored as one .npz per key (written atomically); (arrays, came_from_cache). Stored arrays that are
    not `valid` (another file put in its place: a KeyError on every run) are computed again."""
    path = disk_cache.cache_path(NAMESPACE, CACHE_VERSION, *key).with_suffix(".npz")
    try:
        with np.load(path, allow_pickle=False) as stored:  # every array read here, inside the try
            arrays = {name: stored[name] for name in stored.files}
        if valid(arrays):
            disk_cache.used(path)
            return arrays, True
    except Exception:  # missing, or damaged on disk (EOFError, BadZipFile, a bad CRC, ...): computed again
        pass
    arrays = compute()
    disk_cache.keep_file(path, lambda out: np.savez(out, **arrays), ".npz")
    return arrays, False


def points_frame(
    data: LabelledData, predictions: Predictions, label_names: tuple[str, ...], markers: np.ndarray, xy: np.ndarray
) -> pd.DataFrame:
    """The table the map draws, one row per example: its row number, the example table's columns (text, label,
    prediction, confidence, ...), its dominant marker (markers [N], -1: none) and its place (xy [N, 2])."""
    frame = example_table(data, predictions, label_names)
    frame.insert(0, "row", np.arange(len(data)))
    frame["marker"] = markers.astype(np.int64)
    frame["x"], frame["y"] = xy[:, 0].astype(np.float64), xy[:, 1].astype(np.float64)
    return frame


def _unit_vectors(store: EmbeddingStore, layer: int, pooling: Pooling) -> tuple[np.ndarray, np.ndarray]:
    """One layer's vectors scaled to length 1 [N, hidden], and the rows without a finite one [lost]."""
    vectors = unit_rows(store.layer(layer, pooling))
    return vectors, np.flatnonzero(~np.isfinite(vectors).all(axis=1))


def build_map(
    bundle: ModelBundle, data: LabelledData, options: MapOptions = MapOptions(), progress: Progress | None = None
) -> MapResult:
    """Predict and embed every row (or read them from the cache), then project and search the chosen layer."""
    options = _check(options)
    if options.pooling == "readout":
        check_readout(bundle)
    if not len(data):
        raise DatasetError(f"{data.source}: no rows to map")
    seconds: dict[str, float] = {}
    start = time.perf_counter()

    def embedded() -> tuple[Predictions, EmbeddingStore, bool]:
        return embed_dataset(bundle, data, beacon_threshold=options.beacon_threshold, batch_size=options.batch_size,
                             progress=progress)

    predictions, store, was_cached = embedded()
    layer = resolve_layer(options.layer, store.layers)
    vectors, lost = _unit_vectors(store, layer, options.pooling)
    # Bytes damaged on disk read as overflow, or left zero (a store's files are written sparse, and a crash before
    # they reached the disk leaves zeros: every point at (0, 0) and "every row has the same vector"): the pass runs
    # again before the model is blamed (it was, on every run, until the store was deleted). A model's own zero
    # rows, which no real one writes, are noted as its NaNs are, so they cost one pass, not one per build.
    if (len(lost) or not vectors.any(axis=1).all()) and was_cached and not store.nonfinite_known():
        forget_store(bundle, data, options.beacon_threshold)
        predictions, store, was_cached = embedded()
        vectors, lost = _unit_vectors(store, layer, options.pooling)
    if not was_cached and not vectors.any(axis=1).all():  # zero rows from this pass: the model's own
        store.note_nonfinite()
    seconds["embeddings"] = time.perf_counter() - start
    if len(lost):  # PCA and UMAP have no place for them, and no distance to them is defined
        store.note_nonfinite()  # the model's own: the next build says so without another pass
        lines = data.lines if data.lines else range(2, len(data) + 2)
        shown = ", ".join(str(lines[i]) for i in lost[:10]) + (", ..." if len(lost) > 10 else "")
        raise MapError(
            f"{len(lost)} row(s) have no finite {options.pooling} vector at hidden state {layer} (the model's numbers "
            f"overflowed on them; lines {shown}): remove those rows, or run the model in full precision"
        )
    base = (store_folder(bundle, data, options.beacon_threshold).name, layer, options.pooling)

    notes: list[str] = []
    # BERT's [CLS] at the embedding layer is one vector whatever the text: a map of it would look like a finding.
    # Texts the model reads alike (copies, "A  fine film" on an uncased model) share one vector as they should:
    # their neighbours are real (one text, two labels).
    same = (len(vectors) > 1 and float((vectors.max(axis=0) - vectors.min(axis=0)).max()) < SAME_VECTOR
            and not _read_alike(bundle, data.texts))
    if same:
        kind = "readout-position" if options.pooling == "readout" else "mean-pooled"
        notes.append(
            f"Every row has the same {kind} vector at hidden state {layer}"
            + (" (the embeddings: the readout token has not read the text yet)" if layer == 0 else "")
            + ", so the map, the neighbours and the likely-mislabelled list carry no information here; choose "
            "another layer or mean-pooled vectors."
        )
    width = search_width(options.method, options.neighbours)

    start = time.perf_counter()

    def searched() -> dict[str, np.ndarray]:
        announce(progress, f"Finding the {options.neighbours} nearest neighbours of {len(vectors):,} points…")
        found = nearest_neighbours(vectors, width)
        arrays = {"indices": found.indices, "distances": found.distances}
        if found.distinct is not None:  # rows repeat: the distinct vectors' own graph, for UMAP
            arrays |= found.distinct.as_arrays()
        return arrays

    # keyed apart from searches cached before the distinct graph was kept with them (UMAP would lay out every row)
    def whole_search(arrays: dict[str, np.ndarray]) -> bool:
        indices, distances = arrays.get("indices"), arrays.get("distances")
        return (indices is not None and distances is not None and indices.ndim == 2 and len(indices) == len(vectors)
                and indices.shape == distances.shape and indices.shape[1] >= min(options.neighbours, len(vectors) - 1)
                and bool(((indices >= 0) & (indices < len(vectors))).all()))

    stored, _ = _cached_arrays((*base, "neighbours", width, "distinct"), searched, whole_search)
    wide = Neighbours(stored["indices"], stored["distances"], width, distinct=DistinctGraph.from_arrays(stored))
    neighbours = wide.first(options.neighbours)
    notes += list(neighbours.notes)
    seconds["neighbours"] = time.perf_counter() - start

    start = time.perf_counter()

    def projected() -> dict[str, np.ndarray]:
        slow = " (minutes on many rows; cached afterwards)" if options.method == "umap" else ""
        announce(progress, f"Projecting {len(vectors):,} points with {options.method.upper()}{slow}…")
        result = project(vectors, options.method, options.seed, graph=(wide.indices, wide.distances),
                         distinct=wide.distinct)
        return {
            "xy": result.coordinates,
            "method": np.array(result.method),
            "notes": np.array(list(result.notes)),
            "variance_shares": np.array(result.variance_shares, dtype=np.float64),
        }

    # A PCA map is keyed apart from those cached before its axes' variance shares were kept (PCA is quick to redo;
    # a UMAP needs none, so its costly layout is not redone)
    # and a UMAP of repeated rows apart from those laid out before copies shared one place.
    key = (*base, options.method, options.seed, *(("variance",) if options.method == "pca" else ()),
           *(("distinct",) if options.method == "umap" and wide.distinct is not None else ()))
    def whole_projection(arrays: dict[str, np.ndarray]) -> bool:
        xy = arrays.get("xy")
        # finite too: a UMAP of one repeated vector, cached as NaN before it fell back to PCA, is laid out again
        return (xy is not None and xy.shape == (len(vectors), 2) and {"notes", "method"} <= set(arrays)
                and bool(np.isfinite(xy).all()))

    projection, _ = _cached_arrays(key, projected, whole_projection)
    notes += [str(note) for note in projection["notes"].tolist()]
    seconds["projection"] = time.perf_counter() - start

    names = tuple(bundle.label_names)
    markers = store.markers()
    frame = points_frame(data, predictions, names, markers, projection["xy"])
    labels = np.asarray(data.labels, dtype=np.int64)
    ranked = mislabels.likely_mislabelled(labels, predictions.probabilities, neighbours)
    if same:
        ranked = ranked.iloc[0:0]  # the neighbours are arbitrary ties: no row is suspect because of them
    label_names = np.asarray(names, dtype=object)
    for column in ("label", "predicted", "neighbour_label"):
        ranked[column] = label_names[ranked[column].to_numpy(dtype=np.int64)] if len(ranked) else []
    ranked["text"] = frame["text"].to_numpy()[ranked["row"].to_numpy(dtype=np.int64)] if len(ranked) else []
    return MapResult(
        model_name=bundle.name,
        label_names=names,
        source=data.source,
        frame=frame,
        neighbours=neighbours,
        mislabelled=ranked,
        layer=layer,
        layers=store.layers,
        pooling=options.pooling,
        method=str(projection["method"]),
        seed=options.seed,
        axis_titles=axis_titles(
            str(projection["method"]), tuple(projection.get("variance_shares", np.zeros(0)).tolist())
        ),
        problems=tuple(data.problems),
        tag_column=tag_column(data),
        has_markers=bool((markers >= 0).any()),
        cached=was_cached,
        notes=tuple(notes),
        seconds=seconds,
        label_note=label_id_note(data),
        column_note=text_column_note(data),
        data_id=f"{data.content_hash}:{data.text_column}:{data.label_column}",
    )


def neighbours_table(result: MapResult, row: int) -> pd.DataFrame:
    """The nearest rows of `row`: rank, distance, row, (file,) line, text, label, predicted, correct (none for a row
    whose vector is not finite: the search leaves its list at -1, which iloc would read as the last row)."""
    if not 0 <= row < len(result.frame):  # -1 gave the last row's, len(frame) an IndexError of numpy's
        raise IndexError(f"row {row} is not a row of this map (0 to {len(result.frame) - 1})")
    kept = result.neighbours.indices[row] >= 0
    found = result.neighbours.indices[row][kept]
    # with the file's line too (and the file, of several, whose lines restart in each): Errors names a row by it
    columns = ["row", *(["file"] if "file" in result.frame else []), "line", "text", "label", "predicted", "correct"]
    shown = result.frame.iloc[found][columns].reset_index(drop=True)
    shown.insert(0, "distance", result.neighbours.distances[row][kept].astype(np.float64))
    shown.insert(0, "rank", np.arange(1, len(found) + 1))
    return shown


def _read_alike(bundle: ModelBundle, texts: Sequence[str]) -> bool:
    """Whether the model reads every text as the same tokens (asked only when every row has one vector)."""
    first, *rest = token_ids(bundle, texts)
    return all(np.array_equal(first, ids) for ids in rest)


def mislabelled_table(result: MapResult) -> pd.DataFrame:
    """The likely-mislabelled list with each row's file line beside its row (the Errors page names rows by line)."""
    table = result.mislabelled.copy()
    rows = table["row"].to_numpy(dtype=np.int64)
    for column in ("line", "file"):  # the file first: of several files, whose lines restart in each
        if column in result.frame:
            table.insert(1, column, result.frame[column].to_numpy()[rows] if len(table) else [])
    return table


def mislabelled_csv(result: MapResult, row_numbers: np.ndarray | None = None) -> bytes:
    """The likely-mislabelled list as UTF-8 CSV, with each row's file line; `row_numbers` [N] renumbers the
    rows (the CLI gives each row's index among the file's data rows)."""
    table = mislabelled_table(result)
    if row_numbers is not None and len(table):
        table["row"] = row_numbers[table["row"].to_numpy(dtype=np.int64)]
    return spreadsheet_csv(table)
