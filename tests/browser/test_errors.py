"""Errors and Compare pages in a real browser: a misclassified row of the challenge set opens its example."""

from __future__ import annotations

import os
import urllib.parse

import numpy as np
import pytest

from explainer import load_model
from explainer.data.challenge import DEFAULT_PATH
from explainer.evaluation.error_report import ExampleFilter, analyse, filter_examples, load_labelled
from tests.browser.test_browser import block_network, browser  # noqa: F401  (fixtures)
from tests.conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROW_HEIGHT = 35  # glide-data-grid's row and header height in Streamlit
SHOTS = os.environ.get("EXPLAINER_SCREENSHOTS")  # a folder to keep screenshots in, for looking at the pages


@pytest.fixture(scope="module")
def most_confident_mistake() -> str:
    """The first row of the Errors page's misclassified table: the default model's most confident mistake."""
    bundle = load_model(device="cpu")
    report = analyse(bundle, load_labelled(bundle, DEFAULT_PATH))
    return filter_examples(report.frame, ExampleFilter(errors_only=True))["text"].iloc[0]


def open_errors(browser, url: str, query: str = ""):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    remote = block_network(page)
    page.goto(f"{url}/errors" + (f"?{query}" if query else ""), wait_until="domcontentloaded")
    page.get_by_text("Misclassified examples").first.wait_for(timeout=120_000)
    page.locator(".js-plotly-plot").nth(1).wait_for(timeout=60_000)  # confusion matrix, reliability diagram
    return page, dialogs, remote


def click_first_row(page, table) -> None:
    page.wait_for_timeout(1500)  # let the run that drew the table finish
    table.scroll_into_view_if_needed()
    table.click(position={"x": 20, "y": ROW_HEIGHT + ROW_HEIGHT / 2})


def screenshot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def _open_row_in(browser, app_url, most_confident_mistake, view: str, url_path: str):  # noqa: F811
    page, dialogs, remote = open_errors(browser, app_url)
    assert page.locator("[data-testid='stException']").count() == 0
    screenshot(page, "errors")
    choice = page.locator("[data-testid='stRadio']").filter(has_text="opens it in")
    choice.get_by_text(view, exact=True).click()
    tables = page.locator("[data-testid='stDataFrame']")  # per-class metrics, misclassified examples
    click_first_row(page, tables.last)
    page.wait_for_url(f"**/{url_path}?**", timeout=60_000)
    page.locator("textarea").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    assert page.locator("textarea").first.input_value() == most_confident_mistake
    shown = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)
    assert shown["text"] == [most_confident_mistake]  # the link carries it: shareable
    screenshot(page, f"errors-opened-{url_path}")
    assert not dialogs and remote == []
    return page


@pytest.mark.skipif(not (ROOT / "app_pages" / "attribution.py").is_file(), reason="no Attribution page here")
def test_a_misclassified_row_opens_its_attribution_view(browser, app_url, most_confident_mistake):  # noqa: F811
    _open_row_in(browser, app_url, most_confident_mistake, "Attribution", "attribution")


def test_a_misclassified_row_opens_its_attention_view(browser, app_url, most_confident_mistake):  # noqa: F811
    page = _open_row_in(browser, app_url, most_confident_mistake, "Attention", "attention")
    page.get_by_text("Attention rollout").first.wait_for(timeout=90_000)
    assert page.locator("[data-testid='stException']").count() == 0


def test_compare_page_shows_both_models_and_matched_heads(browser, app_url):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    remote = block_network(page)
    text = "Not <b>bad</b> at all, a warm and funny film."
    page.goto(f"{app_url}/compare?{urllib.parse.urlencode({'text': text})}", wait_until="domcontentloaded")
    page.get_by_text("Spearman rank correlation").first.wait_for(timeout=120_000)
    # 2 predictions, matched pair, similarity (in a closed expander: hidden), attributions
    page.locator(".js-plotly-plot").nth(4).wait_for(timeout=60_000)
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("b", has_text="bad").count() == 0  # markup in the text stays text
    screenshot(page, "compare-text")
    page.locator("[data-testid='stRadio']").filter(has_text="Compare on").get_by_text("A data set").click()
    page.get_by_text("Where they disagree").first.wait_for(timeout=120_000)
    page.locator(".js-plotly-plot").nth(1).wait_for(timeout=60_000)  # both confusion matrices
    assert page.locator("[data-testid='stException']").count() == 0
    assert "on=A+data+set" in page.url or "on=A%20data%20set" in page.url
    screenshot(page, "compare-data")
    assert remote == []


