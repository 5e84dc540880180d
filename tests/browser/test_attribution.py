"""The Attribution page in a real browser: highlighted text, faithfulness curves and the graph render, the
page stays offline, and markup in the input stays text."""

from __future__ import annotations

import os
import urllib.parse

import pytest

from tests.browser.test_browser import block_network, browser  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TEXT = 'Great <script>alert("x")</script><b>bold</b> film <img src=x onerror=alert(1)> but slow.'


def test_attribution_page_renders_text_curves_and_graph_with_markup_as_text(browser, app_url, tmp_path):  # noqa: F811
    query = urllib.parse.urlencode({"text": TEXT, "threshold": "0.1"})
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    tried = block_network(page)
    page.goto(f"{app_url}/attribution?{query}", wait_until="domcontentloaded")
    highlighted = page.locator(".attribution-text").first
    highlighted.wait_for(timeout=180_000)
    charts = page.locator(".js-plotly-plot")
    charts.nth(4).wait_for(timeout=180_000)  # bars, curves, two agreement maps, the graph
    page.get_by_text("Graph as JSON").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    assert not dialogs, f"script in the input ran: {dialogs}"
    assert page.locator("[data-testid='stException']").count() == 0
    # The markup is shown as text, never as elements.
    shown = highlighted.inner_text()
    assert "<script>" in shown.replace(" ", "") or "<" in shown
    assert highlighted.locator("script, img, b").count() == 0
    assert highlighted.locator(".attribution-token").count() > 10
    # Curves: the faithfulness figure has line traces in two panels; the graph has edges and nodes.
    curves = charts.nth(1)
    assert curves.locator(".scatterlayer .trace").count() >= 2 * 9
    graph = charts.nth(4)
    assert graph.locator(".scatterlayer .trace").count() >= 3  # at least one edge, midpoints, nodes
    assert "Attribution graph" in graph.inner_text()
    assert not tried, f"the page asked the internet for {tried}"
    page.screenshot(path=str(tmp_path / "attribution.png"), full_page=True)
    if os.environ.get("SCREENSHOT_DIR"):
        folder = os.environ["SCREENSHOT_DIR"]
        page.screenshot(path=os.path.join(folder, "attribution.png"), full_page=True)
        for index, name in ((1, "curves"), (2, "agreement"), (4, "graph")):
            charts.nth(index).scroll_into_view_if_needed()
            charts.nth(index).screenshot(path=os.path.join(folder, f"attribution-{name}.png"))
