"""A page for tests/browser/test_progressive.py, shaped by its query: a notice with `notice=1`, a first figure
(none with `first=0`), then, once the browser has drawn it (at once with `progressive=0`), `charts=N` more figures,
a pause of `rest_sleep=S` and a closing line. `key=K` names the page's key; `seeded=TEXT` adds a text box that the
session's first run seeds with TEXT, as the app's sidebar seeds its text from a link. Served from the repository
root, so it runs under the app's own .streamlit/config.toml."""

import time

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from explainer.ui import progressive

rng = np.random.default_rng(0)
st.title("Progressive")
st.button("Rerun", key="rerun")
if "seeded" in st.query_params:
    if "box" not in st.session_state:
        st.session_state.box = st.query_params["seeded"]
    st.text_area("Seeded", key="box")
if st.query_params.get("notice") == "1":
    st.info("A notice above the page's figures.")
if st.query_params.get("first", "1") == "1":
    st.plotly_chart(go.Figure(go.Heatmap(z=rng.random((64, 64)))), key="first")
key = ("page", st.query_params.get("key", ""))
if st.query_params.get("progressive", "1") == "1" and not progressive.rest_may_follow(key):
    st.stop()
for i in range(int(st.query_params.get("charts", "4"))):
    st.plotly_chart(go.Figure(go.Heatmap(z=rng.random((64, 64)))), key=f"rest_{i}")
time.sleep(min(float(st.query_params.get("rest_sleep", "0")), 10.0))
st.write("the rest is drawn")
