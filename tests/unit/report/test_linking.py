"""The report's link back to the app (report/linking.py): it opens the page that reads the report's options and
carries them under the names the live pages read, so that the app's reading of a link (ui/links.live_view, which
the sidebar's report button builds its report from) gives back the options the report was made with."""

from __future__ import annotations

import pytest

from explainer.report import DEFAULT_PAGES, PAGES
from explainer.report.linking import live_link, page_link, paths_left_out, server_paths
from explainer.ui.links import NOT_IN_REPORT, LiveView, live_view


@pytest.mark.parametrize("options, page", [
    ({}, ""),
    ({"layer": 1, "head": 2}, ""),
    ({"head": 3}, ""),
    ({"statistic": "self_share"}, "attention"),
    ({"method": "lime", "baseline": "mask", "target": "positive"}, "attribution"),
    ({"path_token": 3}, "markers"),
    ({"beacon_threshold": 0.6}, "beacons"),
])
def test_the_link_opens_the_page_that_reads_the_options_and_the_page_reads_them_back(options, page):
    link = live_link(PAGES, **options)
    assert link.page == page
    read = live_view(link.page, link.params)
    # the report's options, as the app reads them from the link: what the sidebar's button would draw from there
    # (left_out names what only the page shows, such as the Markers page's dictionary: not a report option)
    assert read == LiveView(pages=read.pages, left_out=read.left_out, **{"head": 0, **options})
    assert read.left_out == ((NOT_IN_REPORT[page],) if page in NOT_IN_REPORT else ())
    assert set(read.pages) <= set(PAGES) and set(DEFAULT_PAGES) <= set(read.pages)


def test_a_link_says_what_it_opens_and_carries_every_pages_options():
    # --tau 0.6 showed positive 74.0% while the link opened the Overview at the model's own tau (90.5%)
    link = live_link(("overview", "attribution"), layer=1, method="saliency", beacon_threshold=0.6)
    assert link.page == "beacons" and link.params == {"tau": "0.6", "layer": "1", "head": "0", "method": "saliency"}
    assert link.opens == ("It opens the Beacons page at τ 0.6; the Overview and the Attribution page read their "
                          "options from the link too when first opened in that session; the other pages show the "
                          "model's own τ, not this report's.")
    assert live_link(("attribution",)).page == "attribution"  # nothing set: the report's first page
    assert live_link(("overview",), method="lime").params == {}  # options of a page the report does not show


def test_a_page_link_puts_the_roots_slash_before_the_query():
    query = {"model": "m", "text": "a <b> & é"}
    assert page_link("http://host:8501", query) == "http://host:8501/?model=m&text=a+%3Cb%3E+%26+%C3%A9"
    assert page_link("http://host:8501/", query).startswith("http://host:8501/?model=m")
    assert page_link("http://host:8501/app/attention", {"model": "m"}) == "http://host:8501/app/attention?model=m"


def test_options_naming_a_server_path_are_found(tmp_path):
    """A report's live link must not carry a path on the machine that made it: data=, results= and results_b= name
    files there whenever set; model_b= only when it names a folder (a shipped name or a hub id travels)."""
    (tmp_path / "model").mkdir()
    params = {"data": "/srv/x.csv", "model_b": str(tmp_path / "model"), "text": "a film", "results": "",
              "layer": "1"}
    assert server_paths(params) == ["data", "model_b"]
    assert server_paths({"model_b": "sst2-baseline", "text": "a"}) == []
    assert server_paths({"model_b": "someone/some-model"}) == []  # a hub id, not a folder here
    assert paths_left_out(["data", "model_b"]) == (
        "The live link is left out: its data=, model_b= would carry a path on the machine that made this report.")
