"""Compute saved by the activation beacons: for one input (from its Trace) and over a data set across tau.

At threshold tau a (layer, token) slot skips its MLP when its gate g < tau. The share of MLP evaluations skipped
is also the share of MLP FLOPs saved (every evaluation costs the same); the share of the model's total FLOPs
saved is the skipped evaluations' FLOPs over the dense passes' FLOPs, counted per text as torch's
FlopCounterMode counts them (`evaluation.predict.forward_flops`: attention grows with the square of a length).
Skipping at layer l changes what later layers see, so their gates, and hence the skip rate, depend on tau
through the earlier layers too: a sweep reports whether its skip rate came out monotone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from explainer.capture.tracing import Trace
from explainer.data import disk_cache
from explainer.data.labelled import LabelledData
from explainer.evaluation.predict import Predictions, flops_saved_share, predict, summarise
from explainer.loading.bundle import ModelBundle
from explainer.models import is_thought_beacon, uses_beacons
from explainer.progress import Progress
from explainer.views.text import tau_text

DEFAULT_TAUS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(21))  # 0, 0.05, ..., 1
VERSION = 2  # bump when a sweep's meaning or layout changes (2: total FLOPs saved counted per text, exactly)


class NoBeaconsError(ValueError):
    """The model has no activation beacons, so there is nothing to skip."""


def has_beacons(bundle_or_config: Any) -> bool:
    config = getattr(getattr(bundle_or_config, "model", None), "config", bundle_or_config)
    return uses_beacons(config)


def no_beacons_said(bundle: ModelBundle) -> str:
    """Why a model without activation beacons has no tau sweep (a ThoughtBeacon model built with none is one)."""
    why = ("it was built with none" if is_thought_beacon(bundle.model.config)
           else "a tau sweep needs a ThoughtBeacon model")
    return f"{bundle.name} has no activation beacons: {why}"


@dataclass(frozen=True)
class InputCompute:
    """What the beacons skipped on one input at the Trace's tau."""

    tau: float
    slots: int  # (layer, token) MLP slots
    skipped: int  # of those, skipped (gate < tau)
    skip_rate: float  # skipped / slots, also the share of MLP FLOPs saved
    total_flops_saved: float  # share of the whole forward pass's FLOPs saved
    skip_mask: np.ndarray  # [layers, T] bool, True where the MLP was skipped


def input_compute(trace: Trace, config: Any) -> InputCompute:
    """Skip mask and compute saved for the input of `trace` (a ThoughtBeacon Trace with gates)."""
    if trace.beacon_gates is None or trace.beacon_threshold is None:
        raise NoBeaconsError(f"{trace.model_name} has no activation beacons")
    tau = float(trace.beacon_threshold)
    mask = trace.beacon_gates < tau if tau > 0 else np.zeros(trace.beacon_gates.shape, dtype=bool)
    slots, skipped = int(mask.size), int(mask.sum())
    rate = skipped / slots if slots else 0.0
    return InputCompute(
        tau=tau,
        slots=slots,
        skipped=skipped,
        skip_rate=rate,
        total_flops_saved=flops_saved_share(config, np.array([len(trace.tokens)]), skipped),
        skip_mask=mask,
    )


def sweep_taus(model_tau: float | None, taus: Sequence[float] | None = None) -> list[float]:
    """The taus a sweep runs: `taus` (default 0, 0.05, ..., 1) plus the model's own, sorted, without repeats."""
    chosen = set(round(float(t), 6) for t in (DEFAULT_TAUS if taus is None else taus))
    if model_tau is not None:
        chosen.add(round(float(model_tau), 6))
    bad = [t for t in chosen if not 0 <= t <= 1]
    if bad:
        raise ValueError(f"tau must be from 0 to 1, not {sorted(bad)}")
    return sorted(chosen)


