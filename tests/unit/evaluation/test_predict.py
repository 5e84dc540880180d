"""Batch evaluation: metrics against hand computation, batched predictions against single traces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from explainer.capture.tracing import trace
from explainer.evaluation.predict import classification_metrics, evaluate, predict

TEXTS = [
    "the film is good",
    "a dull and boring plot that never ends and never improves",
    "great",
    "not bad at all, the acting is fine",
    "terrible",
    "the ending is wonderful but the middle drags on for far too long",
]
LABELS = [1, 0, 1, 1, 0, 1]


def test_metrics_match_hand_computation():
    labels = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 1, 0, 1, 2, 2])
    result = classification_metrics(labels, predicted, 3)
    assert result["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert result["accuracy"] == pytest.approx(4 / 6)
    # class 0: P 2/2, R 2/3; class 1: P 1/2, R 1/2; class 2: P 1/2, R 1/1
    assert result["precision"] == pytest.approx([1.0, 0.5, 0.5])
    assert result["recall"] == pytest.approx([2 / 3, 0.5, 1.0])
    f1 = [2 * 1 * (2 / 3) / (1 + 2 / 3), 0.5, 2 * 0.5 / 1.5]
    assert result["f1"] == pytest.approx(f1)
    assert result["macro_f1"] == pytest.approx(sum(f1) / 3)


def test_metrics_with_a_class_never_predicted():
    result = classification_metrics(np.array([0, 1]), np.array([0, 0]), 2)
    assert result["precision"] == [0.5, 0.0] and result["f1"][1] == 0.0


def test_a_class_neither_true_nor_predicted_has_no_scores_not_zeros():
    result = classification_metrics(np.array([0, 1, 1]), np.array([0, 1, 0]), 3)
    assert result["precision"][2] is None and result["recall"][2] is None and result["f1"][2] is None
    assert result["f1"][:2] == pytest.approx([2 / 3, 2 / 3]) and result["macro_f1"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("family", ["ours", "bert", "gpt2"])
def test_batched_predictions_equal_single_traces(bundle, family):
    b = bundle(family)
    batched = predict(b, TEXTS, batch_size=4)
    single = np.stack([trace(b, text).probabilities for text in TEXTS])
    np.testing.assert_allclose(batched.probabilities, single, atol=1e-5)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_a_checkpoint_whose_tokenizer_pads_left_is_batched_as_read_alone(checkpoint, family, tmp_path):
    """GPT-2 numbers positions by column: a left-padded row was read at shifted positions (another label)."""
    import json
    import shutil

    from explainer.causal.ablation import reference_means
    from explainer.counterfactual.scoring import Scorer
    from explainer.loading.bundle import load_model

    folder = shutil.copytree(checkpoint(family), tmp_path / family)
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**settings, "padding_side": "left"}))
    left = load_model(folder, device="cpu")
    single = np.stack([trace(left, text).probabilities for text in TEXTS])
    np.testing.assert_allclose(predict(left, TEXTS, batch_size=4).probabilities, single, atol=1e-5)
    np.testing.assert_allclose(Scorer(left, 0, None).probabilities(TEXTS), single, atol=1e-5)
    right = load_model(checkpoint(family), device="cpu")
    for means_left, means_right in zip(reference_means(left, TEXTS).heads, reference_means(right, TEXTS).heads):
        np.testing.assert_allclose(means_left.numpy(), means_right.numpy(), atol=1e-5)


def test_the_top_marker_probabilities_are_summed_in_float64_as_the_engines_sum_them(ours_bundle):
    """Each batch was summed in float32: marker_mean_max_prob then differed from a results folder's (float64 per
    row) in the 8th digit on the shipped model."""
    import math

    import torch

    sums: list[float] = []

    def each_batch(rows, out, attention_mask) -> None:
        routing = torch.stack(out.thought_markers)[:, torch.from_numpy(attention_mask).bool()]
        sums.append(float(routing.max(dim=-1).values.double().sum()))

    texts = [f"{text} {extra}" for text in TEXTS for extra in ("", "again and again", "but not quite")] * 4
    predictions = predict(ours_bundle, texts, batch_size=8, on_batch=each_batch)
    assert len(sums) > 1 and predictions.max_prob_sum == pytest.approx(math.fsum(sums), rel=1e-14)


def test_skip_rate_and_marker_statistics_match_traces(ours_bundle):
    tau = float(np.median(np.concatenate([trace(ours_bundle, t).beacon_gates.ravel() for t in TEXTS])))
    result = evaluate(ours_bundle, TEXTS, LABELS, beacon_threshold=tau, batch_size=4)
    traces = [trace(ours_bundle, t, beacon_threshold=tau) for t in TEXTS]
    gates = np.concatenate([t.beacon_gates.ravel() for t in traces])
    assert 0 < result["skip_rate"] < 1
    assert result["skip_rate"] == pytest.approx((gates < tau).mean())
    routing = np.concatenate([t.thought_markers.reshape(-1, t.thought_markers.shape[-1]) for t in traces])
    assert result["marker_mean_max_prob"] == pytest.approx(routing.max(-1).mean(), rel=1e-5)
    usage = np.bincount(routing.argmax(-1), minlength=routing.shape[-1]) / len(routing)
    np.testing.assert_allclose(result["marker_usage"], usage, atol=1e-9)
    # Ground truth: torch's own count of the matrix products, per text, dense and at tau. A mean length's
    # attention term (the old estimate) ran high: attention grows with the square of a length.
    dense = skipping = 0
    for text in TEXTS:
        inputs = ours_bundle.tokenizer(text, return_tensors="pt")
        for tau_run, total in ((0.0, "dense"), (tau, "skipping")):
            with FlopCounterMode(display=False) as counter, torch.no_grad():
                ours_bundle.model(**inputs, beacon_threshold=tau_run)
            if total == "dense":
                dense += counter.get_total_flops()
            else:
                skipping += counter.get_total_flops()
    assert result["total_flops_saved"] == pytest.approx((dense - skipping) / dense, rel=1e-9)
    assert result["accuracy"] == pytest.approx(np.mean([t.predicted == y for t, y in zip(traces, LABELS)]))


def test_dense_run_skips_nothing(ours_bundle, bundle):
    assert evaluate(ours_bundle, TEXTS, LABELS, beacon_threshold=0.0)["skip_rate"] == 0.0
    baseline = evaluate(bundle("baseline"), TEXTS, LABELS)
    assert baseline["skip_rate"] == 0.0 and "marker_usage" not in baseline


def test_a_text_the_model_cannot_embed_is_named_by_its_index_across_chunks(checkpoint, tmp_path, monkeypatch):
    """Which text of a data set holds the unembeddable token, counted over all texts, not within the chunk
    being tokenised, so LabelledData.located names its line; another data's texts are never given that line."""
    from explainer.capture.encoding import UnembeddableToken
    from explainer.data.labelled import LabelledData
    from explainer.evaluation import predict as predicting
    from explainer.loading.bundle import load_model
    from tests.conftest import with_unembeddable_word

    bundle = load_model(with_unembeddable_word(checkpoint("bert"), tmp_path / "added"), device="cpu")
    monkeypatch.setattr(predicting, "LENGTH_CHUNK", 2)
    texts = (*TEXTS[:4], "the zebra was dull", *TEXTS[4:])
    with pytest.raises(UnembeddableToken) as caught:
        predict(bundle, texts)
    assert caught.value.text_index == 4 and caught.value.text == "the zebra was dull"
    data = LabelledData(texts=texts, labels=(0,) * 7, label_names=("a", "b"), extra={}, problems=(),
                        source="zoo.csv", content_hash="", lines=(2, 3, 5, 6, 9, 10, 11))
    assert data.located(caught.value).startswith("Line 9 of zoo.csv: The text holds the token 'zebra'")
    moved = LabelledData(**{**data.__dict__, "texts": tuple(reversed(texts))})  # index 4 is another text there
    assert moved.located(caught.value) == str(caught.value)


