"""Lexicon swaps: replace words by rule, user-supplied swaps first, then the shipped English sentiment list
(sentiment_en.txt: negations taken away or put in, and antonyms; written for this project), then its polar words
in place of the words the prediction leans on most (gradient x input), which no rule may name ("gentle").

Swaps from a user read "good->bad, not->": items separated by commas, each `old->new`; `old` is one word (see
words.py), matched ignoring case; `new` may be several words, or nothing to remove `old`. The search tries every
rule that applies, one edit per level, best-moving states kept (context.beam_search).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

from explainer.capture.encoding import InputError
from explainer.counterfactual.context import Candidate, Context, Option, State, beam_search, readable
from explainer.counterfactual.words import apply_edits, match_case, split_words
from explainer.loading.bundle import ModelBundle

SHIPPED = Path(__file__).with_name("sentiment_en.txt")
ANY_WORD = "*"  # a rule's old word that stands for any word: "* -> dull" is a polar word
POLAR_POSITIONS = 3  # words a polar word is tried in place of
Swap = tuple[str, str]  # (old word, lower-cased; new text)


def parse_swaps(spec: str | Mapping[str, str] | Iterable[tuple[str, str]] | None) -> tuple[Swap, ...]:
    """User swaps as (old, new) pairs, from "good->bad, not->", a {old: new} mapping or pairs. InputError naming
    the offending item when one is malformed."""
    if spec is None:
        return ()
    if isinstance(spec, str):
        pairs: list[tuple[str, str]] = []
        for item in spec.split(","):
            if not item.strip():
                continue
            if "->" not in item:
                raise InputError(f"Swap '{item.strip()}' has no '->': write swaps as old->new, e.g. good->bad, not->")
            old, _, new = item.partition("->")
            pairs.append((old, new))
    elif isinstance(spec, Mapping):
        pairs = list(spec.items())
    else:
        pairs = [tuple(pair) for pair in spec]  # type: ignore[misc]
    swaps: list[Swap] = []
    for old, new in pairs:
        shown = f"{str(old).strip()}->{str(new).strip()}"
        if not isinstance(old, str) or not isinstance(new, str):
            raise InputError(f"Swap {shown!r}: both sides must be text")
        if "->" in new:
            raise InputError(f"Swap '{shown}' has more than one '->': separate swaps with commas")
        old_words = split_words(old)
        if len(old_words) != 1:
            # as the search splits text: punctuation is a word of its own, so "<b>love" is 4 words, which are named
            pieces = " ".join(w.text for w in old_words[:10]) + (" ..." if len(old_words) > 10 else "")
            bare_marks = any(not any(c.isalnum() for c in w.text) for w in old_words)  # "don't" is one word
            marks = ": a punctuation mark is a word" if bare_marks else ""
            what = "nothing" if not old_words else f"{len(old_words)} words ({pieces}{marks})"
            raise InputError(f"Swap '{shown}': the word to replace must be one word, not {what}")
        swaps.append((rule_key(old_words[0].text), " ".join(new.split())))  # as typed ("so-so", "meh!"), spaces one
    # once each, first place kept: "good->bad" typed 200 times was listed 200 times under the search's results
    return tuple(dict.fromkeys(swaps))


@lru_cache(maxsize=1)
def shipped_swaps() -> tuple[Swap, ...]:
    """The shipped rules, "a <-> b" read as both directions."""
    swaps: list[Swap] = []
    for line in SHIPPED.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "<->" in line:
            left, _, right = line.partition("<->")
            swaps += parse_swaps([(left, right), (right, left)])
        else:
            swaps += parse_swaps(line)
    return tuple(swaps)


def rule_key(word: str) -> str:
    """How a word is looked up in the rules: any case, and a typographic apostrophe as the rules' ' ("don’t", as
    phones and word processors type it, is "don't"; words.py reads both as one word)."""
    return word.lower().replace("\u2019", "'")


def rules(user: Iterable[Swap]) -> dict[str, list[str]]:
    """old word -> its replacements, user swaps first, each replacement once."""
    table: dict[str, list[str]] = {}
    for old, new in (*user, *shipped_swaps()):
        news = table.setdefault(old, [])
        if new not in news:
            news.append(new)
    return table


def unreadable_swaps(bundle: ModelBundle, text: str, swaps: Iterable[Swap]) -> set[Swap]:
    """The swaps whose word is in `text` but whose edit the model cannot read wherever the word stands (a
    replacement it cannot embed; removing the text's only word): the search skips such candidates (context.readable),
    so they were never tried."""
    words = split_words(text)
    refused: set[Swap] = set()
    for old, new in swaps:
        places = [index for index, word in enumerate(words) if rule_key(word.text) == old]
        edited = (apply_edits(text, words, {index: match_case(new, words[index].text)}) for index in places)
        if places and not any(readable(bundle, candidate) for candidate in edited):
            refused.add((old, new))
    return refused


def leaned_on(context: Context, count: int = POLAR_POSITIONS) -> list[int]:
    """The `count` editable positions whose words the prediction leans on most: removing a word changes the
    search's objective by about -(embedding . gradient) summed over its tokens, so the most negative sums first."""
    dots = context.scorer.gradient(context.text, context.words).word_dots()
    read = [position for position in context.editable if position in dots]
    return sorted(read, key=lambda position: dots[position])[:count]


def generate(context: Context) -> list[Candidate]:
    table = rules(context.swaps)
    user = {old for old, _ in context.swaps}
    applicable: list[Option] = []
    for position in context.readable:
        old = context.words[position].text
        for rank, new in enumerate(table.get(rule_key(old), ()) if rule_key(old) != ANY_WORD else ()):
            priority = (1.0 if rule_key(old) in user else 0.0) - 0.01 * rank
            if "\u2019" in old:  # the text's own apostrophe in what replaces it ("isn’t" -> "wasn’t")
                new = new.replace("'", "\u2019")
            applicable.append((position, match_case(new, old), priority))
    polar = table.get(ANY_WORD, [])
    positions = leaned_on(context) if polar and context.editable else []
    for rank, new in enumerate(polar):  # after every rule; each word at every position before the next word
        for order, position in enumerate(positions):
            old = context.words[position].text
            if rule_key(old) != new.lower():
                applicable.append((position, match_case(new, old), -1.0 - 0.01 * rank - 0.001 * order))
    applicable.sort(key=lambda option: option[2], reverse=True)

    def options(state: State) -> list[Option]:
        return [option for option in applicable if option[0] not in state]

    return beam_search(context, options)
