"""The stakeholder report opens in headless Chromium with the network closed: every figure renders from the
inlined plotly.js, no request leaves the file, and HTML typed into the text stays text (no script runs)."""

from __future__ import annotations

import pytest

from explainer.report import build_report
from tests.browser.test_browser import browser, playwright_api  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser]

TEXT = 'A <b>bold</b> claim </script><script>alert("x")</script><img src=x onerror=alert(2)> that it is good.'


def test_the_report_renders_offline_and_keeps_html_as_text(bundle, browser, tmp_path):  # noqa: F811
    report = tmp_path / "report.html"
    report.write_text(build_report(bundle("ours"), TEXT, pages=("overview", "attention", "attribution", "markers",
                                                                 "beacons")), encoding="utf-8")
    context = browser.new_context(offline=True)
    requests: list[str] = []
    context.route("**/*", lambda route: (requests.append(route.request.url),
                                         route.continue_() if route.request.url.startswith("file:") else route.abort()))
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(report.as_uri(), wait_until="load")
    figures = page.locator(".js-plotly-plot")
    expected = report.read_text(encoding="utf-8").count('class="plotly-graph-div"')
    assert expected >= 8  # overview 2, attention 3, attribution 1, markers 2, beacons 1-2
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {expected}",
                           timeout=60_000)
    assert figures.count() == expected
    assert all(url.startswith("file:") for url in requests), requests  # nothing fetched from a network
    assert dialogs == [] and errors == []
    assert TEXT in page.locator("div.input-text").inner_text()  # shown as typed, not interpreted
    assert page.locator("img[src='x']").count() == 0 and page.locator("div.input-text b").count() == 0
    context.close()
