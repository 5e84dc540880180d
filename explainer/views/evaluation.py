"""Figures of the Errors and Compare pages: confusion matrix, reliability diagram, heads matched across two models,
attributions side by side. Pure functions, no Streamlit; label names and tokens are HTML-escaped (plotly renders a
subset of HTML in axis labels and hover text)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explainer.views.text import MISSING, label_texts, numbered, plot_text, token_labels

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

    from explainer.attention.head_matching import HeadMatching
    from explainer.evaluation.error_report import Calibration


def ece_text(ece: float) -> str:
    """The ECE as shown: three decimals, or MISSING when no row had a finite confidence (nothing was calibrated)."""
    return f"{ece:.3f}" if np.isfinite(ece) else MISSING


def non_finite_note(metrics: dict, label_names: Sequence[str]) -> str | None:
    """What the figures mean when the model's output on some rows is NaN or infinite (it overflowed), or None."""
    count = int(metrics.get("non_finite", 0))
    if not count:
        return None
    rows = f"{count:,} row{'s' if count != 1 else ''}"
    return (f"On {rows} the model's output is not a number (NaN or infinity: it overflowed). Such a row reads as "
            f"predicted '{label_names[0]}' and counts so in the accuracy, F1 and confusion matrix; the calibration "
            "leaves it out.")


def _escaped(names: Sequence[str]) -> list[str]:
    return label_texts(names)


def per_label_table(metrics: Mapping[str, Any], label_names: Sequence[str]) -> pd.DataFrame:
    """Precision, recall, F1 and support per label from classification metrics (with their confusion matrix,
    rows true). A label with no true and no predicted row has none of the three (NaN, shown as MISSING): its 0s would
    read as a failure that macro-F1, which leaves it out, does not count."""
    confusion = np.asarray(metrics["confusion"], dtype=np.int64).reshape(len(label_names), len(label_names))
    support, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    absent = (support == 0) & (predicted == 0)

    def kept(values: Sequence[float]) -> np.ndarray:
        return np.where(absent, np.nan, np.asarray(values, dtype=float))

    return pd.DataFrame({"label": list(label_names), "precision": kept(metrics["precision"]),
                         "recall": kept(metrics["recall"]), "F1": kept(metrics["f1"]), "support": support}).round(4)


def shown_table(frame: pd.DataFrame, digits: int = 4) -> Styler:
    """`frame` as a table shows it: floats to `digits` places, a missing one as MISSING. It stays missing in the data
    (so its column sorts and aligns as numbers): st.dataframe draws it so only when given `placeholder=MISSING`."""
    floats = [column for column in frame.columns if pd.api.types.is_float_dtype(frame[column])]
    return frame.round(digits).style.format(precision=digits, subset=floats, na_rep=MISSING)


def confusion_figure(
    confusion: Sequence[Sequence[int]],
    label_names: Sequence[str],
    title: str = "",
    picked: tuple[int, int] | None = None,
) -> go.Figure:
    """Rows: true label, columns: predicted. A click on a cell selects its point, customdata (true, predicted);
    `picked` (true, predicted) is framed, so the chart says which cell the examples below it come from."""
    matrix = np.asarray(confusion, dtype=np.int64)  # [labels, labels]
    names = _escaped(label_names)
    n = len(names)
    figure = go.Figure(
        go.Heatmap(z=matrix, x=names, y=names, colorscale="Blues", showscale=False, text=matrix,
                   texttemplate="%{text}", hoverinfo="skip")
    )
    # One small invisible point per cell: heatmap cells cannot be selected in Streamlit, points can, and plotly
    # picks the point nearest a click (within hoverdistance). customdata = [true id, predicted id].
    figure.add_trace(
        go.Scatter(
            x=[names[j] for i in range(n) for j in range(n)], y=[names[i] for i in range(n) for j in range(n)],
            mode="markers", marker={"size": 6, "opacity": 0.0, "color": "black"},
            customdata=[[i, j] for i in range(n) for j in range(n)],
            hovertext=[f"true label {names[i]}, predicted {names[j]}: {matrix[i, j]} examples" for i in range(n)
                       for j in range(n)],
            hovertemplate="%{hovertext}<extra></extra>", showlegend=False, name="cells",
        )
    )
    if picked is not None and all(0 <= i < n for i in picked):
        true, predicted = picked  # a category axis puts category k at k, so the cell spans k - 0.5 to k + 0.5
        figure.add_shape(type="rect", x0=predicted - 0.5, x1=predicted + 0.5, y0=true - 0.5, y1=true + 0.5,
                         line={"color": "#d62728", "width": 3}, name="picked cell")
    figure.update_layout(hovermode="closest", hoverdistance=200, clickmode="event+select", dragmode=False)
    figure.update_layout(
        # category axes: labels named "1" and "0" made them numeric, the cells in numeric order, and the frame
        # (drawn at category positions) on another cell than the one picked
        title=title, xaxis={"title": "predicted", "side": "bottom", "type": "category"},
        yaxis={"title": "true", "autorange": "reversed", "type": "category"},
        height=160 + 60 * n, margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 40},
    )
    return figure


