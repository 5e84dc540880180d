"""A page for tests/browser/test_app_driver.py, shaped by its query: `notice=1` an informational notice first,
`before=S` a pause before the figure, `figure=0` no figure at all, `sleep=S` a pause after it, then text.
Served from the repository root, so it runs under the app's own .streamlit/config.toml."""

import time

import plotly.graph_objects as go
import streamlit as st


def pause(name: str) -> None:
    time.sleep(min(float(st.query_params.get(name, "0")), 10.0))


if st.query_params.get("notice") == "1":
    st.info("A notice above the figure (as a page says that a long text was pooled).")
pause("before")
if st.query_params.get("figure", "1") == "1":
    st.plotly_chart(go.Figure(go.Heatmap(z=[[0, 1], [1, 0]])))
pause("sleep")
st.write("the run is over")
