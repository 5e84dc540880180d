"""`python -m explainer map [--model M] --data FILE [--layer L] [--method pca|umap] --out DIR`

Map a labelled file (CSV, TSV, JSONL or Parquet) through a model: embeddings of every row from the prediction pass, one
layer's vectors scaled to length 1 (cosine geometry) and projected to 2-D, each row's nearest neighbours (cosine,
exact) and the likely-mislabelled rows. Writes DIR/points.parquet (row, line, x, y, label, prediction, correct,
confidence, tokens, text), DIR/neighbours.parquet (row, neighbours, distances) and DIR/likely_mislabelled.csv, and
prints a JSON summary whose "likely_mislabelled" lists {"row", "score", ...} by decreasing score. `row` counts the
file's data rows from 0 in file order, skipped rows included, so it indexes the file as pandas reads it (`line` is the
file line; skipped rows are reported on stderr); of a folder or glob of several files it counts the rows read, and a
`file` column names each row's file, whose lines it numbers. With
--engine ray, or for a folder or glob of files, the embedding pass runs on the engine (Ray or this process) and DIR is
also a results folder (Parquet shards + manifest) that the app opens.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from explainer.cli.common import (
    MODEL_HELP,
    add_allow_pickle,
    add_batch_size,
    add_data_arguments,
    at_least_one,
    check_output_folder,
    describe,
    fail,
    load_cli_data,
    load_cli_model,
    named_path,
    names_shards,
    note_long_rows,
    note_unused_tau,
    offered_model,
    print_json,
    progress_bar,
    random_seed,
    refuse_foreign_files,
    refuse_other_results,
    refuse_unwritable_cache,
    unit_interval,
    writing_to,
)
from explainer.cli.engine_options import add_engine_arguments, check_engine_arguments, engine_summary, run_engine_job
from explainer.data.folders import write_whole

DEFAULT_TOP = 100


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m explainer map", description=describe(__doc__))
    parser.add_argument("--model", default=None, help=MODEL_HELP)
    add_data_arguments(parser)
    parser.add_argument(
        "--layer",
        type=int,
        default=None,
        help="hidden state to map: 0 = the embedding layer, L = the last block (default: last)",
    )
    parser.add_argument(
        "--pooling",
        choices=("readout", "mean"),
        default="readout",
        help="readout (default): the family's readout position (CLS, last token); mean: the mean of the tokens",
    )
    parser.add_argument("--method", choices=("pca", "umap"), default="pca",
                        help="pca (default; instant) or umap (seeded; PCA to 50 dimensions first)")
    parser.add_argument("--neighbours", type=at_least_one, default=10, help="k nearest neighbours (default 10)")
    parser.add_argument("--seed", type=random_seed, default=0,
                        help="UMAP's random seed (default 0): the same seed gives the same map")
    parser.add_argument(
        "--top",
        type=at_least_one,
        default=DEFAULT_TOP,
        help=f"likely-mislabelled rows in the JSON summary (default {DEFAULT_TOP}; the CSV has all)",
    )
    parser.add_argument("--beacon-threshold", type=unit_interval, default=None, help="tau (default: the model's own)")
    add_batch_size(parser)
    parser.add_argument("--out", required=True, type=named_path,
                        help="folder for points.parquet, neighbours.parquet and the CSV")
    parser.add_argument("--json", action="store_true", help="print a JSON summary (the default and only format)")
    add_allow_pickle(parser)
    add_engine_arguments(parser)
    return parser


MAP_FILES = ("points.parquet", "neighbours.parquet", "likely_mislabelled.csv")  # what --out receives


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_engine_arguments(args)
    out = check_output_folder(args.out)  # before the model and the pass: a folder that cannot be written fails now
    bundle = load_cli_model(args.model, args.allow_pickle)
    note_unused_tau(bundle, args.beacon_threshold, "--beacon-threshold", offered_model(args.model))
    import pandas as pd  # pandas and the library load only now: --help and usage errors start at once

    from explainer.capture.validation import InputError
    from explainer.data.labelled import DatasetError, file_rows
    from explainer.dataset_map.embeddings import MapError, check_readout
    from explainer.dataset_map.maps import MapOptions, build_map, mislabelled_csv, resolve_layer
    from explainer.families import sizes

    if getattr(bundle.model.config, "num_hidden_layers", None):  # a config that names its blocks: checked before
        try:  # the pass, which takes minutes on a large file, not after it (build_map checks the rest)
            resolve_layer(args.layer, sizes(bundle.model.config).layers + 1)  # ALBERT's inner layers counted too
        except MapError as error:
            fail(str(error))
    if args.pooling == "readout":
        try:  # before the pass (on Ray it runs first): readout vectors need the family's readout position
            check_readout(bundle)
        except MapError as error:
            fail(str(error))
    scale = None
    files = 1  # data files read: rows are numbered within the file only when there is one
    try:
        if args.engine == "ray" or names_shards(args.data):  # the embedding pass by the engine into DIR (a folder
            # or glob of files, or Ray); the projection reads it back
            refuse_unwritable_cache(out)
            from explainer.scale.results import seed_caches
            from explainer.scale.work import JobOptions

            job = JobOptions(
                kind="map",
                beacon_threshold=args.beacon_threshold,
                batch_size=args.batch_size,
                text_column=args.text_column,
                label_column=args.label_column,
            )
            results, reused = run_engine_job(args, bundle, job, str(out), outputs=MAP_FILES)
            data = seed_caches(bundle, results)
            files = len(results.manifest.files)
            scale = engine_summary(results, reused)
        else:
            refuse_foreign_files(out, "map", MAP_FILES)
            data = load_cli_data(bundle, args.data, args.text_column, args.label_column)
            refuse_other_results(out, bundle, data)
    except (DatasetError, OSError, ValueError) as error:
        fail(str(error))
    truncated = note_long_rows(bundle, data)  # in the JSON too, as evaluate's (it was said on stderr only)
    options = MapOptions(
        layer=args.layer,
        pooling=args.pooling,
        method=args.method,
        neighbours=args.neighbours,
        seed=args.seed,
        beacon_threshold=args.beacon_threshold,
        batch_size=args.batch_size,
    )
    try:
        with progress_bar("map", "text") as progress:
            result = build_map(bundle, data, options, progress=progress)
    except (MapError, DatasetError, InputError) as error:  # InputError: a row holds a token the model cannot embed
        fail(data.located(error))
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    frame = result.frame
    named = ["file"] if "file" in frame else []  # of several files, whose lines restart in each
    points = frame[["row", *named, "line", "x", "y", "label", "predicted", "correct", "confidence", "tokens", "text"]]
    points = points.rename(columns={"predicted": "prediction"})
    # Of one file, every row number written counts its data rows (skipped ones too), so it indexes the file; of
    # several (a folder of shards, whose lines restart in each), it counts the rows read, in order.
    if files == 1:
        numbers = file_rows(frame["line"].to_numpy(), [line for line, _ in result.problems])
    else:
        numbers = np.arange(len(frame), dtype=np.int64)
    points["row"] = numbers
    neighbours = pd.DataFrame({
        "row": numbers,
        "neighbours": list(numbers[result.neighbours.indices]),  # build_map refuses rows the search cannot place
        "distances": list(result.neighbours.distances.astype(float)),
    })
    with writing_to(out):
        out.mkdir(parents=True, exist_ok=True)
        points_file, neighbours_file, mislabelled_file = (out / name for name in MAP_FILES)
        write_whole({points_file: lambda handle: points.to_parquet(handle, index=False),  # all three or none
                     neighbours_file: lambda handle: neighbours.to_parquet(handle, index=False),
                     mislabelled_file: lambda handle: handle.write(mislabelled_csv(result, numbers))})
    ranked = result.mislabelled.head(args.top)
    print_json(
        {
            "model": result.model_name,
            "data": str(args.data),
            "rows": len(frame),
            "skipped_rows": len(result.problems),
            "truncated_rows": truncated,
            "layer": result.layer,
            "layers": result.layers,
            "pooling": result.pooling,
            "method": result.method,
            "seed": result.seed,
            "neighbours": result.neighbours.k,
            "accuracy": float(frame["correct"].mean()),
            "notes": list(result.notes),
            "points": str(points_file),
            "neighbours_file": str(neighbours_file),
            "likely_mislabelled_csv": str(mislabelled_file),
            "likely_mislabelled_total": len(result.mislabelled),
            **({"results": scale} if scale else {}),
            "likely_mislabelled": [
                {
                    "row": int(numbers[r.row]),
                    "score": round(float(r.score), 6),
                    "label": r.label,
                    "predicted": r.predicted,
                    "neighbour_label": r.neighbour_label,
                    "text": r.text,
                }
                for r in ranked.itertuples(index=False)
            ],
        }
    )
    return 0
