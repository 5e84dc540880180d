"""Text boxes: every one sends its value with a run whose request lacked it (text_input, text_area: the browser
had not loaded the box's code, widget_state.send_unless_held), and those with a length limit keep the beginning of
a longer text and say so.

Streamlit's own `max_chars` ignores a change that would pass the limit as a whole: a pasted text one character too
long leaves the box as it was, with no word why. Here a text longer than the limit, typed, pasted or from a link,
keeps its first `longest` characters, and a warning under the box names both lengths while that text stays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from explainer.ui.widget_state import send_unless_held

FILTER_LONGEST = 1_000  # a "Text contains" filter: any phrase worth filtering by, and a link the server still takes
NOTE_SUFFIX = "__clamped"  # session key beside the box's: (original length, the text kept)


def clamp_into(key: str, text: str, longest: int) -> str:
    """Put `text` into the box at `key`, cut to `longest` characters (and noted) when longer; the text kept."""
    kept = text[:longest]
    if len(text) > longest:
        st.session_state[key + NOTE_SUFFIX] = (len(text), kept)
    st.session_state[key] = kept
    return kept


def _clamp(key: str, longest: int) -> None:  # before a box is drawn, and as its on_change (before the script)
    text = st.session_state.get(key)
    if isinstance(text, str) and len(text) > longest:
        clamp_into(key, text, longest)


def text_input(label: str, key: str, target: Any = st, **options: Any) -> str:
    """A one-line text box (`target`: st, a column, the sidebar) that comes back holding its value when the browser
    draws it anew; its text."""
    send_unless_held(key)
    return target.text_input(label, key=key, **options)


def text_area(label: str, key: str, target: Any = st, **options: Any) -> str:
    """text_input as a text area."""
    send_unless_held(key)
    return target.text_area(label, key=key, **options)


def _edited(key: str, longest: int, on_edit: Callable[[], None] | None) -> None:  # a box's on_change
    _clamp(key, longest)
    if on_edit is not None:
        on_edit()


def limited_text_area(label: str, key: str, longest: int, target: Any = st,
                      on_edit: Callable[[], None] | None = None, **options: Any) -> str:
    """A text area (`target`: st, a column, the sidebar) holding at most `longest` characters; its text.
    `on_edit`: called (before the script) when the user changed the text, not when a link or button set it."""
    _clamp(key, longest)  # a value a link or a button put there
    text_area(label, key, target, on_change=_edited, args=(key, longest, on_edit), **options)
    _warn_if_clamped(key, longest, target)
    return st.session_state.get(key) or ""


def limited_text_input(label: str, key: str, longest: int, target: Any = st, **options: Any) -> str:
    """limited_text_area as a one-line input."""
    _clamp(key, longest)
    text_input(label, key, target, on_change=_clamp, args=(key, longest), **options)
    _warn_if_clamped(key, longest, target)
    return st.session_state.get(key) or ""


def _warn_if_clamped(key: str, longest: int, target: Any) -> None:
    note = st.session_state.get(key + NOTE_SUFFIX)
    if not note:
        return
    length, kept = note
    if st.session_state.get(key) != kept:  # changed since: the note is over
        del st.session_state[key + NOTE_SUFFIX]
        return
    kept = "the first is kept" if longest == 1 else f"the first {longest:,} are kept"  # a demo may allow 1
    target.warning(f"The text had {length:,} characters; {kept} (the most this box takes).")
