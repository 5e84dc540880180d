"""Progressive pages: the browser draws a page's first figure before the rest of the page reaches it.

Why: the server sends a page's sections within a second, and the browser then mounts every chart of the page in
one React commit, so the first figure shows only once every chart is drawn (a 2-core laptop spends seconds on it).
A page therefore sends its first figure, then `rest_may_follow(key)`: the first time a session shows that key
(page, model, text), it mounts a tiny component whose script waits until the browser has drawn a figure, then
asks for a rerun, and the run stops there. The rerun (served from the caches) sends the rest. Later runs with the
same key (a changed layer, a slider) send everything at once, as before.

The component shows "Drawing the rest of the page…" with the class `explainer-pending` while it waits, so users
(and the browser benches, explainer/bench/app_driver.py) see that the run is not over. It gives up waiting after
MAX_WAIT_S, so a page whose first section drew no figure (a notice, a table) still gets its rest.

`EXPLAINER_PROGRESSIVE=0` turns this off (everything in one run). AppTest runs no JavaScript, so there the rest
follows in the same run as well (`_in_browser` is false without a websocket session)."""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Hashable

import streamlit as st

from explainer.ui import links

DRAWN_KEY = "_progressive_drawn"  # session_state: the page keys whose first figure this session's browser drew
MAX_WAIT_S = 6.0
MAX_SKELETON_S = 60.0  # the longest a request waits for elements that still load their code
PENDING_CLASS = "explainer-pending"

_HTML = f'<div class="{PENDING_CLASS}" role="status">Drawing the rest of the page…</div>'
_CSS = f""".{PENDING_CLASS} {{ color: rgba(49, 51, 63, 0.6); font-size: 0.875rem; padding: 0.25rem 0; }}
.{PENDING_CLASS}::after {{ content: " "; display: inline-block; width: 0.7em; height: 0.7em; margin-left: 0.4em;
  border: 2px solid currentColor; border-right-color: transparent; border-radius: 50%;
  animation: explainer-spin 0.8s linear infinite; }}
@keyframes explainer-spin {{ to {{ transform: rotate(360deg); }} }}"""
# Wait for a drawn plotly figure in the main area, then two animation frames (it is on screen), then ask for the
# rerun that sends the rest; give up waiting for the figure after data.max_wait_ms. One request per mount.
# Never while an element anywhere on the page still loads its code (Streamlit's per-element Suspense shows an
# stSkeleton): a widget registers its value with the frontend only once mounted, and a rerun asked before that
# leaves it out of the widget states, so the rerun redraws it empty (the sidebar's text box of a freshly opened
# page on a busy machine: the page analysed the linked text beside an empty box).
# After data.max_skeleton_ms of skeletons the request goes anyway, so a chunk that never loads cannot keep the
# rest away for good.
_JS = """export default function(component) {
  const { setTriggerValue, data } = component;
  const figure = "[data-testid='stMain'] [data-testid='stPlotlyChart'] .main-svg";
  const loading = "[data-testid='stSkeleton']";
  const start = performance.now();
  let asked = false, timer = null, frame = null;
  const ask = () => { if (!asked) { asked = true; setTriggerValue("drawn", true); } };
  const settled = () => !document.querySelector(loading) || performance.now() - start > data.max_skeleton_ms;
  const look = () => {
    if (asked) return;
    const waited = performance.now() - start > data.max_wait_ms;
    if ((waited || document.querySelector(figure)) && settled()) {
      frame = requestAnimationFrame(() => { frame = requestAnimationFrame(ask); });
    } else {
      frame = requestAnimationFrame(look);
    }
  };
  look();
  // requestAnimationFrame pauses in a hidden tab: the timer still asks there once nothing is loading
  const late = () => { if (settled()) ask(); else timer = setTimeout(late, 250); };
  timer = setTimeout(late, data.max_wait_ms);
  return () => { clearTimeout(timer); if (frame !== null) cancelAnimationFrame(frame); };
}"""

_component = None


def _mount():
    global _component
    if _component is None:
        _component = st.components.v2.component("explainer_first_figure_drawn", html=_HTML, css=_CSS, js=_JS,
                                                isolate_styles=False)
    return _component


