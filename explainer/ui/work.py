"""The app's expensive work, queued fairly across sessions (explainer/serving/work_queue.py) and tied to each
session's script run.

Two queues, one worker each by default:
- MODEL_WORK: sections that run the model (every attribution method, faithfulness, the graph), on the background
  copy of the model (explainer/ui/caches.py: background()); torch calls in its jobs are cancellation points.
- VIEW_WORK: figures built from a Trace that take long on long inputs (bertviz's views): they neither wait behind
  another session's graph nor hold up anyone's first figure.
EXPLAINER_MODEL_WORKERS / EXPLAINER_VIEW_WORKERS set the workers (default 1: two CPU cores are shared with the
first figures, which are computed in the sessions' own threads, not queued); EXPLAINER_WORKER_NICE how much lower
their CPU priority is (default 0: the process's).

A script run waiting for a job keeps checking Streamlit's stop/rerun request. When the input changes, Streamlit
reruns the script: the wait ends, the job is left abandoned, and the rerun either asks for the same work again
(and joins the job where it is) or asks for other work (and the abandoned job is cancelled, mid-run if it is
running). A stopped run (the tab closed, the Stop button) withdraws its job at once. With EXPLAINER_WORK_LOG set,
every finished job is logged to stderr (label, done/failed/cancelled, seconds): labels carry a fingerprint of
the text, never the text.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from streamlit.runtime.scriptrunner_utils.exceptions import RerunException
from streamlit.runtime.scriptrunner_utils.script_run_context import get_run_yield_check, get_script_run_ctx

from explainer.serving import work_queue
from explainer.serving.torch_cancel import CancelPoints
from explainer.serving.work_queue import JobProgress, ProgressState, WorkQueue

T = TypeVar("T")

# EXPLAINER_WORKER_NICE > 0 runs the workers at a lower CPU priority than the sessions' own threads: another
# session's graph or every-method section then takes the CPU only when no first figure wants it (a niced thread
# still gets the cores when they are free). Off by default: its effect on `bench serve` is not yet established.
WORKER_NICE = int(os.environ.get("EXPLAINER_WORKER_NICE", "0"))
MODEL_WORK = WorkQueue(
    int(os.environ.get("EXPLAINER_MODEL_WORKERS", "1")), "model-work", job_context=CancelPoints, nice=WORKER_NICE
)
VIEW_WORK = WorkQueue(int(os.environ.get("EXPLAINER_VIEW_WORKERS", "1")), "view-work", nice=WORKER_NICE)
QUEUES = {"model": MODEL_WORK, "views": VIEW_WORK}
_NAME = re.compile(r"[A-Za-z_][\w.-]{0,39}")  # a method or label name, shown as is in the log

if os.environ.get("EXPLAINER_WORK_LOG"):
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(asctime)s work %(message)s"))
    work_queue.log.addHandler(_handler)
    work_queue.log.setLevel(logging.INFO)


def session_id() -> str | None:
    """The Streamlit session this thread runs a script for (None outside a script run: CLI, tests, workers)."""
    ctx = get_script_run_ctx(suppress_warning=True)
    return None if ctx is None else ctx.session_id


def label(namespace: str, args: tuple[Any, ...]) -> str:
    """What a job is, for the log: its section, its model, a fingerprint of its text, its short named choices (a
    method, a label) and a fingerprint of all its other inputs. Never the text itself."""
    if len(args) >= 2 and isinstance(args[1], str):
        named = [a for a in args[2:] if isinstance(a, str) and _NAME.fullmatch(a)]
        return " ".join(
            [
                namespace,
                f"model={args[0]}",
                f"text={work_queue.digest(args[1])}",
                *named,
                f"options={work_queue.digest(args[2:])}",
            ]
        )
    return f"{namespace} inputs={work_queue.digest(args)}"


def run(
    lane: str,
    slot: Hashable,
    key: Hashable,
    work: Callable[[JobProgress], T],
    job_label: str,
    on_progress: Callable[[int, int], None] | None = None,
) -> T:
    """Run `work` on the lane's queue for this session and wait for it in this script run; `on_progress(done,
    total)` here, in the script's thread, whenever the job reports progress (a page's progress bar)."""
    session = session_id()
    ticket = QUEUES[lane].submit(session, slot, key, work, job_label)
    yield_check = get_run_yield_check() or (lambda: None)
    shown: list[ProgressState] = [None]

    def poll(progress: ProgressState) -> None:
        if on_progress is not None and progress is not None and progress != shown[0]:
            shown[0] = progress
            on_progress(*progress)
        yield_check()  # raises Streamlit's RerunException / StopException when this run should end

    try:
        return ticket.wait(poll)
    except RerunException:
        raise  # left abandoned by wait(): the rerun joins it again or moves on (see the module docstring)
    except work_queue.Cancelled:
        raise
    except BaseException:
        # Stopped (tab closed, Stop pressed) or the page's own progress call failed: nobody here wants it now.
        with contextlib.suppress(Exception):
            ticket.withdraw()
        raise
