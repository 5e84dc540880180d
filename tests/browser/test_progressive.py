"""Progressive pages in a real browser (explainer/ui/progressive.py): the first figure is drawn before the rest of
the page is sent, the rest follows by itself, a rerun with the same key sends everything at once, a page whose
first section drew no figure still gets its rest, and the browser benches count the wait as part of the run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from explainer.bench.app_driver import CHROMIUM, CHROMIUM_FLAGS, app_server, run_sessions
from explainer.ui.progressive import MAX_WAIT_S, PENDING_CLASS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = pytest.importorskip("playwright.sync_api")

PAGE = "tests/browser/progressive_page.py"
LOOK = f"""() => [document.querySelectorAll("[data-testid='stPlotlyChart'] .main-svg").length > 0,
                 document.querySelectorAll("[data-testid='stPlotlyChart']").length,
                 !!document.querySelector(".{PENDING_CLASS}"),
                 document.body.innerText.includes("the rest is drawn")]"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the module: each test asks for its own page key."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium and chromium-driver (see README)")
    with app_server(tmp_path_factory.mktemp("progressive") / "cache", script=PAGE) as running:
        yield running


def watch(page, until, timeout: float = 120.0) -> list[tuple]:
    """Every look (drawn, charts, pending, rest) until `until(look)` holds."""
    looks, deadline = [], time.monotonic() + timeout
    while True:
        look = tuple(page.evaluate(LOOK))
        looks.append(look)
        if until(look):
            return looks
        assert time.monotonic() < deadline, looks[-5:]
        time.sleep(0.05)


def test_the_first_figure_is_drawn_before_the_rest_is_sent_and_the_rest_follows(server):
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page()
        page.goto(f"{server.url}/?charts=4&key=first", wait_until="commit")
        looks = watch(page, lambda look: look[3] and look[1] == 5 and not look[2])
        drawn = [look for look in looks if look[0]]
        # The first drawn look: one chart on the page, the rest not sent yet, the page saying so.
        assert drawn[0][1] == 1 and drawn[0][2] and not drawn[0][3], drawn[:3]
        # The same key again (a rerun in this session): everything in one run, no waiting.
        page.get_by_role("button", name="Rerun").click()
        deadline, seen = time.monotonic() + 4.0, []
        while time.monotonic() < deadline:
            seen.append(tuple(page.evaluate(LOOK)))
            time.sleep(0.05)
        assert not any(look[2] for look in seen) and seen[-1][1] == 5 and seen[-1][3], seen[-3:]
        browser.close()


def test_a_page_without_a_first_figure_gets_its_rest_after_the_wait(server):
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page()
        page.goto(f"{server.url}/?first=0&charts=2&key=none", wait_until="commit")
        started = time.monotonic()
        looks = watch(page, lambda look: look[3] and look[1] == 2 and not look[2])
        assert any(look[2] and look[1] == 0 for look in looks)  # it waited, saying so, with nothing drawn
        assert time.monotonic() - started >= MAX_WAIT_S - 1.0
        browser.close()


def test_the_rest_waits_for_widgets_whose_code_still_loads(server):
    """A widget registers its value with the frontend only once its code has loaded and it is mounted; a rerun
    asked before that redraws it empty. On a busy machine the sidebar's text box of a freshly opened page showed
    nothing beside the page's analysis of the linked text. Here the text box's code arrives after the first
    figure is drawn and after MAX_WAIT_S: the rest must wait for it, and the box keep its seeded text."""
    delay_s = MAX_WAIT_S + 3.0
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page()
        loaded = []

        def late(route):
            time.sleep(delay_s)  # blocks this handler only: the page draws its figure meanwhile
            loaded.append(time.monotonic())
            route.continue_()

        page.route("**/TextArea.*.js", late)
        started = time.monotonic()
        page.goto(f"{server.url}/?charts=2&key=seeded&seeded=Kept+text", wait_until="commit")
        watch(page, lambda look: look[3] and look[1] == 3 and not look[2])
        assert loaded and loaded[0] - started >= delay_s - 0.5  # the box's code did come late
        assert page.locator("textarea").first.input_value(timeout=10_000) == "Kept text"
        browser.close()


def test_the_benches_count_the_wait_and_the_rest_as_the_run(server):
    """Between the first run's end and the rerun no status widget shows: only the pending line says the page is
    not done. Here the first run draws a notice and no figure, so the wait lasts MAX_WAIT_S: a driver blind to the
    line would take the notice for the page's answer within about two seconds."""
    (visit,), = run_sessions(server.url, [(None, [("?notice=1&first=0&charts=1&rest_sleep=1&key=bench", "")])])
    assert not visit.exception and visit.first_figure_s is not None and visit.done_s is not None
    assert visit.first_figure_s >= MAX_WAIT_S - 1.0  # the figure in the rest, not the notice before the wait
    assert visit.done_s >= visit.first_figure_s
