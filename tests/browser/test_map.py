"""The Data-set map in a real browser: a lasso drawn over a small map (SVG) becomes a slice with its metrics, and a
click on a point of a large map (WebGL, above views.dataset_map.WEBGL_ABOVE points) opens that example in the
Attribution view."""

from __future__ import annotations

import os
import urllib.parse

import pytest

from explainer.views.dataset_map import WEBGL_ABOVE
from tests.browser.test_browser import block_network, browser  # noqa: F401  (fixtures)
from tests.conftest import CORPUS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = os.environ.get("EXPLAINER_SCREENSHOTS")  # a folder to keep screenshots in, for looking at the pages
# Where plotly put the point farthest from every other (a click there can only hit it), relative to the chart's
# top-left corner; traces' arrays as plotly decoded them.
# `fromX`: only points at least that far right of the plot area's left edge, as a share of its width.
POINT_JS = """(gd, fromX = 0) => {
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const points = gd._fullData.flatMap(t => Array.from(t.x, (x, i) => ({
    x: xa._offset + xa.c2p(x), y: ya._offset + ya.c2p(t.y[i]), row: t.customdata ? Number(t.customdata[i]) : -1})));
  let best = null, bestGap = -1;
  for (const p of points) {
    if (p.row < 0 || p.x < xa._offset + fromX * xa._length) continue;
    let gap = Infinity;
    for (const q of points) if (q !== p) gap = Math.min(gap, Math.hypot(p.x - q.x, p.y - q.y));
    if (gap > bestGap) { bestGap = gap; best = p; }
  }
  return best;
}"""
# The selections plotly keeps drawn on a chart (a box or lasso stays until the chart is mounted afresh).
SELECTIONS_JS = "gd => (gd.layout.selections || []).length"


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    path = tmp_path_factory.mktemp("map-browser") / "reviews.csv"
    rows = [f'"{text}",{"negative" if i % 2 else "positive"}' for i, text in enumerate(CORPUS)]
    path.write_text("text,label\n" + "\n".join(rows) + '\n"<img src=x onerror=alert(1)> fine",positive\n')
    return path, [*CORPUS, "<img src=x onerror=alert(1)> fine"]


