"""The Errors view's library: a labelled data set batch-predicted (cached on disk), its metrics and calibration,
and the table of examples with its filters.

    data = load_labelled(bundle, "assets/challenge_set.csv")      # labels matched to the model's, or DatasetError
    report = analyse(bundle, data, progress=print)                 # cached by (model fingerprint, content hash)
    report.metrics["macro_f1"], report.calibration.ece
    filter_examples(report.frame, ExampleFilter(errors_only=True, text="not"))  # sorted by confidence

No Streamlit here; the page and the CLI call these.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd

from explainer.data.labelled import DatasetError, LabelledData, Source, label_id_note, read_dataset, text_column_note
from explainer.data.spreadsheet import spreadsheet_csv
from explainer.evaluation.predict import Predictions, summarise
from explainer.evaluation.prediction_cache import cached_predictions
from explainer.loading.bundle import ModelBundle
from explainer.progress import Progress

# An upload larger than this is refused with a message. MB is 2^20 bytes, as Streamlit's upload endpoint counts
# server.maxUploadSize and its drop zone counts max_upload_size on Windows (elsewhere the drop zone counts 10^6,
# stricter), so no file the box takes is refused here; the message gives exact bytes, so two MBs never disagree.
MEGABYTE = 1024**2
MAX_UPLOAD_BYTES = 100 * MEGABYTE
TAG_COLUMNS = ("capability", "tag", "category", "group")  # an extra column of these names filters the table
CALIBRATION_BINS = 10
E = TypeVar("E", bound=Exception)


# ---- loading ------------------------------------------------------------------------------------------------


def check_upload_size(size: int, name: str = "the file", limit: int | None = None) -> None:
    """Refuse an upload over `limit` bytes (default MAX_UPLOAD_BYTES) before reading it, with sizes in MB."""
    limit = MAX_UPLOAD_BYTES if limit is None else limit
    if size > limit:
        raise DatasetError(
            f"{name} is {size:,} bytes; uploads are limited to {limit / MEGABYTE:,.0f} MB ({limit:,} bytes) here. "
            "Split the file, or run it on your own machine."
        )


def load_labelled(
    bundle: ModelBundle,
    source: Source,
    *,
    filename: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    quote_contents: bool = True,
    upload_limit: int | None = None,
) -> LabelledData:
    """Read a labelled file with its labels matched to the model's (by name, case-insensitive, or by id).

    A file whose labels the model does not know raises DatasetError naming the model's labels and the file's
    (only the model's with `quote_contents=False`: see explainer.data.labelled.iter_rows)."""
    size = getattr(source, "size", None)
    if isinstance(source, (bytes, bytearray, memoryview)):
        size = len(source)
    if size is not None:
        check_upload_size(int(size), filename or getattr(source, "name", "the file"), upload_limit)
    with model_labels_said(bundle, DatasetError):
        return read_dataset(
            source, filename=filename, text_column=text_column, label_column=label_column,
            label_names=bundle.label_names, quote_contents=quote_contents,
        )


@contextmanager
def model_labels_said(bundle: ModelBundle, *kinds: type[Exception]) -> Iterator[None]:
    """Within: an error of `kinds` about unknown labels is raised again with the labels the model takes
    (with_model_labels); any other as it was."""
    try:
        yield
    except kinds as error:
        said = with_model_labels(bundle, error)
        if said is error:
            raise
        raise said from error


def with_model_labels(bundle: ModelBundle, error: E) -> E:
    """A file's unknown labels said beside the labels the model takes (the reader knows the file's side only),
    as an error of the same type; any other error as it is. For every path that reads a labelled file for a model
    (the engines too, whose workers' errors arrive as EngineError)."""
    return with_labels_taken(f"The model {bundle.name}", bundle.label_names, error)


def with_labels_taken(who: str, label_names: Sequence[str], error: E) -> E:
    """with_model_labels where only the labels are at hand ("This model", on a page that reads the file for the
    sidebar's model)."""
    if "unknown label" not in str(error):
        return error
    return type(error)(f"{who} takes its label names or ids 0-{len(label_names) - 1}. {error}")


# ---- calibration -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """Reliability of the top-label confidence in equal-width bins over [0, 1]."""

    edges: np.ndarray  # [bins+1]
    counts: np.ndarray  # [bins] examples whose confidence falls in the bin
    confidence: np.ndarray  # [bins] mean confidence in the bin (nan when empty)
    accuracy: np.ndarray  # [bins] share correct in the bin (nan when empty)
    ece: float  # expected calibration error: sum over bins of count/N * |accuracy - confidence| (nan: no row)


def calibration(confidence: np.ndarray, correct: np.ndarray, bins: int = CALIBRATION_BINS) -> Calibration:
    """confidence [N] in [0, 1] (the predicted class's probability), correct [N] bool. Bins are (lo, hi],
    the first one [0, hi]; rows without a finite confidence are left out of every bin and of the ECE."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    finite = np.isfinite(confidence)  # a NaN (a model's overflow) has no bin: it once counted in the top one
    confidence, correct = confidence[finite], correct[finite]
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)  # [N]
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, weights=confidence, minlength=bins) / counts
        accuracy = np.bincount(which, weights=correct, minlength=bins) / counts
    filled = counts > 0
    n = len(confidence)
    # no finite confidence at all: no calibration to speak of (0.0 read as perfectly calibrated)
    ece = float(np.sum(counts[filled] / n * np.abs(accuracy[filled] - mean_confidence[filled]))) if n else math.nan
    return Calibration(edges=edges, counts=counts, confidence=mean_confidence, accuracy=accuracy, ece=ece)


# ---- the report --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorReport:
    model_name: str
    label_names: tuple[str, ...]
    frame: pd.DataFrame  # one row per example, in file order: see example_table
    metrics: dict  # evaluation.summarise: accuracy, macro_f1, precision/recall/f1, confusion, throughput...
    calibration: Calibration
    problems: tuple[tuple[int, str], ...]  # (line, reason) of every row skipped in the file
    source: str
    content_hash: str
    cached: bool  # the predictions came from the disk cache
    tag_column: str | None = None  # the extra column the table can be filtered by (e.g. "capability")
    label_note: str | None = None  # how integer labels were read, when the model has more labels than they use
    column_note: str | None = None  # which column the texts were read from, when it was guessed

    @property
    def errors(self) -> pd.DataFrame:
        return filter_examples(self.frame, ExampleFilter(errors_only=True))


def tag_column(data: LabelledData) -> str | None:
    by_name = {name.casefold(): name for name in data.extra}
    return next((by_name[name] for name in TAG_COLUMNS if name in by_name), None)


def example_table(data: LabelledData, predictions: Predictions, label_names: Sequence[str]) -> pd.DataFrame:
    """line, text, label, predicted, confidence, correct, tokens, the tag column, p(<label>) per label; first a
    file column when the rows come from several files (a folder of shards numbers its lines in each file)."""
    probabilities = predictions.probabilities  # [N, labels]
    predicted = probabilities.argmax(axis=1)
    labels = np.asarray(data.labels, dtype=np.int64)
    names = np.asarray(label_names, dtype=object)
    frame = pd.DataFrame(
        {
            "line": list(data.lines) if data.lines else list(range(2, len(data) + 2)),
            "text": list(data.texts),
            "label": names[labels],
            "predicted": names[predicted],
            "confidence": probabilities[np.arange(len(predicted)), predicted].astype(np.float64),
            "correct": predicted == labels,
            "tokens": predictions.lengths if predictions.lengths is not None else np.zeros(len(labels), np.int32),
        }
    )
    tag = tag_column(data)
    if tag is not None:
        frame[tag] = [("" if v is None else str(v)) for v in data.extra[tag]]
    for i, name in enumerate(label_names):
        frame[f"p({name})"] = probabilities[:, i].astype(np.float64)
    if data.row_files:
        frame.insert(0, "file", list(data.row_files))
    return frame


def analyse(
    bundle: ModelBundle,
    data: LabelledData,
    *,
    beacon_threshold: float | None = None,
    batch_size: int = 32,
    progress: Progress | None = None,
) -> ErrorReport:
    """Predict (or read the cached predictions of) every row and summarise them."""
    if not len(data):
        raise DatasetError(f"{data.source}: no rows to evaluate")
    predictions, was_cached = cached_predictions(
        bundle, data, beacon_threshold=beacon_threshold, batch_size=batch_size, progress=progress
    )
    labels = np.asarray(data.labels, dtype=np.int64)
    metrics = summarise(bundle, labels, predictions)
    frame = example_table(data, predictions, bundle.label_names)
    return ErrorReport(
        model_name=bundle.name,
        label_names=tuple(bundle.label_names),
        frame=frame,
        metrics=metrics,
        calibration=calibration(frame["confidence"].to_numpy(), frame["correct"].to_numpy()),
        problems=tuple(data.problems),
        source=data.source,
        content_hash=data.content_hash,
        cached=was_cached,
        tag_column=tag_column(data),
        label_note=label_id_note(data),
        column_note=text_column_note(data),
    )


# ---- the table's filters -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExampleFilter:
    errors_only: bool = True
    text: str = ""  # case-insensitive substring
    min_tokens: int | None = None
    max_tokens: int | None = None
    tags: tuple[str, ...] = ()  # values of the report's tag column; empty: all
    true_labels: tuple[str, ...] = ()  # empty: all
    predicted_labels: tuple[str, ...] = ()  # empty: all


def text_matches(texts: pd.Series, query: str) -> np.ndarray:  # [N] bool
    """Which texts contain `query` (its ends' spaces ignored) regardless of case and of how a character was typed:
    both sides are folded by `search_folded`, so "straße" finds "STRASSE", "fi" finds "ﬁne" (which lower() misses)
    and "café" typed with a composed é finds one written as e + a combining accent. Plain text, no regular
    expression."""
    wanted = search_folded(query.strip())
    return np.fromiter((wanted in search_folded(str(text)) for text in texts), dtype=bool, count=len(texts))


def search_folded(text: str) -> str:
    """Unicode's compatibility normal form of the case-folded text (NFKC around str.casefold): the same words
    however they were typed or composed."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def filter_examples(frame: pd.DataFrame, rule: ExampleFilter, tag: str | None = None) -> pd.DataFrame:
    """The rows that pass `rule`, most confident first (confident mistakes are the interesting ones)."""
    keep = np.ones(len(frame), dtype=bool)
    if rule.errors_only:
        keep &= ~frame["correct"].to_numpy(dtype=bool)
    if rule.text.strip():
        keep &= text_matches(frame["text"], rule.text)
    if rule.min_tokens is not None:
        keep &= frame["tokens"].to_numpy() >= rule.min_tokens
    if rule.max_tokens is not None:
        keep &= frame["tokens"].to_numpy() <= rule.max_tokens
    if rule.tags:
        column = tag or next((c for c in TAG_COLUMNS if c in frame.columns), None)
        if column is not None:
            keep &= frame[column].isin(rule.tags).to_numpy()
    if rule.true_labels:
        keep &= frame["label"].isin(rule.true_labels).to_numpy()
    if rule.predicted_labels:
        keep &= frame["predicted"].isin(rule.predicted_labels).to_numpy()
    return frame[keep].sort_values("confidence", ascending=False, kind="stable")


def confusion_cell(frame: pd.DataFrame, true_label: str, predicted_label: str) -> pd.DataFrame:
    """The examples of one confusion-matrix cell, most confident first."""
    rule = ExampleFilter(errors_only=False, true_labels=(true_label,), predicted_labels=(predicted_label,))
    return filter_examples(frame, rule)


def predictions_csv(frame: pd.DataFrame) -> bytes:
    """The per-example table as UTF-8 CSV for the page's download button: formula-like cells of every text column
    (the texts, the file's tag columns) made inert (data/spreadsheet.py); a label only when it is no number."""
    free_text = ["text", *(c for c in frame.columns if c not in ("text", "label", "predicted")
                           and (frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])))]
    return spreadsheet_csv(frame, free_text)
