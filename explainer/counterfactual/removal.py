"""Removal (ablation flip): take away the fewest words, the words whose removal moves the prediction most first.

Every single-word removal the budget allows (half of it, at least a level's width) is run through the model first:
leave-one-out occlusion, exact, in batches of 64 texts. Their measured margins order the beam search (context.py),
which then combines removals level by level (every pair of removals first, when half the budget affords them all);
every candidate is verified by running the model on the text with the words really removed. Input x gradient of
the search's objective (scoring.Scorer.objective), summed over each word's tokens, only decides which single
removals are scored when the budget cannot score them all: as a first-order estimate it can rank the word that holds
the prediction up last (measured on the tests' cue model: -0.09 for the cue word, whose removal raises the objective
by 4.7), so it never orders the search on its own.
"""

from __future__ import annotations

import numpy as np

from explainer.counterfactual.context import Candidate, Context, Option, State, beam_search


def word_importance(context: Context) -> np.ndarray:  # [words]
    """Estimated rise of the objective when each word is removed (input x gradient, summed per word)."""
    gradient = context.scorer.gradient(context.text, context.words)
    per_token = -(gradient.embeddings * gradient.gradient).sum(-1).float().cpu().numpy()  # [T]
    importance = np.zeros(len(context.words))
    for token, word in enumerate(gradient.word_of_token):
        if word >= 0:
            importance[word] += per_token[token]
    return importance


def single_removal_order(context: Context) -> list[int]:
    """Editable word positions, those whose removal was measured to move the prediction furthest first, then the
    ones the budget left unmeasured in input x gradient order."""
    importance = word_importance(context)
    estimated = sorted(context.editable, key=lambda p: -importance[p])
    affordable = max(context.level_width, context.budget // 2)
    context.evaluate([{p: ""} for p in estimated[:affordable]])
    measured = {p: context.seen[text][1] for p in estimated if (text := context.text_of({p: ""})) in context.seen}
    return sorted(measured, key=lambda p: -measured[p]) + [p for p in estimated if p not in measured]


def all_pairs(context: Context, positions: list[int]) -> list[Candidate]:
    """The flips among every two-word removal, when no single removal flips and half the budget affords them all
    (55 texts for 11 words): the beam's few pairs per word missed flips this many texts would have found ("I
    laughed, I cried, ... tomorrow." flips without "laughed" and "tomorrow", neither in the other's first four).
    [] otherwise: the beam search goes on from there."""
    singles = [context.text_of({p: ""}) for p in positions]
    if context.levels < 2 or any(text not in context.seen or context.seen[text][2] for text in singles):
        return []  # a single flips (the beam returns it, the smaller edit), or not every one was measured
    pairs: list[State] = [{a: "", b: ""} for i, a in enumerate(positions) for b in positions[i + 1 :]]
    if not pairs or len(pairs) > context.budget // 2:
        return []
    return [candidate for candidate in context.evaluate(pairs) if candidate.flipped]


def generate(context: Context) -> list[Candidate]:
    positions = single_removal_order(context)
    if flips := all_pairs(context, positions):
        return flips
    order: list[Option] = [(p, "", 0.0) for p in positions]

    def options(state: State) -> list[Option]:
        return [option for option in order if option[0] not in state]

    return beam_search(context, options)
