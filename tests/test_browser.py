"""The whole path in a real browser: streamlit serves the app, headless Debian Chromium renders it."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest

from explainer import registry
from tests.browser_support import CHROMIUM, CHROMIUM_FLAGS, streamlit_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium and chromium-driver (see README)")
    with streamlit_server(tmp_path_factory.mktemp("browser-cache")) as url:
        yield url


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
    default = registry.default_model_name()
    assert page.get_by_text(default, exact=False).count() >= 1  # the picker shows the default model
    assert (page.get_by_text("Untrained model", exact=False).count() >= 1) == (default == registry.UNTRAINED_NAME)
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
    assert not dialogs


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


def test_attention_page_renders_all_views(browser, app_url, tmp_path):
    text = urllib.parse.quote("A dull plot, but great acting.")
    page, dialogs = open_page(browser, f"{app_url}/attention?text={text}")
    page.get_by_text("Attention rollout").first.wait_for(timeout=90_000)
    page.locator(".js-plotly-plot").nth(3).wait_for(timeout=60_000)  # head, statistics, rollout, logit lens
    assert page.locator(".js-plotly-plot .heatmaplayer").count() >= 3
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[data-testid='stDataFrame']").count() == 1
    page.screenshot(path=str(tmp_path / "attention.png"), full_page=True)
    assert not dialogs
