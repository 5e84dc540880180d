"""`python -m explainer.evaluate --model DIR --data FILE [--beacon-threshold TAU] --json`

Batch-predict a labelled file (CSV, TSV or JSONL) and print accuracy, macro-F1, compute skipped by the
activation beacons, throughput and, for ThoughtBeacon models, marker statistics.
"""

from __future__ import annotations

import argparse
import sys

from explainer.cli_support import fail, make_module_callable, print_json
from explainer.datasets import DatasetError, read_dataset
from explainer.evaluation import evaluate
from explainer.loading import ModelLoadError, load_model

make_module_callable(__name__, evaluate)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m explainer.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="shipped model, local folder or hub id (default: app default)")
    parser.add_argument("--data", required=True, help="labelled CSV, TSV or JSONL file")
    parser.add_argument("--text-column", default=None)
    parser.add_argument("--label-column", default=None)
    parser.add_argument("--beacon-threshold", type=float, default=None, help="tau (default: the model's own)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", action="store_true", help="print JSON (the default and only format)")
    parser.add_argument("--sweep-tau", action="store_true", help="accuracy vs compute over tau 0..1 (cached)")
    args = parser.parse_args(argv)
    try:
        bundle = load_model(args.model)
        data = read_dataset(
            args.data, text_column=args.text_column, label_column=args.label_column, label_names=bundle.label_names
        )
    except (ModelLoadError, DatasetError, OSError) as error:
        fail(str(error))
    for line, reason in data.problems[:20]:
        print(f"skipped line {line}: {reason}", file=sys.stderr)
    from tqdm.auto import tqdm

    if args.sweep_tau:
        _sweep_tau(bundle, data, args.batch_size, tqdm)
        return
    with tqdm(total=len(data), desc="evaluating", unit="ex", file=sys.stderr) as bar:
        result = evaluate(
            bundle,
            data.texts,
            data.labels,
            beacon_threshold=args.beacon_threshold,
            batch_size=args.batch_size,
            progress=lambda done, total: bar.update(done - bar.n),
        )
    result = {"model": bundle.name, "data": str(args.data), "skipped_rows": len(data.problems), **result}
    print_json(result)


def _sweep_tau(bundle, data, batch_size: int, tqdm) -> None:
    """--sweep-tau: tau, accuracy, skip_rate, flops_saved per point (explainer.beacons.cached_sweep)."""
    from explainer.beacons import NoBeaconsError, cached_sweep

    with tqdm(desc="sweeping tau", unit="ex", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            result, was_cached = cached_sweep(bundle, data, batch_size=batch_size, progress=progress)
        except NoBeaconsError as error:
            fail(str(error))
    print_json({"model": bundle.name, "data": str(data.source), "skipped_rows": len(data.problems),
                "cached": was_cached, **result})


if __name__ == "__main__":
    main()
