"""Run a data-set job into a results folder, on this process (`local`) or on a Ray cluster (`ray`).

Both engines run `explainer.scale.work.process_block` on the same blocks of the same reader, write Parquet shards
under `<out>/.partial/rows`, check that every row of every file is there exactly once, then move the shards into
place and write the manifest last. See explainer/scale/manifest.py for reruns over an existing folder.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow.dataset as pa_dataset
import pyarrow.parquet as pq

from explainer.capture.validation import check_tau
from explainer.data.disk_cache import model_fingerprint
from explainer.data.folders import missing_folders, remove_made
from explainer.data.labelled import DatasetError, iter_rows
from explainer.evaluation.error_report import model_labels_said
from explainer.loading.bundle import ModelBundle
from explainer.scale.inputs import InputSet
from explainer.scale.manifest import (
    MANIFEST,
    PARTIAL,
    ROWS,
    FileEntry,
    Manifest,
    ResultsError,
    check_row_ids,
    claim_partial,
    describe_shards,
    prepare_folder,
    read_manifest,
    run_key,
    write_manifest,
)
from explainer.scale.reading import BLOCK_ROWS, ReaderOptions, count_rows, ray_datasource, read_blocks
from explainer.scale.work import KINDS, BlockWorker, JobOptions, ShardError, process_block

ENGINES = ("local", "ray")
ACTOR_START_SECONDS = 600  # how long Ray may take to start the actor pool (model load included) before it fails
CONNECT_SECONDS = 5  # how long a cluster address may take to accept a TCP connection before we give up on it
RowsDone = Callable[[int, int], None]  # (rows processed so far, rows in all the files: used and skipped)


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: start a local Ray on this machine; "auto" or "host:port" (the GCS): join one
    workers: int = 2  # actors, each with its own copy of the model
    threads: int = 1  # torch threads per actor


class EngineError(RuntimeError):
    """The job could not run (Ray missing or unreachable, a block failed); the message says which and where."""


def model_reference(bundle: ModelBundle) -> str:
    """How a worker loads the same model: a shipped name as is, a folder as an absolute path."""
    path = Path(bundle.name).expanduser()
    return str(path.resolve()) if path.is_dir() else bundle.name


def run_job(
    bundle: ModelBundle,
    inputs: InputSet,
    job: JobOptions,
    out: str | Path,
    *,
    engine: str = "local",
    ray_options: RayOptions = RayOptions(),
    quote_contents: bool = True,
    progress: RowsDone | None = None,
    block_rows: int = BLOCK_ROWS,
    outputs: Sequence[str] = (),
) -> tuple[Manifest, bool]:
    """(manifest, reused): run `job` over `inputs` into the folder `out`, or reuse the finished results of the
    same job found there. `outputs`: the files the command writes beside the results (map's points.parquet ...),
    which an earlier run may have left in `out` and which do not make it another's folder. DatasetError for
    unusable input, ResultsError for a folder that cannot take the results, EngineError when the run fails."""
    with model_labels_said(bundle, DatasetError, EngineError):  # a worker's arrive as EngineError
        return _run_job(bundle, inputs, job, out, engine, ray_options, quote_contents, progress, block_rows,
                        outputs)


def _run_job(
    bundle: ModelBundle,
    inputs: InputSet,
    job: JobOptions,
    out: str | Path,
    engine: str,
    ray_options: RayOptions,
    quote_contents: bool,
    progress: RowsDone | None,
    block_rows: int,
    outputs: Sequence[str] = (),
) -> tuple[Manifest, bool]:
    if job.kind not in KINDS:
        raise ValueError(f"unknown job {job.kind!r}; one of {', '.join(KINDS)}")
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; one of {', '.join(ENGINES)}")
    # before a folder is claimed or a worker started (each would fail every row), and as floats: the manifest is JSON
    job = replace(job, beacon_threshold=check_tau(job.beacon_threshold), taus=tuple(check_tau(t) for t in job.taus))
    folder = Path(out)
    fingerprint = model_fingerprint(bundle)
    job = _as_recorded(folder, job, inputs, fingerprint, bundle.label_names, quote_contents)
    key = run_key(job.kind, fingerprint, inputs.content_hash, job.keyed())
    finished = prepare_folder(folder, job.kind, fingerprint, inputs.content_hash, job.keyed(), bundle.name,
                              inputs.spec, outputs)
    if finished is not None:
        return finished, True
    text_column, label_column, extra_columns, labels_by_id, guessed = _shared_columns(
        inputs, job, bundle.label_names, quote_contents
    )
    # Every file is read with the columns found (a header-only shard could not guess them). One shard of many may
    # be empty (no bytes, a header only, every row skipped): it adds no rows, and a set with no usable row at all
    # fails in _check_rows; a single file keeps the reader's detailed message.
    reader = ReaderOptions(
        tuple(bundle.label_names), text_column, label_column, quote_contents, block_rows,
        allow_empty=len(inputs.files) > 1,
    )
    # absolute: pyarrow (and Ray Data) expand a leading "~", so `--out '~/r'` (a folder ./~/r, as typed, made here)
    # had its shards written to, and looked for in, $HOME/r
    partial = folder.absolute() / PARTIAL
    shards = partial / ROWS
    # A failed run removes the folders it made for --out (the folder and missing parents), so none is left empty
    created = missing_folders(folder)
    try:
        claim_partial(folder)  # a second run into this folder is refused while this one writes
    except ResultsError:
        remove_made(created)
        raise
    shards.mkdir(parents=True, exist_ok=True)
    names = tuple(str(p) for p in inputs.files)
    try:
        if engine == "ray":  # the run's seconds (and examples_per_s) count from a cluster that is up, as a local run's
            connect(ray_options.address, ray_options.workers)
        start = time.perf_counter()
        try:
            if engine == "local":
                _run_local(bundle, inputs, job, reader, shards, names, progress)
                workers = 1
            else:
                _run_ray(bundle, fingerprint, inputs, job, reader, shards, names, ray_options, progress is not None)
                workers = ray_options.workers
        except (OSError, EngineError, DatasetError) as error:  # a file removed mid-run: the OS's bare "No such file"
            if (changed := inputs.changed()) is not None:  # said first, the failure it caused after it
                said = str(error).strip().splitlines()[0] if str(error).strip() else ""
                raise EngineError(f"{changed} {CHANGED_WHILE_READ} ({type(error).__name__}"
                                  f"{': ' + said if said else ''})") from error
            raise
        seconds = time.perf_counter() - start
        if (changed := inputs.changed()) is not None:  # the rows read may not be the bytes hashed: keep none
            raise EngineError(f"{changed} {CHANGED_WHILE_READ}")
        # Ray's workers read the weights mapped from the file: one rewritten in place while they ran may have
        # mixed into rows kept under the old fingerprint (the driver's loaded copy is its own)
        if bundle.changed_on_disk():
            raise EngineError(f"the model's files in {bundle.folder} changed while the job ran; run it again on the "
                              "model as it is now")
        entries, rows, skipped, nodes = _check_rows(shards, inputs)
        # Described before the move, then the manifest right after it: an interrupt in between would leave rows
        # with no manifest, a folder later runs refuse. Names relative to .partial are those relative to folder.
        shard_names = tuple(sorted(str(p.relative_to(partial)) for p in shards.glob("*.parquet")))
        columns = tuple(pa_dataset.dataset(str(shards), format="parquet").schema.names)
        shard_rows, shard_sha256 = describe_shards(partial, shard_names)  # checked on every open
        final = folder / ROWS
        shutil.rmtree(final, ignore_errors=True)
        os.replace(shards, final)
        manifest = Manifest(
            kind=job.kind,
            model=bundle.name,
            model_fingerprint=fingerprint,
            input_spec=inputs.spec,
            input_hash=inputs.content_hash,
            files=entries,
            rows=rows,
            skipped=skipped,
            label_names=tuple(bundle.label_names),
            text_column=text_column,
            label_column=label_column,
            extra_columns=tuple(extra_columns),
            options=job.keyed(),
            run_key=key,
            engine=engine,
            workers=workers,
            nodes=nodes,
            shards=shard_names,
            columns=columns,
            seconds=seconds,
            labels_by_id=labels_by_id,
            text_column_guessed=guessed,
            shard_rows=shard_rows,
            shard_sha256=shard_sha256,
        )
        write_manifest(folder, manifest)
        return read_manifest(folder), False  # as every later reader sees it (JSON lists, not tuples)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        if not (folder / MANIFEST).exists():  # failed: rows moved in without their manifest are no results either
            shutil.rmtree(folder / ROWS, ignore_errors=True)  # (no finished folder reaches here: reused above)
            remove_made(created)


def _shared_columns(
    inputs: InputSet, job: JobOptions, label_names, quote_contents: bool
) -> tuple[str, str, tuple[str, ...], bool, bool]:
    """(text column, label column, extra columns, labels by id, text column guessed) of every input file;
    DatasetError naming the first file whose columns differ from the first readable file's (the manifest and the
    results have one set of columns). Opening a file also checks its encoding and header, so a bad shard fails
    here, before any engine starts. "Labels by id": some file's integer labels are read as ids into the model's
    label names, judged on the rows each file opens with (the reader's sample), so results folders carry the note
    a file read by the app gets (data.labelled.label_id_note); so too whether the text column was guessed
    (text_column_note).

    The first file that names its columns (given, or guessed from its rows) names them for all: an empty shard
    (no bytes, a header only) has no rows to guess a text column from, and is read with the others' columns."""
    found: tuple[str, str, tuple[str, ...]] | None = None
    source: Path | None = None
    several = len(inputs.files) > 1
    waiting: list[tuple[Path, DatasetError]] = []  # files that could not name their columns before one did
    by_id = guessed = False

    def columns_of(path: Path, use_found: bool = True) -> tuple[str, str, tuple[str, ...]]:
        nonlocal by_id, guessed
        with iter_rows(
            path,
            text_column=job.text_column or (found[0] if found and use_found else None),
            label_column=job.label_column or (found[1] if found and use_found else None),
            label_names=label_names,
            quote_contents=quote_contents,
            allow_empty=several,
        ) as stream:
            by_id = by_id or stream.labels_by_id
            if found is None:  # the file that names the columns for all: did it guess the text one?
                guessed = stream.text_column_guessed
            return stream.text_column, stream.label_column, tuple(stream.extra_columns)

    def check(path: Path, columns: tuple[str, str, tuple[str, ...]]) -> None:
        assert found is not None and source is not None
        if columns[:2] == found[:2] and set(columns[2]) == set(found[2]):  # the order of the others is free
            return
        if not quote_contents:  # never the contents of a file the caller may not read, columns included
            raise DatasetError(f"{inputs.spec}: {path} has other columns than {source}; give shards with the same "
                               "columns")
        raise DatasetError(
            f"{inputs.spec}: {path} has other columns ({_show_columns(columns)}) than {source} "
            f"({_show_columns(found)}); give shards with the same columns"
        )

    for path, size in zip(inputs.files, inputs.sizes, strict=True):
        if several and size == 0:  # an empty shard: no columns to compare, no rows to read
            continue
        try:
            columns = columns_of(path)
        except DatasetError as error:
            if several and found is None:  # perhaps a header-only shard: try again once a file names them
                waiting.append((path, error))
                continue
            if found is not None:  # read with the first file's columns, which it lacks: its own, if it names
                try:  # them, say "other columns" (the reader's words advised leaving unset a column never set)
                    check(path, columns_of(path, use_found=False))
                except DatasetError as other:
                    if "other columns" in str(other):
                        raise other from None
            raise
        if found is None:
            found, source = columns, path
            for earlier, _ in waiting:
                check(earlier, columns_of(earlier))
            waiting.clear()
        else:
            check(path, columns)
    if found is None:
        if waiting:
            raise waiting[0][1]
        raise DatasetError(f"{inputs.spec}: no usable rows (all {len(inputs.files)} files are empty)")
    return (*found, by_id, guessed)


def _as_recorded(
    folder: Path, job: JobOptions, inputs: InputSet, fingerprint: str, label_names, quote_contents: bool
) -> JobOptions:
    """The job as `folder`'s finished run recorded it when the two differ only in how they named the columns and
    read the same ones: `--text-column text` where that run found "text" itself (or the reverse) reads the same
    rows, and was refused as "another run". Any other job is returned as it is (prepare_folder says what differs)."""
    try:
        manifest = read_manifest(folder)
    except (ResultsError, OSError):  # no results there (or damaged ones): prepare_folder says so
        return job
    recorded = replace(job, text_column=manifest.options.get("text_column"),
                       label_column=manifest.options.get("label_column"))
    if recorded == job or run_key(job.kind, fingerprint, inputs.content_hash, recorded.keyed()) != manifest.run_key:
        return job
    try:
        text_column, label_column, *_ = _shared_columns(inputs, job, label_names, quote_contents)
    except DatasetError:  # the run fails as it would in an empty folder
        return job
    return recorded if (text_column, label_column) == (manifest.text_column, manifest.label_column) else job


def _show_columns(columns: tuple[str, str, tuple[str, ...]]) -> str:
    text, label, extra = columns
    return f"text {text!r}, label {label!r}, others: {', '.join(map(repr, extra)) if extra else 'none'}"


def _run_local(
    bundle: ModelBundle,
    inputs: InputSet,
    job: JobOptions,
    reader: ReaderOptions,
    shards: Path,
    names: tuple[str, ...],
    progress: RowsDone | None,
) -> None:
    writer: pq.ParquetWriter | None = None
    done = 0
    total = 0
    if progress:  # counted first so the bar has a total and an ETA: about 0.25 s per 70,000 rows, against minutes
        total = sum(count_rows(path, reader) for path in inputs.files)
        progress(0, total)
    try:
        for index, path in enumerate(inputs.files):
            for block in read_blocks(index, path, reader):
                try:
                    table = process_block(bundle, job, block, names)
                except ShardError as error:
                    raise EngineError(str(error)) from error
                if writer is None:
                    writer = pq.ParquetWriter(shards / "part-00000.parquet", table.schema)
                writer.write_table(table)
                done += block.num_rows
                if progress:
                    progress(done, total)
    finally:
        if writer is not None:
            writer.close()


def say(line: str) -> None:
    """A line for the user on stderr, as the run goes (the CLI's notes are printed the same way)."""
    print(line, file=sys.stderr, flush=True)


CHANGED_WHILE_READ = "changed (or was removed) while the job read it; run it again on the file as it is now"
NO_CLUSTER = "Could not find any running Ray instance"  # Ray's words for --ray-address auto with none running


def connect(address: str | None, workers: int) -> None:
    """Join the cluster at `address`, or start a local Ray sized for `workers` actors plus the read tasks."""
    try:
        import ray
    except ImportError as error:  # pinned in requirements.txt; a trimmed install may lack it
        raise EngineError("--engine ray needs Ray: pip install -r requirements.txt") from error
    if ray.is_initialized():
        return
    if address is not None:
        _check_reachable(address)
    else:
        note = check_local_workers(workers, os.cpu_count() or 1)  # EngineError for far more than the CPUs
    own_sigterm = signal.getsignal(signal.SIGTERM)
    try:
        if address is None:
            if note is not None:
                say(note)
            # A local Ray turns token authentication on by default and says so on stderr on every run: keep the
            # default, not the notice (the cluster is this process's own, on this machine).
            with _quiet_logger("ray._private.authentication.authentication_token_setup"):
                # Logical CPUs: one per actor and one for the read tasks, else reads wait on actors that wait on
                # reads.
                # address="local": a Ray of its own, never the cluster `ray start` (or a dead one's leftover
                # /tmp/ray/ray_current_cluster, or RAY_ADDRESS) names, which refused num_cpus ("When connecting to
                # an existing cluster, num_cpus and num_gpus must not be provided")
                ray.init(address="local", num_cpus=workers + 1, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
        else:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    except (OSError, RuntimeError, ValueError) as error:  # OSError: its temp folder unusable (RAY_TMPDIR a file)
        if NO_CLUSTER in str(error):  # Ray's advice names its own --address flag, not this command's option
            raise EngineError(f"--ray-address {address}: no running Ray cluster was found; start one (`ray start "
                              "--head`) and give --ray-address HOST:PORT, or leave --ray-address out for a local "
                              "Ray") from error
        where = f"the Ray cluster at {address}" if address is not None else "a local Ray on this machine"
        # `ray start --head` requires its token, which a driver sends only in token mode: Ray says no more than
        # "Failed to connect" (its Unauthenticated lines go to the log), so the likely cause is said here
        # Any HTTP/2 server passes _check_speaks_grpc (a proxy, Ray Client's port 10001): the wrong port is said
        # as likely as the token
        token = ("; is this the head node's GCS address (`ray start --head` prints it; not Ray Client's port "
                 "10001)? If it is, and the head node holds a Ray token (RAY_AUTH_TOKEN, or ~/.ray/auth_token, which "
                 "any local Ray run there writes), it requires it: set RAY_AUTH_MODE=token here, with the same token "
                 "(`ray get-auth-token` on the head node prints it)"
                 if address is not None and not os.environ.get("RAY_AUTH_MODE") and isinstance(error, ConnectionError)
                 else "")
        raise EngineError(f"cannot start or join {where}: {error}{token}") from error
    finally:
        # Ray's core worker installs a failure handler for SIGTERM that prints a stack dump and kills the process;
        # the command's own (explainer/__main__.py: unwind, clean up, one line) is put back
        if callable(own_sigterm) and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, own_sigterm)


LOCAL_WORKERS_PER_CPU = 4  # past this many per CPU, a local Ray is refused: --workers 1000 took 7.9 GB in a minute


def check_local_workers(workers: int, cpus: int) -> str | None:
    """The note for more --workers than this machine has CPUs, on a local Ray (None: no more): the local Ray is
    sized for them, so the cluster-CPU note of _run_ray never fired (5 actors on 2 cores took 3 GB, unsaid).
    EngineError past LOCAL_WORKERS_PER_CPU per CPU: each is a process holding the model, all started at once."""
    if workers <= cpus:
        return None
    if workers > LOCAL_WORKERS_PER_CPU * cpus:
        raise EngineError(f"--workers {workers} on a local Ray would start {workers} processes on this machine's "
                          f"{cpus} CPUs, each holding its own copy of the model: give at most "
                          f"{LOCAL_WORKERS_PER_CPU * cpus} (as many as CPUs is usually as fast), or join a cluster "
                          "with --ray-address")
    return (f"note: --workers {workers} on a local Ray: this machine has {cpus} CPUs and each worker holds its own "
            "copy of the model; they share the CPUs (as many workers as CPUs is usually as fast)")


def _check_reachable(address: str) -> None:
    """EngineError unless something accepts a TCP connection at the address within CONNECT_SECONDS. Ray itself
    retries an unreachable address for many minutes (and ignores Ctrl-C meanwhile)."""
    if address.startswith("ray://") and importlib.util.find_spec("grpc") is None:
        raise EngineError(
            f"cannot use the Ray cluster at {address}: Ray Client (ray://) is not installed here; give the head "
            "node's address as HOST:PORT (its GCS port, 6379 unless changed) or auto on a node of the cluster"
        )
    if not address.strip():
        raise EngineError("--ray-address is empty: give the head node's HOST:PORT or auto")
    if address.startswith(("http://", "https://")):  # the dashboard's address, pasted
        raise EngineError(f"--ray-address {address!r}: give the head node's HOST:PORT (its GCS port, 6379 unless "
                          "changed) or auto on a node of the cluster, not a web address such as the dashboard's")
    target = address.removeprefix("ray://")
    if target == "auto":  # the address `ray start` left on this machine, if any; Ray reports a missing one itself
        try:
            from ray._private.services import canonicalize_bootstrap_address

            target = canonicalize_bootstrap_address(target) or target
        except Exception:  # noqa: BLE001 - a private helper: without it, Ray's own connect says what is wrong
            return
        # an address the user never typed (Ray also turns 127.0.0.1 into this node's own address): say its source
        source = f"RAY_ADDRESS={os.environ['RAY_ADDRESS']}" if os.environ.get("RAY_ADDRESS") else (
            "the address `ray start` left on this machine")
        address = f"auto ({source}, tried as {target})"
    host, colon, port = target.rpartition(":")
    if not colon or not port.isdigit():
        if target not in ("auto", "local"):  # "Invalid address format: localhost" said nothing of the form wanted
            port_said = ("ray://HOST:PORT (Ray Client's port, 10001 unless changed)" if address.startswith("ray://")
                         else "HOST:PORT (its GCS port, 6379 unless changed)")
            raise EngineError(f"--ray-address {address}: give the head node's {port_said} or auto on a node of the "
                              "cluster")
        return  # Ray's own words for these
    if not 0 < int(port) < 65536:
        raise EngineError(f"--ray-address {address}: {port} is not a port (1 to 65535)")
    host = host.strip("[]") or "127.0.0.1"
    try:
        connection = socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise EngineError(
            f"cannot reach the Ray cluster at {address}: nothing accepted a connection to {host}:{port} within "
            f"{CONNECT_SECONDS} s ({reason}); is the head node up, and is this its GCS address (ray start --head "
            "prints it)?"
        ) from error
    with connection:
        if os.environ.get("RAY_USE_TLS", "0").lower() in ("0", "false", ""):  # TLS: Ray's own connect checks it
            _check_speaks_grpc(connection, address, f"{host}:{port}")


# What a gRPC server (Ray's GCS, or its Ray Client server) answers first: HTTP/2's client preface and an empty
# SETTINGS frame get a SETTINGS frame (frame type 4, the fourth byte of its 9-byte header) back.
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def _check_speaks_grpc(connection: socket.socket, address: str, where: str) -> None:
    """EngineError unless what accepted the connection answers as a gRPC server within CONNECT_SECONDS: a port that
    accepts and stays silent (another service, a proxy) kept ray.init retrying for minutes, deaf to Ctrl-C."""
    header = b""
    closed = False  # the other end closed the connection (or reset it) rather than stay silent
    try:
        connection.settimeout(CONNECT_SECONDS)
        connection.sendall(HTTP2_PREFACE)
        while len(header) < 9:
            chunk = connection.recv(9 - len(header))
            if not chunk:
                closed = True
                break
            header += chunk
    except OSError as error:
        closed = isinstance(error, ConnectionError)  # said below; a timeout: no answer
    if len(header) < 9 or header[3] != 4:
        said = ("answered, but not as a Ray cluster does (gRPC)" if header else
                "accepted a connection, then closed it without answering" if closed else
                f"accepted a connection but did not answer within {CONNECT_SECONDS} s")
        raise EngineError(f"cannot use the Ray cluster at {address}: {where} {said}; is this the head node's GCS "
                          "address (ray start --head prints it)?")


@contextmanager
def _quiet_logger(name: str, level: int = logging.ERROR) -> Iterator[None]:
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


# Ray Data's warning when every CPU is taken at the moment it looks: here the actors hold theirs by design (one
# each, started before the first block), and it came on every run, just before "Data sink Parquet finished". A
# cluster that cannot place the actors is said by _run_ray's own note and its ACTOR_START_SECONDS timeout.
NO_FREE_CPU_WARNING = "does not have any available CPUs"


class _ConsoleQuiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR and NO_FREE_CPU_WARNING not in record.getMessage()


@contextmanager
def _quiet_ray_data_errors() -> Iterator[None]:
    """Keep Ray Data's own report of a failed task (error records with the task's tracebacks, 150 lines and
    more) off the console while the dataset runs: the EngineError it becomes says the same in one line. Ray's
    log files in the session folder keep them. Its false "will hang" warning goes too (NO_FREE_CPU_WARNING)."""
    quiet = _ConsoleQuiet()
    handlers = [
        h for h in logging.getLogger("ray.data").handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)


def _run_ray(
    bundle: ModelBundle,
    fingerprint: str,
    inputs: InputSet,
    job: JobOptions,
    reader: ReaderOptions,
    shards: Path,
    names: tuple[str, ...],
    options: RayOptions,
    show_progress: bool = False,
) -> None:
    connect(options.address, options.workers)
    import ray
    import ray.data

    cpus = float(ray.cluster_resources().get("CPU", 0.0))
    if options.workers > cpus:  # Ray waits for CPUs to free up or nodes to join (an autoscaler's): said, not silent
        say(f"note: the Ray cluster has {cpus:g} CPUs in all and --workers {options.workers} needs one each: the run "
            f"waits up to {ACTOR_START_SECONDS} s for nodes to join, then stops")

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = show_progress  # Ray Data's own progress lines on stderr
    # Start every actor before the first block is read: otherwise the first actor up takes the blocks while the
    # others load the model, and read tasks can take the CPUs the actors wait for. A cluster that cannot place
    # them all fails with a message instead of running on fewer workers than asked.
    context.wait_for_min_actors_s = ACTOR_START_SECONDS
    # One read task per file, its blocks left whole, as the local engine runs them: Ray may split read output into
    # more blocks than tasks when the cluster's parallelism is higher (a 2-row block failed as "lines 2-2", the local
    # engine's "lines 2-3"), and a split block is batched and padded otherwise.
    dataset = ray.data.read_datasource(ray_datasource(inputs.files, reader), override_num_blocks=len(inputs.files))
    # Ray's read merges what a read task yields into blocks of up to DataContext.target_max_block_size (128 MiB):
    # a whole file was one block, run by one actor whatever --workers said, batched otherwise than the local
    # engine's blocks. Cut back into the reader's blocks (a merged block holds whole ones of one file, in order),
    # so blocks are the local engine's and are spread over the actors.
    dataset = dataset.repartition(target_num_rows_per_block=reader.block_rows)
    dataset = dataset.map_batches(
        BlockWorker,
        fn_constructor_kwargs={
            "model": model_reference(bundle),
            "fingerprint": fingerprint,
            "job": job,
            "files": names,
            "threads": options.threads,
        },
        batch_size=None,  # a read block (explainer.scale.reading.BLOCK_ROWS rows) is one unit of work
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=options.workers),
        num_cpus=1,  # Ray Data's default restarts an actor that dies and retries its block (max_restarts=-1)
    )
    try:
        with _quiet_ray_data_errors(), warnings.catch_warnings():
            # Data of fewer blocks (BLOCK_ROWS rows of one file) than --workers keeps some actors idle: Ray warns
            # to raise `override_num_blocks`, which only splits a block the local engine runs whole
            warnings.filterwarnings("ignore", message="The minimum number of concurrent actors", category=UserWarning)
            dataset.write_parquet(str(shards))
    except ray.exceptions.GetTimeoutError as error:
        raise EngineError(
            f"Ray could not start {options.workers} workers within {ACTOR_START_SECONDS} s: each needs one CPU (the "
            f"cluster had {cpus:g} in all at the start, some perhaps busy); ask for fewer --workers or add nodes"
        ) from error
    except Exception as error:  # Ray wraps the worker's exception: keep its message (files and rows)
        raise EngineError(_worker_message(error)) from error
    _name_in_data_order(shards)


