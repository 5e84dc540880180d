"""The HTML export of a figure stands on its own: plotly.js inlined, plotly's template, user text escaped."""

from __future__ import annotations

import json
import re

import plotly.graph_objects as go
import streamlit  # noqa: F401  (as in the app: importing it makes its "streamlit" template plotly's default)

from explainer.ui.export import figure_html


def _layout(page: str) -> dict:
    """The layout JSON that plotly's newPlot call in `page` carries."""
    call = page[page.index("Plotly.newPlot("):]
    decoder = json.JSONDecoder()
    rest = call[call.index("[") :]
    _, end = decoder.raw_decode(rest)  # the data array
    layout, _ = decoder.raw_decode(rest[end:].lstrip(", "))
    return layout


def test_exported_html_uses_plotlys_template_not_streamlits_placeholders():
    figure = go.Figure([go.Scatter(y=[1, 2], name="a"), go.Scatter(y=[2, 1], name="b")])
    page = figure_html(figure, 'The <b>"title"</b>')
    layout = _layout(page)
    template = layout["template"]["layout"]
    assert not any(re.fullmatch(r"#00000\d", color) for color in template["colorway"])  # real colours
    assert template["xaxis"]["automargin"] is True and template["yaxis"]["automargin"] is True
    assert "<title>The &lt;b&gt;&quot;title&quot;&lt;/b&gt;</title>" in page
    assert "cdn" not in page.lower().split("<body>")[0]  # plotly.js inline, no CDN script
    assert figure.layout.template.layout.colorway[0] == "#000001"  # the app's own figure is left as it was


def test_a_titled_chart_puts_its_title_below_the_toolbar_band_and_keeps_its_plot_size():
    """plotly's toolbar, drawn on hover, covered the end of long titles in narrow columns: the reliability chart's
    "expected calibration error 0.031" (a browser walk)."""
    import plotly.graph_objects as go

    from explainer.ui.export import TOOLBAR_PX, clear_of_toolbar

    built = go.Figure(go.Scatter(y=[1, 2]), layout={"title": "Reliability (expected calibration error 0.031)",
                                                    "height": 380, "margin": {"t": 40}})
    shown = clear_of_toolbar(built)
    assert shown.layout.title.yref == "container" and shown.layout.title.pad.t == TOOLBAR_PX
    grown = shown.layout.margin.t - 40
    assert grown > 0 and shown.layout.height == 380 + grown  # the plot area keeps its height
    assert built.layout.title.yref is None and built.layout.height == 380  # the cached figure is left as built
    assert clear_of_toolbar(shown) is shown  # moved once
    untitled = go.Figure(go.Scatter(y=[1]))
    assert clear_of_toolbar(untitled) is untitled
