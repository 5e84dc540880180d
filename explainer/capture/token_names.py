"""Token names a reader can read. Byte-level BPE (GPT-2, RoBERTa, Qwen2, Llama 3) names its tokens in a byte
alphabet: every byte of the UTF-8 text is one printable stand-in, so "é" is "Ã©", an emoji "ðŁĺĢ" and Hebrew
"×©×ľ×ķ×Ŀ". Every view labelled tokens that way. Here a byte-level token with a byte past ASCII is named by its
UTF-8 text; bytes that do not make a whole character (a character split across tokens) read "<0xF0>", as
SentencePiece's byte-fallback tokens do, and so do decoded blank or control characters other than a space, newline
or tab (a no-break space alone would label its token with nothing). ASCII tokens keep their names ("Ġfilm"),
word-start marks included, and so do added tokens (stored as written, not in the byte alphabet), so nothing else
changes; the ids are untouched."""

from __future__ import annotations

import unicodedata
import weakref
from collections.abc import Sequence
from functools import cache
from typing import Any

# A byte-level token's leading space, newline and tab keep the marks the views already read (views/text.py).
MARKS = {" ": "Ġ", "\n": "Ċ", "\t": "ĉ"}
INVISIBLE = {"Cc", "Zs", "Zl", "Zp"}  # control characters and separators: shown as their bytes

_BYTE_LEVEL: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


@cache
def _byte_of() -> dict[str, int]:
    """GPT-2's byte alphabet, read backwards: printable Latin-1 bytes stand for themselves, the other 68 bytes for
    the characters from U+0100 on, in byte order (the tokenizers library's bytes_char)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    shifted = [b for b in range(256) if b not in printable]
    table = {chr(b): b for b in printable}
    table.update({chr(256 + n): b for n, b in enumerate(shifted)})
    return table


def is_byte_level(tokenizer: Any) -> bool:
    """Whether the tokenizer's decoder turns byte stand-ins back into bytes (its own word for it, kept per
    tokenizer: a large vocabulary's decoder is asked once)."""
    try:
        return _BYTE_LEVEL[tokenizer]
    except (KeyError, TypeError):
        pass
    decoder = getattr(getattr(tokenizer, "backend_tokenizer", None), "decoder", None)
    found = decoder is not None and "ByteLevel(" in repr(decoder)
    try:
        _BYTE_LEVEL[tokenizer] = found
    except TypeError:  # not weakly referable: ask again next time
        pass
    return found


def _shown(character: str) -> str:
    """A decoded character as a label shows it: a space, newline or tab as its mark; any other blank or control
    character (a carriage return, a no-break space, a line separator) as its bytes, "<0xC2><0xA0>", since shown as
    itself it reads as nothing or breaks the label."""
    if character in MARKS:
        return MARKS[character]
    if unicodedata.category(character) in INVISIBLE:
        return "".join(f"<0x{b:02X}>" for b in character.encode("utf-8"))
    return character


def readable_token(token: str) -> str:
    """One byte-level token named by its text (see the module's docstring); any other string comes back as it is."""
    table = _byte_of()
    if token.isascii() or any(character not in table for character in token):
        return token
    raw = bytes(table[character] for character in token)
    if raw.isascii() and all(b >= 0x20 and b != 0x7F or b in (0x09, 0x0A) for b in raw):
        return token  # printable, spaces, newlines and tabs: the marks read well ("čĊ" read as the letter č + ↵)
    named: list[str] = []
    start = 0
    while start < len(raw):
        for end in range(min(len(raw), start + 4), start, -1):  # the longest whole character here
            try:
                text = raw[start:end].decode("utf-8")
            except UnicodeDecodeError:
                continue
            named.append("".join(_shown(c) for c in text))
            start = end
            break
        else:
            named.append(f"<0x{raw[start]:02X}>")
            start += 1
    return "".join(named)


def readable_tokens(tokenizer: Any, ids: Sequence[int]) -> tuple[str, ...]:
    """The names of `ids` as the views show them: the tokenizer's own, byte-level ones past ASCII as their text."""
    tokens = tokenizer.convert_ids_to_tokens(list(ids))
    if not is_byte_level(tokenizer):
        return tuple(tokens)
    added = getattr(tokenizer, "added_tokens_decoder", {})  # stored as written, not in the byte alphabet
    return tuple(token if i in added else readable_token(token) for i, token in zip(ids, tokens))
