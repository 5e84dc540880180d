"""The floor page of `bench pages`: a bare Streamlit page that draws one plotly heatmap of the size a page's main
figure has (query parameter `tokens`), and nothing else. Its time is what any page costs before our work starts
(Streamlit's run, the websocket, plotly in the browser), so page times are reported as ratios to it.

Run by the bench as `streamlit run explainer/ui/bench_floor.py`; no part of the app imports it."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

tokens = min(max(int(st.query_params.get("tokens", "17")), 1), 1024)
seed = int(st.query_params.get("seed", "0"))
weights = np.random.default_rng(seed).random((tokens, tokens), dtype=np.float32)
labels = [f"t{i}" for i in range(tokens)]
figure = go.Figure(go.Heatmap(z=weights, x=labels, y=labels, colorscale="Blues"))
figure.update_layout(height=min(900, 220 + 18 * tokens), yaxis={"autorange": "reversed"})
st.plotly_chart(figure, width="stretch")
