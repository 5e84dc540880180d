"""Rows of the input files as Arrow blocks: the same reader (explainer.data.labelled) for both engines, so
columns, label matching and skipped rows are the same; Ray Data reads them through `LabelledFiles`."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from explainer.data.labelled import RowStream, iter_rows

BLOCK_ROWS = 1024  # rows per block read: a unit of work for an actor and a bound on a read task's memory

INPUT_SCHEMA = pa.schema(
    [
        ("file", pa.int32()),  # index into the job's files
        ("row", pa.int64()),  # the row's number among the file's used rows, from 0; -1 for a skipped row
        ("line", pa.int64()),  # where the record starts in the file (1-based; Parquet: the row number)
        ("text", pa.string()),
        ("label", pa.int64()),  # id into the model's labels; -1 for a skipped row
        ("extra", pa.string()),  # the other columns as a JSON object
        ("problem", pa.string()),  # why a row was skipped; null for a used row
    ]
)


@dataclass(frozen=True)
class ReaderOptions:
    label_names: tuple[str, ...]
    text_column: str | None = None
    label_column: str | None = None
    quote_contents: bool = True
    block_rows: int = BLOCK_ROWS  # rows per block
    allow_empty: bool = False  # a file with no usable rows (or no bytes) gives no blocks: one shard of many


def _table(columns: dict[str, list[Any]]) -> pa.Table:
    return pa.Table.from_pydict(columns, schema=INPUT_SCHEMA)


def _empty() -> dict[str, list[Any]]:
    return {name: [] for name in INPUT_SCHEMA.names}


def _rows(path: Path, options: ReaderOptions) -> RowStream:  # the reader with the job's columns and labels
    return iter_rows(
        path,
        text_column=options.text_column,
        label_column=options.label_column,
        label_names=options.label_names,
        quote_contents=options.quote_contents,
        allow_empty=options.allow_empty,
    )


def read_blocks(file_index: int, path: Path, options: ReaderOptions) -> Iterator[pa.Table]:
    """The file's rows (used and skipped, in file order) as blocks of at most `options.block_rows` rows."""
    if options.allow_empty and path.stat().st_size == 0:
        return
    stream = _rows(path, options)
    block = _empty()
    reported = 0

    def add(row: int, line: int, text: str, label: int, extra: str | None, problem: str | None) -> None:
        for name, value in zip(INPUT_SCHEMA.names, (file_index, row, line, text, label, extra, problem), strict=True):
            block[name].append(value)

    def add_skipped() -> None:  # the rows skipped since the last call, in file order
        nonlocal reported
        for line, reason in stream.problems[reported:]:
            add(-1, line, "", -1, None, reason)
        reported = len(stream.problems)

    with stream:
        for number, row in enumerate(stream):
            add_skipped()
            add(number, row.line, row.text, row.label, json.dumps(row.extra, default=str), None)
            if len(block["row"]) >= options.block_rows:
                yield _table(block)
                block = _empty()
        add_skipped()
    if block["row"]:
        yield _table(block)


def count_rows(path: Path, options: ReaderOptions) -> int:
    """How many rows read_blocks yields for the file (used and skipped), by a parse pass without building blocks."""
    if options.allow_empty and path.stat().st_size == 0:
        return 0
    stream = _rows(path, options)
    with stream:
        used = sum(1 for _ in stream)
    return used + len(stream.problems)


def ray_datasource(files: Sequence[Path], options: ReaderOptions):
    """A Ray Data datasource with one read task per file (a file's rows are numbered in one pass)."""
    from ray.data import Datasource, ReadTask
    from ray.data.block import BlockMetadata

    class LabelledFiles(Datasource):
        def estimate_inmemory_data_size(self) -> int | None:
            return sum(Path(f).stat().st_size for f in files)

        def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None, data_context=None):
            tasks = []
            for index, path in enumerate(files):
                metadata = BlockMetadata(
                    num_rows=None, size_bytes=Path(path).stat().st_size, exec_stats=None, input_files=(str(path),)
                )
                tasks.append(
                    ReadTask(
                        lambda index=index, path=path: read_blocks(index, Path(path), options),
                        metadata,
                        schema=INPUT_SCHEMA,
                    )
                )
            return tasks

        @property
        def name(self) -> str:  # shown in Ray's progress lines
            return "LabelledFiles"

    return LabelledFiles()
