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


def spreadsheet_csv(frame: pd.DataFrame, free_text: Sequence[str | None] = ("text",)) -> bytes:
    """`frame` as UTF-8 CSV with formula-like cells of its `free_text` columns (the examples' texts, a tag column,
    a slice's name) made inert. Labels are left exact: "-1" and "+1" are labels, not formulas."""
    safe = frame.copy()
    for column in free_text:
        if column is not None and column in safe.columns:
            safe[column] = safe[column].map(_quoted)
    # CRLF row ends (RFC 4180): the writer then quotes a cell holding a lone CR too, which spreadsheets and
    # Python's csv end a row at; with "\n" ends "hello\rworld" went unquoted and split its row in two.
    return safe.to_csv(index=False, lineterminator="\r\n").encode("utf-8")
