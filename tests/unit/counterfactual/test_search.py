"""find_counterfactuals on a model trained on a known rule (conftest: "pos" exactly when "clever" is in the text):
each generator finds the one-word flip the rule allows, every flip returned is the model's real output, and bad
input gets a clear message."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from explainer import trace
from explainer.capture.encoding import InputError
from explainer.counterfactual import Counterfactual, CounterfactualSearch, Edit, find_counterfactuals
from explainer.counterfactual.lexicon import shipped_swaps
from explainer.counterfactual.words import apply_edits, split_words
from tests.unit.counterfactual.conftest import CUE

POSITIVE = "the film clever and plot"  # the cue is word 2
NEGATIVE = "the film and plot this story"


def check_verified(bundle, search: CounterfactualSearch) -> None:
    """Every flip is the model's own output on its text, its edits rebuild it from the original, and the list is
    sorted by edit count, then probability moved."""
    original = search.original
    words = split_words(original.text)
    for flip in search.counterfactuals:
        assert isinstance(flip, Counterfactual)
        real = trace(bundle, flip.text)
        assert flip.label == real.predicted_label != original.label
        assert np.allclose(list(flip.probabilities.values()), real.probabilities, atol=1e-5)
        assert flip.edit_count == len(flip.edits) >= 1
        assert all(words[e.position].text == e.old for e in flip.edits)
        state = {e.position: e.new for e in flip.edits}
        assert apply_edits(original.text, words, state) == flip.text
        for dropped in state if len(state) > 1 else ():  # no edit it does not need: without any one, no flip
            fewer = apply_edits(original.text, words, {p: new for p, new in state.items() if p != dropped})
            assert trace(bundle, fewer).predicted_label == original.label, (flip.text, fewer)
    keys = [(c.edit_count, -c.moved) for c in search.counterfactuals]
    assert keys == sorted(keys)


def test_removal_finds_the_cue_word_as_a_one_word_flip(cue_bundle):
    search = find_counterfactuals(cue_bundle, POSITIVE, methods=("removal",))
    assert search.original.label == "pos"
    best = search.best
    assert best is not None and best.method == "removal" and best.label == "neg"
    assert best.edits == (Edit(2, CUE, ""),) and best.text == "the film and plot"
    assert all(c.edit_count == 1 for c in search.counterfactuals)  # the search stops at the first level that flips
    check_verified(cue_bundle, search)


def test_removing_every_word_is_no_counterfactual(cue_bundle):
    # "clever" alone is "pos"; without it the text is empty, which the model is never run on (its tokenizer would
    # score [CLS] [SEP] as "neg", and What-if loaded that "flip" into a page that stops on an empty text)
    assert trace(cue_bundle, CUE).predicted_label == "pos"
    search = find_counterfactuals(cue_bundle, CUE, methods=("removal",))
    assert all(flip.text.strip() for flip in search.counterfactuals) and search.best is None
    check_verified(cue_bundle, find_counterfactuals(cue_bundle, f"{CUE} !", methods=("removal",)))
    invisible = find_counterfactuals(cue_bundle, f"{CUE} \u200b", methods=("removal",))  # only a zero-width space left
    assert all(flip.text.strip(" \u200b") for flip in invisible.counterfactuals) and invisible.best is None
    check_verified(cue_bundle, invisible)


def test_hotflip_puts_the_cue_in_or_takes_it_out(cue_bundle):
    search = find_counterfactuals(cue_bundle, NEGATIVE, methods=("hotflip",))
    assert search.original.label == "neg"
    assert search.best is not None and search.best.edit_count == 1 and search.best.method == "hotflip"
    assert all(c.edits[0].new == CUE for c in search.counterfactuals)  # the only word that makes a text "pos"
    check_verified(cue_bundle, search)

    search = find_counterfactuals(cue_bundle, POSITIVE, methods=("hotflip",))
    assert search.best is not None and search.best.edit_count == 1
    assert all(c.edits[0].position == 2 and c.edits[0].old == CUE for c in search.counterfactuals)
    assert all(c.edits[0].new.isalpha() and len(c.edits[0].new) >= 2 for c in search.counterfactuals)  # whole words
    check_verified(cue_bundle, search)


def polar_only(flips) -> bool:
    """Whether every flip puts a shipped polar word ("* -> dull") in place of a word."""
    polar = {new for old, new in shipped_swaps() if old == "*"}
    return all(edit.new in polar for flip in flips for edit in flip.edits)


def test_lexicon_uses_the_users_swaps(cue_bundle):
    unaided = find_counterfactuals(cue_bundle, NEGATIVE, methods=("lexicon",))  # no rule fits: polar words only
    assert polar_only(unaided.counterfactuals)  # (the cue word is no polar word)
    search = find_counterfactuals(cue_bundle, NEGATIVE, methods=("lexicon",), swaps="story->clever, plot->scene")
    flips = [c.edits for c in search.counterfactuals]
    assert (Edit(5, "story", CUE),) in flips and len(flips) == len(unaided.counterfactuals) + 1
    check_verified(cue_bundle, search)


def test_polar_words_replace_the_words_the_prediction_leans_on():
    """No rule names "gentle", and HotFlip ranks "dull" 16,217th there on the MiniLM baseline: only two-word flips
    were found of a text that "dull" for "gentle" flips."""
    from explainer import load_model

    bundle = load_model("sst2-minilm-baseline")
    search = find_counterfactuals(bundle, "A gentle film with a big heart.", methods=("lexicon",))
    assert "A dull film with a big heart." in [c.text for c in search.counterfactuals]
    assert search.best.edit_count == 1 and polar_only(search.counterfactuals)
    check_verified(bundle, search)


def test_lexicon_rules_match_either_apostrophe(cue_bundle):
    """"don’t" (a typographic apostrophe, as phones type it) is the rules' "don't": the shipped negations and the
    user's swaps matched only the straight one."""
    for text, swaps in (("the film and plot this story\u2019s", "story's->clever"),
                        ("the film and plot this story's", "story\u2019s->clever")):
        search = find_counterfactuals(cue_bundle, text, methods=("lexicon",), swaps=swaps)
        swapped = [c for c in search.counterfactuals if c.edits == (Edit(5, text.split()[-1], CUE),)]
        assert len(swapped) == 1 and polar_only(c for c in search.counterfactuals if c not in swapped), text
        check_verified(cue_bundle, search)


