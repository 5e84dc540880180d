"""Import every heavy module once, under one lock, before any page runs.

Streamlit runs each session's script in its own thread. On a fresh server, eight first visits at once imported
pandas, plotly and torch in parallel threads, and plotly (which looks pandas up in sys.modules) found a half
imported pandas: `AttributeError: partially initialized module 'pandas' has no attribute 'Series'`. app.py calls
`warm()` first thing on every run; the first caller imports everything the pages import while the others wait.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import importlib
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from explainer.loading.bundle import ModelBundle

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
    """Import the libraries and every module the pages and app.py import, once per process; concurrent callers
    wait."""
    global _warm
    if _warm:
        return
    with _LOCK:
        if _warm:
            return
        from explainer.ui import navigation

        # app.py's own imports too (explainer.ui.history registers its component at import): they run after warm()
        pages = [navigation.ROOT / page.path for page in navigation.PAGES if (navigation.ROOT / page.path).is_file()]
        pages += [navigation.ROOT / "app.py"] if (navigation.ROOT / "app.py").is_file() else []
        for name in (*LIBRARIES, *page_imports(pages)):
            try:
                importlib.import_module(name)
            except ImportError:  # `from x import some_function`: x itself was imported just before
                _read_name(name)
        freeze_long_lived()
        _warm = True


def _read_name(name: str) -> None:
    """Read `x.y` where y is no module: a lazy package (causal, attribution, report) loads y's module now. A page
    whose own imports fail is left to fail alone, when it runs, as before."""
    parent, _, attribute = name.rpartition(".")
    if parent:
        with contextlib.suppress(ImportError):
            getattr(importlib.import_module(parent), attribute, None)


def freeze_long_lived() -> None:
    """Move every object alive now (modules, classes, functions: over half a million after the imports) out of the
    cyclic garbage collector's sight. Streamlit runs a full collection after every script run
    (`runner.postScriptGC`): it took 0.4-0.8 s each time over these objects, holding the GIL, so every session
    waited on every other session's collections. After the freeze a collection sees only newer objects (measured
    under 1 ms). Garbage is collected first, so none is frozen; objects made later are collected as usual."""
    gc.collect()
    gc.freeze()


_CONTEXT_LOGGER = "streamlit.runtime.scriptrunner_utils.script_run_context"
WARM_THREAD = "explainer-warm-start"  # serve.py's thread name


class _WarmStartContextFilter(logging.Filter):
    """Drops Streamlit's "missing ScriptRunContext!" warning for the warm-start thread only: it loads through the
    pages' caches outside any visitor's run, which is expected, and the warning read as a fault in the server's
    console. Every other thread's warning still shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        return threading.current_thread().name != WARM_THREAD or "ScriptRunContext" not in record.getMessage()


_WARM_START_FILTER = _WarmStartContextFilter()


WARMED: set[str] = set()  # model names loaded at server start (the sidebar says they are ready)


def cap_demo_uploads() -> None:
    """At server start (serve.py), in demo mode: Streamlit's upload limit lowered to the config's (ui/demo.py's
    cap_uploads, which every run applies too), before a first visitor's session exists. A config that cannot be
    used takes no uploads at all: every page stops, but the endpoint would still take a file for a live session."""
    from explainer.serving.demo import DemoConfigError, active_demo
    from explainer.ui.demo import cap_uploads

    try:
        demo = active_demo()
    except DemoConfigError:
        cap_uploads(0)
        return
    if demo is not None:
        cap_uploads(demo.limits.max_upload_mb)


def warm_models() -> None:
    """At server start (serve.py): imports, then the default model (in demo mode every configured one) and the
    trace of the default text, through the same caches the pages use. Failures are logged, never raised: a
    model that cannot load says so to the first visitor as usual."""
    import time

    log = logging.getLogger("explainer.warm_start")
    logging.getLogger(_CONTEXT_LOGGER).addFilter(_WARM_START_FILTER)  # once: the same filter is not added twice
    started = time.perf_counter()
    warm()
    from explainer.loading import shipped
    from explainer.serving.demo import active_demo
    from explainer.ui import caches, links

    try:
        demo = active_demo()
    except Exception as error:  # each page says the demo is not configured (the reason: this log); nothing to warm
        log.warning("warm start skipped: %s", error)
        return
    names = [model.target for model in demo.models] if demo is not None else [shipped.default_model_name()]
    for name in names:
        try:
            bundle = caches.get_bundle(name)  # in demo mode, under the name the demo offers it as
            WARMED.add(bundle.name)
            caches.get_trace(bundle.name, links.DEFAULT_TEXT)
        except Exception as error:  # noqa: BLE001  (reported to the visitor on first use instead)
            log.warning("warm start: %s not loaded: %s", name, error)
            continue
        try:
            warm_data(bundle)
        except Exception as error:  # noqa: BLE001  (the Errors and map pages compute it on first use instead)
            log.warning("warm start: the challenge set through %s failed: %s", name, error)
    freeze_long_lived()  # the models and their tokenizers too
    ready = ", ".join(sorted(WARMED)) or "no model"
    log.warning("warm start: %s ready in %.1f s", ready, time.perf_counter() - started)


def warm_data(bundle: ModelBundle, path: Path | None = None) -> None:
    """The challenge set (or `path`) through a warmed model, into the on-disk caches the pages read: the map's
    pass (predictions and every layer's embeddings) and its default projection and neighbours, then the Errors
    page's predictions; and the mean head outputs over the shipped challenge set that the Causal page's default
    (mean) ablation needs, kept in memory per model. The first visitor of those pages then reads them instead of
    waiting for the pass."""
    from explainer.causal.ablation import reference_means
    from explainer.data.challenge import DEFAULT_PATH
    from explainer.dataset_map.maps import MapOptions, build_map
    from explainer.evaluation.error_report import analyse, load_labelled

    data = load_labelled(bundle, path or DEFAULT_PATH)
    build_map(bundle, data, MapOptions())
    analyse(bundle, data)
    reference_means(bundle)
