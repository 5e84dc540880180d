"""Warm start: `streamlit run serve.py` loads the default model (and the default text's trace) when the server
starts; the first visitor's page uses that model and the sidebar says it is ready."""

from __future__ import annotations

import time

import pytest

from explainer.bench.app_driver import app_server
from explainer.loading import shipped
from tests.browser.test_browser import browser, open_page, playwright_api  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_first_visit_finds_the_model_loaded_at_server_start(tmp_path, browser):  # noqa: F811
    with app_server(tmp_path / "cache") as server:
        deadline = time.monotonic() + 240
        while "warm start:" not in server.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.5)  # no visitor yet: the server loads on its own
        log = server.log.read_text()
        default = shipped.default_model_name()
        assert f"warm start: {default} ready" in log, log
        page, dialogs = open_page(browser, server.url)
        sidebar = page.locator("[data-testid='stSidebar']")
        sidebar.get_by_text("ready (loaded when the server started)").wait_for(timeout=120_000)
        assert sidebar.locator("[data-testid='stSelectbox'] input").first.input_value().startswith(default)
        page.locator("[data-testid='stPlotlyChart'] .main-svg").first.wait_for(timeout=120_000)
        assert "Loading model" not in page.content() and dialogs == []
        page.close()
