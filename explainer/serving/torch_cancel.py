"""Cancellation points inside every torch call of a queued job, so that a cancelled job stops within one tensor
operation, not only at its next `progress` call (a single attribution method calls none).

A TorchFunctionMode is thread-local: entered around a job in its worker thread (WorkQueue's `job_context`), it
sees only that job's torch calls; other sessions' computations in other threads never pass through it. It changes
no result (each call is passed on unchanged) and touches no model: nothing is registered on a module, so the
shared model and its hooks are as the house rules want them. Raising there is like any exception inside a
forward or backward pass: the bundle's lock is released and hooks are removed by the `with`/`finally` blocks that
every computation already has. Grad mode is the worker thread's own and outlives the job: the calls that set it
(`no_grad`'s and `enable_grad`'s exits among them) always pass, and leaving restores the mode the job found.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from explainer.serving.work_queue import Cancelled, stop_requested

# raising in a context manager's exit left the thread with no_grad's mode for every later job on that worker
_STATE_SETTERS = frozenset({torch._C._set_grad_enabled})


class CancelPoints(TorchFunctionMode):
    """Raise `Cancelled` at the next torch call once the running job's stop flag is set."""

    def __enter__(self) -> CancelPoints:
        self._stop = stop_requested()
        self._grad_enabled = torch.is_grad_enabled()
        return super().__enter__()

    def __exit__(self, *exc: Any) -> None:
        try:
            super().__exit__(*exc)
        finally:
            torch.set_grad_enabled(self._grad_enabled)

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        if self._stop is not None and self._stop.is_set() and func not in _STATE_SETTERS:
            raise Cancelled(getattr(func, "__name__", "torch call"))
        return func(*args, **(kwargs or {}))
