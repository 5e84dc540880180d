"""The data-set map's figure: categorical colours stay distinct when there are more categories than the short
palette holds (16 thought markers)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from explainer.views import dataset_map as map_figures
from explainer.views import evaluation as evaluation_figures
from explainer.views.thought_beacon import marker_color


def frame_with_markers(markers: int) -> pd.DataFrame:
    n = 3 * markers
    return pd.DataFrame({
        "row": np.arange(n), "x": np.arange(n, dtype=float), "y": np.zeros(n), "text": ["t"] * n,
        "label": ["pos"] * n, "predicted": ["pos"] * n, "confidence": np.ones(n), "marker": np.arange(n) % markers,
    })


def test_sixteen_markers_get_sixteen_colours_and_few_categories_the_short_palette():
    figure = map_figures.map_figure(frame_with_markers(16), "marker")
    colours = [trace.marker.color for trace in figure.data]
    assert len(colours) == 16 and len(set(colours)) == 16
    few = map_figures.map_figure(frame_with_markers(3), "predicted")
    assert [trace.marker.color for trace in few.data] == list(map_figures.PALETTE[:1])
    tags = frame_with_markers(3).assign(tag=lambda f: [f"t{i % 3}" for i in range(len(f))])
    assert [t.marker.color for t in map_figures.map_figure(tags, "tag").data] == list(map_figures.PALETTE[:3])


def test_a_marker_keeps_its_markers_page_colour_whichever_markers_are_present():
    # colours by position in the present markers changed a marker's colour between layers
    frame = frame_with_markers(16)
    only_some = frame[frame["marker"].isin([4, 12, 13])].assign(row=lambda f: range(len(f)))
    only_some.loc[only_some.index[0], "marker"] = -1
    figure = map_figures.map_figure(only_some.reset_index(drop=True), "marker")
    assert {t.name: t.marker.color for t in figure.data} == {
        "no marker": map_figures.NO_MARKER_COLOUR, "m4": marker_color(4), "m12": marker_color(12),
        "m13": marker_color(13)}
    assert len({marker_color(m) for m in range(16)}) == 16


def test_compare_bars_keep_the_legend_off_the_axis_title():
    bars = evaluation_figures.paired_attributions(np.ones(2), -np.ones(2), ["Ġa", "b"], "A", "B", "token")
    assert bars.layout.legend.y >= 1 and bars.layout.legend.yanchor == "bottom"
    assert list(bars.data[0].y) == ["0 a", "1 b"]


def test_the_map_names_its_axes_and_shows_no_ticks():
    figure = map_figures.map_figure(frame_with_markers(3), "label", axis_titles=("PC 1 (34% of the variance)", "PC 2"))
    assert figure.layout.xaxis.title.text == "PC 1 (34% of the variance)" and figure.layout.yaxis.title.text == "PC 2"
    assert figure.layout.xaxis.showticklabels is False and figure.layout.yaxis.showticklabels is False
    bare = map_figures.map_figure(frame_with_markers(3), "label")  # the bench's figure: no titles asked for
    assert bare.layout.xaxis.title.text is None


def test_a_small_map_is_svg_and_a_large_one_webgl_with_the_same_points():
    # WebGL in a browser without a GPU runs in software: several times slower than SVG for a few hundred points
    for rows, kind in ((map_figures.WEBGL_ABOVE, "scatter"), (map_figures.WEBGL_ABOVE + 1, "scattergl")):
        frame = frame_with_markers(rows // 3 + 1).head(rows)
        for colour in ("label", "confidence"):
            figure = map_figures.map_figure(frame, colour, selected=[0])
            assert {trace.type for trace in figure.data} == {kind}
            points = figure.data[0]
            assert len(points.x) == rows and list(points.customdata[:3]) == [0, 1, 2]


def test_a_label_keeps_its_colour_between_true_and_predicted_colouring():
    map_figure = map_figures.map_figure
    frame = pd.DataFrame({"row": [0, 1, 2], "text": ["a", "b", "c"], "label": ["negative", "positive", "positive"],
                          "predicted": ["positive", "positive", "positive"], "confidence": [0.9, 0.8, 0.7],
                          "correct": [False, True, True], "tokens": [3, 3, 3], "x": [0.0, 1, 2], "y": [0.0, 1, 2]})
    by_label = {trace.name: trace.marker.color for trace in map_figure(frame, "label").data}
    by_prediction = {trace.name: trace.marker.color for trace in map_figure(frame, "predicted").data}
    assert set(by_prediction) == {"positive"}  # no trace for a label the model never predicts
    assert by_prediction["positive"] == by_label["positive"] != by_label["negative"]


def test_the_legend_lists_labels_in_the_model_s_order():
    """Sorted by name, "very negative" came after "positive" and "neutral" before "negative"."""
    names = ("very negative", "negative", "neutral", "positive", "very positive")
    labels = ["positive", "very negative", "neutral", "very positive", "negative", "positive"]
    frame = pd.DataFrame({"row": range(6), "text": list("abcdef"), "label": labels, "predicted": ["neutral"] * 6,
                          "confidence": [0.5] * 6, "x": np.arange(6.0), "y": np.zeros(6)})
    figure = map_figures.map_figure(frame, "label", label_names=names)
    assert [trace.name for trace in figure.data if trace.showlegend is not False] == list(names)
    by_label = {trace.name: trace.marker.color for trace in figure.data}
    by_prediction = {t.name: t.marker.color for t in map_figures.map_figure(frame, "predicted", label_names=names).data}
    assert by_prediction["neutral"] == by_label["neutral"]  # one colour per label either way
    unnamed = map_figures.map_figure(frame, "label")  # no order given: by name, as before
    assert [trace.name for trace in unnamed.data][:2] == ["negative", "neutral"]


def test_rows_sharing_a_place_say_so_on_hover():
    # copies of one text are laid out once: the hover showed only one row, nothing saying two more sat under it
    frame = frame_with_markers(2).head(5).copy()
    frame[["x", "y"]] = [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
    hover = map_figures.hover_texts(frame)
    assert all(text.endswith("<br>2 more rows at this place") for text in hover[:3])
    assert not any("at this place" in text for text in hover[3:])
    frame.loc[1, "x"] = 2.0
    assert map_figures.hover_texts(frame)[0].endswith("<br>1 more row at this place")
    frame["confidence"] = 0.9952  # "(100%)" for a model not sure
    assert "(99.5%)" in map_figures.hover_texts(frame)[0]


def test_a_right_to_left_label_on_hover_keeps_the_confidence_after_it():
    """"predicted חיובי (83.4%)" read "(%83.4) חיובי": the labels are set apart (U+2068 ... U+2069)."""
    frame = frame_with_markers(2).head(1).copy()
    frame["label"], frame["predicted"], frame["confidence"] = "שלילי", "חיובי", 0.834
    assert "true \u2068שלילי\u2069 · predicted \u2068חיובי\u2069 (83.4%)" in map_figures.hover_texts(frame)[0]
