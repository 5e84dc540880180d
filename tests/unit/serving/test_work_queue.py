"""The queue of expensive work: sessions served in turn, identical work run once, work nobody wants any more
cancelled (queued: never started; running: stopped at its next progress call or torch call), errors handed to
the waiter, and no lock left held by a job that failed or was cancelled."""

from __future__ import annotations

import os
import threading
import time

import pytest
import torch

from explainer.serving.torch_cancel import CancelPoints
from explainer.serving.work_queue import CANCELLED, DONE, FAILED, Cancelled, WorkQueue

WAIT = 10.0  # seconds: generous bounds on events that take milliseconds


@pytest.fixture
def queue():
    work = WorkQueue(workers=1, name="test-work")
    yield work
    work.shutdown()


def blocker(queue: WorkQueue, session: str = "x"):
    """A job that holds the only worker until released: everything submitted meanwhile queues up."""
    running, release = threading.Event(), threading.Event()

    def hold(progress):
        running.set()
        assert release.wait(WAIT)
        return "held"

    ticket = queue.submit(session, "hold", ("hold", session), hold)
    assert running.wait(WAIT)
    return ticket, release


def recorder(order: list[str], name: str):
    def work(progress):
        order.append(name)
        return name

    return work


def test_sessions_are_served_in_turn_not_in_submission_order(queue):
    held, release = blocker(queue)
    order: list[str] = []
    a = [queue.submit("a", f"slot{i}", ("a", i), recorder(order, f"a{i}")) for i in range(5)]
    b = queue.submit("b", "slot0", ("b", 0), recorder(order, "b0"))
    release.set()
    assert [t.wait() for t in a] == [f"a{i}" for i in range(5)] and b.wait() == "b0"
    # b's single job runs after one of a's five, not after all of them
    assert order == ["a0", "b0", "a1", "a2", "a3", "a4"]
    assert held.wait() == "held"


def test_identical_work_from_two_sessions_runs_once(queue):
    _, release = blocker(queue)
    runs: list[int] = []

    def compute(progress):
        runs.append(1)
        return 42

    first = queue.submit("a", "graph", ("graph", "same text"), compute)
    second = queue.submit("b", "graph", ("graph", "same text"), compute)
    release.set()
    assert first.wait() == second.wait() == 42
    assert runs == [1]


def test_new_work_in_the_same_slot_cancels_the_queued_job(queue):
    _, release = blocker(queue)
    ran: list[str] = []
    old = queue.submit("a", "graph", ("graph", "old text"), recorder(ran, "old"))
    new = queue.submit("a", "graph", ("graph", "new text"), recorder(ran, "new"))
    assert old.state == CANCELLED  # at once, before the worker is free
    release.set()
    assert new.wait() == "new"
    with pytest.raises(Cancelled):
        old.wait()
    assert ran == ["new"]  # the old job never started
    outcomes = {f.label: (f.outcome, f.run_s) for f in queue.finished}
    assert outcomes[old.label] == (CANCELLED, 0.0)


def test_a_job_another_session_still_wants_is_not_cancelled(queue):
    _, release = blocker(queue)
    ran: list[str] = []
    mine = queue.submit("a", "graph", ("graph", "shared text"), recorder(ran, "shared"))
    theirs = queue.submit("b", "graph", ("graph", "shared text"), recorder(ran, "shared"))
    queue.submit("a", "graph", ("graph", "a's new text"), recorder(ran, "a new"))
    release.set()
    assert theirs.wait() == "shared" and mine.state == DONE
    assert sorted(ran) == ["a new", "shared"]


def long_job(started: threading.Event, lock: threading.Lock, steps: list[int]):
    """Takes `lock` like a computation takes its model's lock, and reports progress until stopped."""

    def work(progress):
        with lock:
            started.set()
            for step in range(10_000):
                steps.append(step)
                progress(step, 10_000)
                time.sleep(0.005)
        return "finished"

    return work


def test_new_work_in_the_same_slot_stops_the_running_job_at_its_next_progress_call(queue):
    started, lock, steps = threading.Event(), threading.Lock(), []
    old = queue.submit("a", "graph", ("graph", "long text"), long_job(started, lock, steps))
    assert started.wait(WAIT)
    new = queue.submit("a", "graph", ("graph", "short text"), lambda progress: "short")
    assert new.wait() == "short"
    with pytest.raises(Cancelled):
        old.wait()
    assert old.state == CANCELLED and len(steps) < 10_000
    assert lock.acquire(blocking=False), "the cancelled job left its lock held"
    lock.release()
    assert queue._lock.acquire(blocking=False)  # nor the queue's own
    queue._lock.release()


