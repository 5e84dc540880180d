"""A shared link is anyone's to craft: a model name made of markdown, an address, an e-mail is shown in the app's
error as typed, and nothing in it becomes a clickable link (markdown links, and GitHub-flavoured autolinks, which
backslash escapes do not stop)."""

from __future__ import annotations

import urllib.parse

import pytest

from tests.browser.test_browser import browser, playwright_api  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser]


def test_a_crafted_model_name_draws_no_link_in_the_error(browser, app_url):  # noqa: F811
    name = "**bold** [click](http://example.com) www.example.org me@example.net"
    page = browser.new_page()
    page.goto(f"{app_url}/attribution?{urllib.parse.urlencode({'model': name, 'text': 'Great film'})}")
    error = page.locator('[data-testid="stAlertContentError"]').first
    error.wait_for(timeout=120_000)
    assert name in " ".join(error.inner_text().split())  # shown as typed
    assert error.locator("a").count() == 0 and error.locator("strong").count() == 0
    page.close()


@pytest.mark.parametrize("page_path", ["attribution", "whatif"])
def test_a_text_with_blank_lines_draws_no_markdown_in_the_pages_html(browser, app_url, page_path):  # noqa: F811
    # a blank line inside the HTML the page hands to st.markdown would end the HTML block there
    text = "Great film\n\n[click](http://example.com) **bold**\n\n    indented <b>tag</b>"
    query = {"text": text, "method": "saliency"} if page_path == "attribution" else {"text": text}
    page = browser.new_page()
    page.goto(f"{app_url}/{page_path}?{urllib.parse.urlencode(query)}")
    shown = page.locator(".attribution-token" if page_path == "attribution" else ".whatif-diff").first
    shown.wait_for(timeout=120_000)
    page.wait_for_timeout(1500)
    main = page.locator("[data-testid='stMain']")
    drawn = "".join(main.inner_text().split())  # tokens are spans apart: compare without the spaces between them
    assert "[click](http://example.com)**bold**" in drawn and "<b>tag</b>" in drawn  # shown as text, in full
    assert main.locator("a[href='http://example.com']").count() == 0
    assert main.locator("[data-testid='stMarkdown'] strong").filter(has_text="bold").count() == 0
    assert main.locator("[data-testid='stMarkdown'] pre").count() == 0  # no indented code block of raw tags
    assert main.locator("[data-testid='stMarkdown'] b").filter(has_text="tag").count() == 0
    page.close()
