"""The Causal page in a real browser: find a counterfactual of the sidebar text, patch from the text into it (the
maps draw), and open the top head in the Attention page."""

from __future__ import annotations

import re
import urllib.parse

import pytest

from explainer.bench.app_driver import BUSY
from tests.browser.test_browser import block_network, browser  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TEXT = "A warm, funny and wonderful film."


def test_patching_a_counterfactual_pair_and_opening_a_head(browser, app_url):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    tried = block_network(page)
    page.goto(
        f"{app_url}/causal?{urllib.parse.urlencode({'text': TEXT, 'mode': 'zero'})}", wait_until="domcontentloaded"
    )
    page.get_by_text("Type a corrupted text").wait_for(timeout=180_000)
    # The page draws its ablation map in a second run: a click while that run replaces the page can be lost (it
    # was, on a fast machine), so click once the page is idle.
    page.locator(".js-plotly-plot").first.wait_for(timeout=180_000)
    page.wait_for_function(f"() => !({BUSY})()", timeout=180_000)
    page.get_by_role("button", name="Find a counterfactual").click()
    page.get_by_text(re.compile(r"^Logit difference .*: clean")).wait_for(timeout=300_000)
    corrupted = page.get_by_label("Corrupted text").input_value()
    assert corrupted.strip() and corrupted != TEXT  # the search filled in a counterfactual
    charts = page.locator(".js-plotly-plot")
    charts.nth(4).wait_for(timeout=180_000)  # residual map (first tab), heads, ablation, statistic, layers
    assert page.locator("[data-testid='stException']").count() == 0
    assert "Residual stream" in charts.nth(0).inner_text()
    button = page.get_by_role("button", name=re.compile(r"L\d+ H\d+ in Attention")).first
    layer, head = re.match(r"L(\d+) H(\d+)", button.inner_text()).groups()
    button.click()
    page.wait_for_url(re.compile(r"/attention\?"), timeout=120_000)
    layer_input = page.get_by_role("spinbutton", name="Layer", exact=True)
    layer_input.wait_for(timeout=120_000)
    assert layer_input.input_value() == layer
    assert page.get_by_role("spinbutton", name="Head", exact=True).input_value() == head
    assert f"layer={layer}" in page.url and f"head={head}" in page.url
    assert not tried, f"the page asked the internet for {tried}"


def test_a_model_from_a_folder_stays_when_a_head_opens_in_attention(browser, app_url):  # noqa: F811
    """A page switch drops the sidebar's folder box (a text box), which no seed gave back: the Attention page said
    "Enter a model folder or hub id in the sidebar." while the box showed the folder, and its link lost model=."""
    from explainer.loading import shipped

    folder = str(shipped.resolve("sst2-baseline"))
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    query = urllib.parse.urlencode({"model": folder, "text": TEXT, "mode": "zero"})
    page.goto(f"{app_url}/causal?{query}", wait_until="domcontentloaded")
    page.locator(".js-plotly-plot").first.wait_for(timeout=180_000)
    page.wait_for_function(f"() => !({BUSY})()", timeout=180_000)
    page.get_by_role("button", name=re.compile(r"L\d+ H\d+ in Attention")).first.click()
    page.wait_for_url(re.compile(r"/attention\?"), timeout=120_000)
    lost = page.get_by_text("Enter a model folder")
    page.locator(".js-plotly-plot").or_(lost).first.wait_for(timeout=180_000)
    page.wait_for_function(f"() => !({BUSY})()", timeout=180_000)
    assert lost.count() == 0
    assert urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)["model"] == [folder]
    assert page.get_by_label("Folder or hub id").input_value() == folder
