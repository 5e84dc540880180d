"""Which token of the clean text stands for which token of the corrupted one, for activation patching.

Texts are aligned word by word: the words of the two texts are matched (difflib over the tokenizer's words, or
the edits of a counterfactual when given), and inside a matched word pair the tokens pair up in order when both
words have as many tokens. Everything else is left without a partner and reported, never guessed: an inserted or
removed word, a word replaced by one of another token count. Special tokens pair by their place (leading ones
from the start, trailing ones from the end), and the two readout positions (where the classifier reads) always
pair, since patching the residual stream there is what makes a run read the clean state.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import regex

from explainer.capture.encoding import InputError, encode, tokenize
from explainer.capture.token_names import readable_tokens
from explainer.counterfactual.words import WORD
from explainer.families import family_of
from explainer.loading.bundle import ModelBundle


class EditLike(Protocol):
    """A counterfactual's edit: word `position` of the original, `old` replaced by `new` ("" = removed)."""

    position: int
    old: str
    new: str


@dataclass(frozen=True, eq=False)
class Tokenized:
    """One text as the model reads it, with the word each token belongs to."""

    text: str
    inputs: dict[str, list[int]]  # model inputs of the part the model reads
    tokens: tuple[str, ...]
    special: np.ndarray  # [T] bool
    offsets: np.ndarray  # [T, 2] character spans
    word_ids: tuple[int | None, ...]  # [T] the tokenizer's word index of each token (None: special)
    readout: int  # the position the classifier reads
    truncated: bool
    num_text_tokens: int
    unread: int = 0  # trailing typed tokens equal to the pad id, which the classifier never reads (encoding.Encoded)

    @property
    def length(self) -> int:
        return len(self.tokens)

    def used_part(self) -> str:
        """The end of the text the model read (for truncation notes)."""
        ends = [int(end) for (start, end), special in zip(self.offsets, self.special) if not special]
        return self.text[: max(ends, default=0)]


def tokenized(bundle: ModelBundle, text: str) -> Tokenized:
    encoded = encode(bundle, text)
    ids = encoded.inputs["input_ids"]
    full = tokenize(bundle, text)
    word_ids: list[int | None] = list(full.word_ids(0))
    if list(full["input_ids"][: len(ids)]) == list(ids):  # encode may leave a decoder's trailing pad ids out
        word_ids = word_ids[: len(ids)]
    if len(word_ids) != len(ids):  # cannot happen with one tokenizer; never pair on a mismatch
        word_ids = [None if special else index for index, special in enumerate(encoded.special)]
    word_ids = [None if special else word for word, special in zip(word_ids, encoded.special)]
    return Tokenized(
        text=text,
        inputs=encoded.inputs,
        tokens=readable_tokens(bundle.tokenizer, ids),
        special=encoded.special,
        offsets=encoded.offsets,
        word_ids=tuple(word_ids),
        readout=family_of(bundle.model).readout_position(len(ids)),
        truncated=encoded.truncated,
        num_text_tokens=encoded.num_text_tokens,
        unread=encoded.unread,
    )


@dataclass(frozen=True)
class Alignment:
    """Token pairs (clean position, corrupted position); positions in no pair have no partner."""

    pairs: tuple[tuple[int, int], ...]
    clean_length: int
    corrupted_length: int

    def __post_init__(self) -> None:
        clean = [c for c, _ in self.pairs]
        corrupted = [r for _, r in self.pairs]
        if len(set(clean)) != len(clean) or len(set(corrupted)) != len(corrupted):
            raise InputError("An alignment pairs each token at most once")
        if any(not 0 <= c < self.clean_length for c in clean) or any(
            not 0 <= r < self.corrupted_length for r in corrupted
        ):
            raise InputError(
                f"An alignment names a token outside the texts ({self.clean_length} clean and "
                f"{self.corrupted_length} corrupted tokens)"
            )

    def partners(self) -> np.ndarray:  # [corrupted T] clean position of each corrupted token, -1: none
        result = np.full(self.corrupted_length, -1, dtype=np.int64)
        for clean, corrupted in self.pairs:
            result[corrupted] = clean
        return result

    @property
    def unpartnered_clean(self) -> tuple[int, ...]:
        paired = {c for c, _ in self.pairs}
        return tuple(p for p in range(self.clean_length) if p not in paired)

    @property
    def unpartnered_corrupted(self) -> tuple[int, ...]:
        paired = {r for _, r in self.pairs}
        return tuple(p for p in range(self.corrupted_length) if p not in paired)


