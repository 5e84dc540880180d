"""Faithfulness curves, ERASER scores and method agreement; and the known-answer test: a model trained here in
seconds to say whether one token is present, where integrated gradients must rank that token first and its
deletion curve must fall faster than random orders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explainer.attribution import AttributionOptions, attribute, attribute_all
from explainer.attribution.faithfulness import agreement, curve_counts, faithfulness, ranking
from explainer.capture.encoding import InputError
from explainer.loading.bundle import load_model
from tests.conftest import build_model, save_checkpoint

TEXT = "The film is a quiet triumph, warm and funny."


def probability_of_ids(loaded, ids: list[int], label: int) -> float:
    extra = {"beacon_threshold": 0.0} if loaded.architecture == "thought_beacon" else {}
    with torch.no_grad():
        logits = loaded.model(input_ids=torch.tensor([ids]), **extra).logits[0]
    return float(logits.softmax(-1)[label])


@pytest.mark.parametrize("family", ["ours", "gpt2"])
def test_curves_and_eraser_scores_against_direct_forward_passes(bundle, family):
    loaded = bundle(family)
    result = attribute(loaded, TEXT, "occlusion")
    scores = faithfulness(loaded, result)
    ids = loaded.tokenizer(TEXT)["input_ids"]
    order = ranking(result)
    n = len(order)
    assert sorted(order.tolist()) == [i for i in range(len(ids)) if not result.special_tokens[i]]
    assert np.all(np.diff(result.scores[order]) <= 0)  # highest first
    pad = loaded.tokenizer.pad_token_id
    full = probability_of_ids(loaded, ids, result.target)
    empty = [t if result.special_tokens[i] else pad for i, t in enumerate(ids)]
    assert scores.deletion[0] == pytest.approx(full, abs=1e-5)
    assert scores.deletion[-1] == pytest.approx(probability_of_ids(loaded, empty, result.target), abs=1e-5)
    assert scores.insertion[0] == pytest.approx(scores.deletion[-1], abs=1e-5)
    assert scores.insertion[-1] == pytest.approx(full, abs=1e-5)
    # Two top tokens replaced by the baseline, by hand.
    k = list(curve_counts(n)).index(2)
    two = [pad if i in order[:2] else t for i, t in enumerate(ids)]
    assert scores.deletion[k] == pytest.approx(probability_of_ids(loaded, two, result.target), abs=1e-5)
    # `full` comes from an unbatched pass: it matches deletion[0] to 1e-5 (above), and so does this mean
    assert scores.aopc == pytest.approx(float((full - scores.deletion).mean()), abs=1e-5)
    # ERASER: tokens removed from the sequence, mean over the 1/5/10/20/50% bins.
    comprehensiveness, sufficiency = [], []
    for share in (0.01, 0.05, 0.10, 0.20, 0.50):
        top = set(order[: max(1, int(np.ceil(share * n)))].tolist())
        removed = [t for i, t in enumerate(ids) if i not in top]
        kept = [t for i, t in enumerate(ids) if i in top or result.special_tokens[i]]
        comprehensiveness.append(full - probability_of_ids(loaded, removed, result.target))
        sufficiency.append(full - probability_of_ids(loaded, kept, result.target))
    assert scores.comprehensiveness == pytest.approx(np.mean(comprehensiveness), abs=1e-5)
    assert scores.sufficiency == pytest.approx(np.mean(sufficiency), abs=1e-5)


def test_long_inputs_have_at_most_21_curve_points():
    assert curve_counts(5).tolist() == [0, 1, 2, 3, 4, 5]
    counts = curve_counts(300)
    assert len(counts) == 21 and counts[0] == 0 and counts[-1] == 300


def test_agreement_of_a_method_with_itself_its_reverse_and_others(bundle):
    loaded = bundle("bert")
    results = attribute_all(
        loaded, TEXT, ["integrated_gradients", "occlusion", "saliency"], options=AttributionOptions(samples=20)
    )
    same = agreement({"a": results["occlusion"], "b": results["occlusion"]})
    assert same.spearman[0, 1] == pytest.approx(1.0) and same.top_k_overlap[0, 1] == 1.0
    import dataclasses

    flipped = dataclasses.replace(results["occlusion"], scores=-results["occlusion"].scores)
    signed = agreement({"a": results["occlusion"], "b": flipped}, absolute=False)
    assert signed.spearman[0, 1] == pytest.approx(-1.0)
    matrix = agreement(results, k=3)
    assert matrix.tokens >= 6 and matrix.chance_overlap == pytest.approx(3 / matrix.tokens)
    assert matrix.spearman.shape == (3, 3) and matrix.k == 3
    assert np.allclose(matrix.spearman, matrix.spearman.T) and np.allclose(np.diag(matrix.top_k_overlap), 1)
    assert ((matrix.top_k_overlap >= 0) & (matrix.top_k_overlap <= 1)).all()
    # two texts of one length: token i of one was ranked against token i of the other (Spearman 1.0)
    other = dataclasses.replace(results["occlusion"], text=TEXT.upper())
    with pytest.raises(InputError, match="Attributions of different inputs cannot be compared"):
        agreement({"a": results["occlusion"], "b": other})


def test_faithfulness_refuses_another_model_s_attribution(bundle):
    """It scored the other model's ranking on this model (or failed on a tensor shape if the tokens differed)."""
    bert, ours = bundle("bert"), bundle("ours")
    made = attribute(bert, TEXT, "saliency")
    with pytest.raises(InputError, match=f"This attribution is of {bert.name}, not {ours.name}"):
        faithfulness(ours, made)
    assert faithfulness(bert, made).deletion.shape == faithfulness(bert, made).insertion.shape


