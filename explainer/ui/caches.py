"""Every cache of the app, in one place, keyed by (model name, text, options).

Models: st.cache_resource, one per process, shared by every session (each use takes the bundle's lock). Expensive
sections (every attribution method, faithfulness, the attribution graph) run on a second copy of the model with
its own lock (`background()`), so one session's minutes of attribution never hold the lock another session's
first figure waits for.
Results: one ResultCache (explainer/serving/memo.py) of immutable numpy-only objects (Trace, Attribution, ...: no
tensors, no model), shared by every session, bounded in bytes (EXPLAINER_RESULT_CACHE_MB, default 768) and
expiring after an hour; when the app has computed nothing for a while, freed memory goes back to the OS.
session_state holds widget values only.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import streamlit as st

from explainer.attribution.attributing import MethodProgress, attribute, each_method
from explainer.attribution.faithfulness import Faithfulness, faithfulness
from explainer.attribution.graph import AttentionAttribution, attention_attribution
from explainer.attribution.options import AttributionOptions
from explainer.attribution.result import Attribution
from explainer.capture.tracing import Trace, trace
from explainer.data.disk_cache import folder_stamp
from explainer.data.labelled import LabelledData, read_dataset
from explainer.evaluation.compare import TextComparison, compare_text
from explainer.loading import shipped
from explainer.loading.bundle import ModelBundle, load_model, replica
from explainer.loading.memory import release_freed_memory
from explainer.models import GatePin, MarkerForce
from explainer.progress import Progress
from explainer.serving.memo import ResultCache
from explainer.views import attention_page

T = TypeVar("T")


@st.cache_resource(show_spinner="Loading model…", max_entries=4)
def _load_bundle(name: str) -> ModelBundle:
    return load_model(name)


def get_bundle(name: str) -> ModelBundle:
    """The loaded model, shared by every session. A model folder changed or deleted since it was loaded is loaded
    again, so a deleted folder gives load_model's clear "not found" instead of answers from a model that is gone."""
    bundle = _load_bundle(name)
    if bundle.folder_stamp is not None and not _unchanged_on_disk(bundle):
        _load_bundle.clear(name)
        bundle = _load_bundle(name)
    return bundle


def _unchanged_on_disk(bundle: ModelBundle) -> bool:
    folder = shipped.resolve(bundle.name)
    try:
        return folder is not None and folder_stamp(folder) == bundle.folder_stamp
    except OSError:  # removed while being listed
        return False


# ---- results: one byte-bounded cache, one copy of the model for expensive sections ----

RESULTS = ResultCache(budget_bytes=int(os.environ.get("EXPLAINER_RESULT_CACHE_MB", "768")) * 2**20)
IDLE_SECONDS = 20.0  # no computation for this long: give freed memory back to the OS
_local = threading.local()


