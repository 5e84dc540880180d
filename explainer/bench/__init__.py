"""Benchmarks: `python -m explainer bench NAME [--json] [--repeats N] [--quick] [--threads N]`.

Each bench is a function `(BenchOptions) -> report dict` (the report shape in docs/architecture.md, "Benchmarks",
built with `explainer.bench.common.report`). To add one, write explainer/bench/NAME.py with a `run(options)` and add
one line to BENCHES.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from explainer.bench import attention, attribution, batch, beacons, capture, causal, counterfactuals, pages, serve
from explainer.bench import map as dataset_map
from explainer.bench import scale as scale_out
from explainer.bench.common import BenchOptions

BenchFunction = Callable[[BenchOptions], dict[str, Any]]

BENCHES: dict[str, BenchFunction] = {
    "capture": capture.run,
    "beacons": beacons.run,
    "attention": attention.run,
    "batch": batch.run,
    "attribution": attribution.run,
    "counterfactuals": counterfactuals.run,
    "causal": causal.run,
    "serve": serve.run,
    "pages": pages.run,
    "map": dataset_map.run,
    "scale": scale_out.run,
}


class UnknownBench(KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def run_bench(name: str, options: BenchOptions = BenchOptions()) -> dict[str, Any]:
    """Run the bench `name`; raises UnknownBench (with the known names) when there is none."""
    bench = BENCHES.get(name)
    if bench is None:
        raise UnknownBench(f"Unknown bench '{name}'. Known benches: {', '.join(sorted(BENCHES))}")
    if options.threads is not None:
        torch.set_num_threads(options.threads)
    return bench(options)


__all__ = ["BENCHES", "BenchOptions", "UnknownBench", "run_bench"]
