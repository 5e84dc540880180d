"""A linked choice survives a run that came before its widget's code loaded. Streamlit loads each widget's code
lazily and a widget registers its value with the browser only once mounted; a visitor who typed a new text
while a page's radio still loaded got the radio at its first option, and the next run took that for a choice
(`mode=zero` in a link became `mean`; the sidebar's model picker fell back to the first model the same way).
widget_state.resend sends such choices with every run."""

from __future__ import annotations

import asyncio
import time
import urllib.parse

import pytest

from explainer.bench.app_driver import BUSY, FIGURE, _launch

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = pytest.importorskip("playwright.async_api")

NEW_TEXT = "A dull and lifeless film that I regret watching."


async def _quiet(page, seconds: float = 1.5, timeout: float = 180.0) -> None:
    """Until no run, spinner, pending rest or loading element has shown for `seconds`."""
    busy = f"() => ({BUSY})() || !!document.querySelector(\"[data-testid='stSkeleton']\")"
    began, deadline = None, time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = time.monotonic()
        if await page.evaluate(busy):
            began = None
        elif began is None:
            began = now
        elif now - began >= seconds:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the page did not settle")


CHECKED_RADIO = "input => input.closest('label').innerText"
PICKED = "[data-testid='stSidebar'] [data-testid='stSelectbox'] input"


async def _act_while_loading(url: str, chunk: str, act, read) -> tuple[dict[str, str], str]:
    """Open `url` with the code of widget `chunk` held back, `act(page)` once the first figure is drawn, then let
    the code load; the address and what `read(page)` returns once all is quiet."""
    async with playwright_api.async_playwright() as playwright:
        browser = await _launch(playwright)
        page = await browser.new_page(viewport={"width": 1400, "height": 1400})
        release = asyncio.Event()

        async def held(route):  # the widget's code arrives only when the test says so
            await release.wait()
            await route.continue_()

        await page.route(f"**/static/js/{chunk}.*.js", held)
        await page.goto(url, wait_until="commit")
        await page.locator(FIGURE).first.wait_for(timeout=180_000)
        assert await page.locator("[data-testid='stSkeleton']").count() > 0  # the held widget still loads
        await act(page)
        await asyncio.sleep(1.0)
        release.set()
        await _quiet(page)
        value = await read(page)
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(page.url).query))
        await browser.close()
        return query, value


async def _until_linked(page, param: str, value: str) -> None:
    """Until the run of an action has reached the address."""
    await page.wait_for_function("([param, value]) => new URL(location.href).searchParams.get(param) === value",
                                 arg=[param, value], timeout=180_000)


async def _type_new_text(page) -> None:
    box = page.locator("[data-testid='stSidebar'] textarea").first
    await box.fill(NEW_TEXT)
    await box.press("Control+Enter")
    await _until_linked(page, "text", NEW_TEXT)


async def _type_while_loading(url: str, chunk: str, shown: str, script: str) -> tuple[dict[str, str], str]:
    """A new text typed while widget `chunk` loads; what `script` reads from the element `shown` afterwards."""
    async def read(page):
        return (await page.locator(shown).first.evaluate(script)).strip()

    return await _act_while_loading(url, chunk, _type_new_text, read)


def test_a_linked_choice_survives_a_text_typed_before_its_widget_loaded(app_url):
    link = {"model": "sst2-baseline", "text": "A gentle film with a big heart.", "mode": "zero"}
    radio = "[data-testid='stRadio']:has-text('Ablation') input:checked"
    query, checked = asyncio.run(_type_while_loading(f"{app_url}/causal?{urllib.parse.urlencode(link)}", "Radio",
                                                     radio, CHECKED_RADIO))
    assert query.get("text") == NEW_TEXT
    assert checked == "zero" and query.get("mode") == "zero", (checked, query)


def test_the_linked_model_survives_a_text_typed_before_the_picker_loaded(app_url):
    link = {"model": "sst2-baseline", "text": "A gentle film with a big heart.", "layer": "1", "head": "2"}
    query, picked = asyncio.run(_type_while_loading(f"{app_url}/attention?{urllib.parse.urlencode(link)}",
                                                    "Selectbox", PICKED, "input => input.value"))
    assert query.get("text") == NEW_TEXT
    assert picked.startswith("sst2-baseline") and query.get("model") == "sst2-baseline", (picked, query)


async def _change_model_while_text_box_loads(url: str, model: str) -> tuple[dict[str, str], str]:
    """Another model picked while the sidebar's text box loads; the box's value afterwards."""
    async def pick(page):
        assert await page.locator("[data-testid='stSidebar'] textarea").count() == 0  # the box still loads
        await page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
        await page.get_by_role("option", name=model).first.click()
        await _until_linked(page, "model", model)

    return await _act_while_loading(url, "TextArea", pick,
                                    lambda page: page.locator("[data-testid='stSidebar'] textarea").first.input_value())


def test_the_linked_text_survives_a_model_picked_before_the_text_box_loaded(app_url):
    """A text box is not resent with every run (that would overwrite what is being typed), but a run whose request
    lacks the box's value (its code had not loaded) sends it: the box shows the text the page analyses."""
    text = "A gentle film with a big heart."
    link = {"model": "sst2-baseline", "text": text}
    query, shown = asyncio.run(_change_model_while_text_box_loads(
        f"{app_url}/attention?{urllib.parse.urlencode(link)}", "sst2-thought-beacon"))
    assert query.get("model") == "sst2-thought-beacon", query
    assert shown == text and query.get("text") == text, (shown, query)
