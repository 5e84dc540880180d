"""Interventions chosen in the UI turned into model arguments, and what they changed.

`marker_forces` / `gate_pins` build the tuples `capture.trace` takes (hashable, so a cached trace can key on
them); `compare` says how the prediction and the internals moved between a Trace and its intervened twin.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from explainer.capture.tracing import Trace
from explainer.models import GatePin, MarkerForce


def _positions(positions: Iterable[int] | None) -> tuple[int, ...] | None:
    chosen = tuple(sorted({int(p) for p in positions})) if positions is not None else ()
    return chosen or None  # nothing chosen: every position


def marker_forces(layers: Iterable[int], positions: Iterable[int] | None, marker: int) -> tuple[MarkerForce, ...]:
    """Force `marker` at every chosen layer, at `positions` (None or empty: every token)."""
    where = _positions(positions)
    return tuple(MarkerForce(int(layer), where, int(marker)) for layer in sorted({int(v) for v in layers}))


def gate_pins(layers: Iterable[int], positions: Iterable[int] | None, value: float) -> tuple[GatePin, ...]:
    """Pin the gate to `value` (1 open, 0 shut) at every chosen layer, at `positions` (None or empty: every token)."""
    where = _positions(positions)
    return tuple(GatePin(int(layer), where, float(value)) for layer in sorted({int(v) for v in layers}))


@dataclass(frozen=True)
class Change:
    """How an intervention moved one input."""

    before_label: str
    after_label: str
    flipped: bool  # the predicted label changed
    probability_shift: np.ndarray  # [labels], after - before
    changed_markers: int  # (layer, token) slots whose argmax marker differs (0 without markers)
    changed_skips: int  # (layer, token) slots whose skip decision at tau differs (0 without beacons)
    # of those, the slots outside the ones the intervention set itself: what later layers changed in response
    changed_markers_elsewhere: int = 0
    changed_skips_elsewhere: int = 0


def intervened_slots(interventions: Iterable[MarkerForce | GatePin], layers: int, tokens: int) -> np.ndarray:
    """[layers, tokens] bool: the slots a tuple of forces or pins sets (positions None: every token)."""
    mask = np.zeros((layers, tokens), dtype=bool)
    for item in interventions:
        if 0 <= item.layer < layers:
            where = [p for p in item.positions if 0 <= p < tokens] if item.positions is not None else slice(None)
            mask[item.layer, where] = True
    return mask


def compare(before: Trace, after: Trace, interventions: Iterable[MarkerForce | GatePin] = ()) -> Change:
    """How `after` (the Trace re-run with `interventions`) differs from `before`; the changed slots are also
    counted outside the intervened ones, so a caption can tell the slots set from the changes they caused."""
    if before.tokens != after.tokens:
        raise ValueError("The two Traces are of different inputs")
    interventions = tuple(interventions)  # read once per kind below: a generator would be spent by the first
    changed_markers = markers_elsewhere = 0
    if before.marker_path is not None and after.marker_path is not None:
        differs = before.marker_path != after.marker_path  # [layers, tokens]
        changed_markers, markers_elsewhere = _changed(differs, interventions, MarkerForce)
    changed_skips = skips_elsewhere = 0
    if before.beacon_gates is not None and after.beacon_gates is not None:
        differs = ((before.beacon_gates < (before.beacon_threshold or 0))
                   != (after.beacon_gates < (after.beacon_threshold or 0)))  # [layers, tokens]
        changed_skips, skips_elsewhere = _changed(differs, interventions, GatePin)
    return Change(
        before_label=before.predicted_label,
        after_label=after.predicted_label,
        flipped=before.predicted != after.predicted,
        probability_shift=after.probabilities - before.probabilities,
        changed_markers=changed_markers,
        changed_skips=changed_skips,
        changed_markers_elsewhere=markers_elsewhere,
        changed_skips_elsewhere=skips_elsewhere,
    )


def _changed(differs: np.ndarray, interventions: tuple, kind: type) -> tuple[int, int]:
    """(changed slots, of those outside the slots the interventions of `kind` set); differs [layers, tokens]."""
    set_here = intervened_slots([i for i in interventions if isinstance(i, kind)], *differs.shape)
    return int(differs.sum()), int((differs & ~set_here).sum())