def test_uploads_non_utf8_refused_and_a_good_file_scored(browser, app_url, tmp_path):  # noqa: F811
    page, dialogs, remote = open_errors(browser, app_url)
    page.locator("[data-testid='stRadio']").filter(has_text="Challenge set").get_by_text("Upload a file").click()
    chooser = page.locator("input[type='file']")
    chooser.wait_for(state="attached", timeout=30_000)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\ncafé crème,positive\n".encode("latin-1"))
    chooser.set_input_files(str(latin))
    page.get_by_text("is not UTF-8", exact=False).first.wait_for(timeout=60_000)
    good = tmp_path / "mine.jsonl"
    good.write_text('{"text": "A warm <b>and</b> funny film.", "label": "positive"}\nnot json\n'
                    '{"text": "Dull and far too long.", "label": "negative"}\n')
    chooser.set_input_files(str(good))
    page.get_by_text("1 row of mine.jsonl skipped", exact=False).first.wait_for(timeout=60_000)
    page.get_by_text("mine.jsonl: 2 examples", exact=False).first.wait_for(timeout=60_000)
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("b", has_text="and").count() == 0
    screenshot(page, "errors-upload")
    assert not dialogs and remote == []


@pytest.fixture(scope="module")
def busiest_mistake_cell() -> tuple[int, str, str]:
    """(point index, true label, predicted label) of the default model's fullest off-diagonal confusion cell."""
    bundle = load_model(device="cpu")
    report = analyse(bundle, load_labelled(bundle, DEFAULT_PATH))
    matrix = np.array(report.metrics["confusion"])
    np.fill_diagonal(matrix, -1)
    true, predicted = np.unravel_index(int(matrix.argmax()), matrix.shape)
    assert matrix[true, predicted] > 0, "the default model makes no mistake on the challenge set"
    names = bundle.label_names
    return int(true * len(names) + predicted), names[true], names[predicted]


def test_clicking_a_confusion_cell_lists_its_examples(browser, app_url, busiest_mistake_cell):  # noqa: F811
    index, true, predicted = busiest_mistake_cell
    page, dialogs, remote = open_errors(browser, app_url)
    chart = page.locator(".js-plotly-plot").first  # the confusion matrix
    page.wait_for_timeout(1500)
    chart.scroll_into_view_if_needed()
    point = chart.locator(".scatterlayer .trace").first.locator("path.point").nth(index)  # row-major cells
    box = point.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.get_by_role("heading", name=f"True label {true}, predicted {predicted}").wait_for(timeout=60_000)
    chart.locator(".shapelayer path").first.wait_for(timeout=30_000)  # the picked cell is framed on the chart
    page.wait_for_timeout(1500)  # the chart redrawn with its frame must not clear the pick (an empty selection)
    assert page.get_by_role("heading", name=f"True label {true}, predicted {predicted}").count() == 1
    frame, cell = chart.locator(".shapelayer path").first.bounding_box(), point.bounding_box()
    assert frame["x"] < cell["x"] < frame["x"] + frame["width"]  # around the clicked cell's point
    assert frame["y"] < cell["y"] < frame["y"] + frame["height"]
    tables = page.locator("[data-testid='stDataFrame']")
    assert tables.count() == 3  # per-class metrics, the cell's examples, the misclassified examples
    assert page.locator("[data-testid='stException']").count() == 0
    page.wait_for_url("**cell=*", timeout=60_000)  # the cell is in the link: a fresh tab lists the same examples
    shared, _, _ = open_errors(browser, app_url, query=page.url.split("?", 1)[1])
    shared.get_by_role("heading", name=f"True label {true}, predicted {predicted}").wait_for(timeout=60_000)
    # One more click on the picked cell clears it (it took three: the first was read as picking it again).
    box = point.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.get_by_role("heading", name=f"True label {true}, predicted {predicted}").wait_for(state="detached",
                                                                                          timeout=60_000)
    page.wait_for_function("() => !window.location.search.includes('cell=')", timeout=60_000)
    assert not dialogs and remote == []
