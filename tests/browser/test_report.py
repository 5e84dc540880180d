"""The stakeholder report opens in headless Chromium with the network closed: every figure renders from the
inlined plotly.js, no request leaves the file, and HTML typed into the text stays text (no script runs)."""

from __future__ import annotations

import re
import urllib.parse

import pytest

from explainer.bench.app_driver import BUSY
from explainer.report import build_report
from tests.browser.test_browser import block_network, browser, playwright_api  # noqa: F401  (fixtures)
from tests.conftest import ROOT

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


def sidebar_report(browser, app_url: str, path: str, query: dict[str, str], tmp_path, change=None,  # noqa: F811
                   settle: bool = True) -> str:
    page = browser.new_page(viewport={"width": 1400, "height": 1600}, accept_downloads=True)
    tried = block_network(page)
    page.goto(f"{app_url}/{path}?{urllib.parse.urlencode(query)}", wait_until="domcontentloaded")
    page.locator(".js-plotly-plot").first.wait_for(timeout=180_000)
    page.wait_for_function(f"() => !({BUSY})()", timeout=180_000)
    if change is not None:  # an option changed on the page: the sidebar, drawn before the page, must follow it
        change(page)
        if settle:  # else the button is pressed at once, as a visitor may
            page.wait_for_timeout(1000)
            page.wait_for_function(f"() => !({BUSY})()", timeout=180_000)
    with page.expect_download(timeout=180_000) as download:
        page.get_by_role("button", name="Download report").click()
    assert download.value.suggested_filename == f"explainer-report-{path or 'overview'}.html"  # one per page
    saved = tmp_path / f"{path or 'overview'}.html"
    download.value.save_as(saved)
    assert not tried
    page.close()
    return saved.read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_sidebar_report_draws_the_page_with_its_options(browser, app_url, tmp_path):  # noqa: F811
    text = "A gentle film with a big heart."
    document = sidebar_report(browser, app_url, "attribution", {"text": text, "method": "saliency",
                                                                "baseline": "mask"}, tmp_path)
    assert "Attribution: Saliency" in document and "method=saliency" in document  # the file and its link agree
    assert "Integrated gradients" not in document
    document = sidebar_report(browser, app_url, "beacons", {"text": text, "tau": "0.2"}, tmp_path)
    assert '<h2 id="beacons">' in document and "beacon tau</td><td>0.20 (the model" in document
    assert re.search(r"href=\"[^\"]*/beacons\?[^\"]*tau=0\.2", document)
    # as the command line's link says it: the sidebar's said nothing of what it opens
    assert ("It opens the Beacons page with this report&#x27;s options; the other pages show the model&#x27;s own "
            "τ, not this report&#x27;s.") in document


@pytest.mark.slow
def test_the_sidebar_report_follows_an_option_changed_on_the_page(browser, app_url, tmp_path):  # noqa: F811
    def head_to_3(page):
        head = page.get_by_label("Head", exact=True)
        head.fill("3")
        head.press("Enter")

    document = sidebar_report(browser, app_url, "", {"text": "A gentle film with a big heart.", "layer": "1",
                                                     "head": "0"}, tmp_path, change=head_to_3)
    assert "the attention of layer 1, head 3" in document and "layer=1&amp;head=3" in document


@pytest.mark.slow
def test_a_text_typed_then_the_button_pressed_at_once_is_the_reports_text(browser, app_url, tmp_path):  # noqa: F811
    # the browser sends the typed text, then the click on the button the previous run drew: its report was of the
    # previous text, while the page, the sidebar and the address went on to the new one
    new = "A dull and lifeless film."

    def type_without_enter(page):
        box = page.locator("[data-testid='stSidebar'] textarea").first
        box.click()
        box.fill(new)

    document = sidebar_report(browser, app_url, "", {"text": "A gentle film with a big heart."}, tmp_path,
                              change=type_without_enter, settle=False)
    assert re.findall(r'<div class="input-text">([^<]*)', document) == [new]


@pytest.mark.slow
def test_a_report_leaves_out_a_link_that_would_carry_a_server_path(browser, app_url, tmp_path):  # noqa: F811
    """Compare's model_b= (a folder), the Map's and Errors' data=: the sidebar model's folder was left out of the
    report's link, these were not."""
    folder = str(ROOT / "assets" / "models" / "sst2-baseline")
    document = sidebar_report(browser, app_url, "compare", {"text": "A gentle film.", "model_b": folder}, tmp_path)
    assert "left out: its model_b= would carry a path on the machine" in document
    assert urllib.parse.quote(folder, safe="") not in document and folder not in document


@pytest.mark.slow
def test_a_report_of_a_page_on_an_uploaded_file_leaves_its_link_out(browser, app_url, tmp_path):  # noqa: F811
    """No link carries an upload: the report's link opened the Errors page on the challenge set, and said it
    opened "the page it was downloaded on, with that page's options" (a probe in a browser)."""
    upload = tmp_path / "mine.csv"
    upload.write_text("text,label\n" + "".join(f"film number {i} is {'good' if i % 2 else 'bad'},{i % 2}\n"
                                               for i in range(12)))

    def choose_upload(page):
        page.get_by_text("Upload a file").first.click()
        page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(upload))
        page.get_by_text("mine.csv: 12 examples", exact=False).first.wait_for(timeout=180_000)
        page.wait_for_function(f"() => !({BUSY})()", timeout=180_000)

    document = sidebar_report(browser, app_url, "errors", {"text": "A gentle film."}, tmp_path, change=choose_upload)
    assert "the page&#x27;s data set was uploaded, and an upload does not travel in a link" in document
    assert "Live view:" not in document