# --- a task with a known answer ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyword_model(tokenizer, tmp_path_factory):
    """A tiny baseline encoder trained for a few seconds: label 1 iff one keyword token is in the text."""
    vocabulary = tokenizer.get_vocab()
    keyword = "7"  # the tiny test vocabulary is mostly single characters: a digit among letters
    fillers = [w for w in "abcdefghijklmnopqrstuvwyz" if w in vocabulary]
    assert keyword in vocabulary and len(fillers) > 20
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = build_model("baseline", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, initializer_range=0.05)
    model.train()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)

    def batch(size: int = 64):
        texts, labels = [], []
        for _ in range(size):
            chosen = [fillers[int(i)] for i in torch.randint(len(fillers), (6,), generator=generator)]
            label = int(torch.rand(1, generator=generator) < 0.5)
            if label:
                chosen[int(torch.randint(6, (1,), generator=generator))] = keyword
            texts.append(" ".join(chosen))
            labels.append(label)
        encoded = tokenizer(texts, return_tensors="pt", padding=True)
        return encoded, torch.tensor(labels)

    perfect = 0
    for _ in range(400):  # until 5 batches in a row are all right (about 100 steps)
        encoded, labels = batch()
        logits = model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"]).logits
        # Label smoothing keeps the logits moderate, so the model is not a step function of its input.
        loss = torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.2)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        perfect = perfect + 1 if bool((logits.argmax(-1) == labels).all()) else 0
        if perfect == 5:
            break
    model.eval()
    encoded, labels = batch(200)
    with torch.no_grad():
        predicted = model(**{k: encoded[k] for k in ("input_ids", "attention_mask")}).logits.argmax(-1)
    accuracy = float((predicted == labels).float().mean())
    assert accuracy > 0.97, f"the keyword model did not learn its task (accuracy {accuracy:.2f})"
    folder = save_checkpoint(model, tokenizer, tmp_path_factory.mktemp("keyword") / "model")
    return load_model(folder, device="cpu"), keyword, fillers


def test_integrated_gradients_find_the_known_token_and_delete_faithfully(keyword_model):
    loaded, keyword, fillers = keyword_model
    rng = np.random.default_rng(0)
    for _ in range(2):
        words = list(rng.choice(fillers, size=8))
        words[int(rng.integers(8))] = keyword
        text = " ".join(words)
        result = attribute(loaded, text, "integrated_gradients", options=AttributionOptions(steps=32, max_steps=32))
        assert result.target_label == "pos"
        top = ranking(result)[0]
        assert result.tokens[top] == keyword, (text, result.tokens, result.scores)
        ours = faithfulness(loaded, result)
        random_areas = [
            faithfulness(loaded, result, order=rng.permutation(ranking(result))).deletion_auc for _ in range(6)
        ]
        assert ours.deletion_auc < np.mean(random_areas)
        assert ours.deletion[1] < 0.5 < ours.deletion[0]  # deleting the keyword alone flips the prediction


def test_top_k_overlap_is_read_over_at_most_half_the_tokens(bundle):
    """On 2 text tokens a top-2 is every token: two opposite rankings once overlapped 100%. k is at most half the
    tokens, so opposite rankings of 2 tokens share nothing; on 1 token neither measure is defined."""
    import dataclasses

    one = attribute_all(bundle("bert"), "Bad film", ["occlusion"])["occlusion"]
    text = np.flatnonzero(~one.special_tokens)
    assert len(text) == 2
    def ranked(first: float, second: float):
        scores = np.where(one.special_tokens, 9.0, 0.0)  # special tokens are left out of the ranking
        scores[text] = [first, second]
        return dataclasses.replace(one, scores=scores)

    up, down = ranked(1.0, 2.0), ranked(2.0, 1.0)
    two = agreement({"up": up, "down": down})
    assert two.k == 1 and two.top_k_overlap[0, 1] == 0.0 and two.spearman[0, 1] == pytest.approx(-1.0)
    assert two.chance_overlap == 0.5
    special = one.special_tokens.copy()
    special[text[0]] = True  # one text token left
    single = dataclasses.replace(up, special_tokens=special)
    alone = agreement({"a": single, "b": single})
    assert alone.tokens == 1 and np.isnan(alone.top_k_overlap[0, 1]) and np.isnan(alone.chance_overlap)


def test_an_explicit_order_must_name_the_text_tokens_once(bundle):
    """order=[99] failed deep in numpy; a repeat or a special token's position was scored as if it were a word."""
    loaded = bundle("bert")
    result = attribute(loaded, TEXT, "saliency")
    text_positions = ranking(result)
    cases = (([99], "99 is not one"), ([int(text_positions[0])] * 3, "each at most once"), ([0], "0 is not one"),
             ([-1], "-1 is not one"), ([1.5], "not \\[1.5\\]"), (np.array([], dtype=int), "not \\[\\]"))
    for order, said in cases:
        with pytest.raises(InputError, match=said) as refused:
            faithfulness(loaded, result, order=order)
        assert len(str(refused.value)) < 200  # one bad position named, not every text position listed
    reversed_order = faithfulness(loaded, result, order=text_positions[::-1])
    assert reversed_order.deletion.shape == faithfulness(loaded, result).deletion.shape
    part = faithfulness(loaded, result, order=text_positions[:2])  # some of the tokens: allowed, as before
    assert np.isfinite(part.deletion_auc)
