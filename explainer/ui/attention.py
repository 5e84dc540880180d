"""The Attention page's sections, each computed just before it is drawn, so the main figures (every head, the
chosen head: from the Trace alone) reach the browser before anything else is built, and bertviz's views (megabytes
of HTML on long inputs) are built on the view queue (explainer/ui/work.py) while the page waits with a spinner.
Streamlit sends each element as soon as it is drawn: the page fills in from the top."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from explainer.attention.statistics import FIELDS, field_title
from explainer.capture.tracing import Trace
from explainer.ui import caches, demo, export
from explainer.ui.problems import show_problem
from explainer.views import attention as attention_figures
from explainer.views.attention_page import AttentionOptions, grid_note
from explainer.views.bertviz import BertvizView, FrontendMissingError
from explainer.views.text import MISSING, markdown_literal

Chart = Callable[..., Any]


def open_head(layer: int, head: int) -> None:
    st.session_state.attention_layer = int(layer)
    st.session_state.attention_head = int(head)


def _on_chart_click(key: str) -> None:
    """A click on a head in the grid or the statistics map opens that head."""
    head = export.clicked_pair(st.session_state[key])
    if head is not None:
        open_head(*head)


def _on_table_select() -> None:
    rows = st.session_state.attention_table.selection.get("rows", [])
    if rows:
        row = st.session_state["_attention_rows"][rows[0]]
        open_head(row["layer"], row["head"])


def every_head(name: str, text: str, trace: Trace, options: AttentionOptions, chart: Chart) -> None:
    """The main figure: one thumbnail per head (pooled on long inputs), the chosen head marked."""
    st.subheader("Every head")
    st.caption("One thumbnail per head, each scaled to its own strongest weight. Click a thumbnail to open that head.")
    grid, block = caches.get_attention_grid(name, text)
    if block > 1:
        st.info(grid_note(len(trace.tokens), grid.shape[-1]))
    chart(
        attention_figures.head_grid(grid, selected=(options.layer, options.head)),
        "grid",
        on_select=lambda: _on_chart_click("attention_fig_grid"),
        selection_mode="points",
    )


def one_head(trace: Trace, options: AttentionOptions, chart: Chart) -> None:
    st.subheader(f"Layer {options.layer}, head {options.head}")
    chart(attention_figures.attention_heatmap(trace, options.layer, options.head), "head")


def bertviz(name: str, text: str, options: AttentionOptions) -> None:
    """bertviz's head view and model view, built off the page (view queue), cut to a token window."""
    st.subheader("bertviz")
    try:
        views = (
            (
                "head_view",
                "Head view",
                caches.get_bertviz_head_view(
                    name, text, options.bertviz_layers or (options.layer,), options.window_start
                ),
            ),
            (
                "model_view",
                "Model view",
                caches.get_bertviz_model_view(
                    name, text, options.bertviz_layers, options.bertviz_heads, options.window_start
                ),
            ),
        )
    except FrontendMissingError as missing:  # its message names the install folder: not for a demo's visitors
        show_problem("bertviz's views are not installed on this server." if demo.config() else missing)
        return
    st.caption(
        "bertviz's own views, served by this app with its JavaScript bundled (no internet needed). "
        "Head view: lines from each token to those it attends to; model view: every chosen layer and head."
    )
    for key, title, view in views:
        st.markdown(f"**{title}**")
        if view.limited:
            st.info(_window_note(view))
        st.iframe(view.html, height="content")  # the height bertviz drew (a fixed guess left blank space or cut)
        st.download_button(
            f"{title} as HTML",
            view.html,
            file_name=f"bertviz-{key}.html",
            mime="text/html",
            key=f"attention_{key}_download",
            on_click="ignore",
        )


def _window_note(view: BertvizView) -> str:
    return (
        f"Showing tokens {view.token_start}–{view.token_end - 1} of {view.num_tokens} for {len(view.layers)} "
        f"layer(s) x {len(view.heads)} head(s): bertviz sends every weight as text, so fewer layers or heads leave "
        "room for a wider window."
    )


def head_statistics(name: str, text: str, options: AttentionOptions, chart: Chart) -> None:
    st.subheader("Head statistics")
    st.caption(
        "Per head, averaged over query tokens: entropy (low = focused), mean distance attended (tokens), and the "
        "share of attention on the first token, the last token, the token itself and the one before it (over "
        "every query but the first, which has none before it). Click a cell or a table row to open that head."
    )
    statistics = caches.get_attention_derived(name, text).statistics
    st.selectbox("Map", FIELDS, key="attention_statistic", format_func=field_title)
    values = getattr(statistics, options.statistic)
    chart(
        attention_figures.head_statistic_map(values, options.statistic, selected=(options.layer, options.head)),
        "statistics",
        on_select=lambda: _on_chart_click("attention_fig_statistics"),
        selection_mode="points",
    )
    rows = statistics.as_rows()
    st.session_state["_attention_rows"] = rows
    st.dataframe(
        pd.DataFrame(rows).round(4),
        hide_index=True, placeholder=MISSING,
        width="stretch",
        key="attention_table",
        on_select=_on_table_select,
        selection_mode="single-row",
    )


def rollout(name: str, text: str, trace: Trace, chart: Chart) -> None:
    st.subheader("Attention rollout")
    st.caption(
        "Abnar & Zuidema (2020): heads averaged, each layer mixed half-and-half with the identity for the residual "
        "connection, multiplied through all layers."
    )
    matrix = caches.get_attention_derived(name, text).rollout
    if trace.readout_note is None:
        chart(attention_figures.rollout_readout_token(matrix, trace), "rollout_readout")
    else:  # no single position carries the prediction: no row of the rollout is the one it reads
        st.info(markdown_literal(trace.readout_note))
    chart(attention_figures.rollout_heatmap(matrix, trace), "rollout")


def logit_lens(trace: Trace, chart: Chart) -> None:
    if trace.layer_logits is None and not trace.family_notes:
        return
    st.subheader("Prediction by layer (logit lens)")
    if trace.layer_logits is not None:
        st.caption("The model's own classifier head applied to every layer's hidden state.")
        chart(attention_figures.logit_lens_chart(trace), "logit_lens")
    else:  # a family the per-architecture table lacks: say which, and how to add it
        st.info(markdown_literal(" ".join(trace.family_notes)))
