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


def test_a_missing_score_leaves_its_column_numeric():
    """Turned into text, a column sorted as text and lost its right alignment in the browser's table."""
    metrics = classification_metrics(np.array([1]), np.array([1]), 2)
    shown = shown_table(per_label_table(metrics, ["negative", "positive"]))
    assert shown.data["F1"].dtype == float and np.isnan(shown.data.loc[0, "F1"]) and shown.data.loc[1, "F1"] == 1.0
    assert shown.data["support"].tolist() == [0, 1]


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
