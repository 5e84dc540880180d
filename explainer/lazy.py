"""Packages whose public names load on first use: `from explainer.causal import MODES` then imports only the
module that holds MODES, so the command line's --help and data-only tools start without torch."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, public: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: `public` maps each name to the submodule (relative to the package)
    that defines it; a name read once is stored in `namespace` (the package's globals()), so later reads skip it."""

    def __getattr__(name: str) -> Any:
        if name not in public:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{public[name]}"), name)
        namespace[name] = value
        return value

    return __getattr__
