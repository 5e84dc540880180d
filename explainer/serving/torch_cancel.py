"""Cancellation points inside every torch call of a queued job, so that a cancelled job stops within one tensor
operation, not only at its next `progress` call (a single attribution method calls none).

A TorchFunctionMode is thread-local: entered around a job in its worker thread (WorkQueue's `job_context`), it
sees only that job's torch calls; other sessions' computations in other threads never pass through it. It changes
no result (each call is passed on unchanged) and touches no model: nothing is registered on a module, so the
shared model and its hooks are as the house rules want them. Raising there is like any exception inside a
forward or backward pass: the bundle's lock is released and hooks are removed by the `with`/`finally` blocks that
every computation already has.
"""

from __future__ import annotations

from typing import Any

from torch.overrides import TorchFunctionMode

from explainer.serving.work_queue import Cancelled, stop_requested


class CancelPoints(TorchFunctionMode):
    """Raise `Cancelled` at the next torch call once the running job's stop flag is set."""

    def __enter__(self) -> CancelPoints:
        self._stop = stop_requested()
        return super().__enter__()

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        if self._stop is not None and self._stop.is_set():
            raise Cancelled(getattr(func, "__name__", "torch call"))
        return func(*args, **(kwargs or {}))
