"""Attention: one head at a time, rollout through all layers, statistics of every head, the logit lens.

Everything is drawn from the cached Trace: changing layer or head never re-runs the model."""

import pandas as pd
import streamlit as st

from explainer import plots
from explainer.attention import FIELDS, attention_rollout, head_statistics
from explainer.ui import session

st.title("Attention")
trace = session.current_trace()
if trace is not None:
    st.caption(
        f"{trace.model_name}: predicts **{trace.predicted_label}** ({trace.probabilities[trace.predicted]:.1%}) · "
        f"{len(trace.tokens)} tokens · {trace.num_layers} layers × {trace.num_heads} heads"
    )
    left, right = st.columns(2)
    layer = left.number_input("Layer", 0, trace.num_layers - 1, 0, key="attention_layer")
    head = right.number_input("Head", 0, trace.num_heads - 1, 0, key="attention_head")
    st.plotly_chart(plots.attention_heatmap(trace, int(layer), int(head)), width="stretch", key="head")

    st.subheader("Head statistics")
    st.caption(
        "Per head, averaged over query tokens: entropy (low = focused), mean distance attended (tokens), and the "
        "share of attention on the first token, the last token, the token itself and the one before it."
    )
    stats = head_statistics(trace.attentions)
    statistic = st.selectbox("Map", FIELDS, key="attention_statistic")
    st.plotly_chart(plots.head_statistic_map(getattr(stats, statistic), statistic), width="stretch", key="stats")
    st.dataframe(pd.DataFrame(stats.as_rows()).round(4), hide_index=True, width="stretch")

    st.subheader("Attention rollout")
    st.caption(
        "Abnar & Zuidema (2020): heads averaged, each layer mixed half-and-half with the identity for the residual "
        "connection, multiplied through all layers. Row 0 is what the first token draws on."
    )
    st.plotly_chart(plots.rollout_heatmap(attention_rollout(trace.attentions), trace), width="stretch", key="rollout")

    if trace.layer_logits is not None:
        st.subheader("Prediction by layer (logit lens)")
        st.caption("The model's own classifier head applied to every layer's hidden state.")
        st.plotly_chart(plots.logit_lens_chart(trace), width="stretch", key="lens")
