"""Whether the browser holds a widget's value. Streamlit loads each widget's code lazily, and a widget registers
its value with the browser only once its code has loaded and it is mounted; every run's request carries the values
the browser holds. A widget drawn while the browser does not hold its value is mounted at its own default unless
the run sends the value (a session-state assignment before the widget does): a text box whose code still loaded
when the visitor picked another model came back empty, and the next run analysed an empty text.
Choices are sent with every run (resend); text boxes only when the request lacked them (send_unless_held)."""

from __future__ import annotations

import streamlit as st


def _session_state():
    """This run's Streamlit SessionState (its private fields: pinned version; a test checks they still exist,
    tests/unit/ui/test_widget_state.py), or None outside a run (a bare script, a test without a session)."""
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return getattr(getattr(ctx, "session_state", None), "_state", None)


def browser_holds(key: str) -> bool:
    """True when this run's request carried widget `key`'s value, or when nothing can tell (no browser run: a bare
    script, a test without a session)."""
    state = _session_state()
    if state is None:
        return True
    widget_id = state._key_id_mapper.get_id_from_key(key)
    return widget_id is not None and widget_id in state._new_widget_state.states


def lingers(key: str) -> bool:
    """True when widget `key`'s value in session state is one left from before it was last drawn: a widget that a
    run did not draw (a data-set path box while another source, or Compare's "This text", is chosen) loses the
    value typed into it, and what reads back is the value code assigned before it was first drawn (the empty
    first seed), not what the visitor typed. So: a widget was drawn under `key` once, this run's request did not
    carry its value, and no code (a callback, this run) has assigned it since the last run. False outside a run."""
    state = _session_state()
    if state is None:
        return False
    widget_id = state._key_id_mapper.get_id_from_key(key)
    return (widget_id is not None and widget_id not in state._new_widget_state.states
            and key not in state._new_session_state)


def resend(key: str) -> None:
    """Send choice widget `key`'s value with this run, not only with its first. A widget registers its value with
    the browser only once its code has loaded and it is mounted; a run that comes before that (a visitor typed a
    text while a radio's code still loaded) draws it anew at its own default (the first option, a slider's
    minimum), which the next run then reads as the visitor's choice: a linked model or option was lost.
    Only for choices (radio, select box, slider, toggle): a text box sent its value with every run would lose
    what is being typed into it when another run comes. Call before the widget."""
    if key in st.session_state:
        st.session_state[key] = st.session_state[key]


def send_unless_held(key: str) -> None:
    """Send text box `key`'s value with this run when the browser does not hold it (its code had not loaded at
    the request). Unlike resend, never when it does: the box may hold a text being typed, which a value sent
    with the run would overwrite. Call before the widget (text_box.text_input and its kin do)."""
    if not browser_holds(key):
        resend(key)
