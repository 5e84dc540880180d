"""What every generator works on: the original text split into words, which words it may edit, the scorer, the
candidate budget, and the one beam search over edits they share.

A state is a set of edits, {original word position: new text}, always relative to the ORIGINAL words, so states of
different generators compare and combine. Each level of the beam adds one edit to each kept state, scores every new
candidate in batches (one forward pass per batch), stops at the first level where some candidate flips, and
otherwise keeps the `beam_width` states that moved the prediction furthest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from explainer.capture.encoding import tokenize
from explainer.capture.validation import InputError, validate_text
from explainer.counterfactual.scoring import Scorer
from explainer.counterfactual.words import Word, apply_edits, split_words
from explainer.loading.bundle import ModelBundle

State = dict[int, str]  # original word position -> what replaces it ("" removes it)
Option = tuple[int, str, float]  # (position, new text, priority: higher first)

BEAM_WIDTH = 4  # states kept from one level to the next
LEVEL_WIDTH = 24  # candidates one state may spawn at the first level (fewer per state later)


@dataclass(frozen=True)
class Candidate:
    state: State
    text: str
    probabilities: np.ndarray  # [labels] the model's output on `text`
    margin: float  # > 0: flipped (Scorer.margin)
    flipped: bool


@dataclass
class Context:
    bundle: ModelBundle
    text: str
    words: list[Word]
    readable: tuple[int, ...]  # positions of words the model reads (a long text is cut)
    scorer: Scorer
    swaps: tuple[tuple[str, str], ...] = ()  # user-supplied (old word lower-cased, new), before the shipped ones
    levels: int = 3  # most edits a candidate may have in this generator's run
    budget: int = 100  # candidate texts this generator may still score
    beam_width: int = BEAM_WIDTH
    level_width: int = LEVEL_WIDTH
    seen: dict[str, tuple[np.ndarray, float, bool]] = field(default_factory=dict)  # text -> (probabilities
    # [labels], margin, flipped) of every text scored so far, by any generator

    @property
    def editable(self) -> tuple[int, ...]:
        """Readable words with a letter or digit: removal and substitution never edit punctuation alone."""
        return tuple(p for p in self.readable if not self.words[p].is_punctuation)

    def text_of(self, state: State) -> str:
        return apply_edits(self.text, self.words, state)

    def edited_positions(self, state: State) -> dict[int, int]:
        """{word index in the edited text: original position} for every word the state leaves unchanged."""
        mapping: dict[int, int] = {}
        edited = 0
        for position in range(len(self.words)):
            if position in state:
                edited += len(split_words(state[position]))
            else:
                mapping[edited] = position
                edited += 1
        return mapping

    def evaluate(self, states: list[State]) -> list[Candidate]:
        """Score the states' texts not scored before (as many as the budget allows), batched; return the
        candidates of every state that has a score."""
        texts: dict[str, State] = {}
        for state in states:
            texts.setdefault(self.text_of(state), state)
        new = [text for text in texts if text not in self.seen and text != self.text and readable(self.bundle, text)]
        new = new[: max(self.budget, 0)]
        if new:
            self.budget -= len(new)
            probabilities = self.scorer.probabilities(new)
            margins = self.scorer.margin(probabilities)
            flipped = self.scorer.flipped(probabilities)
            for index, text in enumerate(new):
                self.seen[text] = (probabilities[index], float(margins[index]), bool(flipped[index]))
        return [Candidate(state, text, *self.seen[text]) for text, state in texts.items() if text in self.seen]


def readable(bundle: ModelBundle, text: str) -> bool:
    """Whether the app would run `text` (capture.encoding.encode's checks): an edit that leaves no word ("bad"
    with "bad" removed), or only characters the tokenizer drops (a zero-width space), is no counterfactual, since
    the model is never run on such a text, however its tokenizer scores one. Nor is an edit the model cannot embed
    (a replacement word its tokenizer knows beyond the model's embedding rows): one such candidate ended the whole
    search with an error blaming the user's text."""
    try:
        validate_text(text)
        tokenize(bundle, text)
    except InputError:  # UnembeddableToken is one
        return False
    with bundle.lock:  # fast tokenizers switch truncation per call: not thread-safe (capture.encoding.tokenize)
        return bool(bundle.tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])


def beam_search(context: Context, options: Callable[[State], list[Option]]) -> list[Candidate]:
    """The flipped candidates of the first level (1 .. context.levels edits) that has any; [] when none flips
    within the levels or the budget. `options(state)` lists the edits worth adding to `state`, best first."""
    beam: list[State] = [{}]
    for level in range(1, context.levels + 1):
        width = context.level_width if level == 1 else max(4, context.level_width // max(len(beam), 1))
        states: list[State] = []
        for state in beam:
            added = 0
            for position, new, _ in options(state):
                if position in state:
                    continue
                states.append({**state, position: new})
                added += 1
                if added >= width:
                    break
        if not states:
            return []
        candidates = context.evaluate(states)
        flips = [c for c in candidates if c.flipped]
        if flips:
            return flips
        if context.budget <= 0:
            return []
        candidates.sort(key=lambda c: c.margin, reverse=True)
        beam = [c.state for c in candidates[: context.beam_width]]
    return []
