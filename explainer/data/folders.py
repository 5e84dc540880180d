"""Output folders a command makes on its way, and removes again when it stops without output: a refused or failed
command leaves no empty folder behind (the CLI's writability probe, a failed data-set job). Output files written
whole (write_whole), with the mode a plain open would give them (created_mode)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import IO, Any


@cache
def _umask() -> int:
    """The process's umask, read without setting it (os.umask sets it, for every thread at once)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def created_mode() -> int:
    """The mode open() gives a new file (0o666 less the umask): tempfile's 0o600 kept a renamed-in cache entry or
    output file from every other user (a server and an operator sharing one cache missed every entry)."""
    return 0o666 & ~_umask()


def write_whole(writers: Mapping[Path, Callable[[IO[bytes]], Any]]) -> None:
    """Write each file `writers` names into a temporary file beside it, and only when every one is written rename
    them over the old ones: a full disk or an interrupted command leaves the old files as they were, never a cut
    file or one run's file beside another's (a report or map written in place was cut off mid-file, the good one
    it replaced lost). OSError is raised for the caller to say."""
    temporaries: dict[Path, Path] = {}
    try:
        for path, write in writers.items():
            handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
            temporaries[path] = Path(name)
            with os.fdopen(handle, "wb") as out:
                write(out)
            os.chmod(name, created_mode())
        for path, temporary in temporaries.items():
            os.replace(temporary, path)
    finally:
        for temporary in temporaries.values():
            temporary.unlink(missing_ok=True)


def missing_folders(folder: Path) -> list[Path]:
    """`folder` and its parents that do not exist yet, deepest first: what mkdir(parents=True) will make."""
    return [parent for parent in (folder, *folder.parents) if not parent.exists()]


def remove_made(folders: list[Path]) -> None:
    """Remove the folders missing_folders listed, deepest first, while they are empty: the first one that is not
    (or cannot be removed) stays, and so do those above it."""
    for made in folders:
        if made.name == "..":  # new/.. is where new was made, removed next: not a folder of its own
            continue
        try:
            made.rmdir()
        except OSError:
            break
