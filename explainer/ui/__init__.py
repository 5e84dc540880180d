"""Streamlit glue shared by app.py and app_pages/: caches.py (every cache), session.py (the sidebar and the
selection), links.py (link seeding and clamping), history.py (one history entry per user action),
navigation.py (the page list), labelled.py and thought_beacon.py
(data-set pickers, interventions), export.py (figure export), text_box.py (length-limited text boxes), startup.py
(heavy imports once, before any page), work.py (expensive work queued fairly across sessions), progressive.py
(a page's first figure before the rest), demo.py (demo mode applied to the page); one module per page that needs
more than widgets: attention.py, whatif.py, causal.py, compare.py, dataset_map.py. problems.py shows an error's
text escaped (show_problem), the one way pages show one. widget_state.py sends a choice widget's value with every run
(resend), so a browser that draws it anew does not reset it to its default. bench_floor.py is the `pages`
bench's reference page, imported by nothing.

The only part of `explainer` that imports Streamlit; the rest of the library works without it.
"""
