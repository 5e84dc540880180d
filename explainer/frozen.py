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

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)
        self.__post_init__()