@pytest.fixture(scope="module")
def many_reviews(tmp_path_factory):
    """More rows than the map draws as SVG: its points are on WebGL."""
    texts = [f"{CORPUS[i % len(CORPUS)]} ({i})" for i in range(WEBGL_ABOVE + 50)]
    path = tmp_path_factory.mktemp("map-browser-many") / "many.csv"
    rows = [f'"{text}",{"negative" if i % 3 else "positive"}' for i, text in enumerate(texts)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    return path, texts


def open_map(browser, url: str, data, points: str = ".scatterlayer .point"):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    remote = block_network(page)
    page.goto(f"{url}/map?{urllib.parse.urlencode({'data': str(data)})}", wait_until="domcontentloaded")
    page.get_by_text("Likely mislabelled").first.wait_for(timeout=180_000)
    page.locator(f".js-plotly-plot {points}").first.wait_for(state="attached", timeout=60_000)
    page.wait_for_timeout(1500)  # let the run that drew the map finish
    return page, dialogs, remote


def screenshot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def test_a_click_on_a_point_opens_the_example(browser, app_url, many_reviews):  # noqa: F811
    path, texts = many_reviews
    page, dialogs, remote = open_map(browser, app_url, path, points=".gl-container canvas")
    assert page.locator(".js-plotly-plot .scatterlayer .point").count() == 0  # drawn on WebGL, not as SVG
    chart = page.locator(".js-plotly-plot").first
    # The default action: open it in the Attribution view.
    page.wait_for_timeout(1000)
    chart.scroll_into_view_if_needed()
    point = chart.evaluate(POINT_JS)
    box = chart.bounding_box()
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    page.wait_for_timeout(3000)
    screenshot(page, "map-click")
    page.wait_for_url("**/attribution?**", timeout=60_000)
    page.locator("textarea").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    assert page.locator("textarea").first.input_value() == texts[int(point["row"])]
    assert not dialogs and remote == []


def test_a_lasso_on_the_map_becomes_a_slice_with_metrics(browser, app_url, reviews, tmp_path):  # noqa: F811
    path, texts = reviews
    page, dialogs, remote = open_map(browser, app_url, path)
    assert page.locator("[data-testid='stException']").count() == 0
    chart = page.locator(".js-plotly-plot").first
    chart.scroll_into_view_if_needed()
    area = chart.locator(".nsewdrag").first.bounding_box()  # the plot area, where the lasso is drawn
    screenshot(page, "map")

    # The lasso tool (the map opens in zoom mode, where a click selects one point), drawn around the whole plot
    # area, selects every point.
    chart.hover()
    chart.locator(".modebar-btn[data-val='lasso']").first.click()
    left, top = area["x"] + 3, area["y"] + 3
    right, bottom = area["x"] + area["width"] - 3, area["y"] + area["height"] - 3
    page.mouse.move(left, top)
    page.mouse.down()
    for x, y in ((right, top), (right, bottom), (left, bottom), (left, top + 5)):
        page.mouse.move(x, y, steps=8)
    page.mouse.up()
    page.get_by_text(f"{len(texts)} points selected", exact=False).first.wait_for(timeout=60_000)
    assert chart.evaluate(SELECTIONS_JS) == 1  # plotly keeps the lasso drawn and the points outside it dimmed
    page.get_by_role("button", name="Add as slice").click()
    page.get_by_role("button", name="Definitions (JSON)").wait_for(timeout=60_000)  # once there is a slice
    chart = page.locator(".js-plotly-plot").first
    chart.wait_for(timeout=60_000)
    assert chart.evaluate(SELECTIONS_JS) == 0  # a fresh chart once the selection is a slice
    # glide-data-grid keeps an accessible copy of the metrics table in the page: the new slice's row appears there,
    # with every point in it.
    metrics = page.locator("[data-testid='stDataFrame']").first
    metrics.locator("[role='gridcell']", has_text="selection").first.wait_for(state="attached", timeout=60_000)
    cells = metrics.locator("[role='gridcell']").all_text_contents()
    assert cells[:3] == ["whole set", "", str(len(texts))]
    assert cells[6:9] == ["selection", "selection", str(len(texts))]  # name, kind, n
    screenshot(page, "map-slice")
    assert page.locator("[data-testid='stException']").count() == 0
    assert not dialogs and remote == [] and page.locator("img[src='x']").count() == 0

    # The definitions file loads back in another session: the same slice, the same rows.
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Definitions (JSON)").click()
    saved = tmp_path / "slices.json"
    download.value.save_as(saved)
    later, dialogs, remote = open_map(browser, app_url, path)
    later.get_by_text("Load slices from a definitions file").first.click()
    later.locator("[data-testid='stFileUploaderDropzoneInput']").last.set_input_files(str(saved))
    later.get_by_text("1 slice loaded from slices.json").first.wait_for(timeout=60_000)
    metrics = later.locator("[data-testid='stDataFrame']").first
    metrics.locator("[role='gridcell']", has_text="selection").first.wait_for(state="attached", timeout=60_000)
    assert metrics.locator("[role='gridcell']").all_text_contents()[6:9] == ["selection", "selection", str(len(texts))]
    # a file that is not definitions is named in a toast, and the slices stay
    (tmp_path / "<i>notes.json").write_bytes(b"\xff\xfe not text")
    later.locator("[data-testid='stFileUploaderDropzoneInput']").last.set_input_files(str(tmp_path / "<i>notes.json"))
    later.get_by_text("<i>notes.json was not read: it is not UTF-8 text").first.wait_for(timeout=60_000)
    assert metrics.locator("[role='gridcell']", has_text="selection").count() > 0
    assert later.locator("[data-testid='stException']").count() == 0 and not dialogs and remote == []


def test_two_filter_slices_in_a_row_keep_both(browser, app_url, reviews):  # noqa: F811
    # the name box stays on screen between the two: the browser must show the new name, not send the old one back
    path, _ = reviews
    page, dialogs, _ = open_map(browser, app_url, path)
    page.get_by_text("New slice from a filter").first.click()
    for text in ("film", "plot"):
        box = page.get_by_label("Text contains")
        box.fill(text)
        box.press("Enter")
        page.wait_for_timeout(1500)
        page.get_by_role("button", name="Add slice").click()
        page.wait_for_timeout(2500)
    metrics = page.locator("[data-testid='stDataFrame']").first
    metrics.locator("[role='gridcell']", has_text="filter 2").first.wait_for(state="attached", timeout=60_000)
    names = [cell for cell in metrics.locator("[role='gridcell']").all_text_contents() if cell.startswith("filter")]
    assert names[:2] == ["filter", "filter"] and "filter 2" in names  # name and kind of the first, then the second
    assert page.get_by_label("Slice name", exact=True).input_value() == "filter 3"
    assert page.locator("[data-testid='stException']").count() == 0 and not dialogs


def test_a_click_after_a_box_selection_opens_the_example(browser, app_url, reviews):  # noqa: F811
    # plotly keeps the drawn box in every later selection event: the click must not read as another area
    path, texts = reviews
    page, dialogs, remote = open_map(browser, app_url, path)
    chart = page.locator(".js-plotly-plot").first
    chart.scroll_into_view_if_needed()
    area = chart.locator(".nsewdrag").first.bounding_box()
    chart.hover()
    chart.locator(".modebar-btn[data-val='select']").first.click()  # Box Select, over the left half
    page.mouse.move(area["x"] + 3, area["y"] + 3)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] * 0.45, area["y"] + area["height"] - 3, steps=10)
    page.mouse.up()
    page.get_by_text("selected: slice name", exact=False).first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Add as slice").click()
    page.get_by_role("button", name="Definitions (JSON)").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    chart.hover()
    chart.locator(".modebar-btn[data-val='zoom']").first.click()  # back to zoom mode, where a click picks a point
    point = chart.evaluate(POINT_JS, 0.55)  # outside the box
    box = chart.bounding_box()
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    page.wait_for_url("**/attribution?**", timeout=60_000)
    page.locator("textarea").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    assert page.locator("textarea").first.input_value() == texts[int(point["row"])]
    assert not dialogs and remote == []
