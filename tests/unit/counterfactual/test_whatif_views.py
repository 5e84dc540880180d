"""The What-if view functions: the escaped word diff, words changed, the head-change map against hand-built
attention, and the counterfactual table."""

from __future__ import annotations

import dataclasses
import re
from types import SimpleNamespace

import numpy as np
import pytest

from explainer import trace
from explainer.counterfactual import find_counterfactuals
from explainer.counterfactual.words import split_words
from explainer.families import family_of
from explainer.views import whatif as whatif_figures


def test_diff_marks_removed_and_added_words_and_escapes_markup():
    html = whatif_figures.diff_html("a <b>good</b> film", "a <b>bad</b> film !")
    assert "<b>" not in html and "&lt;" in html
    assert "whatif-removed" in html and ">good</del>" in html
    assert ">bad</ins>" in html and ">!</ins>" in html
    assert html.count("<del") == 1 and html.count("<ins") == 2
    assert whatif_figures.changed_words("a good film", "a bad film !") == 2
    plain = re.sub(r"<del[^>]*>(.*?)</del>", r"[-\1-]", re.sub(r"<ins[^>]*>(.*?)</ins>", r"{+\1+}",
                   whatif_figures.diff_html("I loved this movie, but it falls apart.", "I loved this movie, but "
                                            "it holds up.")))
    assert ">I loved this movie, but it [-falls apart-] {+holds up+}.<" in plain  # one mark a run, own spacing
    replaced = whatif_figures.diff_html("good, film", "bad, film")  # a space between removed and added words
    assert re.search(r">good</del> <ins[^>]*>bad</ins>, film<", replaced)
    markup = whatif_figures.diff_html("a good film", "a <b>bold</b> film")  # one mark: no padding between pieces
    assert markup.count("<ins") == 1 and ">&lt;b&gt;bold&lt;/b&gt;</ins> film<" in markup
    blank = whatif_figures.diff_html("one\n\ntwo [x](http://e.com)\n\n    **three**", "one\n\nfour [x](http://e.com)")
    assert "\n" not in blank and "&#10;&#10;" in blank  # a blank line would end the HTML block: markdown after it
    assert ">[-not-] good<" in re.sub(r"<del[^>]*>(.*?)</del>", r"[-\1-]", whatif_figures.diff_html("not good", "good"))
    assert whatif_figures.changed_words("a good film", "a good film") == 0
    assert whatif_figures.changed_words("not good", "good") == 1
    # pieces between spaces, as a reader counts words (punctuation apart, each of these read "3 words changed")
    original = "I wanted to love this movie, but the plot falls apart halfway through."
    assert whatif_figures.changed_words(original, original.replace("apart", "apart!!!")) == 1
    assert whatif_figures.changed_words(original, original.replace(".", "!!!")) == 1
    assert whatif_figures.changed_words(original, original.replace("halfway", "half-way")) == 1
    edited = "I wanted to love this movie, and the plot <i>never</i> falls apart."  # the walk's 11
    assert whatif_figures.changed_words(original, edited) == 4  # but->and, +<i>never</i>, -halfway, -through.


def test_head_change_is_zero_for_the_same_text_and_measures_moved_attention(cue_bundle):
    first = trace(cue_bundle, "the film and plot")
    readout = family_of(cue_bundle.model).readout_position(len(first.tokens))
    assert np.allclose(whatif_figures.head_change(first, first, readout, readout), 0.0)
    # Hand-built attention: in the edited copy, head (0, 1) of the readout row moves all its weight from [CLS]
    # to the word "film"; every other head is unchanged.
    attentions = np.zeros_like(first.attentions)
    attentions[:, :, :, 0] = 1.0
    moved = attentions.copy()
    moved[0, 1, readout, :] = 0.0
    moved[0, 1, readout, 2] = 1.0  # tokens: [CLS] the film and plot [SEP]
    a = dataclasses.replace(first, attentions=attentions)
    b = dataclasses.replace(first, attentions=moved)
    change = whatif_figures.head_change(a, b, readout, readout)
    expected = np.zeros(change.shape)
    expected[0, 1] = 1.0
    assert np.allclose(change, expected)


def test_head_change_between_two_texts_lies_in_0_1_and_the_map_carries_each_head(cue_bundle):
    a, b = trace(cue_bundle, "the film and plot"), trace(cue_bundle, "the film clever and plot")
    change = whatif_figures.head_change(a, b, 0, 0)
    assert change.shape == (a.num_layers, a.num_heads)
    assert (change >= 0).all() and (change <= 1 + 1e-9).all() and change.max() > 0
    figure = whatif_figures.head_change_figure(change)
    # a click selects a point, not a heatmap cell: one point per head, at its cell, carrying [layer, head]
    picker = figure.data[1]
    assert picker.type == "scatter" and figure.data[0].hoverinfo == "skip"
    cells = np.asarray(picker.customdata)
    assert cells.shape == (change.size, 2) and tuple(cells[3]) == (0, 3)
    assert (picker.x[3], picker.y[3]) == (3, 0) and figure.layout.clickmode == "event+select"


