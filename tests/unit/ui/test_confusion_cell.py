"""The Errors page's confusion-cell pick (explainer/ui/labelled.on_cell_click), without a browser: the browser
test (tests/browser/test_errors.py) clicks the chart itself."""

from __future__ import annotations

from types import SimpleNamespace

from explainer.ui import labelled


def test_a_click_on_the_picked_cell_clears_it_and_any_other_cell_picks_that_one(monkeypatch):
    state: dict = {}
    monkeypatch.setattr(labelled, "st", SimpleNamespace(session_state=state))

    def click(*customdata) -> str:
        points = [{"customdata": list(customdata)}] if customdata else []
        state["chart"] = SimpleNamespace(selection={"points": points})
        labelled.on_cell_click("chart", 2)
        return state[labelled.CELL_KEY]

    assert click(0, 1) == "0,1"
    assert click(0, 1) == ""  # the second click on the framed cell (it had taken three)
    assert click(0, 1) == "0,1"
    assert click(1, 0) == "1,0"  # another cell: picked, not cleared
    assert click() == ""  # plotly's own deselection (an empty selection) clears too
    assert click() == ""
