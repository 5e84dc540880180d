"""Embeddings of a labelled data set, collected in the same forward pass as its predictions, stored on disk.

Per example and per layer (0 = the embedding layer, then every block) two vectors: the readout vector (the
position the family's classifier reads, explainer/families.py: [CLS]/<s> or the last real token) and the mean of
every real token's vector (special tokens included). They are kept as float16 in two .npy files of shape
[layers+1, slots, hidden], next to the prediction cache and keyed like it, so one layer is one contiguous block.

The store is written a block of slots at a time with positional writes, never held in memory: `rows.npy` says
which data row each slot holds, so a pass in any order (length-sorted batches, or shards run elsewhere, each
given its own slot range) fills it, and a folder becomes visible only once every slot is written.

    batch = embed_texts(bundle, texts)                 # the pure per-batch function: arrays only
    predictions, store, cached = embed_dataset(bundle, data, progress=print)
    store.layer(3, "readout")                          # [N, hidden] float32, in the data set's row order
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from explainer.data import disk_cache
from explainer.data.labelled import LabelledData
from explainer.evaluation import prediction_cache
from explainer.evaluation.predict import Predictions, predict
from explainer.families import family_of, is_known, single_readout_note
from explainer.loading.bundle import ModelBundle
from explainer.models import uses_markers
from explainer.progress import Progress

NAMESPACE = "embeddings"
STORE_VERSION = 1  # bump when the stored layout changes
POOLINGS = ("readout", "mean")
Pooling = Literal["readout", "mean"]
FLOAT16_MAX = float(np.finfo(np.float16).max)


class MapError(ValueError):
    """The map cannot be made as asked (a model without a readout convention, a layer out of range, ...)."""


class StoreUnwritable(MapError, disk_cache.NamesServerFolder):
    """The map's vectors cannot be written to the cache folder (a file in its place, read-only, full)."""

    public = "the map keeps its vectors on disk, and the server's cache folder cannot be written: its log says where"


def has_readout(bundle: ModelBundle) -> bool:
    """Whether this model's classifier reads one position the architecture table names (not a family the table
    lacks, not a ModernBERT that mean-pools: families.single_readout_note, the rule attribution follows)."""
    return single_readout_note(bundle.model) is None


def check_readout(bundle: ModelBundle) -> None:
    """MapError unless this model's classifier reads one known position (readout vectors need it; mean-pooled
    vectors do not)."""
    if has_readout(bundle):
        return
    model_type = bundle.model.config.model_type
    if is_known(model_type):  # a table family whose head pools every position: the mean is what it reads
        raise MapError(
            f"{bundle.name}: this {model_type} classifier pools every position, so no single position carries its "
            "prediction; map the mean of its tokens (the page's Vector option, or --pooling mean), which is what "
            "its head reads"
        )
    raise MapError(
        f"{bundle.name}: model type {model_type!r} has no readout convention in the "
        "architecture table (explainer/families.py), so its readout vectors are unknown; map the mean of its "
        "tokens instead (the page's Vector option, or --pooling mean), or add a Family entry for it"
    )


@dataclass(frozen=True)
class BatchEmbeddings:
    """One batch's arrays, rows in the batch's order."""

    probabilities: np.ndarray  # [batch, labels] float32
    readout: np.ndarray  # [layers+1, batch, hidden] float16
    mean: np.ndarray  # [layers+1, batch, hidden] float16
    markers: np.ndarray  # [batch] int16: the dominant thought marker, -1 for models without markers


