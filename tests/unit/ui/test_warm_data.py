"""Warm start, data part: the challenge set (here a small file) runs through a warmed model into the on-disk caches
the Errors and map pages read, and the Causal page's mean head outputs into memory, so their first visitor reads
instead of waiting for the pass."""

from __future__ import annotations

import csv

from explainer.causal import ablation
from explainer.causal.ablation import reference_texts
from explainer.dataset_map.maps import MapOptions, build_map
from explainer.evaluation.error_report import analyse, load_labelled
from explainer.evaluation.prediction_cache import load_cached
from explainer.loading.bundle import load_model
from explainer.ui import startup


def test_warm_data_fills_the_caches_the_map_and_errors_pages_read(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    bundle = load_model(checkpoint("bert"), device="cpu")
    path = tmp_path / "set.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "label"])
        for i in range(24):
            writer.writerow([f"example {i}: the film was {('dull', 'warm')[i % 2]} and {i} minutes long",
                             bundle.label_names[i % 2]])
    data = load_labelled(bundle, path)
    assert load_cached(bundle, data) is None  # nothing cached before the warm start
    startup.warm_data(bundle, path)
    assert load_cached(bundle, data) is not None
    assert build_map(bundle, data, MapOptions()).cached  # the map page's default options
    assert analyse(bundle, data).cached  # the Errors page
    assert reference_texts(None) in ablation._MEANS[bundle.model]  # the Causal page's mean ablation


def test_the_warm_start_thread_does_not_log_streamlits_missing_context_warning_but_others_still_do():
    import logging
    import threading

    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    class Kept(logging.Handler):  # Streamlit's loggers do not propagate, so pytest's caplog does not see them
        def __init__(self):
            super().__init__(logging.WARNING)
            self.messages: list[str] = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    logger = logging.getLogger(startup._CONTEXT_LOGGER)
    logger.addFilter(startup._WARM_START_FILTER)
    kept = Kept()
    logger.addHandler(kept)
    try:
        for name in (startup.WARM_THREAD, "another-thread"):
            thread = threading.Thread(target=get_script_run_ctx, name=name)
            thread.start()
            thread.join()
    finally:
        logger.removeHandler(kept)
    warned = [message for message in kept.messages if "ScriptRunContext" in message]
    assert len(warned) == 1 and "another-thread" in warned[0]


def test_warm_imports_what_the_pages_name_through_lazy_packages():
    """The packages behind the pages' `from explainer.causal import ...` load their modules on first use; warm()
    must leave none of the heavy ones to the first visitors' parallel script threads (it imports what the ui
    modules import and reads every name a page or app.py imports). A fresh process, so sys.modules starts clean."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    script = (
        "import sys\nfrom explainer.ui import startup\nstartup.warm()\n"
        "print(' '.join(m for m in ('explainer.causal.patching', 'explainer.causal.ablation', "
        "'explainer.attribution.attributing', 'explainer.report.building', 'explainer.ui.history') "
        "if m not in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "", f"not imported by warm(): {done.stdout}"


def test_warm_leaves_a_page_whose_imports_fail_to_fail_alone():
    """_read_name loads a lazy package's name's module and lets a broken import pass (that page fails alone, when
    it runs). A fresh process: this file's own imports have loaded explainer.causal's modules already."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    script = (
        "import sys\nfrom explainer.ui import startup\n"
        "before = 'explainer.causal.results' in sys.modules\n"
        "startup._read_name('no_such_package_here.some_name')\n"  # a broken import
        "startup._read_name('no_such_top_level_module')\n"  # no parent to read from
        "startup._read_name('explainer.causal.MODES')\n"  # a lazy package's name: its module loads
        "print(before, 'explainer.causal.results' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "True"]
