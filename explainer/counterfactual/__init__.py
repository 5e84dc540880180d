"""What-if editing: the smallest edits of a text that flip the model's prediction (counterfactuals).

    from explainer.counterfactual import find_counterfactuals
    search = find_counterfactuals(bundle, "a dull , lifeless script .", max_edits=3)
    search.original.label, [(c.text, c.label, c.edit_count, c.method) for c in search.counterfactuals]

words.py       the one word splitting (positions, edit counts, the diff)
result.py      Edit, Counterfactual, Prediction, CounterfactualSearch (plain data)
registry.py    the generators: removal, hotflip, lexicon
scoring.py     the model for the search: batched probabilities, the objective's gradient, passes counted
context.py     the state every generator works on and the beam search they share
removal.py     fewest words removed, ordered by each single removal's measured effect
hotflip.py     gradient-guided whole-word substitution (HotFlip)
lexicon.py     user swaps and the shipped English sentiment list (sentiment_en.txt)
search.py      find_counterfactuals
dataset.py     every misclassified row of a labelled file searched for the edit that makes it right
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from explainer.lazy import lazy_names

# Loaded on first use, so that the result types and the registry import no torch.
_PUBLIC = {
    "find_counterfactuals": "search",
    "Counterfactual": "result",
    "CounterfactualSearch": "result",
    "Edit": "result",
    "Prediction": "result",
    "METHODS": "registry",
    "REGISTRY": "registry",
}
__all__ = [
    "METHODS",
    "REGISTRY",
    "Counterfactual",
    "CounterfactualSearch",
    "Edit",
    "Prediction",
    "find_counterfactuals",
]

if TYPE_CHECKING:
    from explainer.counterfactual.registry import METHODS, REGISTRY
    from explainer.counterfactual.result import Counterfactual, CounterfactualSearch, Edit, Prediction
    from explainer.counterfactual.search import find_counterfactuals


__getattr__ = lazy_names(__name__, _PUBLIC, globals())
