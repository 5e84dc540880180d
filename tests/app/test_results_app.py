"""The Errors, Compare, data-set map, Markers and Beacons pages open a results folder (written by the scale-out
engine) and show it without running the model; another model's results, or a run the page cannot show, get a clear
message."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from explainer import load_model
from explainer.data.challenge import DEFAULT_PATH
from explainer.evaluation.error_report import analyse, load_labelled
from explainer.loading import shipped
from explainer.scale.engine import run_job
from explainer.scale.inputs import resolve_inputs
from explainer.scale.work import JobOptions
from explainer.ui.labelled import RESULTS, SOURCES
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def scratch_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path_factory.getbasetemp() / "results-app-cache"))


def written_runs(root, rows: int, jobs: list[JobOptions]):
    """The first `rows` challenge-set rows as root/part.csv, and each job run on them locally into root/<its kind>
    by the default model; (the model, the rows as the pages read them)."""
    frame = pd.read_csv(DEFAULT_PATH, sep=None, engine="python").head(rows)
    data_file = root / "part.csv"
    frame.to_csv(data_file, index=False)
    bundle = load_model(device="cpu")
    for job in jobs:
        run_job(bundle, resolve_inputs(data_file), job, root / job.kind)
    return bundle, load_labelled(bundle, data_file)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """An evaluate run and a map run of the default model over 60 challenge-set rows, written locally."""
    root = tmp_path_factory.mktemp("results")
    bundle, data = written_runs(root, 60, [JobOptions("evaluate"), JobOptions("map")])
    return root, analyse(bundle, data)


@pytest.fixture
def no_model_pass(monkeypatch):
    """Any prediction, embedding, dictionary or sweep pass fails the test: the pages must read the results folder."""
    import explainer.dataset_map.embeddings as embeddings
    import explainer.evaluation.prediction_cache as prediction_cache
    import explainer.thought_beacon.beacons as beacons
    import explainer.thought_beacon.marker_dictionary as md

    def fail(*args, **kwargs):  # an AssertionError reaches app.exception; pytest.fail's BaseException ended the
        raise AssertionError("the model ran on a results folder")  # script thread unseen (the page just stopped)

    for module, name in ((prediction_cache, "predict"), (embeddings, "predict"), (md, "build_dictionary"),
                         (beacons, "sweep")):
        monkeypatch.setattr(module, name, fail)


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


def test_compare_notices_model_b_s_results_folder_changed(folders, tmp_path):
    """B's folder was known by its path alone: run again (or removed) in place, the old comparison stayed."""
    import shutil

    root, _ = folders
    folder_b = shutil.copytree(root / "evaluate", tmp_path / "b")
    app = open_page("app_pages/compare.py", {"on": "A data set", "results": str(root / "evaluate"),
                                             "model_b": shipped.default_model_name(), "results_b": str(folder_b)})
    assert not app.error, [e.value for e in app.error]
    assert sum(int(metric(app, name)) for name in ("Both right", "Only A right", "Only B right", "Both wrong")) == 60
    shutil.rmtree(folder_b)
    app.run()
    assert any("not a results folder" in e.value or "no such" in e.value.lower() for e in app.error), \
        [e.value for e in app.error]



@pytest.fixture(scope="module")
def thought_beacon_folders(tmp_path_factory):
    """A markers run (built without the forced effect, as `markers --no-forced-effect` does) and a tau sweep of
    the default model over 16 challenge-set rows, written locally; and what the local builds give on those rows."""
    from dataclasses import asdict

    from explainer.thought_beacon.beacons import sweep, sweep_taus
    from explainer.thought_beacon.marker_dictionary import DictionaryOptions, build_dictionary

    root = tmp_path_factory.mktemp("tb-results")
    data_file = root / "part.csv"
    pd.read_csv(DEFAULT_PATH, sep=None, engine="python").head(16).to_csv(data_file, index=False)
    bundle = load_model(device="cpu")
    inputs = resolve_inputs(data_file)
    options = DictionaryOptions(forced_effect=False)
    run_job(bundle, inputs, JobOptions("markers", dictionary=asdict(options)), root / "markers")
    # the same input with other options: its own dictionary (both were cached under one key, the page's defaults)
    small = DictionaryOptions(top_tokens=1, examples=1, forced_effect=False)
    run_job(bundle, inputs, JobOptions("markers", dictionary=asdict(small)), root / "markers-small")
    taus = tuple(sweep_taus(float(bundle.model.config.beacon_threshold)))
    run_job(bundle, inputs, JobOptions("sweep", taus=taus), root / "sweep")
    coarse = tuple(sweep_taus(float(bundle.model.config.beacon_threshold), (0.0, 0.5)))  # as the CLI makes one
    run_job(bundle, inputs, JobOptions("sweep", taus=coarse), root / "sweep-coarse")
    data = load_labelled(bundle, data_file)
    return (root, {"markers": build_dictionary(bundle, data.texts, options),
                   "markers-small": build_dictionary(bundle, data.texts, small)},
            sweep(bundle, data.texts, data.labels))