def test_all_generators_together_and_a_target(cue_bundle):
    search = find_counterfactuals(cue_bundle, POSITIVE, target="neg", max_edits=2)
    assert search.target == "neg" and {c.method for c in search.counterfactuals} >= {"removal", "hotflip"}
    assert search.best.edit_count == 1
    assert len({c.text for c in search.counterfactuals}) == len(search.counterfactuals)  # each text once
    assert search.as_dict()["forward_passes"] == search.forward_passes
    check_verified(cue_bundle, search)


def test_forward_passes_are_counted(cue_bundle):
    calls = []
    with cue_bundle.lock:
        handle = cue_bundle.model.register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        search = find_counterfactuals(cue_bundle, NEGATIVE)
    finally:
        with cue_bundle.lock:
            handle.remove()
    assert search.forward_passes == len(calls) > 1
    assert not cue_bundle.model._forward_pre_hooks and torch.is_grad_enabled()  # nothing left behind


def test_long_text_is_searched_only_where_the_model_reads(cue_bundle):
    text = " ".join(["the film and plot"] * 30) + " " + CUE  # the cue lies past what the model reads (64 tokens)
    search = find_counterfactuals(cue_bundle, text, methods=("removal",))
    assert search.original.label == "neg"
    assert search.notes and "only its first" in search.notes[0]
    assert search.searched_words < len(split_words(text))
    assert search.counterfactuals == []  # removing the unread cue would change nothing: it is never tried
    # The cue inside the part read, with as much text after it: found at its place, nothing past the limit edited.
    text = "the film " + CUE + " " + " ".join(["the film and plot"] * 30)
    search = find_counterfactuals(cue_bundle, text, methods=("removal",))
    assert search.original.label == "pos" and search.searched_words < len(split_words(text))
    assert search.best is not None and search.best.edits == (Edit(2, CUE, ""),)
    assert all(e.position < search.searched_words for c in search.counterfactuals for e in c.edits)
    check_verified(cue_bundle, search)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"text": "   "}, "empty"),
        ({"target": "maybe"}, "Unknown target label 'maybe': the model's labels are neg, pos"),
        ({"target": "pos"}, "already predicts 'pos'"),
        ({"methods": ("magic",)}, "Unknown method 'magic'"),
        ({"methods": ()}, "at least one method"),
        ({"max_edits": 0}, "max_edits"),
        ({"max_candidates": 0}, "max_candidates"),
        ({"swaps": "good"}, "Swap 'good' has no '->'"),
        ({"swaps": "good->bad", "methods": ("removal",)}, "Swaps feed the lexicon generator"),  # untried, unsaid
    ],
)
def test_bad_input_gets_a_clear_message(cue_bundle, kwargs, message):
    arguments = {"text": POSITIVE, **kwargs}
    with pytest.raises(InputError) as error:
        find_counterfactuals(cue_bundle, **arguments)
    assert message in str(error.value)


def near_the_boundary(tiny, text: str) -> None:
    """Shift the classification head's bias so `text` keeps its label by 5% of its logit margin: a tiny random
    model is otherwise so sure of every text that no one-word edit flips it, and the search would find nothing
    to verify. The model's body is untouched, so every generator still searches through it."""
    head = [m for m in tiny.model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == 2][-1]
    logits = torch.as_tensor(trace(tiny, text).logits, dtype=head.weight.dtype)
    if head.bias is not None:  # gpt2's score head has none; its tiny model is near the boundary already
        with torch.no_grad():
            head.bias -= 0.95 * (logits - logits.mean())


