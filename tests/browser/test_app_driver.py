"""The benches' browser driver (explainer/bench/app_driver.py): the URLs it visits, and the end of a run. With the
app's config the page shows Streamlit's "Running..." status while the script runs; a visit ends when that status has
gone, not when the first figure appears (with toolbarMode "minimal" the status never showed, and every "end of the
run" the benches reported was the first figure plus 0.3 s)."""

from __future__ import annotations

import os

import pytest

from explainer.bench.app_driver import CHROMIUM, CHROMIUM_FLAGS, app_server, page_url, run_sessions

PAUSE_S = 8.0  # longer than the browser takes to draw the figure (plotly.js loads first)


@pytest.fixture
def chromium() -> None:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium and chromium-driver (see README)")


@pytest.mark.browser
@pytest.mark.slow
def test_a_visit_ends_when_the_run_ends_not_at_the_first_figure(tmp_path, chromium):
    with app_server(tmp_path / "cache", script="tests/browser/slow_page.py") as server:
        (slow, quick), = run_sessions(server.url, [(None, [(f"?sleep={PAUSE_S}", ""), ("?sleep=0", "")])])
    assert slow.first_figure_s is not None and slow.done_s is not None and not slow.exception
    assert slow.first_figure_s < PAUSE_S <= slow.done_s  # the figure shows during the pause; the run ends after it
    assert quick.done_s is not None and quick.first_figure_s <= quick.done_s < quick.first_figure_s + 3.0


@pytest.mark.browser
@pytest.mark.slow
def test_a_notice_above_the_figure_is_not_the_figure_but_a_notice_alone_is_the_answer(tmp_path, chromium):
    with app_server(tmp_path / "cache", script="tests/browser/slow_page.py") as server:
        (above, alone), = run_sessions(server.url, [(None, [(f"?notice=1&before={PAUSE_S}", ""),
                                                            ("?notice=1&figure=0", "")])])
    assert above.first_figure_s is not None and above.first_figure_s >= PAUSE_S  # the figure, after the pause
    assert alone.first_figure_s is not None and alone.done_s is not None  # the notice is all this page has
    assert alone.first_figure_s <= alone.done_s


@pytest.mark.browser
@pytest.mark.slow
def test_the_floor_page_draws_its_heatmap_through_the_driver(tmp_path, chromium):
    """The pages bench's reference: its own query (tokens, seed) reaches the page intact (a second "?" once made
    every floor visit an exception box, timed as if it were the heatmap)."""
    from explainer.bench.pages import FLOOR

    with app_server(tmp_path / "cache", script=FLOOR) as server:
        (visit,), = run_sessions(server.url, [(None, [("?tokens=23&seed=3", "")])])
        log = server.log.read_text()
        # the same address the driver visited draws a 23-token heatmap (17, the page's default, if the query is lost)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page()
            page.goto(page_url(server.url, "?tokens=23&seed=3", None, ""))
            page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
            rows = page.evaluate("document.querySelector('.js-plotly-plot').data[0].y.length")
            browser.close()
    assert visit.first_figure_s is not None and not visit.exception, log[-2000:]
    assert rows == 23


def test_page_urls_keep_the_path_query_and_add_text_and_model():
    from urllib.parse import parse_qs, urlsplit

    from explainer.bench.app_driver import page_url

    url = urlsplit(page_url("http://127.0.0.1:1", "?tokens=17&seed=3", None, ""))
    assert url.path == "/" and parse_qs(url.query, keep_blank_values=True) == {"tokens": ["17"], "seed": ["3"],
                                                                             "text": [""]}
    url = urlsplit(page_url("http://127.0.0.1:1", "attention", "m", "a b?c&d"))
    assert url.path == "/attention" and parse_qs(url.query) == {"text": ["a b?c&d"], "model": ["m"]}


@pytest.mark.browser
def test_the_map_bench_times_the_end_of_plotlys_first_draw(tmp_path, chromium):
    """It polled for the WebGL canvas and _fullLayout, which exist before the points are drawn: now the time is taken
    in newPlot's .then(), and the page carries the script that takes it."""
    import numpy as np
    import plotly.graph_objects as go

    from explainer.bench.map import render_seconds

    points = np.random.default_rng(0).normal(size=(2, 5000))
    seconds = render_seconds(go.Figure(go.Scattergl(x=points[0], y=points[1], mode="markers")), tmp_path)
    assert seconds is not None and 0 < seconds < 120
    assert "window.__mapDrawn = performance.now();" in (tmp_path / "map.html").read_text(encoding="utf-8")
