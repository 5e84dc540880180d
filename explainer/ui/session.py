"""Cached model loading and tracing, and the shared sidebar (model, text, device) every page reads.

Caches (explainer/ui/caches.py) hold models (cache_resource: one per process, shared by sessions, guarded by the
bundle's lock) and Traces (the byte-bounded ResultCache, keyed by model and text). session_state holds widget
values only.
"""

from __future__ import annotations

import html
import logging
import re
import time
import urllib.parse
from dataclasses import dataclass

import streamlit as st

from explainer.capture.encoding import InputError, typed_special_sentence
from explainer.capture.tracing import Trace
from explainer.capture.validation import truncation_sentence, unknown_sentence, unknown_token
from explainer.loading import shipped
from explainer.loading.bundle import ModelBundle, ModelLoadError
from explainer.report import build_report, card_summary
from explainer.report.linking import (
    UPLOAD_LEFT_OUT,
    link_model,
    made_on_note,
    page_link,
    paths_left_out,
    server_paths,
)
from explainer.serving.paths import PathRefused
from explainer.thought_beacon.beacons import has_beacons
from explainer.thought_beacon.marker_dictionary import has_markers
from explainer.ui import demo as demo_mode
from explainer.ui import startup, text_box
from explainer.ui.caches import get_bundle, get_trace
from explainer.ui.links import (
    OTHER_KEPT_KEY,
    OTHER_MODEL,
    chosen_model,
    latest_address,
    live_view,
    publish_options,
    report_inputs,
    seed_sidebar,
)
from explainer.ui.problems import show_problem
from explainer.ui.text_box import limited_text_area
from explainer.ui.widget_state import resend
from explainer.views.text import markdown_literal, tau_text


@dataclass(frozen=True)
class Selection:
    """What the sidebar chose: a loaded bundle and the text, or the reason there is none (plain text, which may
    name what was typed: pages show it with show_problem)."""

    bundle: ModelBundle | None
    text: str
    error: str | None








def sidebar_text() -> str:
    """The sidebar's text as the pages read it (a demo's longest text kept): also for a callback, which runs before
    the page and may come with a text typed and not yet sent (its page run has not read it yet)."""
    text = st.session_state.get("text", "")
    return text if demo_mode.config() is None else text[: demo_mode.text_limit()]


def selection() -> Selection:
    """The model and text the sidebar holds now (from widget state), with the model loaded.

    A page run without the sidebar (a page opened on its own, as AppTest does) finds no widget state and
    reads the shared link's query parameters instead."""
    seed_sidebar()
    choice = st.session_state.get("model_choice")
    text = sidebar_text()
    demo = demo_mode.config()
    if demo is not None:  # names from the config's list only; anything else (a path, a hub id) is never loaded
        try:
            name = demo.model_target(str(choice))
        except PathRefused as refused:
            return Selection(bundle=None, text=text, error=str(refused))
    else:
        name = chosen_model()
    if not name:
        return Selection(bundle=None, text=text, error="Enter a model folder or hub id in the sidebar.")
    # The error names what was typed (a link may carry any name): pages show it through show_problem, escaped.
    try:
        return Selection(bundle=get_bundle(name), text=text, error=None)
    except ModelLoadError as load_error:
        if demo is None:
            return Selection(bundle=None, text=text, error=str(load_error))
        # the visitor learns nothing about the server; the operator's log says why (it said nothing at all), once
        # per model and reason: a failed load is tried again on every run of every session
        _log_load_failure(f"model {choice} ({name}) cannot be loaded: {load_error}")
        return Selection(bundle=None, text=text, error=f"{choice} cannot be loaded.")
    except Exception as error:  # anything else a foreign checkpoint throws: say it, keep the page alive
        if demo is not None:  # a visitor learns nothing about the server from it; the operator's log does
            _log_load_failure(f"model {choice} ({name}) cannot be loaded: {type(error).__name__}: {error}")
            return Selection(bundle=None, text=text, error=f"{choice} cannot be loaded.")
        return Selection(bundle=None, text=text,
                         error=f"Could not load '{name}': {type(error).__name__}: {error}")


_LOAD_FAILURES_LOGGED: set[str] = set()


