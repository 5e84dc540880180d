"""Read a results folder back: the labelled data, the predictions, the embeddings, the sweep and the marker
dictionary it holds, without running the model. `seed_caches` puts them where the app's pages look (the disk
caches keyed by model and data), so the Errors, Compare and data-set map pages show them as they show a file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pa_dataset

from explainer.data import disk_cache
from explainer.data.labelled import LabelledData, data_notes
from explainer.evaluation.predict import Predictions
from explainer.loading.bundle import ModelBundle
from explainer.scale.manifest import ROWS, Manifest, ResultsError, damaged, read_manifest

KEY_SHIFT = 40  # markers: a text's order key is file << KEY_SHIFT | row (explainer.scale.work)


@dataclass(frozen=True)
class Results:
    folder: Path
    manifest: Manifest

    def _dataset(self) -> pa_dataset.Dataset:
        # absolute: pyarrow expands a leading "~" (a folder ./~/r named as typed would be read from $HOME/r)
        return pa_dataset.dataset([str((self.folder / shard).absolute()) for shard in self.manifest.shards],
                                  format="parquet")

    def used_rows(self, columns: list[str]) -> pa.Table:
        """`columns` of the used rows, in data-set order (file by file, row by row)."""
        wanted = list(dict.fromkeys(["file", "row", *columns]))
        table = self._dataset().to_table(columns=wanted, filter=pc.field("problem").is_null())
        if table.num_rows != self.manifest.rows:  # a shard changed since the folder was opened (and checked)
            read = f"{table.num_rows} used rows read, the manifest says {self.manifest.rows}"
            raise damaged(self.folder, read, self.folder / ROWS)
        return table.sort_by([("file", "ascending"), ("row", "ascending")])

    @cached_property
    def file_names(self) -> list[str]:
        """How rows name the input files, in the manifest's order (file_names)."""
        return file_names([entry.path for entry in self.manifest.files])

    @cached_property
    def offsets(self) -> np.ndarray:  # [files] the data-set row of each file's first row
        counts = np.asarray([entry.rows for entry in self.manifest.files], dtype=np.int64)
        return np.concatenate([[0], np.cumsum(counts)[:-1]])

    def problems(self) -> tuple[tuple[int, str], ...]:
        """(line, reason) of every skipped row; with several files the reason names the file."""
        table = self._dataset().to_table(columns=["file", "line", "problem"], filter=pc.field("problem").is_valid())
        table = table.sort_by([("file", "ascending"), ("line", "ascending")])
        several = len(self.manifest.files) > 1
        names = self.file_names
        return tuple(
            (int(line), f"{names[file]}: {reason}" if several else reason)
            for file, line, reason in zip(
                table.column("file").to_pylist(),
                table.column("line").to_pylist(),
                table.column("problem").to_pylist(),
                strict=True,
            )
        )

    def notes(self, text_column_named: bool = False) -> tuple[str, ...]:
        """The notes on how the files were read (data_notes) that labelled_data would give, without reading every
        row: the manifest, and the distinct labels only where they were read as ids. `text_column_named`: this run
        named the text column the results were read from (a folder whose run guessed it, reused: no note that it
        was guessed, which told the user to name the column they had just named)."""
        manifest = self.manifest
        used: tuple[int, ...] = ()
        if manifest.labels_by_id:
            used = tuple(sorted(pc.unique(self._dataset().to_table(
                columns=["label"], filter=pc.field("problem").is_null()).column("label")).to_pylist()))
        sketch = LabelledData(texts=(), labels=used, label_names=manifest.label_names, extra={}, problems=(),
                              source=str(self.folder), content_hash=manifest.input_hash,
                              text_column=manifest.text_column, label_column=manifest.label_column,
                              labels_by_id=manifest.labels_by_id,
                              text_column_guessed=manifest.text_column_guessed and not text_column_named)
        return data_notes(sketch)

    def labelled_data(self) -> LabelledData:
        """The rows as the app reads a labelled file: texts, labels, extra columns, lines and skipped rows. Its
        content hash is the input's, so caches keyed on it belong to this input."""
        table = self.used_rows(["text", "label", "line", "extra", "file"])
        extras = [json.loads(value) if value else {} for value in table.column("extra").to_pylist()]
        manifest = self.manifest
        names = self.file_names
        several = len(names) > 1  # each file numbers its own lines: a row is named by its file too
        return LabelledData(
            texts=tuple(table.column("text").to_pylist()),
            labels=tuple(table.column("label").to_pylist()),
            label_names=manifest.label_names,
            extra={name: tuple(row.get(name) for row in extras) for name in manifest.extra_columns},
            problems=self.problems(),
            source=f"{self.folder} (results of {manifest.input_spec})",
            content_hash=manifest.input_hash,
            lines=tuple(table.column("line").to_pylist()),
            text_column=manifest.text_column,
            label_column=manifest.label_column,
            format="results",
            labels_by_id=manifest.labels_by_id,
            text_column_guessed=manifest.text_column_guessed,
            row_files=tuple(names[file] for file in table.column("file").to_pylist()) if several else (),
        )

    def predictions(self) -> Predictions:
        """The prediction pass as explainer.evaluation.predict returns it (sums over the rows' summaries)."""
        if self.manifest.kind not in ("evaluate", "map"):
            raise ResultsError(f"{self.folder} holds a {self.manifest.kind} run, which has no predictions")
        names = set(self._dataset().schema.names)
        optional = [c for c in ("slots", "skipped_slots", "max_prob_sum", "marker_counts") if c in names]
        table = self.used_rows(["probabilities", "tokens", *optional])
        labels = len(self.manifest.label_names)
        probabilities = _matrix(table.column("probabilities"), labels, np.float32)
        tokens = table.column("tokens").to_numpy().astype(np.int32)

        def total(name: str) -> int:
            return int(table.column(name).to_numpy().sum()) if name in optional else 0

        marker_counts = None
        if "marker_counts" in optional:
            width = table.schema.field("marker_counts").type.list_size
            marker_counts = _matrix(table.column("marker_counts"), width, np.int64).sum(axis=0)
        return Predictions(
            probabilities=probabilities,
            seconds=self.manifest.seconds,
            slots=total("slots"),
            skipped_slots=total("skipped_slots"),
            tokens=int(tokens.sum()),
            max_prob_sum=float(table.column("max_prob_sum").to_numpy().sum()) if "max_prob_sum" in optional else 0.0,
            marker_counts=marker_counts,
            lengths=tokens,
        )

    def beacon_threshold(self) -> float | None:
        return self.manifest.options.get("beacon_threshold")