# A word: its text and its token positions.
Unit = tuple[str, list[int]]


def _tokenizer_words(item: Tokenized) -> list[Unit]:
    """The tokenizer's words; where those hold a space inside, the words the counterfactual search counts (words
    and punctuation, as BERT's word ids split them): a SentencePiece pre-tokenizer that does not split (Llama's and
    Mistral's Metaspace) gives every token word 0, and one word per text paired all tokens by place when the counts
    matched ("quiet" with "dull") and none otherwise."""
    units: dict[int, list[int]] = {}
    for position, word in enumerate(item.word_ids):
        if word is not None:
            units.setdefault(word, []).append(position)
    words = [(_span(item, positions), positions) for positions in units.values()]
    if any(len(word.split()) > 1 for word, _ in words):
        return [unit for unit in _pattern_words(item, COUNTERFACTUAL_WORD) if unit[1]]  # words the model read
    return words


def _span(item: Tokenized, positions: list[int]) -> str:
    return item.text[int(item.offsets[positions[0], 0]) : int(item.offsets[positions[-1], 1])]


# Words as the counterfactual search counts them (counterfactual/words.py), and plain whitespace-separated
# words: edits are matched against either.
COUNTERFACTUAL_WORD = WORD
WHITESPACE_WORD = re.compile(r"\S+")


def _token_starts(item: Tokenized) -> list[int]:
    """Where each token's text starts, past the space byte-level BPE and SentencePiece count into a word's first
    token ("Ġfilm" spans " film"): read from its offset, it started in the word before."""
    starts = []
    for p in range(item.length):
        start, end = int(item.offsets[p, 0]), int(item.offsets[p, 1])
        while start < end - 1 and item.text[start].isspace():
            start += 1
        starts.append(start)
    return starts


def _pattern_words(item: Tokenized, pattern: re.Pattern[str] | regex.Pattern[str]) -> list[Unit]:
    """The words `pattern` finds in the text, with the tokens whose text starts inside each (words the model did
    not read, past truncation, have none)."""
    starts = _token_starts(item)
    units: list[Unit] = []
    for match in pattern.finditer(item.text):
        positions = [p for p in range(item.length) if not item.special[p] and match.start() <= starts[p] < match.end()]
        units.append((match.group(), positions))
    return units


