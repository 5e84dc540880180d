"""One app server for every browser test that drives the plain app (`app_url`): starting `streamlit run serve.py`
warm-starts the default model (about 20 s on a 2-core machine), and a module-scoped server paid that in each of
eleven modules. Tests that need a server of their own (a cold start, a demo configuration, a work log, a bare
page) still start one with `app_server`.

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
