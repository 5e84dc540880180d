"""Figures on a page. Export: PNG or SVG from plotly's own camera button (drawn in the browser, so no server-side
renderer is needed), and a self-contained HTML file (plotly.js inlined from the installed package, never a CDN).
Drawing them (one chart helper for every page) and reading which cell a click picked."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from explainer.views.report import OFFLINE_TEMPLATE


def image_config(name: str, image_format: str) -> dict[str, Any]:
    """st.plotly_chart config: the toolbar's camera button saves `name`.png or .svg."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": image_format, "filename": name, "scale": 2},
    }


TOOLBAR_PX = 30  # the height of plotly's toolbar, drawn on hover over the top right of a chart
PLOTLY_TOP_MARGIN = 100  # plotly's own, where a figure sets none


def clear_of_toolbar(figure: go.Figure) -> go.Figure:
    """`figure` with its title moved below the band plotly's toolbar covers on hover (a copy; the cached figure is
    left as built): the toolbar hid the end of long titles, such as the calibration error the reliability title
    ends with, in a narrow column. A chart of a set height grows by what the title moved, so its plot keeps its
    size (one of no set height gives it up); an image saved from the camera button keeps the band above the title."""
    if not figure.layout.title.text or figure.layout.title.yref == "container":
        return figure
    top = figure.layout.margin.t if figure.layout.margin.t is not None else PLOTLY_TOP_MARGIN
    grow = max(0, TOOLBAR_PX + 34 - top)  # the title's line under the band
    moved = go.Figure(figure)
    moved.update_layout(title={"y": 1, "yref": "container", "yanchor": "top", "pad": {"t": TOOLBAR_PX}},
                        margin={"t": top + grow})
    if figure.layout.height is not None:
        moved.update_layout(height=figure.layout.height + grow)
    return moved


def figure_html(figure: go.Figure, title: str) -> str:
    """The figure as one offline HTML page, drawn with plotly's own template: importing Streamlit makes its
    "streamlit" template the default, whose placeholder colours (#000001, ...) only the app's page replaces and
    which lacks the axis automargin that the figures' narrow margins rely on."""
    body = go.Figure(figure).update_layout(template=OFFLINE_TEMPLATE).to_html(include_plotlyjs=True, full_html=False)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body>{body}</body></html>"
    )


def html_button(figure: go.Figure, name: str, key: str) -> None:
    """A download button whose HTML is built only when clicked (plotly.js alone is ~4 MB: sending it with
    every figure would break the page's size budget)."""
    st.download_button(
        "Download HTML",
        data=lambda: figure_html(figure, name),
        file_name=f"{name}.html",
        mime="text/html",
        key=key,
        on_click="ignore",
        icon=":material/download:",
        type="tertiary",
    )


def charts(prefix: str, image_format: str, html_download: bool = True) -> Callable[..., Any]:
    """A page's chart drawer: `chart(figure, name, **plotly_chart_options)` draws `figure` full width under key
    "{prefix}_{name}", its camera button saving "{page}-{name}".png or .svg (the page: the prefix up to its first
    "_"), with an HTML download ("{prefix}_{name}_html") of the same name unless html_download is False; it returns
    st.plotly_chart's selection (when on_select is given)."""
    page = prefix.split("_", 1)[0]

    def chart(figure: go.Figure, name: str, **options: Any) -> Any:
        key, file = f"{prefix}_{name}", f"{page}-{name}"  # grid.html, head.html: files of two pages overwrote
        event = st.plotly_chart(clear_of_toolbar(figure), width="stretch", key=key,
                                config=image_config(file, image_format), **options)
        if html_download:
            html_button(figure, file, key=f"{key}_html")
        return event

    return chart


def clicked_pair(event: Any) -> tuple[Any, Any] | None:
    """The pair a click on a figure picked (a head's layer and head, a confusion cell's true and predicted label):
    the customdata of the first selected point that carries one; None when nothing is selected. `event`: what
    st.plotly_chart(on_select=...) returned, or its widget state."""
    selection = (getattr(event, "selection", None) or {}) if event else {}
    for point in selection.get("points", []):
        custom = point.get("customdata")
        if isinstance(custom, dict):  # plotly hands a typed-array row over as {"0": first, "1": second}
            custom = [custom.get("0"), custom.get("1")]
        if isinstance(custom, list | tuple) and len(custom) == 2 and None not in custom:
            return custom[0], custom[1]
    return None
