"""The `--engine local|ray` options shared by the data-set commands (evaluate, map, markers), and running a job
into a results folder (explainer/scale) from them."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from explainer.cli import common
from explainer.cli.common import at_least_one, data_argument, fail, stdout_for_json_only, thread_count

WORKERS, THREADS = 2, 1  # Ray actors, and torch threads in each: two single-threaded actors fill two cores


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scale-out (explainer/scale; README: Scale out on Ray)")
    group.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: this process (default); ray: Ray Data with an actor pool, writing Parquet shards + manifest",
    )
    group.add_argument(
        "--ray-address",
        default=None,
        help="an existing cluster: its head node's HOST:PORT (the GCS address `ray start --head` prints; port "
        "6379 by default) or auto on a node of it (with --engine ray; default: start a local Ray on this machine)",
    )
    group.add_argument("--workers", type=worker_count, default=None,
                       help=f"actors, each holding the model (with --engine ray; default {WORKERS}; "
                       f"at most {MAX_WORKERS:,})")
    group.add_argument("--threads", type=thread_count, default=None,
                       help=f"torch threads per actor (with --engine ray; default {THREADS})")


MAX_WORKERS = 100_000  # past 1e14 Ray refused "Resource quantities" of 'CPU', naming no option


def worker_count(text: str) -> int:
    """argparse type of --workers: a whole number from 1 to MAX_WORKERS."""
    number = at_least_one(text)
    if number > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_WORKERS:,}, got {number}")
    return number


def check_engine_arguments(args: argparse.Namespace) -> None:
    if args.ray_address is not None and common._demo() is not None:  # the server would connect wherever it says
        fail("--ray-address is not taken under a demo: its commands run on this machine's own Ray (the operator "
             "runs cluster jobs without EXPLAINER_DEMO)")
    if args.engine == "ray" and args.ray_address is None and args.workers is not None:
        from explainer.scale.engine import EngineError, check_local_workers

        try:  # refused before the model loads; the note itself is said when the local Ray starts
            check_local_workers(args.workers, os.cpu_count() or 1)
        except EngineError as error:
            fail(str(error))
    if args.engine != "ray":
        given = [flag for flag, value in (("--ray-address", args.ray_address), ("--workers", args.workers),
                                          ("--threads", args.threads)) if value is not None]
        if given:
            fail(f"{', '.join(given)} {'needs' if len(given) == 1 else 'need'} --engine ray")


def run_engine_job(args: argparse.Namespace, bundle, job, out: str, quote: bool = True,
                   outputs: Sequence[str] = ()) -> tuple[Any, bool]:
    """(results, reused): run `job` with the chosen engine into `out` (where the command then writes `outputs`, which
    an earlier run may have left there); every failure is a one-line error."""
    from explainer.capture.validation import InputError
    from explainer.data.labelled import DatasetError
    from explainer.scale.engine import EngineError, RayOptions, run_job
    from explainer.scale.inputs import left_out_note, resolve_inputs
    from explainer.scale.manifest import ResultsError
    from explainer.scale.results import open_results

    try:
        inputs = resolve_inputs(data_argument(args.data))
    except DatasetError as error:
        fail(str(error))
    if (note := left_out_note(inputs)) is not None:
        print(f"note: {note}", file=sys.stderr)
    from tqdm.auto import tqdm

    if args.engine == "ray" and common.RUN_AS_PROGRAM:
        stdout_for_json_only()  # Ray's own messages go to stderr: the command's JSON stays alone on stdout
    bar = _LazyBar(lambda total: tqdm(desc=f"{job.kind} ({args.engine})", unit="row", total=total,
                                      file=sys.stderr, disable=args.engine == "ray"))
    try:
        manifest, reused = run_job(
            bundle,
            inputs,
            job,
            out,
            engine=args.engine,
            quote_contents=quote,
            ray_options=RayOptions(address=args.ray_address, workers=args.workers or WORKERS,
                                   threads=args.threads or THREADS),
            progress=bar.advance,
            outputs=outputs,
        )
    except (DatasetError, EngineError, ResultsError, InputError, OSError) as error:  # InputError: a tau out of 0-1
        bar.close()  # the bar's last line first, then the error under it
        if common.SIGTERM_SEEN:  # a worker's error that Ray made of our Terminated: the run was stopped, not broken
            raise common.Terminated(128 + signal.SIGTERM) from error
        if common.SIGINT_SEEN:  # likewise Ctrl+C: "interrupted", not a worker's error ("checkpoint is damaged")
            raise KeyboardInterrupt from error
        fail(str(error))
    except SystemExit as stop:
        # A SIGTERM as Ray starts or places its workers came back as Ray's own exit: its handler during ray.init
        # calls sys.exit(15), and a wait on the actor pool turns our Terminated into SystemExit(1); both ended
        # the command without a word (the folder was cleaned up all the same). Said as any other SIGTERM is.
        if not isinstance(stop, common.Terminated) and (common.SIGTERM_SEEN or stop.code == signal.SIGTERM):
            raise common.Terminated(128 + signal.SIGTERM) from stop
        raise
    finally:
        bar.close()
    if reused:
        print(f"note: {out} already holds this run's results ({manifest.rows} rows); reused them", file=sys.stderr)
    for entry in manifest.files:
        if not entry.rows:
            print(f"note: {entry.path} has no usable rows; the other files' rows are the results", file=sys.stderr)
    # the folder the run wrote: open_results expands a leading "~" (a path typed in the app), while `--out '~/r'`
    # was written as typed, to ./~/r; read back from home, another run's results there were printed as this one's
    results = open_results(Path(out).absolute())
    common.report_skipped(results.problems())  # line by line, as a file run lists them (with the file, of several)
    for note in results.notes(text_column_named=job.text_column is not None):  # as a file read directly says them
        print(f"note: {note}", file=sys.stderr)
    return results, reused


class _LazyBar:
    """A tqdm bar drawn on the engine's first report, once the rows are counted: drawn at once it would show a
    bar without a total ("0row") while the files are counted."""

    def __init__(self, make) -> None:
        self._make = make
        self._bar = None

    def advance(self, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = self._make(total)
        elif self._bar.total != total:
            self._bar.reset(total=total)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def engine_summary(results, reused: bool) -> dict[str, Any]:
    manifest = results.manifest
    return {
        "out": str(results.folder),
        "engine": manifest.engine,
        "workers": manifest.workers,
        "nodes": manifest.nodes,
        "rows": manifest.rows,
        "files": len(manifest.files),
        "reused": reused,
        "seconds": round(manifest.seconds, 3),
    }
