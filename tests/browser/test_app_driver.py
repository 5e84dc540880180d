"""The benches' browser driver (explainer/bench/app_driver.py): the URLs it visits."""

from __future__ import annotations

import os

import pytest

from explainer.bench.app_driver import CHROMIUM, app_server, run_sessions


@pytest.mark.browser
@pytest.mark.slow
def test_the_floor_page_draws_its_heatmap_through_the_driver(tmp_path):
    """The pages bench's reference: its own query (tokens, seed) reaches the page intact (a second "?" once made
    every floor visit an exception box, timed as if it were the heatmap)."""
    from explainer.bench.pages import FLOOR

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium and chromium-driver (see README)")
    with app_server(tmp_path / "cache", script=FLOOR) as server:
        (visit,), = run_sessions(server.url, [(None, [("?tokens=17&seed=3", "")])])
        log = server.log.read_text()
    assert visit.first_figure_s is not None and not visit.exception, log[-2000:]


def test_page_urls_keep_the_path_query_and_add_text_and_model():
    from urllib.parse import parse_qs, urlsplit

    from explainer.bench.app_driver import page_url

    url = urlsplit(page_url("http://127.0.0.1:1", "?tokens=17&seed=3", None, ""))
    assert url.path == "/" and parse_qs(url.query, keep_blank_values=True) == {"tokens": ["17"], "seed": ["3"],
                                                                             "text": [""]}
    url = urlsplit(page_url("http://127.0.0.1:1", "attention", "m", "a b?c&d"))
    assert url.path == "/attention" and parse_qs(url.query) == {"text": ["a b?c&d"], "model": ["m"]}
