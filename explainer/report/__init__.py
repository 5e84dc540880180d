"""The stakeholder report: one self-contained HTML file of the chosen views for one model and text, which opens
offline with no server (`python -m explainer report`, and "Download report" in the app's sidebar).

    building.py  build_report(bundle, text, pages=...): runs the model once (and the chosen attribution method),
                 builds each page's figures with the view functions, and renders them (views/report.py);
                 live_view(page, link params): the options a live page showed, for the app's "Download report"
"""

from explainer.report.building import (
    DEFAULT_PAGES,
    PAGES,
    LiveView,
    ReportError,
    build_report,
    card_summary,
    live_view,
)

__all__ = ["DEFAULT_PAGES", "PAGES", "LiveView", "ReportError", "build_report", "card_summary", "live_view"]