def test_markers_page_shows_a_markers_run_without_the_model(thought_beacon_folders, no_model_pass,
                                                           monkeypatch):
    """The Markers and Beacons pages offered no results folder: a dictionary or a sweep run with --out (or on
    Ray) could not be seen in the app without building it again."""
    from explainer.thought_beacon.marker_dictionary import to_frame

    root, expected, _ = thought_beacon_folders

    def shown_is(app: AppTest, folder: str) -> None:
        shown = next(d.value for d in app.dataframe if "direct_effect_negative" in d.value.columns)
        local = to_frame(expected[folder]).round(4)
        assert list(shown.columns) == list(local.columns) and len(shown) == len(local)
        numbers = local.select_dtypes("number").columns
        assert (shown[numbers] - local[numbers]).abs().max().max() <= 2e-4
        assert list(shown["top_tokens"]) == list(local["top_tokens"]), folder  # its options, not another's

    small = open_page("app_pages/markers.py", {"results": str(root / "markers-small")})
    app = open_page("app_pages/markers.py", {"results": str(root / "markers")})  # another session, same input
    assert app.radio(key="markers_data_source").value == RESULTS
    assert not app.error, [e.value for e in app.error]
    shown_is(app, "markers")
    small.selectbox(key="markers_effect_label").set_value("positive").run()
    shown_is(small, "markers-small")
    # built without the forced effect: the direct effect is drawn (the forced one was a crash on None)
    assert any("Direct effect on the" in chart.proto.spec for chart in app.get("plotly_chart"))
    assert any("built without the forced effect" in c.value for c in app.caption)  # the intro promises one
    assert app.query_params["results"] in (str(root / "markers"), [str(root / "markers")])  # travels in the link
    # read once: another choice on the page does not read the folder and merge its dictionary again
    import explainer.scale.results as results_module

    calls = []
    seed = results_module.seed_caches
    monkeypatch.setattr(results_module, "seed_caches", lambda *args: calls.append(args) or seed(*args))
    app.selectbox(key="markers_effect_label").set_value("positive").run()
    assert not app.exception and calls == []
    # a sweep folder is refused here, with the command that writes a markers one
    app.text_input(key="markers_data_results").set_value(str(root / "sweep")).run()
    assert any("holds a sweep run; this page shows markers runs (python -m explainer markers" in e.value
               for e in app.error)


def test_beacons_page_shows_a_sweep_run_without_the_model(thought_beacon_folders, no_model_pass):
    root, _, expected = thought_beacon_folders
    app = open_page("app_pages/beacons.py", {"results": str(root / "sweep")})
    assert app.radio(key="beacons_data_source").value == RESULTS
    assert not app.error, [e.value for e in app.error]
    shown = next(d.value for d in app.dataframe if "tau" in d.value.columns)
    local = pd.DataFrame(expected["points"]).round(4)
    assert list(shown["tau"]) == list(local["tau"]) and list(shown.columns) == list(local.columns)
    assert (shown - local).abs().max().max() <= 1e-4
    # a run over another grid is shown over its own taus (it was looked up under the default grid: "Not run yet")
    app.text_input(key="beacons_data_results").set_value(str(root / "sweep-coarse")).run()
    coarse = next(d.value for d in app.dataframe if "tau" in d.value.columns)
    model_tau = round(float(load_model(device="cpu").model.config.beacon_threshold), 6)
    assert list(coarse["tau"]) == sorted({0.0, 0.5, model_tau})
    local = local.set_index("tau").loc[list(coarse["tau"])].reset_index()
    assert list(coarse.columns) == list(local.columns) and (coarse - local).abs().max().max() <= 1e-4


