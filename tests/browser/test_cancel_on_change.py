"""A changed input cancels the running section, in a real browser: the Attribution page's "every method" section
runs on a longer text; while LIME (a method that reports no progress of its own) computes, the text is changed in
the sidebar. The new text's page runs to its end, and the server's work log shows the old text's LIME cancelled
mid-run, not completed, and the old text's later sections never started."""

from __future__ import annotations

import re
import time
import urllib.parse
from pathlib import Path

import pytest

from explainer.bench.app_driver import CHROMIUM, CHROMIUM_FLAGS, FIGURE, app_server
from explainer.serving.work_queue import digest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = pytest.importorskip("playwright.sync_api")

OLD = (
    "The film was long and slow, but the actors were warm and the story moved me in the end; the music, the light "
    "and the quiet scenes by the sea stayed with me for days, and I would gladly see it again with friends."
)
NEW = "A fine film."


def finished(log: str, text: str) -> list[tuple[str, str, str, float]]:
    """(section, method, outcome, seconds run) of every finished job on `text`, from the server's work log."""
    found = re.findall(
        rf"work model-work: (\S+) model=\S+ text={digest(text)} (?:(\w+) )?options=\S+ "
        r"(done|failed|cancelled) after ([\d.]+) s",
        log,
    )
    return [(section, method, outcome, float(seconds)) for section, method, outcome, seconds in found]


def wait_for_log(server, pattern: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not re.search(pattern, server.log.read_text()):
        assert time.monotonic() < deadline, f"no {pattern!r} in the server log:\n{server.log.read_text()[-3000:]}"
        time.sleep(0.1)


def test_changing_the_text_mid_run_cancels_the_running_section(tmp_path: Path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium and chromium-driver (see README)")
    with app_server(tmp_path / "cache", env={"EXPLAINER_WORK_LOG": "1"}) as server:
        with playwright_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            # The Overview first: the browser loads plotly there, so it answers at once later on.
            page.goto(f"{server.url}/?{urllib.parse.urlencode({'text': OLD})}", wait_until="commit")
            page.locator(FIGURE).first.wait_for(timeout=240_000)
            page.locator("[data-testid='stSidebarNav'] a").filter(has_text="Attribution").first.click()
            # The server's log says when occlusion is done on the old text: LIME is running on it from then on.
            wait_for_log(server, rf"text={digest(OLD)} occlusion options=\S+ done", timeout=240)
            box = page.locator("[data-testid='stSidebar'] textarea").first
            box.fill(NEW)
            box.press("Control+Enter")
            page.get_by_text("Graph as JSON").first.wait_for(timeout=240_000)  # the new text's page, to its end
            assert page.locator("[data-testid='stSidebar'] textarea").first.input_value() == NEW
            assert "fine" in page.locator(".attribution-text").first.inner_text()
            assert page.locator("[data-testid='stException']").count() == 0
            browser.close()
        wait_for_log(server, rf"attention_attribution model=\S+ text={digest(NEW)} options=\S+ done", timeout=30)
        log = server.log.read_text()
    old, new = finished(log, OLD), finished(log, NEW)
    # LIME on the old text stopped mid-run: it had run for a while, and it never completed.
    lime = [(outcome, seconds) for section, method, outcome, seconds in old if method == "lime"]
    assert len(lime) == 1 and lime[0][0] == "cancelled" and lime[0][1] > 0, (old, log[-3000:])
    # The old text's later sections never ran; the new text's page ran to its end, graph included.
    assert [m for s, m, o, _ in old if o == "done"] == ["saliency", "input_x_gradient", "occlusion"], old
    assert ("attention_attribution", "done") in {(s, o) for s, _, o, _ in new}, new
    assert "Traceback" not in log, log[-3000:]
