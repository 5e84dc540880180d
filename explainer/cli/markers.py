"""`python -m explainer markers --model M --data FILE --out DIR [--json]`: the marker dictionary of a data set.

Writes DIR/marker_dictionary.json (everything) and DIR/marker_dictionary.csv (one row per layer and marker:
share, confidence, top tokens, example contexts, direct and forced effect on each label's logit) and prints a
JSON summary. Results are cached on disk: a second run on the same model, file and options is instant. With
--engine ray the passes run on Ray (DIR then also holds the results folder: shards and manifest) and the parts
are merged into the same dictionary.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict

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
    print_json,
    progress_bar,
    quote_contents,
    refuse_foreign_files,
    refuse_other_results,
)
from explainer.cli.engine_options import add_engine_arguments, check_engine_arguments, engine_summary, run_engine_job
from explainer.thought_beacon.dictionary_options import OUTPUT_FILES, DictionaryOptions


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m explainer markers", description=describe(__doc__))
    parser.add_argument("--model", default=None, help=MODEL_HELP)
    add_data_arguments(parser)
    parser.add_argument("--out", required=True, type=named_path, help="folder for marker_dictionary.json and .csv")
    parser.add_argument("--top-tokens", type=at_least_one, default=DictionaryOptions.top_tokens,
                        help=f"tokens listed per marker, most routed first (default {DictionaryOptions.top_tokens})")
    parser.add_argument("--examples", type=at_least_one, default=DictionaryOptions.examples,
                        help=f"example contexts kept per marker (default {DictionaryOptions.examples})")
    parser.add_argument("--no-forced-effect", action="store_true", help="skip the layers x markers forced passes")
    add_batch_size(parser, DictionaryOptions.batch_size)
    parser.add_argument("--json", action="store_true", help="print JSON (the default and only format)")
    add_allow_pickle(parser)
    add_engine_arguments(parser)
    args = parser.parse_args(argv)
    check_output_folder(args.out)  # before the passes: a folder that cannot be written fails now, not at the end
    check_engine_arguments(args)
    if args.engine == "ray" or names_shards(args.data):  # a folder or glob of files: the engine reads them
        _on_ray(args)
        return
    refuse_foreign_files(args.out, "markers", OUTPUT_FILES)
    # pandas, torch and the library load only now: --help and usage errors start at once
    from explainer.capture.validation import InputError
    from explainer.thought_beacon.marker_dictionary import (
        NoMarkersError,
        cached_dictionary,
        has_markers,
        no_markers_said,
        write_outputs,
    )

    bundle = load_cli_model(args.model, args.allow_pickle)
    # read as evaluate and map read a file: the model's labels beside unknown ones, skipped rows and notes said
    data = load_cli_data(bundle, args.data, args.text_column, args.label_column)
    refuse_other_results(args.out, bundle, data)
    options = DictionaryOptions(
        top_tokens=args.top_tokens,
        examples=args.examples,
        batch_size=args.batch_size,
        forced_effect=not args.no_forced_effect,
    )
    if not has_markers(bundle):  # before the progress bar, so the message stands on its own line
        fail(no_markers_said(bundle))
    note_long_rows(bundle, data)
    try:
        with progress_bar("marker dictionary", "pass") as progress:
            dictionary, was_cached = cached_dictionary(bundle, data, options, progress=progress)
        json_path, csv_path = write_outputs(dictionary, args.out)
    except (NoMarkersError, InputError) as error:  # InputError: a row holds a token the model cannot embed
        fail(data.located(error))
    except OSError as error:
        fail(f"cannot write to {args.out}: {error}")
    _print_summary(bundle, args, dictionary, len(data.problems), was_cached, json_path, csv_path)


def _print_summary(
    bundle, args, dictionary: dict, skipped: int, cached: bool, json_path, csv_path, results: dict | None = None
) -> None:
    busiest = sorted(dictionary["entries"], key=lambda e: -e["share"])[:5]
    print_json(
        {
            "model": bundle.name,
            "data": str(args.data),
            "texts": dictionary["texts"],
            "slots": dictionary["slots"],
            "layers": dictionary["layers"],
            "markers": dictionary["markers"],
            "skipped_rows": skipped,
            "cached": cached,
            "json": str(json_path),
            "csv": str(csv_path),
            "busiest": [
                {k: e[k] for k in ("layer", "marker", "share", "mean_prob")} | {"top_tokens": e["top_tokens"][:3]}
                for e in busiest
            ],
            **({"results": results} if results else {}),
        }
    )


def _on_ray(args) -> None:
    """--engine ray, or shards on the local engine: the dictionary's passes by the engine, parts merged here."""
    from explainer.scale.results import marker_dictionary
    from explainer.scale.work import JobOptions
    from explainer.thought_beacon.marker_dictionary import has_markers, no_markers_said, write_outputs

    bundle = load_cli_model(args.model, args.allow_pickle)
    if not has_markers(bundle):
        fail(no_markers_said(bundle))
    options = DictionaryOptions(
        top_tokens=args.top_tokens,
        examples=args.examples,
        batch_size=args.batch_size,
        forced_effect=not args.no_forced_effect,
    )
    job = JobOptions(
        kind="markers",
        text_column=args.text_column,
        label_column=args.label_column,
        batch_size=args.batch_size,
        dictionary=asdict(options),
    )
    results, reused = run_engine_job(args, bundle, job, args.out, quote_contents(), outputs=OUTPUT_FILES)
    note_long_rows(bundle, results.labelled_data())  # as a file's run says it (and evaluate's and map's engine runs)
    dictionary = {**marker_dictionary(bundle, results), "data": str(args.data)}
    try:
        json_path, csv_path = write_outputs(dictionary, args.out)
    except OSError as error:
        fail(f"cannot write to {args.out}: {error}")
    _print_summary(
        bundle, args, dictionary, results.manifest.skipped, reused, json_path, csv_path, engine_summary(results, reused)
    )
