"""What a text must be before any model reads it: InputError and validate_text. Light on import (no torch, no
transformers), so the command line can check --text while parsing and name InputError without loading a model;
encoding.py re-exports all three."""

from __future__ import annotations

MAX_TEXT_CHARS = 100_000  # beyond this, tokenising alone gets slow; no classifier reads that much anyway


class InputError(ValueError):
    """The input text cannot be traced; the message says why in words a user can act on."""


def validate_text(text: str) -> str:
    if not isinstance(text, str):
        raise InputError(f"Text must be a string, not {type(text).__name__}")
    if not text.strip():
        raise InputError("The text is empty: type a sentence to analyse.")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:  # an unpaired surrogate: a shell's undecodable byte, JSON's "\\ud800"
            raise InputError(
                f"The text is not valid Unicode at character {error.start + 1} (an undecodable byte or an unpaired "
                "surrogate): no tokenizer can read it."
            ) from None
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(
            f"The text has {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}. "
            "Paste a shorter passage (the model reads only its first few hundred tokens anyway)."
        )
    return text