def test_an_interrupted_wait_leaves_the_job_running_until_the_session_asks_for_other_work(queue):
    """What a rerun does: the waiter's poll raises (Streamlit's RerunException); the rerun either asks for the
    same work again (and joins it where it is) or for other work (and the old job is stopped)."""
    started, lock, steps = threading.Event(), threading.Lock(), []
    key = ("graph", "long text")
    first = queue.submit("a", "graph", key, long_job(started, lock, steps))
    assert started.wait(WAIT)

    class Rerun(BaseException):
        pass

    def rerun(progress):
        raise Rerun

    with pytest.raises(Rerun):
        first.wait(rerun, interval=0.01)
    time.sleep(0.1)
    assert first.state == "running"  # abandoned, not cancelled
    again = queue.submit("a", "graph", key, long_job(started, lock, steps))
    assert again._subscription.job is first._subscription.job and again.state == "running"  # joined it
    with pytest.raises(Rerun):
        again.wait(rerun, interval=0.01)
    other = queue.submit("a", "bars", ("bars", "new text"), lambda progress: "bars")  # another section, new input
    assert other.wait() == "bars"
    with pytest.raises(Cancelled):
        first.wait()
    assert [f.outcome for f in queue.finished if f.label == first.label] == [CANCELLED]


def test_an_abandoned_job_nobody_joins_again_is_cancelled_after_the_grace_period():
    """A rerun whose results were all cached (or that went to another page) submits nothing: the job it walked
    away from is stopped once the grace period passes; one joined again in time is not."""
    queue = WorkQueue(workers=1, name="grace-work", abandon_grace=0.3)
    try:
        started, lock, steps = threading.Event(), threading.Lock(), []

        def walk_away(progress):
            raise KeyboardInterrupt  # any exception from the waiter's poll

        kept = queue.submit("a", "bars", ("bars", "text"), long_job(started, lock, steps))
        assert started.wait(WAIT)
        with pytest.raises(KeyboardInterrupt):
            kept.wait(walk_away, interval=0.01)
        rejoined = queue.submit("a", "bars", ("bars", "text"), long_job(started, lock, steps))  # within the grace
        time.sleep(0.6)
        assert rejoined.state == "running"
        with pytest.raises(KeyboardInterrupt):
            rejoined.wait(walk_away, interval=0.01)
        with pytest.raises(Cancelled):
            rejoined.wait()  # nobody came back: stopped after 0.3 s
        assert lock.acquire(blocking=False)
        lock.release()
    finally:
        queue.shutdown()


def test_a_stopped_session_withdraws_its_work(queue):
    started, lock, steps = threading.Event(), threading.Lock(), []
    ticket = queue.submit("a", "graph", ("graph", "text"), long_job(started, lock, steps))
    assert started.wait(WAIT)
    assert queue.cancel("a") == 1
    with pytest.raises(Cancelled):
        ticket.wait()
    assert queue.idle()


def test_errors_reach_the_waiter_and_the_worker_carries_on(queue):
    lock = threading.Lock()

    def failing(progress):
        with lock:
            raise ValueError("no such label: 'neutral'")

    bad = queue.submit("a", "graph", ("graph", "bad"), failing)
    with pytest.raises(ValueError, match="neutral"):
        bad.wait()
    assert bad.state == FAILED
    assert queue.submit("b", "graph", ("graph", "good"), lambda progress: "ok").wait() == "ok"
    assert lock.acquire(blocking=False)
    lock.release()


def test_progress_reaches_the_waiter(queue):
    seen: list[tuple[int, int] | None] = []
    gate = threading.Event()

    def work(progress):
        progress(3, 8)
        assert gate.wait(WAIT)
        return "done"

    ticket = queue.submit("a", "graph", ("graph", "t"), work)

    def poll(progress):
        seen.append(progress)
        if progress == (3, 8):
            gate.set()

    assert ticket.wait(poll, interval=0.01) == "done"
    assert (3, 8) in seen


def test_a_cancelled_job_stops_inside_a_model_call_and_leaves_no_hook_lock_or_gradient(bert_bundle):
    """A single attribution method reports no progress: with CancelPoints, the torch calls inside it are the
    cancellation points. The stop arrives in the middle of the model's forward pass (a pre-hook on its second
    layer sets it), and the method's own hooks, the bundle's lock and the gradients are all gone afterwards."""
    from explainer.attribution.attributing import attribute
    from explainer.families import family_of

    queue = WorkQueue(workers=1, name="torch-work", job_context=CancelPoints)
    model = bert_bundle.model
    layer = family_of(model).blocks(model)[1]

    def count_hooks() -> int:
        return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())

    before = count_hooks()
    reached: list[bool] = []
    ticket_box: list = []

    def stop_here(module, args):
        if not reached:
            reached.append(True)
            ticket_box[0].withdraw()  # the session gives the job up while the model is running

    handle = layer.register_forward_pre_hook(stop_here)
    try:
        ticket_box.append(
            queue.submit(
                "a",
                "attribution",
                ("ig", "text"),
                lambda progress: attribute(bert_bundle, "a fine film indeed", "integrated_gradients"),
            )
        )
        with pytest.raises(Cancelled):
            ticket_box[0].wait()
    finally:
        handle.remove()
        queue.shutdown()
    assert reached and ticket_box[0].state == CANCELLED
    assert count_hooks() == before
    assert bert_bundle.lock.acquire(blocking=False)
    bert_bundle.lock.release()
    assert all(p.grad is None for p in model.parameters())


