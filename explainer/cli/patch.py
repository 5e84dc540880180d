"""`python -m explainer patch [--model M] --clean "..." --corrupted "..." --json`: activation patching from the
clean text into the corrupted one.

Prints both runs, their logit differences, the restored share of every residual-stream position, attention and
MLP write per (layer, position) and every head (null where a token has no partner), the tokens and their
alignment, and the work it took: forward passes (model calls, each one batched pass in which rows may join
mid-stack) and layer evaluations (layers run summed over batch rows).
"""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from explainer.capture.validation import InputError
from explainer.cli.common import (
    MODEL_HELP,
    NAME_FIRST,
    add_allow_pickle,
    describe,
    fail,
    load_cli_model,
    print_json,
    text_argument,
    within_demo_tokens,
)

if TYPE_CHECKING:  # torch and the model load in main(), after parsing: --help and usage errors start at once
    from explainer.causal.results import Patching


def _grid(values: np.ndarray | None) -> list | None:
    """Rows of floats with NaN (no partner) as null: JSON has no NaN."""
    if values is None:
        return None
    return [[None if math.isnan(v) else float(v) for v in row] for row in np.asarray(values).tolist()]


def _run(result: Patching, which: str) -> dict[str, Any]:
    logits = result.clean_logits if which == "clean" else result.corrupted_logits
    shifted = np.exp(logits - logits.max())
    return {
        "text": result.clean_text if which == "clean" else result.corrupted_text,
        "label": result.label_names[int(logits.argmax())],
        "logits": dict(zip(result.label_names, logits.tolist())),
        "probabilities": dict(zip(result.label_names, (shifted / shifted.sum()).tolist())),
    }


def summary(result: Patching) -> dict[str, Any]:
    return {
        "model": result.model_name,
        "architecture": result.architecture,
        "target": result.label_names[result.target],
        "foil": result.label_names[result.foil],
        "clean": _run(result, "clean"),
        "corrupted": _run(result, "corrupted"),
        "logit_difference": {"clean": result.logit_difference_clean, "corrupted": result.logit_difference_corrupted},
        "residual": _grid(result.residual),
        "attention": _grid(result.attention),
        "mlp": _grid(result.mlp),
        "heads": _grid(result.heads),
        "tokens": {
            "clean": list(result.clean_tokens),
            "corrupted": list(result.corrupted_tokens),
            "partners": result.partners.tolist(),
            "unpartnered_clean": list(result.unpartnered_clean),
            "unpartnered_corrupted": list(result.unpartnered_corrupted),
            "readout": result.readout,
        },
        "nothing_patched": result.nothing_patched,
        "truncated": {"clean": result.truncated[0], "corrupted": result.truncated[1]},
        "notes": list(result.notes),
        "forward_passes": result.forward_passes,  # model calls, each one batched pass (rows may join mid-stack)
        "layer_evaluations": result.layer_evaluations,  # layers run summed over rows: / layers = single-row passes
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m explainer patch", description=describe(__doc__))
    parser.add_argument("--model", default=None, help=MODEL_HELP)
    parser.add_argument("--clean", type=text_argument, required=True,
                        help="the clean text (its activations are patched in)")
    parser.add_argument("--corrupted", type=text_argument, required=True,
                        help="the corrupted text (the run that is patched)")
    parser.add_argument(
        "--target", default=None,
        help="label name or index (default: the clean prediction); what is restored is the logit difference "
        "target - foil, the foil the corrupted run's label (or, when that is the target, its strongest other); "
        + NAME_FIRST,
    )
    parser.add_argument("--json", action="store_true", help="print JSON (the default and only format)")
    add_allow_pickle(parser)
    args = parser.parse_args(argv)
    from explainer.causal.patching import patch

    try:
        bundle = load_cli_model(args.model, args.allow_pickle)
        for text in (args.clean, args.corrupted):
            within_demo_tokens(bundle, text, "patching", "patching_tokens")
        result = patch(bundle, args.clean, args.corrupted, target=args.target)
    except InputError as error:
        fail(str(error))
    print_json(summary(result))  # its notes say a typed special token in either text, as the Causal page does
