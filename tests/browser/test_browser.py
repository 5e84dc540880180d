"""The whole path in a real browser: streamlit serves the app, headless Debian Chromium renders it."""

from __future__ import annotations

import urllib.parse

import pytest

from explainer.loading import shipped
from tests.browser.support import CHROMIUM, CHROMIUM_FLAGS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield chromium
        chromium.close()


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(url, wait_until="domcontentloaded")
    return page, dialogs


def wait_for_heatmap(page) -> None:
    page.get_by_text("Prediction:", exact=False).first.wait_for(timeout=90_000)
    # the attention heatmap is a plotly figure with a heatmap trace drawn as an image in its SVG
    page.locator(".js-plotly-plot .heatmaplayer").first.wait_for(timeout=60_000)


def test_overview_shows_prediction_and_heatmap(browser, app_url, tmp_path):
    page, dialogs = open_page(browser, app_url)
    wait_for_heatmap(page)
    assert page.locator(".js-plotly-plot").count() >= 2  # probabilities + attention
    assert page.locator("[data-testid='stException']").count() == 0
    default = shipped.default_model_name()
    assert page.get_by_text(default, exact=False).count() >= 1  # the picker shows the default model
    assert (page.get_by_text("Untrained model", exact=False).count() >= 1) == (default == shipped.UNTRAINED_NAME)
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
    assert not dialogs


def test_overview_opens_by_its_name_too(browser, app_url):
    # /overview said "Page not found" over the page: reports, --pages and every other page's path use the name
    page, _ = open_page(browser, f"{app_url}/overview?text=A%20dull%20film")
    wait_for_heatmap(page)
    page.wait_for_timeout(1000)
    assert page.get_by_text("Page not found", exact=False).count() == 0
    assert page.locator("h1").first.inner_text() == "Overview" and "A dull film" in page.url.replace("+", " ")
    assert page.locator("[data-testid='stException']").count() == 0
    page.close()


def test_html_in_text_is_shown_as_text_not_run(browser, app_url):
    text = 'Great <script>alert("x")</script><b>bold</b> <img src=x onerror=alert(1)>'
    page, dialogs = open_page(browser, f"{app_url}/?text={urllib.parse.quote(text)}")
    wait_for_heatmap(page)
    page.wait_for_timeout(1000)
    assert not dialogs, f"script in the input ran: {dialogs}"
    assert page.locator("[data-testid='stException']").count() == 0
    # tokens of the markup appear as literal text on the heatmap axes, not as elements
    ticks = page.locator(".js-plotly-plot .xtick text").all_text_contents()
    assert any("<" in tick for tick in ticks), ticks
    assert page.locator(".js-plotly-plot img").count() == 0


def block_network(page) -> list[str]:
    """Abort every request that leaves this machine's app server; return the list of what was tried."""
    tried: list[str] = []

    def route(route):
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "http://localhost", "data:", "blob:", "about:")):
            route.continue_()
        else:
            tried.append(url)
            route.abort()

    page.route("**/*", route)
    return tried


def open_attention(browser, app_url: str, query: dict[str, str]):
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    remote = block_network(page)
    page.goto(f"{app_url}/attention?{urllib.parse.urlencode(query)}", wait_until="domcontentloaded")
    page.get_by_text("Attention rollout").first.wait_for(timeout=90_000)
    page.locator(".js-plotly-plot").nth(5).wait_for(timeout=60_000)  # grid, head, statistics, rollout x2, lens
    return page, dialogs, remote


def bertviz_frames(page):
    frames = page.frame_locator("iframe")
    return [frames.nth(i) for i in range(page.locator("iframe").count())]


