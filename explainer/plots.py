"""Figures built from a Trace: pure functions, no model, no Streamlit.

Token text is HTML-escaped wherever plotly renders it (axis labels, hover), because plotly interprets a
subset of HTML in those strings.
"""

from __future__ import annotations

import html

import numpy as np
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


def _token_heatmap(matrix, labels: list[str], title: str, hover: str, colorscale: str = "Blues") -> go.Figure:
    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            x=labels,
            y=labels,
            colorscale=colorscale,
            zmin=0.0,
            zmax=float(matrix.max()) if matrix.size else 1.0,
            colorbar={"title": "weight"},
            hovertemplate=hover,
        )
    )
    size = min(900, 220 + 18 * len(labels))
    figure.update_layout(
        title=title,
        xaxis={"title": "key", "tickangle": -60, "type": "category"},
        yaxis={"title": "query", "autorange": "reversed", "type": "category"},
        height=size,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure


def attention_heatmap(trace: Trace, layer: int, head: int) -> go.Figure:
    """One head's attention, query tokens down, key tokens across; hover shows both tokens and the weight."""
    return _token_heatmap(
        trace.attentions[layer, head],
        token_labels(trace),
        f"Layer {layer}, head {head}",
        "query %{y}<br>key %{x}<br>weight %{z:.4f}<extra></extra>",
    )


def rollout_heatmap(rollout: np.ndarray, trace: Trace) -> go.Figure:
    """Attention rollout [T, T]: how much each final position draws on each input token."""
    return _token_heatmap(
        rollout,
        token_labels(trace),
        "Attention rollout (all layers, residual included)",
        "position %{y}<br>draws on %{x}<br>share %{z:.4f}<extra></extra>",
        colorscale="Purples",
    )


def head_statistic_map(values: np.ndarray, name: str) -> go.Figure:
    """A layers x heads map of one head statistic."""
    layers, heads = values.shape
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=[f"head {h}" for h in range(heads)],
            y=[f"layer {layer}" for layer in range(layers)],
            colorscale="Viridis",
            colorbar={"title": name},
            hovertemplate="%{y}, %{x}<br>" + name + " %{z:.3f}<extra></extra>",
        )
    )
    figure.update_layout(
        title=name.replace("_", " "),
        yaxis={"autorange": "reversed"},
        height=120 + 40 * layers,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure


def logit_lens_chart(trace: Trace) -> go.Figure:
    """The classifier head read off every layer: one line per label, embeddings (layer 0) to the output."""
    probabilities = trace.layer_probabilities
    figure = go.Figure()
    for index, name in enumerate(trace.label_names):
        figure.add_trace(
            go.Scatter(
                x=list(range(probabilities.shape[0])),
                y=probabilities[:, index],
                mode="lines+markers",
                name=html.escape(name),
                hovertemplate="layer %{x}<br>p = %{y:.3f}<extra>" + html.escape(name) + "</extra>",
            )
        )
    figure.update_layout(
        xaxis={"title": "layer (0 = embeddings)", "dtick": 1},
        yaxis={"title": "probability", "range": [0, 1]},
        height=320,
        margin={"l": 10, "r": 10, "t": 10, "b": 40},
    )
    return figure
