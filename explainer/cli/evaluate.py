"""`python -m explainer evaluate --model A [--model B] --data FILE [--predictions-out F.csv] [--engine E --out DIR]`

Batch-predict a labelled file (CSV, TSV, JSONL or Parquet) and print accuracy, macro-F1 (over the labels that occur
as a true or a predicted label), per-class precision/recall/F1, the confusion matrix (rows true, columns
predicted), expected calibration error, compute skipped by the activation beacons, throughput and, for
ThoughtBeacon models, marker statistics. With two models: each model's figures and how often they disagree
(one right, the other wrong). Predictions are cached on disk by (model, data content hash); --no-cache recomputes.
With --out DIR (and always with --engine ray) one model's pass is written as a results folder (Parquet shards and
a manifest, explainer/scale) that the app opens; --data may then be a folder or a glob of shards.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from explainer.cli.common import (
    MODEL_HELP,
    add_allow_pickle,
    add_batch_size,
    add_data_arguments,
    as_offered,
    check_output_file,
    check_output_folder,
    describe,
    fail,
    first_line_passes,
    load_cli_data,
    load_cli_model,
    named_path,
    note_long_rows,
    note_unused_tau,
    offered_model,
    print_json,
    quote_contents,
    refuse_unrelated_file,
    refuse_unwritable_cache,
    unit_interval,
    writing_to,
)
from explainer.cli.engine_options import add_engine_arguments, check_engine_arguments, engine_summary, run_engine_job
from explainer.data.folders import written_whole

if TYPE_CHECKING:  # pandas, torch and the library load after parsing: --help and usage errors start at once
    import pandas as pd

MAX_MODELS = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m explainer evaluate", description=describe(__doc__))
    parser.add_argument(
        "--model",
        action="append",
        default=None,
        help=MODEL_HELP + "; give twice to compare two models",
    )
    add_data_arguments(parser)
    parser.add_argument("--beacon-threshold", type=unit_interval, default=None, help="tau (default: the model's own)")
    add_batch_size(parser)
    parser.add_argument("--predictions-out", default=None, type=named_path,
                        help="write per-example predictions to this CSV file")
    parser.add_argument("--no-cache", action="store_true",
                        help="recompute predictions instead of reading the cache (with --out, a folder that already "
                        "holds finished results is refused: a run into it reuses them)")
    parser.add_argument("--json", action="store_true", help="print JSON (the default and only format)")
    parser.add_argument("--sweep-tau", action="store_true", help="accuracy vs compute over tau 0..1 (cached)")
    parser.add_argument("--out", default=None, type=named_path,
                        help="write a results folder (Parquet shards + manifest.json) here")
    add_allow_pickle(parser)
    add_engine_arguments(parser)
    return parser


def _progress(desc: str, total: int | None = None):
    from tqdm.auto import tqdm

    bar = tqdm(desc=desc, total=total, unit="ex", file=sys.stderr)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    return bar, update


def _model_result(report, data_path: str, truncated_rows: int) -> dict:
    return {
        "model": report.model_name,
        "data": data_path,
        "skipped_rows": len(report.problems),
        "truncated_rows": truncated_rows,  # rows longer than the model reads: their beginning alone was judged
        **report.metrics,
        "ece": report.calibration.ece,
        "cached": report.cached,
    }


def _predictions_frame(reports: list) -> pd.DataFrame:
    """One row per example: line, text, label, then each model's prediction, confidence, correct, probabilities
    (columns suffixed with " A" / " B" when there are two models)."""
    import pandas as pd

    first = reports[0].frame
    kept = ("file", "line", "text", "label")  # file: of a folder of shards, whose lines restart in each
    frame = first[[c for c in first.columns if c in kept or c == reports[0].tag_column]].copy()
    for index, report in enumerate(reports):
        suffix = "" if len(reports) == 1 else f" {'AB'[index]}"
        per_model = report.frame.drop(columns=[c for c in frame.columns if c in report.frame.columns])
        frame = pd.concat([frame, per_model.add_suffix(suffix)], axis=1)
    return frame


def _write_predictions(out: Path, reports: list) -> None:
    """--predictions-out, written whole: a stopped run leaves the old file, not a cut one."""
    with writing_to(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        with written_whole(out) as handle:
            _predictions_frame(reports).to_csv(handle, index=False)


def _predictions_header(first: bytes) -> bool:
    """Whether a file's first line is --predictions-out's header (_predictions_frame's columns)."""
    import csv

    try:
        columns = next(csv.reader([first.decode("utf-8-sig")]))  # saved again by a spreadsheet: with a BOM
    except (UnicodeDecodeError, StopIteration, csv.Error):
        return False
    return {"line", "text", "label"} <= set(columns) and any(c.startswith("predicted") for c in columns)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    names = args.model or [None]
    if len(names) > MAX_MODELS:
        fail(f"give at most {MAX_MODELS} models (--model A --model B), got {len(names)}")
    if args.predictions_out and Path(args.predictions_out).is_dir():
        fail(f"--predictions-out {args.predictions_out} is a folder: give a file name ending in .csv")
    check_engine_arguments(args)
    if args.sweep_tau:  # the sweep sets tau itself, keeps its own cache and writes no per-example file
        given = [flag for flag, on in (("--beacon-threshold", args.beacon_threshold is not None),
                                       ("--predictions-out", bool(args.predictions_out)),
                                       ("--no-cache", args.no_cache)) if on]
        if given:
            fail(f"--sweep-tau goes without {', '.join(given)}: it runs every tau and prints one row per tau")
        if len(names) > 1:  # before either model or the data is read
            fail("--sweep-tau takes one model")
    if args.predictions_out:
        check_output_file(args.predictions_out, args.data)  # before the pass: an unwritable file fails now
        from explainer.data.labelled import EXTENSIONS

        suffix = Path(args.predictions_out).suffix.lower()
        if EXTENSIONS.get(suffix, "csv") != "csv":  # CSV under a Parquet or JSON name: every reader, --data too, failed
            fail(f"--predictions-out writes CSV: name the file .csv, not {suffix}")
        refuse_unrelated_file(Path(args.predictions_out), "--predictions-out",
                              lambda path: first_line_passes(path, _predictions_header), "not a predictions file")
    if args.out is not None:
        check_output_folder(args.out)
    if args.engine == "ray" or args.out is not None:
        _scaled(args, names)
        return
    from explainer.capture.validation import InputError
    from explainer.data.labelled import DatasetError
    from explainer.evaluation import error_report as errors
    from explainer.evaluation.compare import CompareError, compare_data

    bundles = [load_cli_model(name, args.allow_pickle) for name in names]
    for name, bundle in zip(names, bundles):
        note_unused_tau(bundle, args.beacon_threshold, "--beacon-threshold", offered_model(name))
    data = load_cli_data(bundles[0], args.data, args.text_column, args.label_column)
    if args.sweep_tau:
        from explainer.thought_beacon.beacons import has_beacons, no_beacons_said

        if not has_beacons(bundles[0]):  # before the progress bar, so the message stands on its own line
            fail(no_beacons_said(bundles[0]))
        _sweep_tau(bundles[0], data, args.batch_size, note_long_rows(bundles[0], data))
        return
    if args.no_cache:
        from explainer.evaluation.prediction_cache import forget

        for bundle in bundles:
            forget(bundle, data, args.beacon_threshold)
    bars = [_progress(as_offered(bundle.name), len(data)) for bundle in bundles]  # a demo's folder by its name
    try:
        if len(bundles) == 1:
            reports = [
                errors.analyse(
                    bundles[0],
                    data,
                    beacon_threshold=args.beacon_threshold,
                    batch_size=args.batch_size,
                    progress=bars[0][1],
                )
            ]
            comparison = None
        else:
            comparison = compare_data(
                bundles[0],
                bundles[1],
                data,
                progress_a=bars[0][1],
                progress_b=bars[1][1],
                beacon_threshold=args.beacon_threshold,
                batch_size=args.batch_size,
            )
            reports = [comparison.report_a, comparison.report_b]
    except (CompareError, DatasetError, InputError) as error:  # InputError: a row holds a token the model cannot embed
        fail(data.located(error))
    finally:
        for bar, _ in bars:
            bar.close()
    results = [_model_result(report, str(args.data), note_long_rows(bundle, data, report.frame["tokens"].to_numpy()))
               for bundle, report in zip(bundles, reports)]
    if args.predictions_out:
        _write_predictions(Path(args.predictions_out), reports)
    if comparison is None:
        payload = results[0]
    else:
        payload = {
            "data": str(args.data),
            "skipped_rows": len(data.problems),
            "models": results,
            "disagreement": comparison.counts,
        }
    if args.predictions_out:
        payload["predictions_out"] = str(args.predictions_out)
    print_json(payload)


def _sweep_tau(bundle, data, batch_size: int, truncated_rows: int) -> None:
    """--sweep-tau: tau, accuracy, skip_rate, flops_saved per point (explainer.thought_beacon.beacons.cached_sweep)."""
    from explainer.capture.validation import InputError
    from explainer.thought_beacon.beacons import NoBeaconsError, cached_sweep

    bar, progress = _progress("sweeping tau")
    try:
        result, was_cached = cached_sweep(bundle, data, batch_size=batch_size, progress=progress)
    except (NoBeaconsError, InputError) as error:
        fail(data.located(error))
    finally:
        bar.close()
    print_json(
        {
            "model": bundle.name,
            "data": str(data.source),
            "skipped_rows": len(data.problems),
            "truncated_rows": truncated_rows,
            "cached": was_cached,
            **result,
        }
    )


def _scaled(args, names: list) -> None:
    """--out / --engine ray: one model's pass into a results folder, summarised as the local run is."""
    from explainer.evaluation.error_report import analyse
    from explainer.scale.manifest import MANIFEST
    from explainer.scale.results import seed_caches, sweep
    from explainer.scale.work import JobOptions
    from explainer.thought_beacon.beacons import has_beacons, no_beacons_said, sweep_taus

    if len(names) > 1:
        fail("--out and --engine ray take one --model: run once per model (each into its own folder)")
    if args.out is None:
        fail("--engine ray needs --out DIR: the folder for the Parquet shards and the manifest")
    if args.no_cache and (Path(args.out) / MANIFEST).is_file():  # else nothing cached is read: the pass is new
        fail(f"--no-cache: {args.out} already holds finished results, which a run into it reuses rather than "
             "computes again; give another --out, or remove that folder, for a new pass")
    if not args.sweep_tau:  # the report reads the results back through the cache: said before the pass, not after
        refuse_unwritable_cache(args.out)
    bundle = load_cli_model(names[0], args.allow_pickle)
    note_unused_tau(bundle, args.beacon_threshold, "--beacon-threshold", offered_model(names[0]))
    taus: tuple[float, ...] = ()
    if args.sweep_tau:
        if not has_beacons(bundle):
            fail(no_beacons_said(bundle))
        taus = tuple(sweep_taus(float(bundle.model.config.beacon_threshold)))
    job = JobOptions(
        kind="sweep" if args.sweep_tau else "evaluate",
        beacon_threshold=args.beacon_threshold,
        batch_size=args.batch_size,
        text_column=args.text_column,
        label_column=args.label_column,
        taus=taus,
    )
    results, reused = run_engine_job(args, bundle, job, args.out, quote_contents())
    scale = engine_summary(results, reused)
    if args.sweep_tau:
        print_json(
            {
                "model": bundle.name,
                "data": str(args.data),
                "skipped_rows": results.manifest.skipped,
                # the shards' token counts: only rows read at the limit are tokenised again, not every text
                "truncated_rows": note_long_rows(bundle, results.labelled_data(),
                                                 results.used_rows(["tokens"]).column("tokens").to_numpy()),
                "cached": reused,
                **sweep(bundle, results),
                "results": scale,
            }
        )
        return
    try:
        data = seed_caches(bundle, results)
    except ValueError as error:  # ResultsError: the cache became unwritable during the pass, say
        fail(str(error))
    report = analyse(bundle, data, beacon_threshold=args.beacon_threshold, batch_size=args.batch_size)
    # "cached": the predictions came from an earlier run (this folder's), not from the pass just made; the report
    # itself always reads them back from the cache the results seeded.
    truncated = note_long_rows(bundle, data, report.frame["tokens"].to_numpy())
    payload = {**_model_result(report, str(args.data), truncated),
               "skipped_rows": results.manifest.skipped, "cached": reused, "results": scale}
    if args.predictions_out:
        _write_predictions(Path(args.predictions_out), [report])
        payload["predictions_out"] = str(args.predictions_out)
    print_json(payload)
