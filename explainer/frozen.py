"""Read-only numpy fields for the immutable result dataclasses (Trace, Attribution, ...)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np


class FrozenArrays:
    """Mixin for a frozen dataclass: every numpy field is made read-only after construction, and again after
    unpickling (st.cache_data hands back copies whose arrays are writeable)."""

    def __post_init__(self) -> None:
        for item in fields(self):  # type: ignore[arg-type]
            value = getattr(self, item.name)
            if isinstance(value, np.ndarray):
                value.flags.writeable = False

    def __repr__(self) -> str:
        """Arrays by shape and dtype, long text and token lists cut: the dataclass repr of a Trace was 43 KB."""
        shown = ", ".join(f"{item.name}={_short(getattr(self, item.name))}" for item in fields(self)  # type: ignore[arg-type]
                          if item.repr)
        return f"{type(self).__name__}({shown})"

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)
        self.__post_init__()


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array(shape={tuple(value.shape)}, dtype={value.dtype})"
    if isinstance(value, str) and len(value) > 60:
        return f"{value[:50]!r}... ({len(value):,} characters)"
    if isinstance(value, tuple | list) and len(value) > 8:
        return f"{type(value).__name__}({', '.join(map(repr, value[:6]))}, ... {len(value):,} items)"
    return repr(value)
