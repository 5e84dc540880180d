"""What a text and its options must be before any model reads them (InputError, validate_text, check_tau,
label_index), and the sentences every page and command says of a text (cut, typed special tokens). Light on
import (no torch, no transformers), so the command line can check --text while parsing and name InputError
without loading a model; encoding.py re-exports the text's checks."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

from explainer.views.text import quoted_label  # a label "0" or "Negative " in the list, said as itself

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


def require_finite(logits: Sequence[float], model_name: str, what: str = "this text") -> None:
    """InputError unless every logit of `what` is a finite number: the load's probe text passed, this input
    overflows inside the model (argmax reads a NaN as label 0, and every view would explain a prediction that is not
    there)."""
    if not all(math.isfinite(float(value)) for value in logits):
        raise InputError(f"{model_name}'s output for {what} is not a finite number (NaN or infinity): an overflow "
                         "inside the model, so there is no prediction to explain")


def is_count(value: object) -> bool:
    """A whole number of at least 1 (a bool is an int to Python, not a count to anyone; 1.5 failed in range())."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_tau(beacon_threshold: float | None) -> float | None:
    """A beacon threshold (tau) as a float from 0 to 1, or None for the model's own (InputError otherwise: 1.5
    skipped every MLP, and NaN compared false with every gate, so it ran dense, each under its own cache entry).
    A float, not numpy's: a cache key or a JSON manifest holds it as a number, whatever the caller passed."""
    if beacon_threshold is None:
        return None
    if isinstance(beacon_threshold, bool) or not isinstance(beacon_threshold, numbers.Real) or not (
            math.isfinite(beacon_threshold) and 0 <= beacon_threshold <= 1):
        raise InputError(f"The beacon threshold must be a number from 0 to 1, not {beacon_threshold!r}")
    return float(beacon_threshold)


def typed_special_sentence(tokens: list[str], who: str = "The text") -> str:
    """What the pages say of Trace.typed_special_tokens (shown beside unread_note's note); `who`: which text."""
    names = ", ".join(f"'{token}'" for token in tokens)
    one = len(tokens) == 1
    return (f"{who} holds {names}, which the tokenizer reads as {'its special token' if one else 'special tokens'}"
            f", as Hugging Face does: the model sees {'that token' if one else 'those tokens'} there, not the "
            "characters.")


def unknown_sentence(tokens: Sequence[str], special: Sequence[bool], unknown: str | None,
                     who: str = "The text") -> str | None:
    """What the pages say when the model read some of the text as its unknown token (emoji or a script its
    vocabulary lacks): the prediction came with no word of it, and only the heatmaps' axes showed it. None when
    none is, or the tokenizer has no unknown token (byte-level BPE reads every character)."""
    if not unknown:
        return None
    text_tokens = [token for token, is_special in zip(tokens, special, strict=True) if not is_special]
    count = sum(token == unknown for token in text_tokens)
    if not count:
        return None
    tokens_said = f"{len(text_tokens)} token{'' if len(text_tokens) == 1 else 's'}"
    return (f"{who}: {count} of its {tokens_said} {'is' if count == 1 else 'are'} the model's unknown "
            f"token '{unknown}': its vocabulary lacks those characters (emoji or another script, say), so the model "
            "reads them all alike, whatever they were.")


def unknown_token(tokenizer) -> str | None:
    """The tokenizer's unknown token, where it stands for nothing else: GPT-2's is its end-of-text token, which a
    text that holds it typed reads as that token (typed_special_sentence says so), not as characters unknown."""
    unknown = getattr(tokenizer, "unk_token", None)
    others = {getattr(tokenizer, name, None) for name in ("bos_token", "eos_token", "pad_token", "sep_token",
                                                          "cls_token", "mask_token")}
    return None if not unknown or unknown in others else str(unknown)


# said after any sentence of a cut text, for a model whose tokenizer keeps a long text's end (ModelBundle)
CUT_LEFT_ELSEWHERE = (" Its tokenizer is set to keep the end of a long text (truncation_side 'left'), so its own "
                      "pipeline would read the end instead.")


def truncation_sentence(num_text_tokens: int, max_length: int, who: str = "The text",
                        cuts_left_elsewhere: bool = False) -> str:
    """The one sentence every page, command and report says when a text was cut: its token count (special tokens
    left out) against what the model reads (special tokens in); `cuts_left_elsewhere`: the model's tokenizer would
    have kept the end (ModelBundle.cuts_left_elsewhere)."""
    return (
        f"{who} has {num_text_tokens:,} tokens; the model reads {max_length:,} at most (with special tokens): "
        "only the beginning was analysed."
        + CUT_LEFT_ELSEWHERE * cuts_left_elsewhere
    )


def label_key(name: str) -> str:
    """What makes two label names the same label: case and surrounding spaces set aside ("Negative " is
    "negative"), as data files' labels, --target, links, slices and Compare match them."""
    return name.strip().casefold()


def label_index(label_names: Sequence[str], target: int | str, noun: str = "label") -> int:
    """The label a caller named: a name first (a model labelled "-1", "0", "1" means the name "0" by "0", as the
    pages' label pickers do), then an index or its digits; InputError naming the labels otherwise (`noun` says
    what was asked for: "label", "target label")."""
    if isinstance(target, str) and target in label_names:
        return list(label_names).index(target)
    folded = [i for i, name in enumerate(label_names) if isinstance(target, str) and
              label_key(name) == label_key(target)]
    if len(folded) == 1:  # "Neutral" for "neutral", as data files' labels are matched (one such label only)
        return folded[0]
    digits = target.strip().lstrip("-") if isinstance(target, str) else ""
    if isinstance(target, str) and not (digits.isascii() and digits.isdigit()):  # not "²" or "①", which int() fails
        raise InputError(f"Unknown {noun} '{target}': the model's labels are "
                         f"{', '.join(map(quoted_label, label_names))}")
    if not isinstance(target, str) and (isinstance(target, bool) or int(target) != target):  # 1.9 is no label 1
        raise InputError(f"A {noun} is a name or a whole index, not {target!r}")
    index = int(target)
    if not 0 <= index < len(label_names):
        raise InputError(f"{noun.capitalize()} index {index} is out of range: the model has {len(label_names)} labels")
    return index
