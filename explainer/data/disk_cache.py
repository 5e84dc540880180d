"""Results cached on disk between runs (batch predictions, marker dictionaries, tau sweeps).

A key is a namespace plus whatever identifies the result: the model's fingerprint (changes when its weights
or config do), the data set's content hash, the options. Values are JSON (dicts, lists, numbers, strings);
writes are atomic, so a crash or a second process never leaves half a file. Nothing here unpickles.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from explainer.data.folders import new_file


def cache_dir() -> Path:
    """The project's cache folder: models built on demand and cached results (EXPLAINER_CACHE overrides)."""
    root = os.environ.get("EXPLAINER_CACHE") or Path.home() / ".cache" / "transformer-explainer"
    return Path(root)


def file_version(stat: os.stat_result) -> tuple[int, int, int, int, int]:
    """What changes whenever a file's contents may have: which file (device, inode), its size, its modification
    time and its change time. On POSIX the change time cannot be set back (`cp -p`, `rsync -t` and `tar -x`
    restore the modification time), so an edit of the same size under an old time still counts (on Windows
    st_ctime is the creation time: there, only size and modification time tell)."""
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def cache_root() -> Path:
    return cache_dir() / "results"


def folder_stamp(folder: Path) -> str:
    """Path, size, modification time and sampled_digest of every file in a model folder (weights, adapter, config,
    tokenizer): what a load reads. Not file_version: the stamp keys results on disk and is compared across a Ray
    cluster's nodes, where a copied folder (rsync -a) has its own inodes and change times but the same sizes,
    times and bytes. The digest tells apart two checkpoints of one size under one time (weights put in place with
    `cp -p`, `rsync -t` or `tar -x`), whose results were read from the cache as the other's.
    Taken when the model is loaded (ModelBundle.folder_stamp)."""
    lines = []
    for path in sorted(folder.iterdir()):
        if path.is_file():
            stat = path.stat()
            lines.append(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{sampled_digest(path, stat)}")
    return "\n".join(lines)


SAMPLE_BLOCK = 1 << 16  # bytes
SAMPLE_BLOCKS = 16  # a file up to 1 MiB is hashed whole
_DIGESTS: dict[tuple, str] = {}  # (which digest, file_version) -> digest, for this process


def _once(which: str, path: Path, stat: os.stat_result, compute: Callable[[Any, int], str]) -> str:
    """compute(open file, size) once per file_version in this process: keyed by the file, not its path, so a
    folder moved into place (a run's shards) is not read again; a file copied over with its old times (cp -p)
    is, since its change time moved."""
    key = (which, *file_version(stat))
    if key not in _DIGESTS:
        with path.open("rb") as handle:
            _DIGESTS[key] = compute(handle, stat.st_size)
    return _DIGESTS[key]


def file_sha256(path: Path) -> str:
    """The sha256 of every byte of the file, read once per file_version (a base model's weights, a map run's
    shards: about 1 GB for 100,000 rows of a small model, opened several times by a page or command)."""
    return _once("sha256", path, path.stat(), lambda handle, _: hashlib.file_digest(handle, "sha256").hexdigest())


def sampled_digest(path: Path, stat: os.stat_result) -> str:
    """sha256 of a file's bytes: all of them up to SAMPLE_BLOCKS blocks, else SAMPLE_BLOCKS blocks spread evenly
    from its start to its end (1 MiB of a multi-GB checkpoint: two fine-tunes differ in every block, so a few
    milliseconds tell them apart where hashing all of it took seconds on every load). Read once per file_version
    in a process, so the app's check for a changed folder on every run reads nothing while no file changed."""

    def sample(handle, size: int) -> str:
        digest = hashlib.sha256()
        if size <= SAMPLE_BLOCK * SAMPLE_BLOCKS:
            digest.update(handle.read())
        else:
            for block in range(SAMPLE_BLOCKS):
                handle.seek((size - SAMPLE_BLOCK) * block // (SAMPLE_BLOCKS - 1))
                digest.update(handle.read(SAMPLE_BLOCK))
            if path.suffix == ".safetensors":
                _tensor_ends(handle, size, digest)
        return digest.hexdigest()[:16]

    return _once("sampled", path, stat, sample)


TENSOR_END = 1 << 12  # bytes hashed at each end of every tensor of a safetensors file
HEADER_LIMIT = 100_000_000  # the longest header safetensors itself reads


def _tensor_ends(handle, size: int, digest) -> None:
    """Add a safetensors file's header and the first and last TENSOR_END bytes of each tensor to `digest`: a
    fine-tune of the biases, norms or head alone (BitFit, a new classifier) changes none of the blocks spread over
    the file, and its results were read from the cache as the other weights'. A few hundred small reads; a file
    whose header does not parse keeps the spread blocks alone."""
    try:
        handle.seek(0)
        length = int.from_bytes(handle.read(8), "little")
        if not 0 < length <= min(size - 8, HEADER_LIMIT):
            return
        header = handle.read(length)
        entries = json.loads(header)
        spans = sorted(tuple(entry["data_offsets"]) for name, entry in entries.items() if name != "__metadata__")
        data_bytes = size - 8 - length
        # offsets of a damaged header (strings, three of them, past the end, backwards) leave the blocks alone:
        # the load that follows says what is wrong with the file
        if not all(len(span) == 2 and all(type(at) is int for at in span) and 0 <= span[0] <= span[1] <= data_bytes
                   for span in spans):
            return
        digest.update(header)
        for start, end in spans:
            for at in (start,) if end - start <= TENSOR_END else (start, end - TENSOR_END):
                handle.seek(8 + length + at)
                digest.update(handle.read(min(TENSOR_END, end - at)))
    except (ValueError, TypeError, KeyError, AttributeError, OSError):
        return


def model_fingerprint(bundle) -> str:
    """Identifies a loaded model's weights: its config and the stamp of its folder's files as they were
    when it was loaded (a hub id: its name, config and the revision's commit). So a checkpoint changed in
    place gets a new fingerprint once it is loaded again, and results of the model still in memory never go
    under the new files' key."""
    # A folder is known by its stamp, which holds its files' resolved paths, not by how it was named ("m", "./m",
    # "m/", the absolute path a Ray worker loads it by, a shipped name): each spelling had its own fingerprint, so
    # its own cache entries, and a Ray run of a relative path was refused as "not the driver's model".
    # The config's own "_name_or_path" is that name too.
    named = bundle.name if bundle.folder_stamp is None else "a folder"
    config = json.loads(bundle.model.config.to_json_string(use_diff=False))
    config.pop("_name_or_path", None)
    parts: list[str] = [named, json.dumps(config, sort_keys=True)]
    if bundle.folder_stamp is not None:
        parts.append(bundle.folder_stamp)
    elif commit := getattr(bundle.model.config, "_commit_hash", None):  # a hub id: the revision its files came
        parts.append(commit)  # from (to_json_string leaves it out), so new weights pushed under it are not old ones
    if getattr(bundle, "cuts_left_elsewhere", False):  # its long texts were read from their end before: those
        parts.append("cut on the right")  # results are not these
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def input_key(bundle, data) -> tuple:
    """What identifies a model's pass over a labelled file: its weights, the file's bytes, which columns were read,
    how many rows survived, how many tokens the model reads, and how the reader reads them (READER_VERSION). Every
    per-data-set cache keys on all of it, and on the data's cache_scope where it has one (a demo upload's entries
    are its session's alone)."""
    from explainer.data.labelled import READER_VERSION  # here: labelled.py is the larger module, loaded on use

    scope = getattr(data, "cache_scope", "")  # a results folder's inputs have none
    return (
        model_fingerprint(bundle), data.content_hash, data.text_column, data.label_column, len(data), bundle.max_length,
        *((scope,) if scope else ()),  # absent otherwise
        f"reader {READER_VERSION}",  # the same bytes read another way are another input
    )


def cache_path(namespace: str, *key_parts: Any) -> Path:
    """The file for this key (it may not exist yet)."""
    digest = hashlib.sha256(json.dumps(key_parts, sort_keys=True, default=str).encode()).hexdigest()[:40]
    return cache_root() / namespace / f"{digest}.json"


# An entry is this line, then its JSON: a file whose bytes are not the ones written (one byte flipped in a marker
# dictionary left valid JSON that crashed the Markers page on every load) is a miss, whatever it parses as.
SIGNED = b"explainer-cache sha256 "


def _header(payload: bytes) -> bytes:
    return SIGNED + hashlib.sha256(payload).hexdigest().encode()


def _signed(payload: bytes) -> bytes:
    return _header(payload) + b"\n" + payload


def _payload(content: bytes) -> bytes | None:
    """The JSON bytes of an entry whose digest line matches them, else None (damaged, or written before entries
    were signed: computed again once)."""
    header, _, payload = content.partition(b"\n")
    return payload if header == _header(payload) else None


def load(namespace: str, *key_parts: Any, valid: Callable[[Any], bool] | None = None) -> Any | None:
    """The cached value, or None when absent or unreadable (a damaged file is treated as a miss: its bytes must be
    those written, SIGNED), or when `valid` says it is not what this entry holds (JSON of another shape: `{}` was
    served as a sweep of no points, and a list crashed the page and the command on every later run)."""
    path = cache_path(namespace, *key_parts)
    try:
        payload = _payload(path.read_bytes())
        if payload is None:
            return None
        value = json.loads(payload.decode("utf-8"))
    except (OSError, ValueError):
        return None
    if valid is not None and not valid(value):
        return None
    used(path)
    return value


# ---- a size limit (demo mode's limits.max_cache_mb): least recently used results go first -----------------------

_LIMIT: list[int | None] = [None]  # bytes the results may take (None: no limit); set by limit_size
ENTRY = re.compile(r"[0-9a-f]{40}(\.json|\.npz)?")  # what cache_path names: nothing else here is ever removed
RECENT_S = 60.0  # an entry used this recently is never removed: a page may be reading it right now


# a store being written: partial_folder's names, <key>.partial-<host>-<pid>.<token> (before the token: no token)
PARTIAL = re.compile(r"[0-9a-f]{40}\.partial-(.+)-(\d+)(?:\.[0-9a-f]+)?")
ANY_PARTIAL = re.compile(r"[0-9a-f]{40}\.partial-.*")  # of any host, or named by process alone (before the host)
UNTOUCHED_S = 24 * 3600.0  # a partial store nothing has written for this long is abandoned, whoever wrote it


def partial_folder(folder: Path) -> Path:
    """A new folder name where this build writes the folder entry `folder` before renaming it in, once whole (named
    by its host and process, and a token of its own: two threads of a server, the warm start's and a visitor's, had
    one name, and the second's clean start deleted the first's store mid-write). One of a process of this host
    that has ended (killed mid-pass: an upload's map on a server stopped, out of memory) is removed first: nothing
    else ever would, and the size limit counts only whole entries."""
    for sibling in folder.parent.glob(f"{folder.name}.partial-*"):
        remove_if_abandoned(sibling)
    return folder.with_name(f"{folder.name}.partial-{socket.gethostname()}-{os.getpid()}.{secrets.token_hex(4)}")


def remove_if_abandoned(entry: Path) -> bool:
    """Remove a partial entry whose writing process, of this host, is gone (True when removed). A live process's,
    one of a process id reused since, and another host's (a cache shared over the network) stay until nothing in
    them has been written for UNTOUCHED_S."""
    if ANY_PARTIAL.fullmatch(entry.name) is None:
        return False
    match = PARTIAL.fullmatch(entry.name)
    if match is None or match[1] != socket.gethostname() or os.name == "nt":  # nt: os.kill would end the process
        if _untouched_for(entry) > UNTOUCHED_S:  # another host's (a container recreated under a new name)
            shutil.rmtree(entry, ignore_errors=True)
            return True
        return False
    try:
        pid = int(match[2])
        if pid == os.getpid():
            return False
        os.kill(pid, 0)
        return False  # running
    except ProcessLookupError:
        shutil.rmtree(entry, ignore_errors=True)
        return True
    except (OSError, OverflowError):  # another user's process (running), or no process id at all
        return False


def _untouched_for(entry: Path) -> float:
    """Seconds since anything in folder `entry` (its own files) was last written; 0 when it cannot be read."""
    try:
        return time.time() - max(path.stat().st_mtime for path in (entry, *entry.iterdir()))
    except (OSError, ValueError):
        return 0.0


def limit_size(max_bytes: int | None) -> None:
    """Hold the results under `max_bytes` from now on (None: no limit). Demo mode sets it: every uploaded file
    is a new pass whose predictions and vectors are kept, so visitors could otherwise fill the server's disk."""
    _LIMIT[0] = max_bytes


def used(path: Path) -> None:
    """Mark a cached result as just used (its modification time), so the size limit removes it last."""
    try:
        os.utime(path)
    except OSError:
        pass


def prune() -> list[Path]:
    """Under a size limit, remove the least recently used results until the rest fit (entries used in the last
    RECENT_S seconds stay, so the limit can be passed for that long); returns what was removed."""
    limit = _LIMIT[0]
    if limit is None:
        return []
    try:  # no cache folder yet, or an entry removed while listed (another process pruning): none this time
        entries = [(entry.stat().st_mtime, _size(entry), entry)
                   for namespace in cache_root().iterdir() if namespace.is_dir()
                   for entry in namespace.iterdir()
                   if not remove_if_abandoned(entry) and ENTRY.fullmatch(entry.name)]  # a killed run's too
    except OSError:
        return []
    total = sum(size for _, size, _ in entries)
    removed = []
    for last_used, size, entry in sorted(entries):
        if total <= limit or last_used > time.time() - RECENT_S:
            break
        try:
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink(missing_ok=True)
        except OSError:  # not ours to remove after all (another owner, a read-only disk): the next one is tried
            continue
        total -= size
        removed.append(entry)
    return removed


def _size(entry: Path) -> int:
    """Bytes of a cached file, or of every file in a cached folder (an embedding store)."""
    if not entry.is_dir():
        return entry.stat().st_size
    return sum(path.stat().st_size for path in entry.rglob("*") if path.is_file())


def store(namespace: str, value: Any, *key_parts: Any) -> Path:
    """Write `value` as JSON atomically (keep_file), after its digest line (SIGNED); returns its path."""
    path = cache_path(namespace, *key_parts)
    keep_file(path, lambda out: out.write(_signed(json.dumps(value).encode("utf-8"))), ".tmp")
    return path


def keep_file(path: Path, write: Callable[[IO[bytes]], Any], suffix: str) -> None:
    """`write` the file at `path` atomically (a temporary file beside it, then renamed; `suffix`: the temporary's),
    so a crash or a second process never leaves half a file. A cache that cannot be written (EXPLAINER_CACHE names a
    file, a read-only or full disk) keeps nothing and says so once: the result in hand is still good, and a
    traceback after a long pass lost it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = new_file(path.parent, "tmp", suffix)
    except OSError as error:
        said_unwritable(error)
        return
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
        if path.is_dir() and not path.is_symlink():  # an entry's name taken by a folder (by hand): the folder is no
            shutil.rmtree(path)  # result, and the rename failed as "cache cannot be written" on every later run
        os.replace(temporary, path)
    except OSError as error:  # the disk filled up while writing
        Path(temporary).unlink(missing_ok=True)
        said_unwritable(error)
        return
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    prune()


class NamesServerFolder(Exception):
    """An error whose message names a folder of the server's own (its cache): demo mode shows a visitor `public`
    instead and gives the message to the server's log (explainer/ui/problems.py)."""

    public = "the server's cache folder cannot be written; the server's log says where"


def unwritable(error: OSError) -> str:
    """What is said of a cache folder that cannot be written, and what to do."""
    return (f"cannot be written ({error.strerror or type(error).__name__}); set EXPLAINER_CACHE to a folder that "
            "can be")


_unwritable_said: set[str] = set()


def said_unwritable(error: OSError) -> None:
    """That the cache folder cannot be written: one warning per folder and process (logging's last-resort handler
    prints it on stderr)."""
    root = cache_dir()
    if str(root) in _unwritable_said:
        return
    _unwritable_said.add(str(root))
    logging.getLogger(__name__).warning("results are not kept between runs: the cache folder %s %s", root,
                                        unwritable(error))


def writable_or_error() -> str | None:
    """Why the cache folder cannot be written (a file in its place, a read-only disk), or None when it can: for a
    caller that reads back what it stores there (a results folder's seeding) and would otherwise redo the work."""
    try:
        cache_root().mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=cache_root()):
            pass
    except OSError as error:
        return f"the cache folder {cache_dir()} {unwritable(error)}"
    return None


def cached(
    namespace: str, key_parts: tuple[Any, ...], compute: Callable[[], Any], valid: Callable[[Any], bool] | None = None
) -> tuple[Any, bool]:
    """(value, was_cached): the stored value for the key (one `valid` accepts), or compute it, store it and return
    it."""
    value = load(namespace, *key_parts, valid=valid)
    if value is not None:
        return value, True
    value = compute()
    store(namespace, value, *key_parts)
    return value, False
