"""Every Streamlit cache of the app, in one place, keyed by (model name, text, options).

Models: st.cache_resource, one per process, shared by every session (each use takes the bundle's lock).
Results: st.cache_data of numpy-only objects (Trace, Attribution, ...: no tensors, no model), kept few and
expiring, since a 512-token BERT-base Trace is ~170 MB. session_state holds widget values only.
"""

from __future__ import annotations

import streamlit as st

from explainer.attribution.attributing import MethodProgress, attribute, each_method
from explainer.attribution.faithfulness import Faithfulness, faithfulness
from explainer.attribution.graph import AttentionAttribution, attention_attribution
from explainer.attribution.options import AttributionOptions
from explainer.attribution.result import Attribution
from explainer.capture.tracing import Trace, trace
from explainer.data.labelled import LabelledData, read_dataset
from explainer.evaluation.compare import TextComparison, compare_text
from explainer.loading.bundle import ModelBundle, load_model
from explainer.models import GatePin, MarkerForce
from explainer.views import attention_page


@st.cache_resource(show_spinner="Loading model…", max_entries=4)
def get_bundle(name: str) -> ModelBundle:
    return load_model(name)


# ---- traces ----


@st.cache_data(show_spinner="Running the model…", max_entries=8, ttl=3600)
def get_trace(model_name: str, text: str) -> Trace:
    return trace(get_bundle(model_name), text)


@st.cache_data(show_spinner="Running the model…", max_entries=32, ttl=3600)
def get_trace_with(
    model_name: str,
    text: str,
    tau: float | None,
    forces: tuple[MarkerForce, ...] = (),
    pins: tuple[GatePin, ...] = (),
) -> Trace:
    """A Trace at threshold `tau` with markers forced / gates pinned; keyed by all of them."""
    return trace(get_bundle(model_name), text, beacon_threshold=tau, forced_markers=forces, pinned_gates=pins)


@st.cache_data(show_spinner="Summarising attention…", max_entries=8, ttl=3600)
def get_attention_derived(model_name: str, text: str) -> attention_page.Derived:
    """Rollout, head statistics and thumbnails: per Trace, not per layer/head choice."""
    return attention_page.derive(get_trace(model_name, text))


# ---- attribution ----


@st.cache_data(show_spinner="Attributing…", max_entries=64, ttl=3600)
def get_attribution(model_name: str, text: str, method: str, target: str | None, options: AttributionOptions):
    return attribute(get_bundle(model_name), text, method, target=target, options=options)


def get_attributions(
    model_name: str, text: str, target: str | None, options: AttributionOptions, progress: MethodProgress | None = None
) -> dict[str, Attribution]:
    """Every method, each cached on its own (the method picked first is not computed twice);
    `progress(done, total, method)` after each."""
    return each_method(lambda method: get_attribution(model_name, text, method, target, options), progress=progress)


@st.cache_data(show_spinner=False, max_entries=64, ttl=3600)
def get_method_faithfulness(
    model_name: str, text: str, method: str, target: str | None, options: AttributionOptions
) -> Faithfulness:
    return faithfulness(get_bundle(model_name), get_attribution(model_name, text, method, target, options))


def get_faithfulness(
    model_name: str, text: str, target: str | None, options: AttributionOptions, progress: MethodProgress | None = None
) -> dict[str, Faithfulness]:
    """Faithfulness of every method, each cached on its own; `progress(done, total, method)` after each."""
    return each_method(
        lambda method: get_method_faithfulness(model_name, text, method, target, options), progress=progress
    )


@st.cache_data(show_spinner="Attributing every attention weight (the graph)…", max_entries=4, ttl=3600)
def get_attention_attribution(model_name: str, text: str, target: str | None, steps: int) -> AttentionAttribution:
    return attention_attribution(get_bundle(model_name), text, target=target, steps=steps)


# ---- two models, data sets ----


@st.cache_data(show_spinner="Running both models…", max_entries=8, ttl=3600)
def get_comparison(name_a: str, name_b: str, text: str, by_layer: bool) -> TextComparison:
    return compare_text(get_bundle(name_a), get_bundle(name_b), text, by_layer=by_layer)


@st.cache_data(show_spinner="Reading the data set…", max_entries=8)
def read_labelled(
    source: str | bytes, filename: str | None, label_names: tuple[str, ...], version: int = 0, quote: bool = True
) -> LabelledData:
    """`version`: a path's modification time, so that a file changed on disk is read again; `quote=False`: the
    file's contents stay out of error messages (see explainer.data.labelled.iter_rows)."""
    return read_dataset(source, label_names=label_names, filename=filename, quote_contents=quote)
