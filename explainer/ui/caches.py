"""Every cache of the app, in one place, keyed by (model name, text, options).

Models: st.cache_resource, one per process, shared by every session (each use takes the bundle's lock). Expensive
sections (every attribution method, faithfulness, the attribution graph) run on a second copy of the model with
its own lock (`background()`), so one session's minutes of attribution never hold the lock another session's
first figure waits for. In a script run they are queued (explainer/ui/work.py): sessions served in turn, work
nobody waits for any more cancelled, identical work joined. Outside one (CLI, tests) they run in the caller.
Results: one ResultCache (explainer/serving/memo.py) of immutable numpy-only objects (Trace, Attribution, ...: no
tensors, no model), shared by every session, bounded in bytes (EXPLAINER_RESULT_CACHE_MB, default 768) and
expiring after an hour; when the app has computed nothing for a while, freed memory goes back to the OS.
session_state holds widget values only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np
import streamlit as st

from explainer.attribution.attributing import MethodProgress, attribute, each_method
from explainer.attribution.faithfulness import Faithfulness, faithfulness
from explainer.attribution.graph import AttentionAttribution, attention_attribution
from explainer.attribution.options import AttributionOptions
from explainer.attribution.result import Attribution
from explainer.capture.tracing import Trace, trace
from explainer.data.labelled import LabelledData, read_dataset
from explainer.evaluation.compare import TextComparison, compare_text
from explainer.loading.bundle import ModelBundle, load_model, replica
from explainer.loading.memory import release_freed_memory
from explainer.models import GatePin, MarkerForce
from explainer.progress import Progress
from explainer.serving.demo import active_demo
from explainer.serving.memo import ResultCache
from explainer.ui import work
from explainer.views import attention_page
from explainer.views import bertviz as bertviz_views
from explainer.views.bertviz import BertvizView

T = TypeVar("T")


@st.cache_resource(show_spinner="Loading model…", max_entries=4)
def _load_bundle(name: str) -> ModelBundle:
    return load_model(name)


def get_bundle(name: str) -> ModelBundle:
    """The loaded model, shared by every session. A model folder changed or deleted since it was loaded is loaded
    again, so a deleted folder gives load_model's clear "not found" instead of answers from a model that is gone.
    In demo mode only a model the config offers is loaded, whichever page or link names it: anything else (a
    folder, a hub id) raises PathRefused before anything is read or fetched."""
    demo = active_demo()
    offered = demo.offered(name) if demo is not None else None
    target = offered.target if offered is not None else name
    bundle = _load_bundle(target)
    if bundle.changed_on_disk():
        _load_bundle.clear(target)
        bundle = _load_bundle(target)
    for called in {name, target, offered.name if offered is not None else name}:  # pages key by the offered name
        _VERSIONS[called] = weights_version(bundle)
    if offered is not None:  # called by its offered name on every page, never by its folder on the server
        return _offered_as(bundle, offered.name)
    return bundle


_VERSIONS: dict[str, str | None] = {}  # model name -> weights_version of what get_bundle last loaded for it


def weights_version(bundle: ModelBundle) -> str | None:
    """Which weights a loaded model holds: its folder's stamp, or for a hub id the revision's commit."""
    return bundle.folder_stamp or getattr(bundle.model.config, "_commit_hash", None)


def model_version(name: str) -> str | None:
    """The weights a model name stands for now (weights_version), part of the key of every result kept by model
    name: a folder trained again in place gave the old weights' results under its name. As get_bundle last found
    it (every page asks get_bundle first), so a queued job reads it without a load; inside a job, as the job was
    asked with, so the results it nests are kept under its versions, not under weights loaded meanwhile."""
    pinned = getattr(_local, "versions", None)
    if pinned and name in pinned:
        return pinned[name]
    if name not in _VERSIONS:
        get_bundle(name)
    return _VERSIONS.get(name)


_OFFERED: weakref.WeakKeyDictionary[ModelBundle, ModelBundle] = weakref.WeakKeyDictionary()
_OFFERED_LOCK = threading.Lock()


def _offered_as(bundle: ModelBundle, name: str) -> ModelBundle:
    """The same model under the name a demo offers it as (same weights and lock); one object per loaded model, so
    results kept per bundle stay valid across reruns, gone with the model it renames."""
    if bundle.name == name:
        return bundle
    with _OFFERED_LOCK:
        renamed = _OFFERED.get(bundle)
        if renamed is None or renamed.name != name:
            renamed = _OFFERED[bundle] = dataclasses.replace(bundle, name=name)
        return renamed


# ---- results: one byte-bounded cache, one copy of the model for expensive sections ----

RESULTS = ResultCache(budget_bytes=int(os.environ.get("EXPLAINER_RESULT_CACHE_MB", "768")) * 2**20)
IDLE_SECONDS = 20.0  # no computation for this long: give freed memory back to the OS
_local = threading.local()


def cached(
    namespace: str, spinner: str | None, lane: str | None = None, models: int = 1
) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Memoise a result function in RESULTS under (namespace, *args, versions); a spinner while it computes.
    Keyword arguments (a progress callback) reach the function but not the key. The first `models` arguments name
    models: their model_version is in the key, so new weights under a name are not answered from the old ones.

    Queued (explainer/ui/work.py) when called from a script run: on the model queue inside `background()`, on the
    view queue when `lane="views"`; the section (slot) is the namespace. A function taking `progress` then gets
    the job's progress callback (its cancellation point), and the caller's callback is called in the caller's
    thread."""

    def decorate(function: Callable[..., T]) -> Callable[..., T]:
        takes_progress = "progress" in inspect.signature(function).parameters

        @functools.wraps(function)
        def wrapper(*args: Any, **not_keyed: Any) -> T:
            versions = tuple(model_version(name) for name in args[:models])
            key = (namespace, *args, versions)
            found, value = RESULTS.get(key)
            if found:
                return value
            _start_trimmer()
            queue_lane = _queue_lane(lane)
            if queue_lane is not None:
                with st.spinner(spinner) if spinner is not None else contextlib.nullcontext():
                    return _queued(queue_lane, namespace, key, function, args, not_keyed, takes_progress,
                                   dict(zip(args[:models], versions)))
            if spinner is None or getattr(_local, "in_job", False):
                return RESULTS.get_or_compute(key, lambda: function(*args, **not_keyed))
            with st.spinner(spinner):
                return RESULTS.get_or_compute(key, lambda: function(*args, **not_keyed))

        wrapper.clear = RESULTS.clear  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _queue_lane(lane: str | None) -> str | None:
    """Which queue a cached function's miss goes to now: none inside a job (its nested results are computed in
    it) or outside a script run; else the view queue for view work, the model queue inside background()."""
    if getattr(_local, "in_job", False) or work.session_id() is None:
        return None
    if lane is not None:
        return lane
    return "model" if getattr(_local, "background", False) else None


