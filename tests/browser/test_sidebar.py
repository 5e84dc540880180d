"""The shared sidebar in a real browser: a model and a text chosen there stay chosen, after the rerun they cause
and across pages. Run against a freshly started server (this module's own `app_url`, not the shared one of
tests/browser/conftest.py), whose first script run is where Streamlit 1.67 lost the first change when a `pages/`
folder stood beside app.py (see app.py)."""

from __future__ import annotations

import contextlib
import urllib.parse

import pytest

from explainer.loading import shipped
from tests.browser.support import streamlit_server
from tests.browser.test_browser import browser, open_page, playwright_api  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TEXT = "A gentle, honest little film that stays with you."


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory):
    """This module's own freshly started server (see the docstring)."""
    with streamlit_server(tmp_path_factory.mktemp("sidebar-cache")) as url:
        yield url


def sidebar_state(page) -> tuple[str, str]:
    """What the sidebar shows now: the model picker's choice (a combobox: its input's text) and the text box."""
    sidebar = page.locator("[data-testid='stSidebar']")
    picker = sidebar.locator("[data-testid='stSelectbox'] input").first.input_value()
    return picker, sidebar.locator("textarea").first.input_value()


def link(page) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)


def settle(page, name: str, value: str) -> None:
    """Wait until the link carries name=value (the run the change caused is done), at most 90 s, then 2 s more
    (a late reset would show by then). No error here when it never does: the assertions after say what is shown."""
    with contextlib.suppress(playwright_api.TimeoutError):
        page.wait_for_function("([name, value]) => new URLSearchParams(location.search).get(name) === value",
                               arg=[name, value], timeout=90_000)
    page.wait_for_timeout(2000)


def expect_kept(page, model: str, text: str, caption: str, where: str) -> None:
    """The page shows `caption` (its run of `model`), the sidebar still holds model and text, the link carries both."""
    page.get_by_text(caption, exact=False).first.wait_for(timeout=90_000)
    page.wait_for_timeout(2000)
    assert page.locator("[data-testid='stException']").count() == 0, where
    assert sidebar_state(page) == (shipped.picker_label(model), text), where
    assert link(page)["model"] == [model] and link(page)["text"] == [text], (where, page.url)


def go_to(page, title: str, path: str) -> None:
    page.locator("[data-testid='stSidebarNav'] a").filter(has_text=title).first.click()
    page.wait_for_url(lambda url: urllib.parse.urlparse(url).path.strip("/") == path, timeout=60_000)


def test_model_and_text_chosen_in_the_sidebar_stay_across_reruns_and_pages(browser, app_url):  # noqa: F811
    default = shipped.default_model_name()
    others = [m.name for m in shipped.available() if m.name != default]
    if not others:
        pytest.skip("needs two shipped models")
    model = others[-1]
    page, dialogs = open_page(browser, app_url)
    page.get_by_text("Prediction:", exact=False).first.wait_for(timeout=90_000)
    # the browser may fill the text box a moment after the main area shows its prediction
    page.wait_for_function("() => document.querySelector(\"[data-testid='stSidebar'] textarea\")?.value",
                           timeout=30_000)
    picker, first_text = sidebar_state(page)
    assert picker == shipped.picker_label(default) and first_text

    sidebar = page.locator("[data-testid='stSidebar']")
    sidebar.locator("[data-testid='stSelectbox'] input").first.click()
    page.get_by_role("option", name=shipped.picker_label(model), exact=True).first.click()
    settle(page, "model", model)
    assert sidebar_state(page) == (shipped.picker_label(model), first_text), "the model change did not stay"
    expect_kept(page, model, first_text, f"{model} · ", "Overview, after changing the model")

    box = sidebar.locator("textarea").first
    box.fill(TEXT)
    box.press("Control+Enter")  # st.text_area commits on Ctrl+Enter (or on leaving it)
    settle(page, "text", TEXT)
    assert sidebar_state(page) == (shipped.picker_label(model), TEXT), "the text change did not stay"
    expect_kept(page, model, TEXT, f"{model} · ", "Overview, after changing the text")

    go_to(page, "Attention", "attention")
    page.get_by_text("Attention rollout").first.wait_for(timeout=90_000)
    expect_kept(page, model, TEXT, f"{model}: predicts", "Attention page")

    go_to(page, "Overview", "")
    page.get_by_text("Prediction:", exact=False).first.wait_for(timeout=90_000)
    expect_kept(page, model, TEXT, f"{model} · ", "back on the Overview")
    assert not dialogs


def test_a_paste_past_the_limit_keeps_its_beginning_and_says_so(browser, app_url):  # noqa: F811
    """Streamlit's max_chars would drop such a paste whole, leaving the old text with no word why."""
    from explainer.capture.encoding import MAX_TEXT_CHARS

    page, dialogs = open_page(browser, app_url)
    page.get_by_text("Prediction:", exact=False).first.wait_for(timeout=90_000)
    box = page.locator("[data-testid='stSidebar'] textarea").first
    pasted = ("a good movie " * (MAX_TEXT_CHARS // 13 + 10))[: MAX_TEXT_CHARS + 50]
    box.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(pasted)  # what a paste does: one input event with the whole text
    box.press("Control+Enter")
    page.get_by_text(f"The text had {MAX_TEXT_CHARS + 50:,} characters", exact=False).first.wait_for(timeout=90_000)
    assert box.input_value() == pasted[:MAX_TEXT_CHARS]
    page.get_by_text("Prediction:", exact=False).first.wait_for(timeout=90_000)
    assert page.locator("[data-testid='stException']").count() == 0 and not dialogs
