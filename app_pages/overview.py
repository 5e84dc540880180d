"""Overview: the prediction and one attention head for the sidebar's model and text."""

import streamlit as st

from explainer.ui import export, links, session
from explainer.views import attention as attention_figures
from explainer.views.text import markdown_label, markdown_literal, plural

st.title("Overview")
trace = session.current_trace()
if trace is not None:
    st.subheader(f"Prediction: {markdown_label(trace.predicted_label)} ({trace.probabilities[trace.predicted]:.1%})")
    st.plotly_chart(attention_figures.prediction_bars(trace), width="stretch", key="prediction",
                    config=export.image_config("overview-prediction", "png"))

    st.subheader("Attention")
    # Seeded from the shared link once (default: the last layer), clamped to this model's sizes.
    links.seed_layer_head("overview", trace.num_layers, trace.num_heads, default_layer=trace.num_layers - 1)
    left, right = st.columns(2)
    layer = left.number_input("Layer", 0, trace.num_layers - 1, key="overview_layer")
    head = right.number_input("Head", 0, trace.num_heads - 1, key="overview_head")
    links.publish_options({"layer": str(int(layer)), "head": str(int(head))})
    st.plotly_chart(attention_figures.attention_heatmap(trace, int(layer), int(head)), width="stretch", key="attention",
                    config=export.image_config("overview-attention", "png"))
    st.caption(
        f"{markdown_literal(trace.model_name)} · {plural(len(trace.tokens), 'token')} · "
        f"{plural(trace.num_layers, 'layer')} × {plural(trace.num_heads, 'head')}"
    )
    if summary := session.card_summary_of_selection():  # what the model is, as a stakeholder's report says it
        st.caption(f"About this model: {markdown_literal(summary)}")
