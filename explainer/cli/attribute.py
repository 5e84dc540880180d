"""`python -m explainer attribute [--model M] --text "..." --method NAME --json`: attribute one prediction.

Prints tokens, attributions (one per token; per layer for layer_conductance), the target label and the
convergence delta where the method has one. `--method graph` prints the attribution graph's nodes and edges
(source, target, weight, heads) instead.
"""

from __future__ import annotations

import argparse

from explainer.attribution import METHODS, AttributionOptions, attribute
from explainer.attribution.graph import DEFAULT_STEPS, DEFAULT_THRESHOLD, GraphUnsupported, attention_attribution
from explainer.attribution.inputs import BASELINES
from explainer.capture.encoding import InputError
from explainer.cli.common import at_least_one, fail, model_argument, print_json, unit_interval
from explainer.loading.bundle import ModelLoadError, load_model

CHOICES = (*METHODS, "graph")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m explainer attribute", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="shipped model, local folder or hub id (default: app default)")
    parser.add_argument("--text", required=True, help="the input text")
    parser.add_argument("--method", required=True, choices=CHOICES, metavar="NAME", help=", ".join(CHOICES))
    parser.add_argument("--target", default=None, help="label name or index to attribute (default: predicted)")
    parser.add_argument("--baseline", default="pad", choices=BASELINES, help="what replaces text tokens")
    parser.add_argument(
        "--steps", type=at_least_one, default=None, help="IG: intervals of the first grid; graph: steps"
    )
    parser.add_argument("--samples", type=at_least_one, default=200, help="LIME / KernelSHAP samples")
    parser.add_argument(
        "--threshold", type=unit_interval, default=DEFAULT_THRESHOLD, help="graph: relative edge threshold"
    )
    parser.add_argument("--json", action="store_true", help="print JSON (the default and only format)")
    parser.add_argument("--allow-pickle", action="store_true", help="allow pickle weights (only for trusted files)")
    args = parser.parse_args(argv)
    try:
        bundle = load_model(model_argument(args.model), allow_pickle=args.allow_pickle)
        if args.method == "graph":
            result = attention_attribution(bundle, args.text, target=args.target, steps=args.steps or DEFAULT_STEPS)
            graph = result.graph(args.threshold)
            payload = {
                "model": bundle.name,
                "method": "graph",
                "target": result.target,
                **graph.as_dict(),
                "convergence_delta": result.deltas.tolist(),
                "steps": result.steps,
            }
        else:
            steps = {"steps": args.steps, "conductance_steps": args.steps} if args.steps is not None else {}
            options = AttributionOptions(baseline=args.baseline, samples=args.samples, **steps)
            payload = attribute(bundle, args.text, args.method, target=args.target, options=options).as_dict()
    except (ModelLoadError, InputError, GraphUnsupported, ValueError) as error:
        fail(str(error))
    print_json(payload)

