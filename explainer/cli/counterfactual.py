"""`python -m explainer counterfactual [--model M] --text "..." [--target LABEL] [--max-edits N] [--method NAME]
[--swaps "good->bad,not->"] --json`: the smallest edits that flip one prediction; with --data FILE instead of
--text, a search on every row of a labelled file the model gets wrong, towards its true label.

Prints {"original": {text, label, probabilities}, "target" (null: any other label), "methods", "searched_words",
"counterfactuals": [{text, label, probabilities, edits: [{position, old, new}], edit_count, method}],
"forward_passes": N}. Positions count words as
explainer/counterfactual/words.py splits them. `--data FILE` searches every misclassified row of a labelled file
(target: its true label) and prints {"examples", "refused", "found_share", "median_edit_count",
"median_forward_passes"}, and "out" with --out (refused: rows the search could not take, not counted in the
share); `--out FILE.jsonl`
writes one line per misclassified row: its file line, text, label, then the search or its error.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from pathlib import Path

from explainer.capture.validation import InputError
from explainer.cli.common import (
    MODEL_HELP,
    NAME_FIRST,
    add_allow_pickle,
    add_column_arguments,
    at_least_one,
    check_output_file,
    demo_token_excess,
    describe,
    fail,
    first_line_passes,
    json_object,
    load_cli_data,
    load_cli_model,
    named_path,
    note_long_rows,
    offered_data_name,
    print_json,
    refuse_unrelated_file,
    text_argument,
    to_jsonable,
    within_demo_tokens,
    writing_to,
)
from explainer.counterfactual.registry import MAX_EDITS_LIMIT, METHODS
from explainer.data.folders import written_whole


def edit_limit(text: str) -> int:
    """argparse type of --max-edits: 1 to MAX_EDITS_LIMIT, as the search takes it (a file's run took 11, ran the
    whole model pass, then refused every row, exit 0, replacing the last --out)."""
    value = at_least_one(text)
    if value > MAX_EDITS_LIMIT:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_EDITS_LIMIT}, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m explainer counterfactual", description=describe(__doc__))
    parser.add_argument("--model", default=None, help=MODEL_HELP)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", type=text_argument, help="the input text")
    source.add_argument(
        "--data", type=offered_data_name,
        help="labelled CSV, TSV, JSONL or Parquet file: search its misclassified rows (under EXPLAINER_DEMO: an "
        "offered data set's name)",
    )
    parser.add_argument("--target", default=None,
                        help="label name or index to flip to (default: any other label); " + NAME_FIRST)
    parser.add_argument("--max-edits", type=edit_limit, default=3,
                        help=f"most words changed, 1 to {MAX_EDITS_LIMIT} (default 3)")
    parser.add_argument(
        "--max-candidates", type=at_least_one, default=None, help="most edited texts scored per search (default 300)"
    )
    parser.add_argument(
        "--method",
        action="append",
        choices=METHODS,
        metavar="NAME",
        help=f"generator to run: {', '.join(METHODS)} (repeatable; default: all)",
    )
    parser.add_argument("--swaps", default=None, help='extra lexicon swaps, e.g. "good->bad, not->"')
    parser.add_argument("--out", default=None, type=named_path,
                        help="--data: write one JSON line per misclassified row (its search, or why none ran) "
                        "to this file")
    add_column_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON (the default and only format)")
    add_allow_pickle(parser)
    return parser


def _search_line(first: bytes) -> bool:
    """Whether a file's first line is one of --out's: the row's text and label, then its search or why none ran."""
    line = json_object(first)
    return line is not None and {"text", "label"} <= line.keys() and ("original" in line or "error" in line)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    from explainer.counterfactual import find_counterfactuals
    from explainer.counterfactual.lexicon import parse_swaps
    from explainer.counterfactual.search import DEFAULT_MAX_CANDIDATES
    from explainer.data.labelled import DatasetError

    if args.out and args.text is not None:
        fail("--out goes with --data (one line per example); with --text the result is printed")
    columns = [flag for flag, value in (("--text-column", args.text_column), ("--label-column", args.label_column))
               if value is not None]
    if args.text is not None and columns:  # ignored in silence before
        fail(f"{' and '.join(columns)} go{'es' if len(columns) == 1 else ''} with --data (a file's columns); --text is "
             "the text itself")
    if args.out and Path(args.out).is_dir():
        fail(f"--out {args.out} is a folder: give a file name ending in .jsonl")
    if args.out:
        check_output_file(args.out, args.data)  # before the misclassification pass, not after it
        refuse_unrelated_file(Path(args.out), "--out", lambda path: first_line_passes(path, _search_line),
                              "not a counterfactual --out file")
    if args.data is not None and args.target is not None:
        fail("--target goes with --text; with --data each row's target is its true label")
    methods = tuple(args.method or METHODS)
    limits = {
        "max_edits": args.max_edits,
        "max_candidates": args.max_candidates or DEFAULT_MAX_CANDIDATES,
        "methods": methods,
    }
    try:
        swaps = parse_swaps(args.swaps)
        if swaps and "lexicon" not in methods:
            fail("--swaps feed the lexicon generator: add --method lexicon, or leave --swaps out")
        bundle = load_cli_model(args.model, args.allow_pickle)
        if args.text is not None:
            within_demo_tokens(bundle, args.text, "counterfactual searches", "attribution_tokens")  # as the pages
            search = find_counterfactuals(bundle, args.text, target=args.target, swaps=swaps, **limits)
            for note in search.notes:
                print(f"note: {note}", file=sys.stderr)
            if not search.counterfactuals:  # "counterfactuals": [] said nothing of why, or what to try
                to = f" to {search.target}" if search.target else ""
                swaps_too = ", or --swaps" if "lexicon" in methods else ""
                print(f"note: no edit of at most {args.max_edits} words flipped the prediction{to} in "
                      f"{search.forward_passes} forward passes; a larger --max-edits or --max-candidates (default "
                      f"{DEFAULT_MAX_CANDIDATES}){swaps_too}, may find one", file=sys.stderr)
            print_json(search.as_dict())
            return
        _run_data(bundle, args, swaps, limits)
    except (InputError, DatasetError) as error:
        fail(str(error))


def _run_data(bundle, args, swaps, limits: dict) -> None:
    from explainer.counterfactual.dataset import (
        example_line,
        misclassified,
        misclassified_indices,
        row_place,
        search_each,
        summary,
    )

    data = load_cli_data(bundle, args.data, args.text_column, args.label_column)
    note_long_rows(bundle, data)
    try:
        indices = misclassified_indices(bundle, data)
    except InputError as error:  # a row holds a token the model cannot embed: named by its line
        fail(data.located(error))
    rows = misclassified(bundle, data, indices)
    print(f"{len(rows)} misclassified of {len(data)} rows", file=sys.stderr)
    examples = []
    out = Path(args.out) if args.out else None
    with writing_to(out or "."):
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
        with written_whole(out) if out is not None else nullcontext() as handle:
            def over_limit(text: str) -> str | None:  # each row held to the demo's limit, as --text is
                return demo_token_excess(bundle, text, "counterfactual searches", "attribution_tokens")

            searches = search_each(bundle, rows, swaps=swaps, refuse=over_limit, **limits)
            for index, example in zip(indices, searches, strict=True):  # one search per row, in order
                examples.append(example)
                if handle is not None:
                    line = {**row_place(data, index), **example_line(example)}
                    handle.write(json.dumps(to_jsonable(line), ensure_ascii=False) + "\n")
    payload = summary(examples, limits["max_edits"])
    if out is not None:
        payload["out"] = str(out)
    print_json(payload)
