"""The browser's history: one user action adds one entry (the run's options reach the address in one step), Back
and Forward bring back the text and options of that entry, and a page's options outlive a visit to another page."""

from __future__ import annotations

import urllib.parse

import pytest

from tests.browser.test_browser import browser, click_head_point, open_page, playwright_api  # noqa: F401
from tests.browser.test_sidebar import go_to, link, settle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ALPHA, BRAVO = "Alpha film, warm and wonderful.", "Bravo film, dull and dreadful."


def sidebar_text(page) -> str:
    return page.locator("[data-testid='stSidebar'] textarea").first.input_value()


def type_text(page, text: str) -> None:
    area = page.locator("[data-testid='stSidebar'] textarea").first
    area.fill(text)
    area.press("Control+Enter")
    settle(page, "text", text)


def test_a_text_change_is_one_entry_and_back_and_forward_restore_it(browser, app_url):  # noqa: F811
    page, dialogs = open_page(browser, f"{app_url}/?{urllib.parse.urlencode({'text': ALPHA})}")
    settle(page, "head", "0")  # the first run has published its options
    before = page.evaluate("history.length")
    type_text(page, BRAVO)
    assert page.evaluate("history.length") == before + 1, page.url
    page.go_back()
    settle(page, "text", ALPHA)
    page.get_by_text("alpha", exact=False).first.wait_for(timeout=60_000)  # the figure's tokens, not only the box
    assert sidebar_text(page) == ALPHA and link(page)["text"] == [ALPHA]
    page.go_forward()
    settle(page, "text", BRAVO)
    assert sidebar_text(page) == BRAVO
    assert page.locator("[data-testid='stException']").count() == 0 and not dialogs


def test_a_page_keeps_its_options_after_a_visit_to_another(browser, app_url):  # noqa: F811
    page, dialogs = open_page(browser, f"{app_url}/attention?{urllib.parse.urlencode({'text': ALPHA})}")
    page.get_by_role("heading", name="Layer 0, head 0").wait_for(timeout=90_000)
    layer = page.get_by_role("spinbutton", name="Layer")
    layer.fill("2")
    layer.press("Enter")
    page.get_by_role("heading", name="Layer 2, head 0").wait_for(timeout=90_000)
    go_to(page, "Overview", "")
    page.get_by_text("Prediction:", exact=False).first.wait_for(timeout=90_000)
    go_to(page, "Attention", "attention")
    page.get_by_role("heading", name="Layer 2, head 0").wait_for(timeout=90_000)  # it was Layer 0 again
    assert page.get_by_role("spinbutton", name="Layer").input_value() == "2"
    assert page.locator("[data-testid='stException']").count() == 0 and not dialogs


def test_back_after_a_page_switch_keeps_the_text_and_reaches_the_page_before(browser, app_url):  # noqa: F811
    """Streamlit's page switch adds the new page's bare address, then the app's first run its full one; one action
    makes one entry (explainer/ui/history.py), so one Back reaches the page before, with the text (it took two:
    the first landed on the same page's bare address)."""
    page, dialogs = open_page(browser, f"{app_url}/?{urllib.parse.urlencode({'text': ALPHA})}")
    settle(page, "head", "0")
    before = page.evaluate("history.length")
    go_to(page, "What-if", "whatif")
    settle(page, "text", ALPHA)
    assert page.evaluate("history.length") == before + 1, page.url
    page.go_back()
    page.wait_for_url(lambda url: urllib.parse.urlparse(url).path.strip("/") == "", timeout=60_000)
    settle(page, "text", ALPHA)
    page.get_by_text("Prediction:", exact=False).first.wait_for(timeout=90_000)
    assert sidebar_text(page) == ALPHA and link(page)["text"] == [ALPHA], page.url
    page.go_forward()
    page.wait_for_url(lambda url: urllib.parse.urlparse(url).path.strip("/") == "whatif", timeout=60_000)
    settle(page, "text", ALPHA)
    assert sidebar_text(page) == ALPHA and link(page)["text"] == [ALPHA], page.url
    assert page.locator("[data-testid='stException']").count() == 0 and not dialogs


def test_a_switch_that_carries_parameters_is_one_entry_too(browser, app_url):  # noqa: F811
    """A head clicked on What-if opens it on the Attention page. Streamlit pushed What-if's address with the new
    parameters, then the Attention page's, then its first run's full one: three Backs to return, the second
    showing What-if with the edited text as its text, a state never seen."""
    original, edited = "A dull script.", "A brilliant, lively script."
    query = urllib.parse.urlencode({"text": original, "edited": edited})
    page, dialogs = open_page(browser, f"{app_url}/whatif?{query}")
    chart = page.locator(".js-plotly-plot").first
    chart.wait_for(timeout=180_000)
    settle(page, "edited", edited)
    before = page.evaluate("history.length")
    click_head_point(chart, 5)
    page.wait_for_url(lambda url: urllib.parse.urlparse(url).path.strip("/") == "attention", timeout=60_000)
    settle(page, "head", link(page)["head"][0])
    page.get_by_role("heading", name="Layer").first.wait_for(timeout=120_000)
    page.wait_for_timeout(3000)  # the page's later runs publish too: they fold into the same entry
    assert page.evaluate("history.length") == before + 1, page.url
    page.go_back()
    page.wait_for_url(lambda url: urllib.parse.urlparse(url).path.strip("/") == "whatif", timeout=60_000)
    settle(page, "text", original)
    assert sidebar_text(page) == original and link(page)["edited"] == [edited], page.url
    assert page.locator("[data-testid='stException']").count() == 0 and not dialogs


def test_back_to_a_compare_step_brings_back_its_picked_pair(browser, app_url):  # noqa: F811
    """Back from a changed model B showed the best match, not the pair picked before, and rewrote that entry
    without pair=: the pair was reset as if the comparison had changed (it was the one recorded for the new B)."""
    query = {"text": ALPHA, "model_b": "sst2-minilm-baseline", "pair": "2"}
    page, dialogs = open_page(browser, f"{app_url}/compare?{urllib.parse.urlencode(query)}")
    shown = page.get_by_text("A layer ", exact=False).first
    shown.wait_for(timeout=120_000)
    page.wait_for_timeout(2000)
    picked = shown.text_content()
    assert link(page)["pair"] == ["2"], page.url
    box = page.get_by_role("textbox", name="Model B (shipped name, folder or hub id)")
    box.fill("sst2-baseline")
    box.press("Enter")
    settle(page, "model_b", "sst2-baseline")
    page.get_by_text("B: sst2-baseline", exact=False).first.wait_for(timeout=120_000)
    assert "pair" not in link(page)  # another comparison: its best match
    page.go_back()
    settle(page, "model_b", "sst2-minilm-baseline")
    assert link(page).get("pair") == ["2"], page.url
    page.get_by_text(picked, exact=True).first.wait_for(timeout=120_000)  # the picked pair's heads, drawn again
    assert page.locator("[data-testid='stException']").count() == 0 and not dialogs
