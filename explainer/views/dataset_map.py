"""The data-set map's figure: one point per example, coloured by a column of the map's table. Above WEBGL_ABOVE
points on WebGL (plotly Scattergl, interactive at 100,000 points), else as SVG (Scatter), plotly express's own rule
(render_mode="auto"): a small map draws several times faster as SVG where the browser has no GPU (WebGL then runs
in software: 350 ms against 60 ms for 420 points in headless Chromium), and its SVG export holds vector points, not
the raster a WebGL trace exports. Pure function, no Streamlit; texts and label names are escaped for
plotly's hover (which reads a subset of HTML).

Every point carries its data row as customdata, so a click or a box/lasso selection names rows whatever trace
the point is drawn in."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly import colors as plotly_colors

from explainer.views.text import isolated, plot_text
from explainer.views.thought_beacon import marker_color, marker_name

WEBGL_ABOVE = 1000  # points; plotly express switches to WebGL above this many rows too
HOVER_CHARS = 90  # text shown per point on hover: the figure's size grows with it, 100,000 times
CONTINUOUS = {"confidence": "Viridis", "tokens": "Cividis"}
PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac")
# more categories than PALETTE holds (16 thought markers, many tags): 48 colours, so none shares one below that
WIDE_PALETTE = tuple(plotly_colors.qualitative.Dark24 + plotly_colors.qualitative.Light24)
NO_MARKER_COLOUR = "#bab0ac"


def colour_options(tag_column: str | None, has_markers: bool) -> dict[str, str]:
    """{column: title} of what the map can be coloured by, for this data set and model."""
    options = {
        "label": "True label",
        "predicted": "Predicted label",
        "correct": "Correct or wrong",
        "confidence": "Confidence",
        "tokens": "Text length (tokens)",
    }
    if tag_column:
        options[tag_column] = tag_column.capitalize()
    if has_markers:
        options["marker"] = "Dominant thought marker"
    return options


def hover_texts(frame: pd.DataFrame) -> list[str]:
    """One escaped hover line per row: the row, the start of its text, true and predicted label, confidence; and,
    where rows share the row's place (copies of one text are laid out once), how many more sit under it, since
    plotly's hover shows only the topmost."""
    texts = frame["text"].astype(str)
    short = texts.where(texts.str.len() <= HOVER_CHARS, texts.str.slice(0, HOVER_CHARS - 1) + "…")
    if {"x", "y"} <= set(frame.columns):
        sharing = frame.groupby(["x", "y"], sort=False)["row"].transform("size").to_numpy() - 1
    else:
        sharing = np.zeros(len(frame), dtype=np.int64)
    return [
        f"row {row}: {plot_text(text)}<br>true {plot_text(isolated(str(label)))} · predicted "
        f"{plot_text(isolated(str(predicted)))} ({confidence:.1%})"
        + (f"<br>{more} more row{'s' if more != 1 else ''} at this place" if more else "")
        for row, text, label, predicted, confidence, more in zip(
            frame["row"], short, frame["label"], frame["predicted"], frame["confidence"], sharing
        )
    ]


def _category_names(values: pd.Series, column: str, order: Sequence[str] = ()) -> list[tuple[str, np.ndarray]]:
    """(name, rows) per category: labels in the model's order (`order`; others after, sorted), the rest sorted."""
    if column == "correct":
        flags = values.to_numpy(dtype=bool)
        return [("correct", flags), ("wrong", ~flags)]
    if column == "marker":
        return [(marker_name(m) if m >= 0 else "no marker", values.to_numpy() == m) for m in sorted(values.unique())]
    text = values.astype(str).to_numpy()
    return [(name or "(none)", text == name) for name in _in_order(set(text), order)]


def _in_order(names: set[str], order: Sequence[str]) -> list[str]:
    """`names` in `order` (the model's labels), any others after it, sorted."""
    place = {name: index for index, name in enumerate(order)}
    return sorted(names, key=lambda name: (place.get(name, len(place)), name))


