"""Streamlit glue of the Causal page: cached ablation and patching (keyed by model, texts and options), the
corrupted text's default (the What-if page's edited text when there is one), the counterfactual finder and
"open in Attention"."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import streamlit as st

from explainer.causal import Ablation, Patching, ablate_heads, patch
from explainer.ui.caches import get_bundle

CORRUPTED_KEY = "causal_corrupted"
OPEN_HEAD_KEY = "_causal_open_head"  # (layer, head) a button asked the Attention page to open
EDITED_KEYS = ("edited", "whatif_edited", "whatif_text")  # where the What-if page may keep its edited text


# Results by (kind, model, texts, options), newest last. Not st.cache_data: its replay forbids updating a progress
# bar made outside the cached function, and patching a long text runs for a while.
_RESULTS: OrderedDict[tuple, Ablation | Patching] = OrderedDict()
_RESULTS_LOCK = threading.Lock()
MAX_RESULTS = 16


def _cached(key: tuple, label: str, compute: Callable[[Callable[[int, int], None]], Ablation | Patching]):
    """The kept result of `key`, or `compute(progress)` under a progress bar (gone once it returns)."""
    with _RESULTS_LOCK:
        if key in _RESULTS:
            _RESULTS.move_to_end(key)
            return _RESULTS[key]
    bar = st.progress(0.0, text=label)
    try:
        result = compute(lambda done, total: bar.progress(done / max(total, 1), text=f"{label} ({done}/{total} runs)"))
    finally:
        bar.empty()
    with _RESULTS_LOCK:
        _RESULTS[key] = result
        while len(_RESULTS) > MAX_RESULTS:
            _RESULTS.popitem(last=False)
    return result


def get_ablation(model_name: str, text: str, target: str | None, mode: str) -> Ablation:
    """Every head ablated on `text` (kept by model, text, target and mode), with a progress bar."""
    return _cached(
        ("ablation", model_name, text, target, mode),
        "Ablating heads",
        lambda report: ablate_heads(get_bundle(model_name), text, target=target, mode=mode, progress=report),
    )


def get_patching(model_name: str, clean: str, corrupted: str, target: str | None) -> Patching:
    """Patching from `clean` into `corrupted` (kept by model, texts and target), with a progress bar."""
    return _cached(
        ("patching", model_name, clean, corrupted, target),
        "Patching",
        lambda report: patch(get_bundle(model_name), clean, corrupted, target=target, progress=report),
    )


def edited_text() -> str:
    """The What-if page's edited text (link parameter `edited`, or its session state), "" when there is none."""
    linked = st.session_state.get("_link_params", {}).get("edited") or st.query_params.get("edited")
    if linked:
        return str(linked)
    for key in EDITED_KEYS:
        value = st.session_state.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return ""


def find_counterfactual(model_name: str, text: str) -> str | None:
    """Fill the corrupted text with the first counterfactual of `text` (None: the search is not installed or
    found none; the reason is shown)."""
    try:
        from explainer.counterfactual import find_counterfactuals
    except ImportError:
        st.info("The counterfactual search is not available in this installation: type a corrupted text.")
        return None
    try:
        search = find_counterfactuals(get_bundle(model_name), text, max_edits=3)
    except ValueError as error:  # InputError and its kin: say why
        st.info(str(error))
        return None
    if not search.counterfactuals:
        st.info("No edit of up to 3 words flips this prediction: type a corrupted text.")
        return None
    return search.counterfactuals[0].text


def request_attention(layer: int, head: int) -> None:
    """A button's callback: open head (layer, head) on the Attention page (its widgets take the values)."""
    st.session_state["attention_layer"] = int(layer)
    st.session_state["attention_head"] = int(head)
    st.session_state[OPEN_HEAD_KEY] = (int(layer), int(head))


def follow_attention_request() -> None:
    """Call in the page's run: switch to the Attention page when a button asked, with the head in the link."""
    request = st.session_state.pop(OPEN_HEAD_KEY, None)
    if request is not None:
        params = {key: st.query_params[key] for key in ("model", "text") if key in st.query_params}
        st.switch_page("app_pages/attention.py", query_params={**params, "layer": request[0], "head": request[1]})
