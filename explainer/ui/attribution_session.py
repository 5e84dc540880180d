"""Cached attribution results for the Attribution page, keyed by (model name, text, target, options).

Results are numpy-only dataclasses (no tensors, no model): safe for st.cache_data. Expensive entries (every
method, the graph of a BERT-base input) are kept few and expire.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from explainer.attribution.faithfulness import Faithfulness, faithfulness
from explainer.attribution.graph import AttentionAttribution, attention_attribution
from explainer.attribution.methods import METHODS, Attribution, AttributionOptions, attribute
from explainer.ui.session import get_bundle

Progress = Callable[[int, int, str], None]
T = TypeVar("T")


@st.cache_data(show_spinner="Attributing…", max_entries=64, ttl=3600)
def get_attribution(model_name: str, text: str, method: str, target: str | None, options: AttributionOptions):
    return attribute(get_bundle(model_name), text, method, target=target, options=options)


def get_attributions(
    model_name: str, text: str, target: str | None, options: AttributionOptions, progress: Progress | None = None
) -> dict[str, Attribution]:
    """Every method, each cached on its own (the method picked first is not computed twice);
    `progress(done, total, method)` after each."""
    return _each_method(lambda method: get_attribution(model_name, text, method, target, options), progress)


def _each_method(compute: Callable[[str], T], progress: Progress | None) -> dict[str, T]:
    """{method: compute(method)} over METHODS, reporting progress after each."""
    results = {}
    for index, method in enumerate(METHODS):
        results[method] = compute(method)
        if progress is not None:
            progress(index + 1, len(METHODS), method)
    return results


@st.cache_data(show_spinner=False, max_entries=64, ttl=3600)
def get_method_faithfulness(
    model_name: str, text: str, method: str, target: str | None, options: AttributionOptions
) -> Faithfulness:
    return faithfulness(get_bundle(model_name), get_attribution(model_name, text, method, target, options))


def get_faithfulness(
    model_name: str, text: str, target: str | None, options: AttributionOptions, progress: Progress | None = None
) -> dict[str, Faithfulness]:
    """Faithfulness of every method, each cached on its own; `progress(done, total, method)` after each."""
    return _each_method(lambda method: get_method_faithfulness(model_name, text, method, target, options), progress)


@st.cache_data(show_spinner="Attributing every attention weight (the graph)…", max_entries=4, ttl=3600)
def get_attention_attribution(model_name: str, text: str, target: str | None, steps: int) -> AttentionAttribution:
    return attention_attribution(get_bundle(model_name), text, target=target, steps=steps)