def file_names(paths: list[str]) -> list[str]:
    """How rows name their input files: each path below the folder all of them share ("train.csv" for the shards
    of one folder; "2023/train.csv" and "2024/train.csv" for a glob over folders, where the names alone repeat)."""
    if len(paths) < 2:
        return [Path(path).name for path in paths]
    try:
        shared = Path(os.path.commonpath([str(Path(path).parent) for path in paths]))
        return [Path(path).relative_to(shared).as_posix() for path in paths]
    except ValueError:  # absolute beside relative: nothing is shared
        return [str(path) for path in paths]


def _matrix(column: pa.ChunkedArray, width: int, dtype: Any) -> np.ndarray:
    """A fixed-size list column as [rows, width]."""
    flat = pc.list_flatten(column).to_numpy(zero_copy_only=False)
    return flat.reshape(-1, width).astype(dtype, copy=False)


def open_results(folder: str | Path) -> Results:
    """The results in `folder` (ResultsError when it holds none, or they are damaged)."""
    path = Path(folder).expanduser()
    return Results(path, read_manifest(path))


def check_model(results: Results, bundle: ModelBundle) -> None:
    """ResultsError unless `bundle` is the model that produced the results (same weights, not only the name)."""
    found = disk_cache.model_fingerprint(bundle)
    if found == results.manifest.model_fingerprint:
        return
    if results.manifest.model == bundle.name:
        raise ResultsError(  # "results of X, not of the chosen model X" said nothing of why
            f"{results.folder} holds results of {bundle.name} as it was when the job ran; it has changed since ("
            + ("a new revision on the hub, " if bundle.folder_stamp is None else "a file's size, time or contents: "
               "a new checkpoint, or the same one copied, checked out or touched; ")
            + "or its config as this transformers version writes it), so these may be another model's numbers: run "
            "the job again with it"
        )
    raise ResultsError(
        f"{results.folder} holds results of {results.manifest.model} (fingerprint "
        f"{results.manifest.model_fingerprint}), not of the chosen model {bundle.name} (fingerprint {found}): "
        "choose that model, or run the job again with this one"
    )


def cache_refusal(folder: str | Path) -> str | None:
    """Why the results in `folder` cannot be seeded (the cache folder cannot be written), or None. The caches
    seeded are where everything reads the results back: unseeded, the work was done again, locally. A command
    asks before its pass too, so a run does not end in it."""
    unwritable = disk_cache.writable_or_error()
    return None if unwritable is None else f"{folder}: its results are read through the cache, but {unwritable}"


def seed_caches(bundle: ModelBundle, results: Results) -> LabelledData:
    """Put the results where the pages look for them (prediction cache, embedding store, marker dictionary, tau
    sweep), keyed by this model and the results' data, and return that data. ResultsError for another model."""
    from explainer.evaluation import prediction_cache

    check_model(results, bundle)
    if (refusal := cache_refusal(results.folder)) is not None:
        raise ResultsError(refusal)
    data = results.labelled_data()
    kind = results.manifest.kind
    tau = results.beacon_threshold()
    if kind in ("evaluate", "map"):
        prediction_cache.remember(bundle, data, results.predictions(), tau)
    if kind == "map":
        import_embeddings(bundle, results, data)
    if kind == "markers":
        from explainer.thought_beacon.marker_dictionary import DictionaryOptions, remember_dictionary

        options = DictionaryOptions(**results.manifest.options["dictionary"])  # as marker_dictionary reads them
        remember_dictionary(bundle, data, {**marker_dictionary(bundle, results), "data": data.source}, options)
    if kind == "sweep":
        from explainer.thought_beacon.beacons import remember_sweep

        remember_sweep(bundle, data, sweep(bundle, results), results.manifest.options["taus"])
    return data


