"""Small pieces of the link's toasts (explainer/ui/links.py)."""

from __future__ import annotations

from explainer.ui.links import shown_value


def test_a_shown_value_is_one_short_line_of_code_and_an_empty_one_is_said():
    assert shown_value("") == shown_value("  ") == "(empty)"  # "``" showed as two backticks
    assert shown_value("a `b`\nc") == "`a 'b' c`"
    assert shown_value("x" * 50) == f"`{'x' * 40}…`"