def _log_load_failure(said: str) -> None:
    if said not in _LOAD_FAILURES_LOGGED:
        _LOAD_FAILURES_LOGGED.add(said)
        logging.getLogger("explainer.demo").error("%s", said)


def sidebar() -> None:
    """Draw the shared sidebar (model picker, text, device badge) and mirror it into the URL.
    Called once per run by app.py, before the page."""
    report_inputs()["settled"] = False  # until this run's report button holds its model and text
    seed_sidebar()
    resend("model_choice")  # the linked model, even to a picker whose code still loads
    demo = demo_mode.config()
    descriptions = {m.name: m.description for m in shipped.available()}
    with st.sidebar:
        st.header("Model")
        if demo is not None:  # the config's list, nothing typed
            choice = st.selectbox("Model", demo.model_names, key="model_choice", label_visibility="collapsed")
            if choice in descriptions:
                st.caption(descriptions[choice])
        else:
            choice = st.selectbox("Model", [*descriptions, OTHER_MODEL], key="model_choice",
                                  label_visibility="collapsed", format_func=shipped.picker_label)  # "name (group)"
            if choice == OTHER_MODEL:
                folder = text_box.text_input("Folder or hub id", "model_other", placeholder="/path/to/checkpoint")
                st.session_state[OTHER_KEPT_KEY] = folder  # a page switch drops the box's value: seed_sidebar
            else:
                st.caption(descriptions[choice])
        st.header("Input")
        longest = demo_mode.text_limit()
        limited_text_area("Text to analyse", "text", longest, height=140,
                          help=f"Up to {longest:,} characters; a longer text keeps its beginning.")
        current = selection()
        report_inputs()["settled"] = current.bundle is None  # no model, no new button: a click keeps the last
        if current.bundle is not None:
            report_button(current, str(choice) if demo is not None else None)
            ready = " · ready (loaded when the server started)" if current.bundle.name in startup.WARMED else ""
            st.caption(f"Device: **{current.bundle.device_label}**{ready}")
            if current.bundle.untrained:
                st.warning("Untrained model: random weights. Its predictions mean nothing.", icon="⚠️")
    if demo is not None:  # links carry the offered name, never a server path
        model_param = str(choice)
    elif current.bundle is not None:
        model_param = current.bundle.name
    else:
        model_param = st.session_state.get("model_other", "")
    publish_options({"model": model_param, "text": current.text})


def current_trace() -> Trace | None:
    """The Trace of the selected model and text, or None after showing on the page why there is none."""
    current = selection()
    if current.error:
        show_problem(current.error)
        return None
    try:
        result = get_trace(current.bundle.name, current.text)
    except InputError as input_error:
        show_problem(input_error, "info")
        return None
    warn_if_truncated(result)
    return result


def card_summary_of_selection() -> str:
    """The first paragraph of the selected model's card (what the model is), as the report quotes it; "" when it
    has none or cannot be loaded (the page has said why)."""
    current = selection()
    return card_summary(current.bundle) if current.bundle is not None else ""


def warn_if_truncated(result: Trace, who: str = "") -> None:
    """Say on the page when the model read only the beginning of the text, or not its trailing padding tokens, or
    read a special token typed in it; `who` names the model as typed ("Model B (name): "), escaped here once."""
    who = markdown_literal(who)
    if result.truncated:
        st.warning(who + truncation_sentence(result.num_text_tokens, result.max_length,
                                             cuts_left_elsewhere=get_bundle(result.model_name).cuts_left_elsewhere))
    if result.unread_note:
        st.info(who + markdown_literal(result.unread_note))
    tokenizer = get_bundle(result.model_name).tokenizer
    if typed := result.typed_special_tokens(tokenizer):
        st.info(who + markdown_literal(typed_special_sentence(typed)))
    if unknown := unknown_sentence(result.tokens, result.special_tokens, unknown_token(tokenizer)):
        st.info(who + markdown_literal(unknown))


REPORT_GRACE_S = 0.3  # a click may come with a run of its own (a text typed, then the button): it starts this soon
REPORT_WAIT_S = 60.0  # and reaches the sidebar within this (a model loading); then the last run's values are used


