"""What a data-set job reads: one labelled file, a folder of them or a glob, in a fixed order, with one hash."""

from __future__ import annotations

import errno
import glob
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from explainer.data.disk_cache import file_version
from explainer.data.folders import is_results_folder
from explainer.data.labelled import EXTENSIONS, DatasetError
from explainer.scale.manifest import MANIFEST

CHUNK = 1 << 20  # bytes per read while hashing


@dataclass(frozen=True)
class InputSet:
    """The input files of one job, sorted by path: row ids count rows file by file in this order."""

    spec: str  # what the user gave (a path or a glob), for messages and the manifest
    files: tuple[Path, ...]
    hashes: tuple[str, ...]  # sha256 of each file's bytes
    sizes: tuple[int, ...]  # bytes of each file
    stamps: tuple[tuple[int, ...], ...] = ()  # file_version of each file before it was hashed
    left_out: tuple[str, ...] = ()  # a folder's entries not read: subfolders ("name/") and files of other kinds

    @property
    def content_hash(self) -> str:
        """One hash over every file's name (relative to the first's folder) and bytes: changes when any does."""
        digest = hashlib.sha256()
        for path, file_hash in zip(self.files, self.hashes, strict=True):
            digest.update(f"{path.name}\0{file_hash}\n".encode())
        return digest.hexdigest()

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes)

    def changed(self) -> Path | None:
        """The first file whose bytes differ from when it was hashed (None: none): rows read from it may not be the
        bytes the results are keyed on, so they must not be kept under that hash. Hashed again only when its
        file_version moved: a bucket or NFS mount may hand out a new inode for the same bytes."""
        for path, stamp, digest in zip(self.files, self.stamps, self.hashes, strict=False):
            try:
                if file_version(path.stat()) != stamp and _hash(path) != digest:
                    return path
            except OSError:
                return path
        return None


def _is_data_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in EXTENSIONS and not path.name.startswith(".")


# what Spark (gzip, bzip2, lz4, snappy, deflate, zstd), Hive (lzo) and pandas compress shards with
COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4", ".snappy", ".deflate", ".lzo")


def _first_names(names: Sequence[str], shown: int = 5) -> str:
    """The first `shown` names, and how many more: a folder's list in one line of a message."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _refuse_compressed(text: str, paths: list[Path], matched: bool = False) -> None:
    """DatasetError for compressed shards (part-0.csv.gz) beside the others: not read, their rows would silently
    be left out of the results. `matched`: the paths a glob matched (the pattern, not the folder, leaves them out)."""
    packed = sorted(p.name for p in paths if not p.name.startswith(".") and p.suffix.lower() in COMPRESSED
                    and Path(p.stem).suffix.lower() in EXTENSIONS and p.is_file())
    if packed:
        names = _first_names(packed)
        one = len(packed) == 1
        it, its = ("it", "its") if one else ("them", "their")
        instead = f"give a pattern that leaves {it} out" if matched else f"move {it} out of the folder"
        raise DatasetError(f"{text}: {names} {'is' if one else 'are'} compressed, which is not read: decompress "
                           f"{it} or {instead}, or {its} rows would be left out")


def _dead_link(path: Path) -> str | None:
    """What is wrong with a data file's name that is a link to nothing (None: it is not one)."""
    if not path.is_symlink() or path.exists() or path.suffix.lower() not in EXTENSIONS or path.name.startswith("."):
        return None
    try:
        path.stat()
    except OSError as error:
        return "a link loop" if error.errno == errno.ELOOP else "a link to a missing file"
    return "a link to a missing file"


def _refuse_broken_links(text: str, paths: list[Path], full: bool = False) -> None:
    """DatasetError for data files' names that are links to nothing: skipped, their rows would silently be left
    out of the results. Named by file name in a folder, by path (`full`) for a glob, whose matches may share one."""
    broken = sorted((str(p) if full else p.name, what) for p in paths if (what := _dead_link(p)))
    if not broken:
        return
    if len(broken) == 1:
        name, what = broken[0]
        raise DatasetError(f"{text}: {name} is {what}; fix or remove it, or its rows would be left out")
    names = _first_names([name for name, _ in broken])
    kinds = {what for _, what in broken}
    what = ("links to missing files or link loops" if len(kinds) > 1
            else "link loops" if kinds == {"a link loop"} else "links to missing files")
    raise DatasetError(f"{text}: {names} are {what}; fix or remove them, or their rows would be left out")


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_inputs(spec: str | Path) -> InputSet:
    """The files `spec` names: a labelled file, a folder (its data files, not recursive) or a glob. DatasetError
    when it names none, or a folder or glob mixes formats (their columns would not line up)."""
    text = str(spec)
    path = Path(text).expanduser()
    left_out: tuple[str, ...] = ()  # a folder's other entries
    if path.is_file():
        files = [path]
    elif path.is_dir():
        if is_results_folder(path):  # its manifest was read as a JSONL shard: "needs one whole object per line"
            raise DatasetError(f"{text} is a results folder (it holds {MANIFEST}), not a data set: open it in the app, "
                               f"or give its rows ({Path(text) / 'rows'}) to read them again")
        entries = list(path.iterdir())
        _refuse_broken_links(text, entries)
        _refuse_compressed(text, entries)
        files = sorted(p for p in entries if _is_data_file(p))
        if not files:
            kinds = ", ".join(sorted(set(EXTENSIONS)))
            raise DatasetError(f"{text}: a folder with no labelled data files in it (looked for {kinds})")
        left_out = tuple(sorted(p.name + ("/" if p.is_dir() else "") for p in entries
                                if p not in files and not _bookkeeping(p.name)))
    elif glob.has_magic(text):
        matches = [Path(p) for p in glob.glob(text)]
        _refuse_broken_links(text, matches, full=True)
        _refuse_compressed(text, matches, matched=True)
        files = sorted(p for p in matches if _is_data_file(p))
        if not files:
            raise DatasetError(f"{text}: no labelled data file matches this pattern")
    else:
        raise DatasetError(f"{text}: no such file or folder")
    # A single file of another name (data.txt) is read by its contents, as the local engine reads it.
    formats = {EXTENSIONS[p.suffix.lower()] for p in files if p.suffix.lower() in EXTENSIONS}
    if len(formats) > 1:
        raise DatasetError(f"{text} mixes formats ({', '.join(sorted(formats))}): give shards of one format")
    stats, hashes = [], []
    for file in files:
        try:
            stats.append(file.stat())  # before hashing
            hashes.append(_hash(file))
        except OSError as error:  # unreadable (no permission), or gone since listed: one line, as a single file gets
            raise DatasetError(f"{file}: cannot be read ({error.strerror or type(error).__name__})") from None
    return InputSet(
        spec=text,
        files=tuple(files),
        hashes=tuple(hashes),
        sizes=tuple(stat.st_size for stat in stats),
        stamps=tuple(file_version(stat) for stat in stats),
        left_out=left_out,
    )


def _bookkeeping(name: str) -> bool:
    """A hidden file or what Hadoop and Spark write beside their shards (_SUCCESS, part-0.csv.crc): no rows."""
    return name.startswith((".", "_")) or name.endswith(".crc")


def left_out_note(inputs: InputSet) -> str | None:
    """What a folder held that was not read (its rows are not in the results), or None."""
    if not inputs.left_out:
        return None
    names = _first_names(inputs.left_out)
    folders = ", not its subfolders" if any(name.endswith("/") for name in inputs.left_out) else ""
    return (f"{inputs.spec}: only its {', '.join(sorted(set(EXTENSIONS)))} files are read{folders}: left out "
            f"{names} (their rows, if any, are not in the results)")
