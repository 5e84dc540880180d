"""The `beacons` bench: does skipping the MLP at gated-off positions save wall-clock time?

Ours: the shipped ThoughtBeacon model at its own tau, MLP really skipped (gather kept positions, run,
scatter). Reference: the same model and inputs with tau = 0, every MLP run. Inputs are sentences of the
shipped challenge set (SST-2-like lengths), one at a time and in batches of 32.

Two rows per batch size:
- skipping against dense: target ratio <= 1 (skipping is never slower);
- skipping against what the FLOPs it saves would allow: dense time x (1 - share of FLOPs saved), the FLOPs of
  both passes counted by torch's FlopCounterMode on these very inputs (matrix products: what skipping removes).
  Target: at least IDEAL_SHARE of that ideal speed-up, i.e. dense / ours >= IDEAL_SHARE x dense / ideal, which
  is ratio ours / ideal <= 1 / IDEAL_SHARE.
"""

from __future__ import annotations

from typing import Any

import torch

from explainer.bench.common import BenchOptions, measure_alternating, ratio_at_most, report, result

NAME = "beacons"
BATCH_SIZES = (1, 32)
IDEAL_SHARE = 0.8  # of the speed-up the saved FLOPs would allow


def _forward(bundle, texts: list[str], tau: float, grad_mode=torch.inference_mode):
    inputs = bundle.tokenizer(
        texts, padding=True, truncation=True, max_length=bundle.max_length, return_tensors="pt"
    ).to(bundle.device)

    def run():
        with grad_mode():
            return bundle.model(**inputs, beacon_threshold=tau)

    return run


def flops(bundle, texts: list[str], tau: float) -> int:
    """FLOPs of one forward pass of `texts` at `tau` (matrix products; torch.utils.flop_counter, which needs
    no_grad rather than inference mode)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        _forward(bundle, texts, tau, torch.no_grad)()
    return int(counter.get_total_flops())


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
        ours, dense = _forward(bundle, batch, tau), _forward(bundle, batch, 0.0)
        saved = 1.0 - flops(bundle, batch, tau) / max(flops(bundle, batch, 0.0), 1)
        timing = measure_alternating(ours, dense, repeats=options.effective_repeats * 3, warmup=2)
        case = f"{bundle.name} batch {size}, tau {tau:g}, skip rate {skip_rate:.0%}"
        rows.append(
            result(
                case=case,
                metric="seconds per forward pass",
                ours=timing.ours,
                reference=timing.reference,
                reference_name="same model dense (tau = 0)",
                target=target.replace("ratio <= 1", "ratio <= 1 (skipping is not slower)"),
                meets=meets,
            )
        )
        ideal = timing.reference * (1.0 - saved)
        rows.append(
            result(
                case=f"{case}: {saved:.1%} of the FLOPs saved, speed-up {timing.reference / timing.ours:.2f}x of an "
                f"ideal {1 / max(1.0 - saved, 1e-9):.2f}x",
                metric="seconds per forward pass",
                ours=timing.ours,
                reference=ideal,
                reference_name="dense time x (1 - share of FLOPs saved)",
                target=f"ratio <= {1 / IDEAL_SHARE:g} (at least {IDEAL_SHARE:.0%} of the ideal speed-up)",
                meets=lambda ratio: ratio <= 1 / IDEAL_SHARE,
            )
        )
    return report(NAME, rows)
