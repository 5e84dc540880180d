"""Attention: every head at once, one head in full, bertviz's views, head statistics, rollout, the logit lens.

Everything is drawn from the cached Trace: changing layer, head or any option never re-runs the model.
Options live in the shareable link (layer, head, stat, bv_layers, bv_heads, window)."""

import dataclasses

import pandas as pd
import streamlit as st

from explainer.attention.statistics import FIELDS
from explainer.ui import caches, export, links, session
from explainer.views import attention_page as attention_views
from explainer.views.bertviz import FrontendMissingError


def _open_head(layer: int, head: int) -> None:
    st.session_state.attention_layer = int(layer)
    st.session_state.attention_head = int(head)


def _on_chart_click(key: str) -> None:
    """A click on a head in the grid or the statistics map opens that head."""
    head = export.clicked_pair(st.session_state[key])
    if head is not None:
        _open_head(*head)


def _on_table_select() -> None:
    rows = st.session_state.attention_table.selection.get("rows", [])
    if rows:
        row = st.session_state["_attention_rows"][rows[0]]
        _open_head(row["layer"], row["head"])


st.title("Attention")
trace = session.current_trace()
if trace is not None:
    current = session.selection()
    derived = caches.get_attention_derived(current.bundle.name, current.text)
    layers, heads, count = trace.num_layers, trace.num_heads, len(trace.tokens)
    st.caption(
        f"{trace.model_name}: predicts **{trace.predicted_label}** ({trace.probabilities[trace.predicted]:.1%}) · "
        f"{count} tokens · {layers} layers × {heads} heads"
    )

    # Seed every option from the shared link once; clamp to this model (the link may name another's sizes).
    links.seed_layer_head("attention", layers, heads)
    links.seed_choice("attention_statistic", "stat", FIELDS)
    links.seed_indices("bertviz_layers", "bv_layers", layers)
    links.seed_indices("bertviz_heads", "bv_heads", heads)
    links.seed_index("bertviz_window", "window", count)

    left, middle, right = st.columns([1, 1, 2])
    layer = left.number_input("Layer", 0, layers - 1, key="attention_layer")
    head = middle.number_input("Head", 0, heads - 1, key="attention_head")
    image_format = right.radio("Image export", ["png", "svg"], horizontal=True, key="attention_image_format")

    with st.expander("bertviz options", expanded=False):
        bv_left, bv_middle, bv_right = st.columns(3)
        bv_left.multiselect("Layers", list(range(layers)), key="bertviz_layers",
                            help="Empty: the chosen layer (head view), all (model view).")
        bv_middle.multiselect("Heads (model view)", list(range(heads)), key="bertviz_heads", help="Empty: all heads.")
        bv_right.number_input("Token window starts at", 0, count - 1, key="bertviz_window")

    options = attention_views.AttentionOptions(
        layer=int(layer), head=int(head), statistic=st.session_state.attention_statistic,
        bertviz_layers=tuple(st.session_state.bertviz_layers), bertviz_heads=tuple(st.session_state.bertviz_heads),
        window_start=int(st.session_state.bertviz_window),
    )
    links.publish_options({"layer": str(options.layer), "head": str(options.head), "stat": options.statistic,
                           "bv_layers": links.joined(options.bertviz_layers),
                           "bv_heads": links.joined(options.bertviz_heads), "window": str(options.window_start)})
    try:
        page = attention_views.build(trace, options, derived)
    except FrontendMissingError as missing:
        st.error(str(missing))
        page = attention_views.build(trace, dataclasses.replace(options, bertviz=False), derived)
    chart = export.charts("attention_fig", image_format)

    st.subheader("Every head")
    st.caption("One thumbnail per head, each scaled to its own strongest weight. Click a thumbnail to open that head.")
    if "grid" in page.notes:
        st.info(page.notes["grid"])
    chart(page.figures["grid"], "grid", on_select=lambda: _on_chart_click("attention_fig_grid"),
          selection_mode="points")

    st.subheader(f"Layer {options.layer}, head {options.head}")
    chart(page.figures["head"], "head")

    st.subheader("bertviz")
    if page.head_view is not None and page.model_view is not None:
        st.caption(
            "bertviz's own views, served by this app with its JavaScript bundled (no internet needed). "
            "Head view: lines from each token to those it attends to; model view: every chosen layer and head."
        )
        for name, view, title in (("head_view", page.head_view, "Head view"),
                                  ("model_view", page.model_view, "Model view")):
            st.markdown(f"**{title}**")
            if name in page.notes:
                st.info(page.notes[name])
            tokens = view.token_end - view.token_start
            height = 220 + 22 * tokens if name == "head_view" else 140 + 120 * len(view.layers)
            st.iframe(view.html, height=min(height, 3000))
            st.download_button(f"{title} as HTML", view.html, file_name=f"bertviz-{name}.html", mime="text/html",
                               key=f"attention_{name}_download", on_click="ignore")

    st.subheader("Head statistics")
    st.caption(
        "Per head, averaged over query tokens: entropy (low = focused), mean distance attended (tokens), and the "
        "share of attention on the first token, the last token, the token itself and the one before it. "
        "Click a cell or a table row to open that head."
    )
    st.selectbox("Map", FIELDS, key="attention_statistic")
    chart(page.figures["statistics"], "statistics", on_select=lambda: _on_chart_click("attention_fig_statistics"),
          selection_mode="points")
    rows = page.statistics.as_rows()
    st.session_state["_attention_rows"] = rows
    st.dataframe(pd.DataFrame(rows).round(4), hide_index=True, width="stretch", key="attention_table",
                 on_select=_on_table_select, selection_mode="single-row")

    st.subheader("Attention rollout")
    st.caption(
        "Abnar & Zuidema (2020): heads averaged, each layer mixed half-and-half with the identity for the residual "
        "connection, multiplied through all layers."
    )
    chart(page.figures["rollout_first"], "rollout_first")
    chart(page.figures["rollout"], "rollout")

    if "logit_lens" in page.figures:
        st.subheader("Prediction by layer (logit lens)")
        st.caption("The model's own classifier head applied to every layer's hidden state.")
        chart(page.figures["logit_lens"], "logit_lens")
    elif "logit_lens" in page.notes:
        st.subheader("Prediction by layer (logit lens)")
        st.info(page.notes["logit_lens"])
