"""One browser history entry per page switch, so that one Back returns to the page before.

Why: Streamlit's frontend adds an entry when the page changes (the new page's bare address, its parameters
cleared), then another when the new page's first run publishes its options (explainer/ui/links.py), so Back after
a page switch first landed on the bare address of the same page, and a second Back was needed. This component's
script (a v2 component: it runs in the app's own document, not in an iframe) wraps `history.pushState` once per
browser tab: an entry that only adds parameters to a bare address of the same page replaces that address instead
of following it. Every other entry is pushed as before (one per action, as links.py arranges). links.py still
reads a bare address on Back as the state beside it, for a tab whose script had not run yet."""

from __future__ import annotations

import streamlit as st

# Idempotent: a window keeps the first wrapper; later mounts (a page switch remounts the sidebar) change nothing.
_JS = """export default function() {
  if (window.__explainerOneEntryPerSwitch) return;
  window.__explainerOneEntryPerSwitch = true;
  const push = window.history.pushState.bind(window.history);
  window.history.pushState = function(state, unused, url) {
    try {
      const next = new URL(url, document.location.href);
      if (next.pathname === document.location.pathname && document.location.search === "" && next.search !== ""
          && next.origin === document.location.origin) {
        return window.history.replaceState(state, unused, url);
      }
    } catch (error) {}
    return push(state, unused, url);
  };
}"""

_component = None


def keep_one_entry_per_switch() -> None:
    """Mount the wrapper (call once per run, in the sidebar: it draws nothing)."""
    global _component
    if _component is None:
        _component = st.components.v2.component("explainer_one_history_entry", html="", js=_JS)
    with st.sidebar:
        _component(key="explainer_one_history_entry")
