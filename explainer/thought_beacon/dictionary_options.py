"""How the marker dictionary is built (marker_dictionary.py re-exports it). Light on import (no torch): the
command line shows these defaults in `python -m explainer markers --help` without loading a model."""

from __future__ import annotations

from dataclasses import dataclass

OUTPUT_FILES = ("marker_dictionary.json", "marker_dictionary.csv")  # what `markers --out` receives


@dataclass(frozen=True)
class DictionaryOptions:
    top_tokens: int = 8  # tokens listed per (layer, marker)
    examples: int = 3  # contexts listed per (layer, marker)
    context_chars: int = 40  # characters of text either side of an example's token
    batch_size: int = 32
    forced_effect: bool = True  # also measure the causal effect of forcing each marker (layers x K more passes)
