"""Streamlit glue of demo mode (explainer/serving/demo.py): the config this server runs under, applied to the
page (tracebacks hidden) and to each request's size (text length, tokens for the expensive views)."""

from __future__ import annotations

import logging

import streamlit as st

from explainer.capture.validation import MAX_TEXT_CHARS
from explainer.serving.demo import DemoConfig, DemoConfigError, active_demo

TOO_LONG_KEY = "_demo_text_clamped"
NOT_CONFIGURED = "This demo is not configured correctly; the server's log says why."


def config() -> DemoConfig | None:
    """The demo config, or None in local mode (DemoConfigError is handled once per run by `apply`)."""
    return active_demo()


def apply() -> DemoConfig | None:
    """Called first by app.py on every run. In demo mode: hide tracebacks and error details from visitors; a demo
    config that cannot be used stops the app (never falls back to the open local mode). Its reason names server
    paths (the config's, a model's, a data set's), so it goes to the server's log, not to the visitor."""
    try:
        demo = active_demo()
    except DemoConfigError as error:
        st.set_option("client.showErrorDetails", "none")
        logging.getLogger("explainer.demo").error("the demo config cannot be used: %s", error)
        cap_uploads(0)  # the upload endpoint takes files whatever the page shows: none while the demo is broken
        st.error(NOT_CONFIGURED)
        st.stop()
    if demo is not None:
        st.set_option("client.showErrorDetails", "none")
        cap_uploads(demo.limits.max_upload_mb)
    return demo


CAPPED_BY = "the demo config's limits.max_upload_mb"  # where_defined of a value cap_uploads set
_server_limit = [200]  # server.maxUploadSize as the server set it, before a cap of ours (Streamlit's default)


def cap_uploads(limit_mb: int) -> None:
    """Set Streamlit's server.maxUploadSize to the demo's upload limit (0: none), never above the server's own. Its
    upload endpoint takes a file for any live session up to that size (200 MB by default) whether or not a page
    shows an uploader, so a demo without uploads would still hold what a visitor sends. Streamlit reads the option
    on each upload. Set, not only lowered: a config that could not be used for a while (a folder not yet mounted)
    caps uploads at 0, and the demo's own limit applies again once it can."""
    from streamlit import config

    current = config.get_option("server.maxUploadSize")
    if config.get_where_defined("server.maxUploadSize") != CAPPED_BY:  # the server's own (again, after Streamlit
        _server_limit[0] = current  # re-read its config files, which resets every option it did not read there)
    wanted = min(_server_limit[0], limit_mb)
    if current != wanted:
        config.set_option("server.maxUploadSize", wanted, CAPPED_BY)


def attribution_limit() -> int | None:
    """The demo's attribution token limit (None in local mode): what a page passes to a computation that
    attributes, so one over it computes nothing."""
    demo = config()
    return None if demo is None else int(demo.limits.attribution_tokens)


def within_token_limit(
    what: str, tokens: int, limit_name: str, text_tokens: int | None = None, subject: str = "this one"
) -> bool:
    """In demo mode, False (after saying so on the page) when `tokens` exceeds the configured limit `limit_name`
    (a field of serving.demo.Limits) for `what`; always True in local mode. `text_tokens`: the whole text's count
    when the model read only its beginning (`tokens`), so the message gives the count the page's warning gives.
    `subject`: which text, where a page has more than one ("the corrupted text")."""
    demo = config()
    if demo is None:
        return True
    limit = int(getattr(demo.limits, limit_name))
    if tokens > limit:
        has = f"{tokens:,}" if text_tokens is None else f"{text_tokens:,} (the model reads {tokens:,} of them)"
        shorten = "the text" if subject == "this one" else subject
        st.info(f"This demo computes {what} for texts of at most {limit:,} token{'' if limit == 1 else 's'}; "
                f"{subject} has {has}. "
                f"Shorten {shorten} to see it.")
        return False
    return True


def text_limit() -> int:
    """The most characters a text box keeps: the demo's max_text_chars, else the library's limit."""
    demo = config()
    return demo.limits.max_text_chars if demo is not None else MAX_TEXT_CHARS


def within_trace_limit(what: str, trace, limit_name: str, subject: str = "this one") -> bool:
    """within_token_limit for the tokens a Trace holds (its whole text's count when it was truncated)."""
    return within_token_limit(what, len(trace.tokens), limit_name, trace.num_text_tokens if trace.truncated else None,
                              subject)
