"""Labelled data reading: formats, column and label detection, problems reported by line, whole-file errors.

Every file here is written by the test itself; SST-2 is only read, from a shared/data folder beside
the checkout, when it is present.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from explainer.data import labelled as datasets
from explainer.data.labelled import DatasetError, LabelledData, iter_rows, read_dataset

SST2 = Path(__file__).resolve().parents[4] / "shared" / "data" / "sst2"
NAMES = ("negative", "positive")


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


# ---- good files -----------------------------------------------------------------------------------------


def test_csv_with_quoted_commas_and_newlines(tmp_path):
    path = write(tmp_path, "reviews.csv", (
        'id,review,sentiment,capability\n'
        '1,"Slow, but worth it.",positive,contrast\n'
        '2,"Two lines:\nboth dull.",Negative,filler\n'
        '3,"She said ""wow"".",POSITIVE,quote\n'
    ))
    data = read_dataset(path, label_names=NAMES)
    assert isinstance(data, LabelledData) and len(data) == 3 and data.problems == ()
    assert data.texts == ("Slow, but worth it.", "Two lines:\nboth dull.", 'She said "wow".')
    assert data.labels == (1, 0, 1) and data.label_names == NAMES
    assert (data.text_column, data.label_column, data.format) == ("review", "sentiment", "csv")
    assert data.extra == {"id": ("1", "2", "3"), "capability": ("contrast", "filler", "quote")}
    assert data.lines == (2, 3, 5)  # the record with a newline in it takes lines 3-4
    assert data.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()


def test_tsv_is_read_without_quoting(tmp_path):
    path = write(tmp_path, "dev.tsv", 'sentence\tlabel\na "quoted" word , here\t1\nit \'s flat\t0\n')
    data = read_dataset(path)
    assert data.texts == ('a "quoted" word , here', "it 's flat")
    assert data.labels == (1, 0) and data.label_names == ("0", "1") and data.format == "tsv"


def test_jsonl_with_ints_names_and_extra_keys(tmp_path):
    rows = [
        {"text": "A lovely film.", "label": 1, "source": "a"},
        {"text": "Dull.", "label": "0"},
        {"text": "Great fun.", "label": 1.0, "source": "b"},
    ]
    path = write(tmp_path, "data.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    data = read_dataset(path, label_names=NAMES)
    assert data.labels == (1, 0, 1) and data.format == "jsonl"
    assert data.extra == {"source": ("a", None, "b")}


def test_label_names_inferred_when_not_given(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\ngood,pos\nbad,neg\nfine,pos\n")
    data = read_dataset(path)
    assert data.label_names == ("neg", "pos") and data.labels == (1, 0, 1)  # sorted, so neg=0, pos=1
    ids = read_dataset(write(tmp_path, "i.csv", "text,label\na,0\nb,2\n"))
    assert ids.labels == (0, 2) and ids.label_names == ("0", "1", "2")


def test_columns_whose_names_differ_in_case_only_prefer_the_exact_name_then_the_first():
    # the last of the casefolded names won: the decoy "Label" or "Text" was read in silence
    data = read_dataset(b"text,label,Label\nhello,pos,neg\nbye,neg,pos\n", filename="c.csv", label_names=("neg", "pos"))
    assert data.label_column == "label" and data.labels == (1, 0)
    data = read_dataset(b"text,Text,label\nhello,decoy,1\n", filename="c.csv")
    assert data.text_column == "text" and data.texts == ("hello",)
    data = read_dataset(b"TEXT,Text,Label,LABEL\nhello,decoy,1,0\n", filename="c.csv")
    assert (data.text_column, data.label_column) == ("TEXT", "Label")


def test_bytes_uploads_use_the_filename_or_sniff(tmp_path):
    csv_bytes = b"text,label\n\"a, b\",1\n"
    assert read_dataset(csv_bytes, filename="up.csv").texts == ("a, b",)
    assert read_dataset(io.BytesIO(csv_bytes)).format == "csv"  # no name: sniffed
    assert read_dataset(b"text\tlabel\nx y\t0\n").format == "tsv"
    assert read_dataset(b'{"text": "x", "label": 1}\n', filename="upload.txt").format == "jsonl"
    upload = io.BytesIO(b'{"text": "x", "label": 1}\n')
    upload.name = "mine.jsonl"  # what Streamlit's UploadedFile carries
    data = read_dataset(upload)
    assert data.source == "mine.jsonl" and data.content_hash == hashlib.sha256(upload.getvalue()).hexdigest()


def test_format_override(tmp_path):
    path = write(tmp_path, "export.csv", "text\tlabel\nx, y\t1\n")  # tab-separated despite its name
    assert read_dataset(path).texts == ("x, y",)  # its header names the delimiter
    data = read_dataset(path, format="tsv")
    assert data.texts == ("x, y",) and data.labels == (1,) and data.format == "tsv"
    with pytest.raises(DatasetError, match="unknown format 'xml'"):
        read_dataset(path, format="xml")


def test_column_override_and_guess(tmp_path):
    path = write(tmp_path, "d.csv", "id,body,title,verdict,label\n1,A long body of words,Short,1,0\n")
    guessed = read_dataset(path, label_column="verdict")
    assert guessed.text_column == "body" and guessed.labels == (1,)  # the longest string column
    chosen = read_dataset(path, text_column="TITLE", label_column="label")  # names match case-insensitively
    assert chosen.texts == ("Short",) and chosen.labels == (0,) and "verdict" in chosen.extra
    # A guessed column is named beside the numbers (Errors, map, CLI); a chosen or known one needs no note.
    assert guessed.text_column_guessed and "from column 'body'" in datasets.text_column_note(guessed)
    assert datasets.data_notes(guessed) == (datasets.text_column_note(guessed),)
    assert not chosen.text_column_guessed and datasets.text_column_note(chosen) is None
    known = read_dataset(write(tmp_path, "k.csv", "id,review,label\n1,Fine,1\n"))
    assert not known.text_column_guessed and datasets.data_notes(known) == ()
    with pytest.raises(DatasetError, match=r"no text column 'missing'; columns found: \['id', 'body'"):
        read_dataset(path, text_column="missing")


def test_windows_line_endings_and_huge_fields(tmp_path):
    long_text = "word " * 40_000  # 200 KB: past csv's default 128 KiB field limit
    for name, content in (
        ("d.csv", f'text,label\r\n"{long_text}",1\r\nshort,0\r\n'),
        ("d.tsv", f"text\tlabel\r\n{long_text}\t1\r\nshort\t0\r\n"),
        ("d.jsonl", f'{{"text": "{long_text}", "label": 1}}\r\n{{"text": "short", "label": 0}}\r\n'),
    ):
        data = read_dataset(write(tmp_path, name, content))
        assert data.texts == (long_text, "short") and data.labels == (1, 0) and data.problems == (), name


def test_upload_already_read_once():
    upload = io.BytesIO(b"text,label\nx,1\n")
    upload.read()  # a preview consumed it
    assert read_dataset(upload, filename="u.csv").texts == ("x",)


def test_bom_is_removed(tmp_path):
    raw = "\ufefftext,label\nhello there,1\n".encode()
    data = read_dataset(write(tmp_path, "bom.csv", raw))
    assert data.text_column == "text" and data.texts == ("hello there",)
    assert data.content_hash == hashlib.sha256(raw).hexdigest()  # of the bytes as given, BOM included


def test_to_frame(tmp_path):
    data = read_dataset(write(tmp_path, "d.csv", "text,label,capability\na,1,typo\nb,0,long\n"))
    frame = data.to_frame()
    assert list(frame.columns) == ["text", "label", "capability", "line"]
    assert frame["capability"].tolist() == ["typo", "long"] and frame["line"].tolist() == [2, 3]


# ---- bad rows: skipped, reported with their line --------------------------------------------------------


def test_malformed_csv_rows_reported_by_line(tmp_path):
    path = write(tmp_path, "bad.csv", (
        "text,label\n"                    # 1
        '"first line\nsecond line",1\n'  # 2-3: one record
        "good one,0\n"                    # 4
        "too,many,fields\n"               # 5
        "\n"                              # 6: blank, ignored
        " ,1\n"                           # 7
        "no label,\n"                     # 8
        "last,1\n"                        # 9
    ))
    data = read_dataset(path)
    assert data.texts == ("first line\nsecond line", "good one", "last") and data.lines == (2, 4, 9)
    assert data.problems == (
        (5, "expected 2 fields, found 3"), (7, "empty text"), (8, "missing label"),
    )


def test_a_carriage_return_inside_an_unquoted_field_is_said_in_plain_words():
    # the row's problem was csv's own text: "new-line character seen in unquoted field - do you need to open the
    # file in universal-newline mode?"
    data = read_dataset(b"text,label\nhello\rworld,1\nb,0\nc,1\n", filename="cr.csv")
    assert data.texts == ("b", "c") and data.problems == (
        (2, "a carriage return inside an unquoted field: quote the field or remove the carriage return"),
    )


def test_unclosed_quote_names_the_span(tmp_path):
    path = write(tmp_path, "q.csv", 'text,label\nfine,1\n"oops,0\nmore,1\n')
    data = read_dataset(path)
    assert data.texts == ("fine",)
    (line, reason), = data.problems
    assert line == 3 and "lines 3-4" in reason and "unclosed quote" in reason


def test_malformed_jsonl_rows_reported_by_line(tmp_path):
    path = write(tmp_path, "bad.jsonl", (
        '{"text": "ok", "label": 1}\n'   # 1
        '{"text": "broken", "label": \n'  # 2
        '\n'                              # 3: blank
        '[1, 2]\n'                        # 4
        '{"text": "", "label": 0}\n'      # 5
        '{"text": "no label"}\n'          # 6
        '{"label": 1}\n'                  # 7
        '{"text": 5, "label": 1}\n'       # 8
        '{"text": "fine", "label": 0}\n'  # 9
    ))
    data = read_dataset(path)
    assert data.texts == ("ok", "fine") and data.lines == (1, 9)
    assert [line for line, _ in data.problems] == [2, 4, 5, 6, 7, 8]
    reasons = dict(data.problems)
    assert reasons[2].startswith("invalid JSON") and "JSON object" in reasons[4]
    assert reasons[2].endswith("(column 29)")  # where the line ends too soon, not "column 1" of the next line
    assert reasons[5] == "empty text" and reasons[6] == "missing label" and "text" in reasons[7]
    assert "not a string" in reasons[8]


def test_a_jsonl_object_naming_a_key_twice_is_skipped_not_read_as_its_last_value(tmp_path):
    path = write(tmp_path, "dup.jsonl", (
        '{"text": "two labels", "label": 1, "label": 0}\n'
        '{"text": "fine", "label": 0, "meta": {"a": 1}}\n'
        '{"text": "nested", "label": 1, "meta": {"a": 1, "a": 2}}\n'
    ))
    data = read_dataset(path)
    assert data.texts == ("fine",)
    assert data.problems == ((1, "the key 'label' appears twice in one object"),
                             (3, "the key 'a' appears twice in one object"))
    hidden = read_dataset(path, quote_contents=False)  # a server file a visitor named: no key quoted
    assert [reason for _, reason in hidden.problems] == ["a key appears twice in one object"] * 2


def test_jsonl_keys_only_some_lines_have_are_not_columns(tmp_path):
    """Each line with keys of its own made rows x keys cells (a 0.9 MB file took minutes and gigabytes): the 64
    keys most sampled lines have stay columns (a tag on 30% of lines among them), None where a line lacks one."""
    import json

    lines = [{"text": f"t{i}", "label": i % 2, "tag": "a" if i % 3 else None, **{f"k{i}_{j}": 0 for j in range(50)}}
             for i in range(400)]
    lines += [{"text": f"u{i}", "label": 0, "tag": "b"} for i in range(2000)]
    path = write(tmp_path, "wide.jsonl", "".join(json.dumps(line) + "\n" for line in lines))
    data = read_dataset(path)
    assert len(data) == 2400 and len(data.extra) == 64 and "tag" in data.extra  # not the 20,000 of single lines
    assert data.extra["tag"][:3] == (None, "a", "a") and data.extra["tag"][-1] == "b"


def test_a_utf16_file_is_named_as_utf16():
    """It read "is not UTF-8: byte 0xff at byte offset 0", leaving the user to guess what the file is."""
    for encoding in ("utf-16-le", "utf-16-be"):
        bom = "\ufeff".encode(encoding)
        with pytest.raises(DatasetError, match="d.csv is UTF-16 .*; save it as UTF-8"):
            read_dataset(bom + "text,label\na,1\n".encode(encoding), filename="d.csv")


def test_a_compressed_or_binary_file_is_named_for_what_it_is():
    """A .csv.gz, a zip, an Excel file or a Parquet file under another name read "is not UTF-8: byte 0x8b ...;
    save the file as UTF-8", which sends the user to fix an encoding the file does not have."""
    import bz2
    import gzip
    import zipfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = b"text,label\na fine film,1\n"
    zipped, parquet = io.BytesIO(), io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("rows.csv", rows)
    pq.write_table(pa.table({"text": ["a fine film"], "label": [1]}), parquet)
    for data, said in ((gzip.compress(rows), r"is gzip-compressed: decompress it \(gunzip\)"),
                       (bz2.compress(rows), r"is bzip2-compressed"),
                       (zipped.getvalue(), r"is a zip archive \(an Excel \.xlsx is one\)"),
                       (parquet.getvalue(), r"is a Parquet file: give it the \.parquet extension"),
                       # an image was "not UTF-8: byte 0x89 at byte offset 0 ... save the file as UTF-8"
                       (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"is an image \(PNG\), not a labelled data set"),
                       (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", r"is a PDF document, not a labelled data set")):
        for name in ("rows.csv", "rows.csv.gz", "rows"):
            with pytest.raises(DatasetError, match=rf"^{name} {said}"):
                read_dataset(data, filename=name, quote_contents=False)


def test_label_values_that_overflow_or_are_decimals_are_read_as_labels():
    """A 309-digit label raised OverflowError (int(float(...))), a page traceback; a JSONL number of 5,000 digits
    stopped the whole file (ValueError past the JSON error handler); Parquet decimals 0 and 1 were "unknown
    labels Decimal('0'), Decimal('1')" though they are the ids 0 and 1."""
    from decimal import Decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    names = ("negative", "positive")
    with pytest.raises(DatasetError, match=r"unknown label.*; expected \['negative', 'positive'\]"):
        read_dataset(b"text,label\nGood film.,1\nBad film.," + b"9" * 309 + b"\n", filename="d.csv",
                     label_names=names)
    lines = b'{"text": "Good film.", "label": 1}\n{"text": "Bad film.", "label": ' + b"1" * 5000 + b'}\n' \
        b'{"text": "Bad film.", "label": 0}\n'
    data = read_dataset(lines, filename="d.jsonl", label_names=names)
    assert data.labels == (1, 0) and list(data.problems) == [(2, "invalid JSON: a number too long to read")]
    table = pa.table({"text": ["a", "b", "c"], "label": pa.array([Decimal(1), Decimal(0), Decimal(1)],
                                                                  pa.decimal128(3, 0))})
    stream = io.BytesIO()
    pq.write_table(table, stream)
    assert read_dataset(stream.getvalue(), filename="d.parquet", label_names=names).labels == (1, 0, 1)


def test_a_missing_label_written_as_a_word_skips_its_row():
    """pandas' astype(str) writes a missing label as "nan", R as "NA": the whole file was refused ("unknown labels
    'nan'") while an empty cell beside it was skipped as a missing label. A label of that name stays a label."""
    rows = b"text,label\nGood film.,1.0\nBad film.,nan\nNice.,1.0\nAwful.,0.0\nMeh.,NA\nOdd.,None\n"
    data = read_dataset(rows, filename="d.csv", label_names=("negative", "positive"))
    assert data.labels == (1, 1, 0)
    assert list(data.problems) == [(3, "missing label (nan)"), (6, "missing label (NA)"), (7, "missing label (None)")]
    assert read_dataset(rows, filename="d.csv").labels == (1, 1, 0)  # ids read without names
    named = read_dataset(b"text,label\na,none\nb,joy\n", filename="d.csv", label_names=("joy", "none"))
    assert named.labels == (1, 0) and not named.problems
    # names inferred: "nan" beside names is missing too, as it was past the sample (where it stood decided it);
    # "none" can be a class (an intent set's), so among names it stays one
    inferred = read_dataset(b"text,label\na,pos\nb,neg\nc,nan\nd,none\n", filename="d.csv")
    assert inferred.label_names == ("neg", "none", "pos") and list(inferred.problems) == [(4, "missing label (nan)")]


def test_a_jsonl_tag_on_some_lines_stays_a_column(tmp_path):
    import json

    lines = [{"text": f"t{i}", "label": i % 2, **({"capability": "negation"} if i < 6 else {})} for i in range(20)]
    data = read_dataset(write(tmp_path, "tags.jsonl", "".join(json.dumps(line) + "\n" for line in lines)))
    assert data.extra["capability"][:7] == ("negation",) * 6 + (None,)


def test_a_file_that_cannot_be_read_after_its_check_is_a_dataset_error(tmp_path, monkeypatch):
    """Gone between the check and the read, or a device that fails on read (/proc/self/mem): an OSError escaped
    read_dataset, a traceback on the Errors page; bytes that change after their UTF-8 check, a UnicodeDecodeError."""
    from pathlib import Path

    path = write(tmp_path, "gone.csv", "text,label\na,1\n")
    checked = Path.is_file

    def vanishing(self):
        there = checked(self)
        if self == path and there:
            path.unlink()
        return there

    monkeypatch.setattr(Path, "is_file", vanishing)
    with pytest.raises(DatasetError, match=r"gone\.csv: cannot be read \(No such file or directory\)"):
        read_dataset(path)
    monkeypatch.undo()
    if Path("/proc/self/mem").exists():
        with pytest.raises(DatasetError, match=r"^/proc/self/mem: cannot be read"):
            read_dataset("/proc/self/mem", quote_contents=False)


def test_a_json_array_without_a_telling_extension_is_named_as_one(tmp_path):
    """Uploaded as .txt (an accepted type), it was read as CSV: "no label column found; columns found:
    ['[{"text":"ok"', ...]"; named .json it got the clear message."""
    for text in ('[{"text": "ok", "label": 1}]\n', '[\n  {"text": "ok", "label": 1}\n]\n'):
        with pytest.raises(DatasetError, match="holds a JSON array; give one JSON object per line"):
            read_dataset(write(tmp_path, "rows.txt", text))


def test_one_json_object_of_columns_is_named_as_one(tmp_path):
    """pandas' default to_json (columns, each an {index: value} object) and a {column: [values]} object were read
    as one row: "unknown labels {'0': 1, '1': 0}; expected ['negative', 'positive']"."""
    import pandas as pd

    frame = pd.DataFrame({"text": ["good film", "bad film"], "label": [1, 0]})
    for name, text in (("pandas.json", frame.to_json()), ("lists.json", '{"text": ["a", "b"], "label": [1, 0]}')):
        with pytest.raises(DatasetError, match=r"is one JSON object of columns \(as pandas' to_json writes by "):
            read_dataset(write(tmp_path, name, text), label_names=NAMES)
    records = write(tmp_path, "records.jsonl", frame.to_json(orient="records", lines=True))
    assert read_dataset(records, label_names=NAMES).texts == ("good film", "bad film")  # what the message asks for


def test_labels_that_are_neither_names_nor_ids_are_refused_as_such(tmp_path):
    """JSON Infinity or a list as a label read "unknown labels inf; expected ['inf', 'negative']"."""
    for value in ("Infinity", "[1, 2]", "0.5"):
        rows = f'{{"text": "a", "label": "negative"}}\n{{"text": "b", "label": {value}}}\n'
        path = write(tmp_path, "odd.jsonl", rows)
        with pytest.raises(DatasetError, match="labels must be names \\(text\\) or integer ids, not "):
            read_dataset(path)
        with pytest.raises(DatasetError, match="labels must be names \\(text\\) or integer ids, not .*; the first is "
                                               "on line 2$"):  # said where, as an unknown label is
            read_dataset(path, label_names=NAMES)  # "unknown labels [1, 2]; expected ['negative', 'positive']"


def test_a_null_text_is_said_missing_not_a_nonetype(tmp_path):
    path = write(tmp_path, "nulls.jsonl",
                 '{"text": null, "label": "negative"}\n{"text": "fine", "label": "positive"}\n')
    data = read_dataset(path, label_names=NAMES)
    assert data.texts == ("fine",) and data.problems == ((1, "missing text (null)"),)


def test_jsonl_with_lines_ending_in_a_lone_carriage_return_is_named_so(tmp_path):
    """It was blamed on "a pretty-printed JSON file spanning lines"; CSV already said this."""
    rows = '{"text": "good film", "label": 1}\r{"text": "bad film", "label": 0}\r'
    with pytest.raises(DatasetError, match=r"rows.jsonl: its lines end in a carriage return only \(old Mac style\)"):
        read_dataset(write(tmp_path, "rows.jsonl", rows), label_names=NAMES)
    assert read_dataset(write(tmp_path, "crlf.jsonl", rows.replace("\r", "\r\n")), label_names=NAMES).labels == (1, 0)


def test_a_byte_order_mark_written_twice_is_not_part_of_the_first_column_s_name(tmp_path):
    """'\\ufefftext' was not 'text': the text column was guessed (with a note) from a column of that name."""
    path = tmp_path / "twice.csv"
    path.write_bytes(BOM_TWICE + b"text,label\ngood film,1\n")
    data = read_dataset(path, label_names=NAMES)
    assert data.text_column == "text" and data.texts == ("good film",)


BOM_TWICE = b"\xef\xbb\xbf" * 2


def test_tsv_row_with_extra_tab(tmp_path):
    data = read_dataset(write(tmp_path, "d.tsv", "sentence\tlabel\na\tb\t1\nok\t0\n"))
    assert data.texts == ("ok",) and data.problems == ((2, "expected 2 fields, found 3"),)


def test_every_row_bad_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match=r"no usable rows \(line 2: empty text; line 3: missing label\)"):
        read_dataset(write(tmp_path, "d.csv", "text,label\n,1\nx,\n"))
    with pytest.raises(DatasetError, match="no usable rows"):
        read_dataset(write(tmp_path, "h.csv", "text,label\n"))
    with pytest.raises(DatasetError, match="empty"):
        read_dataset(write(tmp_path, "e.csv", ""))


# ---- whole-file errors ----------------------------------------------------------------------------------


def test_a_jsonl_file_with_no_json_object_line_says_so():
    # a pretty-printed JSON file or an empty .jsonl said "no label column found ...; columns found: []"
    pretty = b'{\n  "text": "a",\n  "label": 1\n}\n'
    with pytest.raises(DatasetError, match=r"no line is a JSON object \(line 1: invalid JSON: .*\); JSONL needs one "
                                           r"whole object per line"):
        read_dataset(pretty, filename="pretty.json")
    with pytest.raises(DatasetError, match=r"no line is a JSON object \(line 2: expected a JSON object, found int\)"):
        read_dataset(b"\n3\n", filename="n.jsonl", quote_contents=False)
    for empty in (b"", b"\n \n"):
        with pytest.raises(DatasetError, match=r"e.jsonl is empty"):
            read_dataset(empty, filename="e.jsonl")


def test_unknown_label_names_list_found_and_expected(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\na,positive\nb,neutral\nc,negative\nd,mixed\n")
    with pytest.raises(DatasetError) as error:
        read_dataset(path, label_names=NAMES)
    message = str(error.value)
    assert "unknown labels 'mixed', 'neutral'" in message and "['negative', 'positive']" in message
    assert "labels found: 'mixed', 'negative', 'neutral', 'positive'" in message
    path = write(tmp_path, "all.csv", "text,label\na,happy\nb,sad\n")
    with pytest.raises(DatasetError) as error:
        read_dataset(path, label_names=NAMES)
    assert "unknown labels 'happy', 'sad'" in str(error.value) and "labels found" not in str(error.value)  # said once
    with pytest.raises(DatasetError, match="unknown labels '2'"):  # an id past the end of label_names
        read_dataset(write(tmp_path, "i.csv", "text,label\na,2\n"), label_names=NAMES)
    with pytest.raises(DatasetError, match="mix ids and names"):
        read_dataset(write(tmp_path, "m.csv", "text,label\na,1\nb,positive\n"))


def test_unknown_label_after_the_sample_names_its_line(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "SAMPLE_ROWS", 2)
    path = write(tmp_path, "d.csv", "text,label\na,0\nb,1\nc,1\nd,7\n")
    with pytest.raises(DatasetError, match=r"line 5: unknown label '7'; expected \['negative', 'positive'\]"):
        read_dataset(path, label_names=NAMES)


def test_a_huge_bare_integer_label_is_refused_with_its_value_and_line(monkeypatch):
    # with no label names, ids 0..the largest become names: one 3000000 asked for 3 million names (out of memory)
    for value in ("3000000", "99999999999999999999999"):
        with pytest.raises(DatasetError, match=rf"unknown labels '{value}'; expected integer ids 0, 1, \.\.\. up to "
                                               r"10000 .*; the first is on line 3"):
            read_dataset(f"text,label\na,0\nb,{value}\n".encode(), filename="ids.csv")
    monkeypatch.setattr(datasets, "SAMPLE_ROWS", 2)  # past the sample: the row's line
    with pytest.raises(DatasetError, match=r"line 4: unknown label '3000000'"):
        read_dataset(b"text,label\na,0\nb,1\nc,3000000\n", filename="ids.csv")
    assert read_dataset(b"text,label\na,0\nb,10000\n", filename="ids.csv").label_names[-1] == "10000"


def test_not_utf8_gives_the_byte_offset(tmp_path):
    raw = b"text,label\nok,1\ncaf\xe9,0\n"
    with pytest.raises(DatasetError, match=r"not UTF-8: byte 0xe9 at byte offset 19 \(line 3\)"):
        read_dataset(write(tmp_path, "latin1.csv", raw))
    with pytest.raises(DatasetError, match=r"not UTF-8: .* byte offset 12"):  # cut inside "é"
        read_dataset(b"text,label\nx\xc3", filename="cut.csv")


def test_not_utf8_is_said_alike_when_the_format_is_guessed():
    # no telling extension: the first line was decoded to sniff the format before the encoding was checked, so
    # UTF-16 text (Excel's "Unicode text") in a .txt raised a bare UnicodeDecodeError; a .tsv got this message
    utf16 = "text\tlabel\ngood\t1\n".encode("utf-16")
    for filename in ("export.txt", "export.tsv", "data"):
        with pytest.raises(DatasetError, match=r"is UTF-16 \(it starts with a UTF-16 byte-order mark\); save it"):
            read_dataset(utf16, filename=filename)
    with pytest.raises(DatasetError, match=r"image.txt is an image \(PNG\), not a labelled data set$"):  # named
        read_dataset(b"\x89PNG\r\n\x1a\n" + bytes(100), filename="image.txt", quote_contents=False)
    with pytest.raises(DatasetError, match=r"is not UTF-8: byte 0x89 at byte offset 0"):  # no known kind: the byte
        read_dataset(b"\x89XYZ\r\n\x1a\n" + bytes(100), filename="other.txt", quote_contents=False)


def test_nul_bytes_are_refused_and_utf16_or_32_without_a_mark_is_named(tmp_path):
    """UTF-16 without a byte-order mark passed the UTF-8 check (ASCII padded with NULs is valid UTF-8) and was
    refused as "no label column found; columns found: ['t\\x00e\\x00x\\x00t\\x00', ...]"; a UTF-32 file was called
    UTF-16; NULs inside a text were read as text, and 200 MB of NULs took seconds and 1.7 GB to be refused."""
    import codecs

    rows = "text,label\ngood film,1\nbad film,0\n"
    for encoding in ("utf-16-le", "utf-16-be", "utf-32-le"):
        with pytest.raises(DatasetError, match=r"looks like UTF-16 or UTF-32 text without a byte-order mark"):
            read_dataset(rows.encode(encoding), filename="export.csv")
    for data in (rows.encode("utf-32"), codecs.BOM_UTF32_BE + rows.encode("utf-32-be")):
        with pytest.raises(DatasetError, match=r"is UTF-32 \(it starts with a UTF-32 byte-order mark\)"):
            read_dataset(data, filename="export.csv")
    with pytest.raises(DatasetError, match=r"holds a NUL byte at byte offset 15 \(line 2\): a text data file has"):
        read_dataset(b"text,label\ngood\x00 film,1\n", filename="nul.csv")
    with pytest.raises(DatasetError, match=r"holds a NUL byte at byte offset 0 \(line 1\)"):
        read_dataset(bytes(1 << 20), filename="zeros.csv")
    with pytest.raises(DatasetError, match=r"is gzip-compressed"):  # its header's NULs do not hide what it is
        read_dataset(bytes.fromhex("1f8b0800000000000003"), filename="rows.csv")


def test_a_link_loop_is_named_as_one(tmp_path):
    """It was called "a link to a missing file"."""
    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    with pytest.raises(DatasetError, match=r"a\.csv: a link loop \(a link that leads back to itself\)"):
        read_dataset(tmp_path / "a.csv")
    (tmp_path / "c.csv").symlink_to(tmp_path / "gone.csv")
    with pytest.raises(DatasetError, match=r"c\.csv: a link to a missing file"):
        read_dataset(tmp_path / "c.csv")


def test_not_utf8_offset_across_read_chunks(monkeypatch):
    monkeypatch.setattr(datasets, "CHUNK", 4)  # a bad byte and valid multi-byte characters span chunks
    raw = "text,label\nnaïve café,1\n".encode() + b"\xff,0\n"
    with pytest.raises(DatasetError, match=rf"byte offset {len(raw) - 4} \(line 3\)"):
        read_dataset(raw, filename="x.csv")


def test_no_text_column_lists_the_columns(tmp_path):
    path = write(tmp_path, "d.csv", "id,score,label\n1,0.5,1\n2,0.25,0\n")
    with pytest.raises(DatasetError, match=r"no text column found .*columns found: \['id', 'score', 'label'\]"):
        read_dataset(path)


def test_no_label_column_lists_the_columns(tmp_path):
    with pytest.raises(DatasetError, match=r"no label column found .*columns found: \['text', 'stars'\]"):
        read_dataset(write(tmp_path, "d.csv", "text,stars\nnice,5\n"))


def test_the_columns_an_error_lists_are_bounded_for_a_file_that_is_not_a_data_set(tmp_path):
    # an environment dump: one "column" of 1,000+ characters with NULs (like /proc/self/environ)
    line = "\x00".join(f"VARIABLE_{i}=value_{i}" for i in range(60))
    with pytest.raises(DatasetError, match=r"environ.csv holds a NUL byte at byte offset 18 \(line 1\)") as raised:
        read_dataset(write(tmp_path, "environ.csv", line + "\n"))
    assert "VARIABLE" not in str(raised.value)
    with pytest.raises(DatasetError) as raised:  # the same without its NULs
        read_dataset(write(tmp_path, "environ.csv", line.replace("\x00", " ") + "\n"))
    message = str(raised.value)
    assert "VARIABLE" not in message and "columns found: one column, whose name (the file's first line)" in message
    assert len(message) < 300
    wide = ",".join(f"c{i}" for i in range(30))
    with pytest.raises(DatasetError, match=r"columns found: \['c0', .*'c11', \.\.\. \(18 more\)\]"):
        read_dataset(write(tmp_path, "wide.csv", wide + "\n" + ",".join("1" * 30) + "\n"))


def test_a_label_column_named_as_the_text_column_says_so(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\nnice,positive\n")
    with pytest.raises(DatasetError, match=r"the text and the label column are both 'text'; name the text column"):
        read_dataset(path, label_column="text")
    # the app's box named beside the CLI's option (the message is shown on the Errors page too)
    said = r"both 'label'; name the label column too \(Label column in the app, --label-column on the command line\)"
    with pytest.raises(DatasetError, match=said):
        read_dataset(path, text_column="label")
    with pytest.raises(DatasetError, match=r"'text' is named as both the text and the label column; name two") as both:
        read_dataset(path, text_column="text", label_column="text")  # told to name the text column, already named
    assert "too" not in str(both.value)


def test_other_file_errors(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        read_dataset(tmp_path / "missing.csv")
    (tmp_path / "dangling.csv").symlink_to(tmp_path / "gone.csv")  # both were "no such file"
    with pytest.raises(DatasetError, match="dangling.csv: a link to a missing file"):
        read_dataset(tmp_path / "dangling.csv")
    os.mkfifo(tmp_path / "pipe.csv")  # never opened: reading a pipe would wait for a writer
    with pytest.raises(DatasetError, match=r"pipe.csv: not a regular file \(a pipe"):
        read_dataset(tmp_path / "pipe.csv")
    with pytest.raises(DatasetError, match="is a folder"):
        read_dataset(tmp_path)
    with pytest.raises(DatasetError, match="JSON array"):
        read_dataset(write(tmp_path, "a.json", '[{"text": "x", "label": 1}]'))
    with pytest.raises(DatasetError, match="repeated column names"):
        read_dataset(write(tmp_path, "r.csv", "text,text,label\na,b,1\n"))


# ---- streaming ------------------------------------------------------------------------------------------


def test_iter_rows_streams_and_reports_problems(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "SAMPLE_ROWS", 10)  # most rows come after the look-ahead
    lines = ["text,label"] + [f"row {i},{i % 2}" if i % 100 else "," for i in range(1, 1001)]
    path = write(tmp_path, "big.csv", "\n".join(lines) + "\n")
    with iter_rows(path, label_names=NAMES) as stream:
        assert stream.text_column == "text" and stream.label_names == NAMES  # known before any row is read
        rows = iter(stream)
        first = next(rows)
        assert (first.line, first.text, first.label, first.extra) == (2, "row 1", 1, {})
        assert stream.problems == []  # filled in as the reading gets there
        lines = [first.line] + [row.line for row in rows]
    assert len(lines) == 990 and stream.rows_read == 990 and lines[-1] == 1000
    assert [line for line, _ in stream.problems] == list(range(101, 1002, 100))
    with pytest.raises(RuntimeError, match="read once"):
        list(stream)


# ---- SST-2's format (GLUE's tab-separated files), then the real data when the machine has it --------------

# Sentences written for this test in GLUE SST-2's form: lower case, tokens spaced apart ("it 's", "-lrb-"), no
# quoting at all, a lone apostrophe or backquote where the treebank had quotes, ids 0/1 as labels.
SST2_FORM = (
    "sentence\tlabel\n"
    "it 's a charming and often affecting journey . \t1\n"
    "unflinchingly bleak and desperate \t0\n"
    "the film -lrb- a remake -rrb- does n't work , but it tries -- hard .\t0\n"
    "' a gentle , funny film ' , said no one ; # 2 on the list\t0\n"
    "`` wonderful '' is the word & it fits 100 % \t1\n"
)


def test_sst2s_format_reads_without_problems(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_text(SST2_FORM)
    dev = read_dataset(path, label_names=NAMES)
    assert len(dev) == 5 and dev.problems == () and dev.text_column == "sentence" and dev.labels_by_id
    assert list(dev.labels) == [1, 0, 0, 0, 1]
    # texts as written, trailing spaces kept: no quote character ends a field, and a '#' starts no comment
    assert list(dev.texts) == [line.split("\t")[0] for line in SST2_FORM.splitlines()[1:]]




@pytest.mark.skipif(not (SST2 / "dev.tsv").is_file(), reason="SST-2 is not in shared/data beside the checkout")
def test_sst2_reads_without_problems():
    dev = read_dataset(SST2 / "dev.tsv", label_names=NAMES)
    assert len(dev) == 872 and dev.problems == () and set(dev.labels) == {0, 1}
    assert dev.text_column == "sentence"
    if (SST2 / "train.tsv").is_file():
        train = read_dataset(SST2 / "train.tsv")
        assert len(train) == 67349 and train.problems == ()


def test_integer_labels_read_as_ids_into_more_names_are_said():
    from explainer.data.labelled import label_id_note

    three = ("negative", "neutral", "positive")
    binary = read_dataset(b"text,label\na fine film,1\na dull film,0\n", filename="ids.csv", label_names=three)
    note = label_id_note(binary)
    assert binary.labels_by_id and note is not None
    assert "0 as 'negative', 1 as 'neutral'" in note and "write the labels as names" in note
    named = read_dataset(b"text,label\na fine film,positive\na dull film,negative\n", filename="n.csv",
                         label_names=three)
    assert not named.labels_by_id and label_id_note(named) is None  # names: nothing to guess
    full = read_dataset(b"text,label\na,0\nb,1\nc,2\n", filename="all.csv", label_names=three)
    assert label_id_note(full) is None  # every id used: the file speaks the model's ids
    assert label_id_note(read_dataset(b"text,label\na,0\nb,1\n", filename="bare.csv")) is None  # no names given


def test_the_note_on_ids_lists_only_the_labels_read_as_ids():
    # "positive, 0, positive" for a 3-label model: the note said "0 as 'negative', 2 as 'positive'", though
    # 'positive' was written as a name
    from explainer.data.labelled import label_id_note

    three = ("negative", "neutral", "positive")
    mixed = read_dataset(b"text,label\na,positive\nb,0\nc,positive\n", filename="m.csv", label_names=three)
    note = label_id_note(mixed)
    assert mixed.labels == (2, 0, 2) and note is not None and "read as this model's: 0 as 'negative'." in note
    assert mixed.ids_read == (0,)


def test_integer_like_label_names_read_alike_in_every_format():
    """A model labelled "-1", "0", "1": a file's 0 and 1 are the names "0" and "1", whether CSV stores them as
    text or JSONL, Parquet or a pandas CSV (0.0 beside a blank) as numbers. Numbers once went the id path: the same
    table gave "0"/"1" from CSV and "-1"/"0" from Parquet."""
    import pandas as pd

    names = ("-1", "0", "1")
    frame = pd.DataFrame({"text": ["bad", "meh", "good", "fine"], "label": [0, 1, 1, 0]})
    parquet = io.BytesIO()
    frame.to_parquet(parquet)
    with_blank = pd.concat([frame, pd.DataFrame({"text": ["x"], "label": [None]})]).to_csv(index=False).encode()
    files = {"d.csv": frame.to_csv(index=False).encode(), "d.jsonl": frame.to_json(orient="records", lines=True)
             .encode(), "d.parquet": parquet.getvalue(), "f.csv": with_blank}
    for filename, content in files.items():
        data = read_dataset(content, filename=filename, label_names=names)
        assert [names[i] for i in data.labels] == ["0", "1", "1", "0"], filename


def test_boolean_labels_are_read_as_the_names_true_and_false():
    # JSON and Parquet booleans were refused with "unknown labels False, True; expected ['False', 'True']"
    import pyarrow as pa
    import pyarrow.parquet as pq

    jsonl = b'{"text": "a", "label": true}\n{"text": "b", "label": false}\n'
    parquet = io.BytesIO()
    pq.write_table(pa.table({"text": ["a", "b"], "label": [True, False]}), parquet)
    for filename, content in (("b.jsonl", jsonl), ("b.parquet", parquet.getvalue())):
        inferred = read_dataset(content, filename=filename)
        assert inferred.label_names == ("false", "true") and inferred.labels == (1, 0), filename
        assert read_dataset(content, filename=filename, label_names=("False", "True")).labels == (1, 0), filename
        with pytest.raises(DatasetError, match=r"unknown labels False, True; expected \['neg', 'pos'\]"):
            read_dataset(content, filename=filename, label_names=("neg", "pos"))


def test_inferred_label_names_are_one_per_label_whatever_their_case():
    data = read_dataset(b"text,label\na,Pos\nb,pos\nc,neg\nd,NEG\n", filename="d.csv")
    assert data.label_names == ("neg", "Pos")  # the first spelling of each, in the usual order
    assert list(data.labels) == [1, 1, 0, 0]


def test_a_file_whose_lines_end_in_a_lone_carriage_return_is_refused_with_a_reason():
    with pytest.raises(DatasetError, match="carriage return only"):
        read_dataset(b"text,label\rgood film,pos\rbad film,neg\r", filename="d.csv", label_names=("neg", "pos"))


def test_a_parquet_file_with_a_repeated_column_is_refused_as_a_csv_one_is():
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_arrays([pa.array(["a", "b"]), pa.array(["c", "d"]), pa.array([0, 1])],
                                 names=["text", "text", "label"])
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    with pytest.raises(DatasetError, match="repeated column names"):
        read_dataset(buffer.getvalue(), filename="d.parquet", label_names=("neg", "pos"))


def damaged_parquet(group: int) -> bytes:
    """200 rows in 4 row groups of 50, with row group `group`'s text page overwritten."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"text": [f"text number {i}" for i in range(200)], "label": [i % 2 for i in range(200)]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=50, compression="none")
    raw = bytearray(buffer.getvalue())
    start = pq.ParquetFile(io.BytesIO(bytes(raw))).metadata.row_group(group).column(0).data_page_offset
    raw[start:start + 64] = b"\xff" * 64
    return bytes(raw)


def test_a_damaged_parquet_row_group_counts_every_row_it_loses(monkeypatch):
    # the rows past the damage were one problem ("unreadable Parquet data from row 151 on"): the Errors page and the
    # command line, which count problems, said "1 row skipped" for 50 lost rows
    monkeypatch.setattr(datasets, "PARQUET_BATCH", 50)
    data = read_dataset(damaged_parquet(3), filename="damaged.parquet")  # the last row group
    assert len(data) == 150 and [line for line, _ in data.problems] == list(range(151, 201))
    assert "unreadable Parquet data: rows 151-200 (50 rows) cannot be read" in data.problems[0][1]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_header_of_more_columns_than_any_data_set_is_refused_before_rows_are_read(suffix):
    """200,000 columns of 40 rows (9.5 MB) held 600 MB: every sample row a dict of them all, every row's extras."""
    columns = ["text", "label", *(f"c{i}" for i in range(datasets.MAX_COLUMNS))]
    if suffix == "csv":
        raw = (",".join(columns) + "\n" + ",".join(["a fine film", "pos", *["x"] * (len(columns) - 2)]) + "\n").encode()
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(pa.table({c: ["a fine film" if c == "text" else "pos" if c == "label" else "x"]
                                 for c in columns}), buffer)
        raw = buffer.getvalue()
    with pytest.raises(DatasetError, match=f"wide.{suffix} has 10,002 columns; a labelled data set has a text and"):
        read_dataset(raw, filename=f"wide.{suffix}", label_names=("neg", "pos"))


def test_a_damaged_parquet_row_group_claiming_more_rows_than_any_file_holds_refuses_the_file(monkeypatch):
    """The count is the damaged file's claim: a 742-byte file claiming 2^62 rows listed a problem per row until memory
    ran out. Past MAX_UNREADABLE_ROWS in all the file is refused, the damage said; a genuine file's largest default
    row group (2^20 rows) is counted, not refused."""
    assert datasets.MAX_UNREADABLE_ROWS >= 2**20
    monkeypatch.setattr(datasets, "PARQUET_BATCH", 50)
    monkeypatch.setattr(datasets, "MAX_UNREADABLE_ROWS", 49)  # the 50 damaged rows claim more than this
    with pytest.raises(DatasetError, match=r"damaged\.parquet: unreadable Parquet data: rows 151-200 \(50 rows\)"):
        read_dataset(damaged_parquet(3), filename="damaged.parquet")


def test_a_damaged_parquet_row_group_costs_only_its_own_rows(monkeypatch):
    # the intact row groups after the damaged one were dropped with it (rows 51-200 lost for 50 damaged rows)
    monkeypatch.setattr(datasets, "PARQUET_BATCH", 20)
    data = read_dataset(damaged_parquet(1), filename="damaged.parquet")  # the second row group
    assert [line for line, _ in data.problems] == list(range(51, 101))
    assert data.texts == tuple(f"text number {i}" for i in (*range(50), *range(100, 200)))
    assert data.labels == tuple(i % 2 for i in (*range(50), *range(100, 200)))


@pytest.mark.parametrize("column", ["date", "timestamp", "duration"])
def test_a_parquet_value_python_cannot_hold_costs_its_row_not_the_file(column):
    """A date past year 9999 in an extra column no one reads raised OverflowError out of the reader: a traceback for
    the whole file. Its row is skipped with a reason that quotes no value."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    odd = {"date": pa.array([0, 2**31 - 1, 5], pa.int32()).cast(pa.date32()),
           "timestamp": pa.array([0, 2**62, 5], pa.int64()).cast(pa.timestamp("us")),
           "duration": pa.array([0, 2**62, 5], pa.duration("s"))}[column]
    buffer = io.BytesIO()
    pq.write_table(pa.table({"text": ["good", "bad", "fine"], "label": [1, 0, 1], "when": odd}), buffer)
    data = read_dataset(buffer.getvalue(), filename="d.parquet", label_names=("neg", "pos"))
    assert data.texts == ("good", "fine") and data.labels == (1, 1) and data.lines == (1, 3)
    ((line, reason),) = data.problems
    assert line == 2 and "a value Python cannot represent" in reason and str(2**62) not in reason


def test_a_parquet_string_that_is_not_utf8_is_said_so():
    import pyarrow as pa
    import pyarrow.parquet as pq

    note = pa.array([b"ok", b"\xff\xfe", b"x"], pa.binary()).view(pa.string())  # bytes no writer validated
    buffer = io.BytesIO()
    pq.write_table(pa.table({"text": ["good", "bad", "fine"], "label": [1, 0, 1], "note": note}), buffer)
    data = read_dataset(buffer.getvalue(), filename="d.parquet", label_names=("neg", "pos"))
    assert data.texts == ("good", "fine") and data.problems == ((2, "a string that is not valid UTF-8 "
                                                                     "(UnicodeDecodeError)"),)


def test_ids_of_a_model_whose_names_are_integers_shifted_are_read_as_ids_in_every_format():
    """Names "1".."5" (yelp_review_full's layout) and a file of ids 0-4: 0 is no name, so every integer is an id,
    as text (CSV) or as a number (JSONL); a per-value rule read 1 as the name "1" (id 0) and shifted the rest."""
    names = ("1", "2", "3", "4", "5")
    csv_file = b"text,label\na,0\nb,1\nc,2\nd,3\ne,4\n"
    jsonl = b"".join(json.dumps({"text": t, "label": i}).encode() + b"\n" for i, t in enumerate("abcde"))
    for filename, content in (("d.csv", csv_file), ("d.jsonl", jsonl)):
        assert list(read_dataset(content, filename=filename, label_names=names).labels) == [0, 1, 2, 3, 4], filename


def test_an_integer_past_the_sample_that_is_no_name_is_unknown_once_integers_are_names(monkeypatch):
    """The sample decides that integers are names ("1".."5"); a later 0 is no name. It was read as id 0, the name
    "1", so rows labelled 0 and 1 became one label without a word."""
    monkeypatch.setattr(datasets, "SAMPLE_ROWS", 3)
    names = ("1", "2", "3", "4", "5")
    with pytest.raises(DatasetError, match=r"line 6: unknown label '0'"):
        read_dataset(b"text,label\na,1\nb,2\nc,5\nd,3\ne,0\n", filename="stars.csv", label_names=names)
    jsonl = b"".join(json.dumps({"text": t, "label": n}).encode() + b"\n" for t, n in zip("abcde", (1, 2, 5, 3, 0)))
    with pytest.raises(DatasetError, match=r"line 5: unknown label 0;"):
        read_dataset(jsonl, filename="stars.jsonl", label_names=names)


def test_integers_after_a_sample_of_names_are_unknown_labels(tmp_path, monkeypatch):
    # Within the sample a mix of names and integers is refused; past it, a 0 was read as an id into the names the
    # sample gave ("negative") with no word.
    monkeypatch.setattr(datasets, "SAMPLE_ROWS", 3)
    path = write(tmp_path, "d.csv", "text,label\na,negative\nb,positive\nc,negative\nd,0\ne,1\n")
    with pytest.raises(DatasetError, match=r"line 5: unknown label '0'"):
        read_dataset(path)
    names = write(tmp_path, "n.csv", "text,label\na,negative\nb,positive\nc,negative\nd,Positive\n")
    assert read_dataset(names).labels == (0, 1, 0, 1)


def test_a_jsonl_line_nested_thousands_deep_is_a_skipped_row_not_a_crash(tmp_path):
    deep = "[" * 20_000 + "]" * 20_000  # past the parser's recursion limit, 40 kB
    path = write(tmp_path, "deep.jsonl", f'{{"text": "fine", "label": 0}}\n{deep}\n{{"text": "also", "label": 1}}\n')
    data = read_dataset(path)
    assert data.texts == ("fine", "also")
    assert data.problems == ((2, "invalid JSON: nested too deeply to read"),)


def test_a_semicolon_or_swapped_delimiter_is_read_from_its_header(tmp_path):
    """Excel writes ';' CSVs in many locales and tabs into a .csv on request; all read as 'one column, not
    shown: is this a labelled data set?'. A header of known names now names the delimiter."""
    semicolon = write(tmp_path, "semi.csv", 'text;label;tag\n"good; really";positive;a\nbad film;negative;b\n')
    data = read_dataset(semicolon, label_names=NAMES)
    assert data.texts == ("good; really", "bad film") and data.labels == (1, 0) and data.extra["tag"] == ("a", "b")
    tabs = write(tmp_path, "tabs.csv", 'sentence\tlabel\nsaid "fine"\t1\ndull\t0\n')
    assert read_dataset(tabs, label_names=NAMES).texts == ('said "fine"', "dull")
    # a .csv keeps CSV quoting whatever its delimiter, as pandas reads it: read unquoted (the TSV rule), its quoted
    # multi-line row was split and a fragment of it ("lines\"") scored as a row of its own
    quoted = write(tmp_path, "quoted.csv",
                   'text\tlabel\n"He said ""hi"""\tpositive\n"two\nlines"\tnegative\n"has\ttab"\tpositive\n')
    data = read_dataset(quoted, label_names=NAMES)
    expected = pd.read_csv(quoted, sep="\t")
    assert data.texts == tuple(expected["text"]) == ('He said "hi"', "two\nlines", "has\ttab") and not data.problems
    assert data.lines == (2, 3, 5)
    commas = write(tmp_path, "commas.tsv", "Review,Sentiment\nfine,positive\ndull,negative\n")
    assert read_dataset(commas, label_names=NAMES).labels == (1, 0)
    named = write(tmp_path, "named.csv", "body|stars\ngood|positive\nbad|negative\n")  # names the user gave
    assert read_dataset(named, text_column="body", label_column="stars", label_names=NAMES).texts == ("good", "bad")


def test_a_delimiter_is_never_guessed_from_unknown_names(tmp_path):
    # One column of text that happens to hold ';' stays one column: nothing known is split out of it.
    path = write(tmp_path, "notes.csv", "a;b;c\nx;y;z\n")
    with pytest.raises(DatasetError, match="one column, whose name"):
        read_dataset(path)
    with_text = write(tmp_path, "one.csv", "text\nwell; fine\n")  # a known single column keeps the comma rule
    with pytest.raises(DatasetError, match="no label column"):
        read_dataset(with_text)


def test_a_tsv_with_a_quoted_header_is_read_with_quoting(tmp_path):
    """R's write.table and pandas' QUOTE_ALL quote every field; read without quoting, the columns were
    '"text"' and '"label"' and the file was refused."""
    path = write(tmp_path, "r.tsv", '"text"\t"label"\n"a ""quoted"" word\tand a tab"\t"1"\n"dull"\t"0"\n')
    data = read_dataset(path, label_names=NAMES)
    assert data.texts == ('a "quoted" word\tand a tab', "dull") and data.labels == (1, 0)
    # An unquoted header keeps the SST-2 rule: a quote in a text is a character of it.
    plain = write(tmp_path, "p.tsv", 'text\tlabel\n"quoted" start\t1\n')
    assert read_dataset(plain, label_names=NAMES).texts == ('"quoted" start',)


def test_r_row_names_are_a_column_of_their_own(tmp_path):
    """R's write.table writes row names by default with no name in the header, so every row had one field more
    than the header and the whole file was refused ("expected 2 fields, found 3" on each line)."""
    comma = write(tmp_path, "r.csv", '"text","label"\n"1","a fine film","1"\n"2","dull, flat","0"\n')
    tab = write(tmp_path, "r.tsv", '"text"\t"label"\n"1"\t"a fine film"\t"1"\n"2"\t"dull"\t"0"\n')
    for path in (comma, tab):
        data = read_dataset(path, label_names=NAMES)
        assert data.texts[0] == "a fine film" and data.labels == (1, 0) and not data.problems
    named = write(tmp_path, "n.csv", "text,row_name\n1,a fine film,1\n2,dull,0\n3,short\n")  # the name is free
    data = read_dataset(named, label_column="row_name", text_column="text", label_names=NAMES)
    assert data.texts == ("a fine film", "dull") and data.problems == ((4, "expected 3 fields, found 2"),)
    # a label-first file whose first text holds a stray comma has one bad row, not row names (a review: the first
    # row alone decided, and the file was read as 3 columns, every other row bad)
    stray = write(tmp_path, "s.csv", "label,text\n1,great, fun movie\n0,dull\n1,fine\n")
    data = read_dataset(stray, label_names=NAMES)
    assert data.texts == ("dull", "fine") and data.problems == ((2, "expected 2 fields, found 3"),)
    # a bad row of R's file stays one bad row (a review: requiring both first rows whole read it as the header's
    # columns, "2" the text and "dull" a label)
    second_bad = write(tmp_path, "b.tsv", "text\tlabel\n1\ta fine film\t1\n2\tdull\n3\tok film\t1\n4\tbad\t0\n")
    data = read_dataset(second_bad, label_names=NAMES)
    assert data.texts == ("a fine film", "ok film", "bad") and data.problems == ((3, "expected 3 fields, found 2"),)
    # labels 1 and 2 with a stray comma in the first text: the next row has the header's fields, not R's (a review)
    stars = write(tmp_path, "y.csv", "label,text\n1,great, fun movie\n2,dull\n1,fine\n2,bad\n")
    data = read_dataset(stars, label_names=("one", "two", "three"))
    assert data.texts == ("dull", "fine", "bad") and data.problems == ((2, "expected 2 fields, found 3"),)
    one_row = write(tmp_path, "o.csv", '"text","label"\n"1","a fine film","1"\n')
    assert read_dataset(one_row, label_names=NAMES).texts == ("a fine film",)
    # a bad first row still names only its own lines
    quote = write(tmp_path, "q.csv", 'text,label\nfine,1\n"open,1\nx,0\n')
    assert read_dataset(quote, label_names=NAMES).problems[0][1].endswith("over lines 3-4: an unclosed quote?)")


def test_a_row_of_invisible_characters_only_is_skipped_as_empty(tmp_path):
    """A zero-width space passed `strip()`: the batched pass predicted it from [CLS] [SEP] alone, while the views
    refuse it (nothing the model can read), so the Errors page listed a row that no view could open."""
    path = tmp_path / "invisible.csv"
    path.write_text("text,label\n\u200b,1\n\ufeff \u200d\x01,0\ngood,1\ncafé\u200b,0\n", encoding="utf-8")
    data = read_dataset(path)
    assert data.texts == ("good", "café\u200b") and data.problems == (
        (2, "empty text (only invisible characters)"), (3, "empty text (only invisible characters)"),
    )


def test_a_row_of_marks_private_use_or_replacement_characters_only_is_skipped(tmp_path):
    """U+FFFD, private-use U+E000, accents with no letter and a variation selector: BERT's normaliser drops them,
    so the batched pass scored each row from [CLS] [SEP] alone (one probability for all four, counted in the
    accuracy), while trace() refused every one of them."""
    path = tmp_path / "unreadable.csv"
    rows = ["\ufffd", "\ue000\ue000", "\u0301\u0301", "\ufe0f", " \ufffd\u200b", "caf\u0301e", "\ufffd ok",
            "\U0001f600"]
    path.write_text("text,label\n" + "".join(f"{row},1\n" for row in rows), encoding="utf-8")
    data = read_dataset(path)
    assert data.texts == ("caf\u0301e", "\ufffd ok", "\U0001f600")
    assert [line for line, _ in data.problems] == [2, 3, 4, 5, 6]
    assert data.problems[0][1].startswith("no readable text (only combining marks, private-use or replacement")


def test_a_folder_given_as_a_file_is_refused_naming_no_command(tmp_path):
    """The library's reader serves train and the app too, which read no folder: the commands that read one say so
    themselves (cli.common.load_cli_data)."""
    with pytest.raises(DatasetError, match=r"is a folder: give the path of a CSV, TSV, JSONL or Parquet file$"):
        read_dataset(tmp_path)