def test_cancel_points_change_no_result_and_watch_only_their_own_thread(bert_bundle):
    from explainer.attribution.attributing import attribute
    from explainer.serving.work_queue import running_as_job

    plain = attribute(bert_bundle, "a fine film indeed", "input_x_gradient").scores
    stop = threading.Event()
    with running_as_job(stop), CancelPoints():
        inside = attribute(bert_bundle, "a fine film indeed", "input_x_gradient").scores
        stop.set()
        other: list[float] = []  # another thread's torch calls pass while this thread's job is stopped
        thread = threading.Thread(target=lambda: other.append(float(torch.ones(3).sum())))
        thread.start()
        thread.join()
        with pytest.raises(Cancelled):
            torch.ones(3).sum()
    assert other == [3.0]
    assert (plain == inside).all()


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="no per-thread CPU priority on this system")
def test_workers_run_at_a_lower_cpu_priority_and_threads_they_start_inherit_it():  # as torch's OpenMP team
    niced = WorkQueue(workers=1, name="test-nice", nice=5)
    try:
        def own() -> int:
            return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

        def priorities(progress):
            seen = {own()}
            child = threading.Thread(target=lambda: seen.add(own()))
            child.start()
            child.join()
            return seen

        base = own()
        assert niced.submit("a", "nice", ("nice",), priorities).wait() == {min(base + 5, 19)}
        assert own() == base  # the caller's is untouched
    finally:
        niced.shutdown()


def test_a_job_cancelled_inside_no_grad_leaves_its_worker_with_gradients_on():
    """Grad mode belongs to the worker thread, which outlives the job: a stop raised in no_grad's exit (a torch
    call too) left every later job on that worker without gradients."""
    queue = WorkQueue(workers=1, name="grad-work", job_context=CancelPoints)
    ticket_box: list = []
    submitted = threading.Event()

    def cancelled_in_no_grad(progress):
        assert submitted.wait(WAIT)
        with torch.no_grad():
            torch.ones(3).sum()
            ticket_box[0].withdraw()
            torch.ones(3).sum()  # the stop is raised here, and no_grad's exit must still restore the mode

    try:
        ticket_box.append(queue.submit("a", "attribution", ("no_grad", "x"), cancelled_in_no_grad))
        submitted.set()
        with pytest.raises(Cancelled):
            ticket_box[0].wait()
        assert ticket_box[0].state == CANCELLED
        assert queue.submit("b", "attribution", ("mode", "y"), lambda progress: torch.is_grad_enabled()).wait()
    finally:
        queue.shutdown()


def test_each_waiter_of_a_failed_job_gets_the_workers_traceback_not_the_other_waiters_frames(queue):
    """One exception object raised in every waiter grew its traceback by each waiter's frames: a session's error
    showed another session's script (and kept its locals alive)."""
    ticket, release = blocker(queue)

    def failing(progress):
        raise ValueError("no such label: 'neutral'")

    first = queue.submit("a", "graph", ("graph", "bad"), failing)
    second = queue.submit("b", "graph", ("graph", "bad"), failing)  # joins the same job
    release.set()
    ticket.wait()
    frames: list[list[str]] = []

    def session_script(waiting) -> None:
        try:
            waiting.wait()
        except ValueError as error:
            assert "neutral" in str(error)
            names, tb = [], error.__traceback__
            while tb is not None:
                names.append(tb.tb_frame.f_code.co_name)
                tb = tb.tb_next
            frames.append(names)

    session_script(first)
    session_script(second)
    assert all(names.count("session_script") == 1 and names[-1] == "failing" for names in frames), frames


def test_a_job_error_whose_class_builds_its_message_reaches_the_waiter_as_raised(queue):
    """A copy rebuilds an exception from its args: a class that formats its argument said it twice ("bad value bad
    value 3"); such an error is raised itself."""

    class Formatted(ValueError):
        def __init__(self, value: object) -> None:
            super().__init__(f"bad value {value}")

    def failing(progress):
        error = Formatted(3)
        error.add_note("a note the worker added")
        raise error

    with pytest.raises(Formatted) as raised:
        queue.submit("a", "graph", ("graph", "fmt"), failing).wait()
    assert str(raised.value) == "bad value 3" and raised.value.__notes__ == ["a note the worker added"]

    def plain(progress):
        raise ValueError("plain")

    with pytest.raises(ValueError) as again:  # a plain one is still each waiter's own copy, as raised
        queue.submit("a", "graph", ("graph", "plain"), plain).wait()
    assert again.value.args == ("plain",) and str(again.value) == "plain"
