"""Streamlit glue shared by app.py and app_pages/: caches.py (every cache), session.py (the sidebar and the
selection), links.py (link seeding and clamping), navigation.py (the page list), labelled.py and thought_beacon.py
(data-set pickers, interventions), export.py (figure export).

The only part of `explainer` that imports Streamlit; the rest of the library works without it.
"""
