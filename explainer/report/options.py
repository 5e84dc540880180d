"""The report's pages, defaults and the check of a page list. Light on import (no torch): `python -m explainer report`
lists and checks pages without loading a model; the package re-exports them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from explainer.views.text import REPORT_TITLE

PAGES = ("overview", "attention", "attribution", "markers", "beacons")
DEFAULT_PAGES = ("overview", "attention", "attribution", "markers")
DEFAULT_METHOD = "integrated_gradients"


def is_report(path: Path) -> bool:
    """Whether `path` is empty or a report this tool wrote (the app's download or the CLI's): safe to replace. A
    user's notes.txt given as --out was replaced in silence; one that cannot be read is not known to be either."""
    try:
        with path.open("rb") as file:
            head = file.read(4096)
    except OSError:
        return False  # unreadable: not known to be a report (the rename that replaces it needs no read permission)
    return not head or f"<title>{REPORT_TITLE}".encode() in head


class ReportError(ValueError):
    """A report option that cannot be honoured (an unknown page or method); the message lists the known ones."""


def check_pages(pages: Sequence[str] | str) -> tuple[str, ...]:
    """`pages` once each, in order; ReportError for an unknown page or none. A string is the CLI's comma-separated
    list ("overview" was read letter by letter: "Unknown report page(s) ['o', 'v', ...]")."""
    if isinstance(pages, str):
        pages = [page.strip() for page in pages.split(",") if page.strip()]
    unknown = [p for p in pages if p not in PAGES]
    if unknown or not pages:
        raise ReportError(f"Unknown report page(s) {unknown}; choose from {', '.join(PAGES)}" if unknown
                          else f"Name at least one page: {', '.join(PAGES)}")
    return tuple(dict.fromkeys(pages))
