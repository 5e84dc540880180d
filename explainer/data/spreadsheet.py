"""CSV files a visitor downloads: a text cell that starts like a formula ("=HYPERLINK(...)", "+1", "@SUM") would
run as one when the file is opened in a spreadsheet (CSV injection, OWASP). Such a cell gets a leading apostrophe,
which spreadsheets read as "this is text" and hide. Used for every CSV meant for people (the pages' downloads,
the map's likely-mislabelled list); the CLI's predictions and Parquet files, read by programs, stay exact."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _quoted(value: object) -> object:
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def _quoted_unless_number(value: object) -> object:
    """_quoted, but a number stays exact ("-1" and "+1" are labels, not formulas; "=1+1" or "-cmd" is not one)."""
    if isinstance(value, str) and value.startswith(("+", "-")):
        try:
            float(value)
        except ValueError:
            return "'" + value
        return value
    return _quoted(value)


def spreadsheet_csv(frame: pd.DataFrame, free_text: Sequence[str | None] = ("text",)) -> bytes:
    """`frame` as UTF-8 CSV with formula-like cells made inert: every cell of its `free_text` columns (the examples'
    texts, a tag column, a slice's name), and in its other columns of text (labels: a model's label names are the
    model's author's, '=HYPERLINK(...)' as well as '-1') any but a number."""
    safe = frame.copy()
    free = {column for column in free_text if column is not None}
    for column in safe.columns:
        if column in free:
            safe[column] = safe[column].map(_quoted)
        elif not pd.api.types.is_numeric_dtype(safe[column]):  # object or str dtype (pandas 3's for text)
            safe[column] = safe[column].map(_quoted_unless_number)
    # CRLF row ends (RFC 4180): the writer then quotes a cell holding a lone CR too, which spreadsheets and
    # Python's csv end a row at; with "\n" ends "hello\rworld" went unquoted and split its row in two.
    return safe.to_csv(index=False, lineterminator="\r\n").encode("utf-8")