def _queued(
    lane: str,
    namespace: str,
    key: tuple,
    function: Callable[..., T],
    args: tuple,
    not_keyed: dict,
    takes_progress: bool,
    versions: dict[str, str | None],
) -> T:
    on_progress = not_keyed.pop("progress", None)
    background_job = lane == "model"
    bundles: dict[str, ModelBundle] = {}
    if background_job and args and isinstance(args[0], str):
        # The background copy is resolved here, in the script's thread (its spinner shows on this page): the job
        # never touches st.cache_resource.
        bundles[args[0]] = model_for(args[0])

    def job(progress: Progress) -> T:
        saved = {name: getattr(_local, name, None) for name in ("in_job", "background", "bundles", "versions")}
        _local.in_job, _local.background, _local.bundles, _local.versions = True, background_job, bundles, versions
        try:
            kwargs = {**not_keyed, **({"progress": progress} if takes_progress else {})}
            return RESULTS.get_or_compute(key, lambda: function(*args, **kwargs))
        finally:
            for name, value in saved.items():
                setattr(_local, name, value)

    return work.run(lane, namespace, key, job, work.label(namespace, args), on_progress=on_progress)


@contextlib.contextmanager
def background() -> Iterator[None]:
    """Within: results are computed on the background copy of the model (see the module docstring), queued on the
    model queue when in a script run."""
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
    """The bundle a computation uses: the background copy inside `background()` (or a queued job), else the
    shared model."""
    if getattr(_local, "background", False):
        resolved = (getattr(_local, "bundles", None) or {}).get(name)
        if resolved is not None:
            return resolved
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
            if RESULTS.expire():  # results past their hour that nobody read again: their memory goes back too
                release_freed_memory()
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


