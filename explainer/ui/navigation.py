"""The one list of the app's pages: app.py builds the navigation from it, and tables that open an example in
another view (Errors, Compare) find that view's file here.

Pages live in app_pages/, not pages/: with a folder named pages/ beside app.py, Streamlit 1.67 runs the first
script run after the server starts in its v1 multipage mode, so the sidebar's widgets get new ids on the next run
and the first model or text change is lost (tests/browser/test_sidebar.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDER = "app_pages"
MARKERS_TITLE = "Thought markers"  # the per-example view only a model with thought markers can show


@dataclass(frozen=True)
class PageEntry:
    file: str  # under app_pages/
    title: str
    icon: str
    url_path: str | None = None  # None: the default page, at the root
    opens_examples: bool = False  # offered when a table row opens an example in another view
    alias: str | None = None  # the default page's name as an address too (/overview), a page hidden from the menu

    @property
    def path(self) -> str:
        return f"{FOLDER}/{self.file}"


PAGES: tuple[PageEntry, ...] = (
    PageEntry("overview.py", "Overview", ":material/search:", alias="overview"),
    PageEntry("attention.py", "Attention", ":material/grid_view:", "attention", opens_examples=True),
    PageEntry("attribution.py", "Attribution", ":material/insights:", "attribution", opens_examples=True),
    PageEntry("whatif.py", "What-if", ":material/edit_note:", "whatif"),
    PageEntry("markers.py", MARKERS_TITLE, ":material/route:", "markers", opens_examples=True),
    PageEntry("beacons.py", "Beacons", ":material/bolt:", "beacons"),
    PageEntry("errors.py", "Errors", ":material/rule:", "errors"),
    PageEntry("map.py", "Data-set map", ":material/scatter_plot:", "map"),
    PageEntry("compare.py", "Compare", ":material/compare:", "compare"),
    PageEntry("causal.py", "Causal", ":material/science:", "causal"),
)


# The default page's own url_path only names it internally (Streamlit keys pages by it and serves the default at
# the root), so it must differ from its alias, which is served as a hidden page of the same file.
DEFAULT_KEY = "home"


def example_views() -> dict[str, str]:
    """{title: page path} of the views an example can be opened in (in the order a picker offers them)."""
    order = ("Attribution", "Attention", MARKERS_TITLE)
    by_title = {page.title: page.path for page in PAGES if page.opens_examples and (ROOT / page.path).is_file()}
    return {title: by_title[title] for title in order if title in by_title}
