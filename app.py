"""Entry point: `streamlit run app.py` (local mode, 127.0.0.1) or `streamlit run app.py -- --demo demo.toml`
(demo mode: explainer/serving/demo.py). Heavy imports first and once (explainer/ui/startup.py says why), then
page config, demo settings, the shared sidebar, and navigation over the pages listed in explainer/ui/navigation.py
(in app_pages/; that module says why not pages/)."""

from explainer.ui import startup

startup.warm()

import streamlit as st  # noqa: E402  (after warm(): see explainer/ui/startup.py)

from explainer.ui import demo, history, links, navigation, progressive, session  # noqa: E402

st.set_page_config(page_title="Transformer Explainer", page_icon="🔎", layout="wide")
demo.apply()
links.begin_run()
progressive.begin_run()
try:
    session.sidebar()
    history.one_entry_per_action()
    page = st.navigation(
        [
            st.Page(p.path, title=p.title, icon=p.icon, default=p.url_path is None,
                    url_path=p.url_path or navigation.DEFAULT_KEY)
            for p in navigation.PAGES
        ]
        # /overview as well as /: the name the reports, the CLI's --pages and the other pages' paths use
        + [st.Page(p.path, title=p.title, icon=p.icon, url_path=p.alias, visibility="hidden")
           for p in navigation.PAGES if p.alias]
    )
    links.arrive()
    page.run()
finally:  # also when a page reruns: the run's options reach the address in one step (a stopped run sends nothing:
    # pages stop with links.stop, which sends them first)
    links.end_run()
