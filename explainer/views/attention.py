"""Figures built from a Trace: pure functions, no model, no Streamlit.

Token text is HTML-escaped wherever plotly renders it (axis labels, hover), because plotly interprets a
subset of HTML in those strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from explainer.attention.statistics import field_title
from explainer.views.text import display_token, hidden_state_name, index_within, label_texts, plot_text, token_labels

if TYPE_CHECKING:
    from explainer.capture.tracing import Trace


def prediction_bars(trace: Trace, order: Sequence[int] | None = None) -> go.Figure:
    """One bar per label, top to bottom in `order` (label indices; default the model's own): Compare draws B's in
    A's order where B numbers the same labels otherwise."""
    order = list(range(len(trace.label_names))) if order is None else list(order)
    texts = label_texts(trace.label_names)  # once: it compares every name with every other
    labels = [texts[i] for i in order]
    probabilities = trace.probabilities[order]
    colors = ["#b0b0b0" if i != trace.predicted else "#1f77b4" for i in order]
    figure = go.Figure(
        go.Bar(
            x=probabilities,
            y=labels,
            orientation="h",
            marker_color=colors,
            text=[f"{p:.1%}" for p in probabilities],
            textposition="auto",
            hovertemplate="%{y}: %{x:.4f}<extra></extra>",
        )
    )
    figure.update_layout(
        xaxis={"range": [0, 1], "title": "probability"},
        yaxis={"autorange": "reversed", "type": "category"},  # labels named "1" and "0": not a number line
        height=80 + 40 * len(labels),
        margin={"l": 10, "r": 10, "t": 10, "b": 40},
    )
    return figure


def _token_heatmap(
    matrix, labels: list[str], title: str, hover: str, colorscale: str = "Blues",
    axes: tuple[str, str] = ("key", "query"),
) -> go.Figure:
    """A [T, T] token heatmap; `axes`: the titles of the columns (x) and the rows (y)."""
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
        xaxis={"title": axes[0], "tickangle": -60, "type": "category"},
        yaxis={"title": axes[1], "autorange": "reversed", "type": "category"},
        height=size,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure


def attention_heatmap(trace: Trace, layer: int, head: int) -> go.Figure:
    """One head's attention, query tokens down, key tokens across; hover shows both tokens and the weight."""
    layer, head = index_within(layer, trace.num_layers, "layer"), index_within(head, trace.num_heads, "head")
    return _token_heatmap(
        trace.attentions[layer, head],
        token_labels(trace.tokens),
        f"Layer {layer}, head {head}",
        "query %{y}<br>key %{x}<br>weight %{z:.4f}<extra></extra>",
    )


def rollout_heatmap(rollout: np.ndarray, trace: Trace) -> go.Figure:
    """Attention rollout [T, T]: how much each final position draws on each input token."""
    return _token_heatmap(
        rollout.astype(np.float32),  # float64 would double what the browser receives
        token_labels(trace.tokens),
        "Attention rollout (all layers, residual included)",
        "position %{y}<br>draws on %{x}<br>share %{z:.4f}<extra></extra>",
        colorscale="Purples",
        axes=("input token drawn on", "position"),  # not a head's keys and queries: the layers' product
    )


def head_picker(figure: go.Figure, layers: int, heads: int, x, y, hover: list[str], selected) -> None:
    """Overlay one invisible scatter point per head: heatmaps cannot be selected in Streamlit, points can,
    so a click near a head's centre selects it (customdata = [layer, head]). The chosen head is ringed."""
    layer_index, head_index = np.meshgrid(np.arange(layers), np.arange(heads), indexing="ij")
    figure.add_trace(
        go.Scatter(
            x=np.asarray(x).ravel(),
            y=np.asarray(y).ravel(),
            mode="markers",
            # small markers: plotly picks the point nearest the click (within hoverdistance); big ones overlap
            # and the first of them wins.
            marker={"size": 6, "opacity": 0.0, "color": "black"},
            customdata=np.stack([layer_index.ravel(), head_index.ravel()], axis=1),
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
            showlegend=False,
            name="heads",
        )
    )
    if selected is not None:
        layer, head = selected
        figure.add_trace(
            go.Scatter(
                x=[np.asarray(x)[layer, head]],
                y=[np.asarray(y)[layer, head]],
                mode="markers",
                marker={"size": 16, "symbol": "square-open", "color": "red", "line": {"width": 2}},
                hoverinfo="skip",
                showlegend=False,
                name="selected",
            )
        )
    figure.update_layout(hovermode="closest", hoverdistance=40, clickmode="event+select", dragmode=False)


def head_statistic_map(values: np.ndarray, name: str, selected: tuple[int, int] | None = None) -> go.Figure:
    """A layers x heads map of one head statistic; click a cell to open that head."""
    layers, heads = values.shape
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=np.arange(heads),
            y=np.arange(layers),
            colorscale="Viridis",
            colorbar={"title": field_title(name)},  # as the title says it ("mean_distance" read as a field name)
            hoverinfo="skip",
        )
    )
    layer_index, head_index = np.meshgrid(np.arange(layers), np.arange(heads), indexing="ij")
    hover = [f"layer {lay}, head {hd}<br>{field_title(name)} {values[lay, hd]:.3f}"
             for lay, hd in np.ndindex(layers, heads)]
    head_picker(figure, layers, heads, head_index, layer_index, hover, selected)
    figure.update_layout(
        title=field_title(name),
        xaxis={"title": "head", "dtick": 1},
        yaxis={"title": "layer", "autorange": "reversed", "dtick": 1},
        height=140 + 36 * layers,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure


def head_grid(thumbnails: np.ndarray, selected: tuple[int, int] | None = None) -> go.Figure:
    """Every head at once: [layers, heads, c, c] thumbnails tiled into one heatmap (one trace keeps a 144-head
    grid fast to build and small to send), each scaled to its own maximum. Click a thumbnail to open it."""
    layers, heads, cells, _ = thumbnails.shape
    stride = cells + 1  # one blank row/column between thumbnails
    # 8-bit shades: a thumbnail needs no more, and it sends a quarter of float32's bytes.
    mosaic = np.zeros((layers * stride - 1, heads * stride - 1), dtype=np.uint8)
    shades = np.round(np.clip(thumbnails, 0.0, 1.0) * 255).astype(np.uint8)
    for layer in range(layers):
        for head in range(heads):
            mosaic[layer * stride : layer * stride + cells, head * stride : head * stride + cells] = shades[layer, head]
    figure = go.Figure(go.Heatmap(z=mosaic, zmin=0, zmax=255, colorscale="Blues", showscale=False, hoverinfo="skip"))
    layer_index, head_index = np.meshgrid(np.arange(layers), np.arange(heads), indexing="ij")
    centre = (cells - 1) / 2
    hover = [f"layer {lay}, head {hd}" for lay, hd in np.ndindex(layers, heads)]
    head_picker(figure, layers, heads, head_index * stride + centre, layer_index * stride + centre, hover, selected)
    figure.update_layout(
        xaxis={
            "title": "head",
            "tickvals": np.arange(heads) * stride + centre,
            "ticktext": [str(h) for h in range(heads)],
            "showgrid": False,
            "zeroline": False,
        },
        yaxis={
            "title": "layer",
            "tickvals": np.arange(layers) * stride + centre,
            "ticktext": [str(layer) for layer in range(layers)],
            "autorange": "reversed",
            "scaleanchor": "x",
            "showgrid": False,
            "zeroline": False,
        },
        height=min(900, 120 + 60 * layers),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        plot_bgcolor="white",
    )
    return figure


def rollout_readout_token(rollout: np.ndarray, trace: Trace) -> go.Figure:
    """The rollout row of the token the classifier reads (trace.readout): how much it draws on each input token.
    The first token for BERT-style heads ([CLS]); the last for decoders, whose first token sees only itself (its
    row is one-hot, whatever the text)."""
    labels = token_labels(trace.tokens)
    figure = go.Figure(
        go.Bar(
            x=labels,
            y=rollout[trace.readout].astype(np.float32),
            marker_color="#6a51a3",
            hovertemplate="%{x}<br>share %{y:.4f}<extra></extra>",
        )
    )
    where = "first" if trace.readout == 0 else "last"
    figure.update_layout(
        title=f"Rollout to the token the classifier reads (the {where}: "
              f"{plot_text(display_token(trace.tokens[trace.readout]))})",  # as the axes: "friend", not "Ġfriend"
        xaxis={"title": "input token", "type": "category", "tickangle": -60},
        yaxis={"title": "share"},
        height=340,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure


def logit_lens_chart(trace: Trace) -> go.Figure:
    """The classifier head read off every hidden state: one line per label, the embeddings to the last layer's
    output (named as every view names hidden states)."""
    probabilities = trace.layer_probabilities
    states = [hidden_state_name(index) for index in range(probabilities.shape[0])]
    figure = go.Figure()
    for index, name in enumerate(label_texts(trace.label_names)):
        figure.add_trace(
            go.Scatter(
                x=states,
                y=probabilities[:, index],
                mode="lines+markers",
                name=name,
                # the label by reference: put into the template, a name holding "%{y}" was filled in by plotly
                hovertemplate="%{x}<br>p = %{y:.3f}<extra>%{fullData.name}</extra>",
            )
        )
    figure.update_layout(
        xaxis={"title": "hidden state", "type": "category"},
        yaxis={"title": "probability", "range": [0, 1]},
        height=320,
        margin={"l": 10, "r": 10, "t": 10, "b": 40},
    )
    return figure
