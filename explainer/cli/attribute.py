"""`python -m explainer attribute [--model M] --text "..." [--method NAME] --json`: attribute one prediction.

Prints tokens, attributions (one per token; per layer for layer_conductance), the target label and the
convergence delta where the method has one. `--method graph` prints the attribution graph's nodes and edges
(source, target, weight, heads) instead.
"""

from __future__ import annotations

import argparse
import sys

from explainer.attribution.options import BASELINES, AttributionOptions
from explainer.attribution.options import GRAPH_STEPS as DEFAULT_STEPS
from explainer.attribution.options import GRAPH_THRESHOLD as DEFAULT_THRESHOLD
from explainer.attribution.registry import METHODS, REGISTRY
from explainer.capture.validation import InputError, truncation_sentence
from explainer.cli.common import (
    MODEL_HELP,
    NAME_FIRST,
    add_allow_pickle,
    at_least_one,
    describe,
    fail,
    load_cli_model,
    print_json,
    text_argument,
    unit_interval,
    within_demo_tokens,
)

CHOICES = (*METHODS, "graph")
SAMPLES = AttributionOptions.samples


MOST_STEPS = 4096  # --steps beyond this is a typo, not a wish (IG's path points are batched forward passes)


def step_count(text: str) -> int:
    """argparse type of --steps: 1 to MOST_STEPS."""
    value = at_least_one(text)
    if value > MOST_STEPS:
        raise argparse.ArgumentTypeError(f"must be at most {MOST_STEPS}, got {value}")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m explainer attribute", description=describe(__doc__))
    parser.add_argument("--model", default=None, help=MODEL_HELP)
    parser.add_argument("--text", type=text_argument, required=True, help="the input text")
    parser.add_argument("--method", default=METHODS[0], choices=CHOICES, metavar="NAME",
                        help=f"{', '.join(CHOICES)} (default: {METHODS[0]}, as the Attribution page's)")
    parser.add_argument("--target", default=None,
                        help="label name or index to attribute (default: predicted); " + NAME_FIRST)
    parser.add_argument("--baseline", default=None, choices=BASELINES,
                        help="what replaces text tokens (default pad; not the graph's: it scales attention from 0)")
    parser.add_argument(
        "--steps", type=step_count, default=None,
        help="IG: intervals of the first grid, rounded up to even (Simpson panels span two; default: adaptive until "
        f"the error bound holds, from {AttributionOptions.steps} intervals to at most "
        f"{AttributionOptions.max_steps} path points, more if --steps asks for more); layer conductance: "
        "intervals of its first grid (default 32, doubled up to 256 until each layer is within 5%% of complete); "
        "graph: the most intervals per layer (each starts at 4 and bisects its worst panels while its error bound or a "
        f"cell's error is over 2%%; default {DEFAULT_STEPS})",
    )
    parser.add_argument("--samples", type=at_least_one, default=None,
                        help=f"LIME / KernelSHAP samples (default {SAMPLES})")
    parser.add_argument(
        "--threshold", type=unit_interval, default=None,
        help=f"graph: edges kept above this share of the strongest (default {DEFAULT_THRESHOLD})"
    )
    parser.add_argument("--json", action="store_true", help="print JSON (the default and only format)")
    add_allow_pickle(parser)
    args = parser.parse_args(argv)
    # torch, captum and the model load only now: --help and usage errors start at once
    from explainer.attribution.attributing import attribute
    from explainer.attribution.graph import GraphUnsupported, attention_attribution
    from explainer.capture.encoding import encode, typed_special_notes, unread_note

    try:
        bundle = load_cli_model(args.model, args.allow_pickle)
        if args.method == "graph":
            within_demo_tokens(bundle, args.text, "the attribution graph", "graph_tokens")
        else:
            within_demo_tokens(bundle, args.text, "attributions", "attribution_tokens")
        if args.method == "graph":
            if args.baseline is not None or args.samples is not None:
                print("note: --baseline and --samples do not apply to the graph", file=sys.stderr)
            result = attention_attribution(bundle, args.text, target=args.target, steps=args.steps or DEFAULT_STEPS)
            graph = result.graph(DEFAULT_THRESHOLD if args.threshold is None else args.threshold)
            payload = {
                "model": bundle.name,
                "method": "graph",
                "target": result.target,
                **graph.as_dict(),
                "convergence_delta": result.deltas.tolist(),
                # each layer's delta over its gap (F(x) - F(layer's attention zeroed)), the share its check holds
                # under the tolerance: the deltas alone could not be checked
                "relative_delta": result.relative_deltas.tolist(),
                # the sum of each layer's |panel errors| over its gap: what its refinement held under the tolerance
                "relative_error_bound": result.relative_error_bounds.tolist(),
                "steps": result.steps,
                **({"notes": list(result.notes)} if result.notes else {}),  # a layer that has not converged
            }
        else:
            reads = REGISTRY[args.method].reads
            unused = [f"--{name}" for name in ("baseline", "steps", "samples", "target", "threshold")
                      if getattr(args, name) is not None and name not in reads]  # threshold: the graph's alone
            if unused:
                print(f"note: {args.method} does not use {', '.join(unused)}", file=sys.stderr)
            steps = {"steps": args.steps, "conductance_steps": args.steps} if args.steps is not None else {}
            if args.steps is not None:  # a first grid finer than the cap: the cap gives way (it was cut in silence)
                steps["max_steps"] = max(AttributionOptions.max_steps, args.steps + 2)
            options = AttributionOptions(baseline=args.baseline or "pad", samples=args.samples or SAMPLES, **steps)
            payload = attribute(bundle, args.text, args.method, target=args.target, options=options).as_dict()
    except (InputError, GraphUnsupported, ValueError) as error:
        fail(str(error))
    encoded = encode(bundle, args.text)
    if payload.get("truncated"):  # said in words too, the sentence trace, patch, ablate and the pages use
        payload["notes"] = [*payload.get("notes", []), truncation_sentence(
            encoded.num_text_tokens, bundle.max_length, cuts_left_elsewhere=bundle.cuts_left_elsewhere)]
    if encoded.unread:  # trailing pad-id tokens the scores leave out, as trace --json says
        payload["notes"] = [*payload.get("notes", []), unread_note(bundle, encoded.unread)]
    if typed := typed_special_notes(bundle, args.text, encoded):  # as every page says it
        payload["notes"] = [*payload.get("notes", []), *typed]
    print_json(payload)

