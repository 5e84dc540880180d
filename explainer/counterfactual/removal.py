"""Removal (ablation flip): take away the fewest words, in attribution order.

The order is input x gradient of the search's objective (scoring.Scorer.objective), summed over each word's
tokens: -(e . grad) estimates how much the objective rises when a word's embeddings are taken away, so the
words that hold the prediction up come first. One forward and backward pass; every candidate is then verified
by running the model on the text with the words really removed (context.beam_search).
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


def generate(context: Context) -> list[Candidate]:
    importance = word_importance(context)
    order: list[Option] = sorted(((p, "", float(importance[p])) for p in context.editable), key=lambda o: -o[2])

    def options(state: State) -> list[Option]:
        return [option for option in order if option[0] not in state]

    return beam_search(context, options)
