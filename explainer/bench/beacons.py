"""The `beacons` bench: does skipping the MLP at gated-off positions save wall-clock time?

Ours: the shipped ThoughtBeacon model at its own tau, MLP really skipped (gather kept positions, run,
scatter). Reference: the same model and inputs with tau = 0, every MLP run. Inputs are sentences of the
shipped challenge set (SST-2-like lengths), one at a time and in batches of 32.
"""

from __future__ import annotations

from typing import Any

import torch

from explainer.bench.common import BenchOptions, measure_alternating, ratio_at_most, report, result

NAME = "beacons"
BATCH_SIZES = (1, 32)


def _forward(bundle, texts: list[str], tau: float):
    inputs = bundle.tokenizer(texts, padding=True, truncation=True, max_length=bundle.max_length,
                              return_tensors="pt").to(bundle.device)

    def run():
        with torch.inference_mode():
            return bundle.model(**inputs, beacon_threshold=tau)

    return run


def run(options: BenchOptions = BenchOptions(), *, bundle=None) -> dict[str, Any]:
    from explainer import load_model
    from explainer.data.challenge import DEFAULT_PATH
    from explainer.data.labelled import read_dataset
    from explainer.evaluation.predict import predict

    bundle = bundle or load_model()
    config = bundle.model.config
    if not getattr(config, "use_beacons", False):
        raise ValueError(f"{bundle.name} has no activation beacons to benchmark")
    tau = config.beacon_threshold
    texts = list(read_dataset(DEFAULT_PATH).texts)
    target, meets = ratio_at_most(1.0)
    rows = []
    for size in BATCH_SIZES:
        batch = texts[:size]
        skipped = predict(bundle, batch, batch_size=size, beacon_threshold=tau)
        skip_rate = skipped.skipped_slots / max(skipped.slots, 1)
        timing = measure_alternating(
            _forward(bundle, batch, tau), _forward(bundle, batch, 0.0), repeats=options.effective_repeats * 3,
            warmup=2,
        )
        rows.append(
            result(
                case=f"{bundle.name} batch {size}, tau {tau:g}, skip rate {skip_rate:.0%}",
                metric="seconds per forward pass",
                ours=timing.ours,
                reference=timing.reference,
                reference_name="same model dense (tau = 0)",
                target=target.replace("ratio <= 1", "ratio <= 1 (skipping is not slower)"),
                meets=meets,
            )
        )
    return report(NAME, rows)
