"""The one way a page shows a problem's text: an exception's message or any sentence naming what someone typed or
linked (a model name, a path, a column). Streamlit draws st.error/st.info/st.warning as markdown, so a name such as
`[Session expired](https://evil.example)` in a link would draw a clickable link inside the app's own message;
here every such text goes through `markdown_literal` and is shown as typed. tests/app/test_problems.py reads the
pages and this package and refuses a bare `st.error(str(error))`."""

from __future__ import annotations

import logging
from typing import Literal

import streamlit as st

from explainer.data.disk_cache import NamesServerFolder
from explainer.ui import demo
from explainer.views.text import markdown_literal

Kind = Literal["error", "warning", "info"]
SHOW = {"error": st.error, "warning": st.warning, "info": st.info}


def show_problem(problem: BaseException | str, kind: Kind = "error", *, lead: str = "", subject: str = "") -> None:
    """Show `problem` (an exception, or text that may hold user input) as a `kind` box, escaped; `lead` is the
    app's own markdown before it (a short label such as "Model A: "), not escaped. `subject`: which of a page's
    texts the problem is about ("The edited copy"): it takes the place of a message's "The text" ("The edited copy
    is empty: …", not "The edited copy: The text is empty: …"), else leads it."""
    said = str(problem)
    if isinstance(problem, NamesServerFolder) and demo.config() is not None:  # a visitor learns no server path
        logging.getLogger("explainer.demo").error("%s", said)
        said = problem.public
    if subject and said.startswith("The text "):
        said, lead = said.removeprefix("The text "), f"{lead}{subject} "
    elif subject:
        lead = f"{lead}{subject}: "
    SHOW[kind](lead + markdown_literal(said))
