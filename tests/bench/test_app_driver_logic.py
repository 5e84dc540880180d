"""The browser driver's decisions, on a scripted page (what the browser shows at each look): when a notice is a
page's answer and when it is only a notice above a figure still loading. The real-browser checks are in
tests/browser/test_app_driver.py."""

from __future__ import annotations

import asyncio
import time

from explainer.bench import app_driver


class ScriptedPage:
    """Answers the driver's LOOK with (figure or exception, notice, busy or pending) from a list, one per look;
    the last state repeats."""

    def __init__(self, states: list[tuple[bool, bool, bool]]) -> None:
        self.states, self.looks = states, 0

    async def evaluate(self, script: str):
        assert script == app_driver.LOOK
        state = self.states[min(self.looks, len(self.states) - 1)]
        self.looks += 1
        return list(state)


def first_look(states) -> tuple[float, ScriptedPage, float]:
    """(seconds to what the driver found, the page, seconds until the driver returned)."""
    page = ScriptedPage(states)
    start = time.perf_counter()
    found = asyncio.run(app_driver._first_figure(page, start + 30))
    return found - start, page, time.perf_counter() - start


def test_a_figure_still_loading_under_a_notice_is_waited_for():
    # The notice shows, the server's run is over, but the chart is still a skeleton for 40 looks (2 s or more):
    # the answer is the figure, not the notice.
    states = [(False, True, True)] * 40 + [(True, True, False)]
    _, page, _ = first_look(states)
    assert page.looks == 41


def test_a_notice_alone_is_the_answer_once_idle_holds():
    states = [(False, False, True)] * 3 + [(False, True, True)] * 2 + [(False, True, False)]
    found, page, returned = first_look(states)
    assert returned >= found + app_driver.SETTLE_S  # it waited for the idle to hold
    assert page.looks > 5  # and reports when the notice showed, not when it stopped looking


def test_a_figure_is_the_answer_at_once():
    found, page, _ = first_look([(True, False, True)])
    assert page.looks == 1 and found < 0.5