def _enabled() -> bool:
    return os.environ.get("EXPLAINER_PROGRESSIVE", "1") != "0"


def _in_browser() -> bool:
    """True when a browser is on the other end (a websocket session); AppTest and bare runs have none."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx
    from streamlit.web.server.starlette.starlette_websocket import StarletteSessionClient

    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None or not Runtime.exists():
        return False
    return isinstance(Runtime.instance().get_client(ctx.session_id), StarletteSessionClient)


def token(key: Hashable) -> str:
    """A short stable name for a page key (the component's widget key and the session's record)."""
    return hashlib.sha1(repr(key).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def rest_may_follow(key: Hashable) -> bool:
    """Call after a page's first figure. True: draw the rest now. False: the browser has not yet drawn this key's
    first figure in this session; a rerun that sends the rest is on its way, and this run should end (the caller
    returns or calls st.stop())."""
    links.flush()  # the first figure is out: so is the link that reproduces it
    if not _enabled() or not _in_browser():
        return True
    name = token(key)
    if name in st.session_state.get(DRAWN_KEY, ()):
        return True
    # The browser's request arrives as a rerun whose callback marks the key drawn before the page runs again;
    # that run then never mounts the component, so its "Drawing the rest…" line is gone with the rest's arrival.
    _mount()(key=f"first_figure_drawn_{name}", data={"max_wait_ms": int(MAX_WAIT_S * 1000),
                                                     "max_skeleton_ms": int(MAX_SKELETON_S * 1000)},
             on_drawn_change=functools.partial(_mark_drawn, name))
    st.session_state[STOPPED_KEY] = st.session_state.get(RUN_KEY, 0)  # a click of this run is read by the next
    return False


def _mark_drawn(name: str, state=None) -> None:
    """The browser drew `name`'s first figure (a callback; `state`: a test's session state)."""
    state = st.session_state if state is None else state
    state[DRAWN_KEY] = {*(state[DRAWN_KEY] if DRAWN_KEY in state else ()), name}


# ---- buttons below the stop ---------------------------------------------------------------------------------------
# A button's value lasts one run. A sidebar text typed and not yet sent arrives with the click on a button below a
# page's stop, and that run, for a new text, stops at the first figure: the click was lost (What-if's "Find
# counterfactuals" did nothing, 2 of 2 tries). A callback runs whether or not the button is drawn again, so the
# click is kept in the session for the run that reaches the button: the click's own run, or the rest that follows
# when that run stopped at the first figure. Never later: a click kept past a page switch, or past runs that
# stopped at an error above the button, would start expensive work nobody asked for on another text.
RUN_KEY = "_progressive_run"  # this session's run count (begin_run)
STOPPED_KEY = "_progressive_stopped"  # the last run that stopped at a first figure (rest_may_follow said False)


def begin_run() -> None:
    """First thing in every run (app.py): count it, so a kept click knows its age."""
    st.session_state[RUN_KEY] = st.session_state.get(RUN_KEY, 0) + 1


def click(key: str) -> None:
    """A button's on_click (it runs before the run it starts): keep its click for `clicked(key)` or `asked`."""
    st.session_state[f"{key}__clicked"] = st.session_state.get(RUN_KEY, 0)


def clicked(key: str) -> bool:
    """Whether the button `click(key)` serves was clicked, for this run: in it, or in the run before when that run
    stopped at its first figure (read once)."""
    at = st.session_state.pop(f"{key}__clicked", None)
    if at is None:
        return False
    age = st.session_state.get(RUN_KEY, 0) - at  # 1: clicked for this run (0: a run app.py did not count)
    return age <= 1 or (age == 2 and st.session_state.get(STOPPED_KEY) == at + 1)


def asked(key: str, request: Hashable) -> bool:
    """Whether the work `request` names (model, text, options) was asked for: a click asks for the request shown
    when the button is reached (the new text, not the one drawn beside the button clicked). Call it on every run
    that could draw the button, so a click is read where it was made."""
    if clicked(key):
        st.session_state[key] = request
    return st.session_state.get(key) == request
