"""Output folders a command makes on its way, and removes again when it stops without output: a refused or failed
command leaves no empty folder behind (the CLI's writability probe, a failed data-set job). Output files written
whole (write_whole), with the mode a plain open would give them (new_file)."""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

RESULTS_MARK = "manifest.json"  # what a run's results folder (explainer/scale) holds beside its shards ...
RESULTS_FORMAT = "explainer-results"  # ... and the "format" its manifest names


def is_results_folder(folder: Path) -> bool:
    """Whether `folder` is a run's results folder: its manifest.json says so (a data export's own manifest.json
    does not make its folder one). Read by the data-set listings of a demo and of the engine's inputs."""
    try:
        fields = json.loads((folder / RESULTS_MARK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(fields, dict) and fields.get("format") == RESULTS_FORMAT


def not_a_folder(path: str | Path) -> str:
    """What `path`, which exists and is no folder, is, for "--out X is a file: give a folder" (/dev/null was called
    a file)."""
    mode = os.stat(path).st_mode if os.path.exists(path) else 0
    kinds = ((stat.S_ISREG, "a file"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
             (stat.S_ISFIFO, "a pipe"), (stat.S_ISSOCK, "a socket"))
    return next((said for test, said in kinds if test(mode)), "not a folder")


def new_file(folder: Path, prefix: str, suffix: str) -> tuple[int, Path]:
    """(descriptor open for writing, path) of a new file of a name no one else has in `folder`, created with the mode
    open() gives (0o666 less the umask, a default ACL applied): tempfile's 0o600 kept a renamed-in cache entry or
    output from every other user (a server and an operator sharing one cache missed every entry), and a chmod after
    fails on file systems that refuse it (vfat, some FUSE and SMB mounts)."""
    while True:
        path = folder / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), path
        except FileExistsError:
            continue


def write_whole(writers: Mapping[Path, Callable[[IO[bytes]], Any]]) -> None:
    """Write each file `writers` names into a new file beside it, and only when every one is written rename them
    over the old ones, one after another: a full disk or an interrupted command leaves the old files as they were,
    never a cut file or one run's file beside another's (a report or map written in place was cut off mid-file,
    the good one it replaced lost). A link is written through, as open() writes it; a file replaced keeps its
    mode; a device, pipe or socket is never replaced (--out /dev/full became a file). OSError is raised for the
    caller to say."""
    targets = {Path(os.path.realpath(path)): write for path, write in writers.items()}
    if len(targets) != len(writers):  # a link and its target: one file, two contents
        raise ValueError(f"two of {', '.join(map(str, writers))} are one file")
    for target in targets:  # before any is replaced: a folder in the way fails the rename of that one alone
        if target.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
        if target.exists() and not target.is_file():  # the rename put a file in place of /dev/null, a pipe, a socket
            raise OSError(errno.EINVAL, "not a regular file (a device, pipe or socket)", str(target))
    temporaries: dict[Path, Path] = {}
    try:
        for target, write in targets.items():
            handle, temporaries[target] = new_file(target.parent, f".{target.name}.", PARTIAL_SUFFIX)
            with os.fdopen(handle, "wb") as out:
                write(out)
            if target.exists():
                try:
                    shutil.copymode(target, temporaries[target])
                except OSError:  # a file system that refuses modes: the new file's own stands
                    pass
        for target, temporary in temporaries.items():
            os.replace(temporary, target)
        for target in targets:  # a killed run's, left beside it (not one another run is writing now)
            for left in target.parent.glob(f".{target.name}.*{PARTIAL_SUFFIX}"):
                _remove_if_old(left)
    finally:
        for temporary in temporaries.values():
            temporary.unlink(missing_ok=True)


@contextmanager
def written_whole(path: Path) -> Iterator[IO[str]]:
    """`with written_whole(path) as handle:` a text file written line by line that replaces `path` only once the
    block ends without an error (write_whole for a writer that streams): a stopped `counterfactual --out` left a cut
    file where the old one had been. A device, pipe or socket is written in place, as it streams (`--out
    /dev/stdout`, which is also the file a shell redirected stdout to: renamed over, the command's JSON went to the
    unlinked one). Rows end in "\n" as written (pandas' own line ends, no translation)."""
    if (standard := _standard_stream(path)) is not None:  # the process's own descriptor, its offset shared: a new
        # open of /dev/stdout started at 0 (O_TRUNC) and the JSON printed after the lines wrote over them
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        with os.fdopen(os.dup(standard), "w", encoding="utf-8", newline="") as handle:
            yield handle
        return
    if path.exists() and not path.is_file():
        with path.open("w", encoding="utf-8", newline="") as handle:
            yield handle
        return
    target = Path(os.path.realpath(path))  # a link is written through, as write_whole does
    descriptor, temporary = new_file(target.parent, f".{target.name}.", PARTIAL_SUFFIX)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            yield handle
        if target.exists():
            try:
                shutil.copymode(target, temporary)
            except OSError:  # a file system that refuses modes: the new file's own stands
                pass
        os.replace(temporary, target)
        for left in target.parent.glob(f".{target.name}.*{PARTIAL_SUFFIX}"):  # a killed run's (not a running one's)
            _remove_if_old(left)
    finally:
        temporary.unlink(missing_ok=True)


def _standard_stream(path: Path) -> int | None:
    """The descriptor /dev/stdout, /dev/stderr, /dev/fd/N or /proc/self/fd/N names, else None."""
    named = {"/dev/stdout": 1, "/dev/stderr": 2}.get(str(path))
    if named is None and (match := re.fullmatch(r"/(?:dev/fd|proc/self/fd)/(\d+)", str(path))):
        named = int(match.group(1))
    return named


def names_standard_stream(path: Path) -> bool:
    """Whether `path` is a name of a descriptor (/dev/stdout, /dev/fd/N), which written_whole writes through."""
    return _standard_stream(path) is not None


def is_output_stream(path: Path) -> bool:
    """Whether `path` is this process's stdout or stderr, by name (/dev/stdout, /dev/fd/1) or as the same file (a
    shell's `> file` given again as --out): a file renamed over it loses what the command prints after it."""
    if _standard_stream(path) in (1, 2):
        return True
    try:
        found = os.stat(path)
    except OSError:
        return False
    for descriptor in (1, 2):
        try:
            if os.path.samestat(found, os.fstat(descriptor)):
                return True
        except OSError:  # a closed stream
            continue
    return False


def _remove_if_old(path: Path, older_than_s: float = 3600.0) -> None:
    try:
        if time.time() - path.stat().st_mtime > older_than_s:
            path.unlink()
    except OSError:
        pass


PARTIAL_SUFFIX = ".partial"  # write_whole's files before they are renamed in: ".{name}.{random}.partial"


def is_unfinished_output(name: str, outputs: Iterable[str]) -> bool:
    """Whether `name` is one of `outputs` as write_whole leaves it when killed before renaming it in: an earlier
    run's, not another's file (a folder holding one was refused as "not empty and holds no map results")."""
    return name.endswith(PARTIAL_SUFFIX) and any(name.startswith(f".{output}.") for output in outputs)


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
