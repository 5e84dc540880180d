"""Removal (ablation flip): take away the fewest words, the words whose removal moves the prediction most first.

Every single-word removal the budget allows (half of it, at least a level's width) is run through the model first:
leave-one-out occlusion, exact, in batches of 64 texts. Their measured margins order the beam search (context.py),
which then combines removals level by level; every candidate is verified by running the model on the text with
the words really removed. Input x gradient of the search's objective (scoring.Scorer.objective), summed over each
word's tokens, only decides which single removals are scored when the budget cannot score them all: as a
first-order estimate it can rank the word that holds the prediction up last (measured on the tests' cue model:
-0.09 for the cue word, whose removal raises the objective by 4.7), so it never orders the search on its own.
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


def generate(context: Context) -> list[Candidate]:
    order: list[Option] = [(p, "", 0.0) for p in single_removal_order(context)]

    def options(state: State) -> list[Option]:
        return [option for option in order if option[0] not in state]

    return beam_search(context, options)