def import_embeddings(bundle: ModelBundle, results: Results, data: LabelledData) -> Path:
    """Copy a map run's vectors into the embedding store the data-set map reads (a block of rows at a time)."""
    import shutil

    from explainer.dataset_map.embeddings import (
        BatchEmbeddings,
        EmbeddingStore,
        marker_count,
        move_store_in,
        open_store,
        store_folder,
    )

    folder = store_folder(bundle, data, results.beacon_threshold())
    if open_store(folder, marker_count(bundle)) is not None:
        return folder
    partial = disk_cache.partial_folder(folder)
    store: EmbeddingStore | None = None
    labels = len(results.manifest.label_names)
    scanner = results._dataset().scanner(
        columns=["file", "row", "readout", "mean", "probabilities", "dominant_marker"]
        if "dominant_marker" in results._dataset().schema.names
        else ["file", "row", "readout", "mean", "probabilities"],
        filter=pc.field("problem").is_null(),
    )
    slot = 0
    try:
        for batch in scanner.to_batches():
            if batch.num_rows == 0:
                continue
            rows = results.offsets[batch.column("file").to_numpy()] + batch.column("row").to_numpy()
            readout = np.stack([np.frombuffer(v, dtype=np.float16) for v in batch.column("readout").to_pylist()])
            mean = np.stack([np.frombuffer(v, dtype=np.float16) for v in batch.column("mean").to_pylist()])
            if store is None:
                hidden = _hidden_size(bundle)
                layers = readout.shape[1] // hidden
                store = EmbeddingStore.create(partial, results.manifest.rows, layers, hidden)
            shape = (len(rows), store.layers, store.hidden)
            markers = (
                batch.column("dominant_marker").to_numpy().astype(np.int16)
                if "dominant_marker" in batch.schema.names
                else np.full(len(rows), -1, dtype=np.int16)
            )
            store.write(
                slot,
                rows,
                BatchEmbeddings(
                    probabilities=_matrix(pa.chunked_array([batch.column("probabilities")]), labels, np.float32),
                    readout=readout.reshape(shape).transpose(1, 0, 2),
                    mean=mean.reshape(shape).transpose(1, 0, 2),
                    markers=markers,
                ),
            )
            slot += len(rows)
        if store is None or not store.is_complete():
            raise ResultsError(f"{results.folder}: the map run's vectors do not cover every row")
        move_store_in(partial, folder, results.manifest.rows, markers=marker_count(bundle))
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def _hidden_size(bundle: ModelBundle) -> int:
    config = bundle.model.config
    return int(getattr(config, "hidden_size", None) or getattr(config, "d_model", None) or config.dim)


def marker_dictionary(bundle: ModelBundle, results: Results) -> dict[str, Any]:
    """Merge a markers run's parts into the dictionary (the same as the local build over the same rows)."""
    from explainer.thought_beacon.marker_dictionary import DictionaryOptions, DictionaryParts, finish

    options = DictionaryOptions(**results.manifest.options["dictionary"])
    scanner = results._dataset().scanner(columns=["parts"], filter=pc.field("parts").is_valid())
    merged = DictionaryParts.empty(bundle)
    for batch in scanner.to_batches():
        for payload in batch.column("parts").to_pylist():
            merged.merge(DictionaryParts.from_payload(bundle, json.loads(payload)), options)
    offsets = results.offsets
    mask = (1 << KEY_SHIFT) - 1
    return finish(bundle, merged, options, text_index=lambda key: int(offsets[key >> KEY_SHIFT] + (key & mask)))


def sweep(bundle: ModelBundle, results: Results) -> dict[str, Any]:
    """A sweep run's accuracy-against-compute points, built as the local sweep builds them."""
    from explainer.thought_beacon.beacons import sweep_point, sweep_result

    if results.manifest.kind != "sweep":
        raise ResultsError(f"{results.folder} holds a {results.manifest.kind} run, not a tau sweep")
    taus = list(results.manifest.options["taus"])
    table = results.used_rows(["label", "tokens", "slots", "sweep_probabilities", "sweep_skipped"])
    labels_count = len(results.manifest.label_names)
    labels = table.column("label").to_numpy().astype(np.int64)
    probabilities = _matrix(table.column("sweep_probabilities"), len(taus) * labels_count, np.float32)
    skipped = _matrix(table.column("sweep_skipped"), len(taus), np.int64)
    tokens = table.column("tokens").to_numpy()
    slots = int(table.column("slots").to_numpy().sum())
    points = []
    for index, tau in enumerate(taus):
        predictions = Predictions(
            probabilities=probabilities[:, index * labels_count : (index + 1) * labels_count],
            seconds=results.manifest.seconds,
            slots=slots,
            skipped_slots=int(skipped[:, index].sum()),
            tokens=int(tokens.sum()),
            max_prob_sum=0.0,
            marker_counts=None,
            lengths=tokens.astype(np.int32),
        )
        points.append(sweep_point(bundle, labels, predictions, tau))
    return {**sweep_result(bundle, points, len(labels)), "data": results.manifest.input_spec}
