"""Attribution methods: completeness of integrated gradients and layer conductance against independent
forward passes, every method on every family, targets, bad input, no shared state changed, and a model the
test trains in seconds where the answer token is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explainer.attribution import METHODS, AttributionOptions, attribute, attribute_all
from explainer.attribution.inputs import prepare
from explainer.attribution.layer_methods import chefer_relevance
from explainer.attribution.options import UNRELIABLE
from explainer.attribution.registry import title
from explainer.capture.encoding import InputError
from tests.conftest import CORPUS, FAMILIES

TEXT = "The film is a quiet triumph, warm and funny."


def logit_of_ids(loaded, ids: torch.Tensor, label: int) -> float:
    """F for token ids, straight through the model (not through the attribution code)."""
    extra = {"beacon_threshold": 0.0} if loaded.architecture == "thought_beacon" else {}
    with torch.no_grad():
        return float(loaded.model(input_ids=ids, **extra).logits[0, label])


@pytest.mark.parametrize("family", ["ours", "bert"])
@pytest.mark.parametrize("baseline", ["pad", "mask"])
def test_integrated_gradients_sum_to_the_logit_gap_within_the_reported_delta(bundle, family, baseline):
    loaded = bundle(family)
    result = attribute(loaded, TEXT, "integrated_gradients", options=AttributionOptions(baseline=baseline))
    ids = loaded.tokenizer(TEXT, return_tensors="pt")["input_ids"]
    base = ids.clone()
    token = loaded.tokenizer.pad_token_id if baseline == "pad" else loaded.tokenizer.mask_token_id
    special = torch.tensor(result.special_tokens)
    base[0, ~special] = token
    assert base[0, special].tolist() == ids[0, special].tolist()  # special tokens kept in the baseline
    gap = logit_of_ids(loaded, ids, result.target) - logit_of_ids(loaded, base, result.target)
    assert result.logit_gap == pytest.approx(gap, abs=1e-4)
    assert abs(result.scores.sum() - gap) <= abs(result.convergence_delta) + 1e-4
    assert result.relative_delta <= 0.01  # steps were doubled until within the tolerance
    assert result.scores.shape == (len(result.tokens),)


def test_zero_baseline_and_ig_delta_without_enough_steps(bundle):
    loaded = bundle("bert")
    ig = "integrated_gradients"
    few = attribute(loaded, TEXT, ig, options=AttributionOptions(baseline="zero", steps=2, max_steps=3))
    many = attribute(loaded, TEXT, ig, options=AttributionOptions(baseline="zero", steps=64))
    assert few.steps == 3 and many.steps >= 65  # one Simpson panel; a first grid of 64 intervals
    assert many.logit_gap == pytest.approx(few.logit_gap)
    # The reported delta is the real error of each run: sum - gap.
    for result in (few, many):
        assert result.scores.sum() - result.logit_gap == pytest.approx(result.convergence_delta, abs=1e-4)
    assert abs(many.convergence_delta) <= abs(few.convergence_delta) + 1e-6


@pytest.mark.parametrize("family", ["bert", "gpt2", "ours"])
def test_saliency_and_input_x_gradient_are_the_models_own_gradient(bundle, family):
    """Ground truth from autograd straight through the model: saliency is the norm of d(target logit)/d(embedding)
    per token, input x gradient its dot product with the embedding."""
    loaded = bundle(family)
    extra = {"beacon_threshold": 0.0} if loaded.architecture == "thought_beacon" else {}
    ids = loaded.tokenizer(TEXT, return_tensors="pt")["input_ids"]
    embeddings = loaded.model.get_input_embeddings()(ids).detach().requires_grad_(True)
    results = {method: attribute(loaded, TEXT, method) for method in ("saliency", "input_x_gradient")}
    target = results["saliency"].target
    (gradient,) = torch.autograd.grad(loaded.model(inputs_embeds=embeddings, **extra).logits[0, target], embeddings)
    np.testing.assert_allclose(results["saliency"].scores, gradient[0].norm(dim=-1).numpy(), rtol=1e-4, atol=1e-7)
    expected = (gradient[0] * embeddings[0]).sum(dim=-1).detach().numpy()
    np.testing.assert_allclose(results["input_x_gradient"].scores, expected, rtol=1e-4, atol=1e-7)
    assert np.abs(expected).max() > 1e-6  # a gradient to compare, not zeros on both sides


@pytest.mark.parametrize("family", FAMILIES)
def test_every_method_has_one_score_per_token_on_every_family(bundle, family):
    loaded = bundle(family)
    results = attribute_all(loaded, TEXT, options=AttributionOptions(samples=40, conductance_steps=8))
    count = len(loaded.tokenizer(TEXT)["input_ids"])
    assert list(results) == list(METHODS)
    for method, result in results.items():
        assert result.scores.shape == (count,), method
        assert np.isfinite(result.scores).all(), method
        assert len(result.tokens) == count
        assert result.target == int(result.logits.argmax())
    layers = loaded.model.config.num_hidden_layers
    assert results["layer_conductance"].layer_scores.shape == (layers + 1, count)
    assert (results["saliency"].scores >= 0).all()
    assert (results["rollout"].scores >= 0).all()


@pytest.mark.parametrize("family", ["ours", "gpt2"])
def test_layer_conductance_rows_each_sum_to_the_gap_and_the_first_is_ig(bundle, family):
    loaded = bundle(family)
    options = AttributionOptions(conductance_steps=128, steps=128, max_steps=128)
    conductance = attribute(loaded, TEXT, "layer_conductance", options=options)
    gap = conductance.logit_gap
    tolerance = abs(conductance.convergence_delta) + 1e-5
    np.testing.assert_allclose(conductance.layer_scores.sum(axis=1), gap, atol=tolerance)
    assert conductance.relative_delta < 0.02
    if family == "ours":  # our embedding output is word + position embeddings: its conductance is IG itself
        ig = attribute(loaded, TEXT, "integrated_gradients", options=options)
        np.testing.assert_allclose(conductance.layer_scores[0], ig.scores, atol=0.02 * abs(gap) + 1e-4)


def test_occlusion_is_the_logit_drop_of_each_token(bundle):
    loaded = bundle("bert")
    result = attribute(loaded, TEXT, "occlusion")
    ids = loaded.tokenizer(TEXT, return_tensors="pt")["input_ids"]
    full = logit_of_ids(loaded, ids, result.target)
    for position in (1, 3):
        occluded = ids.clone()
        occluded[0, position] = loaded.tokenizer.pad_token_id
        assert result.scores[position] == pytest.approx(full - logit_of_ids(loaded, occluded, result.target), abs=1e-4)
    assert np.allclose(result.scores[result.special_tokens], 0, atol=1e-5)  # baseline keeps them: no effect


def test_grad_x_attention_by_hand():
    attention = np.array([[[[1.0, 0.0], [0.5, 0.5]]], [[[0.2, 0.8], [0.0, 1.0]]]])  # [2 layers, 1 head, 2, 2]
    grads = np.array([[[[1.0, -1.0], [2.0, 0.0]]], [[[1.0, 1.0], [-1.0, 1.0]]]])
    a1 = np.array([[1.0, 0.0], [1.0, 0.0]])  # (grad * A)^+ of layer 1
    a2 = np.array([[0.2, 0.8], [0.0, 1.0]])
    relevance = np.eye(2) + a1 @ np.eye(2)
    relevance = relevance + a2 @ relevance
    expected = relevance[0] - np.eye(2)[0]
    np.testing.assert_allclose(chefer_relevance(attention, grads, readout=0), expected, rtol=1e-6)


def test_target_by_name_and_index_and_bad_input(bundle):
    loaded = bundle("bert")
    by_name = attribute(loaded, TEXT, "input_x_gradient", target="neg")
    by_index = attribute(loaded, TEXT, "input_x_gradient", target=0)
    other = attribute(loaded, TEXT, "input_x_gradient", target=1)
    assert by_name.target == by_index.target == 0 and by_name.target_label == "neg"
    np.testing.assert_allclose(by_name.scores, by_index.scores)
    assert not np.allclose(by_name.scores, other.scores)
    with pytest.raises(InputError, match="Unknown label"):
        attribute(loaded, TEXT, "saliency", target="maybe")
    with pytest.raises(InputError, match="out of range"):
        attribute(loaded, TEXT, "saliency", target=5)
    with pytest.raises(InputError, match="Unknown method"):
        attribute(loaded, TEXT, "magic")
    with pytest.raises(InputError, match="empty"):
        attribute(loaded, "   ", "saliency")
    with pytest.raises(InputError, match="baseline"):
        AttributionOptions(baseline="noise")


def test_attribution_leaves_the_model_as_it_was(bundle):
    loaded = bundle("ours")
    before = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    config = loaded.model.config.to_json_string()
    attribute_all(loaded, TEXT, options=AttributionOptions(samples=20, conductance_steps=4))
    assert not loaded.model.training
    assert loaded.model.config.to_json_string() == config
    assert all(torch.equal(before[k], v) for k, v in loaded.model.state_dict().items())
    assert all(p.grad is None for p in loaded.model.parameters())


def test_results_are_read_only_and_json_ready(bundle):
    result = attribute(bundle("bert"), TEXT, "layer_conductance", options=AttributionOptions(conductance_steps=4))
    with pytest.raises(ValueError):
        result.scores[0] = 1.0
    data = result.as_dict()
    assert data["tokens"] == list(result.tokens)
    assert len(data["attributions"]) == result.layer_scores.shape[0]
    assert "convergence_delta" in data and data["target_label"] == result.target_label


def test_truncated_input_is_attributed_on_what_the_model_reads(bundle):
    loaded = bundle("bert")
    result = attribute(loaded, "good " * 200, "saliency")
    assert result.truncated and len(result.tokens) == loaded.max_length


def test_prepare_keeps_special_tokens_in_every_baseline(bundle):
    loaded = bundle("roberta")
    for baseline in ("pad", "mask", "zero"):
        prepared = prepare(loaded, TEXT, baseline)
        keep = torch.tensor(prepared.special)
        assert torch.equal(prepared.baseline_embeddings[0, keep], prepared.embeddings[0, keep])
        assert not torch.equal(prepared.baseline_embeddings[0, ~keep], prepared.embeddings[0, ~keep])


def test_results_stay_read_only_after_pickling(bundle):
    import pickle

    from explainer.attribution.faithfulness import faithfulness
    from explainer.attribution.graph import attention_attribution

    loaded = bundle("bert")
    result = attribute(loaded, TEXT, "saliency")
    for item, field in (
        (result, "scores"),
        (attention_attribution(loaded, TEXT, steps=2), "scores"),
        (faithfulness(loaded, result), "deletion"),
    ):
        copy = pickle.loads(pickle.dumps(item))
        np.testing.assert_array_equal(getattr(copy, field), getattr(item, field))
        with pytest.raises(ValueError):
            getattr(copy, field)[0] = 1.0


def test_layer_conductance_matches_captums_layer_conductance_one_layer_at_a_time(bundle):
    from captum.attr import LayerConductance

    loaded = bundle("bert")
    ours = attribute(loaded, TEXT, "layer_conductance", options=AttributionOptions(conductance_steps=128))
    prepared = prepare(loaded, TEXT)

    def forward(embeds):
        return loaded.model(inputs_embeds=embeds).logits[:, ours.target]

    for layer, module in enumerate(loaded.model.bert.encoder.layer):
        values = LayerConductance(forward, module).attribute(
            prepared.embeddings, baselines=prepared.baseline_embeddings, n_steps=128, method="riemann_trapezoid"
        )
        reference = values[0].sum(dim=-1).detach().numpy()
        np.testing.assert_allclose(ours.layer_scores[layer + 1], reference, atol=0.01 * np.abs(reference).max())


def test_only_a_model_with_beacons_is_run_dense_and_says_so_when_its_tau_skips(bundle):
    # the baseline twin is a ThoughtBeacon config without beacons: a note about its gates would be false. So is one
    # for a model at tau 0 (the config's default), which skips nothing: its dense run is the model itself.
    from explainer.attribution.inputs import DENSE_NOTE
    from explainer.causal.ablation import ablate_heads
    from explainer.causal.hooks import forward_extra
    from explainer.causal.patching import patch
    from explainer.thought_beacon.dense import RUN_DENSE

    loaded = bundle("ours")
    assert loaded.model.config.beacon_threshold == 0.0 and forward_extra(loaded)
    twin = attribute(bundle("baseline"), "a fine film", "saliency")
    assert DENSE_NOTE not in twin.notes and not forward_extra(bundle("baseline"))

    def notes() -> list[str]:
        return [*attribute(loaded, "a fine film", "saliency").notes, *ablate_heads(loaded, "a fine film").notes,
                *patch(loaded, "a fine film", "a dull film").notes]

    assert not {DENSE_NOTE, RUN_DENSE} & set(notes())
    loaded.model.config.beacon_threshold = 0.5
    try:
        assert notes().count(RUN_DENSE) == 2 and DENSE_NOTE in notes()
    finally:
        loaded.model.config.beacon_threshold = 0.0


def test_attention_rollout_reads_the_model_at_its_own_tau_as_the_attention_page_does(bundle):
    """Rollout reads no gradient, yet ran the model dense: on the shipped ThoughtBeacon model its scores were up to
    18% of the largest off the Attention page's rollout, under a note about gradients."""
    from explainer.attention.statistics import attention_rollout
    from explainer.attribution.faithfulness import faithfulness, ranking
    from explainer.attribution.inputs import DENSE_NOTE
    from explainer.capture.tracing import trace
    from explainer.families import family_of

    loaded = bundle("ours")
    saved = loaded.model.config.beacon_threshold
    loaded.model.config.beacon_threshold = 0.9  # skips most MLP updates: the dense run is another function
    try:
        for text in CORPUS[:4]:
            captured = trace(loaded, text)
            result = attribute(loaded, text, "rollout")
            readout = family_of(loaded.model).readout_position(len(result.tokens))
            rolled = attention_rollout(captured.attentions)[readout]
            np.testing.assert_allclose(result.scores, rolled, atol=1e-6)
            np.testing.assert_allclose(result.logits, captured.logits, atol=1e-5)  # the model's own run
            assert DENSE_NOTE not in result.notes
            assert DENSE_NOTE in attribute(loaded, text, "saliency").notes  # gradients still run dense
            # its faithfulness watches the model it ran: nothing deleted, the target's probability at tau
            scores = faithfulness(loaded, result)
            full = float(captured.probabilities[result.target])
            assert scores.deletion[0] == pytest.approx(full, abs=1e-5)
            # and so do its ERASER scores (the removals ran dense, against a full probability at tau)
            ids, order = loaded.tokenizer(text)["input_ids"], ranking(result)

            def p_at_tau(kept: list[int], target: int = result.target) -> float:
                with torch.no_grad():  # the model's own forward: its config's tau
                    logits = loaded.model(input_ids=torch.tensor([kept])).logits[0]
                return float(logits.softmax(-1)[target])

            comprehensiveness, sufficiency = [], []
            for share in (0.01, 0.05, 0.10, 0.20, 0.50):
                top = set(order[: max(1, int(np.ceil(share * len(order))))].tolist())
                comprehensiveness.append(full - p_at_tau([t for i, t in enumerate(ids) if i not in top]))
                sufficiency.append(full - p_at_tau(
                    [t for i, t in enumerate(ids) if i in top or result.special_tokens[i]]))
            assert scores.comprehensiveness == pytest.approx(np.mean(comprehensiveness), abs=1e-5)
            assert scores.sufficiency == pytest.approx(np.mean(sufficiency), abs=1e-5)
    finally:
        loaded.model.config.beacon_threshold = saved


