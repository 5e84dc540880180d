"""One app server for every browser test that drives the plain app (`app_url`). A module-scoped server was
started in each of eleven modules, and each new server paid its first visits' cold caches again (about 250 s of
a 2-core run in all). Tests that need a server of their own (a cold or warm start, a work log, a bare page, the
sidebar's first script run) still start one with `app_server`, or override `app_url` in their module.

The browser stays module-scoped (tests/browser/test_browser.py): a sync Playwright instance marks its event loop
as running between calls, so one kept for the whole session would refuse the modules that start their own
Playwright or run asyncio sessions."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.support import CHROMIUM, streamlit_server


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium and chromium-driver (see README)")
    with streamlit_server(tmp_path_factory.mktemp("browser-cache")) as url:
        yield url
