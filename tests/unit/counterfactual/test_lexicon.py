"""Lexicon swaps: the user's "old->new" list and the shipped English sentiment rules."""

from __future__ import annotations

import pytest

from explainer.capture.encoding import InputError
from explainer.counterfactual.lexicon import parse_swaps, rules, shipped_swaps


def test_user_swaps_parse_removals_and_several_words():
    assert parse_swaps("good->bad, not->,  Is -> is not") == (("good", "bad"), ("not", ""), ("is", "is not"))
    assert parse_swaps({"Great": "awful"}) == (("great", "awful"),)
    assert parse_swaps(None) == () and parse_swaps(" , ") == ()


def test_a_swap_s_replacement_is_tried_as_typed():
    """The replacement was re-spaced word by word: "great->so-so" tried "so - so", which a byte-level model reads
    as another text than the rule the user wrote."""
    assert parse_swaps("great->so-so, great->meh!, great->isn't  great") == (
        ("great", "so-so"), ("great", "meh!"), ("great", "isn't great"))


@pytest.mark.parametrize(
    "spec, named",
    [
        ("good->bad, awful", "'awful' has no '->'"),
        ("good bad->fine", "'good bad->fine': the word to replace must be one word, not 2 words (good bad)"),
        ("->bad", "'->bad': the word to replace must be one word, not nothing"),
        # the pieces are named: "8 words" of "<b>love</b>" read as a miscount (a browser walk)
        ("<b>love</b>->hate", "not 8 words (< b > love < / b >: a punctuation mark is a word)"),
        ("don't worry->x", "not 2 words (don't worry)"),  # the space, not the apostrophe
        ("a->b->c", "more than one '->'"),
    ],
)
def test_malformed_swaps_name_the_item(spec, named):
    with pytest.raises(InputError, match="Swap") as error:
        parse_swaps(spec)
    assert named in str(error.value)


def test_shipped_rules_hold_negations_and_antonyms_both_ways():
    table = rules(())
    assert "" in table["not"]  # negation taken away
    assert "is not" in table["is"]  # and put in
    assert "bad" in table["good"] and "good" in table["bad"]  # "good <-> bad" in both directions
    assert table["isn't"] == ["is"]
    assert len(shipped_swaps()) > 150
    assert all(old and old == old.lower() and " " not in old for old, _ in shipped_swaps())


def test_user_swaps_come_first():
    table = rules((("good", "fine"),))
    assert table["good"][0] == "fine" and "bad" in table["good"]


def test_typographic_apostrophes_meet_the_rules():
    from explainer.counterfactual.lexicon import rule_key

    assert rule_key("Don\u2019t") == "don't" and parse_swaps("isn\u2019t->is") == (("isn't", "is"),)
    assert rules(())[rule_key("DON\u2019T")] == ["do"]


def test_a_swap_typed_twice_is_kept_once_in_its_first_place():
    """"good->bad," typed 200 times (a link) was listed 200 times under the results: 35 lines of one swap."""
    assert parse_swaps("good->bad, " * 200 + "dull->sharp, GOOD->bad") == (("good", "bad"), ("dull", "sharp"))
    assert parse_swaps([("good", "bad"), ("good", "fine"), ("good", "bad")]) == (("good", "bad"), ("good", "fine"))


def test_a_swap_is_unreadable_only_where_no_place_of_its_word_gives_a_text_the_model_reads(cue_bundle):
    from explainer.counterfactual.lexicon import unreadable_swaps

    swaps = parse_swaps("clever->, film->movie, zebra->")
    # the text's only word removed leaves nothing to read; a word not in the text is no concern of this check
    assert unreadable_swaps(cue_bundle, "clever", swaps) == {("clever", "")}
    assert unreadable_swaps(cue_bundle, "clever film", swaps) == set()
    assert unreadable_swaps(cue_bundle, "clever\u200b", swaps) == {("clever", "")}  # a zero-width space alone left