def test_a_model_run_dense_is_attributed_for_the_label_it_predicts_at_its_own_tau(bundle):
    # Skipping MLP updates at tau can decide a near-tie: the dense run may predict another label. The default
    # target is the prediction trace (and every other view) reports, and the note says when the two differ.
    from explainer.capture.tracing import trace
    from explainer.causal.ablation import ablate_heads
    from explainer.causal.patching import patch

    loaded = bundle("ours")
    saved = loaded.model.config.beacon_threshold
    loaded.model.config.beacon_threshold = 0.9  # skip most MLP updates, so some texts change their prediction
    try:
        differed = corrupted_differed = 0
        for text in CORPUS[:8]:
            predicted = int(trace(loaded, text).probabilities.argmax())
            result = attribute(loaded, text, "saliency")
            dense = int(result.logits.argmax())
            assert result.target == predicted, text
            differs = [note for note in result.notes if "run dense it would predict" in note]
            assert bool(differs) == (dense != predicted), text
            differed += dense != predicted
            assert ablate_heads(loaded, text, mode="zero").target == predicted
            other = CORPUS[(CORPUS.index(text) + 1) % 8]
            patched = patch(loaded, text, other)
            assert patched.target == predicted
            # the corrupted text is shown dense too: a prediction it changes is said (the clean one's only was)
            other_own = int(trace(loaded, other).probabilities.argmax())
            said = [note for note in patched.notes if "for the corrupted text" in note]
            assert bool(said) == (int(patched.corrupted_logits.argmax()) != other_own), other
            corrupted_differed += bool(said)
        assert differed, "no text of the corpus changed its prediction at tau 0.9: the note went untested"
        assert corrupted_differed, "no corrupted text changed its prediction: its note went untested"
    finally:
        loaded.model.config.beacon_threshold = saved


