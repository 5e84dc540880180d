"""Serving the app to other people: the demo-mode config (which models and data files a visitor may choose, text
and upload limits, per-request compute limits) and the path policy that keeps every other server file out of reach.

    demo.py   DemoConfig, load_demo_config(path), active_demo() (from `--demo CONFIG` or EXPLAINER_DEMO)
    paths.py  resolve_inside(raw, roots): a path a visitor names, resolved and refused unless inside a root
    memo.py   ResultCache: results shared by every session, bounded in bytes
    work_queue.py  WorkQueue: fair, cancellable queue of expensive work; torch_cancel.py: CancelPoints

No Streamlit here: the CLI applies the same policy (EXPLAINER_DEMO) and the tests probe it directly.
"""
