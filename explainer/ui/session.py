"""Cached model loading and tracing, and the shared sidebar (model, text, device) every page reads.

Caches hold models (cache_resource: one per process, shared by sessions, guarded by the bundle's lock) and
Traces (cache_data: keyed by model name and text). session_state holds widget values only.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from explainer.capture.tracing import MAX_TEXT_CHARS, InputError, Trace, trace
from explainer.loading import shipped as registry
from explainer.loading.bundle import ModelBundle, ModelLoadError, load_model
from explainer.views import attention_page as attention_views

OTHER_MODEL = "Other: a local folder or hub id…"
DEFAULT_TEXT = "I wanted to love this movie, but the plot falls apart halfway through."


@dataclass(frozen=True)
class Selection:
    """What the sidebar chose: a loaded bundle and the text, or the reason there is none."""

    bundle: ModelBundle | None
    text: str
    error: str | None


@st.cache_resource(show_spinner="Loading model…", max_entries=4)
def get_bundle(name: str) -> ModelBundle:
    return load_model(name)


# A 512-token BERT-base Trace is ~170 MB (attention alone 151 MB): keep few, and not forever.
@st.cache_data(show_spinner="Running the model…", max_entries=8, ttl=3600)
def get_trace(model_name: str, text: str) -> Trace:
    return trace(get_bundle(model_name), text)


@st.cache_data(show_spinner="Summarising attention…", max_entries=8, ttl=3600)
def get_attention_derived(model_name: str, text: str) -> attention_views.Derived:
    """Rollout, head statistics and thumbnails: per Trace, not per layer/head choice."""
    return attention_views.derive(get_trace(model_name, text))


LINK_KEY = "_link_params"  # the query parameters the session was opened with


def _init_from_query_params() -> None:
    """First run of a session: a shared link's query parameters seed the widgets."""
    if "model_choice" in st.session_state:
        return
    st.session_state[LINK_KEY] = st.query_params.to_dict()
    names = [m.name for m in registry.available()]
    model = st.query_params.get("model", names[0])
    if model in names:
        st.session_state.model_choice = model
    else:
        st.session_state.model_choice = OTHER_MODEL
        st.session_state.model_other = model
    st.session_state.text = st.query_params.get("text", DEFAULT_TEXT)


def selection() -> Selection:
    """The model and text the sidebar holds now (from widget state), with the model loaded.

    A page run without the sidebar (a page opened on its own, as AppTest does) finds no widget state and
    reads the shared link's query parameters instead."""
    _init_from_query_params()
    choice = st.session_state.get("model_choice")
    name = st.session_state.get("model_other", "").strip() if choice == OTHER_MODEL else choice
    text = st.session_state.get("text", "")
    if not name:
        return Selection(bundle=None, text=text, error="Enter a model folder or hub id in the sidebar.")
    try:
        return Selection(bundle=get_bundle(name), text=text, error=None)
    except ModelLoadError as load_error:
        return Selection(bundle=None, text=text, error=str(load_error))
    except Exception as error:  # anything else a foreign checkpoint throws: say it, keep the page alive
        return Selection(bundle=None, text=text, error=f"Could not load '{name}': {type(error).__name__}: {error}")


def sidebar() -> None:
    """Draw the shared sidebar (model picker, text, device badge) and mirror it into the URL.
    Called once per run by app.py, before the page."""
    _init_from_query_params()
    shipped = {m.name: m.description for m in registry.available()}
    with st.sidebar:
        st.header("Model")
        choice = st.selectbox("Model", [*shipped, OTHER_MODEL], key="model_choice", label_visibility="collapsed",
                              format_func=registry.picker_label)  # "name (group)"
        if choice == OTHER_MODEL:
            st.text_input("Folder or hub id", key="model_other", placeholder="/path/to/checkpoint")
        else:
            st.caption(shipped[choice])
        st.header("Input")
        st.text_area("Text to analyse", key="text", height=140, max_chars=MAX_TEXT_CHARS)
        current = selection()
        if current.bundle is not None:
            st.caption(f"Device: **{current.bundle.device_label}**")
            if current.bundle.untrained:
                st.warning("Untrained model: random weights. Its predictions mean nothing.", icon="⚠️")
    model_param = current.bundle.name if current.bundle is not None else st.session_state.get("model_other", "")
    # Replace, not update: options of the page left behind must not linger in the link; the page now
    # shown adds its own (publish_options).
    st.query_params.update({"model": model_param, "text": current.text})


def parse_ints(raw: str) -> list[int]:
    """A list option from a link, e.g. "0,2,3" (ValueError on anything else, so seed_option falls back)."""
    return [int(part) for part in raw.split(",") if part.strip()]


def parse_names(raw: str, allowed) -> list[str]:
    """A list of names from a link, e.g. "negative,positive", keeping only those in `allowed`, in its order."""
    wanted = {part.strip() for part in raw.split(",")}
    return [name for name in allowed if name in wanted]


def parse_range(raw: str, low: int, high: int) -> tuple[int, int]:
    """An inclusive range from a link, e.g. "3-20", clamped to [low, high] (ValueError if it is not one)."""
    first, last = (int(part) for part in raw.split("-", 1))
    first, last = sorted((min(max(first, low), high), min(max(last, low), high)))
    return first, last


def seed_option(key: str, param: str, parse, default):
    """Give widget `key` its first value: from the shared link's parameter `param` if it parses, else
    `default`. Later runs keep whatever the user chose. Returns the current value."""
    if key not in st.session_state:
        _init_from_query_params()
        raw = st.session_state.get(LINK_KEY, {}).get(param)
        value = default
        if raw is not None:
            try:
                value = parse(raw)
            except (TypeError, ValueError):
                value = default  # a hand-edited link: fall back, never fail the page
        st.session_state[key] = value
    return st.session_state[key]


def publish_options(options: dict[str, str]) -> None:
    """Put the page's options into the link, beside model and text. An empty value takes its option out of the
    link (opening the link then gives that option its default, which every page makes the empty choice)."""
    for key, value in options.items():
        if value == "":
            st.query_params.pop(key, None)
        else:
            st.query_params[key] = value


def current_trace() -> Trace | None:
    """The Trace of the selected model and text, or None after showing on the page why there is none."""
    current = selection()
    if current.error:
        st.error(current.error)
        return None
    try:
        result = get_trace(current.bundle.name, current.text)
    except InputError as input_error:
        st.info(str(input_error))
        return None
    warn_if_truncated(result)
    return result


def warn_if_truncated(result: Trace, who: str = "") -> None:
    """Say on the page when the model read only the beginning of the text; `who` names the model ("Model B: ")."""
    if result.truncated:
        st.warning(
            f"{who}The text has {result.num_text_tokens:,} tokens; the model reads {result.max_length:,} at most. "
            "Only the beginning was analysed."
        )
