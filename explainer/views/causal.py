"""Figures and tables of head ablation and activation patching: pure functions, no model, no Streamlit.

Token text is escaped for plotly (views.text) in every label and hover.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from explainer.thought_beacon.dense import dense_suffix
from explainer.views.text import (
    hidden_state_name,
    label_text,
    markdown_label,
    plural,
    quoted_label,
    token_labels,
)

if TYPE_CHECKING:
    from explainer.causal.results import Ablation, Patching

MAPS = ("residual", "attention", "mlp")
TITLES = {
    "residual": "Residual stream (the embeddings, then after each layer)",
    "attention": "Attention output (the attention's write) per layer and position",
    "mlp": "MLP output (the MLP's write) per layer and position",
}


def _symmetric_scale(values: np.ndarray, floor: float) -> float:
    """± the largest |value|, at least `floor`: shares of the restored difference span at least ±1 (1: all of
    it); logit changes have no natural unit (floor 0: a ±1 floor left heads moving the logit by 0.15 nearly
    white). 1 when nothing is finite or nonzero."""
    finite = np.abs(values[np.isfinite(values)])
    largest = float(finite.max()) if finite.size else 0.0
    return max(floor, largest) if largest > 0 else 1.0


def position_map(result: Patching, which: str) -> go.Figure:
    """Layers x corrupted positions, the share of the logit difference each patch restores. Hover: the corrupted
    token, its clean partner, the share and the patched run's logit difference; no partner: blank."""
    values = getattr(result, which)
    if values is None:
        raise ValueError(f"this model has no {which} map")
    labels, clean_labels = token_labels(result.corrupted_tokens), token_labels(result.clean_tokens)
    # a partner as the axis shows a token, with its position: a repeated word ("and") is told apart
    partners = [clean_labels[p] if p >= 0 else "(no partner: not patched)" for p in result.partners]
    # the residual's rows are hidden states (embeddings, after layer 0, ...: one more than the layers); the
    # attention's and MLP's are the layers writing them
    rows = ([hidden_state_name(i) for i in range(values.shape[0])] if which == "residual"
            else [f"layer {layer}" for layer in range(values.shape[0])])
    logit = result.logit_difference(values)
    hover = np.empty(values.shape, dtype=object)
    for layer in range(values.shape[0]):
        for position in range(values.shape[1]):
            share = values[layer, position]
            shown = "—" if np.isnan(share) else f"{share:.3f} (logit difference {logit[layer, position]:+.3f})"
            hover[layer, position] = (
                f"{rows[layer]} · {labels[position]}<br>clean partner: {partners[position]}<br>restored: {shown}"
            )
    scale = _symmetric_scale(values, floor=1.0)
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=labels,
            y=rows,
            text=hover,
            hoverinfo="text",
            colorscale="RdBu",
            zmid=0.0,
            zmin=-scale,
            zmax=scale,
            colorbar={"title": "restored"},
            hoverongaps=False,
        )
    )
    figure.update_layout(
        title=TITLES[which],
        xaxis={"title": "corrupted token", "tickangle": -60, "type": "category"},
        yaxis={"title": "hidden state" if which == "residual" else "layer", "autorange": "reversed",
               "type": "category"},
        height=min(700, 200 + 28 * values.shape[0]),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure


def head_map(
    values: np.ndarray, title: str, colorbar: str, hover_name: str, diverging: bool = True, shares: bool = True
) -> go.Figure:
    """Layers x heads. Each cell carries (layer, head) as customdata so a click opens that head. A diverging map
    of `shares` (restored shares) spans at least ±1; of logit changes, ± the largest."""
    layers, heads = values.shape
    custom = np.array([[[layer, head] for head in range(heads)] for layer in range(layers)])
    scale = _symmetric_scale(values, floor=1.0 if shares else 0.0) if diverging else None
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=[f"H{head}" for head in range(heads)],
            y=[f"L{layer}" for layer in range(layers)],
            customdata=custom,
            colorscale="RdBu" if diverging else "Viridis",
            zmid=0.0 if diverging else None,
            zmin=-scale if scale else None,
            zmax=scale if scale else None,
            colorbar={"title": colorbar},
            hovertemplate=(
                f"layer %{{customdata[0]}} head %{{customdata[1]}}<br>{hover_name}: %{{z:.4f}}<extra></extra>"
            ),
        )
    )
    figure.update_layout(
        title=title,
        xaxis={"title": "head", "type": "category"},
        yaxis={"title": "layer", "autorange": "reversed", "type": "category"},
        height=min(600, 160 + 30 * layers),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure


def patched_heads(result: Patching) -> go.Figure:
    return head_map(result.heads, "Each head's output patched at every partnered position", "restored", "restored")


def ablated_heads(result: Ablation) -> go.Figure:
    # a half-width chart: its title clips a long label name, which the caption beside it gives whole
    return head_map(
        result.heads,
        f"Change of the {label_text(result.target_label, 20)} logit, head {result.mode}-ablated",
        "logit change",
        "target logit change",
        shares=False,
    )


def layer_effects(result: Ablation) -> go.Figure:
    """Per layer: the target logit change with its MLP ablated, its markers off, its gates pinned shut / open."""
    figure = go.Figure()
    series = [(f"MLP {result.mode}-ablated", result.mlp), ("markers off", result.marker_off)]
    if result.gate_pinned is not None:
        series += [("gates pinned shut", result.gate_pinned[0]), ("gates pinned open", result.gate_pinned[1])]
    for name, values in series:
        if values is not None:
            figure.add_bar(name=name, x=[f"L{i}" for i in range(len(values))], y=values)
    figure.update_layout(
        title=f"Per layer: change of the {label_text(result.target_label)} logit",  # each series says what went
        showlegend=True,  # plotly hides a lone series' name: the bars of a model without markers said not what went
        barmode="group",
        yaxis={"title": "logit change", "exponentformat": "power"},  # plotly's default SI read "−50µ" for 5e-5
        height=320,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure


def rank_correlation(first: np.ndarray, second: np.ndarray) -> float:
    """Spearman's rank correlation of two same-shaped arrays (average ranks for ties); NaN when either is constant."""
    a = pd.Series(np.asarray(first, dtype=float).ravel()).rank()
    b = pd.Series(np.asarray(second, dtype=float).ravel()).rank()
    if a.nunique() < 2 or b.nunique() < 2:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def rank_correlation_caption(importance: np.ndarray, values: np.ndarray, statistic: str) -> str:
    """The caption under the two head maps: Spearman's ρ between the logit drop on ablation and the head
    statistic (`statistic`: its title), or why there is none (a one-head model showed "ρ: nan", and two heads
    always give ±1)."""
    heads = int(np.asarray(importance).size)
    if heads < 3:
        return (f"With {plural(heads, 'head')}, a rank correlation between the logit drop and {statistic} would say "
                "nothing: none is given.")
    rho = rank_correlation(importance, values)
    if np.isnan(rho):
        return (f"No rank correlation between the logit drop on ablation and {statistic}: one of them is the same "
                "for every head.")
    return f"Spearman's ρ between the logit drop on ablation and {statistic}: {rho:.2f}"


def top_heads_table(rows: list[tuple[int, int, float]], column: str) -> pd.DataFrame:
    # 4 significant digits, not 4 places: a model whose heads move its logit by 1e-5 listed five zeros
    return pd.DataFrame([{"layer": layer, "head": head, column: float(f"{value:.4g}")} for layer, head, value in rows])


def patch_summary(result: Patching) -> str:
    """One line of markdown (label names escaped: a model's config names them): what is patched into what, the two
    logit differences and the label pair."""
    target, foil = (markdown_label(quoted_label(result.label_names[i])) for i in (result.target, result.foil))
    passes, alone = result.forward_passes, len(result.unpartnered_corrupted)
    return (
        f"Logit difference {target} − {foil}: clean {result.logit_difference_clean:+.3f}, corrupted "
        f"{result.logit_difference_corrupted:+.3f}{dense_suffix(result.notes)} · {passes} forward "
        f"pass{'' if passes == 1 else 'es'} · {alone} corrupted token{'' if alone == 1 else 's'} without a partner"
    )
