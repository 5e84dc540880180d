"""The per-block work of a data-set job: a pure function of (bundle, job, block of input rows) to Arrow, the same
for the local engine (one process) and for each Ray actor.

Every job keeps the input columns (file, row, line, text, label, extra, problem), so a results folder is complete
on its own; skipped rows pass through with empty results. Per used row:
- evaluate / map: probabilities, predicted, confidence, tokens; for ThoughtBeacon models the gate and marker
  summaries (MLP slots, skipped slots, mean gate, sum of top marker probabilities, per-marker argmax counts and the
  dominant marker);
- map also: the readout and mean-pooled vectors of every layer, float16 bytes of shape [layers+1, hidden];
- sweep: the probabilities and skipped slots at every tau of the grid;
- markers: one row per block holding the block's marker-dictionary parts (explainer.thought_beacon).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from explainer.capture.encoding import UnembeddableToken
from explainer.data.disk_cache import model_fingerprint
from explainer.evaluation.predict import predict
from explainer.loading.bundle import ModelBundle, load_model
from explainer.models import is_thought_beacon

KINDS = ("evaluate", "sweep", "map", "markers")


class ShardError(RuntimeError):
    """A block of rows failed; the message names its files and row ranges."""


@dataclass(frozen=True)
class JobOptions:
    kind: str  # one of KINDS
    beacon_threshold: float | None = None  # tau (None: the model's own)
    batch_size: int = 32  # texts per forward pass
    text_column: str | None = None
    label_column: str | None = None
    taus: tuple[float, ...] = ()  # sweep: the grid, resolved by the driver
    dictionary: dict[str, Any] = field(default_factory=dict)  # markers: DictionaryOptions as a dict

    def keyed(self) -> dict[str, Any]:
        """The options the results depend on (the batch size does not)."""
        value = asdict(self)
        value.pop("batch_size")
        if "batch_size" in value["dictionary"]:
            value["dictionary"] = {k: v for k, v in value["dictionary"].items() if k != "batch_size"}
        return value


def node_id() -> str:
    """The Ray node this runs on, or "local" outside Ray."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        return ray.get_runtime_context().get_node_id()
    return "local"


def _fixed_list(values: np.ndarray, value_type: pa.DataType) -> pa.Array:
    """[rows, width] -> a fixed-size list column (plain Parquet, readable without this project)."""
    rows, width = values.shape
    flat = pa.array(np.ascontiguousarray(values).reshape(-1), type=value_type)
    return pa.FixedSizeListArray.from_arrays(flat, width)


def _file_name(names: tuple[str, ...], file: int) -> str:
    """Input file number `file` by its name (the job's files), or by its number where `names` lacks it."""
    return names[file] if file < len(names) else f"file {file}"


def _row_ranges(block: pa.Table, names: tuple[str, ...] = ()) -> str:
    """"a.csv lines 2-31, b.csv lines 2-9": the block's rows by file."""
    files = block.column("file").to_numpy()
    lines = block.column("line").to_numpy()
    parts = []
    for file in np.unique(files):
        at = lines[files == file]
        parts.append(f"{_file_name(names, int(file))} lines {int(at.min())}-{int(at.max())}")
    return ", ".join(parts)


def process_block(bundle: ModelBundle, job: JobOptions, block: pa.Table, files: tuple[str, ...] = ()) -> pa.Table:
    """The job's results for one block of input rows (see the module docstring). ShardError names the rows of a
    block that failed, with the file names when `files` (the job's input files) is given."""
    try:
        if job.kind == "markers":
            return _marker_parts(bundle, job, block)
        return _row_results(bundle, job, block)
    except UnembeddableToken as error:  # one row's text: named by its line, as the single-file commands do
        raise ShardError(_unembeddable_row(block, error, files)) from error
    except Exception as error:  # the message must say which rows failed, whatever failed
        raise ShardError(f"rows of {_row_ranges(block, files)} failed: {type(error).__name__}: {error}") from error


def _unembeddable_row(block: pa.Table, error: UnembeddableToken, files: tuple[str, ...]) -> str:
    """"Line N of FILE: <the error>" for the block's first used row whose text is the one the error names (the
    blocks before passed, so its first occurrence is the row that failed); the block's rows when none is."""
    used = block.column("problem").is_null().to_numpy(zero_copy_only=False)
    texts = block.column("text").to_pylist()
    for index, text in enumerate(texts):
        if used[index] and text == error.text:
            name = _file_name(files, int(block.column("file")[index].as_py()))
            return f"Line {int(block.column('line')[index].as_py()):,} of {name}: {error}"
    return f"rows of {_row_ranges(block, files)} failed: {error}"