def test_layer_conductance_in_small_batches_equals_one_batch(bundle, monkeypatch):
    from explainer.attribution import layer_methods

    loaded = bundle("gpt2")
    options = AttributionOptions(conductance_steps=8, max_steps=8)
    whole = attribute(loaded, TEXT, "layer_conductance", options=options)
    monkeypatch.setattr(layer_methods, "rows_per_batch", lambda bundle, length: 2)  # 9 points in 5 batches
    pieces = attribute(loaded, TEXT, "layer_conductance", options=options)
    np.testing.assert_allclose(pieces.layer_scores, whole.layer_scores, atol=1e-5)
    assert pieces.convergence_delta == pytest.approx(whole.convergence_delta, abs=1e-5)


def test_a_path_method_that_runs_out_of_steps_says_its_scores_are_not_reliable(bundle):
    """Two intervals cannot follow the path: the grid doubles while the steps allow, and says so when not."""
    loaded = bundle("llama")
    no_doubling = AttributionOptions(conductance_steps=2, max_steps=3)
    coarse = attribute(loaded, TEXT, "layer_conductance", options=no_doubling)
    assert coarse.steps == 2 and abs(coarse.convergence_delta) > 0.05 * abs(coarse.logit_gap)
    assert any("misses completeness" in note and "not reliable" in note for note in coarse.notes)
    refined = attribute(
        loaded, TEXT, "layer_conductance", options=AttributionOptions(conductance_steps=2, max_steps=256)
    )
    assert refined.steps > 2 and abs(refined.convergence_delta) < abs(coarse.convergence_delta)
    assert any("misses completeness" in note for note in refined.notes) == (
        abs(refined.convergence_delta) > 0.05 * abs(refined.logit_gap)
    )
    two_steps = AttributionOptions(integration="riemann_middle", steps=2, max_steps=2)
    fixed = attribute(loaded, TEXT, "integrated_gradients", options=two_steps)
    assert any("misses completeness" in note for note in fixed.notes) == (
        abs(fixed.convergence_delta) > 0.01 * abs(fixed.logit_gap)
    )
    assert not any("misses completeness" in note for note in attribute(loaded, TEXT, "integrated_gradients").notes)


