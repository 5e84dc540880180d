"""Server entry with warm start: `streamlit run serve.py` (add `-- --demo demo.toml` for demo mode).

Streamlit runs app.py once per visitor; this file wraps it in an ASGI app (st.App) whose lifespan starts loading,
as soon as the server is up, the default model (in demo mode every configured model) and the default text's trace,
so the first visitor does not pay for them. `streamlit run app.py` still works, without the warm start.
"""

import contextlib
import threading

import streamlit as st

from explainer.ui import startup


@contextlib.asynccontextmanager
async def lifespan(app):
    startup.cap_demo_uploads()  # before any visitor: Streamlit's upload endpoint answers from the first session on
    # In a thread: the server answers at once; a visitor arriving early waits on the same cached load.
    threading.Thread(target=startup.warm_models, name=startup.WARM_THREAD, daemon=True).start()
    yield


app = st.App("app.py", lifespan=lifespan)
