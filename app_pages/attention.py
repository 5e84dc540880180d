"""Attention: every head at once, one head in full, bertviz's views, head statistics, rollout, the logit lens.

Everything is drawn from the cached Trace: changing layer, head or any option never re-runs the model. Sections are
built one at a time from the top (explainer/ui/attention.py), so the main figure comes first; bertviz's views are
built off the page. Options live in the shareable link (layer, head, stat, bv_layers, bv_heads, window)."""

import streamlit as st

from explainer.attention.statistics import FIELDS
from explainer.ui import attention as sections
from explainer.ui import export, links, progressive, session
from explainer.ui import whatif as whatif_ui
from explainer.views import attention_page as attention_views
from explainer.views.text import markdown_literal, markdown_strong, plural

st.title("Attention")
trace = session.current_trace()
if trace is not None:
    current = session.selection()
    name, text = current.bundle.name, current.text
    layers, heads, count = trace.num_layers, trace.num_heads, len(trace.tokens)
    whatif_ui.back_button(name, text)  # a head opened from What-if's change map, for its edited copy
    st.caption(
        f"{markdown_literal(trace.model_name)}: predicts {markdown_strong(trace.predicted_label)} "
        f"({trace.probabilities[trace.predicted]:.1%}) · "
        f"{plural(count, 'token')} · {plural(layers, 'layer')} × {plural(heads, 'head')}"
    )

    # Seed every option from the shared link once; clamp to this model (the link may name another's sizes).
    links.seed_layer_head("attention", layers, heads)
    links.seed_choice("attention_statistic", "stat", FIELDS, tell=True)
    links.seed_indices("bertviz_layers", "bv_layers", layers)
    links.seed_indices("bertviz_heads", "bv_heads", heads)
    links.seed_index("bertviz_window", "window", count, of="this text")

    left, middle, right = st.columns([1, 1, 2])
    layer = left.number_input("Layer", 0, layers - 1, key="attention_layer")
    head = middle.number_input("Head", 0, heads - 1, key="attention_head")
    links.keep("attention_image_format")
    image_format = right.radio("Image export", ["png", "svg"], horizontal=True, key="attention_image_format")

    with st.expander("bertviz options", expanded=False):
        bv_left, bv_middle, bv_right = st.columns(3)
        bv_left.multiselect(
            "Layers",
            list(range(layers)),
            key="bertviz_layers",
            help="Empty: the chosen layer (head view), all (model view).",
        )
        bv_middle.multiselect("Heads (model view)", list(range(heads)), key="bertviz_heads", help="Empty: all heads.")
        bv_right.number_input("Token window starts at", 0, count - 1, key="bertviz_window",
                              help="Used when the text is longer than bertviz's window (a note above each view "
                              "says so); a shorter text is shown whole.")

    options = attention_views.AttentionOptions(
        layer=int(layer),
        head=int(head),
        statistic=st.session_state.attention_statistic,
        bertviz_layers=tuple(st.session_state.bertviz_layers),
        bertviz_heads=tuple(st.session_state.bertviz_heads),
        window_start=int(st.session_state.bertviz_window),
    )
    links.publish_options(
        {
            "layer": str(options.layer),
            "head": str(options.head),
            "stat": options.statistic,
            "bv_layers": links.joined(options.bertviz_layers),
            "bv_heads": links.joined(options.bertviz_heads),
            "window": str(options.window_start),
        }
    )
    chart = export.charts("attention_fig", image_format)

    # Top to bottom, each section computed just before it is drawn: the main figures first, from the Trace alone.
    sections.every_head(name, text, trace, options, chart)
    if not progressive.rest_may_follow(("attention", name, text)):
        links.stop()  # the rest follows once the browser has drawn the grid
    sections.one_head(trace, options, chart)
    sections.bertviz(name, text, options)
    sections.head_statistics(name, text, options, chart)
    sections.rollout(name, text, trace, chart)
    sections.logit_lens(trace, chart)
