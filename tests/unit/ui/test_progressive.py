"""Progressive pages (explainer/ui/progressive.py) without a browser: where no browser is on the other end
(AppTest, a bare run) or the feature is off, the rest follows in the same run; with a browser, a page key's first
run stops after its first figure until the browser has reported that figure drawn, and later runs do not stop."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from explainer.ui import progressive


def page() -> None:
    import streamlit as st

    from explainer.ui import progressive

    st.markdown("first figure")
    if not progressive.rest_may_follow(("page", "model", "text")):
        st.stop()
    st.markdown("the rest")


def shown(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def test_page_keys_have_short_stable_distinct_tokens():
    # the same in every process (a page's key outlives a server restart in the browser): no hash(), no id()
    assert progressive.token(("attention", "m", "a text")) == "df80dc3143858002"
    assert progressive.token(("attention", "m", "a text")) != progressive.token(("attention", "m", "a text."))
    assert len(progressive.token(("x", "\udcff odd"))) == 16  # a lone surrogate in typed text is still a key


def test_without_a_browser_the_rest_follows_in_the_same_run():
    at = AppTest.from_function(page).run()
    assert not at.exception and shown(at) == ["first figure", "the rest"]


@pytest.mark.parametrize("setting", ["1", "0"])
def test_with_a_browser_the_first_run_stops_until_the_figure_is_drawn(monkeypatch, setting):
    monkeypatch.setattr(progressive, "_in_browser", lambda: True)
    monkeypatch.setenv("EXPLAINER_PROGRESSIVE", setting)
    at = AppTest.from_function(page).run()
    assert not at.exception
    if setting == "0":  # turned off: everything at once
        assert shown(at) == ["first figure", "the rest"]
        return
    assert shown(at) == ["first figure"]
    at.run()  # a rerun before the browser has said anything: still waiting (the component is mounted again)
    assert shown(at) == ["first figure"]
    progressive._mark_drawn(progressive.token(("page", "model", "text")), at.session_state)
    at.run()  # the run the browser's report starts, and every later one
    assert shown(at) == ["first figure", "the rest"]
    at.run()
    assert shown(at) == ["first figure", "the rest"]


def page_with_buttons() -> None:
    """A page whose buttons sit below the stop. `stop_now`: "figure" stands for a run of a new text, which stops at
    its first figure (rest_may_follow), "error" for a run that stops at a message above the buttons."""
    import streamlit as st

    from explainer.ui import progressive

    progressive.begin_run()  # as app.py does
    text = st.session_state.setdefault("text", "old text")
    stop = st.session_state.pop("stop_now", None)
    if stop == "figure":
        st.session_state[progressive.STOPPED_KEY] = st.session_state[progressive.RUN_KEY]
    if stop:
        st.stop()
    st.button("Run it", key="run", on_click=progressive.click, args=("run",))
    st.button("Ask", key="ask", on_click=progressive.click, args=("asked",))
    st.markdown(f"ran: {progressive.clicked('run')} · asked for: {progressive.asked('asked', text)}")


def test_a_click_that_arrives_with_a_run_stopping_above_the_button_is_kept_for_the_next():
    """A sidebar text typed and not sent arrives with the click: that run (a new text) stops at the first figure,
    and a button's value lasts one run, so the click was lost (What-if's Find counterfactuals, Markers' Build)."""
    at = AppTest.from_function(page_with_buttons).run()
    assert shown(at) == ["ran: False · asked for: False"]
    at.session_state["text"], at.session_state["stop_now"] = "new text", "figure"
    at.button(key="run").click()
    at.button(key="ask").click().run()
    assert shown(at) == []  # stopped above the buttons
    at.run()  # the run that reaches them (the progressive rest)
    assert shown(at) == ["ran: True · asked for: True"]  # the new text's request
    assert at.session_state["asked"] == "new text"
    at.run()
    assert shown(at) == ["ran: False · asked for: True"]  # a click runs once; a request stays asked


def test_a_click_is_not_kept_past_the_run_it_was_made_for():
    """Kept until any later run reached the button, a click made on an empty text (the run stopped at its
    message) started the work on the next text typed, and one made before leaving the page on its next visit."""
    at = AppTest.from_function(page_with_buttons).run()
    at.session_state["stop_now"] = "error"
    at.button(key="run").click()
    at.button(key="ask").click().run()
    assert shown(at) == []
    at.session_state["text"] = "a later text"
    at.run()  # the next run reaches the buttons: the click was for the stopped one
    assert shown(at) == ["ran: False · asked for: False"]