@pytest.mark.parametrize("method", ["kernel_shap", "lime"])
@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_lime_and_kernel_shap_leave_special_tokens_out_and_read_one_token_exactly(bundle, family, method):
    """A special token keeps its embedding in the baseline, so as a feature it was a dummy: KernelSHAP gave [CLS]
    and [SEP] +-0.10 on the shipped model, where their Shapley values are 0. A text of one token on a model that
    adds no special tokens crashed KernelSHAP (captum samples no coalition of one feature)."""
    loaded = bundle(family)
    options = AttributionOptions(samples=200)
    result = attribute(loaded, "a quiet triumph of warm film", method, options=options)
    assert np.all(result.scores[result.special_tokens] == 0)
    assert np.count_nonzero(result.scores[~result.special_tokens]) == (~result.special_tokens).sum()
    if method == "kernel_shap":  # efficiency: the scores share out F(x) - F(baseline)
        assert result.scores.sum() == pytest.approx(logit_gap(loaded, result), rel=1e-3, abs=1e-4)
    one = attribute(loaded, "film", method, options=options)
    assert (~one.special_tokens).sum() == 1 and np.all(one.scores[one.special_tokens] == 0)
    if method == "kernel_shap":  # one feature: its Shapley value is the whole gap
        assert one.scores.sum() == pytest.approx(logit_gap(loaded, one), abs=1e-5)


