"""The results folder's `manifest.json`: what was run on what, and where its shards are.

A folder holds one job's results. The manifest is written last, so a folder with shards and no manifest is an
unfinished run (its shards live under `.partial/` and are discarded by the next run, never mixed in). A rerun with
the same job (`run_key`: kind, model fingerprint, input hash, options) finds the finished results and reuses them;
any other job is refused over a folder that holds results.

Opening a folder checks it is still what its run wrote: the manifest's digest (an edit by hand: rows, labels,
kind...), its run key against its own fields, each shard's rows and sha256, no shard listed twice, and every file's
used rows 0..n-1 once each with the counts the manifest gives. A folder that fails is damaged: it is refused on
open and on a rerun into it (REDO says what to do), never read as it is nor reused.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from explainer.data.disk_cache import file_sha256  # hashed once per file version: shards are large
from explainer.data.folders import RESULTS_FORMAT, RESULTS_MARK, not_a_folder
from explainer.owner import OWNER, claim, running_owner  # noqa: F401  (OWNER: the claim file's name, tests read it)

FORMAT = RESULTS_FORMAT  # data.folders spells both: the listings below this package read them too
VERSION = 6  # bump when the layout or the numbers change (6: a markers run's parts keep a marker's candidates per
# text, not per row (marker dictionary version 10): an older run's parts had dropped what the merge now needs;
# 5: model fingerprints hash both ends of every tensor, so an older folder's fingerprint would read as other
# weights; 4: shards' rows and sha256 and the manifest's digest,
# checked on open; 3: a decoder's trailing pad ids left out and batches padded
# with the id its classifier skips, integer-like label names read per file, a tokenizer read as saved; 2: batches
# pad on the right; 1 read left-padding checkpoints such as a left-padded GPT-2 at shifted positions)
MANIFEST = RESULTS_MARK
ROWS = "rows"  # folder of the per-row Parquet shards
# What to do about a damaged folder: a rerun into it would read the same damage (prepare_folder reads it first).
REDO = "remove {folder} (or give another --out) and run the job again"
PARTIAL = ".partial"  # an unfinished run's output, moved into place when the run completes


class ResultsError(ValueError):
    """A results folder that cannot be used as asked: missing, damaged, of another job or another model."""


@dataclass(frozen=True)
class FileEntry:
    path: str
    sha256: str
    bytes: int
    rows: int = 0  # rows used
    skipped: int = 0  # rows skipped (malformed, empty text, missing label), with their lines in the shards


@dataclass(frozen=True)
class Manifest:
    kind: str  # "evaluate", "sweep", "map" or "markers"
    model: str
    model_fingerprint: str
    input_spec: str
    input_hash: str
    files: tuple[FileEntry, ...]
    rows: int
    skipped: int
    label_names: tuple[str, ...]
    text_column: str
    label_column: str
    extra_columns: tuple[str, ...]
    options: dict[str, Any]
    run_key: str
    engine: str  # "local" or "ray": how it was run; the results do not depend on it
    workers: int
    nodes: int  # distinct Ray nodes (1 for the local engine) that ran the model
    shards: tuple[str, ...]  # relative paths of the per-row Parquet files
    columns: tuple[str, ...] = ()  # the shards' columns (explainer/scale/work.py says what each holds)
    outputs: dict[str, str] = field(default_factory=dict)  # other files of this job (dictionary, sweep, ...)
    seconds: float = 0.0
    labels_by_id: bool = False  # integer labels were read as ids into label_names (data.labelled.label_id_note)
    text_column_guessed: bool = False  # no column had a known text name (data.labelled.text_column_note)
    shard_rows: tuple[int, ...] = ()  # rows (used and skipped) of each of `shards`, in the same order
    shard_sha256: tuple[str, ...] = ()  # sha256 of each of `shards`' bytes
    digest: str = ""  # sha256 of the manifest's other fields, set by write_manifest: an edit by hand shows
    format: str = FORMAT
    version: int = VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def run_key(kind: str, fingerprint: str, input_hash: str, options: dict[str, Any]) -> str:
    """What makes two runs the same job: the same kind, weights, input bytes and options."""
    blob = json.dumps([kind, fingerprint, input_hash, options], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def describe_shards(folder: Path, shards: tuple[str, ...]) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """(rows, sha256) of each shard, as the manifest records them for the checks on open."""
    import pyarrow.parquet as pq  # here: the manifest alone needs no pyarrow

    rows = tuple(pq.read_metadata((folder / shard).absolute()).num_rows for shard in shards)  # "~": as typed
    return rows, tuple(file_sha256(folder / shard) for shard in shards)


def manifest_digest(value: dict[str, Any]) -> str:
    """sha256 of a manifest's fields but its digest, as written (tuples and lists read the same)."""
    signed = {name: item for name, item in value.items() if name != "digest"}
    return hashlib.sha256(json.dumps(signed, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    path = folder / MANIFEST
    temporary = path.with_suffix(".json.tmp")
    manifest = replace(manifest, digest=manifest_digest(manifest.to_json()))
    temporary.write_text(json.dumps(manifest.to_json(), indent=2, ensure_ascii=False), encoding="utf-8")
    temporary.replace(path)  # atomic: a reader sees no manifest or a whole one
    return path


def run_kind(folder: str | Path) -> str | None:
    """The kind of run a results folder's manifest names, read without its checks (read_manifest's, which hash
    every shard): None when there is no readable manifest, or it names none."""
    try:
        kind = json.loads((Path(folder).expanduser() / MANIFEST).read_text(encoding="utf-8")).get("kind")
    except (OSError, ValueError, AttributeError):  # AttributeError: JSON that is not an object
        return None
    return kind if isinstance(kind, str) else None


def manifest_fields(folder: str | Path) -> dict[str, Any] | None:
    """A folder's manifest fields as written, unchecked (None: no manifest, or not a JSON object): a glance at a
    folder opened and checked elsewhere, without read_manifest's hashing of every shard."""
    try:
        fields = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return fields if isinstance(fields, dict) else None


def read_manifest(folder: str | Path) -> Manifest:
    """The manifest of a results folder; ResultsError when there is none or it is damaged."""
    folder = Path(folder)
    path = folder / MANIFEST
    if folder.is_file():
        raise ResultsError(f"{folder} is a file: a results folder is the folder a run's --out named")
    if not folder.is_dir():
        raise ResultsError(f"{folder}: no such results folder")
    if not path.is_file():
        if (folder / "points.parquet").is_file():  # `map --out` on the local engine writes the map files only
            raise ResultsError(
                f"{folder} holds a map's files but no {MANIFEST}: 'map --out' writes a results folder with "
                "--engine ray or for a folder or glob of files, not for one file on the local engine; put the "
                "file in a folder and give that folder as --data (or run 'evaluate --out', which the Errors and "
                "Compare pages open)"
            )
        if (folder / "marker_dictionary.json").is_file():  # `markers --out` on one file: the dictionary files only
            raise ResultsError(
                f"{folder} holds a marker dictionary but no {MANIFEST}: 'markers --out' writes a results folder "
                "with --engine ray or for a folder or glob of files, not for one file on the local engine; put the "
                "file in a folder and give that folder as --data"
            )
        raise ResultsError(f"{folder} is not a results folder (no {MANIFEST}; an unfinished run leaves none)")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
        if value.get("format") != FORMAT:
            raise ResultsError(f"{path} is not an explainer results manifest")
        if value.get("version") != VERSION:
            raise ResultsError(
                f"{path}: results written by another version of explainer (results version "
                f"{value.get('version')}, this one reads {VERSION}); run the job again into a new folder, or remove "
                "this one to replace it"
            )
        if value.get("digest") != manifest_digest(value):  # any field edited: rows, label names, kind, options...
            raise damaged(folder, "edited after its run: its digest does not match its contents")
        known, entry_known = {f.name for f in fields(Manifest)}, {f.name for f in fields(FileEntry)}
        entries = value.get("files") if isinstance(value.get("files"), list) else []
        in_entries = {key for entry in entries if isinstance(entry, dict) for key in entry} - entry_known
        if unknown := sorted((set(value) - known) | {f"files[].{key}" for key in in_entries}):  # signed: written so
            raise ResultsError(
                f"{path}: results written by a newer version of explainer (fields this one does not know: "
                f"{', '.join(unknown)}); update explainer, or run the job again into a new folder"
            )
        value["files"] = tuple(FileEntry(**entry) for entry in value["files"])
        for name in ("label_names", "extra_columns", "shards", "columns", "shard_rows", "shard_sha256"):
            if not isinstance(value[name], list):  # a text "np" became the labels ('n', 'p')
                raise damaged(folder, f"fields of the wrong kind: {name}")
            value[name] = tuple(value[name])
        manifest = Manifest(**value)
        if wrong := _wrongly_typed(manifest) or [f"files[{i}].{name}" for i, entry in enumerate(manifest.files)
                                                  for name in _wrongly_typed(entry)]:
            # re-signed by hand ("rows": "forty", "shards": [5]): a TypeError traceback from the shard check
            raise damaged(folder, f"fields of the wrong kind: {', '.join(wrong)}")
        if not manifest.label_names:
            raise damaged(folder, "no label names")
    except ResultsError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as error:  # Recursion: nested too deep
        raise damaged(folder, type(error).__name__) from error
    if manifest.run_key != run_key(manifest.kind, manifest.model_fingerprint, manifest.input_hash, manifest.options):
        raise damaged(folder, "its run key does not match its kind, model, input and options")
    check_shards(folder, manifest)
    return manifest


KINDS = {"str": str, "int": int, "float": (int, float), "bool": bool, "dict[str, Any]": dict,
         "dict[str, str]": dict, "tuple[str, ...]": str, "tuple[int, ...]": int, "tuple[FileEntry, ...]": FileEntry}


def _wrongly_typed(record: Manifest | FileEntry) -> list[str]:
    """The fields of `record` (a dataclass read from JSON) whose value is not of its annotated kind; a tuple's
    items are checked one by one, and a bool is no int."""
    wrong = []
    for spec in fields(record):  # read_manifest made every tuple field a tuple (of a list only)
        value, kind = getattr(record, spec.name), KINDS[str(spec.type)]
        items = value if str(spec.type).startswith("tuple") else (value,)
        if not all(isinstance(item, kind) and (kind is bool or not isinstance(item, bool)) for item in items):
            wrong.append(spec.name)
    return wrong


def damaged(folder: Path, reason: str, where: Path | None = None) -> ResultsError:
    """The one-line error for a damaged results folder (`where`: the file of it at fault, the manifest unless
    given)."""
    return ResultsError(f"{where or folder / MANIFEST} is damaged ({reason}): {REDO.format(folder=folder)}")


def check_shards(folder: Path, manifest: Manifest) -> None:
    """ResultsError unless the shards are those the run wrote: each listed once, present, readable, with the rows
    and bytes the manifest records, and together every file's rows (see check_row_ids) and no others."""
    shards = manifest.shards
    if not len(shards) == len(manifest.shard_rows) == len(manifest.shard_sha256):
        counts = f"{len(manifest.shard_rows)} row counts, {len(manifest.shard_sha256)} hashes"
        raise damaged(folder, f"{len(shards)} shards listed, {counts}")
    seen: set[Path] = set()
    for shard in shards:
        try:
            resolved = (folder / shard).resolve()
        except (OSError, RuntimeError) as error:  # a symlink loop raises RuntimeError here
            raise damaged(folder, f"the shard {shard} cannot be opened ({error})") from error
        if resolved in seen:
            raise damaged(folder, f"the shard {shard} is listed twice")
        seen.add(resolved)
    missing = [shard for shard in shards if not (folder / shard).is_file()]
    if missing:
        raise ResultsError(f"{folder}: {len(missing)} shard(s) listed in the manifest are missing, e.g. "
                           f"{missing[0]}: {REDO.format(folder=folder)}")
    for shard, rows, sha256 in zip(shards, manifest.shard_rows, manifest.shard_sha256, strict=True):
        _check_shard(folder, shard, rows, sha256)
    if sum(manifest.shard_rows) != manifest.rows + manifest.skipped:
        raise damaged(folder, f"its shards hold {sum(manifest.shard_rows)} rows, not the {manifest.rows} used and "
                              f"{manifest.skipped} skipped it gives")
    _check_files_rows(folder, manifest)


def _check_shard(folder: Path, shard: str, rows: int, sha256: str) -> None:
    import pyarrow.parquet as pq  # here: the manifest alone needs no pyarrow

    path = folder / shard
    try:  # a truncated or overwritten shard fails here, in one line, not mid-read
        found = pq.read_metadata(path.absolute()).num_rows  # absolute: pyarrow expands a leading "~"
    except Exception as error:  # pyarrow's ArrowInvalid, OSError: the file is not the Parquet it was
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise damaged(folder, reason[:120], path) from error
    if found != rows:
        raise damaged(folder, f"{found} rows, the manifest says {rows}", path)
    if file_sha256(path) != sha256:  # valid Parquet with the same count: another run's shard, or edited rows
        raise damaged(folder, "its bytes are not those its run wrote", path)


def check_row_ids(used: Any) -> str:
    """'' when `used` (a file's used row numbers, in any order) is 0..n-1, each once; else what is wrong."""
    import numpy as np

    used = np.sort(np.asarray(used))
    if np.array_equal(used, np.arange(len(used))):
        return ""
    unique = len(np.unique(used))
    return f"{len(used) - unique} duplicated, {int(used.max(initial=-1) + 1 - unique)} missing"


def _check_files_rows(folder: Path, manifest: Manifest) -> None:
    """Every row belongs to a file of the manifest, and each file's used rows are 0..rows-1 once each."""
    import pyarrow.dataset as pa_dataset

    paths = [str((folder / shard).absolute()) for shard in manifest.shards]  # pyarrow expands a leading "~"
    table = pa_dataset.dataset(paths, format="parquet").to_table(columns=["file", "row", "problem"])
    files = table.column("file").to_numpy()
    rows = table.column("row").to_numpy()
    skipped = table.column("problem").is_valid().to_numpy(zero_copy_only=False)
    if len(files) and not 0 <= files.min() <= files.max() < len(manifest.files):
        raise damaged(folder, f"its shards hold rows of files it does not list ({len(manifest.files)})")
    for index, entry in enumerate(manifest.files):
        mine = files == index
        problem = _file_problem(rows[mine & ~skipped], int((mine & skipped).sum()), entry)
        if problem:
            raise damaged(folder, f"the shards' rows of {entry.path}: {problem}")


def _file_problem(used: Any, skipped: int, entry: FileEntry) -> str:
    """'' when a file's used row numbers and skipped count in the shards are those `entry` gives."""
    if problem := check_row_ids(used):
        return problem
    if len(used) != entry.rows:
        return f"{len(used)} used, the manifest says {entry.rows}"
    return f"{skipped} skipped, the manifest says {entry.skipped}" if skipped != entry.skipped else ""


def differences(manifest: Manifest, kind: str, fingerprint: str, input_hash: str, options: dict[str, Any],
                model: str | None = None, input_spec: str | None = None) -> str:
    """What makes the job (kind, fingerprint, input_hash, options) another run than the one in `manifest`, in
    words: the same names and paths can hide other weights or edited files (`input_spec`, the input as given,
    tells another input from the same one edited)."""
    found = []
    if manifest.kind != kind:
        found.append(f"it ran {manifest.kind}, this is {kind}")
    if manifest.model_fingerprint != fingerprint:
        if model is not None and model != manifest.model:  # the fingerprint holds the name: say so, not "weights"
            found.append(f"another model name ({manifest.model} there, {model} now; a model is known by its name, "
                         "config and files together)")
        else:
            found.append(f"other model weights (it ran {manifest.model})")
    if manifest.input_hash != input_hash:
        if input_spec is not None and input_spec != manifest.input_spec:  # not an edit: another file altogether
            found.append(f"another input ({manifest.input_spec} there, {input_spec} now)")
        else:
            found.append("other input bytes (a file was edited, added or removed)")

    def written(value: Any) -> str:  # as the manifest keeps it (tuples read back as lists)
        return json.dumps(value, sort_keys=True, default=str)

    changed = sorted(name for name in set(manifest.options) | set(options)
                     if written(manifest.options.get(name)) != written(options.get(name))
                     and not (name == "kind" and manifest.kind != kind))  # said first, in words
    if changed:
        found.append("other options: " + ", ".join(
            f"{name} {manifest.options.get(name)!r} there, {options.get(name)!r} now" for name in changed))
    return "; ".join(found)


def claim_partial(folder: Path) -> None:
    """Make `folder`/.partial this process's, atomically: ResultsError when another run has just claimed it."""
    if not claim(folder / PARTIAL):
        raise ResultsError(f"another run is writing into --out {folder}: wait for it to finish, or give another "
                           "folder")


def partial_owner(folder: Path) -> str | None:
    """The run still writing `folder`/.partial, or None when none is (explainer/owner.py): an interrupted run's
    rows are removed and the job run afresh."""
    return running_owner(folder / PARTIAL)


def prepare_folder(
    folder: Path, kind: str, fingerprint: str, input_hash: str, options: dict[str, Any], model: str | None = None,
    input_spec: str | None = None, outputs: Sequence[str] = (),
) -> Manifest | None:
    """Before a run of the job (kind, fingerprint, input_hash, options: see run_key) into `folder`: the finished
    results of this very job (reuse them), or None after making room (an unfinished run's partial output
    removed). ResultsError when the folder holds another job's results (saying what differs), damaged results
    (read_manifest's checks: never reused, REDO says what to do) or files that are not results, other than
    `outputs` (what the command writes beside its results: a local run's map left them, and an engine run into
    the same folder was refused as one that "holds no results")."""
    if folder.exists() and not folder.is_dir():
        raise ResultsError(f"--out {folder} is {not_a_folder(folder)}: give a folder")
    if (folder / MANIFEST).is_file():
        manifest = read_manifest(folder)
        if manifest.run_key == run_key(kind, fingerprint, input_hash, options):
            return manifest
        what = differences(manifest, kind, fingerprint, input_hash, options, model, input_spec)
        raise ResultsError(
            f"{folder} holds the results of another run ({manifest.kind} of {manifest.model} on "
            f"{manifest.input_spec}{': ' + what if what else ''}); give another --out folder, or remove this one "
            "to replace it"
        )
    if folder.is_dir():
        running = partial_owner(folder)
        if running is not None:  # two runs into one folder removed each other's rows, and both failed (one said
            # its input had no usable rows)
            raise ResultsError(
                f"another run ({running}) is writing into --out {folder}: wait for it to finish, or give another "
                f"folder (if no run is going, remove {folder / PARTIAL})"
            )
        # A run killed (SIGKILL) between moving its shards in and writing its manifest leaves its claimed .partial
        # beside them: those rows are no results, started afresh (they were refused as a folder of other files).
        # Without it, a rows/ of Parquet files is the user's (a data set, maybe this run's input): it was deleted.
        killed_midway = (folder / PARTIAL).is_dir()
        shutil.rmtree(folder / PARTIAL, ignore_errors=True)
        rows = folder / ROWS
        if (killed_midway and rows.is_dir() and not rows.is_symlink()
                and all(p.suffix == ".parquet" for p in rows.iterdir())):
            shutil.rmtree(rows)
        foreign = [p.name for p in folder.iterdir() if p.name not in outputs]
        if foreign:
            raise ResultsError(
                f"--out {folder} is not empty and holds no results ({', '.join(sorted(foreign)[:5])}): "
                "give an empty or new folder"
            )
    return None