def cached(namespace: str, spinner: str | None) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Memoise a result function in RESULTS under (namespace, *args); a spinner while it computes. Keyword
    arguments (a progress callback) reach the function but not the key."""

    def decorate(function: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(function)
        def wrapper(*args: Any, **not_keyed: Any) -> T:
            key = (namespace, *args)
            found, value = RESULTS.get(key)
            if found:
                return value
            _start_trimmer()
            if spinner is None:
                return RESULTS.get_or_compute(key, lambda: function(*args, **not_keyed))
            with st.spinner(spinner):
                return RESULTS.get_or_compute(key, lambda: function(*args, **not_keyed))

        wrapper.clear = RESULTS.clear  # type: ignore[attr-defined]
        return wrapper

    return decorate


@contextlib.contextmanager
def background() -> Iterator[None]:
    """Within: results are computed on the background copy of the model (see the module docstring)."""
    previous = getattr(_local, "background", False)
    _local.background = True
    try:
        yield
    finally:
        _local.background = previous


@st.cache_resource(show_spinner="Preparing a second copy of the model for the expensive views…", max_entries=4)
def _background_bundle(name: str, stamp: str | None) -> ModelBundle:
    return replica(get_bundle(name))


def model_for(name: str) -> ModelBundle:
    """The bundle a computation uses: the background copy inside `background()`, else the shared model."""
    if getattr(_local, "background", False):
        bundle = get_bundle(name)
        return _background_bundle(name, bundle.folder_stamp)
    return get_bundle(name)


_trimmer_started = threading.Event()


def _start_trimmer() -> None:
    if _trimmer_started.is_set():
        return
    _trimmer_started.set()

    def run() -> None:
        trimmed_after = 0.0
        while True:
            time.sleep(IDLE_SECONDS / 2)
            last = RESULTS.last_compute
            if last > trimmed_after and time.monotonic() - last > IDLE_SECONDS:
                release_freed_memory()
                trimmed_after = last

    threading.Thread(target=run, name="explainer-memory-trimmer", daemon=True).start()


# ---- traces ----


@cached("trace", "Running the model…")
def get_trace(model_name: str, text: str) -> Trace:
    return trace(model_for(model_name), text)


@cached("trace_with", "Running the model…")
def get_trace_with(
    model_name: str,
    text: str,
    tau: float | None,
    forces: tuple[MarkerForce, ...] = (),
    pins: tuple[GatePin, ...] = (),
) -> Trace:
    """A Trace at threshold `tau` with markers forced / gates pinned; keyed by all of them."""
    return trace(model_for(model_name), text, beacon_threshold=tau, forced_markers=forces, pinned_gates=pins)


@cached("attention_derived", "Summarising attention…")
def get_attention_derived(model_name: str, text: str) -> attention_page.Derived:
    """Rollout, head statistics and thumbnails: per Trace, not per layer/head choice."""
    return attention_page.derive(get_trace(model_name, text))


# ---- attribution ----


@cached("attribution", "Attributing…")
def get_attribution(model_name: str, text: str, method: str, target: str | None, options: AttributionOptions):
    return attribute(model_for(model_name), text, method, target=target, options=options)


def get_attributions(
    model_name: str, text: str, target: str | None, options: AttributionOptions, progress: MethodProgress | None = None
) -> dict[str, Attribution]:
    """Every method, each cached on its own (the method picked first is not computed twice), on the background
    copy of the model; `progress(done, total, method)` after each."""
    with background():
        return each_method(lambda method: get_attribution(model_name, text, method, target, options),
                           progress=progress)


@cached("faithfulness", None)
def get_method_faithfulness(
    model_name: str, text: str, method: str, target: str | None, options: AttributionOptions
) -> Faithfulness:
    return faithfulness(model_for(model_name), get_attribution(model_name, text, method, target, options))


def get_faithfulness(
    model_name: str, text: str, target: str | None, options: AttributionOptions, progress: MethodProgress | None = None
) -> dict[str, Faithfulness]:
    """Faithfulness of every method, each cached on its own, on the background copy of the model;
    `progress(done, total, method)` after each."""
    with background():
        return each_method(lambda method: get_method_faithfulness(model_name, text, method, target, options),
                           progress=progress)


@cached("attention_attribution", "Attributing every attention weight (the graph)…")
def _attention_attribution(
    model_name: str, text: str, target: str | None, steps: int, progress: Progress | None = None
) -> AttentionAttribution:
    return attention_attribution(model_for(model_name), text, target=target, steps=steps, progress=progress)


def get_attention_attribution(
    model_name: str, text: str, target: str | None, steps: int, progress: Progress | None = None
) -> AttentionAttribution:
    """The graph, on the background copy of the model. `progress(done, planned)` after each chunk of rows: a page
    drawing a progress bar there is also where Streamlit stops the computation when the input changes."""
    with background():
        return _attention_attribution(model_name, text, target, steps, progress=progress)


# ---- two models, data sets ----


@cached("comparison", "Running both models…")
def get_comparison(name_a: str, name_b: str, text: str, by_layer: bool) -> TextComparison:
    return compare_text(get_bundle(name_a), get_bundle(name_b), text, by_layer=by_layer)


@st.cache_data(show_spinner="Reading the data set…", max_entries=8)
def read_labelled(
    source: str | bytes, filename: str | None, label_names: tuple[str, ...], version: int = 0, quote: bool = True
) -> LabelledData:
    """`version`: a path's modification time, so that a file changed on disk is read again; `quote=False`: the
    file's contents stay out of error messages (see explainer.data.labelled.iter_rows)."""
    return read_dataset(source, label_names=label_names, filename=filename, quote_contents=quote)
