"""Thought markers and Beacons pages in a real browser (headless Debian Chromium against `streamlit run`):
their figures render with the shipped model, and the force and pin controls change the shown prediction."""

from __future__ import annotations

import os
import urllib.parse

import pytest

from explainer.loading import shipped
from tests.browser.test_browser import block_network, browser  # noqa: F401  (fixtures)
from tests.conftest import FROM_SCRATCH, from_scratch_model

pytestmark = [pytest.mark.browser, pytest.mark.slow]
FLIPS = "Not a single moment of this story rings true."  # shipped model: m2 forced at layer 0 flips it
SHOTS = os.environ.get("EXPLAINER_SCREENSHOTS")  # a folder to keep the screenshots in, for looking at them


@pytest.fixture(scope="module")
def model() -> str:
    name = from_scratch_model()
    if name is None or name == shipped.UNTRAINED_NAME:
        pytest.skip(f"needs the shipped {FROM_SCRATCH} model")
    return name


def open_view(browser, url: str):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    remote = block_network(page)
    page.goto(url, wait_until="domcontentloaded")
    return page, dialogs, remote


def pick(page, widget: str, label: str, option: str) -> None:
    """Choose `option` in the Streamlit selectbox/multiselect (testid `widget`) labelled `label`."""
    box = page.locator(f"[data-testid='{widget}']").filter(has=page.get_by_text(label, exact=True)).first
    box.scroll_into_view_if_needed()
    box.locator("input").first.click()
    page.get_by_role("option", name=option, exact=True).first.click()
    page.keyboard.press("Escape")


def shown_prediction(page, marker: str) -> str:
    line = page.get_by_text(marker, exact=False).first
    line.wait_for(timeout=90_000)
    return line.inner_text()


def screenshot(page, tmp_path, name: str) -> None:
    page.wait_for_timeout(1000)
    folder = SHOTS or str(tmp_path)
    page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def test_markers_page_renders_and_forcing_flips_the_prediction(browser, app_url, model, tmp_path):  # noqa: F811
    query = urllib.parse.urlencode({"model": model, "text": FLIPS})
    page, dialogs, remote = open_view(browser, f"{app_url}/markers?{query}")
    page.get_by_role("heading", name="Reasoning path").wait_for(timeout=90_000)
    page.locator(".js-plotly-plot .heatmaplayer").first.wait_for(timeout=60_000)  # marker map
    page.locator(".js-plotly-plot .sankey .sankey-node").first.wait_for(timeout=60_000)  # reasoning path
    assert page.locator(".js-plotly-plot .sankey .sankey-link").count() >= 3
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.get_by_text("after forcing", exact=False).count() == 0

    pick(page, "stMultiSelect", "Layers", "layer 0")
    pick(page, "stSelectbox", "Marker", "m2")
    line = shown_prediction(page, "after forcing m2")
    assert "negative" in line.split("→")[0] and "positive" in line.split("→")[1], line
    page.get_by_text("the label flipped").wait_for(timeout=30_000)
    page.locator(".js-plotly-plot").nth(3).wait_for(timeout=60_000)  # + before/after bars and forced map
    assert "force_layers=0" in page.url and "force_marker=2" in page.url
    screenshot(page, tmp_path, "markers")
    assert not dialogs and remote == []


def test_beacons_page_renders_and_pinning_changes_the_prediction(browser, app_url, model, tmp_path):  # noqa: F811
    text = "I wanted to love this movie, but the plot falls apart halfway through."
    query = urllib.parse.urlencode({"model": model, "text": text})
    page, dialogs, remote = open_view(browser, f"{app_url}/beacons?{query}")
    page.get_by_role("heading", name="Pin gates").wait_for(timeout=90_000)
    page.locator(".js-plotly-plot .heatmaplayer").nth(1).wait_for(timeout=60_000)  # gate map, skip mask
    assert page.get_by_text("MLP evaluations skipped").count() >= 1
    assert page.get_by_text("learned removal of the MLPs", exact=False).count() == 1
    assert page.locator("[data-testid='stException']").count() == 0

    for layer in range(4):
        pick(page, "stMultiSelect", "Layers", f"layer {layer}")
    # each pick reruns the page: wait for the run that has all four layers before reading what it shows
    page.wait_for_function("() => /pin_layers=0(%2C|,)1(%2C|,)2(%2C|,)3/.test(location.search)", timeout=60_000)
    page.wait_for_timeout(1500)
    line = shown_prediction(page, "after pinning")
    before, after = line.split("→")
    assert before.replace("Prediction:", "").strip() != after.replace("after pinning:", "").strip(), line
    page.locator(".js-plotly-plot").nth(3).wait_for(timeout=60_000)  # + before/after bars and pinned gate map
    assert "pin_layers=0%2C1%2C2%2C3" in page.url or "pin_layers=0,1,2,3" in page.url
    screenshot(page, tmp_path, "beacons")
    assert not dialogs and remote == []