@pytest.mark.parametrize("family", ["ours", "distilbert", "roberta", "gpt2"])
def test_every_family_searches_and_verifies(checkpoint, family):
    from explainer import load_model

    tiny = load_model(checkpoint(family), device="cpu")  # a private copy: its head is shifted
    text = "The plot makes no sense and the actors seem bored."
    near_the_boundary(tiny, text)
    search = find_counterfactuals(tiny, text, max_edits=1, max_candidates=30)
    assert search.forward_passes >= 3  # the original, removal's gradient and batch, ...
    assert {c.method for c in search.counterfactuals} == {"removal", "hotflip", "lexicon"}  # each one flips
    check_verified(tiny, search)


@pytest.mark.parametrize("family", ["gemma", "bert"])
def test_hotflip_candidates_are_embedded_as_the_text_is(bundle, family):
    """Replacing a word by itself gains nothing: a candidate's embedding is the text's own. Gemma's embedding module
    scales its rows by sqrt(d), and candidates read off the bare weight table were that much smaller."""
    from explainer.counterfactual.hotflip import candidate_embeddings
    from explainer.counterfactual.scoring import Scorer
    from explainer.counterfactual.words import split_words

    loaded = bundle(family)
    text = "The film is a quiet triumph."
    gradient = Scorer(loaded, 0, None).gradient(text, split_words(text))
    own = candidate_embeddings(loaded, torch.tensor(gradient.ids))
    torch.testing.assert_close(own, gradient.embeddings.detach(), atol=1e-6, rtol=1e-6)


def test_hotflip_follows_the_gradient_of_the_model_as_it_runs_at_its_tau():
    """The shipped ThoughtBeacon model skips 99.8% of its MLPs at tau 0.95: swaps ranked by the dense model's
    gradient found no flip of "A gentle film with a big heart." while "gentle" -> "dull" alone flips it."""
    from explainer import load_model
    from explainer.counterfactual.scoring import Scorer

    model = load_model("sst2-thought-beacon", device="cpu")
    text = "A gentle film with a big heart."
    scorer = Scorer(model, 1, None)
    logits = torch.tensor(np.log(scorer.probabilities([text])[0]))  # the model's output at its own tau
    objective = scorer.gradient(text, split_words(text)).objective
    assert objective == pytest.approx(float(scorer.objective(logits)), abs=1e-4)
    search = find_counterfactuals(model, text, methods=("hotflip",))
    assert any(c.edit_count == 1 for c in search.counterfactuals)
    check_verified(model, search)


def test_a_flip_carries_no_edit_it_does_not_need():
    """The shipped baseline: removal's beam reached {It, not, tedious} and 3 more such triples, never {not,
    tedious} ("not" alone moves little, so it never entered the beam), which already flips. Each flip is now
    shrunk while an edit can go."""
    from explainer import load_model

    baseline = load_model("sst2-baseline", device="cpu")
    search = find_counterfactuals(baseline, "It is not a tedious film at all.", methods=("removal",))
    assert [(c.text, c.edit_count) for c in search.counterfactuals] == [("It is a film at all.", 2)]
    check_verified(baseline, search)


def test_removal_scores_every_pair_when_the_budget_affords_them():
    """The shipped ThoughtBeacon model flips when "laughed" and "tomorrow" are both removed, but neither is among
    the other's first four in the beam, which reported no flip within 3 edits after 47 of its 300 texts."""
    from explainer import load_model

    model = load_model("sst2-thought-beacon", device="cpu")
    text = "I laughed, I cried, and I would watch it again tomorrow."
    search = find_counterfactuals(model, text, methods=("removal",))
    assert [(c.text, c.edit_count) for c in search.counterfactuals] == [("I, I cried, and I would watch it again.", 2)]
    check_verified(model, search)


def test_a_replacement_the_model_cannot_embed_is_skipped_not_the_whole_search(cue_bundle):
    """A tokenizer may know words the model has no embedding row for: one such replacement (a swap's, or the
    lexicon's) ended the whole search with an error blaming the user's text, and one in HotFlip's vocabulary with an
    IndexError. It is skipped; the rest is searched."""
    tokenizer = copy.deepcopy(cue_bundle.tokenizer)
    tokenizer.add_tokens(["splendid"])  # beyond the model's embedding rows
    widened = dataclasses.replace(cue_bundle, tokenizer=tokenizer)
    with pytest.raises(InputError, match="no embedding for"):  # in the user's own text it is still refused
        find_counterfactuals(widened, NEGATIVE + " splendid", methods=("lexicon",))
    search = find_counterfactuals(widened, NEGATIVE, methods=("lexicon",), swaps="story->splendid, plot->clever")
    assert (Edit(3, "plot", CUE),) in [c.edits for c in search.counterfactuals]
    assert not any("splendid" in c.text for c in search.counterfactuals)
    check_verified(widened, search)
    every = find_counterfactuals(widened, POSITIVE)  # the default generators, HotFlip's whole vocabulary included
    assert every.counterfactuals and not any("splendid" in c.text for c in every.counterfactuals)
    check_verified(widened, every)
