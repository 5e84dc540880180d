"""Choices drawn after a page's progressive stop survive a run that stopped before them. In a browser a new text or
model first runs a page up to its first figure and stops; the session keeps the values of the widgets that run did
not draw, but the browser mounts them anew at their defaults unless the next run sends the values (`set_value`).
The Errors page's "Selecting a row opens it in" radio came back at Attribution, and the Beacons and Markers data
set at the challenge set while the page still showed the chosen file. AppTest runs no JavaScript (it keeps what it
drew): the browser is simulated as in tests/unit/ui/test_progressive.py, and what a run sends is read from the
element."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from explainer.data.challenge import DEFAULT_PATH
from explainer.ui import labelled, progressive
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def scratch_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path_factory.getbasetemp() / "kept-choices-app-cache"))


def open_page(page: str, model: str) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    app.query_params["model"] = model
    app.run()
    app.switch_page(page).run()
    assert not app.exception, app.exception
    return app


def draw_the_rest(app: AppTest, monkeypatch) -> None:
    """A run that stops at the first figure (the browser has not drawn it), then the run the browser asks for."""
    monkeypatch.setattr(progressive, "_in_browser", lambda: True)
    app.run()
    assert not app.exception, app.exception
    monkeypatch.setattr(progressive, "rest_may_follow", lambda key: True)
    app.run()
    assert not app.exception, app.exception


def test_the_errors_view_picker_keeps_its_choice_through_a_model_change(monkeypatch):
    app = open_page("app_pages/errors.py", "sst2-baseline")
    app.radio(key="errors_view").set_value("Attention").run()
    app.selectbox(key="model_choice").set_value("sst2-thought-beacon")
    draw_the_rest(app, monkeypatch)
    picker = app.radio(key="errors_view")
    assert picker.value == "Attention" and picker.proto.set_value


def test_the_errors_view_picker_offers_thought_markers_only_for_a_model_with_markers(monkeypatch):
    """A model without markers was offered the Thought markers view, which only said it had none."""
    app = open_page("app_pages/errors.py", "sst2-thought-beacon")
    assert app.radio(key="errors_view").options == ["Attribution", "Attention", "Thought markers"]
    app.radio(key="errors_view").set_value("Thought markers").run()
    app.selectbox(key="model_choice").set_value("sst2-baseline")
    draw_the_rest(app, monkeypatch)
    picker = app.radio(key="errors_view")
    assert picker.options == ["Attribution", "Attention"] and picker.value == "Attribution"


@pytest.mark.parametrize("page", ["app_pages/beacons.py", "app_pages/markers.py"])
def test_the_sweeps_data_set_keeps_its_source_and_path_through_a_new_text(page, monkeypatch):
    prefix = "beacons_data" if "beacons" in page else "markers_data"
    app = open_page(page, "sst2-thought-beacon")
    app.radio(key=f"{prefix}_source").set_value(labelled.SOURCES[2]).run()
    app.text_input(key=f"{prefix}_path").set_value(str(DEFAULT_PATH)).run()
    assert not app.exception, app.exception
    app.text_area(key="text").set_value("A dull and lifeless film.")
    draw_the_rest(app, monkeypatch)
    source, path = app.radio(key=f"{prefix}_source"), app.text_input(key=f"{prefix}_path")
    assert source.value == labelled.SOURCES[2] and source.proto.set_value
    assert path.value == str(DEFAULT_PATH)


def test_a_filter_fitted_to_another_data_set_comes_back_fitted_after_a_visit_elsewhere(checkpoint, tmp_path):
    """The Tokens range widens (open at the top) for a data set of longer texts; a visit to another page brought
    back the range the run started from, narrower, and hid the longest mistakes (kept: the run's start)."""
    short, long = tmp_path / "short.csv", tmp_path / "long.csv"
    short.write_text("text,label\na fine film,pos\na dull film,neg\n")
    long.write_text("text,label\n" + "".join(f'"{"a fine long film " * (i + 2)}",neg\n' for i in range(4)))
    app = open_page("app_pages/errors.py", str(checkpoint("bert")))
    app.radio(key="errors_source").set_value(labelled.SOURCES[2]).run()
    app.text_input(key="errors_path").set_value(str(short)).run()
    narrow = app.slider(key="errors_filter_tokens").value
    app.text_input(key="errors_path").set_value(str(long)).run()
    wide = app.slider(key="errors_filter_tokens")
    assert wide.value == (1, wide.max) and wide.max > narrow[1]  # open at the top: widened with the data
    app.switch_page("app_pages/overview.py").run()
    app.switch_page("app_pages/errors.py").run()
    assert not app.exception and app.slider(key="errors_filter_tokens").value == (1, wide.max)


@pytest.mark.parametrize("page, hide, show", [
    ("app_pages/errors.py", ("errors_source", labelled.SOURCES[0]), ("errors_source", labelled.SOURCES[2])),
    ("app_pages/compare.py", ("compare_mode", "This text"), ("compare_mode", "A data set")),
])
def test_a_typed_path_survives_a_run_that_hid_its_box(checkpoint, tmp_path, page, hide, show):
    """A path typed into the box came back empty after another source (Errors) or "This text" (Compare) hid it
    for a run: Streamlit forgets an undrawn widget's value and reads back the empty seed the box started from."""
    path = tmp_path / "rows.csv"
    path.write_text("text,label\na fine film,pos\na dull film,neg\n")
    app = open_page(page, str(checkpoint("bert")))
    if page.endswith("compare.py"):
        app.text_input(key="compare_model_b").set_value(str(checkpoint("bert"))).run()
        app.radio(key="compare_mode").set_value("A data set").run()
    prefix = page.split("/")[-1].removesuffix(".py")
    app.radio(key=f"{prefix}_source").set_value(labelled.SOURCES[2]).run()
    app.text_input(key=f"{prefix}_path").set_value(str(path)).run()
    app.radio(key=hide[0]).set_value(hide[1]).run()
    app.radio(key=show[0]).set_value(show[1]).run()
    assert not app.exception, app.exception
    assert app.text_input(key=f"{prefix}_path").value == str(path)
    assert app.query_params["data"] in (str(path), [str(path)])


def test_thought_markers_come_back_with_a_model_that_has_them(monkeypatch):
    """Thought markers, picked for a model with markers, fell back to Attribution under one without and stayed there
    once the first model was back (Compare: open rows with B, then with A again)."""
    app = open_page("app_pages/errors.py", "sst2-thought-beacon")
    app.radio(key="errors_view").set_value("Thought markers").run()
    app.selectbox(key="model_choice").set_value("sst2-baseline").run()
    assert app.radio(key="errors_view").value == "Attribution"
    app.selectbox(key="model_choice").set_value("sst2-thought-beacon").run()
    assert not app.exception, app.exception
    assert app.radio(key="errors_view").value == "Thought markers"
    # a view picked by hand in between is the choice: the one held for the other model is dropped
    app.selectbox(key="model_choice").set_value("sst2-baseline").run()
    app.radio(key="errors_view").set_value("Attention").run()
    app.selectbox(key="model_choice").set_value("sst2-thought-beacon").run()
    assert app.radio(key="errors_view").value == "Attention"
