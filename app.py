"""Entry point: `streamlit run app.py`. Page config, the shared sidebar, navigation over the pages listed in
explainer/ui/navigation.py (in app_pages/; that module says why not pages/)."""

import streamlit as st

from explainer.ui import navigation, session

st.set_page_config(page_title="Transformer Explainer", page_icon="🔎", layout="wide")
session.sidebar()
page = st.navigation(
    [
        st.Page(p.path, title=p.title, icon=p.icon, default=p.url_path is None, url_path=p.url_path)
        for p in navigation.PAGES
    ]
)
page.run()
