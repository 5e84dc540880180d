"""The Errors, Compare and data-set map pages open a results folder (written by the scale-out engine) and show
it without running the model; another model's results, or a run the page cannot show, get a clear message."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from explainer import load_model
from explainer.data.challenge import DEFAULT_PATH
from explainer.evaluation.error_report import analyse, load_labelled
from explainer.scale.engine import run_job
from explainer.scale.inputs import resolve_inputs
from explainer.scale.work import JobOptions
from explainer.ui.labelled import RESULTS
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def scratch_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path_factory.getbasetemp() / "results-app-cache"))


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """An evaluate run and a map run of the default model over 60 challenge-set rows, written locally."""
    root = tmp_path_factory.mktemp("results")
    frame = pd.read_csv(DEFAULT_PATH, sep=None, engine="python").head(60)
    data_file = root / "part.csv"
    frame.to_csv(data_file, index=False)
    bundle = load_model(device="cpu")
    for kind in ("evaluate", "map"):
        run_job(bundle, resolve_inputs(data_file), JobOptions(kind), root / kind)
    return root, analyse(bundle, load_labelled(bundle, data_file))


@pytest.fixture
def no_model_pass(monkeypatch):
    """Any prediction or embedding pass fails the test: the pages must read the results folder."""
    import explainer.dataset_map.embeddings as embeddings
    import explainer.evaluation.prediction_cache as prediction_cache

    def fail(*args, **kwargs):
        pytest.fail("the model ran on a results folder")

    monkeypatch.setattr(prediction_cache, "predict", fail)
    monkeypatch.setattr(embeddings, "predict", fail)


def open_page(page: str, query: dict[str, str]) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    for key, value in query.items():
        app.query_params[key] = value
    app.run()
    app.switch_page(page).run()
    assert not app.exception, app.exception
    return app


def metric(app: AppTest, label: str) -> str:
    return next(m.value for m in app.metric if m.label == label)


def test_errors_page_shows_an_evaluate_run_without_the_model(folders, no_model_pass):
    root, expected = folders
    app = open_page("app_pages/errors.py", {"results": str(root / "evaluate")})
    assert app.radio(key="errors_source").value == RESULTS
    assert not app.error, [e.value for e in app.error]
    assert metric(app, "Accuracy") == f"{expected.metrics['accuracy']:.1%}"
    assert metric(app, "Calibration error (ECE)") == f"{expected.calibration.ece:.3f}"
    assert metric(app, "Misclassified") == f"{int((~expected.frame['correct']).sum()):,}"
    assert any("results of" in c.value for c in app.caption)


def test_map_page_shows_a_map_run_and_refuses_an_evaluate_run(folders, no_model_pass):
    root, _ = folders
    app = open_page("app_pages/map.py", {"results": str(root / "map")})
    assert not app.error, [e.value for e in app.error]
    assert any("60 examples" in c.value for c in app.caption)
    app.text_input(key="map_results").set_value(str(root / "evaluate")).run()
    assert any("holds an evaluate run; this page shows map runs" in e.value for e in app.error)


def test_another_models_results_are_refused(folders):
    root, _ = folders
    app = open_page("app_pages/errors.py", {"results": str(root / "evaluate"), "model": "sst2-baseline"})
    message = " ".join(e.value for e in app.error)
    assert "not of the chosen model" in message and "sst2-baseline" in message
    app.text_input(key="errors_results").set_value(str(root)).run()
    assert any("not a results folder" in e.value for e in app.error)


def test_compare_page_takes_model_a_from_a_results_folder(folders):
    root, expected = folders
    app = open_page("app_pages/compare.py", {"on": "A data set", "results": str(root / "evaluate")})
    assert app.radio(key="compare_source").value == RESULTS
    assert not app.error, [e.value for e in app.error]
    counts = [int(metric(app, name)) for name in ("Both right", "Only A right", "Only B right", "Both wrong")]
    assert sum(counts) == 60
    # B's own folder travels in the link too, so that a shared link reads it instead of running B
    app.text_input(key="compare_results_b").set_value(str(root / "evaluate")).run()
    assert app.query_params["results_b"] in (str(root / "evaluate"), [str(root / "evaluate")])
    again = open_page("app_pages/compare.py", {"on": "A data set", "results": str(root / "evaluate"),
                                               "results_b": str(root / "evaluate")})
    assert again.text_input(key="compare_results_b").value == str(root / "evaluate")
