"""A fair, cancellable queue for the app's expensive work (every attribution method, faithfulness, the graph,
bertviz's views), shared by every session. No Streamlit here: explainer/ui/work.py ties it to the sessions.

Why: with one copy of the model for expensive sections, eight sessions' sections used to wait on its lock in
whatever order the lock handed it out, and a session that changed its text mid-run left its old sections running.
Here a few worker threads (one by default) take jobs session by session in turn (round robin: a session that
queued five jobs does not make another session's single job wait behind all five), and work nobody wants any more
is dropped or stopped.

Jobs are keyed by what they compute (the result cache's key): a session asking for work already queued or running
for another session joins that job, so identical work runs once. Each session holds one job per slot (a page
section): submitting other work in the same slot withdraws the session from the old job. A job that no session
wants any more is cancelled: a queued one never starts; a running one raises `Cancelled` at its next cancellation
point (each call of the `progress` callback it was given, and `checkpoint()` anywhere in its thread).

A waiter whose wait is interrupted (Streamlit reruns the script when the input changes) leaves its job running but
"abandoned": a rerun that asks for the same work again (a widget changed that the section does not depend on)
joins it where it is; the session's next submission of other work withdraws it at once, and so does the end of a
short grace period (`abandon_grace`) in which nobody joined it (a rerun whose results were all cached, or that
went to another page, submits nothing).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
JobProgress = Callable[[int, int], None]  # (done, total), as explainer.progress.Progress
ProgressState = tuple[int, int] | None


class Cancelled(BaseException):
    """The job was cancelled. A BaseException (like KeyboardInterrupt), so that a computation's own
    `except Exception` cannot swallow it and hand back a half-done result as if it were whole."""


def digest(value: object) -> str:
    """A short stable fingerprint of a value (for log lines that must not carry a visitor's text)."""
    return hashlib.sha1(repr(value).encode("utf-8", "replace")).hexdigest()[:10]


@dataclass(eq=False)
class _Job:
    key: Hashable
    work: Callable[[JobProgress], Any]
    label: str
    stop: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    subscribers: set[tuple[Hashable, Hashable]] = field(default_factory=set)  # (session, slot) still wanting it
    queued_for: set[Hashable] = field(default_factory=set)  # sessions whose queue holds it
    state: str = QUEUED
    value: Any = None
    error: BaseException | None = None
    error_traceback: Any = None  # the worker's, as it failed: each waiter's raise starts from it
    progress: ProgressState = None
    submitted: float = field(default_factory=time.monotonic)
    started: float | None = None


@dataclass(eq=False)
class _Subscription:
    session: Hashable
    slot: Hashable
    job: _Job
    abandoned: int = 0  # 0: wanted; else which abandonment this is (a grace timer ends only its own)


@dataclass(frozen=True)
class Finished:
    """One finished job, for the log and the tests: what it was, how it ended, how long it waited and ran."""

    label: str
    outcome: str  # done | failed | cancelled
    queued_s: float
    run_s: float  # 0 for a job cancelled before it started


_current = threading.local()  # .job: the job this worker thread is running


def checkpoint() -> None:
    """Raise `Cancelled` if the job running in this thread was asked to stop; a no-op in any other thread."""
    job = getattr(_current, "job", None)
    if job is not None and job.stop.is_set():
        raise Cancelled(job.label)


def stop_requested() -> threading.Event | None:
    """The stop flag of the job running in this thread (None outside a job)."""
    job = getattr(_current, "job", None)
    return None if job is None else job.stop


def _own_copy(error: BaseException, traceback: Any) -> BaseException:
    """`error` to raise in one waiter's thread: a copy carrying the worker's traceback. Raising the one shared
    object in every waiter grew its traceback by each waiter's frames (another session's script among them, and
    every frame's locals kept alive). An exception that cannot be copied as it is (its class builds its message from
    its arguments, and a copy would say it twice) is raised itself."""
    try:
        fresh = copy.copy(error)
    except Exception:
        fresh = error
    if fresh is not error and (type(fresh) is not type(error) or fresh.args != error.args or str(fresh) != str(error)):
        fresh = error
    if fresh is not error:
        fresh.__cause__, fresh.__context__ = error.__cause__, error.__context__
        fresh.__suppress_context__ = error.__suppress_context__
        if hasattr(error, "__notes__"):
            fresh.__notes__ = list(error.__notes__)
    return fresh.with_traceback(traceback)


class Ticket(Generic[T]):
    """One session's claim on a job: wait for its result, or give the claim up."""

    def __init__(self, queue: WorkQueue, subscription: _Subscription) -> None:
        self._queue, self._subscription = queue, subscription

    @property
    def state(self) -> str:
        return self._subscription.job.state

    @property
    def progress(self) -> ProgressState:
        return self._subscription.job.progress

    @property
    def label(self) -> str:
        return self._subscription.job.label

    def wait(self, poll: Callable[[ProgressState], None] | None = None, interval: float = 0.1) -> T:
        """The job's result (its exception re-raised; `Cancelled` if it was cancelled). `poll(progress)` is
        called every `interval` seconds while it is queued or running; an exception raised there ends the wait
        and leaves the job abandoned (see the module docstring) before it propagates."""
        job = self._subscription.job
        while not job.finished.wait(interval):
            if poll is not None:
                try:
                    poll(job.progress)
                except BaseException:
                    self.abandon()
                    raise
        if job.error is not None:
            raise _own_copy(job.error, job.error_traceback)
        return job.value

    def abandon(self) -> None:
        """Nobody waits here now: the claim is withdrawn by the session's next submission of other work, or when
        `abandon_grace` seconds pass without the session joining the job again."""
        self._queue._abandon(self._subscription)

    def withdraw(self) -> None:
        """Give the claim up now: the job is cancelled if no other session wants it."""
        self._queue._withdraw(self._subscription)


def _lower_priority(nice: int) -> None:
    """Lower this thread's CPU priority by `nice` (Linux: a thread id is accepted where a process id is). Where the
    system has no per-thread priority or refuses it, the thread keeps the process's: nothing else changes."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + nice)
    except OSError as error:
        log.warning("could not lower the work thread's priority: %s", error)


class WorkQueue:
    """`workers` threads running submitted jobs, sessions served in turn. See the module docstring."""

    def __init__(
        self,
        workers: int = 1,
        name: str = "explainer-work",
        job_context: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
        history: int = 256,
        abandon_grace: float = 5.0,
        nice: int = 0,
    ) -> None:
        """`job_context()`: entered around each job in its worker thread (e.g. cancellation points inside torch
        calls, explainer/serving/torch_cancel.py). `abandon_grace`: seconds an abandoned claim waits to be joined
        again before it is withdrawn. `nice`: how much lower than the rest of the process the workers' CPU priority
        is (Linux threads have their own; threads a worker starts, such as torch's, inherit it)."""
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.workers, self.name, self.abandon_grace, self.nice = workers, name, abandon_grace, nice
        self._abandonments = 0
        self._job_context = job_context or contextlib.nullcontext
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queues: dict[Hashable, deque[_Job]] = {}  # session -> its queued jobs, oldest first
        self._ring: deque[Hashable] = deque()  # sessions with queued jobs, next to be served first
        self._live: dict[Hashable, _Job] = {}  # key -> queued or running job computing it
        self._slots: dict[tuple[Hashable, Hashable], _Subscription] = {}
        self._running: set[_Job] = set()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self.finished: deque[Finished] = deque(maxlen=history)

    # ---- submitting ----

    def submit(
        self, session: Hashable, slot: Hashable, key: Hashable, work: Callable[[JobProgress], T], label: str = ""
    ) -> Ticket[T]:
        """Queue `work(progress)` computing `key` for `session` in `slot` (or join the job already computing
        `key`). `progress(done, total)` is the job's cancellation point and what waiters see of its progress."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"work queue {self.name} is shut down")
            for (other_session, _), sub in list(self._slots.items()):
                if other_session == session and sub.abandoned and sub.job.key != key:
                    self._unsubscribe(sub)  # the session moved on: work it walked away from is not wanted
            current = self._slots.get((session, slot))
            if current is not None and current.job.key != key:
                self._unsubscribe(current)
                current = None
            job = self._live.get(key)
            if job is None or job.stop.is_set():  # a job being stopped cannot be joined: start afresh
                job = _Job(key, work, label or digest(key))
                self._live[key] = job
            if current is None or current.job is not job:
                current = _Subscription(session, slot, job)
                self._slots[(session, slot)] = current
                job.subscribers.add((session, slot))
            current.abandoned = 0
            if job.state == QUEUED and session not in job.queued_for:
                job.queued_for.add(session)
                if session not in self._queues:
                    self._queues[session] = deque()
                    self._ring.append(session)
                self._queues[session].append(job)
                self._start_workers()
                self._wake.notify()
            return Ticket(self, current)

    def cancel(self, session: Hashable, slot: Hashable | None = None) -> int:
        """Withdraw `session` from its jobs (in `slot`, or all); returns how many claims were given up."""
        with self._lock:
            claims = [s for (owner, sl), s in self._slots.items() if owner == session and slot in (None, sl)]
            for sub in claims:
                self._unsubscribe(sub)
            return len(claims)

    def _abandon(self, subscription: _Subscription) -> None:
        with self._lock:
            if self._slots.get((subscription.session, subscription.slot)) is not subscription:
                return
            self._abandonments += 1
            subscription.abandoned = mark = self._abandonments
        timer = threading.Timer(self.abandon_grace, self._expire, args=(subscription, mark))
        timer.daemon = True
        timer.start()

    def _expire(self, subscription: _Subscription, mark: int) -> None:
        with self._lock:  # still abandoned, by the same abandonment, nobody joined it since: withdrawn
            if (
                subscription.abandoned == mark
                and self._slots.get((subscription.session, subscription.slot)) is subscription
            ):
                self._unsubscribe(subscription)

    def _withdraw(self, subscription: _Subscription) -> None:
        with self._lock:
            if self._slots.get((subscription.session, subscription.slot)) is subscription:
                self._unsubscribe(subscription)

    def _unsubscribe(self, subscription: _Subscription) -> None:  # under self._lock
        self._slots.pop((subscription.session, subscription.slot), None)
        job = subscription.job
        job.subscribers.discard((subscription.session, subscription.slot))
        if job.subscribers or job.state not in (QUEUED, RUNNING):
            return
        job.stop.set()
        if job.state == QUEUED:  # never started: finished now (the session queues skip it when they reach it)
            job.error = Cancelled(job.label)
            self._finish(job, CANCELLED)

    # ---- running ----

    def _start_workers(self) -> None:  # under self._lock
        while len(self._threads) < self.workers:
            thread = threading.Thread(target=self._serve, name=f"{self.name}-{len(self._threads)}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _next(self) -> _Job | None:  # under self._lock: round robin over the sessions with queued jobs
        while self._ring:
            session = self._ring.popleft()
            jobs = self._queues[session]
            while jobs and jobs[0].state != QUEUED:
                jobs.popleft()  # cancelled, or taken from another session's queue (a shared job)
            if not jobs:
                del self._queues[session]
                continue
            job = jobs.popleft()
            if any(j.state == QUEUED for j in jobs):
                self._ring.append(session)  # back of the line
            else:
                del self._queues[session]
            return job
        return None

    def _serve(self) -> None:
        _lower_priority(self.nice)  # before the first job: the threads torch starts for this one inherit it
        while True:
            with self._lock:
                job = self._next()
                while job is None:
                    if self._closed:
                        return
                    self._wake.wait()
                    job = self._next()
                job.state, job.started = RUNNING, time.monotonic()
                self._running.add(job)

            def progress(done: int, total: int, job: _Job = job) -> None:
                job.progress = (int(done), int(total))
                checkpoint()

            _current.job = job
            try:
                checkpoint()
                with self._job_context():
                    value = job.work(progress)
            except Cancelled as stopped:
                job.error, job.error_traceback = stopped, stopped.__traceback__
                outcome = CANCELLED if job.stop.is_set() else FAILED
            except BaseException as error:  # handed to every waiter, which re-raises its own copy
                job.error, job.error_traceback, outcome = error, error.__traceback__, FAILED
            else:
                job.value, outcome = value, DONE  # finished before a late stop request reached a checkpoint
            finally:
                _current.job = None
            with self._lock:
                self._running.discard(job)
                self._finish(job, outcome)

    def _finish(self, job: _Job, outcome: str) -> None:  # under self._lock
        now = time.monotonic()
        job.state = outcome
        if self._live.get(job.key) is job:
            del self._live[job.key]
        for claim in list(job.subscribers):
            if self._slots.get(claim) is not None and self._slots[claim].job is job:
                del self._slots[claim]
        job.subscribers.clear()
        started = job.started if job.started is not None else now
        record = Finished(job.label, outcome, started - job.submitted, now - started)
        self.finished.append(record)
        log.info("%s: %s %s after %.2f s (queued %.2f s)", self.name, job.label, outcome, record.run_s, record.queued_s)
        job.finished.set()

    # ---- looking on ----

    def snapshot(self) -> dict[str, Any]:
        """Labels of the running jobs and the number of queued ones per session."""
        with self._lock:
            queued = {str(s): sum(j.state == QUEUED for j in jobs) for s, jobs in self._queues.items()}
            return {"running": [j.label for j in self._running], "queued": {s: n for s, n in queued.items() if n}}

    def idle(self) -> bool:
        with self._lock:
            return not self._running and not self._live

    def shutdown(self, timeout: float | None = 10.0) -> None:
        """Cancel every job, stop the workers, wait for them."""
        with self._lock:
            self._closed = True
            for sub in list(self._slots.values()):
                self._unsubscribe(sub)
            self._wake.notify_all()
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)


@contextlib.contextmanager
def running_as_job(stop: threading.Event, label: str = "job") -> Iterator[None]:
    """Make `checkpoint()` in this thread watch `stop` (for code that runs work outside a WorkQueue, e.g. tests of
    a cancellation point)."""
    previous = getattr(_current, "job", None)
    _current.job = _Job(key=label, work=lambda progress: None, label=label, stop=stop)
    try:
        yield
    finally:
        _current.job = previous
