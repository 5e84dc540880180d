"""Streamlit AppTest (no JavaScript): the app runs its pages from the sidebar's state and query params."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from explainer import registry
from tests.browser_support import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def scratch_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path_factory.getbasetemp() / "app-cache"))


def run_app(query: dict[str, str] | None = None) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in (query or {}).items():
        app.query_params[key] = value
    return app.run()


def test_default_run_shows_prediction_and_attention():
    app = run_app()
    assert not app.exception
    assert any(h.value.startswith("Prediction: ") for h in app.subheader)
    assert len(app.get("plotly_chart")) == 2
    untrained = registry.default_model_name() == registry.UNTRAINED_NAME
    assert any("Untrained model" in w.value for w in app.warning) == untrained  # only a placeholder warns
    assert app.query_params["text"] == app.text_area(key="text").value


def test_query_params_seed_text_and_model():
    last = registry.available()[-1].name
    app = run_app({"text": "A gentle film with a big heart.", "model": last})
    assert not app.exception
    assert app.text_area(key="text").value == "A gentle film with a big heart."
    assert app.selectbox(key="model_choice").value == last


def test_empty_text_gets_a_message_not_an_error():
    app = run_app()
    app.text_area(key="text").set_value("   ").run()
    assert not app.exception
    assert any("empty" in i.value for i in app.info)
    assert not app.get("plotly_chart")


def test_missing_model_folder_is_a_clear_error(tmp_path):
    app = run_app({"model": str(tmp_path / "no-such-model")})
    assert not app.exception
    assert any("not found" in e.value for e in app.error)


def test_changing_head_reuses_the_cached_trace(monkeypatch):
    app = run_app()
    import explainer.ui.session as session

    calls = []
    original = session.trace
    monkeypatch.setattr(session, "trace", lambda *a, **k: calls.append(a) or original(*a, **k))
    app.number_input(key="overview_head").set_value(1).run()
    assert not app.exception
    assert calls == []


def test_attention_page_draws_every_view_from_one_trace(monkeypatch):
    app = run_app()
    app.switch_page("pages/attention.py").run()
    assert not app.exception
    assert [h.value for h in app.subheader][:2] == ["Head statistics", "Attention rollout"]
    assert len(app.get("plotly_chart")) == 4  # head, statistics map, rollout, logit lens
    table = app.dataframe[0].value
    layers = app.number_input(key="attention_layer").max + 1
    heads = app.number_input(key="attention_head").max + 1
    assert len(table) == layers * heads and {"entropy", "self_share"} <= set(table.columns)

    import explainer.ui.session as session

    calls = []
    original = session.trace
    monkeypatch.setattr(session, "trace", lambda *a, **k: calls.append(a) or original(*a, **k))
    app.number_input(key="attention_layer").set_value(1).run()
    app.selectbox(key="attention_statistic").set_value("mean_distance").run()
    assert not app.exception and calls == []  # layer, head and statistic changes reuse the cached Trace
