"""Cached attribution results for the Attribution page, keyed by (model name, text, target, options).

Results are numpy-only dataclasses (no tensors, no model): safe for st.cache_data. Expensive entries (every
method, the graph of a BERT-base input) are kept few and expire.
"""

from __future__ import annotations

import streamlit as st

from explainer.attribution import METHODS, Attribution, AttributionOptions, attribute
from explainer.attribution_graph import AttentionAttribution, attention_attribution
from explainer.faithfulness import Faithfulness, faithfulness
from explainer.ui.session import get_bundle


@st.cache_data(show_spinner="Attributing…", max_entries=64, ttl=3600)
def get_attribution(model_name: str, text: str, method: str, target: str | None, options: AttributionOptions):
    return attribute(get_bundle(model_name), text, method, target=target, options=options)


def get_attributions(
    model_name: str, text: str, target: str | None, options: AttributionOptions
) -> dict[str, Attribution]:
    """Every method, each cached on its own (the method picked first is not computed twice)."""
    return {method: get_attribution(model_name, text, method, target, options) for method in METHODS}


@st.cache_data(show_spinner="Measuring faithfulness…", max_entries=8, ttl=3600)
def get_faithfulness(
    model_name: str, text: str, target: str | None, options: AttributionOptions
) -> dict[str, Faithfulness]:
    bundle = get_bundle(model_name)
    results = get_attributions(model_name, text, target, options)
    return {method: faithfulness(bundle, result) for method, result in results.items()}


@st.cache_data(show_spinner="Attributing every attention weight (the graph)…", max_entries=4, ttl=3600)
def get_attention_attribution(model_name: str, text: str, target: str | None, steps: int) -> AttentionAttribution:
    return attention_attribution(get_bundle(model_name), text, target=target, steps=steps)
