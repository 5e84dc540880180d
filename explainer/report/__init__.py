"""The stakeholder report: one self-contained HTML file of the chosen views for one model and text, which opens
offline with no server (`python -m explainer report`, and "Download report" in the app's sidebar).

    building.py  build_report(bundle, text, pages=...): runs the model once (and the chosen attribution method),
                 builds each page's figures with the view functions, and renders them (views/report.py)
"""

from explainer.report.building import DEFAULT_METHOD, DEFAULT_PAGES, PAGES, ReportError, build_report, card_summary

__all__ = ["DEFAULT_METHOD", "DEFAULT_PAGES", "PAGES", "ReportError", "build_report", "card_summary"]
