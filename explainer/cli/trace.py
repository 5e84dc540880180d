"""`python -m explainer trace [--model NAME_OR_PATH] --text "..." --json`: trace one input from the shell.

Prints the model, tokens, predicted label, probabilities, whether the text was truncated, and the shape of
every captured array.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from explainer.capture.validation import InputError, truncation_sentence, typed_special_sentence
from explainer.cli.common import MODEL_HELP, add_allow_pickle, describe, fail, load_cli_model, print_json, text_argument

if TYPE_CHECKING:  # torch and the model load in main(), after parsing: --help and usage errors start at once
    from explainer.capture.tracing import Trace


def summary(result: Trace, tokenizer=None, cuts_left_elsewhere: bool = False) -> dict[str, Any]:
    """The JSON of one trace; given the tokenizer, its notes also say which special tokens the text typed
    (`cuts_left_elsewhere`: ModelBundle's, said with a cut text)."""
    typed = result.typed_special_tokens(tokenizer) if tokenizer is not None else []
    return {
        "model": result.model_name,
        "architecture": result.architecture,
        "untrained": result.untrained,
        "tokens": list(result.tokens),
        "label": result.predicted_label,
        "probabilities": dict(zip(result.label_names, result.probabilities.tolist())),
        "truncated": result.truncated,
        "num_text_tokens": result.num_text_tokens,
        "max_length": result.max_length,
        "shapes": result.shapes(),
        # e.g. which family the per-architecture table lacks, and how to add it; a cut text in words, as patch says
        "notes": list(result.notes)
        + ([truncation_sentence(result.num_text_tokens, result.max_length, cuts_left_elsewhere=cuts_left_elsewhere)]
           if result.truncated else [])
        + ([typed_special_sentence(typed)] if typed else []),  # as every page says it
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m explainer trace", description=describe(__doc__))
    parser.add_argument("--model", default=None, help=MODEL_HELP)
    parser.add_argument("--text", type=text_argument, required=True, help="the input text")
    parser.add_argument("--json", action="store_true", help="print JSON (the default and only format)")
    add_allow_pickle(parser)
    args = parser.parse_args(argv)
    from explainer.capture.tracing import trace

    try:
        bundle = load_cli_model(args.model, args.allow_pickle)
        result = trace(bundle, args.text)
    except InputError as error:
        fail(str(error))
    print_json(summary(result, bundle.tokenizer, bundle.cuts_left_elsewhere))

