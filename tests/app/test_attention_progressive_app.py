"""The Attention page draws progressively (AppTest, tiny model): the main figures reach the page before the later
sections are built, bertviz's views are built on the view queue, and another session's work holding that queue
delays bertviz, never the main figures."""

from __future__ import annotations

import threading

import pytest
import streamlit
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow
PAGE = str(ROOT / "app_pages" / "attention.py")
SECTIONS = [
    "Every head",
    "Layer 1, head 2",
    "bertviz",
    "Head statistics",
    "Attention rollout",
    "Prediction by layer (logit lens)",
]


@pytest.fixture(autouse=True)
def scratch_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path_factory.getbasetemp() / "app-cache"))


@pytest.fixture
def events(monkeypatch):
    """What happened, in order: ("chart", key) when a figure is drawn; ("bertviz" | "statistics", thread name)
    when those sections are computed."""
    import explainer.views.attention_page as attention_page
    import explainer.views.bertviz as bertviz

    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def record(kind: str, what: str) -> None:
        with lock:
            seen.append((kind, what))

    def wrap(module, name, kind):
        original = getattr(module, name)

        def wrapped(*args, **kwargs):
            record(kind, threading.current_thread().name)
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapped)

    wrap(bertviz, "head_view_html", "bertviz")
    wrap(bertviz, "model_view_html", "bertviz")
    wrap(attention_page, "derive", "statistics")
    original_chart = streamlit.plotly_chart

    def chart(figure, *args, **kwargs):
        record("chart", kwargs.get("key", "?"))
        return original_chart(figure, *args, **kwargs)

    monkeypatch.setattr(streamlit, "plotly_chart", chart)
    return seen


def open_page(model: str, text: str) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=120)
    for key, value in {"model": model, "text": text, "layer": "1", "head": "2"}.items():
        app.query_params[key] = value
    return app.run()


def test_the_main_figures_come_first_and_bertviz_is_built_off_the_page(checkpoint, events):
    app = open_page(str(checkpoint("bert")), "progressive sections of a fine film")
    assert not app.exception, app.exception
    assert [h.value for h in app.subheader] == SECTIONS
    charts = [what for kind, what in events if kind == "chart"]
    assert charts[:2] == ["attention_fig_grid", "attention_fig_head"]
    assert len(app.get("plotly_chart")) == 6 and len(app.get("iframe")) == 2
    # The grid and the chosen head were drawn before bertviz's views or the statistics were computed.
    first_later = min(i for i, (kind, _) in enumerate(events) if kind in ("bertviz", "statistics"))
    assert {("chart", "attention_fig_grid"), ("chart", "attention_fig_head")} <= set(events[:first_later])
    builders = [thread for kind, thread in events if kind == "bertviz"]
    assert len(builders) == 2 and all(t.startswith("view-work") for t in builders), builders


def test_another_sessions_work_delays_bertviz_but_not_the_main_figures(checkpoint, monkeypatch):
    """Another session holds the only view worker; the page still draws its grid and chosen head. Only once
    those are on the page is the other session's job let go, and then bertviz is built and drawn."""
    from explainer.ui import work

    holding, release = threading.Event(), threading.Event()

    def other_sessions_job(progress):
        holding.set()
        assert release.wait(60)
        return "theirs"

    other = work.VIEW_WORK.submit("another session", "bertviz_head_view", ("someone else's view",), other_sessions_job)
    assert holding.wait(30)
    drawn_while_held: list[str] = []
    original_chart = streamlit.plotly_chart

    def chart(figure, *args, **kwargs):
        if not release.is_set():
            drawn_while_held.append(kwargs.get("key", "?"))
        if kwargs.get("key") == "attention_fig_head":
            release.set()  # the main figures are drawn: let the other session's job finish
        return original_chart(figure, *args, **kwargs)

    monkeypatch.setattr(streamlit, "plotly_chart", chart)
    import explainer.views.bertviz as bertviz

    built_after_release: list[bool] = []
    original_view = bertviz.head_view_html

    def head_view(*args, **kwargs):
        built_after_release.append(release.is_set())
        return original_view(*args, **kwargs)

    monkeypatch.setattr(bertviz, "head_view_html", head_view)
    try:
        app = open_page(str(checkpoint("bert")), "another session holds the view queue")
    finally:
        release.set()
    assert not app.exception, app.exception
    assert other.wait() == "theirs"
    assert drawn_while_held == ["attention_fig_grid", "attention_fig_head"]
    assert built_after_release == [True]  # bertviz waited for its turn on the queue
    assert [h.value for h in app.subheader] == SECTIONS and len(app.get("iframe")) == 2