def _token_pairs(clean: list[Unit], corrupted: list[Unit], word_pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    pairs = []
    for i, j in word_pairs:
        left, right = clean[i][1], corrupted[j][1]
        if left and len(left) == len(right):  # a word of another token count: no token is guessed a partner
            pairs.extend(zip(left, right))
    return pairs


def _special_pairs(clean: Tokenized, corrupted: Tokenized) -> list[tuple[int, int]]:
    def ends(item: Tokenized) -> tuple[list[int], list[int]]:
        text = np.flatnonzero(~item.special)
        first, last = (int(text[0]), int(text[-1])) if len(text) else (item.length, -1)
        specials = np.flatnonzero(item.special)
        return [int(p) for p in specials if p < first], [int(p) for p in specials if p > last]

    (clean_lead, clean_trail), (corr_lead, corr_trail) = ends(clean), ends(corrupted)
    pairs = list(zip(clean_lead, corr_lead))
    pairs += list(zip(reversed(clean_trail), reversed(corr_trail)))
    return pairs


def _with_readout(pairs: list[tuple[int, int]], clean: Tokenized, corrupted: Tokenized) -> Alignment:
    readout = (clean.readout, corrupted.readout)
    kept = [p for p in pairs if p[0] != readout[0] and p[1] != readout[1]]
    return Alignment(tuple(sorted({*kept, readout}, key=lambda p: p[1])), clean.length, corrupted.length)


# How byte-level BPE and SentencePiece mark a token that starts a word after a space.
WORD_START_MARKS = "Ġ▁"


def _word_key(item: Tokenized, positions: Sequence[int]) -> tuple[str, ...]:
    """A word as the model reads it, whether or not a space came before it: its tokens' names, the mark off."""
    return tuple(item.tokens[p].lstrip(WORD_START_MARKS) if i == 0 else item.tokens[p] for i, p in enumerate(positions))


def align_words(clean: Tokenized, corrupted: Tokenized) -> Alignment:
    """Word-by-word alignment by difflib over the tokenizer's words (equal words and same-count replacements
    pair; their tokens pair when the counts match). Words compare by their tokens' names without the word-start
    mark, as the model reads them: a lowercasing tokenizer reads "The" and "the" alike (as text they were a
    replaced word that an insertion beside it left without a partner), and byte-level BPE names a text's first
    word "film" and the same word later "Ġfilm" (as ids they differed, so a word inserted before it unpaired it)."""
    left, right = _tokenizer_words(clean), _tokenizer_words(corrupted)
    matcher = difflib.SequenceMatcher(
        None, [_word_key(clean, ps) for _, ps in left], [_word_key(corrupted, ps) for _, ps in right], autojunk=False
    )
    word_pairs: list[tuple[int, int]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            word_pairs.extend(zip(range(i1, i2), range(j1, j2)))
    return _with_readout(_special_pairs(clean, corrupted) + _token_pairs(left, right, word_pairs), clean, corrupted)


def _apply_edits(words: list[str], edits: Sequence[Any], split: Callable[[str], list[str]] = str.split
                 ) -> tuple[list[str], list[tuple[int, int]]] | None:
    """The words after the edits and the (original, edited) word pairs, or None if the edits do not fit. `split`
    counts an edit's new text in words as `words` were counted ("awful!" is two words of the search's, one
    whitespace word)."""
    by_position: dict[int, Any] = {}
    for edit in edits:
        position = int(edit.position)
        if not 0 <= position < len(words) or position in by_position:
            return None
        if edit.old and edit.old != words[position]:
            return None
        by_position[position] = edit
    result: list[str] = []
    pairs: list[tuple[int, int]] = []
    for index, word in enumerate(words):
        edit = by_position.get(index)
        if edit is None:
            pairs.append((index, len(result)))
            result.append(word)
            continue
        new = split(str(edit.new))
        if not edit.old:  # an insertion before the word, which stays
            result.extend(new)
            pairs.append((index, len(result)))
            result.append(word)
        elif len(new) == 1:
            pairs.append((index, len(result)))
            result.extend(new)
        else:  # removed, or replaced by several words: no partner
            result.extend(new)
    return result, pairs


def align_edits(clean: Tokenized, corrupted: Tokenized, edits: Sequence[EditLike]) -> Alignment:
    """The alignment a counterfactual's edits give: unchanged words and one-for-one replacements pair. Words are
    counted as the counterfactual search counts them (or whitespace-separated, or the tokenizer's words: the first
    the edits fit); edits that do not turn the clean text into the corrupted one are refused."""
    splits = (
        (lambda item: _pattern_words(item, COUNTERFACTUAL_WORD), lambda t: COUNTERFACTUAL_WORD.findall(t)),
        (lambda item: _pattern_words(item, WHITESPACE_WORD), str.split),
        (_tokenizer_words, str.split),
    )
    for split, split_new in splits:
        left, right = split(clean), split(corrupted)
        applied = _apply_edits([w for w, _ in left], edits, split_new)
        if applied is not None and applied[0] == [w for w, _ in right]:
            pairs = _token_pairs(left, right, applied[1])
            return _with_readout(_special_pairs(clean, corrupted) + pairs, clean, corrupted)
    raise InputError("The edits do not turn the clean text into the corrupted one: they cannot align them")


def resolve(
    clean: Tokenized,
    corrupted: Tokenized,
    alignment: Alignment | Sequence[tuple[int, int]] | Sequence[EditLike] | None,
) -> Alignment:
    """An Alignment from what the caller gave: None (word alignment), an Alignment or token pairs (clean position,
    corrupted position; either way the two readouts are paired with each other whatever the pairs say), or a
    counterfactual's edits."""
    if alignment is None:
        return align_words(clean, corrupted)
    if isinstance(alignment, Alignment):
        if (alignment.clean_length, alignment.corrupted_length) != (clean.length, corrupted.length):
            raise InputError("The alignment was made for texts of other lengths")
        return _with_readout(list(alignment.pairs), clean, corrupted)  # as for pairs: one without them left a NaN
    items = list(alignment)
    if items and all(hasattr(item, "position") and hasattr(item, "new") for item in items):
        return align_edits(clean, corrupted, items)
    try:
        pairs = [(int(c), int(r)) for c, r in items]
    except (TypeError, ValueError):
        raise InputError("An alignment is a list of (clean position, corrupted position) pairs or of edits") from None
    Alignment(tuple(pairs), clean.length, corrupted.length)  # its checks, on the pairs as given
    # the readouts pair with each other, as in every alignment made here: patching everything then restores the
    # clean logit (a list without them left the last layer's readout unpatched, a NaN cell)
    return _with_readout(pairs, clean, corrupted)
