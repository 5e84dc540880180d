"""The one word splitting of the counterfactual search: edit positions, edit counts and the What-if diff all count
words this way.

A word is a run of letters and digits, with apostrophes inside it kept ("don't", "film's" are one word each), or
a single punctuation character or emoji ("," "!" "<" are words of their own), letters and marks as Unicode has
them (one visible character is never split). Whitespace separates words and is never one; an invisible format
character (a zero-width space, a soft hyphen) is part of the word it sits in, and no word alone.
Tokenizers differ per model; words do not, so an edit means the same thing whichever model is explained.

Torch-free: the What-if view functions use it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import regex

# The `regex` module's \w is Unicode's word characters, marks and joiners included (Python's re splits "नमस्ते"
# and an e typed with a combining accent), and \X one visible character (an emoji with its skin tone or a
# family joined by ZWJ), so an edit or the diff never tears a character apart. Invisible format characters
# (\p{Cf}: a zero-width space, a soft hyphen, an invisible separator, common in text pasted from the web) stay
# inside the word they sit in and are no word alone: "gr\u200beat" was the words "gr", "\u200b" and "eat". Only
# between word characters: one after a word ("great\u200b") stays out of it, or the lexicon would not know the word.
WORD = regex.compile(r"\w+(?:\p{Cf}+\w+)*(?:['’]\w+(?:\p{Cf}+\w+)*)*|(?=[^\w\s\p{Cf}])\X")


@dataclass(frozen=True)
class Word:
    text: str
    start: int  # character span of the word in its text
    end: int

    @property
    def is_punctuation(self) -> bool:
        """A word with no letter or digit in it (",", "!", "<")."""
        return not any(character.isalnum() for character in self.text)


def split_words(text: str) -> list[Word]:
    """The words of `text`, in order, with their character spans."""
    return [Word(match.group(), match.start(), match.end()) for match in WORD.finditer(text)]


def apply_edits(text: str, words: Sequence[Word], replacements: dict[int, str]) -> str:
    """`text` with word `i` replaced by `replacements[i]`; "" removes the word with the space before it (or the
    space after it, when nothing comes before it or the word starts a line). Everything else (spacing, line breaks)
    stays as it was: removing "But" from "dull.\nBut the acting" had joined the two lines."""
    parts: list[str] = []
    cursor = 0
    for index in sorted(replacements):
        word, new = words[index], replacements[index]
        gap = text[cursor : word.start]
        spaces = gap[len(gap.rstrip()) :]
        before = "".join(parts).strip() or gap.strip()  # anything left before the word
        if new:
            parts.append(gap + new)
            cursor = word.end
        elif before and "\n" not in spaces and "\r" not in spaces:
            parts.append(gap.rstrip())
            cursor = word.end
        else:  # the word starts the text or a line: drop the space after it instead (a line's break stays)
            parts.append(gap)
            rest = text[word.end :]
            cursor = word.end + len(rest) - len(rest.lstrip(" \t" if before else None))
    parts.append(text[cursor:])
    return "".join(parts)


def match_case(new: str, old: str) -> str:
    """`new` cased like `old`: "Good" -> "Bad", "GOOD" -> "BAD", "good" -> "bad"."""
    if not new or not old:
        return new
    if old.isupper() and len(old) > 1:
        return new.upper()
    if old[0].isupper():
        return new[0].upper() + new[1:]
    return new