def sweep(
    bundle: ModelBundle,
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    taus: Sequence[float] | None = None,
    with_model_tau: bool = True,
    batch_size: int = 32,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Accuracy against compute over tau: one evaluation pass of the data per tau (evaluation.predict), the
    same figures as `evaluation.predict.evaluate` at that tau. The taus are `taus` (default 0, 0.05, ..., 1)
    plus, unless `with_model_tau` is False, the model's own (training sweeps a fixed grid to choose it).

    Returns {"model_tau", "n", "points": [{"tau", "accuracy", "macro_f1", "skip_rate", "mlp_flops_saved",
    "flops_saved"}, ...] sorted by tau, "monotone_skip_rate"}; `flops_saved` is the share of total FLOPs."""
    if not has_beacons(bundle):
        raise NoBeaconsError(no_beacons_said(bundle))
    if not texts:
        raise ValueError("No texts to sweep over")
    model_tau = float(bundle.model.config.beacon_threshold)
    grid = sweep_taus(model_tau if with_model_tau else None, taus)
    label_array = np.asarray(labels, dtype=np.int64)
    points = []
    for index, tau in enumerate(grid):
        def step(done: int, total: int, index: int = index) -> None:
            if progress:
                progress(index * len(texts) + done, len(grid) * len(texts))

        predictions = predict(bundle, texts, batch_size=batch_size, beacon_threshold=tau, progress=step)
        points.append(sweep_point(bundle, label_array, predictions, tau))
    return sweep_result(bundle, points, len(texts))


def sweep_point(bundle: ModelBundle, labels: np.ndarray, predictions: Predictions, tau: float) -> dict[str, Any]:
    """One point of the sweep from the prediction pass at `tau` (both engines of a sweep build points here)."""
    summary = summarise(bundle, labels, predictions)
    return {
        "tau": tau,
        "accuracy": summary["accuracy"],
        "macro_f1": summary["macro_f1"],
        "skip_rate": summary["skip_rate"],
        "mlp_flops_saved": summary["mlp_flops_saved"],
        "flops_saved": summary["total_flops_saved"],
    }


def sweep_result(bundle: ModelBundle, points: list[dict[str, Any]], n: int) -> dict[str, Any]:
    rates = [p["skip_rate"] for p in points]
    return {
        "version": VERSION,
        "model": bundle.name,
        "model_tau": float(bundle.model.config.beacon_threshold),
        "n": n,
        "points": points,
        "monotone_skip_rate": all(a <= b for a, b in zip(rates, rates[1:])),
    }


def cached_sweep(
    bundle: ModelBundle,
    data: LabelledData,
    *,
    taus: Sequence[float] | None = None,
    batch_size: int = 32,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], bool]:
    """(sweep, was_cached): from the disk cache when this model, file content and taus were seen."""
    grid = sweep_taus(float(bundle.model.config.beacon_threshold), taus) if has_beacons(bundle) else []
    key = (VERSION, *disk_cache.input_key(bundle, data), grid)

    def compute() -> dict[str, Any]:
        result = sweep(bundle, data.texts, data.labels, taus=taus, batch_size=batch_size, progress=progress)
        return {**result, "data": data.source}

    return disk_cache.cached("tau_sweep", key, compute, valid=whole_sweep)


def load_cached_sweep(bundle: ModelBundle, data: LabelledData, taus: Sequence[float] | None = None) -> dict | None:
    """The cached sweep, or None when it has not been computed (never computes)."""
    if not has_beacons(bundle):
        return None
    grid = sweep_taus(float(bundle.model.config.beacon_threshold), taus)
    return disk_cache.load("tau_sweep", VERSION, *disk_cache.input_key(bundle, data), grid, valid=whole_sweep)


SWEEP_POINT = ("tau", "accuracy", "macro_f1", "skip_rate", "mlp_flops_saved", "flops_saved")  # sweep_point's numbers


def whole_sweep(value: Any) -> bool:
    """Whether a cached value is a sweep as sweep_result writes it: a damaged entry is a miss, not a sweep."""
    if not isinstance(value, dict) or not isinstance(value.get("points"), list) or not value["points"]:
        return False
    numbers = all(isinstance(point, dict) and all(isinstance(point.get(name), int | float) for name in SWEEP_POINT)
                  for point in value["points"])
    return numbers and isinstance(value.get("n"), int) and isinstance(value.get("model_tau"), int | float)


def remember_sweep(bundle: ModelBundle, data: LabelledData, result: dict[str, Any], taus: Sequence[float]) -> None:
    """Put a sweep run elsewhere (a results folder of `evaluate --sweep-tau --out`) where cached_sweep and the
    Beacons page find it: keyed by the grid it ran, which holds the model's tau as every sweep's does (a grid
    without it is never looked up: its points are not those of the grid with it)."""
    disk_cache.store("tau_sweep", result, VERSION, *disk_cache.input_key(bundle, data), list(taus))


def reported_dev(model_folder: Any, tau: float | None = None) -> tuple[float, str] | None:
    """(skip rate, dev set's name) that the model's own metrics.json reports, if any: a model trained here names
    its dev file (training.data.dev); a shipped one was scored on the SST-2 dev set. None where the metrics were
    measured at another tau than `tau`, the model's now (a config edited to tau 0 was said to skip 99.8% there)."""
    import json
    from pathlib import Path

    if model_folder is None:
        return None
    try:
        metrics = json.loads((Path(model_folder) / "metrics.json").read_text(encoding="utf-8"))
        files = (metrics.get("training") or {}).get("data") or {}
        dev = Path(str(files.get("dev") or "")).name  # `train` writes a file name; a hand-edited path stays private
        measured_at = metrics.get("beacon_threshold")
        if tau is not None and measured_at is not None and abs(float(measured_at) - tau) > 1e-9:
            return None
        return float(metrics["dev"]["skip_rate"]), f"its dev set, {dev}" if dev else "the SST-2 dev set"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


MOSTLY_SKIPPED = 0.9  # a model that skips this share of MLP evaluations has all but removed its MLPs


def mostly_skipped_note(input_rate: float, reported: float | None, tau: float, dev_name: str = "the SST-2 dev set",
                        has_markers: bool = True) -> str | None:
    """A note for a model whose gates act as a learned removal of the MLPs rather than a per-word choice, or None.
    Judged on the dev set's skip rate when the model reports one (one short input can skip 90% on a model that
    skips 58% of the dev set, named `dev_name`), else on this input's."""
    basis = reported if reported is not None else input_rate
    if basis < MOSTLY_SKIPPED:
        return None
    dev = f" ({reported:.1%} on {dev_name})" if reported is not None else ""
    moved = "attention and the thought markers" if has_markers else "attention"
    scope = "Its gates" if reported is not None else "Here its gates"
    return (f"Read the numbers with this in mind: at its own τ = {tau_text(tau)} this model skips {input_rate:.1%} "
            f"of MLP evaluations on this input{dev}. {scope} act almost as a learned removal of the MLPs rather than a "
            f"per-word choice: training moved the work into {moved}. Lower τ to "
            "see where the gates still differ.")