def reliability_figure(calibration: Calibration) -> go.Figure:
    """Accuracy against mean confidence per bin, with the diagonal of perfect calibration and bin counts."""
    centres = (calibration.edges[:-1] + calibration.edges[1:]) / 2
    filled = calibration.counts > 0
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_trace(
        go.Bar(x=centres, y=calibration.counts, name="examples", marker_color="#d0d7e1", opacity=0.6,
               width=(calibration.edges[1] - calibration.edges[0]) * 0.9,
               hovertemplate="confidence %{x:.2f}: %{y} examples<extra></extra>"),
        secondary_y=True,
    )
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dot",
                                                                                      "color": "#888"}))
    figure.add_trace(
        go.Scatter(
            x=calibration.confidence[filled], y=calibration.accuracy[filled], mode="lines+markers", name="model",
            marker={"size": 9, "color": "#1f77b4"},
            customdata=calibration.counts[filled],
            hovertemplate="mean confidence %{x:.3f}<br>accuracy %{y:.3f}<br>%{customdata} examples<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"Reliability (expected calibration error {ece_text(calibration.ece)})", height=380,
        xaxis={"title": "confidence (probability of the predicted label)", "range": [0, 1]},
        yaxis={"title": "accuracy", "range": [0, 1.02]}, margin={"l": 10, "r": 10, "t": 40, "b": 40},
        legend={"orientation": "h", "y": -0.25},
    )
    step = max(1, int(np.ceil(calibration.counts.max() / 5))) if calibration.counts.size else 1
    figure.update_yaxes(title_text="examples", secondary_y=True, showgrid=False, dtick=step, rangemode="tozero")
    return figure


def similarity_figure(matching: HeadMatching, name_a: str, name_b: str) -> go.Figure:
    """All head pairs' similarity, with the matched pairs marked."""
    layers_a = matching.similarity.shape[0] // matching.heads_a
    layers_b = matching.similarity.shape[1] // matching.heads_b
    rows = [f"L{i // matching.heads_a}.H{i % matching.heads_a}" for i in range(layers_a * matching.heads_a)]
    columns = [f"L{i // matching.heads_b}.H{i % matching.heads_b}" for i in range(layers_b * matching.heads_b)]
    figure = go.Figure(
        go.Heatmap(z=matching.similarity, x=columns, y=rows, colorscale="RdBu", zmid=0, zmin=-1, zmax=1,
                   colorbar={"title": "correlation"},
                   hovertemplate="A %{y} vs B %{x}: %{z:.3f}<extra></extra>")
    )
    figure.add_trace(
        go.Scatter(
            x=[f"L{p.layer_b}.H{p.head_b}" for p in matching.pairs], y=[f"L{p.layer_a}.H{p.head_a}" for p in
                                                                       matching.pairs],
            mode="markers", marker={"symbol": "circle-open", "size": 10, "color": "black"}, name="matched",
            hoverinfo="skip",
        )
    )
    size = min(900, 200 + 14 * max(len(rows), len(columns)))
    figure.update_layout(
        height=size, xaxis={"title": f"B: {plot_text(name_b)}"},
        yaxis={"title": f"A: {plot_text(name_a)}", "autorange": "reversed"},
        margin={"l": 10, "r": 10, "t": 10, "b": 40}, showlegend=False,
    )
    return figure


def matching_notes(matching: HeadMatching, unit: str) -> str:
    """What the mean similarity does not say: heads left without a partner (the models differ in heads, or
    same-layer pairing left them out) and flat maps (attention spread evenly over every `unit` of this text:
    no correlation, so a flat map counts 1 against another flat map and 0 against one that varies)."""
    total_a, total_b = matching.similarity.shape
    notes = [
        f"{count} of {side}'s {total} heads {'has' if count == 1 else 'have'} no partner"
        for side, count, total in (("A", matching.unpaired_a, total_a), ("B", matching.unpaired_b, total_b)) if count
    ]
    if matching.constant_a or matching.constant_b:
        notes.append(f"{matching.constant_a} of A's and {matching.constant_b} of B's heads spread their attention "
                     f"evenly over every {unit} of this text: such a flat map counts 1 against another flat map and "
                     "0 against one that varies")
    return " ".join(f"{note[0].upper()}{note[1:]}." for note in notes)


def unit_labels(units: Sequence[str], level: str) -> list[str]:
    """Axis labels of the compared units: tokens as token axes show them (word-start marks dropped), words as
    typed ("Ġood" is a Maltese word, not a mark and "ood")."""
    return token_labels(units) if level == "token" else [numbered(i, plot_text(u)) for i, u in enumerate(units)]


def paired_heatmaps(map_a: np.ndarray, map_b: np.ndarray, units: Sequence[str], title_a: str,
                    title_b: str, level: str = "word") -> go.Figure:
    """Two [U, U] attention maps (query rows, key columns) side by side on the same units (`level`: "token" or
    "word", what the units are)."""
    labels = unit_labels(units, level)
    figure = make_subplots(rows=1, cols=2, subplot_titles=(plot_text(title_a), plot_text(title_b)),
                           horizontal_spacing=0.12)
    top = float(max(map_a.max(), map_b.max(), 1e-9))
    for column, matrix in ((1, map_a), (2, map_b)):
        figure.add_trace(
            go.Heatmap(z=matrix, x=labels, y=labels, colorscale="Blues", zmin=0, zmax=top, showscale=column == 2,
                       hovertemplate="query %{y}<br>key %{x}<br>weight %{z:.4f}<extra></extra>"),
            row=1, col=column,
        )
        figure.update_yaxes(autorange="reversed", row=1, col=column)
    figure.update_layout(height=min(800, 260 + 16 * len(units)), margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return figure


def paired_attributions(a: np.ndarray, b: np.ndarray, units: Sequence[str], name_a: str, name_b: str,
                        level: str = "word") -> go.Figure:
    """Both models' attribution per unit as grouped horizontal bars, each scaled to its own largest magnitude."""
    labels = unit_labels(units, level)
    figure = go.Figure()
    for values, name, color in ((a, name_a, "#1f77b4"), (b, name_b, "#ff7f0e")):
        scale = float(np.abs(values).max()) or 1.0
        figure.add_trace(
            go.Bar(y=labels, x=values / scale, orientation="h", name=plot_text(name), marker_color=color,
                   customdata=values, hovertemplate="%{y}: %{customdata:.4g} (scaled %{x:.2f})<extra></extra>")
        )
    figure.update_layout(
        barmode="group", height=min(1400, 120 + 34 * len(units)), yaxis={"autorange": "reversed"},
        xaxis={"title": "attribution / largest magnitude", "range": [-1.05, 1.05]},
        # the legend above the plot: below it, it covered the x-axis title
        margin={"l": 10, "r": 10, "t": 40, "b": 40}, legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"},
    )
    return figure
