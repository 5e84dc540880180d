"""Figures built from a Trace: pure functions, no model, no Streamlit.

Token text is HTML-escaped wherever plotly renders it (axis labels, hover), because plotly interprets a
subset of HTML in those strings.
"""

from __future__ import annotations

import html

import plotly.graph_objects as go

from explainer.capture import Trace


def token_labels(trace: Trace) -> list[str]:
    """Unique, escaped axis labels ("3 movie"): repeated tokens must not merge on a categorical axis."""
    return [f"{i} {html.escape(token)}" for i, token in enumerate(trace.tokens)]


def prediction_bars(trace: Trace) -> go.Figure:
    labels = [html.escape(name) for name in trace.label_names]
    colors = ["#b0b0b0" if i != trace.predicted else "#1f77b4" for i in range(len(labels))]
    figure = go.Figure(
        go.Bar(
            x=trace.probabilities,
            y=labels,
            orientation="h",
            marker_color=colors,
            text=[f"{p:.1%}" for p in trace.probabilities],
            textposition="auto",
            hovertemplate="%{y}: %{x:.4f}<extra></extra>",
        )
    )
    figure.update_layout(
        xaxis={"range": [0, 1], "title": "probability"},
        yaxis={"autorange": "reversed"},
        height=80 + 40 * len(labels),
        margin={"l": 10, "r": 10, "t": 10, "b": 40},
    )
    return figure


def attention_heatmap(trace: Trace, layer: int, head: int) -> go.Figure:
    """One head's attention, query tokens down, key tokens across; hover shows both tokens and the weight."""
    labels = token_labels(trace)
    figure = go.Figure(
        go.Heatmap(
            z=trace.attentions[layer, head],
            x=labels,
            y=labels,
            colorscale="Blues",
            zmin=0.0,
            zmax=float(trace.attentions[layer, head].max()),
            colorbar={"title": "weight"},
            hovertemplate="query %{y}<br>key %{x}<br>weight %{z:.4f}<extra></extra>",
        )
    )
    size = min(900, 220 + 18 * len(labels))
    figure.update_layout(
        title=f"Layer {layer}, head {head}",
        xaxis={"title": "key", "tickangle": -60, "type": "category"},
        yaxis={"title": "query", "autorange": "reversed", "type": "category"},
        height=size,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure
