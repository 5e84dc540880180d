"""What a counterfactual search returns: plain data (strings, floats, tuples), no model reference, safe to cache
and to print as JSON. Torch-free."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Edit:
    """One word of the original text changed: `position` indexes the ORIGINAL text's words (words.split_words),
    `old` is that word, `new` what replaced it ("" for a removal; a lexicon edit may put several words there)."""

    position: int
    old: str
    new: str

    @property
    def is_removal(self) -> bool:
        return self.new == ""

    def as_dict(self) -> dict[str, Any]:
        return {"position": self.position, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class Prediction:
    """The model's real output on one text."""

    text: str
    label: str
    probabilities: dict[str, float]  # label name -> probability, in the model's label order

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "label": self.label, "probabilities": dict(self.probabilities)}


@dataclass(frozen=True)
class Counterfactual:
    """An edited text whose prediction flipped: the label and probabilities are the model's own output on `text`
    (re-run after the search found it), never the search's estimate."""

    text: str
    label: str
    probabilities: dict[str, float]
    edits: tuple[Edit, ...]
    edit_count: int  # words of the original changed (one per edit)
    method: str  # the generator that found it (registry name)
    moved: float = 0.0  # how far the probability moved: of the original label down (any flip), or the target's up

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "label": self.label,
            "probabilities": dict(self.probabilities),
            "edits": [edit.as_dict() for edit in self.edits],
            "edit_count": self.edit_count,
            "method": self.method,
        }


@dataclass(frozen=True)
class CounterfactualSearch:
    """The original prediction, every flip found (fewest edits first, then the largest probability moved), how
    many forward passes the search took, and notes for the user (e.g. only the start of a long text was searched)."""

    original: Prediction
    counterfactuals: list[Counterfactual]
    forward_passes: int
    target: str | None = None  # None: any label other than the original's
    methods: tuple[str, ...] = ()
    searched_words: int = 0  # words the search could edit (those the model reads)
    notes: tuple[str, ...] = field(default=())

    @property
    def found(self) -> bool:
        return bool(self.counterfactuals)

    @property
    def best(self) -> Counterfactual | None:
        return self.counterfactuals[0] if self.counterfactuals else None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "original": self.original.as_dict(),
            # what was searched: a file saved from a --target search could not be told from an any-label one
            "target": self.target,  # null: any label other than the original's
            "methods": list(self.methods),
            "searched_words": self.searched_words,
            "counterfactuals": [c.as_dict() for c in self.counterfactuals],
            "forward_passes": self.forward_passes,
        }
        if self.notes:
            out["notes"] = list(self.notes)
        return out
