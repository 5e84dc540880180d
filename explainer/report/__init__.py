"""The stakeholder report: one self-contained HTML file of the chosen views for one model and text, which opens
offline with no server (`python -m explainer report`, and "Download report" in the app's sidebar).

    building.py  build_report(bundle, text, pages=...): runs the model once (and the chosen attribution method),
                 builds each page's figures with the view functions, and renders them (views/report.py)
    linking.py   the "Live view" link: the model name it may carry (never a folder's path: such a link is left
                 out, and the file says why); for the command line, the page and options that reopen the report
    options.py   PAGES, DEFAULT_PAGES, DEFAULT_METHOD (light: no torch)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from explainer.lazy import lazy_names

# Loaded on first use, so that reading the pages (the command line's --help) imports no torch.
_PUBLIC = {
    "DEFAULT_METHOD": "options",
    "DEFAULT_PAGES": "options",
    "PAGES": "options",
    "ReportError": "options",
    "build_report": "building",
    "card_summary": "building",
}
__all__ = ["DEFAULT_METHOD", "DEFAULT_PAGES", "PAGES", "ReportError", "build_report", "card_summary"]

if TYPE_CHECKING:
    from explainer.report.building import build_report, card_summary
    from explainer.report.options import DEFAULT_METHOD, DEFAULT_PAGES, PAGES, ReportError


__getattr__ = lazy_names(__name__, _PUBLIC, globals())