def pool(bundle: ModelBundle, out: Any, attention_mask: np.ndarray) -> BatchEmbeddings:
    """The readout and mean-pooled vectors of every layer from one batch's output (hidden states required)."""
    if out.hidden_states is None:
        raise MapError("the model returned no hidden states")
    # Layer by layer, no stacked copy of every hidden state: this runs once per batch of the data-set pass, whose
    # time the map's cost is measured against (stacking all states, then masking them, took 5 ms of a 106-ms batch).
    mask = torch.from_numpy(attention_mask).to(out.logits.device)  # [batch, T]
    states = [h.float() for h in out.hidden_states]  # layers+1 x [batch, T, d]
    width = mask.shape[1]
    first = mask.argmax(dim=1)  # first real token, whichever side the padding is on
    last = width - 1 - mask.flip(1).argmax(dim=1)  # last real token
    positions = last if family_of(bundle.model).readout == "last" else first  # [batch]
    batch = torch.arange(mask.shape[0], device=mask.device)
    readout = torch.stack([h[batch, positions] for h in states])  # [layers+1, batch, d]
    if not has_readout(bundle):  # no single known position: stored as NaN, refused where read (check_readout)
        readout = torch.full_like(readout, float("nan"))
    # Summed in float64: a float32 bmm's summation order follows torch's thread count (the Ray engine's workers run
    # one thread, the local engine two), and stored in float16 the sums then differed in their last bit.
    weights = mask.to(torch.float64)[:, None, :]  # [batch, 1, T]
    counts = weights.sum(dim=2).clamp(min=1.0)  # [batch, 1]
    mean = torch.stack([(torch.bmm(weights, h.double()).squeeze(1) / counts).float() for h in states])  # [L+1, B, d]
    markers = np.full(mask.shape[0], -1, dtype=np.int16)
    routing = getattr(out, "thought_markers", None)
    if routing:
        choice = torch.stack(routing).argmax(-1).permute(1, 0, 2).reshape(mask.shape[0], -1)  # [batch, layers*T]
        k = routing[0].shape[-1]
        real = mask.long().repeat(1, len(routing))  # [batch, layers*T], in the same layer-major order as choice
        tally = torch.zeros(mask.shape[0], k, dtype=torch.long, device=mask.device).scatter_add_(1, choice, real)
        markers = tally.argmax(-1).cpu().numpy().astype(np.int16)  # [batch]: each row's most chosen marker
    return BatchEmbeddings(
        probabilities=out.logits.float().softmax(-1).cpu().numpy(),
        readout=_half(readout),
        mean=_half(mean),
        markers=markers,
    )


def _half(values: torch.Tensor) -> np.ndarray:
    # float16 overflows past 65504: clip rather than store inf (pre-LN residual streams can grow large).
    return values.clamp(-FLOAT16_MAX, FLOAT16_MAX).to(torch.float16).cpu().numpy()


def embed_texts(bundle: ModelBundle, texts: Sequence[str], beacon_threshold: float | None = None) -> BatchEmbeddings:
    """The per-batch unit of work as a pure function of (bundle, texts): one forward pass, arrays out (in the
    texts' order). What a pass over a data set (or a worker running part of one) computes per batch."""
    parts: list[tuple[np.ndarray, BatchEmbeddings]] = []
    predict(
        bundle,
        texts,
        batch_size=max(len(texts), 1),
        beacon_threshold=beacon_threshold,
        on_batch=lambda rows, out, mask: parts.append((rows, pool(bundle, out, mask))),
    )
    rows, batch = parts[0]
    order = np.argsort(rows)  # predict runs the batch sorted by length
    return BatchEmbeddings(
        batch.probabilities[order], batch.readout[:, order], batch.mean[:, order], batch.markers[order]
    )


# ---- the store -------------------------------------------------------------------------------------------------


def _data_offset(path: Path) -> int:
    with path.open("rb") as f:
        major, _ = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        read_header(f)
        return f.tell()


NONFINITE_FILE = "nonfinite"  # in a store whose pass found non-finite vectors