def _name_in_data_order(shards: Path) -> None:
    """Rename Ray's shards (`<dataset>_<uuid>_<task>-0.parquet`, numbered as blocks finished) part-00000.parquet,
    part-00001.parquet ... in the order of their first (file, line): a folder of them given again as --data (as
    the message for a results folder advises) was read, and its rows numbered, in another order than the local
    engine's part-00000.parquet. Each shard holds one block: rows of one file, in order (skipped rows, row -1, too)."""
    def first_row(path: Path) -> tuple[float, float]:
        table = pq.read_table(path, columns=["file", "line"])
        if table.num_rows == 0:
            return (float("inf"), float("inf"))
        return min(zip(table.column("file").to_pylist(), table.column("line").to_pylist()))

    ordered = sorted(shards.glob("*.parquet"), key=lambda path: (first_row(path), path.name))
    staged = [path.rename(path.with_name(f".ordering-{i:05d}.parquet")) for i, path in enumerate(ordered)]
    for i, path in enumerate(staged):
        path.rename(path.with_name(f"part-{i:05d}.parquet"))


def _worker_message(error: BaseException) -> str:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        if isinstance(current, ShardError):
            return str(current)
        current = current.__cause__ or current.__context__
    text = str(error)
    marker = "ShardError: "
    if marker in text:
        return text[text.rindex(marker) + len(marker) :].strip().splitlines()[0]
    if "DatasetError: " in text:
        return text[text.rindex("DatasetError: ") + len("DatasetError: ") :].strip().splitlines()[0]
    return f"the Ray job failed: {type(error).__name__}: {text.strip().splitlines()[-1] if text.strip() else ''}"