def test_a_linked_results_folder_seeds_only_the_pages_that_show_its_kind_of_run(folders):
    """The opening link seeds every page's first visit: a link to a markers run (or here an evaluate run) opened
    every other data page on "holds an evaluate run; this page shows map runs" (a browser walk)."""
    root, _ = folders
    app = open_page("app_pages/errors.py", {"results": str(root / "evaluate")})
    assert app.radio(key="errors_source").value == RESULTS
    app.switch_page("app_pages/map.py").run()  # a map page shows map runs only: the challenge set, no error
    assert not app.exception and app.radio(key="map_source").value == SOURCES[0] and not app.error
    app.switch_page("app_pages/beacons.py").run()
    assert not app.exception and not any("this page shows" in e.value for e in app.error)
    mapped = open_page("app_pages/map.py", {"results": str(root / "map")})  # a map run: both pages show it
    assert mapped.radio(key="map_source").value == RESULTS
    mapped.switch_page("app_pages/errors.py").run()
    assert mapped.radio(key="errors_source").value == RESULTS and not mapped.error


@pytest.fixture(scope="module")
def tau_folders(tmp_path_factory):
    """An evaluate and a map run of the default model at tau 0.5 (not its own), and what the library says there."""
    root = tmp_path_factory.mktemp("tau-results")
    bundle, data = written_runs(root, 40, [JobOptions("evaluate", beacon_threshold=0.5),
                                           JobOptions("map", beacon_threshold=0.5), JobOptions("markers")])
    return root, analyse(bundle, data, beacon_threshold=0.5), analyse(bundle, data)


def test_a_folder_run_at_another_tau_is_shown_at_that_tau_without_the_model(tau_folders, no_model_pass):
    """The pages looked its predictions up under the model's own tau, missed, ran the model again and showed numbers
    of the model's tau under the folder's name (a folder of `evaluate --beacon-threshold 0.5`)."""
    root, at_folder_tau, at_own_tau = tau_folders
    assert at_folder_tau.calibration.ece != at_own_tau.calibration.ece  # the two taus tell apart here
    errors = open_page("app_pages/errors.py", {"results": str(root / "evaluate")})
    assert metric(errors, "Calibration error (ECE)") == f"{at_folder_tau.calibration.ece:.3f}"
    assert any("at the folder's tau 0.5" in c.value for c in errors.caption)
    compare = open_page("app_pages/compare.py", {"on": "A data set", "results": str(root / "evaluate"),
                                                 "model_b": shipped.default_model_name(),
                                                 "results_b": str(root / "evaluate")})
    assert not compare.error, [e.value for e in compare.error]
    assert sum(int(m.value.replace(",", "")) for m in compare.metric) == 40  # the four counts: every row shown
    ece = f"ECE **{at_folder_tau.calibration.ece:.3f}**, at its folder's tau 0.5"
    assert sum(ece in m.value for m in compare.markdown) == 2, [m.value for m in compare.markdown]
    mapped = open_page("app_pages/map.py", {"results": str(root / "map")})
    assert not mapped.error, [e.value for e in mapped.error]
    assert any("40 examples" in c.value and "at the folder's tau 0.5" in c.value for c in mapped.caption)


def test_model_b_s_folder_must_hold_predictions(tau_folders):
    """A markers run (or a sweep) as model B's folder was taken, and B ran in silence."""
    root, _, _ = tau_folders
    app = open_page("app_pages/compare.py", {"on": "A data set", "results": str(root / "evaluate"),
                                             "model_b": shipped.default_model_name(),
                                             "results_b": str(root / "markers")})
    assert any("holds a markers run; model B's folder must hold predictions" in e.value for e in app.error)


def test_the_map_page_points_to_runs_it_opens(tau_folders, tmp_path):
    """Map said an `evaluate` folder would do, in its caption and in the refusal of a local map's files, and then
    refused one: a dead end."""
    root, _, _ = tau_folders
    app = open_page("app_pages/map.py", {"results": str(root / "map")})
    app.text_input(key="map_results").set_value(str(root / "evaluate")).run()
    assert any("holds an evaluate run; this page shows map runs" in e.value for e in app.error)
    assert any(c.value.startswith("The --out folder of `map` (on Ray, or on a folder or glob of files): shown")
               for c in app.caption)
    (tmp_path / "points.parquet").write_bytes(b"")  # what a local map on one file leaves: no manifest
    app.text_input(key="map_results").set_value(str(tmp_path)).run()
    said = " ".join(e.value for e in app.error)
    assert "put the file in a folder and give that folder as --data" in said, said
    errors = open_page("app_pages/errors.py", {"results": str(root / "evaluate")})
    assert any("`python -m explainer evaluate` (either engine) or `map` (on Ray" in c.value for c in errors.caption)