class EmbeddingStore:
    """A folder of readout.npy and mean.npy ([layers+1, slots, hidden] float16), markers.npy ([slots] int16),
    rows.npy ([slots] int64: the data row in each slot, -1 until written) and meta.json."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("version") != STORE_VERSION:  # "[1]" or "null" too: damaged
            raise ValueError(f"{folder}: embedding store of another layout")
        self.rows, self.layers, self.hidden = int(meta["rows"]), int(meta["layers"]), int(meta["hidden"])
        self._offsets = {name: _data_offset(folder / f"{name}.npy") for name in (*POOLINGS, "markers", "rows")}

    @classmethod
    def create(cls, folder: Path, rows: int, layers: int, hidden: int) -> EmbeddingStore:
        """An empty store (files sized, nothing written) for `rows` examples of `layers` hidden states each."""
        folder.mkdir(parents=True, exist_ok=True)
        for name in POOLINGS:  # sized with a header, sparse on disk until written
            sized = np.lib.format.open_memmap(
                folder / f"{name}.npy", mode="w+", dtype=np.float16, shape=(layers, rows, hidden)
            )
            del sized
        np.save(folder / "markers.npy", np.full(rows, -1, dtype=np.int16))
        np.save(folder / "rows.npy", np.full(rows, -1, dtype=np.int64))
        meta = {"version": STORE_VERSION, "rows": rows, "layers": layers, "hidden": hidden}
        (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        return cls(folder)

    def write(self, first_slot: int, rows: np.ndarray, batch: BatchEmbeddings) -> None:
        """Write one block of slots [first_slot, first_slot + len(rows)): contiguous in every layer, so 2 x layers
        positional writes. Safe from several processes writing disjoint slot ranges."""
        count = len(rows)
        if first_slot < 0 or first_slot + count > self.rows:
            raise ValueError(f"slots {first_slot}..{first_slot + count} outside the store's {self.rows}")
        item = np.dtype(np.float16).itemsize
        for name, values in (("readout", batch.readout), ("mean", batch.mean)):
            path = self.folder / f"{name}.npy"
            offset = self._offsets[name]
            values = np.ascontiguousarray(values, dtype=np.float16)  # [layers, count, hidden]
            fd = os.open(path, os.O_WRONLY)
            try:
                for layer in range(self.layers):
                    at = offset + ((layer * self.rows + first_slot) * self.hidden) * item
                    os.pwrite(fd, values[layer].tobytes(), at)
            finally:
                os.close(fd)
        for name, values, dtype in (("markers", batch.markers, np.int16), ("rows", rows, np.int64)):
            path = self.folder / f"{name}.npy"
            fd = os.open(path, os.O_WRONLY)
            try:
                at = self._offsets[name] + first_slot * np.dtype(dtype).itemsize
                os.pwrite(fd, np.ascontiguousarray(values, dtype=dtype).tobytes(), at)
            finally:
                os.close(fd)

    def slot_rows(self) -> np.ndarray:  # [slots]
        return np.load(self.folder / "rows.npy")

    def nonfinite_known(self) -> bool:
        """Whether a pass that wrote this store found rows without finite vectors, or all zero (the model's own
        numbers, not damage on disk)."""
        return (self.folder / NONFINITE_FILE).is_file()

    def note_nonfinite(self) -> None:
        """Remember that this store's rows without finite vectors are the model's, not damage on disk: a later
        build does not run the pass again for them (it ran on every build of a model that truly overflows)."""
        try:
            (self.folder / NONFINITE_FILE).write_text("rows without finite vectors, from the model's own pass\n")
        except OSError:
            pass

    def is_complete(self) -> bool:
        rows = self.slot_rows()
        return bool(np.array_equal(np.sort(rows), np.arange(self.rows)))

    def _order(self) -> np.ndarray:  # [N] the slot of each data row
        return np.argsort(self.slot_rows(), kind="stable")

    def layer(self, layer: int, pooling: Pooling = "readout") -> np.ndarray:
        """[N, hidden] float32 vectors of one layer, in the data set's row order (only that layer is read)."""
        if pooling not in POOLINGS:
            raise MapError(f"unknown pooling {pooling!r}; use one of {', '.join(POOLINGS)}")
        if not 0 <= layer < self.layers:
            raise MapError(
                f"layer {layer} is out of range: this model has layers 0-{self.layers - 1} (0: the embedding layer)"
            )
        stored = np.load(self.folder / f"{pooling}.npy", mmap_mode="r")
        block = np.array(stored[layer])  # [slots, hidden] float16: one contiguous read
        del stored
        return block[self._order()].astype(np.float32)

    def markers(self) -> np.ndarray:  # [N] int16, -1: no markers
        return np.load(self.folder / "markers.npy")[self._order()]


# ---- one pass over a data set ------------------------------------------------------------------------------


def store_folder(bundle: ModelBundle, data: LabelledData, beacon_threshold: float | None) -> Path:
    """Where this model's embeddings of this file live: keyed like the prediction cache, beside it."""
    key = (STORE_VERSION, *prediction_cache.cache_key(bundle, data, beacon_threshold))
    if not has_readout(bundle):  # its readout vectors are NaN: a later Family entry or fix must not reuse them
        key = (*key, "no-readout")
    return disk_cache.cache_path(NAMESPACE, *key).with_suffix("")


def forget_store(bundle: ModelBundle, data: LabelledData, beacon_threshold: float | None) -> None:
    """Drop this model's stored embeddings of this file: the next embed_dataset computes them again."""
    shutil.rmtree(store_folder(bundle, data, beacon_threshold), ignore_errors=True)


def marker_count(bundle: ModelBundle) -> int:
    """How many thought markers a row's dominant marker may be (0: the model routes through none, every row -1)."""
    config = bundle.model.config
    return int(config.num_thought_markers) if uses_markers(config) else 0


