"""`python -m explainer ablate [--model M] --text "..." [--mode mean|zero] --json`: ablate every head of a model
on one text.

Prints the change of the target logit with each head removed ([layers][heads]), with each layer's MLP removed,
for ThoughtBeacon models with each layer's markers off and its gates pinned shut and open, the target, its
baseline logit and the work it took: forward passes (model calls, each one batched pass in which rows may join
mid-stack) and layer evaluations (layers run summed over batch rows).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from explainer.capture.validation import InputError
from explainer.causal.results import MODES
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
    from explainer.causal.results import Ablation


def summary(result: Ablation) -> dict[str, Any]:
    def listed(values):
        return None if values is None else values.tolist()

    return {
        "model": result.model_name,
        "architecture": result.architecture,
        "mode": result.mode,
        "reference_size": result.reference_size,
        "target": result.target_label,
        "baseline_logit": result.baseline_logit,
        "baseline_probability": result.baseline_probability,
        "heads": result.heads.tolist(),
        "head_probability": result.head_probability.tolist(),
        "mlp": listed(result.mlp),
        "marker_off": listed(result.marker_off),
        "gate_pinned": None
        if result.gate_pinned is None
        else {"shut": result.gate_pinned[0].tolist(), "open": result.gate_pinned[1].tolist()},
        "top_heads": [{"layer": layer, "head": head, "change": change} for layer, head, change in result.top_heads(5)],
        "tokens": list(result.tokens),
        "truncated": result.truncated,
        "notes": list(result.notes),
        "forward_passes": result.forward_passes,  # model calls, each one batched pass (rows may join mid-stack)
        "layer_evaluations": result.layer_evaluations,  # layers run summed over rows: / layers = single-row passes
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m explainer ablate", description=describe(__doc__))
    parser.add_argument("--model", default=None, help=MODEL_HELP)
    parser.add_argument("--text", type=text_argument, required=True, help="the input text")
    parser.add_argument(
        "--mode",
        default="mean",
        choices=MODES,
        help="mean: the head's mean output over the shipped challenge set (default); zero: zeros",
    )
    parser.add_argument("--target", default=None,
                        help="label name or index (default: the predicted label); " + NAME_FIRST)
    parser.add_argument("--json", action="store_true", help="print JSON (the default and only format)")
    add_allow_pickle(parser)
    args = parser.parse_args(argv)
    from explainer.capture.encoding import encode, typed_special_notes, unread_note
    from explainer.causal.ablation import ablate_heads

    try:
        bundle = load_cli_model(args.model, args.allow_pickle)
        within_demo_tokens(bundle, args.text, "ablation", "patching_tokens")
        result = ablate_heads(bundle, args.text, target=args.target, mode=args.mode)
    except InputError as error:
        fail(str(error))
    payload = summary(result)
    if unread := encode(bundle, args.text).unread:  # as trace --json says it (the Causal page: the sidebar's note)
        payload["notes"].append(unread_note(bundle, unread))
    payload["notes"] += typed_special_notes(bundle, args.text)  # as every page says it
    print_json(payload)