@pytest.mark.parametrize("method", ["kernel_shap", "lime"])
def test_too_few_samples_for_the_tokens_say_the_scores_are_not_reliable(bundle, method):
    """LIME with 1 sample gave every token 0 and KernelSHAP with 2 gave every token the same score, with no word
    that a fit of one weight per token cannot be made from fewer samples than tokens."""
    loaded = bundle("bert")
    text = "a quiet triumph of warm film"
    features = int((~prepare(loaded, text, "pad").special).sum())
    few = attribute(loaded, text, method, options=AttributionOptions(samples=features))
    said = [note for note in few.notes if "samples for" in note]
    assert said == [
        f"{title(method)}: {features} samples for {features} tokens: a fit of one weight per token needs more "
        f"samples than tokens (at least {features + 1}), so {UNRELIABLE}"
    ]
    enough = attribute(loaded, text, method, options=AttributionOptions(samples=features + 1))
    assert not any("samples for" in note for note in enough.notes)
    if method == "kernel_shap":  # one token: its exact value, whatever the samples
        assert not attribute(loaded, "film", method, options=AttributionOptions(samples=1)).notes


def permutation_shapley(value, n: int) -> np.ndarray:
    """Shapley values by their definition: each player's marginal contribution averaged over all n! orders."""
    import itertools

    totals = np.zeros(n)
    orders = list(itertools.permutations(range(n)))
    for order in orders:
        joined: set[int] = set()
        for player in order:
            before = value(frozenset(joined))
            joined.add(player)
            totals[player] += value(frozenset(joined)) - before
    return totals / len(orders)


