"""A server file named by someone else (a typed path, a demo data set) is read with quote_contents=False: every
error says what is wrong without quoting the file (no header, no label values), so a password file stays unread."""

from __future__ import annotations

import pytest

from explainer.data.labelled import DatasetError, read_dataset

SECRET = "root:x:0:0:the-secret-first-line"


@pytest.mark.parametrize(
    "content, reason",
    [
        (f"{SECRET}\ndaemon:x:1:1\n", "not a labelled data set"),
        (f"label,{SECRET}\npositive,1\n", "not a labelled data set"),  # a label column but no text column
        ('{"password": "' + SECRET + '"}\n', "not a labelled data set"),
        (f"text,label\nhello,{SECRET}\n", "1 unknown label value (a file read on the server: not quoted);"),
        (f"text,label\nhello,1\nworld,{SECRET}\n", "labels mix ids and names (2 distinct values)"),
        (f"{SECRET},{SECRET}\n", "repeated column names in the header"),
    ],
)
def test_errors_never_quote_the_file(tmp_path, content, reason):
    path = tmp_path / ("shadow.jsonl" if content.startswith("{") else "shadow.csv")
    path.write_text(content)
    with pytest.raises(DatasetError) as error:
        read_dataset(path, quote_contents=False, label_names=("negative", "positive") if "hello,1" not in content
                     else None)
    assert reason in str(error.value)
    assert "secret" not in str(error.value) and "root:x" not in str(error.value)


def test_quoting_stays_on_for_the_owner(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("words,score\nhello,1\n")
    with pytest.raises(DatasetError, match=r"columns found: \['words', 'score'\]"):
        read_dataset(path)


def test_a_named_column_that_is_missing_is_not_listed(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text(f"{SECRET},label\nx,positive\n")
    with pytest.raises(DatasetError) as error:
        read_dataset(path, text_column="review", quote_contents=False)
    assert "no text column 'review'" in str(error.value) and "secret" not in str(error.value)
    assert str(error.value).endswith("leave the text column unset to find it by its name")  # not a dead end


@pytest.mark.parametrize("content", [f"{SECRET}\ndaemon:x:1:1\n", "API_KEY=sk-live-123456\n"])
def test_the_owner_is_not_shown_a_one_column_files_first_line_either(tmp_path, content):
    """Outside demo mode too (the command line, the owner's own paths): a file that is one unnamed column is no data
    set, and its first line (a password entry, an API key) must not reach a terminal or CI log."""
    path = tmp_path / "not-data.csv"
    path.write_text(content)
    with pytest.raises(DatasetError) as error:
        read_dataset(path)
    assert "no label column found" in str(error.value) and "one column, whose name" in str(error.value)
    assert content.split("\n")[0] not in str(error.value) and "secret" not in str(error.value)
    assert "sk-live" not in str(error.value)

