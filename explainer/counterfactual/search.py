"""find_counterfactuals: edits that flip a prediction (each minimal, fewest first), from every generator registered.

One call, configured up front, plain data back (result.py). The generators run in the order given, each with a
share of the candidate budget and all sharing the texts already scored; once one has found a flip with k edits,
the later ones search up to k edits only. Each flip is then shrunk while one of its edits can be dropped and the
rest still flip (a beam can reach {a, b, c} without ever scoring {a, b}: an edit that moves little alone never
enters it), so no flip carries an edit it does not need. Every flip returned is run through the model once more
at the end (all in one batch): its label and probabilities are the model's real output on its text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from explainer.capture.encoding import InputError, encode
from explainer.capture.validation import CUT_LEFT_ELSEWHERE, label_index, require_finite
from explainer.counterfactual import lexicon
from explainer.counterfactual.context import Candidate, Context
from explainer.counterfactual.registry import MAX_EDITS_LIMIT, METHODS, REGISTRY
from explainer.counterfactual.result import Counterfactual, CounterfactualSearch, Edit, Prediction
from explainer.counterfactual.scoring import Scorer
from explainer.counterfactual.words import apply_edits, split_words
from explainer.loading.bundle import ModelBundle
from explainer.progress import Progress

DEFAULT_MAX_CANDIDATES = 300  # candidate texts scored in one search, every generator together
MAX_RESULTS = 25  # flips kept, fewest edits first


def resolve_target(bundle: ModelBundle, target: int | str | None) -> int | None:
    """The target label's index (None: any other label); InputError listing the model's labels otherwise."""
    return None if target is None else label_index(bundle.label_names, target, noun="target label")


def _check(methods: Sequence[str], max_edits: int, max_candidates: int) -> tuple[str, ...]:
    methods = tuple(methods)
    if not methods:
        raise InputError(f"Choose at least one method: {', '.join(METHODS)}")
    unknown = [m for m in methods if m not in REGISTRY]
    if unknown:
        raise InputError(f"Unknown method '{unknown[0]}': choose from {', '.join(METHODS)}")
    if isinstance(max_edits, bool) or not isinstance(max_edits, int) or not 1 <= max_edits <= MAX_EDITS_LIMIT:
        raise InputError(f"max_edits must be a whole number from 1 to {MAX_EDITS_LIMIT}, not {max_edits!r}")
    if isinstance(max_candidates, bool) or not isinstance(max_candidates, int) or max_candidates < 1:
        raise InputError(f"max_candidates must be a whole number of at least 1, not {max_candidates!r}")
    return tuple(dict.fromkeys(methods))


def swaps_for(methods: Sequence[str], swaps: str | Mapping[str, str] | Iterable[tuple[str, str]] | None) -> tuple:
    """The user's swaps, parsed; InputError when they are given but the lexicon generator, the only one that reads
    them, is not among `methods` (they went untried, unsaid)."""
    parsed = lexicon.parse_swaps(swaps)
    if parsed and "lexicon" not in methods:
        raise InputError("Swaps feed the lexicon generator, which this search does not run: add 'lexicon' to the "
                         "methods, or leave the swaps out")
    return parsed


def find_counterfactuals(
    bundle: ModelBundle,
    text: str,
    target: int | str | None = None,
    max_edits: int = 3,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
    methods: Sequence[str] = METHODS,
    swaps: str | Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    progress: Progress | None = None,
) -> CounterfactualSearch:
    """Edits of at most `max_edits` words of `text` that flip the model's prediction (to `target`, a label name or
    index, when given), found by `methods` (registry names) within `max_candidates` scored texts. `swaps` adds
    lexicon rules ("good->bad, not->"). `progress(done, total)` after each method. InputError on bad input."""
    methods = _check(methods, max_edits, max_candidates)
    user_swaps = swaps_for(methods, swaps)
    encoded = encode(bundle, text)  # validates the text; says how much of it the model reads
    target_index = resolve_target(bundle, target)
    probe = Scorer(bundle, 0, None)
    original_probabilities = probe.probabilities([text])[0]
    require_finite(original_probabilities, bundle.name)  # argmax read a NaN as the original label
    label = int(original_probabilities.argmax())
    if target_index is not None and target_index == label:
        raise InputError(
            f"The model already predicts '{bundle.label_names[label]}': choose another target label "
            f"({', '.join(n for n in bundle.label_names if n != bundle.label_names[label])})"
        )
    scorer = Scorer(bundle, label, target_index)
    scorer.forward_passes = probe.forward_passes

    words = split_words(text)
    text_ends = encoded.offsets[~encoded.special, 1]
    read_until = int(text_ends.max()) if len(text_ends) else 0
    readable = tuple(i for i, word in enumerate(words) if word.start < read_until)
    notes: list[str] = []
    if encoded.truncated:
        notes.append(
            f"The text is longer than the model reads ({bundle.max_length} tokens): only its first "
            f"{len(readable)} of {len(words)} words were searched."
            + CUT_LEFT_ELSEWHERE * bundle.cuts_left_elsewhere
        )
    context = Context(bundle, text, words, readable, scorer, swaps=user_swaps)

    found: dict[str, tuple[Candidate, str]] = {}
    best = max_edits
    for done, method in enumerate(methods):
        context.levels = best
        context.budget = (max_candidates - len(context.seen)) // (len(methods) - done)
        for candidate in REGISTRY[method].function()(context):
            found.setdefault(candidate.text, (candidate, method))
            best = min(best, len(candidate.state))
        if progress is not None:
            progress(done + 1, len(methods))

    shrunk = _shrunk(scorer, text, words, list(found.values()))
    counterfactuals = _verified(scorer, words, original_probabilities, shrunk)
    return CounterfactualSearch(
        original=Prediction(text, bundle.label_names[label], _named(bundle, original_probabilities)),
        counterfactuals=counterfactuals[:MAX_RESULTS],
        forward_passes=scorer.forward_passes,
        target=None if target_index is None else bundle.label_names[target_index],
        methods=methods,
        searched_words=len(readable),
        notes=tuple(notes),
    )


def _named(bundle: ModelBundle, probabilities: np.ndarray) -> dict[str, float]:
    return {name: float(p) for name, p in zip(bundle.label_names, probabilities)}


def _shrunk(scorer: Scorer, text: str, words: list, found: list[tuple[Candidate, str]]) -> list[tuple[Candidate, str]]:
    """Each flip without the edits it does not need: while dropping one of its edits still flips the prediction,
    drop the one whose removal keeps the largest margin (one batch per round for every flip still shrinking, each
    text once; at most flips x k^2 / 2 texts for flips of k edits, counted in forward_passes like the final
    re-run, outside the search's candidate budget). Flips that shrink to the same text are kept once, the first
    found."""
    states = [dict(candidate.state) for candidate, _ in found]
    shrinking = [i for i, state in enumerate(states) if len(state) > 1]
    while shrinking:
        trials = [(i, {p: new for p, new in states[i].items() if p != dropped})
                  for i in shrinking for dropped in states[i]]
        texts = [apply_edits(text, words, state) for _, state in trials]
        at = {t: i for i, t in enumerate(dict.fromkeys(texts))}  # flips sharing edits share smaller states:
        probabilities = scorer.probabilities(list(at))[[at[t] for t in texts]]  # each text scored once
        best: dict[int, tuple[float, dict[int, str]]] = {}
        for (i, state), margin, flips in zip(trials, scorer.margin(probabilities), scorer.flipped(probabilities)):
            if flips and (i not in best or margin > best[i][0]):
                best[i] = (float(margin), state)
        for i, (_, state) in best.items():
            states[i] = state
        shrinking = [i for i in best if len(states[i]) > 1]
    out: dict[str, tuple[Candidate, str]] = {}
    for (candidate, method), state in zip(found, states):
        if len(state) < len(candidate.state):
            candidate = dataclasses.replace(candidate, state=state, text=apply_edits(text, words, state))
        out.setdefault(candidate.text, (candidate, method))
    return list(out.values())


def _verified(
    scorer: Scorer, words: list, original: np.ndarray, found: list[tuple[Candidate, str]]
) -> list[Counterfactual]:
    """Run every flip once more (one batch) and keep those the model really flips, sorted."""
    if not found:
        return []
    probabilities = scorer.probabilities([candidate.text for candidate, _ in found])
    flipped = scorer.flipped(probabilities)
    bundle = scorer.bundle
    watched = scorer.label if scorer.target is None else scorer.target
    sign = -1.0 if scorer.target is None else 1.0
    out = []
    for (candidate, method), row, ok in zip(found, probabilities, flipped):
        if not ok:
            continue
        edits = tuple(Edit(p, words[p].text, new) for p, new in sorted(candidate.state.items()))
        out.append(
            Counterfactual(
                text=candidate.text,
                label=bundle.label_names[int(row.argmax())],
                probabilities=_named(bundle, row),
                edits=edits,
                edit_count=len(edits),
                method=method,
                moved=float(sign * (row[watched] - original[watched])),
            )
        )
    out.sort(key=lambda c: (c.edit_count, -c.moved))
    return out
