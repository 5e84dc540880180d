"""Entry point: `streamlit run app.py`. Page config, the shared sidebar, navigation over pages/."""

import streamlit as st

from explainer.ui import session

st.set_page_config(page_title="Transformer Explainer", page_icon="🔎", layout="wide")
session.sidebar()
page = st.navigation(
    [
        st.Page("pages/overview.py", title="Overview", icon=":material/search:", default=True),
        st.Page("pages/attention.py", title="Attention", icon=":material/grid_view:", url_path="attention"),
    ]
)
page.run()