def _settled_inputs(inputs: dict) -> dict:
    """`inputs` once the run a click may have started has drawn its button: the browser sends a text typed into
    the sidebar (on blur), then the click on the button the previous run drew, so the build starts as that run
    does; a copy, one run's values."""
    time.sleep(REPORT_GRACE_S)
    deadline = time.monotonic() + REPORT_WAIT_S
    while not inputs.get("settled", True) and time.monotonic() < deadline:
        time.sleep(0.05)
    return dict(inputs)


def report_button(current: Selection, demo_name: str | None) -> None:
    """"Download report": the overview, attention, attribution and marker views of the sidebar's model and text,
    plus the current page's own when the report has it, drawn with the page's options (head, method, baseline,
    target, tau: ui.links.live_view), as one HTML file that opens offline (built only when clicked). In demo mode
    it names the model as offered and keeps to the demo's attribution limit.

    The sidebar runs before the page, so this run's page options are not known yet here: the file is built from
    the address the run left (links.latest_address), read when the button is clicked. So are the model, text and
    page: a click on the button of the run before (a text typed, then the button pressed at once: the browser
    sends the text, then the click, before the new run has drawn its button) gets the latest run's."""
    demo = demo_mode.config()
    options = latest_address()  # updated in place as the run sends its address
    address = (st.context.url or "").split("?")[0]
    inputs = report_inputs()
    page_name = urllib.parse.urlparse(address).path.rstrip("/").rsplit("/", 1)[-1]
    inputs.update(
        name=current.bundle.name, text=current.text, demo_name=demo_name, address=address, page=page_name,
        # the page's data widgets, drawn after the sidebar, say whether their source is an upload; until then (a
        # click may build the file first) the last run's word on the same page stands
        uploaded=inputs.get("uploaded", False) if inputs.get("page") == page_name else False,
        # a folder's path stays out of the link: build_report leaves the link out and says why
        model=link_model(current.bundle, demo_name),
        limit=demo.limits.attribution_tokens if demo is not None else None, settled=True,
    )

    def build() -> str:
        now = _settled_inputs(inputs)
        name, text, demo_name, address, page, model, limit, uploaded = (
            now[key] for key in ("name", "text", "demo_name", "address", "page", "model", "limit", "uploaded")
        )
        params = dict(options)
        query = {**params, "model": model, "text": text}
        paths = server_paths(params) if demo is None else []  # a demo's links carry offered names only
        link = page_link(address, query) if address and model and not paths and not uploaded else ""
        view = live_view(page, {**params, "text": text})
        try:
            bundle = get_bundle(name)
            view = view.for_model(has_markers(bundle), has_beacons(bundle))
            tau = view.beacon_threshold  # set on the Beacons page alone, of a model with beacons
            other_tau = tau is not None and tau_text(tau) != tau_text(bundle.model.config.beacon_threshold)
            note = (paths_left_out(paths) if paths else UPLOAD_LEFT_OUT if uploaded else
                    made_on_note(page, other_tau, view.intervention) if link else "")
            return build_report(bundle, text, **view.report_options(bundle.label_names), link=link,
                                link_note=note, model_label=demo_name, attribution_token_limit=limit)
        except InputError as error:  # a text emptied and the button pressed at once (the button is off once the
            # run has seen it empty): the file says why, instead of failing the download
            return (f"<!DOCTYPE html><meta charset='utf-8'><title>No report</title><p>No report: "
                    f"{html.escape(str(error))}</p><p>The sidebar's text was empty when the button was pressed: type "
                    "a text, then download the report again.</p>")

    empty = not current.text.strip()  # a file that only says "No report" is no file to keep
    page = re.sub(r"[^a-z0-9_-]", "", inputs["page"].lower()) or "overview"  # a name per page: kept side by side
    st.download_button("Download report", data=build, file_name=f"explainer-report-{page}.html", mime="text/html",
                       on_click="ignore", icon=":material/download:", key="download_report", disabled=empty,
                       help="Type a text first: the report shows the views of a text." if empty else
                       "The views of this model and text, with this page's options, in one HTML file that opens "
                       "without a server.")