def test_exact_shapley_equals_the_definition_over_every_order():
    from explainer.attribution.embedding_methods import exact_shapley

    rng = np.random.default_rng(0)
    n, positions = 4, 6
    feature_of = np.array([0, 0, 1, 2, 3, 3])  # [T] two positions share feature 0 and two feature 3
    x, base = torch.tensor(rng.normal(size=(1, positions, 3))), torch.tensor(rng.normal(size=(1, positions, 3)))
    weights = torch.tensor(rng.normal(size=(positions * 3,)))

    def forward(embeds: torch.Tensor) -> torch.Tensor:  # a game with interactions: tanh of a mix, squared
        return torch.tanh(embeds.flatten(1) @ weights) ** 2 + embeds[:, 0, 0] * embeds[:, 4, 1]

    def value(coalition: frozenset[int]) -> float:
        on = torch.tensor([feature in coalition for feature in feature_of])[None, :, None]
        return float(forward(torch.where(on, x, base))[0])

    ours = exact_shapley(forward, x, base, feature_of, n, batch=5)  # batches that split the 16 coalitions
    np.testing.assert_allclose(ours, permutation_shapley(value, n), atol=1e-12)


def test_kernel_shap_of_a_short_text_is_its_exact_shapley_values_whatever_the_seed(bundle):
    """Captum's KernelSHAP from 200 draws was 0.52 off a 0.94 gap on a 7-token text of a shipped model, whose 126
    coalitions cost fewer runs than the draws: a text that short is enumerated (2^n - 2 <= samples)."""
    from explainer.attribution.inputs import logits_of_embeddings

    loaded = bundle("bert")
    text = "The film is a film"
    prepared = prepare(loaded, text, "pad")
    features = np.flatnonzero(~prepared.special)
    n = len(features)
    assert 3 <= n <= 7, prepared.tokens
    coalitions = 2**n - 2  # all but the empty and the full one: enumerated, and no sampling note
    result = attribute(loaded, text, "kernel_shap", options=AttributionOptions(samples=coalitions, seed=0))
    assert not result.notes
    logits = logits_of_embeddings(loaded, prepared)

    def value(coalition: frozenset[int]) -> float:
        on = torch.zeros(prepared.length, dtype=torch.bool)
        on[[int(features[k]) for k in coalition]] = True
        with torch.no_grad():
            embeds = torch.where(on[None, :, None], prepared.embeddings, prepared.baseline_embeddings)
            return float(logits(embeds)[0, result.target])

    np.testing.assert_allclose(result.scores[features], permutation_shapley(value, n), atol=2e-5)
    assert np.all(result.scores[result.special_tokens] == 0)
    again = attribute(loaded, text, "kernel_shap", options=AttributionOptions(samples=coalitions, seed=7))
    np.testing.assert_array_equal(again.scores, result.scores)
    # one sample fewer than the coalitions: captum's sampled estimate, which the seed moves
    fewer = [AttributionOptions(samples=coalitions - 1, seed=seed) for seed in (0, 7)]
    sampled = [attribute(loaded, text, "kernel_shap", options=options).scores for options in fewer]
    assert not np.allclose(sampled[0], sampled[1])
    assert sampled[0].sum() == pytest.approx(result.scores.sum(), abs=1e-4)  # both share out the same gap


