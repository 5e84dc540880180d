"""The one word splitting of the counterfactual search and applying edits to a text (torch-free)."""

from __future__ import annotations

from explainer.counterfactual.words import apply_edits, match_case, split_words


def texts(text: str) -> list[str]:
    return [w.text for w in split_words(text)]


def test_words_keep_contractions_and_split_punctuation():
    assert texts("Don't <b>stop</b>, it's 3.5 stars!") == [
        "Don't",
        "<",
        "b",
        ">",
        "stop",
        "<",
        "/",
        "b",
        ">",
        ",",
        "it's",
        "3",
        ".",
        "5",
        "stars",
        "!",
    ]
    assert texts("   ") == [] and texts("café naïve") == ["café", "naïve"]
    words = split_words("a  good film")
    assert [(w.start, w.end) for w in words] == [(0, 1), (3, 7), (8, 12)]
    assert split_words("!")[0].is_punctuation and not split_words("x")[0].is_punctuation


def test_a_visible_character_is_never_split():
    family, thumbs = "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f44d\U0001f3fd"
    accented = "cafe\u0301"  # e + combining acute: one character on screen
    assert texts(f"Great {thumbs} {family} film! {accented} Z\u0334a\u0336") == [
        "Great", thumbs, family, "film", "!", accented, "Z\u0334a\u0336"]
    assert texts("?!") == ["?", "!"] and texts("zero\u200dx") == ["zero\u200dx"]
    assert texts("नमस्ते दुनिया") == ["नमस्ते", "दुनिया"]  # vowel signs are marks: Python's re split these


def test_removal_takes_one_space_and_keeps_the_rest():
    text = "Not bad, really  good!"
    words = split_words(text)
    assert apply_edits(text, words, {0: ""}) == "bad, really  good!"
    assert apply_edits(text, words, {0: "", 1: ""}) == ", really  good!"
    assert apply_edits(text, words, {2: ""}) == "Not bad really  good!"
    assert apply_edits(text, words, {4: "", 5: ""}) == "Not bad, really"
    assert apply_edits(text, words, {1: "good", 4: "bad"}) == "Not good, really  bad!"
    assert apply_edits(text, words, {}) == text
    multi = "first line\nsecond line"
    assert apply_edits(multi, split_words(multi), {1: "is not"}) == "first is not\nsecond line"


def test_match_case():
    assert match_case("bad", "Good") == "Bad"
    assert match_case("bad", "GOOD") == "BAD"
    assert match_case("bad", "good") == "bad"
    assert match_case("", "Good") == ""
    assert match_case("is not", "Is") == "Is not"


def test_invisible_format_characters_are_no_words_and_split_none():
    """Text pasted from the web: "gr\u200beat" was the words "gr", "\u200b", "eat", so Compare scored one token
    of A's as three words and What-if counted edits in a word no one sees."""
    assert [w.text for w in split_words("gr\u200beat fi\u200dlm \u2063ok")] == ["gr\u200beat", "fi\u200dlm", "ok"]
    assert [w.text for w in split_words("wonder\xadful film")] == ["wonder\xadful", "film"]
    assert split_words("\u200b \u2063\u200b") == []
    assert [(w.start, w.end) for w in split_words("\u200bgood!")] == [(1, 5), (5, 6)]
    # after a word it stays out of it: the lexicon knows "great", not "great\u200b" (swaps were missed)
    assert [w.text for w in split_words("a great\u200b film bad\xad")] == ["a", "great", "film", "bad"]
    assert [w.text for w in split_words("do\u200bn't stop")] == ["do\u200bn't", "stop"]


def test_removing_the_first_word_of_a_line_keeps_the_line_break():
    """Removing "But" from "dull.\nBut the acting" joined the two lines: the break went with the space before it."""
    from explainer.counterfactual.words import apply_edits, split_words

    def without(text: str, word: str) -> str:
        words = split_words(text)
        index = next(i for i, w in enumerate(words) if text[w.start : w.end] == word)
        return apply_edits(text, words, {index: ""})

    assert without("The plot was dull.\nBut the acting? Superb.", "But") == "The plot was dull.\nthe acting? Superb."
    assert without("x.\r\nBut y", "But") == "x.\r\ny" and without("x.\n\n  But y", "But") == "x.\n\n  y"
    assert without("a b c", "b") == "a c" and without("But the film", "But") == "the film"  # as before
