"""One browser history entry per user action, so that one Back returns to what the user saw before it.

Why: one action can make Streamlit's frontend push several entries. A page switch from the sidebar pushes the new
page's bare address, then the new page's first run publishes its options (explainer/ui/links.py) as another; a
switch that carries parameters (a clicked head opening the Attention page, a table row opening What-if) pushes
the old page's address with the new parameters, the new page's, then the new page's full address; a progressive
page's rest can publish once more. Back then landed on those in-between addresses, one of them a state the user
never saw (the old page with the new page's text).

This component's script (a v2 component: it runs in the app's own document, not in an iframe) wraps
`history.pushState` once per browser tab: a push starts a new entry only when the user pressed a key or a pointer
since the last one; every other push replaces the current entry. Back and Forward (Streamlit replaces during
them) reset the mark. links.py still reads a bare address on Back as the state beside it, for a tab whose first
entries were pushed before this script loaded."""

from __future__ import annotations

import streamlit as st

# Idempotent: a window keeps the first wrapper; later mounts (every run mounts it) change nothing.
_JS = """export default function() {
  if (window.__explainerOneEntryPerAction) return;
  window.__explainerOneEntryPerAction = true;
  let acted = false;
  const act = () => { acted = true; };
  for (const type of ["pointerdown", "keydown", "input"]) window.addEventListener(type, act, true);
  window.addEventListener("popstate", () => { acted = false; }, true);
  const push = window.history.pushState.bind(window.history);
  window.history.pushState = function(state, unused, url) {
    if (!acted) {
      try {
        if (new URL(url, document.location.href).origin === document.location.origin) {
          return window.history.replaceState(state, unused, url);
        }
      } catch (error) {}
    }
    acted = false;
    return push(state, unused, url);
  };
}"""

# Registered once, at import (startup.warm imports app.py's modules before the first session goes on): Streamlit's
# docs advise against registering from each run, which on a fresh server eight first runs did at once.
_component = st.components.v2.component("explainer_one_history_entry", html="", js=_JS)


def one_entry_per_action() -> None:
    """Mount the wrapper (call once per run, in the sidebar: it draws nothing)."""
    with st.sidebar:
        _component(key="explainer_one_history_entry")
