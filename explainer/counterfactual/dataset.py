"""Counterfactuals over a labelled data set: every misclassified row searched for the edit that makes the model
right (target: the row's true label), and the summary the command line and the bench print."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from explainer.capture.encoding import InputError
from explainer.counterfactual.registry import METHODS
from explainer.counterfactual.result import CounterfactualSearch
from explainer.counterfactual.search import DEFAULT_MAX_CANDIDATES, find_counterfactuals, swaps_for
from explainer.data.labelled import LabelledData
from explainer.evaluation.predict import predict
from explainer.loading.bundle import ModelBundle


@dataclass(frozen=True)
class Example:
    text: str
    label: str  # the true label
    search: CounterfactualSearch | None  # None: the text could not be searched (see error)
    error: str | None = None
    seconds: float = 0.0


def misclassified_indices(bundle: ModelBundle, data: LabelledData) -> list[int]:
    """The index in `data` of every row the model gets wrong, in file order."""
    if not len(data):
        return []
    predicted = predict(bundle, data.texts).predicted
    return [index for index, (label, guess) in enumerate(zip(data.labels, predicted)) if guess != label]


def misclassified(
    bundle: ModelBundle, data: LabelledData, indices: Sequence[int] | None = None
) -> list[tuple[str, str]]:
    """(text, true label) of every row the model gets wrong (those of `indices`, misclassified_indices's, when
    given), in file order."""
    rows = misclassified_indices(bundle, data) if indices is None else indices
    return [(data.texts[i], bundle.label_names[data.labels[i]]) for i in rows]


def row_place(data: LabelledData, index: int) -> dict[str, Any]:
    """Where row `index` is in its file: its line (and the file, of several, whose lines restart in each), so that
    a line of --out leads back to its row when texts repeat."""
    place: dict[str, Any] = {}
    if index < len(data.row_files):
        place["file"] = str(data.row_files[index])
    if index < len(data.lines):
        place["line"] = data.lines[index]
    return place


def search_each(
    bundle: ModelBundle,
    rows: Sequence[tuple[str, str | None]],
    *,
    max_edits: int = 3,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
    methods: Sequence[str] = METHODS,
    swaps: Any = None,
    refuse: Callable[[str], str | None] | None = None,
) -> Iterator[Example]:
    """find_counterfactuals on each (text, target) in turn; a row the search refuses (empty text, target already
    predicted) comes back with its reason instead of stopping the run, as does a row `refuse` gives a reason for
    (a demo's token limit)."""
    import time

    swaps_for(methods, swaps)  # once, not as every row's refusal
    for text, target in rows:
        started = time.perf_counter()
        reason = refuse(text) if refuse is not None else None
        if reason is not None:
            yield Example(text, target or "", None, reason, 0.0)
            continue
        try:
            search = find_counterfactuals(
                bundle,
                text,
                target=target,
                max_edits=max_edits,
                max_candidates=max_candidates,
                methods=methods,
                swaps=swaps,
            )
        except InputError as error:
            yield Example(text, target or "", None, str(error), time.perf_counter() - started)
            continue
        yield Example(text, target or "", search, None, time.perf_counter() - started)


def summary(examples: Sequence[Example], max_edits: int = 3) -> dict[str, Any]:
    """{"examples", "refused", "found_share", "median_edit_count", "median_forward_passes"}: `refused` counts the
    examples the search could not take (a text with nothing to read, a target already predicted; each has its
    reason in --out); the share with a flip of at most `max_edits` words and the medians are over the examples
    searched (edit counts: over those with a flip; None when none; all None when nothing was searched), as floats.
    A refused row is not a search that failed."""
    searched = [e.search for e in examples if e.search is not None]
    found = [s for s in searched if s.best is not None and s.best.edit_count <= max_edits]
    return {
        "examples": len(examples),
        "refused": len(examples) - len(searched),
        "found_share": len(found) / len(searched) if searched else None,
        # float always: statistics.median gives an int for an odd count and a float for an even one (1 vs 1.0)
        "median_edit_count": float(statistics.median(s.best.edit_count for s in found)) if found else None,
        "median_forward_passes": float(statistics.median(s.forward_passes for s in searched)) if searched else None,
    }


def example_line(example: Example) -> dict[str, Any]:
    """One JSON line of --out: the row, then the search (or the reason it could not run)."""
    line: dict[str, Any] = {"text": example.text, "label": example.label}
    if example.search is None:
        line["error"] = example.error
    else:
        line.update(example.search.as_dict())
    return line