def test_a_lone_space_token_of_an_empty_span_belongs_to_the_word_after_it():
    """RoBERTa trims a lone "Ġ" to an empty span; it was numbered among the special tokens, so when the count of
    double spaces changed, "special tokens matched in order" paired one text's "</s>" with the other's "Ġ": an
    edit that removed only a space moved every head (up to 0.09 on a tiny RoBERTa)."""
    from tests.conftest import roberta_tokens

    def word_of_each_token(tokens) -> list[object]:  # the word holding the first letter at or after the token
        starts = [w.start for w in split_words(tokens.text)]
        slots, special = [], 0
        for (start, _), is_special in zip(tokens.offsets.tolist(), tokens.special_tokens):
            if is_special:
                slots.append(("special", special))
                special += 1
                continue
            letter = len(tokens.text) - len(tokens.text[start:].lstrip())
            slots.append(max(i for i, s in enumerate(starts) if s <= letter))
        return slots

    def with_attention(tokens, words: int):  # the readout row: 0.1 on each special token, 0.8 shared by the words
        slots = word_of_each_token(tokens)
        row = np.array([0.1 if isinstance(s, tuple) else 0.8 / words / slots.count(s) for s in slots])
        attentions = np.tile(row, (1, 2, len(slots), 1))  # [1 layer, 2 heads, T, T]
        return SimpleNamespace(**vars(tokens), attentions=attentions)

    spaced, single = roberta_tokens("A  quiet triumph"), roberta_tokens("A quiet triumph")
    empty = [i for i, ((start, end), special) in enumerate(zip(spaced.offsets, spaced.special_tokens))
             if start == end and not special]
    assert len(empty) >= 2  # the tokenizer gives lone spaces an empty span
    assert whatif_figures._slots(spaced, split_words(spaced.text)) == word_of_each_token(spaced)
    change = whatif_figures.head_change(with_attention(spaced, 3), with_attention(single, 3), 0, 0)
    np.testing.assert_allclose(change, 0.0, atol=1e-12)  # every word and special token holds what it held


def test_head_change_scale_does_not_colour_float_noise():
    figure = whatif_figures.head_change_figure(np.full((2, 3), 1e-7))
    assert figure.data[0].zmax == whatif_figures.MIN_SCALE
    assert whatif_figures.head_change_figure(np.full((2, 3), 0.4)).data[0].zmax == pytest.approx(0.4)


def test_counterfactual_table_lists_each_flip(cue_bundle):
    search = find_counterfactuals(cue_bundle, "the film clever and plot", methods=("removal",))
    table = whatif_figures.counterfactual_table(search)
    assert list(table.columns) == ["edits", "label", "P(pos)", "method", "change", "text"]
    assert table.iloc[0]["change"] == "removed 'clever'" and table.iloc[0]["text"] == "the film and plot"
    assert table.iloc[0]["P(pos)"] == pytest.approx(search.best.probabilities["pos"], abs=1e-4)


def test_a_change_of_case_is_an_edit():
    from explainer.views.whatif import changed_words, diff_html

    assert changed_words("the good film", "the Good film") == 1
    shown = diff_html("the good film", "the Good film")
    assert "line-through" in shown and ">Good<" in shown


def test_a_copy_differing_in_spacing_alone_says_so():
    """"A gentle film.   " read "0 words changed · the prediction stays the same" while its probability moved."""
    from explainer.views.whatif import change_caption

    assert change_caption("A gentle film.", "A gentle film.   ", False).startswith("Only the spacing changed")
    assert change_caption("A film.", "A film.", False) == "0 words changed · the prediction stays the same"
    assert change_caption("A gentle film.", "A dull film.", True) == "1 word changed · the prediction **flips**"


def test_the_diff_compares_only_what_lies_between_the_texts_shared_start_and_end(monkeypatch):
    """The word matcher is quadratic at worst: an edit of a 15,000-word text of two repeated words took 50 s, on
    every rerun. What the texts share at both ends is equal without it; it sees only the middle, once per pair."""
    import difflib

    words = ["a" if i % 3 else "b" for i in range(15_000)]
    edited = [*words[:7000], "c", *words[7001:]]
    seen: list[tuple[int, int]] = []
    real = difflib.SequenceMatcher

    def matcher(junk, a, b, autojunk=True):
        seen.append((len(a), len(b)))
        return real(junk, a, b, autojunk=autojunk)

    monkeypatch.setattr(difflib, "SequenceMatcher", matcher)
    original_text, edited_text = " ".join(words), " ".join(edited)
    assert whatif_figures.changed_words(original_text, edited_text) == whatif_figures.changed_words(
        original_text, edited_text)
    assert seen == [(1, 1)]
    assert whatif_figures._opcodes(split_words(original_text), split_words(edited_text)) == [
        ("equal", 0, 7000, 0, 7000), ("replace", 7000, 7001, 7000, 7001), ("equal", 7001, 15_000, 7001, 15_000)]
    # words removed at both ends: the rest is one equal run
    assert whatif_figures._opcodes(split_words("x a b c d"), split_words("a b c")) == [
        ("delete", 0, 1, 0, 0), ("equal", 1, 4, 0, 3), ("delete", 4, 5, 3, 3)]


def test_an_edit_of_a_word_the_text_holds_twice_says_which():
    """Two flips negating different "is" both read "'is' → 'is not'"."""
    from explainer.counterfactual.result import Edit

    edits = (Edit(4, "is", "is not"),)
    assert whatif_figures.describe_edits(edits, {"is"}) == "'is' (word 5) → 'is not'"
    assert whatif_figures.describe_edits(edits) == "'is' → 'is not'"
    removal = (Edit(0, "The", ""), Edit(4, "is", "is not"))
    assert whatif_figures.describe_edits(removal, {"is"}) == "removed 'The'; 'is' (word 5) → 'is not'"
