"""Streamlit glue of demo mode (explainer/serving/demo.py): the config this server runs under, applied to the
page (tracebacks hidden) and to each request's size (text length, tokens for the expensive views)."""

from __future__ import annotations

import streamlit as st

from explainer.serving.demo import DemoConfig, DemoConfigError, active_demo

TOO_LONG_KEY = "_demo_text_clamped"


def config() -> DemoConfig | None:
    """The demo config, or None in local mode (DemoConfigError is handled once per run by `apply`)."""
    return active_demo()


def apply() -> DemoConfig | None:
    """Called first by app.py on every run. In demo mode: hide tracebacks and error details from visitors; a demo
    config that cannot be used stops the app with its reason (never falls back to the open local mode)."""
    try:
        demo = active_demo()
    except DemoConfigError as error:
        st.set_option("client.showErrorDetails", "none")
        st.error(f"This demo is not configured correctly: {error}")
        st.stop()
    if demo is not None:
        st.set_option("client.showErrorDetails", "none")
    return demo


def within_token_limit(what: str, tokens: int, limit_name: str, text_tokens: int | None = None) -> bool:
    """In demo mode, False (after saying so on the page) when `tokens` exceeds the configured limit `limit_name`
    (a field of serving.demo.Limits) for `what`; always True in local mode. `text_tokens`: the whole text's count
    when the model read only its beginning (`tokens`), so the message gives the count the page's warning gives."""
    demo = config()
    if demo is None:
        return True
    limit = int(getattr(demo.limits, limit_name))
    if tokens > limit:
        has = f"{tokens:,}" if text_tokens is None else f"{text_tokens:,} (the model reads {tokens:,} of them)"
        st.info(f"This demo computes {what} for texts of at most {limit:,} tokens; this one has {has}. "
                "Shorten the text to see it.")
        return False
    return True


def within_trace_limit(what: str, trace, limit_name: str) -> bool:
    """within_token_limit for the tokens a Trace holds (its whole text's count when it was truncated)."""
    return within_token_limit(what, len(trace.tokens), limit_name, trace.num_text_tokens if trace.truncated else None)