@cached("attention_grid", None)
def get_attention_grid(model_name: str, text: str) -> tuple[np.ndarray, float]:
    """Every head's thumbnail [layers, heads, cells, cells] (pooled on long inputs, each scaled to its own
    maximum) and tokens per cell: the Attention page's first figure, so not held up by the statistics."""
    pooled, block = attention_page.pool_attention(get_trace(model_name, text).attentions)
    peak = pooled.max(axis=(-2, -1), keepdims=True)
    return np.divide(pooled, peak, out=np.zeros_like(pooled), where=peak > 0), block


@cached("attention_derived", "Summarising attention…")
def get_attention_derived(model_name: str, text: str) -> attention_page.Derived:
    """Rollout, head statistics and thumbnails: per Trace, not per layer/head choice."""
    return attention_page.derive(get_trace(model_name, text))


@cached("bertviz_head_view", "Building bertviz's head view…", lane="views")
def get_bertviz_head_view(model_name: str, text: str, layers: tuple[int, ...], window_start: int) -> BertvizView:
    """bertviz's head view of `layers` from the token `window_start` on: megabytes of HTML on long inputs, built
    on the view queue so that it never holds up anyone's first figure."""
    return bertviz_views.head_view_html(get_trace(model_name, text), layers, window_start)


@cached("bertviz_model_view", "Building bertviz's model view…", lane="views")
def get_bertviz_model_view(
    model_name: str, text: str, layers: tuple[int, ...], heads: tuple[int, ...], window_start: int
) -> BertvizView:
    """bertviz's model view (empty `layers` / `heads`: all), on the view queue like the head view."""
    return bertviz_views.model_view_html(get_trace(model_name, text), layers, heads, window_start)


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
        return each_method(lambda method: get_attribution(model_name, text, method, target, options), progress=progress)


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
        return each_method(
            lambda method: get_method_faithfulness(model_name, text, method, target, options), progress=progress
        )


@cached("attention_attribution", "Attributing every attention weight (the graph)…")
def _attention_attribution(
    model_name: str, text: str, target: str | None, steps: int, progress: Progress | None = None
) -> AttentionAttribution:
    return attention_attribution(model_for(model_name), text, target=target, steps=steps, progress=progress)


def get_attention_attribution(
    model_name: str, text: str, target: str | None, steps: int, progress: Progress | None = None
) -> AttentionAttribution:
    """The graph, on the background copy of the model. `progress(done, planned)` after each chunk of rows (in the
    caller's thread). Queued in a script run: a changed input cancels it mid-run (explainer/ui/work.py); outside
    one, an exception raised from `progress` stops it."""
    with background():
        return _attention_attribution(model_name, text, target, steps, progress=progress)


# ---- two models, data sets ----


@cached("comparison", "Running both models…", models=2)
def get_comparison(
    name_a: str, name_b: str, text: str, by_layer: bool, attribution_tokens: int | None = None
) -> TextComparison:
    return compare_text(get_bundle(name_a), get_bundle(name_b), text, by_layer=by_layer,
                        attribution_tokens=attribution_tokens)


@st.cache_data(show_spinner="Reading the data set…", max_entries=8)
def read_labelled(
    source: str | bytes, filename: str | None, label_names: tuple[str, ...], version: tuple = (), quote: bool = True
) -> LabelledData:
    """`version`: a path's file_version, so that a file changed on disk is read again; `quote=False`: the
    file's contents stay out of error messages (see explainer.data.labelled.iter_rows)."""
    return read_dataset(source, label_names=label_names, filename=filename, quote_contents=quote)
