"""Read labelled text-classification data (CSV, TSV, JSONL, Parquet) for the Errors view, evaluation and training.

    data = read_dataset("dev.tsv", label_names=("negative", "positive"))   # -> LabelledData
    with iter_rows(upload_bytes, filename="mine.csv") as rows:             # streams, bounded memory
        for row in rows: ...                                                # Row(line, text, label, extra)
    rows.problems                                                           # [(line, reason), ...]

Policy: a row that cannot be used (wrong number of fields, invalid JSON, empty text, missing label) is
skipped and reported with its 1-based line number in `problems`, never dropped silently. A fault of the
whole file (not UTF-8, no text or label column, labels that match none of the expected names, no usable
row) raises DatasetError saying what was found. TSV is read without quoting (SST-2 style: a `"` is text).
"""

from __future__ import annotations

import codecs
import csv
import errno
import hashlib
import io
import itertools
import json
import math
import os
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import chain, islice
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import numpy as np
import pandas as pd

TEXT_COLUMNS = ("text", "sentence", "review", "content", "document", "comment", "utterance", "query")
LABEL_COLUMNS = ("label", "labels", "target", "class", "sentiment", "y", "gold")
FORMATS = ("csv", "tsv", "jsonl", "parquet")
EXTENSIONS = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
    ".parquet": "parquet", ".pq": "parquet",
}
PARQUET_BATCH = 4096  # rows per Parquet record batch read: bounds memory on large files
SAMPLE_ROWS = 1000  # records read ahead to detect columns and labels before the first row is yielded
MAX_BARE_ID = 10_000  # bare integer labels name ids 0..the largest: one stray 3000000 must not ask for 3M names
# Bump when the same bytes are read as other rows, texts or labels: every per-data-set cache keys on it
# (disk_cache.input_key), so results of the earlier reading miss (2: a tab-delimited .csv keeps CSV quoting).
READER_VERSION = 2
CHUNK = 1 << 20  # bytes per read in the hashing / UTF-8 pass
BOM = codecs.BOM_UTF8
_INT = re.compile(r"[+-]?\d+(\.0*)?")  # "1" and "1.0" (pandas writes integer labels as floats next to NaN)
# A missing label as text: pandas' astype(str) writes "nan" (and "None", "<NA>"), R writes "NA", Excel "#N/A".
# Read as missing (the row skipped and named) unless the model has a label of that name.
MISSING_WORDS = frozenset({"nan", "na", "n/a", "#n/a", "none", "null", "<na>"})
NEVER_NAMES = frozenset({"nan", "#n/a", "<na>"})  # missing words no one names a class (pandas, Excel)
# What a file that is not text starts with: named, since "not UTF-8: byte 0x8b" sends the user the wrong way.
_BINARY_KINDS = (
    (b"\x1f\x8b", "gzip-compressed: decompress it (gunzip) and load the file inside"),
    (b"BZh", "bzip2-compressed: decompress it (bunzip2) and load the file inside"),
    (b"\xfd7zXZ\x00", "xz-compressed: decompress it (unxz) and load the file inside"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed: decompress it (unzstd) and load the file inside"),
    (b"PK\x03\x04", "a zip archive (an Excel .xlsx is one): save or extract it as CSV, TSV, JSONL or Parquet"),
    (b"\xd0\xcf\x11\xe0", "an Office document (an Excel .xls): save it as CSV"),
    (b"PAR1", "a Parquet file: give it the .parquet extension"),
    (b"\x89PNG\r\n\x1a\n", "an image (PNG), not a labelled data set"),
    (b"\xff\xd8\xff", "an image (JPEG), not a labelled data set"),
    (b"GIF8", "an image (GIF), not a labelled data set"),
    (b"%PDF-", "a PDF document, not a labelled data set"),
    (b"SQLite format 3\x00", "an SQLite database, not a labelled data set"),
)

Source = str | os.PathLike | bytes | bytearray | memoryview | IO[bytes]
Record = tuple[int, dict[str, Any] | None, str | None]  # (first line, fields or None, problem)

# Long reviews and whole documents in one field exceed csv's default 128 KiB limit; C long caps it on Windows.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class DatasetError(ValueError):
    """The file as a whole cannot be used; the message says what was found and what was expected."""


@dataclass(frozen=True, slots=True)
class Row:
    line: int  # 1-based line where the record starts (the header is line 1)
    text: str
    label: int
    extra: dict[str, Any]  # the other columns: strings for CSV/TSV, JSON values for JSONL


@dataclass(frozen=True)
class LabelledData:
    texts: tuple[str, ...]
    labels: tuple[int, ...]  # ids into label_names
    label_names: tuple[str, ...]
    extra: dict[str, tuple[Any, ...]]  # column -> one value per row, e.g. "capability"
    problems: tuple[tuple[int, str], ...]  # (line, reason) of every skipped row
    source: str  # path or upload name, for messages
    content_hash: str  # sha256 of the raw bytes: a cache key that changes when the file does
    lines: tuple[int, ...] = ()  # source line of each row, so a view can point back into the file
    text_column: str = "text"
    label_column: str = "label"
    format: str = "csv"
    labels_by_id: bool = False  # some labels were integers read as ids into the model's label names
    ids_read: tuple[int, ...] = ()  # the ids those integers were read as (a name in the file is no id read)
    text_column_guessed: bool = False  # no column had a known text name: the one of longest strings was taken
    row_files: tuple[str, ...] = ()  # each row's file name, when the rows come from several files (results)
    cache_scope: str = ""  # what else keys its cache entries ("": nothing; a demo upload: its session's salt)

    def __len__(self) -> int:
        return len(self.texts)

    def located(self, error: Exception) -> str:
        """The error's message with the file line of the row it names (a token the model cannot embed: see
        capture.encoding.UnembeddableToken), when that row is this data's text at that index."""
        index, text = getattr(error, "text_index", None), getattr(error, "text", None)
        if index is None or not 0 <= index < min(len(self.lines), len(self.texts)) or self.texts[index] != text:
            return str(error)
        where = self.row_files[index] if index < len(self.row_files) else self.source  # lines count per file
        return f"Line {self.lines[index]:,} of {where}: {error}"

    def to_frame(self) -> pd.DataFrame:
        columns: dict[str, Any] = {"text": list(self.texts), "label": list(self.labels)}
        columns.update({name: list(values) for name, values in self.extra.items() if name not in columns})
        if "line" not in columns and self.lines:
            columns["line"] = list(self.lines)
        return pd.DataFrame(columns)


def file_rows(lines: Sequence[int], skipped_lines: Sequence[int]) -> np.ndarray:
    """[N] int64: each kept row's index among the file's data rows from 0, skipped rows counted, so that it
    indexes the file as a dataframe library reads it. Every record (kept or skipped) starts on its own line, so
    that index is the rank of the row's line among all records' lines (a quoted field may span lines)."""
    kept = np.asarray(lines, dtype=np.int64)
    every = np.unique(np.concatenate([kept, np.asarray(skipped_lines, dtype=np.int64)]))
    return np.searchsorted(every, kept).astype(np.int64)


# ---- bytes: where they come from, their hash, UTF-8 --------------------------------------------------------


class _Raw:
    """The input as bytes on demand: a path is re-opened per pass so memory stays bounded."""

    def __init__(self, source: Source, filename: str | None, quote: bool = True) -> None:
        self.quote = quote  # False: messages never quote the file's contents (a server file named by a visitor)
        self.path: Path | None = None
        self.data: bytes | None = None
        if isinstance(source, (str, os.PathLike)):
            self.path = Path(source)
            if self.path.is_dir():
                raise DatasetError(f"{self.path} is a folder: give the path of a CSV, TSV, JSONL or Parquet file")
            if not self.path.is_file():
                what = ("a link loop (a link that leads back to itself)" if _link_loop(self.path) else
                        "a link to a missing file" if self.path.is_symlink() and not self.path.exists() else
                        "not a regular file (a pipe, socket or device)" if self.path.exists() else "no such file")
                raise DatasetError(f"{self.path}: {what}")
            self.name = filename or str(self.path)  # a name given: what messages call it (demo mode's offered name)
        elif isinstance(source, (bytes, bytearray, memoryview)):
            self.data = bytes(source)
        elif hasattr(source, "read"):  # an open binary file or a Streamlit UploadedFile
            # getvalue() ignores the read position, which an earlier read (a preview) leaves at the end.
            self.data = source.getvalue() if hasattr(source, "getvalue") else source.read()
            filename = filename or getattr(source, "name", None)
        else:
            raise TypeError(f"read a path, bytes or a binary file, not {type(source).__name__}")
        if self.data is not None:
            self.name = filename or "<bytes>"
        self.suffix = (self.path.suffix if self.path is not None else Path(filename or self.name).suffix).lower()

    def open(self) -> IO[bytes]:
        return self.path.open("rb") if self.path is not None else io.BytesIO(self.data or b"")

    def scan(self, text: bool = True) -> str:
        """sha256 of the bytes, checking UTF-8 on the way (for a text format) so a bad byte fails before any row
        is used."""
        digest = hashlib.sha256()
        pending, pending_at, newlines = b"", 0, 0  # undecoded tail, its file offset, lines before it
        with self.open() as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                if not text:  # Parquet is binary: its strings are checked by the Parquet reader
                    continue
                data = pending + chunk
                nul = data.find(b"\x00")  # valid UTF-8, but no text file holds one
                try:
                    _, used = codecs.utf_8_decode(data, "strict", False)
                except UnicodeDecodeError as e:
                    if nul < 0 or e.start < nul:  # whichever comes first is said
                        self._not_utf8(data, e.start, pending_at, newlines)
                if nul >= 0:
                    self._nul(data, nul, pending_at, newlines)
                newlines += data.count(b"\n", 0, used)
                pending, pending_at = data[used:], pending_at + used
        if pending:  # the file ends inside a multi-byte character
            self._not_utf8(pending, 0, pending_at, newlines)
        return digest.hexdigest()

    def _nul(self, data: bytes, at: int, base: int, newlines: int) -> None:
        """DatasetError for a NUL byte: UTF-16 or UTF-32 without a byte-order mark (every other byte of ASCII text
        is NUL: read as UTF-8, its column names held NULs), or not a text file at all."""
        if base == 0 and (kind := binary_kind(data)) is not None:  # gzip's and zip's headers hold NULs
            raise DatasetError(f"{self.name} is {kind}")
        if base == 0:
            self._refuse_marked(data)
        head = data[:4096]
        half = len(head) // 2
        zeros = sorted((head[0::2].count(0), head[1::2].count(0)))  # ASCII as UTF-16: one byte of each pair is 0
        if base == 0 and half >= 4 and zeros[1] >= 0.75 * half and zeros[0] <= 0.6 * half:
            raise DatasetError(f"{self.name} looks like UTF-16 or UTF-32 text without a byte-order mark (its "
                               "letters padded with 0 bytes); save it as UTF-8 and load it again")
        line = newlines + data.count(b"\n", 0, at) + 1
        raise DatasetError(f"{self.name} holds a NUL byte at byte offset {base + at} (line {line}): a text data file "
                           "has none (a binary file, or text in another encoding?)")

    def _refuse_marked(self, head: bytes) -> None:
        """DatasetError for a file that starts with a UTF-32 or UTF-16 byte-order mark (Excel's "Unicode text" is
        UTF-16); UTF-32 is looked for first, as its little-endian mark starts with UTF-16's."""
        for marks, encoding in (((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE), "UTF-32"),
                                ((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE), "UTF-16")):
            if head.startswith(marks):
                raise DatasetError(f"{self.name} is {encoding} (it starts with a {encoding} byte-order mark); save "
                                   "it as UTF-8 and load it again")

    def _not_utf8(self, data: bytes, at: int, base: int, newlines: int) -> None:
        if base == 0 and at < 2:  # the bad byte is the file's first: a byte-order mark, maybe
            self._refuse_marked(data)
        kind = binary_kind(data) if base == 0 else None
        if kind is not None:
            raise DatasetError(f"{self.name} is {kind}")
        line = newlines + data.count(b"\n", 0, at) + 1
        raise DatasetError(
            f"{self.name} is not UTF-8: byte 0x{data[at]:02x} at byte offset {base + at} (line {line}) "
            "is not valid UTF-8; save the file as UTF-8 and load it again"
        )

    def lines(self, errors: str = "strict") -> Iterator[str]:
        """Decoded lines with their line endings (csv needs them for quoted newlines), BOM removed."""
        with self.open() as f:
            for number, raw in enumerate(f):
                while number == 0 and raw.startswith(BOM):  # twice when a BOM-writing tool saved it again
                    raw = raw[len(BOM):]
                yield raw.decode("utf-8", errors)  # scan() has checked the encoding already

    def first_line(self) -> str:
        # Lenient: the format is sniffed from it before scan() checks the encoding, which then names the bad byte.
        return next((line for line in self.lines(errors="replace") if line.strip()), "")


def _link_loop(path: Path) -> bool:
    """Whether `path` is a link that leads back to itself (the link to a missing file's twin)."""
    try:
        path.stat()
    except OSError as error:
        return error.errno == errno.ELOOP
    return False


def binary_kind(head: bytes) -> str | None:
    """What a file starting with `head` is, when it is a compressed file, an archive, Parquet, an image, a PDF or a
    database (None: other)."""
    return next((kind for magic, kind in _BINARY_KINDS if head.startswith(magic)), None)


def _detect_format(raw: _Raw, format: str | None) -> str:
    if format is not None:
        fmt = {"json": "jsonl", "ndjson": "jsonl"}.get(format.lower(), format.lower())
        if fmt not in FORMATS:
            raise DatasetError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
        return fmt
    if raw.suffix in EXTENSIONS:
        return EXTENSIONS[raw.suffix]
    # No telling extension (an upload named "data" or ".txt"): sniff the first non-blank line.
    first = raw.first_line().lstrip()
    if first.startswith(("{", "[{")) or first.rstrip() == "[":  # "[": a JSON array, which the JSONL reader names
        return "jsonl"
    return "tsv" if "\t" in first else "csv"


# ---- records: one dict per row, or the reason it has none ---------------------------------------------------


def _delimiter(raw: _Raw, fmt: str, names: Sequence[str]) -> str:
    """The extension's delimiter, unless its header is one unknown column that another delimiter splits into
    columns the reader knows: a semicolon CSV (Excel's in many locales), a tab-separated .csv, a comma .tsv. A
    known name is required so that a text holding a ';' is never split on a guess."""
    own = "\t" if fmt == "tsv" else ","
    known = {n.strip().casefold() for n in (*TEXT_COLUMNS, *LABEL_COLUMNS, *names)}
    first = raw.first_line()

    def split(delimiter: str) -> list[str]:
        try:
            return next(csv.reader([first], delimiter=delimiter), [])
        except csv.Error:  # a lone-CR file: the reader below names that
            return []

    header = split(own)
    if len(header) != 1 or header[0].strip().casefold() in known:
        return own
    for other in ("\t", ",", ";", "|"):
        fields = split(other) if other != own else []
        if len(fields) > 1 and any(f.strip().casefold() in known for f in fields):
            return other
    return own


def _quoted_header(first: str) -> bool:
    """A TSV whose every header name is in double quotes quotes its fields too (pandas with QUOTE_ALL, R's
    write.table with qmethod = "double"): read with quoting, as a CSV (inner quotes doubled), or `"label"` is a
    column name no one asked for and `"1"` a label."""
    names = first.rstrip("\r\n").split("\t")
    return len(names) > 1 and all(len(n) >= 2 and n.startswith('"') and n.endswith('"') for n in names)


def _delimited_records(raw: _Raw, fmt: str, names: Sequence[str] = ()) -> tuple[list[str], Iterator[Record]]:
    delimiter = _delimiter(raw, fmt, names)
    if delimiter == "\t" and fmt == "tsv" and not _quoted_header(raw.first_line()):
        # SST-2 and most TSV exports do not quote: a quote character is part of the text. A tab-delimited .csv keeps
        # CSV quoting, as pandas reads it (unquoted, its quoted multi-line rows were split into fragments read as rows)
        reader = csv.reader(raw.lines(), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(raw.lines(), delimiter=delimiter)
    header: list[str] | None = None
    try:
        for fields in reader:
            if fields and any(f.strip() for f in fields):
                header = fields
                break
    except csv.Error as error:  # lines read on LF only: a file whose lines end in a lone CR is one long "line"
        cr_only = "new-line character" in str(error)
        raise DatasetError(
            f"{raw.name}: its lines end in a carriage return only (old Mac style); save it with LF or CRLF line "
            "ends" if cr_only else f"{raw.name}: unreadable {fmt.upper()} header: {error}"
        ) from None
    if header is None:
        raise DatasetError(f"{raw.name} is empty: no header row")
    # Pandas writes its index as an unnamed first column; give every blank name a usable one.
    columns = [name.strip() or f"column_{i + 1}" for i, name in enumerate(header)]
    if len(set(columns)) != len(columns):
        shown = f" {columns}" if raw.quote else ""
        raise DatasetError(f"{raw.name}: repeated column names in the header{shown}")

    # (first line, last line, fields or None, problem): the lines kept per row, as two rows are read ahead
    Read = tuple[int, int, list[str] | None, str | None]

    def read() -> Iterator[Read]:
        while True:
            start = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                yield start, reader.line_num, None, _csv_problem(fmt, e)
                continue
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # a blank line holds no row
            yield start, reader.line_num, fields, None

    rows = read()
    pending = list(itertools.islice(rows, 3))  # the first rows say whether R wrote the file with row names
    if _r_row_names([fields for _, _, fields, _ in pending], len(columns)):
        columns = [_free_name("row_name", columns), *columns]

    def records() -> Iterator[Record]:
        for start, end, fields, problem in itertools.chain(pending, rows):
            if fields is None:
                yield start, None, problem
                continue
            if len(fields) != len(columns):
                reason = f"expected {len(columns)} fields, found {len(fields)}"
                if end > start:
                    reason += f" (record runs over lines {start}-{end}: an unclosed quote?)"
                yield start, None, reason
                continue
            yield start, dict(zip(columns, fields)), None

    return columns, records()


def _r_row_names(first_rows: Sequence[list[str] | None], named: int) -> bool:
    """Whether R's write.table (row.names = TRUE, its default) wrote the file: it names every column but the row
    names', which count from "1", so its rows have one field more than the header. Pandas reads any header one
    field short as naming all but an index; here the first row must be R's "1" and the next whole row R's "2" (or,
    that one being bad, the third R's "3": a bad row of R's file stays one bad row). A label-first file whose first
    text holds a stray delimiter ("1,great, fun movie" then "2,dull", labels 1 and 2) has one bad row, not a layout
    for the whole file."""
    def r_row(row: list[str] | None, number: int) -> bool:
        return row is not None and len(row) == named + 1 and row[0] == str(number)

    if not first_rows or not r_row(first_rows[0], 1):
        return False
    if len(first_rows) == 1 or r_row(first_rows[1], 2):
        return True
    return len(first_rows) > 2 and r_row(first_rows[2], 3)


def _free_name(name: str, taken: Sequence[str]) -> str:
    """`name`, or `name_2`, `name_3`, ...: the first not among `taken`."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    return candidate


def _csv_problem(fmt: str, error: csv.Error) -> str:
    if "new-line character" in str(error):  # csv's own text advises "universal-newline mode", no help to a user
        return "a carriage return inside an unquoted field: quote the field or remove the carriage return"
    return f"unreadable {fmt.upper()} record: {error}"


class _RepeatedKey(ValueError):
    pass


MAX_JSONL_EXTRA = 64  # extra columns kept from JSON objects, the most frequent keys of the sample
MAX_COLUMNS = 10_000  # a CSV, TSV or Parquet header of more is refused before any row is read


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's object_pairs_hook: an object naming a key twice is refused (json.loads would keep the last value, so
    a line with two labels would be read as one of them, silently; CSV and Parquet refuse repeated columns)."""
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()  # the first key named twice (one pass: rebuilding a dict per key was quadratic)
        raise _RepeatedKey(next(key for key, _ in pairs if key in seen or seen.add(key)))
    return value


def _jsonl_records(raw: _Raw) -> Iterator[Record]:
    for number, line in enumerate(raw.lines(), start=1):
        if not line.strip():
            continue
        try:  # with its newline, a line ending too soon erred at "column 1"
            value = json.loads(line.rstrip("\r\n"), object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as e:
            yield number, None, f"invalid JSON: {e.msg} (column {e.colno})"
            continue
        except RecursionError:  # [[[[...]]]] thousands deep: json's parser recurses once per level
            yield number, None, "invalid JSON: nested too deeply to read"
            continue
        except _RepeatedKey as e:
            named = f"the key {str(e)!r}" if raw.quote else "a key"  # a key is the file's content
            yield number, None, f"{named} appears twice in one object"
            continue
        except ValueError:  # an integer of over 4,300 digits: Python's int() refuses it
            yield number, None, "invalid JSON: a number too long to read"
            continue
        if not isinstance(value, dict):
            yield number, None, f"expected a JSON object, found {type(value).__name__}"
            continue
        yield number, value, None


def _check_json_objects(source: str, sample: list[Record], objects: list[dict[str, Any]], cr_only: bool = False
                        ) -> None:
    """DatasetError when no sampled line is a JSON object (an empty file, a pretty-printed JSON file, lines that
    end in a lone carriage return), which the column search would call "no label column found; columns found: []".
    """
    if len(sample) == 1 and len(objects) == 1 and objects[0] and all(
        isinstance(value, (list, dict)) for value in objects[0].values()
    ):  # {"text": [...], "label": [...]} or {"text": {"0": ...}}: read as one row, its labels "unknown"
        raise DatasetError(
            f"{source} is one JSON object of columns (as pandas' to_json writes by default); give one JSON object "
            "per row, one per line (JSONL: to_json(orient='records', lines=True))"
        )
    if objects:
        return
    if not sample:
        raise DatasetError(f"{source} is empty: no JSON lines")
    if cr_only:  # read on LF only, the whole file is one "line" of objects
        raise DatasetError(f"{source}: its lines end in a carriage return only (old Mac style); save it with LF or "
                           "CRLF line endings")
    line, _, why = sample[0]  # the reason names no content: json's message and a column, or a type name
    raise DatasetError(
        f"{source}: no line is a JSON object (line {line}: {why}); JSONL needs one whole object per line, "
        "so a pretty-printed JSON file spanning lines is not read"
    )


def _parquet_records(raw: _Raw) -> tuple[list[str], Iterator[Record]]:
    """A Parquet file's columns and its rows as records; a row's "line" is its 1-based row number (no header)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(raw.open())
    except (pa.ArrowException, OSError) as e:
        detail = f": {e}" if raw.quote else ""
        raise DatasetError(f"{raw.name} is not a readable Parquet file{detail}") from e
    columns = list(parquet.schema_arrow.names)
    if len(set(columns)) != len(columns):  # pyarrow allows it; which one a row read would be silently one of them
        shown = f" {columns}" if raw.quote else ""
        raise DatasetError(f"{raw.name}: repeated column names{shown}")

    def records() -> Iterator[Record]:
        number = 0  # rows before this row group
        lost = 0  # rows of damaged groups so far: the file's own claim, bounded over all its groups
        for group in range(parquet.num_row_groups):  # one group at a time: damage in one costs only its rows
            size = parquet.metadata.row_group(group).num_rows
            read = 0
            try:
                for batch in parquet.iter_batches(batch_size=PARQUET_BATCH, row_groups=[group]):
                    for value, problem in _batch_rows(batch):
                        read += 1
                        yield number + read, value, problem
            except (pa.ArrowException, OSError) as e:  # damaged data: the group's rows before it were read
                first, last = number + read + 1, number + max(size, read + 1)
                lost += last - first + 1
                yield from _unreadable_rows(first, last, type(e).__name__, raw.name, refuse=lost > MAX_UNREADABLE_ROWS)
            number += max(size, read)

    return columns, records()


def _batch_rows(batch) -> Iterator[tuple[dict | None, str | None]]:
    """(row, None) for each row of a Parquet record batch, or (None, why) for a row holding a value Python cannot
    hold (a date past year 9999, a huge duration): one such cell, even in a column no one reads, raised
    OverflowError for the whole file, a traceback."""
    try:
        rows = batch.to_pylist()
    except (OverflowError, ValueError):  # row by row, to lose only the rows that hold one
        for index in range(batch.num_rows):
            try:
                (row,) = batch.slice(index, 1).to_pylist()
            except UnicodeDecodeError:  # a ValueError too: a string column holding bytes that are not UTF-8
                yield None, "a string that is not valid UTF-8 (UnicodeDecodeError)"
            except (OverflowError, ValueError) as error:  # its words quote the value: the type alone is said
                yield None, (f"a value Python cannot represent ({type(error).__name__}: a date, time or number out "
                             "of range)")
            else:
                yield row, None
        return
    for row in rows:
        yield row, None


# Damaged rows a file may claim in all before it is refused, not counted row by row: four of pyarrow's largest
# default row groups (2^20 rows each), ~0.4 GB of problems at most
MAX_UNREADABLE_ROWS = 4 * 2**20


def _unreadable_rows(
    first: int, last: int, error: str, source: str = "the file", refuse: bool = False
) -> Iterator[Record]:
    """One problem per row the damage cost (the file's metadata says how many it holds), so that every count of
    skipped rows (the Errors page, the command line, a results folder's row check) counts them all. The count is
    the damaged file's own claim: with `refuse` (its damaged groups claim more than MAX_UNREADABLE_ROWS in all) the
    file is refused (a 742-byte file claiming 2^62 rows grew the list of problems until memory ran out)."""
    rows = f"rows {first}-{last} ({last - first + 1:,} rows)" if last > first else f"row {first}"
    if refuse:
        raise DatasetError(f"{source}: unreadable Parquet data: {rows} cannot be read ({error}); the file is damaged")
    reason = f"unreadable Parquet data: {rows} cannot be read ({error}); the file is damaged"
    for row in range(first, last + 1):
        yield row, None, reason


# ---- columns and labels -------------------------------------------------------------------------------------


def _pick_column(
    columns: Sequence[str], wanted: str | None, known: Sequence[str], kind: str, source: str, quote: bool = True
) -> str:
    if wanted is not None:
        if wanted in columns:
            return wanted
        folded = [c for c in columns if c.casefold() == wanted.casefold()]
        if folded:
            return folded[0]
        found = f"; columns found: {_columns_found(columns)}" if quote else ""
        # what to do, where the columns cannot be named (a demo's data set: no file content in messages)
        raise DatasetError(f"{source}: no {kind} column {wanted!r}{found}; leave the {kind} column unset to find it "
                           "by its name")
    for name in known:  # "text,label,Label": the exact name, else the first whose case differs, never the last
        exact = [c for c in columns if c.strip() == name]
        folded = [c for c in columns if c.strip().casefold() == name]
        if exact or folded:
            return (exact or folded)[0]
    return ""


INVISIBLE = ("Cc", "Cf")  # control and format characters


def _invisible(text: str) -> bool:
    """Only spaces, control and format characters (a zero-width space, a BOM): a row that shows nothing. Most
    tokenizers read nothing in it, so trace() refuses it, while the batched pass scored [CLS] [SEP] alone."""
    return all(c.isspace() or unicodedata.category(c) in INVISIBLE for c in text)  # stops at the first shown


UNREADABLE = ("Co", "Cn", "Mn", "Me")  # private use, unassigned, combining marks (a surrogate: _encodable)


def _unreadable(text: str) -> bool:
    """Nothing shown but private-use or unassigned characters, combining marks without a letter to sit on, the
    replacement character U+FFFD (a byte that failed to decode) and invisible ones: BERT's normaliser drops them
    all, so the batched pass scored [CLS] [SEP] alone, as for an invisible row, where trace() refuses the text."""
    return all(c.isspace() or c == "\ufffd" or unicodedata.category(c) in (*INVISIBLE, *UNREADABLE) for c in text)


def _encodable(text: str) -> bool:
    """Whether `text` can be written as UTF-8: JSON's "\\ud800" escapes give unpaired surrogates, which no
    tokenizer takes."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_number(value: Any) -> bool:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return True
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


def _guess_text_column(columns: Sequence[str], sample: list[dict[str, Any]], exclude: str) -> str:
    """The column of strings (not numbers) with the longest mean length in the sample, or ""."""
    best, best_length = "", 0.0
    by_column: dict[str, list[Any]] = {column: [] for column in columns}
    for row in sample:  # one pass over the rows: a scan per column cost JSONL keys x rows (1 MB of keys each on
        for column, value in row.items():  # one line: 10 s)
            if value not in (None, "") and column in by_column:
                by_column[column].append(value)
    for column in columns:
        values = by_column[column]
        if column == exclude or not values:
            continue
        if not all(isinstance(v, str) for v in values) or sum(map(_is_number, values)) * 2 >= len(values):
            continue
        length = sum(map(len, values)) / len(values)
        if length > best_length:
            best, best_length = column, length
    return best


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, float) and math.isnan(value)
    )


def _missing_word(value: Any) -> bool:
    return isinstance(value, str) and value.strip().casefold() in MISSING_WORDS


def _as_label(value: Any) -> Any:
    """A JSON or Parquet boolean as the label name it spells ("true", "false"; names match case-insensitively)."""
    return ("true" if value else "false") if isinstance(value, bool) else value


def whole_number(value: Any) -> int | None:
    """`value` as a whole number (an int, a float or Decimal with no fraction, a string of digits such as "3" or
    "3.0"), else None: how label ids are read, and a slice definition's token limits."""
    if isinstance(value, bool):
        return None  # true/false is no class id (labels read it as a name first: _as_label)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, Decimal):  # Parquet's decimal type (Spark and database exports)
        return int(value) if value.is_finite() and value == value.to_integral_value() else None
    if isinstance(value, str) and len(value) < 4000 and _INT.fullmatch(value.strip()):  # int() reads 4,300 digits
        return int(value.strip().split(".")[0])  # not through float: a 309-digit id overflowed it
    return None


class _Labels:
    """Maps raw label values to ids: names (case-insensitive) first, then integer ids in range."""

    def __init__(self, names: Sequence[str] | None, sample: list[Any], source: str, quote: bool = True,
                 lines: Sequence[int] = ()) -> None:
        """`lines`: the line of each sample value, to say where the first refused one is."""
        sample = [_as_label(v) for v in sample]
        self.inferred_ints = False
        self.inferred_names = False  # the sample held names only: the file's labels are names
        self.by_id = False  # an integer was read as an id into the given names
        self.ids_read: set[int] = set()  # which ids, for the note on them (label_id_note)
        # inf, 0.5, a list, an object: made names by str(), they were then not found by name ("unknown labels inf;
        # expected ['inf']"), and with names given "unknown labels [0], [1]" (a Parquet list column)
        is_odd = [not _is_missing(v) and whole_number(v) is None and not isinstance(v, str) for v in sample]
        odd = [v for v, refused in zip(sample, is_odd, strict=True) if refused]
        if odd:
            what = _show(odd, quote=quote) if quote else f"{len(_distinct(odd))} other kind(s) of value"
            where = f"; the first is on line {lines[is_odd.index(True)]}" if len(lines) == len(sample) else ""
            raise DatasetError(f"{source}: labels must be names (text) or integer ids, not {what}{where}")
        if names is None:
            # "nan" (pandas' astype(str)), "NA" (R): a missing label among ids. Among names only the words no one
            # names a class ("nan", "<NA>", "#N/A"), as past the sample: "none" and "NA" can be classes (an intent
            # set's "none"), so where a row stands in the file does not decide whether its "nan" is a class
            found = [v for v in sample if not _is_missing(v) and not (isinstance(v, str) and v.strip().casefold()
                                                                       in NEVER_NAMES)]
            if any(whole_number(v) is not None for v in found):  # ids with "NA" among them: a missing label
                found = [v for v in found if not _missing_word(v)]
            ints = [v for v in found if whole_number(v) is not None]
            if len(ints) == len(found):  # ids only: keep them, names become "0", "1", ...
                self.inferred_ints, names = True, ()
            elif not ints:  # names only: sorted, so "negative" < "positive" gives the usual 0/1
                spelled: dict[str, str] = {}  # names match case-insensitively: "Pos" and "pos" are one label
                for value in found:
                    spelled.setdefault(str(value).strip().casefold(), str(value).strip())
                names = sorted(spelled.values(), key=str.casefold)
                self.inferred_names = True
            else:
                raise DatasetError(
                    f"{source}: labels mix ids and names ({_show(found, quote=quote)}); "
                    "pass label_names to say which is which"
                )
        self.names = tuple(names)
        self._ids = {name.strip().casefold(): i for i, name in enumerate(self.names)}
        self.max_id = len(self.names) - 1
        # Integer-like names ("-1", "0", "1"): the file's integers are those names when every integer in the sample
        # is one, whether stored as text (CSV) or as numbers (JSONL, Parquet); otherwise every integer is an id
        # (0-4 for names "1".."5"). Decided once per file, so one table gives one set of labels in any format.
        numbers = [n for n in map(whole_number, (v for v in sample if not _is_missing(v))) if n is not None]
        self.ints_are_names = bool(numbers) and all(str(n) in self._ids for n in numbers)

    def __call__(self, value: Any) -> int | None:
        value = _as_label(value)
        number = whole_number(value)
        if number is not None and self.ints_are_names:  # past the sample too: an integer that is no name is unknown,
            return self._ids.get(str(number))  # not an id (0 read as the name "1" after 1..5 were read as names)
        if number is not None and self.inferred_names:  # a sample of names only: a later 0 is no id into them (in
            return self._ids.get(str(value).strip().casefold())  # the sample, the mix was refused)
        if number is None and isinstance(value, str) and value.strip().casefold() in self._ids:
            return self._ids[value.strip().casefold()]
        if number is None or number < 0 or (not self.inferred_ints and number >= len(self.names)):
            return None
        if self.inferred_ints and number > MAX_BARE_ID:
            return None
        self.max_id = max(self.max_id, number)
        if not self.inferred_ints:
            self.by_id = True
            self.ids_read.add(number)
        return number

    def missing(self, value: Any) -> bool:
        """A missing label: an empty cell, None, NaN, or a word for missing ("nan", "NA") that names no label."""
        if _is_missing(value):
            return True
        return _missing_word(value) and value.strip().casefold() not in self._ids

    def expected(self) -> str:
        return f"integer ids 0, 1, ... up to {MAX_BARE_ID}" if self.inferred_ints else str(list(self.names))

    def final_names(self) -> tuple[str, ...]:
        return tuple(str(i) for i in range(self.max_id + 1)) if self.inferred_ints else self.names


def _columns_found(columns: Sequence[str], limit: int = 12, width: int = 40) -> str:
    """The columns of a file for an error message, bounded. A single column that names nothing known is a file
    that is not a data set (/etc/passwd, a .env, a log): its one "column" is its whole first line, which can hold a
    secret, so it is not shown even to the owner (their terminal or CI log may be read by others)."""
    if len(columns) == 1 and columns[0].strip().casefold() not in (*TEXT_COLUMNS, *LABEL_COLUMNS):
        return "one column, whose name (the file's first line) is not shown: is this a labelled data set?"
    shown = [repr(c if len(c) <= width else c[: width - 1] + "…") for c in columns[:limit]]
    more = f", ... ({len(columns) - limit} more)" if len(columns) > limit else ""
    return "[" + ", ".join(shown) + more + "]"


def _distinct(values: Sequence[Any]) -> list[str]:
    return sorted({repr(v.strip() if isinstance(v, str) else v) for v in values})


def _show(values: Sequence[Any], limit: int = 20, quote: bool = True) -> str:
    distinct = _distinct(values)
    if not quote:  # a server file named by a visitor: say how many, never what
        return f"{len(distinct)} distinct value{'s' if len(distinct) != 1 else ''}"
    more = f", ... ({len(distinct) - limit} more)" if len(distinct) > limit else ""
    return ", ".join(distinct[:limit]) + more


# ---- the stream --------------------------------------------------------------------------------------------


class RowStream:
    """The good rows of one file, in order, read once. Columns and labels are known on construction
    (from the first SAMPLE_ROWS records); `problems` fills in as rows are read."""

    def __init__(
        self,
        source: Source,
        *,
        text_column: str | None = None,
        label_column: str | None = None,
        format: str | None = None,
        label_names: Sequence[str] | None = None,
        filename: str | None = None,
        quote_contents: bool = True,
        allow_empty: bool = False,
    ) -> None:
        raw = _Raw(source, filename, quote_contents)
        self._quote = quote_contents
        self._allow_empty = allow_empty
        self.source = raw.name
        self.format = _detect_format(raw, format)
        self.content_hash = raw.scan(text=self.format != "parquet")
        if self.format == "parquet":
            columns, records = _parquet_records(raw)
        elif self.format == "jsonl":
            first = raw.first_line()
            if first.lstrip().startswith("["):
                raise DatasetError(f"{self.source} holds a JSON array; give one JSON object per line (JSONL)")
            columns: list[str] = []
            records = _jsonl_records(raw)
        else:
            given = [c for c in (text_column, label_column) if c]
            columns, records = _delimited_records(raw, self.format, given)
        if len(columns) > MAX_COLUMNS:  # before the sample: 200,000 columns of 40 rows (9.5 MB) held 600 MB
            raise DatasetError(f"{self.source} has {len(columns):,} columns; a labelled data set has a text and a "
                               f"label column and at most {MAX_COLUMNS:,} in all")
        sample = list(islice(records, SAMPLE_ROWS))
        fields = [r for _, r, _ in sample if r is not None]
        if self.format == "jsonl":  # JSON objects need not share keys: take every key the sample shows
            _check_json_objects(self.source, sample, fields, cr_only="\r" in first.rstrip("\r\n"))
            columns = list(dict.fromkeys(key for r in fields for key in r))
        self.columns = tuple(columns)

        quote = self._quote
        # Without quoting, a file that is not a data set (a password file, a config) is called just that.
        found = f"; columns found: {_columns_found(columns)}" if quote else ""  # not a one-line secret either
        not_data = "" if quote else " is not a labelled data set"
        self.label_column = _pick_column(columns, label_column, LABEL_COLUMNS, "label", self.source, quote)
        if not self.label_column:
            raise DatasetError(
                f"{self.source}{not_data}: no label column found (looked for {', '.join(LABEL_COLUMNS)}){found}"
            )
        self.text_column = _pick_column(columns, text_column, TEXT_COLUMNS, "text", self.source, quote)
        self.text_column_guessed = not self.text_column
        self.text_column = self.text_column or _guess_text_column(columns, fields, self.label_column)
        if self.text_column and self.text_column == self.label_column:
            if text_column is not None and label_column is not None:  # the user named one column for both
                raise DatasetError(f"{self.source}: {self.label_column!r} is named as both the text and the label "
                                   "column; name two different columns")
            other = "label" if text_column is not None and label_column is None else "text"
            raise DatasetError(
                f"{self.source}: the text and the label column are both {self.label_column!r}; name the {other} "
                f"column too ({other.capitalize()} column in the app, --{other}-column on the command line)"
            )
        if not self.text_column:
            raise DatasetError(
                f"{self.source}{not_data}: no text column found (looked for {', '.join(TEXT_COLUMNS)} or a column "
                f"of words){found}"
            )
        extra_columns = [c for c in columns if c not in (self.text_column, self.label_column)]
        if self.format == "jsonl" and len(extra_columns) > MAX_JSONL_EXTRA:  # with a key of its own on every line,
            # rows x keys grew quadratically (0.9 MB took minutes); kept: the keys most lines have (a tag on 30%)
            seen = Counter(key for r in fields for key in r)
            kept = set(sorted(extra_columns, key=lambda c: -seen[c])[:MAX_JSONL_EXTRA])  # stable: first seen first
            extra_columns = [c for c in extra_columns if c in kept]
        self.extra_columns = tuple(extra_columns)

        raw_labels = [r.get(self.label_column) for r in fields]
        self._labels = _Labels(label_names, raw_labels, self.source, quote,
                               lines=[line for line, r, _ in sample if r is not None])
        unknown = [v for v in raw_labels if not self._labels.missing(v) and self._labels(v) is None]
        if unknown:  # checked before any row is yielded, so a wrong label set fails fast with all of them
            found = _show([v for v in raw_labels if not self._labels.missing(v)], quote=quote)
            also = f" (labels found: {found})" if quote and found != _show(unknown) else ""  # when some are known
            expected = self._labels.expected()
            count = len(_distinct(unknown))
            shown = (f"unknown labels {_show(unknown)}" if quote else  # never what, only how many
                     f"{count} unknown label value{'s' if count != 1 else ''} (a file read on the server: not "
                     "quoted)")
            first = next(line for line, r, _ in sample if r is not None and r.get(self.label_column) is unknown[0])
            raise DatasetError(f"{self.source}: {shown}; expected {expected}{also}; the first is on line {first}")
        self.problems: list[tuple[int, str]] = []
        self.rows_read = 0
        self._records: Iterator[Record] | None = chain(sample, records)

    @property
    def label_names(self) -> tuple[str, ...]:
        """The names of the label ids; for bare integer ids, "0".."max id seen so far"."""
        return self._labels.final_names()

    @property
    def labels_by_id(self) -> bool:
        """Whether integer labels were read as ids into the given label names (so far)."""
        return self._labels.by_id

    @property
    def label_ids_read(self) -> tuple[int, ...]:
        """The ids integer labels were read as (so far), in order."""
        return tuple(sorted(self._labels.ids_read))

    def __iter__(self) -> Iterator[Row]:
        if self._records is None:
            raise RuntimeError("a RowStream can be read once; call iter_rows again")
        records, self._records = self._records, None
        return self._rows(records)

    def _rows(self, records: Iterator[Record]) -> Iterator[Row]:
        for line, fields, problem in records:
            if fields is None:
                self.problems.append((line, problem or "unreadable row"))
                continue
            text, label = fields.get(self.text_column), fields.get(self.label_column)
            if self.text_column not in fields:
                self.problems.append((line, f"no {self.text_column!r} field"))
            elif text is None:  # a Parquet null or JSON null: as a CSV's empty cell is said
                self.problems.append((line, "missing text (null)"))
            elif not isinstance(text, str):
                self.problems.append((line, f"text is {type(text).__name__}, not a string"))
            elif not text.strip():
                self.problems.append((line, "empty text"))
            elif _invisible(text):
                self.problems.append((line, "empty text (only invisible characters)"))
            elif _unreadable(text):
                self.problems.append((line, "no readable text (only combining marks, private-use or replacement "
                                            "characters)"))
            elif not _encodable(text):
                self.problems.append((line, "text is not valid Unicode (an unpaired surrogate)"))
            elif self._labels.missing(label):
                self.problems.append((line, "missing label" + ("" if _is_missing(label) else f" ({label.strip()})")))
            elif (label_id := self._labels(label)) is None:
                raise DatasetError(
                    f"{self.source}: line {line}: unknown label{' ' + _show([label]) if self._quote else ''}; "
                    f"expected {self._labels.expected()}"
                )
            else:
                self.rows_read += 1
                yield Row(line, text, label_id, {c: fields.get(c) for c in self.extra_columns})
        if not self.rows_read and not self._allow_empty:
            shown = "; ".join(f"line {n}: {why}" for n, why in self.problems[:5])
            raise DatasetError(f"{self.source}: no usable rows" + (f" ({shown})" if shown else ""))

    def close(self) -> None:
        self._records = None  # drops the generators, which closes the open file

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def iter_rows(
    source: Source,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    format: str | None = None,
    label_names: Sequence[str] | None = None,
    filename: str | None = None,
    quote_contents: bool = True,
    allow_empty: bool = False,
) -> RowStream:
    """Stream the rows of a CSV/TSV/JSONL file, a path or bytes (`filename` names an upload for sniffing; for a
    path, the name messages give it instead of the path).
    `quote_contents=False` keeps the file's contents (columns, label values) out of every error message: for a
    server file a visitor named, whose contents they may not read.
    `allow_empty=True`: a file whose rows are all skipped (or that has only a header) streams nothing instead of
    failing at its end: one shard of many may be empty; the job checks that the set has rows."""
    return RowStream(
        source, text_column=text_column, label_column=label_column, format=format,
        label_names=label_names, filename=filename, quote_contents=quote_contents, allow_empty=allow_empty,
    )


def read_dataset(
    source: Source,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    format: str | None = None,
    label_names: Sequence[str] | None = None,
    filename: str | None = None,
    quote_contents: bool = True,
) -> LabelledData:
    """Read a whole labelled file into memory; skipped rows are listed in `.problems` (see iter_rows for
    `quote_contents`). A file that was there when checked and then cannot be read (deleted meanwhile, a device
    such as /proc/self/mem) or changes while it is read is a DatasetError: it escaped the app as a traceback."""
    try:
        return _read_whole(source, text_column=text_column, label_column=label_column, format=format,
                           label_names=label_names, filename=filename, quote_contents=quote_contents)
    except (OSError, UnicodeDecodeError) as error:
        name = filename or (str(source) if isinstance(source, (str, os.PathLike)) else "the file")
        if isinstance(error, UnicodeDecodeError):  # its bytes were checked as UTF-8 first: they changed since
            raise DatasetError(f"{name} changed while it was read; open it again") from None
        raise DatasetError(f"{name}: cannot be read ({error.strerror or type(error).__name__})") from None


def _read_whole(
    source: Source,
    *,
    text_column: str | None,
    label_column: str | None,
    format: str | None,
    label_names: Sequence[str] | None,
    filename: str | None,
    quote_contents: bool,
) -> LabelledData:
    stream = iter_rows(
        source, text_column=text_column, label_column=label_column, format=format,
        label_names=label_names, filename=filename, quote_contents=quote_contents,
    )
    texts: list[str] = []
    labels: list[int] = []
    lines: list[int] = []
    extra: dict[str, list[Any]] = {c: [] for c in stream.extra_columns}
    with stream:
        for row in stream:
            texts.append(row.text)
            labels.append(row.label)
            lines.append(row.line)
            for column, values in extra.items():
                values.append(row.extra[column])
    return LabelledData(
        texts=tuple(texts), labels=tuple(labels), label_names=stream.label_names,
        extra={c: tuple(v) for c, v in extra.items()}, problems=tuple(stream.problems),
        source=stream.source, content_hash=stream.content_hash, lines=tuple(lines),
        text_column=stream.text_column, label_column=stream.label_column, format=stream.format,
        labels_by_id=stream.labels_by_id, ids_read=stream.label_ids_read,
        text_column_guessed=stream.text_column_guessed,
    )


def text_column_note(data: LabelledData) -> str | None:
    """When no column had a known text name and the text was read from a guessed one, which: a file whose
    texts sit in "body" beside a longer "title" would otherwise be analysed on its titles without a word."""
    if not data.text_column_guessed:
        return None
    return (
        f"No column is named {', '.join(TEXT_COLUMNS)}: the texts were read from column {data.text_column!r}, "
        "the one whose values are the longest strings. If the texts are in another column, name it (Text column "
        "here, --text-column on the command line)."
    )


def data_notes(data: LabelledData) -> tuple[str, ...]:
    """Every note on how a file was read that a page or command shows beside its numbers."""
    return tuple(note for note in (text_column_note(data), label_id_note(data)) if note)


def label_id_note(data: LabelledData) -> str | None:
    """When integer labels were read as ids into more label names than the file uses (a 0/1 file and a model
    with negative, neutral, positive), what each id was read as: 1 is then 'neutral', which the file may not
    mean."""
    used = sorted(set(data.labels))
    if not data.labels_by_id or len(used) >= len(data.label_names):
        return None
    # Only the ids integers were read as: in "positive, 0" the name is no id. A results folder keeps only
    # labels_by_id, so there every label used is listed.
    read = ", ".join(f"{i} as {data.label_names[i]!r}" for i in data.ids_read or used)
    return (
        f"The data's integer labels are ids, read as this model's: {read}. The model has {len(data.label_names)} "
        f"labels ({', '.join(data.label_names)}) and the data uses {len(used)}; if its ids mean other labels, write "
        "the labels as names."  # "the data": a results folder's rows come from a folder or glob of files
    )
