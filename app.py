"""Entry point: `streamlit run app.py`. Page config, the shared sidebar, navigation over app_pages/.

Not "pages/": with a folder of that name beside app.py, Streamlit 1.67 reset the sidebar's widgets (model,
text) on every change made in them."""

import streamlit as st

from explainer.ui import session

st.set_page_config(page_title="Transformer Explainer", page_icon="🔎", layout="wide")
session.sidebar()
page = st.navigation(
    [
        st.Page("app_pages/overview.py", title="Overview", icon=":material/search:", default=True),
        st.Page("app_pages/attention.py", title="Attention", icon=":material/grid_view:", url_path="attention"),
        st.Page("app_pages/attribution.py", title="Attribution", icon=":material/insights:", url_path="attribution"),
        st.Page("app_pages/markers.py", title="Thought markers", icon=":material/route:", url_path="markers"),
        st.Page("app_pages/beacons.py", title="Beacons", icon=":material/bolt:", url_path="beacons"),
        st.Page("app_pages/errors.py", title="Errors", icon=":material/rule:", url_path="errors"),
        st.Page("app_pages/compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
    ]
)
page.run()
