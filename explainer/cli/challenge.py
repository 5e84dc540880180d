"""`python -m explainer challenge [--out FILE] [--seed N] [--per-capability N]`: write the challenge set."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from explainer.cli.common import (
    at_least_one,
    fail,
    first_line_passes,
    named_path,
    names_folder,
    refuse_link_to_nothing,
    refuse_special_file,
    refuse_unrelated_file,
    writing_to,
)
from explainer.data.challenge import COLUMNS, DEFAULT_PATH, PER_CAPABILITY, SEED, counts, generate, to_csv
from explainer.data.folders import write_whole

DESCRIPTION = "Write the CheckList-style labelled challenge set (text,label,capability) from its templates."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m explainer challenge", description=DESCRIPTION)
    parser.add_argument("--out", type=out_file, default=DEFAULT_PATH,
                        help=f"CSV to write (text,label,capability); default: the shipped set, {DEFAULT_PATH.name}, "
                        "which only the default seed and size may rewrite")
    parser.add_argument("--seed", type=int, default=SEED, help=f"the templates' random seed (default {SEED})")
    parser.add_argument("--per-capability", type=at_least_one, default=PER_CAPABILITY,
                        help=f"rows per capability, an even number (half negative, half positive; default "
                        f"{PER_CAPABILITY})")
    args = parser.parse_args(argv)
    if args.per_capability % 2:  # said with the option's name (the library's error names its parameter)
        fail(f"--per-capability must be even (half negative, half positive), not {args.per_capability}")
    # before resolve(), which raised RuntimeError on a link loop (and mkdir through a dangling link said "File exists")
    refuse_link_to_nothing(args.out.parent, args.out)
    if args.out.is_dir():
        fail(f"--out {args.out} is a folder: give a file name ending in .csv")
    refuse_special_file(args.out, "give a file name ending in .csv")
    try:
        examples = generate(args.seed, args.per_capability)
    except ValueError as error:  # odd count, or more rows than the templates make
        fail(str(error))
    shipped = args.out.resolve() == DEFAULT_PATH.resolve()  # a hard link to it is replaced, the shipped file kept
    if shipped and (args.seed, args.per_capability) != (SEED, PER_CAPABILITY):
        # The shipped set is what the model cards, the Errors page and mean ablation read: another seed or size
        # would silently change them all.
        fail(f"another seed or size would overwrite the shipped {DEFAULT_PATH.name}: give --out FILE")
    refuse_unrelated_file(args.out, "--out", lambda path: first_line_passes(path, _challenge_header),
                          f"no challenge set (its first line is not {','.join(COLUMNS)})")
    with writing_to(args.out):
        args.out.parent.mkdir(parents=True, exist_ok=True)
        text = to_csv(examples)
        write_whole({args.out: lambda handle: handle.write(text.encode("utf-8"))})  # cut off: the old file stays
    for capability, negative, positive in counts(examples):
        print(f"{capability:15s} {negative + positive:4d} rows ({negative} negative, {positive} positive)")
    print(f"{len(examples)} rows -> {args.out}")


def out_file(raw: str) -> Path:
    """--out as a path; one ending in a slash names a folder (Path() drops the slash: "new/" wrote a file "new")."""
    named_path(raw)  # "" is Path("."): "--out . is a folder"
    if names_folder(raw) and not Path(raw).is_dir():
        raise argparse.ArgumentTypeError(f"{raw} names a folder (it ends with /): give a file name ending in .csv")
    return Path(raw)


def _challenge_header(first: bytes) -> bool:
    """Whether a file's first line is the challenge set's header (as this command wrote it, or re-saved by a
    spreadsheet: a BOM, quotes, CRLF): safe to write again."""
    header = next(csv.reader([first.decode("utf-8-sig", errors="replace")]), [])
    return [name.strip() for name in header] == list(COLUMNS)