def _row_results(bundle: ModelBundle, job: JobOptions, block: pa.Table) -> pa.Table:
    used = np.flatnonzero(block.column("problem").is_null().to_numpy(zero_copy_only=False))
    texts = block.column("text").take(pa.array(used)).to_pylist()
    n = block.num_rows
    config = bundle.model.config
    labels = config.num_labels
    columns: dict[str, Any] = {}
    if job.kind == "sweep":
        taus = job.taus
        sweep_probs = np.zeros((n, len(taus) * labels), dtype=np.float32)
        sweep_skipped = np.zeros((n, len(taus)), dtype=np.int64)
        stats = None
        for index, tau in enumerate(taus):
            stats = _predict_rows(bundle, texts, tau, job.batch_size, embeddings=False)
            sweep_probs[used, index * labels : (index + 1) * labels] = stats["probabilities"]
            sweep_skipped[used, index] = stats["skipped_slots"]
        columns["sweep_probabilities"] = _fixed_list(sweep_probs, pa.float32())
        columns["sweep_skipped"] = _fixed_list(sweep_skipped, pa.int64())
        columns["tokens"] = _scatter(n, used, stats["tokens"] if stats else np.zeros(0), np.int32)
        columns["slots"] = _scatter(n, used, stats["slots"] if stats else np.zeros(0), np.int64)
    else:
        stats = _predict_rows(bundle, texts, job.beacon_threshold, job.batch_size, embeddings=job.kind == "map")
        probabilities = np.zeros((n, labels), dtype=np.float32)
        probabilities[used] = stats["probabilities"]
        predicted = np.full(n, -1, dtype=np.int64)
        predicted[used] = stats["probabilities"].argmax(axis=1)
        confidence = np.zeros(n, dtype=np.float32)
        confidence[used] = stats["probabilities"].max(axis=1)
        columns["probabilities"] = _fixed_list(probabilities, pa.float32())
        columns["predicted"] = pa.array(predicted)
        columns["confidence"] = pa.array(confidence)
        columns["tokens"] = _scatter(n, used, stats["tokens"], np.int32)
        if "slots" in stats:
            columns["slots"] = _scatter(n, used, stats["slots"], np.int64)
            columns["skipped_slots"] = _scatter(n, used, stats["skipped_slots"], np.int64)
            columns["mean_gate"] = _scatter(n, used, stats["mean_gate"], np.float32)
        if "marker_counts" in stats:
            counts = np.zeros((n, stats["marker_counts"].shape[1]), dtype=np.int32)
            counts[used] = stats["marker_counts"]
            columns["max_prob_sum"] = _scatter(n, used, stats["max_prob_sum"], np.float64)
            columns["marker_counts"] = _fixed_list(counts, pa.int32())
            dominant = np.full(n, -1, dtype=np.int16)
            dominant[used] = stats["marker_counts"].argmax(axis=1)
            columns["dominant_marker"] = pa.array(dominant)
        if job.kind == "map":
            for name in ("readout", "mean"):
                values = [b""] * n  # a block of skipped rows only ran no batch, so it has no vectors to write
                vectors = stats.get(name, np.zeros((0, 0, 0), np.float16))  # [layers+1, used, hidden] float16
                for slot, row in enumerate(used):
                    values[row] = np.ascontiguousarray(vectors[:, slot, :]).tobytes()
                columns[name] = pa.array(values, type=pa.binary())
    columns["node"] = pa.array([node_id()] * n, type=pa.string())
    table = block
    for name, values in columns.items():
        table = table.append_column(name, values)
    return table


def _scatter(n: int, used: np.ndarray, values: np.ndarray, dtype: Any) -> pa.Array:
    full = np.zeros(n, dtype=dtype)
    if len(used):
        full[used] = values
    return pa.array(full)


