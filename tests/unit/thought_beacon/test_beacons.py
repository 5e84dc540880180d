"""Activation beacons: pinned gates against the dense twin, compute saved per input, the tau sweep and its cache."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from explainer.capture.tracing import trace
from explainer.data.labelled import read_dataset
from explainer.evaluation.predict import evaluate
from explainer.loading.bundle import load_model
from explainer.models import GatePin
from explainer.thought_beacon.beacons import (
    DEFAULT_TAUS,
    NoBeaconsError,
    cached_sweep,
    input_compute,
    load_cached_sweep,
    sweep,
    sweep_taus,
)
from explainer.thought_beacon.interventions import compare, gate_pins
from tests.conftest import CORPUS, LAYERS, build_model, save_checkpoint

TEXT = "The visual effects are stunning but the characters are thin."
TEXTS = CORPUS[:16]
LABELS = [i % 2 for i in range(len(TEXTS))]


def test_pinning_every_gate_open_equals_the_dense_twin(ours_bundle, tokenizer, tmp_path):
    """Gates pinned to 1 everywhere: every MLP runs in full, which is the same weights without beacons."""
    dense = build_model("ours", use_beacons=False)
    missing, unexpected = dense.load_state_dict(ours_bundle.model.state_dict(), strict=False)
    assert missing == [] and unexpected and all(".beacon" in k or ".gate." in k for k in unexpected)
    dense_bundle = load_model(save_checkpoint(dense, tokenizer, tmp_path / "dense"), device="cpu")
    reference = trace(dense_bundle, TEXT)
    for tau in (0.0, 0.5, 1.0):  # pinned at 1, no gate is below any tau: nothing is skipped
        pinned = trace(ours_bundle, TEXT, beacon_threshold=tau, pinned_gates=gate_pins(range(LAYERS), None, 1.0))
        assert np.array_equal(pinned.beacon_gates, np.ones_like(pinned.beacon_gates))
        assert input_compute(pinned, ours_bundle.model.config).skipped == 0
        np.testing.assert_allclose(pinned.logits, reference.logits, atol=1e-5)
        np.testing.assert_allclose(pinned.hidden_states, reference.hidden_states, atol=1e-5)
    free = trace(ours_bundle, TEXT)
    assert not np.allclose(free.logits, reference.logits, atol=1e-4)  # gates < 1 do scale the MLP


def test_pinning_shut_skips_exactly_the_pinned_slots(ours_bundle):
    free = trace(ours_bundle, TEXT, beacon_threshold=0.05)
    pinned = trace(ours_bundle, TEXT, beacon_threshold=0.05, pinned_gates=gate_pins([1], [2, 3], 0.0))
    before, after = input_compute(free, ours_bundle.model.config), input_compute(pinned, ours_bundle.model.config)
    assert after.skip_mask[1, 2] and after.skip_mask[1, 3]
    assert np.array_equal(after.skip_mask[0], before.skip_mask[0])  # layer 0 is before the pin
    others = [i for i in range(len(free.tokens)) if i not in (2, 3)]
    assert np.array_equal(after.skip_mask[1, others], before.skip_mask[1, others])  # gates read h
    assert pinned.mlp_update_ratio[1, 2] == 0 and pinned.mlp_update_ratio[1, 3] == 0
    change = compare(free, pinned, gate_pins([1], [2, 3], 0.0))
    assert change.changed_skips >= 2 - int(before.skip_mask[1, 2]) - int(before.skip_mask[1, 3])
    # the pinned slots are counted apart from what they changed: later layers, here layer 1's other tokens never
    changed = before.skip_mask != after.skip_mask
    assert change.changed_skips == int(changed.sum())
    assert change.changed_skips_elsewhere == int(changed[2:].sum()) == change.changed_skips - int(changed[1].sum())
    assert gate_pins([0, 0], [], 1.0) == (GatePin(0, None, 1.0),)


def test_input_compute_counts_gates_below_tau(ours_bundle, bundle):
    config = ours_bundle.model.config
    for tau in (0.0, 0.3, 0.9, 1.0):
        t = trace(ours_bundle, TEXT, beacon_threshold=tau)
        result = input_compute(t, config)
        expected = t.beacon_gates < tau if tau > 0 else np.zeros_like(t.beacon_gates, dtype=bool)
        assert np.array_equal(result.skip_mask, expected)
        assert result.skip_rate == pytest.approx(expected.mean())
        inputs = ours_bundle.tokenizer(TEXT, return_tensors="pt")
        counted = []
        for run_tau in (0.0, tau):  # torch's own count of the matrix products, dense and at tau
            with FlopCounterMode(display=False) as counter, torch.no_grad():
                ours_bundle.model(**inputs, beacon_threshold=run_tau)
            counted.append(counter.get_total_flops())
        assert result.total_flops_saved == pytest.approx((counted[0] - counted[1]) / counted[0], rel=1e-9, abs=1e-12)
        assert 0 <= result.total_flops_saved <= result.skip_rate <= 1
    with pytest.raises(NoBeaconsError):
        input_compute(trace(bundle("baseline"), TEXT), config)


def test_sweep_is_monotone_in_skip_rate_and_matches_evaluation(ours_bundle):
    progress: list[tuple[int, int]] = []
    result = sweep(ours_bundle, TEXTS, LABELS, batch_size=5, progress=lambda d, t: progress.append((d, t)))
    points = result["points"]
    taus = [p["tau"] for p in points]
    assert taus == sorted(set(DEFAULT_TAUS) | {ours_bundle.model.config.beacon_threshold})
    assert progress[-1] == (len(taus) * len(TEXTS),) * 2
    rates = [p["skip_rate"] for p in points]
    assert result["monotone_skip_rate"] and rates == sorted(rates)
    assert rates[0] == 0.0 and rates[-1] == 1.0 and 0 < rates[len(rates) // 2] < 1  # the tiny gates spread out
    for point in points:
        assert {"tau", "accuracy", "skip_rate", "flops_saved", "mlp_flops_saved"} <= set(point)
        assert 0 <= point["flops_saved"] <= point["skip_rate"]
    # one point against ground truth: the same evaluation, and per-text traces counting gates below tau
    middle = next(p for p in points if p["tau"] == 0.5)
    direct = evaluate(ours_bundle, TEXTS, LABELS, beacon_threshold=0.5)
    assert middle["accuracy"] == direct["accuracy"] and middle["skip_rate"] == direct["skip_rate"]
    traces = [trace(ours_bundle, text, beacon_threshold=0.5) for text in TEXTS]
    below = sum(int((t.beacon_gates < 0.5).sum()) for t in traces)
    assert middle["skip_rate"] == pytest.approx(below / sum(t.beacon_gates.size for t in traces))


def test_sweep_taus_adds_the_model_tau_and_checks_range():
    assert sweep_taus(0.93, [0.5, 0.0, 0.5]) == [0.0, 0.5, 0.93]
    with pytest.raises(ValueError, match="from 0 to 1"):
        sweep_taus(None, [1.5])


def labelled_csv(path):
    pd.DataFrame({"text": TEXTS, "label": LABELS}).to_csv(path, index=False)
    return path


def test_sweep_is_cached_on_disk_and_refused_without_beacons(ours_bundle, bundle, tmp_path):
    data = read_dataset(labelled_csv(tmp_path / "d.csv"), label_names=ours_bundle.label_names)
    taus = [0.0, 0.5, 1.0]
    assert load_cached_sweep(ours_bundle, data, taus) is None
    first, was_cached = cached_sweep(ours_bundle, data, taus=taus)
    assert not was_cached and first["data"] == data.source
    calls = []
    again, was_cached = cached_sweep(ours_bundle, data, taus=taus, progress=lambda d, t: calls.append(d))
    assert was_cached and calls == [] and again == first == load_cached_sweep(ours_bundle, data, taus)
    with pytest.raises(NoBeaconsError, match="no activation beacons"):
        sweep(bundle("baseline"), TEXTS, LABELS)


def test_sweep_cache_tells_apart_the_columns_read_from_one_file(ours_bundle, tmp_path):
    path = tmp_path / "two.csv"
    pd.DataFrame({"text": TEXTS, "other": TEXTS[::-1], "label": LABELS}).to_csv(path, index=False)
    taus = [0.0, 1.0]
    first = read_dataset(path, text_column="text", label_names=ours_bundle.label_names)
    second = read_dataset(path, text_column="other", label_names=ours_bundle.label_names)
    assert first.content_hash == second.content_hash
    cached_sweep(ours_bundle, first, taus=taus)
    assert load_cached_sweep(ours_bundle, second, taus) is None  # same bytes, other column: not the same result


def test_the_mostly_skipped_note_judges_the_model_by_its_dev_rate_not_one_input():
    """A short input can skip 92% of MLP evaluations on a model that skips 58% of the dev set: the note that its
    gates act as a learned removal of the MLPs must not follow one input when the model reports its dev rate."""
    from explainer.thought_beacon.beacons import mostly_skipped_note

    assert mostly_skipped_note(0.917, 0.584, 0.4) is None
    note = mostly_skipped_note(0.75, 0.97, 0.95)
    assert note is not None and "75.0% of MLP evaluations on this input (97.0% on the SST-2 dev set)" in note
    assert "learned removal" in note
    assert mostly_skipped_note(0.5, None, 0.5) is None  # no dev figure: the input's rate decides
    assert "Here its gates" in mostly_skipped_note(0.95, None, 0.5)


def test_the_mostly_skipped_note_names_the_dev_set_the_model_reports(tmp_path):
    """A model trained here on another file was said to skip so much "on the SST-2 dev set", and a model without
    markers to have moved its work "into the thought markers"."""
    import json

    from explainer.thought_beacon.beacons import mostly_skipped_note, reported_dev

    (tmp_path / "metrics.json").write_text(json.dumps({"dev": {"skip_rate": 0.97},
                                                       "training": {"data": {"train": "t.csv", "dev": "mine.csv"}}}))
    assert reported_dev(tmp_path) == (0.97, "its dev set, mine.csv")
    note = mostly_skipped_note(0.95, 0.97, 0.9, "its dev set, mine.csv", has_markers=False)
    assert "(97.0% on its dev set, mine.csv)" in note and "into attention. Lower" in note
    (tmp_path / "metrics.json").write_text(json.dumps({"dev": {"skip_rate": 0.97}, "training": {}}))  # shipped
    assert reported_dev(tmp_path) == (0.97, "the SST-2 dev set") and reported_dev(None) is None
    (tmp_path / "metrics.json").write_text(json.dumps({"dev": {"skip_rate": 0.97},
                                                       "training": {"data": {"dev": "/srv/private/dev.tsv"}}}))
    assert reported_dev(tmp_path) == (0.97, "its dev set, dev.tsv")  # a path written by hand: its file name only


def test_a_dev_skip_rate_measured_at_another_tau_is_not_reported(tmp_path):
    """A copy whose config.json was set to tau 0: the Beacons page said it skips "99.8% on the SST-2 dev set",
    measured at the 0.95 its metrics.json records."""
    import json

    from explainer.thought_beacon.beacons import reported_dev

    (tmp_path / "metrics.json").write_text(json.dumps({"dev": {"skip_rate": 0.998}, "beacon_threshold": 0.95}))
    assert reported_dev(tmp_path, 0.95) == (0.998, "the SST-2 dev set")
    assert reported_dev(tmp_path, 0.0) is None and reported_dev(tmp_path, 0.5) is None
    assert reported_dev(tmp_path) == (0.998, "the SST-2 dev set")  # no tau to compare with: as recorded
