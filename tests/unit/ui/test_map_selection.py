"""What the map's selection event means: plotly keeps a drawn box or lasso in every later event, so a click after
an area selection arrives with the old area and the clicked point alone."""

from __future__ import annotations

from explainer.ui.dataset_map import area_of, selection_rows

BOX = [{"xref": "x", "yref": "y", "x": [0.1, 0.6], "y": [0.2, 0.9]}]


def point(row: int) -> dict:
    return {"customdata": [row], "x": 0.0, "y": 0.0}


def test_a_new_box_or_lasso_is_an_area_of_its_points():
    event = {"points": [point(4), point(2), point(4)], "box": BOX, "lasso": []}
    assert selection_rows(event) == ("area", [2, 4])
    lasso = {"points": [point(7)], "box": [], "lasso": [{"x": [0, 1, 1], "y": [0, 0, 1]}]}
    assert selection_rows(lasso) == ("area", [7])  # one point inside a newly drawn area is still an area


def test_a_click_is_a_click_with_or_without_an_earlier_box():
    assert selection_rows({"points": [point(9)], "box": [], "lasso": []}) == ("click", [9])
    drawn = area_of({"points": [point(1), point(2)], "box": BOX, "lasso": []})
    after = {"points": [point(9)], "box": BOX, "lasso": []}  # the old box comes along with the clicked point
    assert selection_rows(after, known_area=drawn) == ("click", [9])
    moved = [{**BOX[0], "x": [0.2, 0.7]}]
    assert selection_rows({"points": [point(9)], "box": moved, "lasso": []}, known_area=drawn) == ("area", [9])


def test_nothing_selected_is_nothing():
    assert area_of({"points": [], "box": [], "lasso": []}) == ""
    assert selection_rows({"points": [], "box": [], "lasso": []}) == ("", [])
    drawn = area_of({"points": [point(1)], "box": BOX})
    assert selection_rows({"points": [point(1), point(2)], "box": BOX}, known_area=drawn) == ("", [])


def test_a_session_keeps_at_most_max_slices_and_says_so(monkeypatch):
    from types import SimpleNamespace

    from explainer.dataset_map import slices as slicing
    from explainer.ui import dataset_map as map_ui

    toasts: list[str] = []
    fake = SimpleNamespace(session_state={map_ui.SLICES_KEY: []}, toast=lambda text, **_: toasts.append(text))
    monkeypatch.setattr(map_ui, "st", fake)
    rule = slicing.SliceRule(text="x")
    for i in range(slicing.MAX_SLICES):
        assert map_ui.add_slice(slicing.from_filter(f"s{i}", rule), "data")
    assert not map_ui.add_slice(slicing.from_filter("one more", rule), "data")
    assert toasts == [f"At most {slicing.MAX_SLICES} slices are kept: remove one to add one more."]
    assert map_ui.add_slice(slicing.from_filter("s3", slicing.SliceRule(text="y")), "data")  # a name used again
    assert len(fake.session_state[map_ui.SLICES_KEY]) == slicing.MAX_SLICES
