"""A shared link is anyone's to craft: a model name made of markdown, an address, an e-mail is shown in the app's
error as typed, and nothing in it becomes a clickable link (markdown links, and GitHub-flavoured autolinks, which
backslash escapes do not stop)."""

from __future__ import annotations

import urllib.parse

import pytest

from tests.browser.test_browser import app_url, browser, playwright_api  # noqa: F401  (fixtures)

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
