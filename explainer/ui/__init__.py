"""Streamlit glue shared by app.py and app_pages/: caching, the sidebar, shared state.

The only part of `explainer` that imports Streamlit; the rest of the library works without it.
"""