@pytest.mark.parametrize("tau", [1.5, -0.1, float("nan"), float("inf"), "0.5", True])
def test_a_tau_outside_0_to_1_is_refused_by_every_data_set_pass(bundle, tau):
    """Only trace() checked tau: analyse and the map ran 1.5 (every MLP skipped) and NaN (which compares false with
    every gate, so ran dense), each under a cache entry of its own."""
    from explainer.capture.encoding import InputError
    from explainer.data.labelled import read_dataset
    from explainer.dataset_map.embeddings import MapError
    from explainer.dataset_map.maps import MapOptions, build_map
    from explainer.evaluation.error_report import analyse
    from tests.unit.dataset_map.conftest import corpus_csv

    ours = bundle("ours")
    data = read_dataset(corpus_csv(), filename="corpus.csv", label_names=("neg", "pos"))
    with pytest.raises(InputError, match="beacon threshold must be a number from 0 to 1"):
        predict(ours, ["a fine film"], beacon_threshold=tau)
    with pytest.raises(InputError, match="beacon threshold must be a number from 0 to 1"):
        analyse(ours, data, beacon_threshold=tau)
    with pytest.raises(MapError, match="beacon threshold must be a number from 0 to 1"):
        build_map(ours, data, MapOptions(beacon_threshold=tau))
    with pytest.raises(InputError, match="beacon threshold must be a number from 0 to 1"):
        trace(ours, "a fine film", beacon_threshold=tau)