def logit_gap(loaded, result) -> float:
    """F(x) - F(baseline) of the result's target, from the model's own forward pass on the two embeddings."""
    from explainer.attribution.inputs import logits_of_embeddings

    prepared = prepare(loaded, result.text, result.baseline)
    with torch.no_grad():
        logits = logits_of_embeddings(loaded, prepared)(torch.cat([prepared.embeddings, prepared.baseline_embeddings]))
    return float(logits[0, result.target] - logits[1, result.target])


@pytest.fixture(scope="module")
def bare_gpt2(tmp_path_factory, tokenizer):
    """A tiny GPT-2 whose tokenizer adds no special tokens, as GPT-2's and Qwen2's do not: one word is one token."""
    import copy

    from tokenizers import processors

    from explainer.loading.bundle import load_model
    from tests.conftest import build_model, save_checkpoint

    bare = copy.deepcopy(tokenizer)
    bare._tokenizer.post_processor = processors.TemplateProcessing(single="$A", pair="$A $B")
    folder = save_checkpoint(build_model("gpt2"), bare, tmp_path_factory.mktemp("bare") / "gpt2")
    return load_model(folder, device="cpu")


def test_one_token_without_special_tokens_is_attributed_by_every_perturbation_method(bare_gpt2):
    """KernelSHAP raised captum's "Categorical(probs: tensor([nan]))" on a one-token text of GPT-2; its one
    feature's Shapley value is the whole gap, which occlusion measures too."""
    one = {m: attribute(bare_gpt2, "film", m) for m in ("kernel_shap", "lime", "occlusion")}
    assert one["occlusion"].tokens == ("film",) and not one["occlusion"].special_tokens.any()
    assert one["kernel_shap"].scores[0] == pytest.approx(logit_gap(bare_gpt2, one["kernel_shap"]), abs=1e-5)
    assert one["kernel_shap"].scores[0] == pytest.approx(one["occlusion"].scores[0], abs=1e-5)
    assert np.isfinite(one["lime"].scores).all()


def test_comprehensiveness_of_a_text_removal_would_empty_is_not_defined(bare_gpt2):
    """Removing GPT-2's one token left an empty row, padded and scored as if it were an input (0.31 read off a
    pad token); the table says "not defined" instead of a number or an empty cell."""
    from explainer.attribution.faithfulness import faithfulness
    from explainer.views.attribution import faithfulness_table

    result = attribute(bare_gpt2, "film", "occlusion")
    scores = faithfulness(bare_gpt2, result)
    assert np.isnan(scores.comprehensiveness) and np.isfinite(scores.sufficiency)
    table = faithfulness_table({"occlusion": scores})
    assert table.loc[0, "comprehensiveness"] == "not defined" and table.loc[0, "method"] == "Occlusion"
    assert list(table.columns) == ["method", "deletion AUC", "insertion AUC", "AOPC", "comprehensiveness",
                                   "sufficiency"]
    two = faithfulness(bare_gpt2, attribute(bare_gpt2, "quiet film", "occlusion"))
    assert np.isfinite(two.comprehensiveness)  # 50% of two tokens removes one: something is left


