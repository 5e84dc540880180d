"""Figure export: PNG or SVG from plotly's own camera button (drawn in the browser, so no server-side
renderer is needed), and a self-contained HTML file (plotly.js inlined from the installed package, never a CDN)."""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go
import streamlit as st


def image_config(name: str, image_format: str) -> dict[str, Any]:
    """st.plotly_chart config: the toolbar's camera button saves `name`.png or .svg."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": image_format, "filename": name, "scale": 2},
    }


def figure_html(figure: go.Figure, title: str) -> str:
    """The figure as one offline HTML page, drawn with plotly's own template: importing Streamlit makes its
    "streamlit" template the default, whose placeholder colours (#000001, ...) only the app's page replaces and
    which lacks the axis automargin that the figures' narrow margins rely on."""
    body = go.Figure(figure).update_layout(template="plotly").to_html(include_plotlyjs=True, full_html=False)
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