def test_a_numpy_tau_is_a_number_and_keys_the_cache_as_its_float_does(bundle, tmp_path, monkeypatch):
    from explainer.data.labelled import read_dataset
    from explainer.evaluation.prediction_cache import cached_predictions
    from tests.unit.dataset_map.conftest import corpus_csv

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    ours = bundle("ours")
    assert predict(ours, ["a fine film"], beacon_threshold=np.float32(0.25)).probabilities.shape == (1, 2)
    data = read_dataset(corpus_csv(), filename="corpus.csv", label_names=("neg", "pos"))
    assert not cached_predictions(ours, data, beacon_threshold=np.float32(0.25))[1]
    assert cached_predictions(ours, data, beacon_threshold=0.25)[1]  # one entry: json wrote the numpy one as "0.25"
    from explainer.dataset_map.embeddings import store_folder
    from explainer.evaluation.prediction_cache import cache_key

    assert cache_key(ours, data, 0) == cache_key(ours, data, 0.0) and cache_key(ours, data, None)[-1] is None
    assert store_folder(ours, data, np.float32(0.25)) == store_folder(ours, data, 0.25)


def test_a_batch_size_or_neighbour_count_that_is_no_whole_number_is_said(bundle):
    """batch_size=1.5 was a TypeError of range(), MapOptions(neighbours=True) one from deep in the search."""
    from explainer.data.labelled import read_dataset
    from explainer.dataset_map.embeddings import MapError
    from explainer.dataset_map.maps import MapOptions, build_map
    from explainer.evaluation.error_report import analyse
    from tests.unit.dataset_map.conftest import corpus_csv

    ours = bundle("ours")
    data = read_dataset(corpus_csv(), filename="corpus.csv", label_names=("neg", "pos"))
    for bad in (1.5, True, 0):
        with pytest.raises(ValueError, match="batch_size must be a whole number of at least 1"):
            analyse(ours, data, batch_size=bad)
    for options in (MapOptions(neighbours=True), MapOptions(neighbours=2.5), MapOptions(batch_size=0)):
        with pytest.raises(MapError, match="must be a whole number of at least 1"):
            build_map(ours, data, options)
