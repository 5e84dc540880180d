"""widget_state reads which widget values a run's request carried: true for a box the previous run drew (AppTest,
like a browser with the box mounted, sends its value), false for one the request lacks. Also guards the Streamlit
fields it reads: an upgrade that renames them fails here, not silently in a browser."""

from __future__ import annotations

from streamlit.runtime.state.session_state import KeyIdMapper, SessionState, WStates
from streamlit.testing.v1 import AppTest


def page():
    import streamlit as st

    from explainer.ui.widget_state import browser_holds, send_unless_held

    st.session_state.setdefault("held", []).append(browser_holds("box"))
    st.session_state.setdefault("box", "seeded text")
    send_unless_held("box")
    st.text_input("Box", key="box")


def test_streamlit_still_has_the_fields_it_reads():
    state = SessionState()
    assert isinstance(state._key_id_mapper, KeyIdMapper) and isinstance(state._new_widget_state, WStates)
    assert state._key_id_mapper.get_id_from_key("never drawn") is None
    assert isinstance(state._new_widget_state.states, dict)


def test_a_run_knows_whether_its_request_carried_the_box():
    at = AppTest.from_function(page).run()
    assert not at.exception
    assert at.text_input(key="box").value == "seeded text"
    at.run()  # the request now carries the box's value
    at.text_input(key="box").input("typed").run()
    assert at.session_state["held"] == [False, True, True]
    assert at.text_input(key="box").value == "typed"  # a held box is not overwritten by the session's value


def test_outside_a_run_nothing_is_resent():
    from explainer.ui.widget_state import browser_holds

    assert browser_holds("anything")


def hidden_box():
    import streamlit as st

    from explainer.ui.widget_state import lingers

    st.session_state.setdefault("lingered", []).append(lingers("box"))
    if st.checkbox("Show the box", value=True, key="show"):
        st.session_state.setdefault("box", "")  # the empty first seed, as links.seed_option gives
        st.text_input("Box", key="box")


def test_a_box_a_run_did_not_draw_lingers_until_code_assigns_it():
    """links.keep restores the kept value where a run left the box undrawn: the typed text is gone then, and in
    the app the session reads back the seed assigned before the box was first drawn."""
    at = AppTest.from_function(hidden_box).run()
    at.text_input(key="box").input("typed").run()
    at.checkbox(key="show").uncheck().run()
    at.checkbox(key="show").check().run()
    # never drawn yet; the request carries the box (typed, then hidden); the run after the undrawn one: it lingers
    assert at.session_state["lingered"] == [False, False, False, True]
