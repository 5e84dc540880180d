"""A page for tests/browser/test_app_driver.py: one plotly figure, then a pause of `?sleep=` seconds, then text.
Served from the repository root, so it runs under the app's own .streamlit/config.toml."""

import time

import plotly.graph_objects as go
import streamlit as st

st.plotly_chart(go.Figure(go.Heatmap(z=[[0, 1], [1, 0]])))
time.sleep(min(float(st.query_params.get("sleep", "0")), 10.0))
st.write("the run is over")
