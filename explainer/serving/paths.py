"""The one rule for a path named by someone who is not the server's owner: resolve it (symlinks followed) and
refuse it unless the result lies inside an allowed root. Messages name the path as given, never its contents."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

# RESULTS_FORMAT: re-exported beside RESULTS_MARK (a test checks both against explainer/scale's)
from explainer.data.folders import RESULTS_FORMAT, RESULTS_MARK, is_results_folder  # noqa: F401

# every extension data.labelled.EXTENSIONS reads (a test checks); not .txt, which it would read too: a folder's
# readme.txt was offered as a data set (a .txt of rows is offered when the config names the file itself)
DATA_SUFFIXES = (".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".json", ".parquet", ".pq")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


class PathRefused(ValueError):
    """A path outside the allowed roots, or in a form demo mode does not take; the message is safe to show."""


def resolve_inside(raw: str | Path, roots: Sequence[Path], *, base: Path | None = None) -> Path:
    """`raw` as an existing file inside one of `roots` (each resolved too), or PathRefused.

    Refused before touching the disk: empty, URLs (file://, http://), `~` forms, NUL bytes. Relative paths are
    taken from `base` (the demo config's folder). `..` and symlinks are resolved first, so neither leaves a root."""
    text = str(raw).strip()
    if not text:
        raise PathRefused("No file named.")
    if "\x00" in text:
        raise PathRefused("A path cannot contain a NUL character.")
    if _URL.match(text):
        raise PathRefused("URLs are not accepted here; choose a data set from the list.")
    if text.startswith("~"):
        raise PathRefused("Home-folder paths (~) are not accepted here; choose a data set from the list.")
    path = Path(text)
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a symlink loop, unreadable
        raise PathRefused(f"{text} is not available here.") from None
    for root in roots:
        try:
            root_resolved = Path(root).resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if resolved == root_resolved or resolved.is_relative_to(root_resolved):
            if not resolved.is_file():
                raise PathRefused(f"{text} is not a file.")
            return resolved
    raise PathRefused(f"{text} is not available here.")


def data_files(folder: Path) -> list[Path]:
    """The data files directly inside `folder` and its subfolders (sorted), by suffix; symlinks not followed out.
    A results folder's files are none (its manifest, shards and exports were offered as data sets)."""
    entries = list(folder.rglob("*"))
    results = {p.parent for p in entries if p.name == RESULTS_MARK and is_results_folder(p.parent)}
    return sorted(p for p in entries if p.suffix.lower() in DATA_SUFFIXES and p.is_file()
                  and not (results and results & {p.parent, *p.parents}))