def test_a_baseline_the_method_does_not_read_is_never_built(checkpoint):
    """Saliency with baseline "mask" failed ("the tokenizer has no mask token") for a token it never uses."""
    import copy

    from explainer import load_model

    bundle = load_model(checkpoint("gpt2"), device="cpu")
    without_mask = copy.copy(bundle)
    object.__setattr__(without_mask, "tokenizer", copy.deepcopy(bundle.tokenizer))
    without_mask.tokenizer.mask_token = None
    assert without_mask.tokenizer.mask_token_id is None
    options = AttributionOptions(baseline="mask")
    plain = attribute(bundle, "a fine film", "saliency")
    np.testing.assert_allclose(attribute(without_mask, "a fine film", "saliency", options=options).scores,
                               plain.scores, rtol=1e-6)
    with pytest.raises(InputError, match="has no mask token"):  # a method that reads it still says so
        attribute(without_mask, "a fine film", "integrated_gradients", options=options)


def test_layer_conductance_refuses_a_model_whose_layer_outputs_are_off_the_logits_path(tokenizer, tmp_path):
    # XLNet returns its hidden_states as permuted copies: layer conductance raised torch's "appears to not have
    # been used in the graph" RuntimeError, a traceback from the CLI and an exception over the whole Attribution page
    from explainer import load_model
    from explainer.attribution.layer_methods import MethodUnsupported
    from tests.conftest import xlnet_folder

    bundle = load_model(xlnet_folder(tokenizer, tmp_path), device="cpu")
    with pytest.raises(MethodUnsupported, match="xlnet's layer outputs .hidden_states. are not on the path"):
        attribute(bundle, "a fine film", "layer_conductance")
    every = attribute_all(bundle, "a fine film")  # the others still run, this one is left out
    assert "layer_conductance" not in every and "integrated_gradients" in every
    assert np.isfinite(every["integrated_gradients"].scores).all()


def test_attention_rollout_reads_the_model_at_the_tau_it_is_given(bundle):
    """A report at --tau 0.99 drew its Attention section's rollout at that tau and its rollout attribution at the
    model's own, the same bars at every tau. Rollout (and its faithfulness) now runs at the tau given; gradient
    methods still run dense whatever it is."""
    from explainer.attention.statistics import attention_rollout
    from explainer.attribution.faithfulness import faithfulness
    from explainer.capture.tracing import trace
    from explainer.families import family_of

    loaded = bundle("ours")
    saved = loaded.model.config.beacon_threshold
    loaded.model.config.beacon_threshold = 0.5
    try:
        differed = 0
        for text in CORPUS[:4]:
            at = {tau: attribute(loaded, text, "rollout", tau=tau) for tau in (0.0, 0.95)}
            for tau, result in at.items():
                captured = trace(loaded, text, beacon_threshold=tau)
                readout = family_of(loaded.model).readout_position(len(result.tokens))
                np.testing.assert_allclose(result.scores, attention_rollout(captured.attentions)[readout], atol=1e-6)
                np.testing.assert_allclose(result.logits, captured.logits, atol=1e-5)
                assert result.tau == tau
                full = float(captured.probabilities[result.target])
                assert faithfulness(loaded, result).deletion[0] == pytest.approx(full, abs=1e-5)
            differed += not np.allclose(at[0.0].scores, at[0.95].scores, atol=1e-4)
            dense = attribute(loaded, text, "saliency", tau=0.95)  # no tau of its own: it runs dense
            assert dense.tau is None
            np.testing.assert_allclose(dense.scores, attribute(loaded, text, "saliency").scores, atol=1e-6)
        assert differed, "tau changed no text's rollout: the test shows nothing"
        for odd in (1.5, float("nan"), -0.1):  # refused as trace refuses it, not run in silence
            with pytest.raises(InputError, match="beacon threshold must be a number from 0 to 1"):
                attribute(loaded, CORPUS[0], "rollout", tau=odd)
        plain = bundle("bert")  # no beacons: the tau reads nothing and is not recorded as if it had
        assert attribute(plain, CORPUS[0], "rollout", tau=0.5).tau is None
    finally:
        loaded.model.config.beacon_threshold = saved
