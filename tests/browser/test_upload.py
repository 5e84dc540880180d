"""An uploaded data set stays in use when the browser draws its upload box anew (empty: a file cannot be sent back
to it): after a visit to another page, and after a new text, which on Beacons and Markers first runs the page up to
its first figure and stops before the box. Before, the Errors page asked for the file again after a page switch,
and the Beacons sweep fell back to the challenge set. Removing the file from the box stops using it."""

from __future__ import annotations

import asyncio
import csv

import pytest

from explainer.bench.app_driver import FIGURE, _launch
from tests.browser.test_slow_widgets import _quiet

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = pytest.importorskip("playwright.async_api")

ROWS = [("A gentle film with a big heart.", "positive"), ("A dull and lifeless film.", "negative"),
        ("The cast is wonderful.", "positive"), ("The plot falls apart.", "negative")] * 4
USING = "Using reviews.csv, uploaded earlier in this session"


def _write(folder) -> str:
    path = folder / "reviews.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("text", "label"), *ROWS])
    return str(path)


async def _captions(page) -> str:
    return " | ".join(await page.locator("[data-testid='stCaptionContainer']").all_inner_texts())


async def _new_text(page, text: str) -> None:
    box = page.locator("[data-testid='stSidebar'] textarea").first
    await box.fill(text)
    await box.press("Control+Enter")
    await _quiet(page)


async def _open_and_upload(page, url: str, file: str) -> None:
    await page.goto(url, wait_until="commit")
    await page.locator(FIGURE).first.wait_for(timeout=180_000)
    await _quiet(page)
    await page.get_by_text("Upload a file").first.click()
    await _quiet(page)
    await page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(file)
    await _quiet(page)


async def _upload_then_come_back(url: str, file: str) -> dict[str, str]:
    seen = {}
    async with playwright_api.async_playwright() as playwright:
        browser = await _launch(playwright)
        page = await browser.new_page(viewport={"width": 1400, "height": 1400})
        await _open_and_upload(page, f"{url}/errors?model=sst2-baseline", file)
        seen["uploaded"] = await _captions(page)
        await page.locator("[data-testid='stSidebarNav'] a", has_text="Overview").first.click()
        await _quiet(page)
        await page.locator("[data-testid='stSidebarNav'] a", has_text="Errors").first.click()
        await _quiet(page)
        seen["back"] = await _captions(page)
        await _new_text(page, "A brand new text.")
        seen["new text"] = await _captions(page)
        await page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(file)
        await _quiet(page)
        await page.locator("[data-testid='stFileUploader'] button[aria-label^='Remove']").first.click()
        await _quiet(page)
        seen["removed"] = await _captions(page)
        seen["removed alerts"] = " | ".join(await page.locator("[data-testid='stAlertContainer']").all_inner_texts())
        await _open_and_upload(page, f"{url}/beacons?model=sst2-thought-beacon", file)
        seen["beacons"] = await _captions(page)
        for text in ("A dull and lifeless film.", "A brand new text."):  # the second run read the box drawn anew
            await _new_text(page, text)
        seen["beacons new text"] = await _captions(page)
        await browser.close()
    return seen


def test_an_uploaded_file_stays_in_use_when_its_box_is_drawn_anew(app_url, tmp_path):
    seen = asyncio.run(_upload_then_come_back(app_url, _write(tmp_path)))
    counted = f"on reviews.csv: {len(ROWS)} examples"
    assert counted in seen["uploaded"] and USING not in seen["uploaded"], seen
    assert counted in seen["back"] and USING in seen["back"], seen
    assert counted in seen["new text"] and USING in seen["new text"], seen
    assert "reviews.csv" not in seen["removed"] and "Choose a CSV" in seen["removed alerts"], seen
    assert f"{len(ROWS)} texts from reviews.csv" in seen["beacons"], seen
    assert f"{len(ROWS)} texts from reviews.csv" in seen["beacons new text"], seen
