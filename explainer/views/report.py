"""The stakeholder report as one self-contained HTML file: pure rendering of sections already computed (no model,
no torch). plotly.js is inlined once; no CDN, no external font or stylesheet, so the file opens offline with no
server. Every piece of user text (the input, token labels, model name, options) is escaped here or by plotly."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from explainer.views.text import REPORT_TITLE, clipped

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #1f2430; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
.meta { color: #555; } .input-text { white-space: pre-wrap; background: #f6f7f9; padding: .8rem; border-radius: 6px; }
table.options td { padding: .1rem .8rem .1rem 0; vertical-align: top; } .caption { color: #555; font-size: .92rem; }
.note { background: #fff8e1; padding: .5rem .8rem; border-radius: 6px; } .card { background: #f3f6fb;
        padding: .6rem .9rem; border-radius: 6px; } a { overflow-wrap: anywhere; }
"""


@dataclass(frozen=True)
class Section:
    """One view in the report: a title, what it shows, its figures (and HTML made by a view, already escaped)."""

    key: str  # the page it comes from: overview, attention, attribution, markers, beacons
    title: str
    caption: str
    figures: tuple[go.Figure, ...] = ()
    html_parts: tuple[str, ...] = ()  # safe HTML from a view function (e.g. the highlighted text); not user text
    note: str = ""  # why the section is empty or shortened (plain text)


@dataclass(frozen=True)
class ReportMeta:
    model: str
    text: str
    prediction: str  # e.g. "positive (93.1%)", a right-to-left label set apart (views.text.isolated)
    probabilities: Mapping[str, float]
    options: Mapping[str, str] = field(default_factory=dict)
    card_summary: str = ""  # plain text from the model card
    link: str = ""  # the URL that reopens the live view
    link_note: str = ""  # said after the link, or in its place when there is none (plain text)
    created: str = ""


OFFLINE_TEMPLATE = "plotly"  # for figures in files that open without the app (report, HTML export)


def _figure_html(figure: go.Figure, index: int) -> str:
    # A figure takes the process's default template when made; inside the app that is Streamlit's, whose tight
    # margins rely on Streamlit's own front end (a report built from the sidebar lost its axis labels). The file has
    # no such front end, so it draws every figure with plotly's own template, as the CLI's report does.
    figure = go.Figure(figure).update_layout(template=OFFLINE_TEMPLATE)
    # plotly escapes "</" inside its JSON, so a token like "</script>" cannot end the script early.
    return pio.to_html(figure, full_html=False, include_plotlyjs=False, div_id=f"figure-{index}",
                       config={"displaylogo": False, "responsive": True})


LINK_SHOWN = 160  # characters of the live view's address shown as the link's text


def render_report(meta: ReportMeta, sections: Sequence[Section]) -> str:
    """The whole report as one HTML document (UTF-8)."""
    e = html.escape
    # each label set apart (<bdi>): a right-to-left one took the number after it into its direction ("%4.38")
    probabilities = ", ".join(f"<bdi>{e(label)}</bdi> {p:.1%}" for label, p in meta.probabilities.items())
    options = "".join(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in meta.options.items())
    note = e(meta.link_note)
    # The address in full behind the link, cut where shown: a 10,000-character text made a 10 KB wall of a link
    link = (f'<p>Live view: <a href="{e(meta.link, quote=True)}">{e(clipped(meta.link, LINK_SHOWN))}</a> '
            f"(opens while the app is running){'. ' + note if note else ''}</p>") if meta.link else (
        f"<p>{note}</p>" if note else "")
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{REPORT_TITLE}: {e(meta.model)}</title>", f"<style>{STYLE}</style>",
        # Inlined once for every figure below: the file needs no network to render (none drawn: 4.8 MB spared).
        f'<script type="text/javascript">{get_plotlyjs()}</script>' if any(s.figures for s in sections) else "",
        "</head><body>",
        f"<h1>{REPORT_TITLE}</h1>",
        f'<p class="meta">Model <b>{e(meta.model)}</b>' + (f" · {e(meta.created)}" if meta.created else "") + "</p>",
    ]
    if meta.card_summary:
        parts.append(f'<div class="card"><b>Model card</b><br>{e(meta.card_summary)}</div>')
    parts += [
        "<h2>Input and prediction</h2>", f'<div class="input-text">{e(meta.text)}</div>',
        f"<p>Prediction: <b>{e(meta.prediction)}</b> ({probabilities})</p>",
    ]
    if options:
        parts.append(f'<p>Options used:</p><table class="options">{options}</table>')
    parts.append(link)
    index = 0
    for section in sections:
        parts.append(f'<h2 id="{e(section.key, quote=True)}">{e(section.title)}</h2>')
        if section.caption:  # a section that is only a note ("has no thought markers") has none
            parts.append(f'<p class="caption">{e(section.caption)}</p>')
        if section.note:
            parts.append(f'<p class="note">{e(section.note)}</p>')
        parts += list(section.html_parts)
        for figure in section.figures:
            parts.append(_figure_html(figure, index))
            index += 1
    parts.append("</body></html>")
    return "\n".join(parts)