def _predict_rows(
    bundle: ModelBundle, texts: list[str], tau: float | None, batch_size: int, *, embeddings: bool
) -> dict[str, np.ndarray]:
    """Per-text results of one prediction pass (explainer.evaluation.predict), in the texts' order."""
    n = len(texts)
    config = bundle.model.config
    is_ours = is_thought_beacon(config)
    threshold = (config.beacon_threshold if tau is None else tau) if is_ours else 0.0
    stats: dict[str, np.ndarray] = {"tokens": np.zeros(n, dtype=np.int32)}
    if is_ours and getattr(config, "use_beacons", False):
        stats.update(
            slots=np.zeros(n, np.int64), skipped_slots=np.zeros(n, np.int64), mean_gate=np.zeros(n, np.float32)
        )
    k = getattr(config, "num_thought_markers", 0) if is_ours else 0
    if k:
        stats.update(max_prob_sum=np.zeros(n, np.float64), marker_counts=np.zeros((n, k), np.int32))
    vectors: dict[str, np.ndarray] = {}

    def collect(rows: np.ndarray, out: Any, attention_mask: np.ndarray) -> None:
        mask = torch.from_numpy(attention_mask).to(out.logits.device).bool()  # [batch, T]
        real = mask.sum(dim=1)  # [batch]
        stats["tokens"][rows] = real.cpu().numpy()
        gates = getattr(out, "beacon_gates", None)
        if "slots" in stats and gates is not None:
            stacked = torch.stack(gates).float()  # [layers, batch, T]
            stats["slots"][rows] = (real * stacked.shape[0]).cpu().numpy()
            if threshold > 0:  # as predict counts them: gates below tau on real tokens
                stats["skipped_slots"][rows] = ((stacked < threshold) & mask).sum(dim=(0, 2)).cpu().numpy()
            summed = (stacked * mask).sum(dim=(0, 2))  # [batch]
            stats["mean_gate"][rows] = (summed / (real * stacked.shape[0]).clamp(min=1)).cpu().numpy()
        if k:
            routing = torch.stack(out.thought_markers).float()  # [layers, batch, T, K]
            top = routing.max(dim=-1).values * mask  # [layers, batch, T]
            stats["max_prob_sum"][rows] = top.double().sum(dim=(0, 2)).cpu().numpy()
            chosen = torch.nn.functional.one_hot(routing.argmax(-1), k) * mask[None, :, :, None]
            stats["marker_counts"][rows] = chosen.sum(dim=(0, 2)).cpu().numpy()
        if embeddings:
            from explainer.dataset_map.embeddings import pool

            pooled = pool(bundle, out, attention_mask)
            if not vectors:
                layers, _, hidden = pooled.readout.shape
                vectors.update(
                    readout=np.zeros((layers, n, hidden), np.float16), mean=np.zeros((layers, n, hidden), np.float16)
                )
            vectors["readout"][:, rows] = pooled.readout
            vectors["mean"][:, rows] = pooled.mean

    predictions = predict(bundle, texts, batch_size=batch_size, beacon_threshold=tau, on_batch=collect)
    stats["probabilities"] = predictions.probabilities
    stats.update(vectors)
    return stats


def _marker_parts(bundle: ModelBundle, job: JobOptions, block: pa.Table) -> pa.Table:
    from explainer.thought_beacon.marker_dictionary import DictionaryOptions, DictionaryParts, accumulate

    options = DictionaryOptions(**job.dictionary)
    used = np.flatnonzero(block.column("problem").is_null().to_numpy(zero_copy_only=False))
    texts = block.column("text").take(pa.array(used)).to_pylist()
    files = block.column("file").to_numpy()[used].astype(np.int64)
    rows = block.column("row").to_numpy()[used].astype(np.int64)
    keys = (files << 40) | rows  # orders texts as the data set does: file by file, row by row
    parts = DictionaryParts.empty(bundle)
    for first in range(0, len(texts), options.batch_size):
        accumulate(
            bundle,
            parts,
            texts[first : first + options.batch_size],
            keys[first : first + options.batch_size].tolist(),
            options,
        )
    payload = json.dumps(parts.to_payload()).encode()
    # The block's rows stay (so the folder says which rows were read); the parts ride on the first row.
    column = [payload] + [None] * (block.num_rows - 1)
    table = block.append_column("parts", pa.array(column, type=pa.binary()))
    return table.append_column("node", pa.array([node_id()] * block.num_rows, type=pa.string()))


class BlockWorker:
    """A Ray actor: loads the model once, then runs `process_block` on each block it is given."""

    def __init__(self, model: str, fingerprint: str, job: JobOptions, files: tuple[str, ...], threads: int) -> None:
        # A refusal is raised with the first block, not here: Ray retries a failing constructor and prints each
        # try's traceback on the driver's stderr, while a block's error reaches the user as its one line.
        self.refusal: str | None = None
        torch.set_num_threads(threads)
        try:
            # the weights stay mapped from the file: the node's workers share one copy (a private copy each was
            # --workers times the model's size)
            self.bundle = load_model(model, shared_weights=True)
        except Exception as error:  # noqa: BLE001 (ModelLoadError, or a node without the folder's files)
            self.refusal = f"node {node_id()} cannot load the model {model!r}: {error}"
            return
        found = model_fingerprint(self.bundle)
        if found != fingerprint:  # another node holds other weights under this name: its results would mix
            self.refusal = (
                f"the model {model!r} on node {node_id()} is not the driver's (fingerprint {found} != {fingerprint}): "
                "give every node the same model folder"
            )
        self.job, self.files = job, files

    def __call__(self, block: pa.Table) -> pa.Table:
        if self.refusal is not None:
            raise ShardError(self.refusal)
        return process_block(self.bundle, self.job, block, self.files)
