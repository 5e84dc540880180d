"""Every page and every part of explainer/ui shows a problem's text through `show_problem`, which escapes it: a
bare `st.error(str(error))` would draw a link or styled text that a crafted name in a link put in the message."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from explainer.ui.problems import show_problem
from tests.conftest import as_read

ROOT = Path(__file__).resolve().parents[2]
MARKDOWN_CALLS = {"error", "warning", "info", "success", "markdown", "caption", "write", "toast", "exception",
                  "subheader", "header", "title", "expander", "metric"}
NOT_STREAMLIT = {"logger", "log", "logging", "parser", "warnings", "getLogger"}  # .error/.warning that draw nothing
SOURCES = sorted([*ROOT.glob("app_pages/*.py"), *ROOT.glob("explainer/ui/*.py"), ROOT / "app.py"])


def receiver(node: ast.AST) -> str | None:
    """The name a call is made on: `st` of st.error, `getLogger` of logging.getLogger(...).error."""
    if isinstance(node, ast.Call):
        node = node.func
    return getattr(node, "id", getattr(node, "attr", None))


def bare_problems(source: str) -> list[str]:
    """`st.<markdown element>(...)` calls whose arguments hold an exception's text unescaped: `str(...)`, a name an
    `except ... as name` bound, or a `.error` field. Arguments passed through `markdown_literal`, `markdown_label`
    or `html_text` (or `show_problem` itself) are escaped and not counted."""
    tree = ast.parse(source)
    caught = {handler.name for handler in ast.walk(tree) if isinstance(handler, ast.ExceptHandler) and handler.name}

    def unescaped(node: ast.AST) -> bool:
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in {
            "markdown_literal", "markdown_label", "html_text", "plot_text"}:
            return False
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "str":
            return True
        if isinstance(node, ast.Name) and node.id in caught:
            return True
        if isinstance(node, ast.Attribute) and node.attr == "error":
            return True
        return any(unescaped(child) for child in ast.iter_child_nodes(node))

    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MARKDOWN_CALLS
                and receiver(node.func.value) not in NOT_STREAMLIT  # st, st.sidebar, a column, a box
                and any(unescaped(arg) for arg in [*node.args, *(k.value for k in node.keywords)])):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_page_shows_an_exception_s_text_unescaped(path: Path) -> None:
    assert bare_problems(path.read_text(encoding="utf-8")) == []


def test_the_check_catches_the_forms_it_is_for() -> None:
    # Each form a page has used before the helper existed; the check must see every one.
    bad = (
        "try:\n    pass\nexcept ValueError as error:\n    st.error(str(error))\n",
        "try:\n    pass\nexcept ValueError as oops:\n    st.info(oops)\n",
        "try:\n    pass\nexcept ValueError as oops:\n    st.info(f'Model B: {oops}')\n",
        "st.error(current.error)\n",
        "column.warning('x ' + str(problem))\n",
        "try:\n    pass\nexcept ValueError as oops:\n    st.sidebar.error(oops)\n",
        "cells[0].info(str(problem))\n",
    )
    for source in bad:
        assert bare_problems(source), source
    good = (
        "try:\n    pass\nexcept ValueError as error:\n    show_problem(error)\n",
        "try:\n    pass\nexcept ValueError as error:\n    st.error(markdown_literal(str(error)))\n",
        "st.info('No edit flips this prediction.')\n",
    )
    for source in good:
        assert not bare_problems(source), source


def test_show_problem_shows_a_crafted_name_as_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    import explainer.ui.problems as problems

    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(problems, "SHOW", {kind: (lambda body, kind=kind: shown.append((kind, body)))
                                           for kind in ("error", "warning", "info")})
    crafted = "no column '[Session expired](evil.html)' *here*"
    show_problem(ValueError(crafted))
    show_problem(crafted, "info", lead="Model B: ")
    assert [kind for kind, _ in shown] == ["error", "info"]
    assert not re.search(r"(?<!\\)\]\(", shown[0][1])  # no link: every ] before ( is escaped
    assert "\\[Session expired\\]" in shown[0][1] and "\\*here\\*" in shown[0][1] and as_read(shown[0][1]) == crafted
    assert shown[1][1].startswith("Model B: ") and as_read(shown[1][1]) == "Model B: " + crafted
