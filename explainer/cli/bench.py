"""Command line of the benches: `python -m explainer bench NAME [--json] [--repeats N] [--quick] [--threads N]`."""

from __future__ import annotations

import argparse
import json
import sys

from explainer.bench import NAMES, UnknownBench, run_bench
from explainer.cli.common import at_least_one, thread_count


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m explainer bench",
        description="Time our code against its reference, alternating in one run; medians reported.",
    )
    p.add_argument("name", help=f"bench to run: {', '.join(sorted(NAMES))}")
    p.add_argument("--json", action="store_true", help="print the report as JSON (default: a table)")
    p.add_argument("--repeats", type=at_least_one, default=7,
                   help="timed repetitions per side (default 7): beacons times 3x as many (its sides differ by "
                   "little), attribution at most 3 (a call takes seconds to minutes); map, scale, serve, pages and "
                   "counterfactuals time whole runs and take no repeats")
    p.add_argument("--quick", action="store_true", help="at most 3 repeats and smaller cases (for tests)")
    p.add_argument("--threads", type=thread_count, default=None,
                   help="torch.set_num_threads before running (default: torch's own, one per core)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.name not in NAMES:  # before torch: a mistyped name is refused at once
        print(f"error: {UnknownBench.for_name(args.name)}", file=sys.stderr)
        return 2
    from explainer.bench.common import BenchOptions, format_table  # torch: only once a bench runs
    from explainer.data.labelled import DatasetError

    options = BenchOptions(repeats=args.repeats, quick=args.quick, threads=args.threads)
    try:
        data = run_bench(args.name, options)  # a known name: checked above
    except DatasetError as error:  # a data file named by EXPLAINER_SST2_DEV or _TRAIN that cannot be read
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(format_table(data))
    return 0

