"""The counterfactual generators, one entry each: name, title, and the function that searches
(`generate(context) -> list[Candidate]`, explainer/counterfactual/context.py). Torch-free on import, like the
attribution registry: pages and views read titles without loading the model code.

Adding a generator = one `Generator(...)` entry below and a module with `generate(context)`; the command line
(--method), the What-if page and the tests pick it up from here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Generator:
    name: str
    title: str
    generate: str  # "module:function" of (Context) -> list[Candidate]

    def function(self) -> Callable[..., Any]:
        module, _, name = self.generate.partition(":")
        return getattr(importlib.import_module(module), name)


MAX_EDITS_LIMIT = 10  # most words one counterfactual may change (the search, and the command line's --max-edits)

_HERE = "explainer.counterfactual"

REGISTRY: dict[str, Generator] = {
    g.name: g
    for g in (
        Generator("removal", "Removal (fewest words taken away)", f"{_HERE}.removal:generate"),
        Generator("hotflip", "HotFlip (gradient-guided word swaps)", f"{_HERE}.hotflip:generate"),
        Generator("lexicon", "Lexicon (negations, antonyms, polar words, your swaps)", f"{_HERE}.lexicon:generate"),
    )
}
METHODS: tuple[str, ...] = tuple(REGISTRY)


def title(method: str) -> str:
    return REGISTRY[method].title if method in REGISTRY else method