def open_store(folder: Path, markers: int | None = None) -> EmbeddingStore | None:
    """The store in `folder`, or None when there is none or it is damaged (a truncated or corrupted file, a row
    never written, or, given the model's number of thought `markers`, a dominant marker it does not have: one
    value of 300 drew a marker "m300" in the map's legend): the caller then recomputes it instead of failing on it
    (or showing it) later."""
    try:
        if not folder.is_dir():
            return None
        store = EmbeddingStore(folder)
        for name in POOLINGS:  # the header's shape, and a file long enough to hold it
            stored = np.load(folder / f"{name}.npy", mmap_mode="r")
            if stored.shape != (store.layers, store.rows, store.hidden):
                return None
            del stored
        dominant = np.load(folder / "markers.npy")  # [rows]
        if dominant.shape != (store.rows,) or not store.is_complete():
            return None
        if markers is not None and len(dominant) and not (dominant.min() >= -1 and dominant.max() < markers):
            return None
        disk_cache.used(folder)
        return store
    except (OSError, ValueError, KeyError, EOFError, TypeError):
        return None


def move_store_in(partial: Path, folder: Path, rows: int, found: bool = False, markers: int | None = None) -> None:
    """Rename the whole store built at `partial` to `folder` (visible only when whole), replacing what is there;
    but a whole store of `rows` rows that another build of the same key moved in while this one ran is kept
    (replaced, a reader that build handed it to found no files). `found`: a whole store was there when this build
    began (rebuilt on purpose, its predictions gone: replaced); `markers`: as open_store's (a damaged store is
    never kept). OSError when neither could be put in place."""
    existing = None if found else open_store(folder, markers)
    if existing is not None and existing.rows == rows:
        return
    try:
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):  # rmtree leaves a file where the
            folder.unlink()  # store goes, and the move failed on every later run (NotADirectoryError)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(partial, folder)
    except OSError:
        other = open_store(folder, markers)
        if other is None or other.rows != rows:
            raise


def embed_dataset(
    bundle: ModelBundle,
    data: LabelledData,
    *,
    beacon_threshold: float | None = None,
    batch_size: int = 32,
    progress: Progress | None = None,
) -> tuple[Predictions, EmbeddingStore, bool]:
    """(predictions, embeddings, came_from_cache): one forward pass per batch gives both; reopening the same file
    with the same model reads them from disk. The predictions also go to the prediction cache. A model the
    architecture table does not know gets NaN readout vectors (its mean-pooled ones are real)."""
    folder = store_folder(bundle, data, beacon_threshold)
    store = open_store(folder, marker_count(bundle))
    predictions = prediction_cache.load_cached(bundle, data, beacon_threshold)
    if store is not None and predictions is not None and store.rows == len(data):
        if progress:
            progress(len(data), len(data))
        return predictions, store, True
    partial = disk_cache.partial_folder(folder)
    state: dict[str, Any] = {"slot": 0, "store": None}

    def collect(rows: np.ndarray, out: Any, attention_mask: np.ndarray) -> None:
        batch = pool(bundle, out, attention_mask)
        try:
            if state["store"] is None:  # sized from the first batch: the model says how many states it returns
                layers, _, hidden = batch.readout.shape
                state["store"] = EmbeddingStore.create(partial, len(data), layers, hidden)
            state["store"].write(state["slot"], rows, batch)
        except OSError as error:  # a cache folder that is a file, read-only or full: said, not a traceback
            raise StoreUnwritable(f"the map keeps its vectors on disk, under {partial.parent}, which "
                                  f"{disk_cache.unwritable(error)}") from None
        state["slot"] += len(rows)

    try:
        predictions = predict(
            bundle,
            data.texts,
            batch_size=batch_size,
            beacon_threshold=beacon_threshold,
            progress=progress,
            on_batch=collect,
        )
        written: EmbeddingStore = state["store"]
        if written is None or not written.is_complete():
            raise MapError("the embedding pass did not cover every row")
        try:
            move_store_in(partial, folder, len(data), found=store is not None, markers=marker_count(bundle))
        except OSError as error:
            raise StoreUnwritable(f"the map keeps its vectors on disk, under {folder.parent}, which "
                                  f"{disk_cache.unwritable(error)}") from None
        disk_cache.prune()
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    prediction_cache.remember(bundle, data, predictions, beacon_threshold)
    return predictions, EmbeddingStore(folder), False