def _check_rows(shards: Path, inputs: InputSet) -> tuple[tuple[FileEntry, ...], int, int, int]:
    """Per-file counts, total rows, skipped rows and nodes; ResultsError unless every file's used rows are
    0..n-1, each exactly once (nothing dropped, nothing duplicated by a retried block)."""
    among = f" in any of its {len(inputs.files)} files" if len(inputs.files) > 1 else ""
    if not any(shards.glob("*.parquet")):  # every file was an empty shard: not one block was read
        raise DatasetError(f"{inputs.spec}: no usable rows{among}")
    table = pa_dataset.dataset(str(shards), format="parquet").to_table(columns=["file", "row", "problem", "node"])
    files = table.column("file").to_numpy()
    rows = table.column("row").to_numpy()
    skipped_mask = table.column("problem").is_valid().to_numpy(zero_copy_only=False)
    entries = []
    for index, path in enumerate(inputs.files):
        mine = files == index
        used = rows[mine & ~skipped_mask]
        if problem := check_row_ids(used):
            raise ResultsError(f"{path}: the run's output does not hold every row exactly once ({problem}): nothing "
                               "was written")
        entries.append(
            FileEntry(
                path=str(path),
                sha256=inputs.hashes[index],
                bytes=inputs.sizes[index],
                rows=len(used),
                skipped=int((mine & skipped_mask).sum()),
            )
        )
    nodes = len(set(table.column("node").to_pylist()))
    total = sum(e.rows for e in entries)
    if total == 0:
        raise DatasetError(f"{inputs.spec}: no usable rows{among}")
    return tuple(entries), total, int(skipped_mask.sum()), nodes
