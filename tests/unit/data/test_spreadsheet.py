"""CSV downloads: a text that a spreadsheet would run as a formula is made inert; everything else is exact."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd

from explainer.data.spreadsheet import spreadsheet_csv
from explainer.evaluation.error_report import predictions_csv


def test_formula_like_texts_get_an_apostrophe_and_nothing_else_changes():
    frame = pd.DataFrame({
        "text": ['=HYPERLINK("http://x","y")', "+1", "-2 stars", "@SUM(A1)", "\tx", "a = b", "fine"],
        "confidence": [-0.5, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        "correct": [True] * 7,
    })
    back = pd.read_csv(io.BytesIO(spreadsheet_csv(frame)), keep_default_na=False)
    assert back["text"].tolist() == ["'=HYPERLINK(\"http://x\",\"y\")", "'+1", "'-2 stars", "'@SUM(A1)", "'\tx",
                                     "a = b", "fine"]
    np.testing.assert_array_equal(back["confidence"], frame["confidence"])  # numbers stay numbers, minus included
    assert back["correct"].tolist() == [True] * 7


def test_labels_are_left_exact():
    frame = pd.DataFrame({"text": ["+good", "fine"], "label": ["+1", "-1"], "predicted": ["-1", "+1"]})
    back = pd.read_csv(io.BytesIO(spreadsheet_csv(frame)), dtype=str)
    assert back["text"].tolist() == ["'+good", "fine"]
    assert back["label"].tolist() == ["+1", "-1"] and back["predicted"].tolist() == ["-1", "+1"]


def test_a_label_that_is_a_formula_is_made_inert_and_numbers_stay_exact():
    """A model's label names are its author's: '=HYPERLINK(...)' reached the likely-mislabelled CSV as a formula."""
    names = ['=HYPERLINK("http://x")', "+cmd", "-x", "@SUM(A1)", "+1", "-1.5", "pos", "-inf"]
    frame = pd.DataFrame({"text": ["t"] * 8, "label": names, "neighbour_label": names[::-1]})
    back = pd.read_csv(io.BytesIO(spreadsheet_csv(frame)), dtype=str, keep_default_na=False)
    assert back["label"].tolist() == ["'=HYPERLINK(\"http://x\")", "'+cmd", "'-x", "'@SUM(A1)", "+1", "-1.5", "pos",
                                      "-inf"]
    assert back["neighbour_label"].tolist() == back["label"].tolist()[::-1]


def test_the_errors_download_uses_it():
    assert b"'=1+1" in predictions_csv(pd.DataFrame({"text": ["=1+1"], "label": ["pos"]}))


def test_a_carriage_return_inside_a_text_keeps_its_row_whole():
    # with "\n" row ends a lone CR went unquoted, and spreadsheets and Python's csv ended the row there
    frame = pd.DataFrame({"text": ["hello\rworld", "two\nlines", "fine"], "label": ["pos", "neg", "pos"]})
    raw = spreadsheet_csv(frame)
    assert raw.startswith(b"text,label\r\n") and b'"hello\rworld"' in raw
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert rows == [["text", "label"], ["hello\rworld", "pos"], ["two\nlines", "neg"], ["fine", "pos"]]
    assert pd.read_csv(io.BytesIO(raw))["text"].tolist() == ["hello\rworld", "two\nlines", "fine"]
