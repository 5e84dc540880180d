"""Benchmarks: `python -m explainer bench NAME [--json] [--repeats N] [--quick] [--threads N]`.

Each bench is a function `(BenchOptions) -> report dict` (the report shape in docs/architecture.md, "Benchmarks",
built with `explainer.bench.common.report`). To add one, write explainer/bench/NAME.py with a `run(options)` and add
NAME to NAMES.

Light on import: a bench's module (and torch) loads when it runs or when BENCHES is first read, so `python -m
explainer bench --help` lists NAMES without them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from explainer.bench.common import BenchOptions

BenchFunction = Callable[["BenchOptions"], dict[str, Any]]

# The benches, each explainer/bench/NAME.py's run(options); BENCHES maps these names to those functions.
NAMES: tuple[str, ...] = (
    "capture",
    "beacons",
    "attention",
    "batch",
    "attribution",
    "counterfactuals",
    "causal",
    "serve",
    "pages",
    "map",
    "scale",
)
# NAME -> its run function, built on first use (module __getattr__ below), for reading: run_bench goes by NAMES
BENCHES: dict[str, BenchFunction]


class UnknownBench(KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])

    @classmethod
    def for_name(cls, name: str) -> UnknownBench:
        return cls(f"Unknown bench '{name}'. Known benches: {', '.join(sorted(NAMES))}")


def _bench(name: str) -> BenchFunction:
    return importlib.import_module(f"explainer.bench.{name}").run


def run_bench(name: str, options: BenchOptions | None = None) -> dict[str, Any]:
    """Run the bench `name` (default options: BenchOptions()); raises UnknownBench (with the known names) when
    there is none."""
    if name not in NAMES:
        raise UnknownBench.for_name(name)
    bench = _bench(name)
    if options is None:
        from explainer.bench.common import BenchOptions

        options = BenchOptions()
    if options.threads is not None:
        import torch

        torch.set_num_threads(options.threads)
    return bench(options)


def __getattr__(name: str) -> Any:  # BENCHES and BenchOptions load on first use: they import torch
    if name == "BENCHES":
        value: Any = {bench: _bench(bench) for bench in NAMES}
    elif name == "BenchOptions":
        value = importlib.import_module("explainer.bench.common").BenchOptions
    else:
        raise AttributeError(f"module 'explainer.bench' has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = ["BENCHES", "NAMES", "BenchOptions", "UnknownBench", "run_bench"]