def test_attention_page_renders_every_view_offline_with_markup_as_text(browser, app_url, tmp_path):
    text = "Not <img src=x onerror=alert(1)> bad <script>alert(1)</script> at all."
    page, dialogs, remote = open_attention(browser, app_url, {"text": text})
    # Wait for what is counted below: plotly draws its layers, and the bertviz iframes attach, after the page
    # first shows its charts (under load that took longer than the counts below allowed).
    page.locator(".js-plotly-plot .heatmaplayer").nth(3).wait_for(timeout=60_000)
    page.locator("iframe").nth(1).wait_for(timeout=60_000)
    page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=60_000)  # drawn after the iframes at times
    assert page.locator(".js-plotly-plot .heatmaplayer").count() >= 4  # grid, head, statistics, rollout
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[data-testid='stDataFrame']").count() == 1
    frames = bertviz_frames(page)
    assert len(frames) == 2  # bertviz head view and model view
    for frame in frames:
        frame.locator("svg").first.wait_for(timeout=30_000)
        assert frame.locator("img").count() == 0 and frame.locator("script[src]").count() == 0
    tokens = frames[0].locator("svg text").all_text_contents()  # head view: every token, drawn by d3
    assert any("<" in token for token in tokens), tokens[:20]  # markup tokens drawn as text
    assert "Layers" in frames[1].locator("svg text").all_text_contents()  # model view: its thumbnail table
    # each frame is as tall as what bertviz drew (no blank band, nothing cut), and a view wider than the column
    # scrolls sideways inside it instead of losing its last heads
    page.wait_for_timeout(1000)
    for index, frame in enumerate(frames):
        drawn = frame.locator("body").evaluate("b => b.scrollHeight")
        wrapper = frame.locator("body > div").last
        assert wrapper.evaluate("d => getComputedStyle(d).overflowX") == "auto"
        assert abs(page.locator("iframe").nth(index).bounding_box()["height"] - drawn) <= 24, (index, drawn)
    # at this width the model view (~970 px wide) is shrunk to its frame: the last head is whole, not behind a
    # scrollbar a user does not see
    right, room = frames[1].locator("svg").first.evaluate(
        "svg => [svg.getBoundingClientRect().right, document.documentElement.clientWidth]")
    assert right <= room + 1.5, (right, room)
    assert page.locator("img[src='x']").count() == 0
    page.wait_for_timeout(1000)
    page.screenshot(path=str(tmp_path / "attention.png"), full_page=True)
    assert not dialogs, f"script in the input ran: {dialogs}"
    assert remote == [], f"the page tried to reach the network: {remote}"


def test_shared_link_reproduces_model_text_and_head(browser, app_url):
    model = shipped.available()[-1].name
    query = {"model": model, "text": "A gentle film with a big heart.", "layer": "1", "head": "1"}
    page, dialogs, remote = open_attention(browser, app_url, query)
    page.get_by_role("heading", name="Layer 1, head 1").wait_for(timeout=30_000)
    assert page.get_by_text(f"{model}: predicts", exact=False).count() == 1
    assert page.locator("textarea").first.input_value() == query["text"]
    # the link the page now shows carries the same view
    shown = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)
    assert shown["model"] == [model] and shown["layer"] == ["1"] and shown["head"] == ["1"]
    assert not dialogs and remote == []


def click_head_point(chart, index: int) -> None:
    """Click the invisible picker point of head `index` (layer-major) on a grid or statistics map."""
    chart.page.wait_for_timeout(1500)  # let the rerun that the previous click caused finish drawing
    chart.scroll_into_view_if_needed()
    point = chart.locator(".scatterlayer .trace").first.locator("path.point").nth(index)
    box = point.bounding_box()  # viewport coordinates, after scrolling
    chart.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def test_clicking_a_thumbnail_a_statistic_or_a_table_row_opens_that_head(browser, app_url):
    page, dialogs, remote = open_attention(browser, app_url, {"text": "Bright, funny and sharp."})
    page.get_by_role("heading", name="Layer 0, head 0").wait_for(timeout=30_000)
    heads = int(page.locator("input[aria-label='Head']").get_attribute("max") or 0) + 1
    charts = page.locator(".js-plotly-plot")  # grid, head, statistics map, ...

    click_head_point(charts.nth(0), heads + 1)  # thumbnail of layer 1, head 1
    page.get_by_role("heading", name="Layer 1, head 1").wait_for(timeout=30_000)
    assert "layer=1" in page.url and "head=1" in page.url

    click_head_point(charts.nth(2), 0 * heads + (heads - 1))  # statistics map: layer 0, last head
    page.get_by_role("heading", name=f"Layer 0, head {heads - 1}").wait_for(timeout=30_000)

    # the head statistics table: rows run layer-major; click a row within its visible part (it scrolls past ~10)
    row = min(heads, 5)
    table = page.locator("[data-testid='stDataFrame']")
    page.wait_for_timeout(1500)
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    row_height = 35  # glide-data-grid's default row and header height in Streamlit
    table.click(position={"x": 20, "y": row_height * (row + 1) + row_height / 2})
    page.get_by_role("heading", name=f"Layer {row // heads}, head {row % heads}").wait_for(timeout=30_000)
    assert box is not None and not dialogs and remote == []
