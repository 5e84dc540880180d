"""The Errors page's per-label table: a label absent from both the truth and the predictions has no precision,
recall or F1 (macro-F1 leaves it out), not zeros."""

from __future__ import annotations

import numpy as np

from explainer.evaluation.predict import classification_metrics
from explainer.views.evaluation import per_label_table, shown_table


def test_a_label_neither_true_nor_predicted_has_no_scores_and_macro_f1_is_their_mean():
    metrics = classification_metrics(np.array([1]), np.array([1]), 2)
    table = per_label_table(metrics, ["negative", "positive"])
    assert table["support"].tolist() == [0, 1]
    assert table.loc[0, ["precision", "recall", "F1"]].isna().all()
    assert table.loc[1, "F1"] == 1.0 and metrics["macro_f1"] == table["F1"].mean()


def test_a_label_predicted_but_never_true_keeps_its_zero():
    metrics = classification_metrics(np.array([1, 1]), np.array([0, 1]), 2)
    table = per_label_table(metrics, ["negative", "positive"])
    assert table.loc[0, "F1"] == 0.0 and table["support"].tolist() == [0, 2]
    assert np.isclose(metrics["macro_f1"], table["F1"].mean(), atol=1e-4)  # the table rounds to 4 places


def test_a_missing_score_is_shown_as_a_dash_and_the_others_keep_their_digits():
    metrics = classification_metrics(np.array([1]), np.array([1]), 2)
    shown = shown_table(per_label_table(metrics, ["negative", "positive"]))
    rows = [line.split()[1:] for line in shown.to_string().splitlines()[1:]]  # label, precision, recall, F1, support
    assert rows == [["negative", "–", "–", "–", "0"], ["positive", "1.0000", "1.0000", "1.0000", "1"]]


def test_a_missing_score_stays_a_missing_number_so_its_column_sorts_and_aligns_as_numbers():
    """The dash is st.dataframe's placeholder (the browser draws a missing number as a grey "None" whatever the
    Styler's na_rep says); the data keeps numbers, so the column sorts as scores do (a text "0.8000" would not sort
    with "10.5000")."""
    metrics = classification_metrics(np.array([1, 1, 0]), np.array([1, 1, 1]), 3)
    shown = shown_table(per_label_table(metrics, ["negative", "positive", "neutral"])).data
    assert shown["F1"].dtype == float and shown["F1"].tolist()[:2] == [0.0, 0.8] and np.isnan(shown["F1"].iloc[2])
    assert shown["support"].tolist() == [1, 2, 0]


def test_a_table_without_missing_values_is_rounded():
    metrics = classification_metrics(np.array([1, 1]), np.array([0, 1]), 2)
    shown = shown_table(per_label_table(metrics, ["negative", "positive"])).data
    assert shown["F1"].dtype == float and shown.loc[1, "F1"] == round(shown.loc[1, "F1"], 4)


def test_a_confusion_cell_names_the_true_label_as_a_label():
    """"true positive, predicted negative" read as a true-positive cell, on the false negatives."""
    from explainer.views.evaluation import confusion_figure

    figure = confusion_figure([[208, 2], [31, 179]], ["negative", "<b>positive</b>"])
    hovers = [trace.hovertext for trace in figure.data if trace.hovertext is not None][0]
    assert "true label &lt;b&gt;positive&lt;/b&gt;, predicted negative: 31 examples" in hovers


def test_labels_named_by_numbers_stay_categories_and_the_frame_is_on_the_picked_cell():
    """Labels "1" and "0" (in that order) turned the axes into numbers (ticks -0.5 … 1.5), the cells into numeric
    order, and the frame, drawn at category positions, onto the other off-diagonal cell."""
    from explainer.views.evaluation import confusion_figure

    figure = confusion_figure([[5, 9], [2, 4]], ["1", "0"], picked=(0, 1))
    assert figure.layout.xaxis.type == figure.layout.yaxis.type == "category"
    assert list(figure.data[0].x) == list(figure.data[0].y) == ["1", "0"]  # the model's order, position 0 first
    frame = figure.layout.shapes[0]
    assert (frame.x0, frame.x1, frame.y0, frame.y1) == (0.5, 1.5, -0.5, 0.5)  # predicted "0" (at 1), true "1" (at 0)


def test_a_long_label_is_shortened_keeping_its_end_on_every_chart():
    """A 200-character label squeezed the confusion matrix to 60 px and, cut at its end, hid which label it was."""
    from explainer.views.evaluation import confusion_figure
    from explainer.views.text import LABEL_LIMIT, label_text

    names = ["very long label " * 12 + "END-NEG-A", "very long label " * 12 + "END-POS-B"]
    shown = [label_text(name) for name in names]
    assert all(len(text) == LABEL_LIMIT for text in shown) and shown[0] != shown[1]
    assert shown[0].endswith("END-NEG-A") and shown[0].startswith("very long label") and "…" in shown[0]
    assert label_text("<b>short</b>") == "&lt;b&gt;short&lt;/b&gt;"
    assert list(confusion_figure([[1, 0], [0, 1]], names).data[0].x) == shown
    # two that differ only in the middle would read the same once shortened, and a category axis merges them
    middle = ["Reviews where the critic is mostly negative about the film overall",
              "Reviews where the critic is mostly positive about the film overall"]
    axis = list(confusion_figure([[1, 0], [0, 1]], middle).data[0].x)
    assert len(set(axis)) == 2 and axis[0].startswith("0: Reviews") and axis[1].startswith("1: Reviews")
