"""Import every heavy module once, under one lock, before any page runs.

Streamlit runs each session's script in its own thread. On a fresh server, eight first visits at once imported
pandas, plotly and torch in parallel threads, and plotly (which looks pandas up in sys.modules) found a half
imported pandas: `AttributeError: partially initialized module 'pandas' has no attribute 'Series'`. app.py calls
`warm()` first thing on every run; the first caller imports everything the pages import while the others wait.
"""

from __future__ import annotations

import ast
import importlib
import threading
from pathlib import Path

_LOCK = threading.Lock()
_warm = False

# Imported lazily by libraries (plotly finds pandas through sys.modules, Streamlit's tables use pyarrow), so the
# pages' own import lines do not name them all.
LIBRARIES = (
    "numpy", "pandas", "pyarrow", "plotly.graph_objects", "plotly.io", "plotly.express", "torch", "transformers",
    "captum.attr", "explainer.ui.caches", "explainer.ui.session", "explainer.ui.labelled",
)


def page_imports(page_files: list[Path]) -> list[str]:
    """The top-level modules every page file imports (`from x import y` gives x, and x.y when that is a module)."""
    names: list[str] = []
    for path in page_files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.append(node.module)
                names += [f"{node.module}.{alias.name}" for alias in node.names]
    return list(dict.fromkeys(names))


def warm() -> None:
    """Import the libraries and every module the pages import, once per process; concurrent callers wait."""
    global _warm
    if _warm:
        return
    with _LOCK:
        if _warm:
            return
        from explainer.ui import navigation

        pages = [navigation.ROOT / page.path for page in navigation.PAGES if (navigation.ROOT / page.path).is_file()]
        for name in (*LIBRARIES, *page_imports(pages)):
            try:
                importlib.import_module(name)
            except ImportError:
                continue  # `from x import some_function`: x itself was imported just before
        _warm = True