def map_figure(
    frame: pd.DataFrame,
    colour: str = "label",
    title: str = "",
    selected: Sequence[int] = (),
    height: int = 620,
    axis_titles: tuple[str, str] | None = None,
    label_names: Sequence[str] = (),
) -> go.Figure:
    """Scatter of frame's x, y (one row per example, with row, text, label, predicted, confidence and `colour`).
    Categorical colours get one trace (and legend entry) per value; confidence and length a colour scale.
    `selected` rows are ringed. `axis_titles`: what x and y are (MapResult.axis_titles); no tick labels either
    way, since only distances on the map mean something. `label_names`: the model's labels, in its order, which the
    legend follows for true and predicted labels (sorted by name, "very negative" came after "positive")."""
    hover = np.asarray(hover_texts(frame), dtype=object)
    rows = frame["row"].to_numpy()
    x, y = frame["x"].to_numpy(), frame["y"].to_numpy()
    size = 4 if len(frame) > 20_000 else 6 if len(frame) > 2_000 else 8
    scatter = go.Scattergl if len(frame) > WEBGL_ABOVE else go.Scatter
    figure = go.Figure()
    common = {"mode": "markers", "hovertemplate": "%{text}<extra></extra>"}
    if colour in CONTINUOUS:
        figure.add_trace(
            scatter(
                x=x,
                y=y,
                text=hover,
                customdata=rows,
                name=colour,
                showlegend=False,
                **common,
                marker={
                    "size": size,
                    "color": frame[colour].to_numpy(dtype=float),
                    "colorscale": CONTINUOUS[colour],
                    "colorbar": {"title": {"text": plot_text(colour)}},
                    "opacity": 0.8,
                },
            )
        )
    else:
        order = label_names if colour in ("label", "predicted") else ()
        categories = _category_names(frame[colour], colour, order)
        # True and predicted labels share one slot per label, so a label keeps its colour when the map switches
        # between them (by position among the values present, "positive" took "negative"'s colour when the model
        # never predicted "negative")
        names = [name for name, _ in categories]
        if colour in ("label", "predicted") and {"label", "predicted"} <= set(frame.columns):
            names = _in_order(set(frame["label"].astype(str)) | set(frame["predicted"].astype(str)), label_names)
        slot = {name or "(none)": index for index, name in enumerate(names)}
        palette = PALETTE if len(names) <= len(PALETTE) else WIDE_PALETTE
        colours = [palette[slot[name] % len(palette)] for name, _ in categories]
        if colour == "marker":  # by marker id, as on the Markers page, so a marker keeps its colour across layers
            colours = [marker_color(m) if m >= 0 else NO_MARKER_COLOUR for m in sorted(frame[colour].unique())]
        for (name, keep), point_colour in zip(categories, colours, strict=True):
            figure.add_trace(
                scatter(
                    x=x[keep],
                    y=y[keep],
                    text=hover[keep],
                    customdata=rows[keep],
                    name=plot_text(name),
                    **common,
                    marker={"size": size, "color": point_colour, "opacity": 0.8},
                )
            )
    if len(selected):
        chosen = frame.iloc[np.asarray(selected, dtype=np.int64)]
        # a white ring inside a black one: seen on the light theme and the dark one alike
        for ring, width, colour in ((size + 12, 2, "black"), (size + 8, 2, "white")):
            figure.add_trace(
                scatter(
                    x=chosen["x"],
                    y=chosen["y"],
                    mode="markers",
                    hoverinfo="skip",
                    name="selected",
                    showlegend=False,
                    marker={"size": ring, "color": "rgba(0,0,0,0)", "line": {"width": width, "color": colour}},
                )
            )
    figure.update_layout(
        title=plot_text(title) if title else None,
        height=height,
        dragmode="zoom",  # a click selects one point; the toolbar offers box and lasso
        hovermode="closest",
        # the toolbar (box, lasso) shows above the plot on hover: room for it, or it covers the legend's first
        # entries and the colour bar's title, both at the top right
        # room on the left and at the bottom for the axis titles (there are no tick labels)
        margin={"l": 30 if axis_titles else 10, "r": 10, "t": 40, "b": 30 if axis_titles else 10},
        legend={"itemsizing": "constant"},
        xaxis={"showticklabels": False, "zeroline": False, "title": axis_titles[0] if axis_titles else None},
        yaxis={"showticklabels": False, "zeroline": False, "title": axis_titles[1] if axis_titles else None},
    )
    return figure
