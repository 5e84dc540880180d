"""One tokenisation of a text for a model, under the bundle's lock: the first chunk the model reads, character
offsets, which tokens are special, and whether the text was truncated. Every path that tokenises one text for
a model (capture, attribution) goes through `encode`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from transformers import BatchEncoding

from explainer.capture.validation import (  # noqa: F401  (re-exported)
    MAX_TEXT_CHARS,
    InputError,
    typed_special_sentence,
    validate_text,
)
from explainer.families import family_of
from explainer.loading.bundle import ModelBundle, embedding_rows


@dataclass(frozen=True)
class Encoded:
    """One text tokenised for the model: the first chunk it reads, and how much of the text there was."""

    inputs: dict[str, list[int]]  # model inputs of the first chunk (input_ids, attention_mask, ...)
    special: np.ndarray  # [T] bool, tokens added by the tokenizer
    offsets: np.ndarray  # [T, 2] character span of each token; (0, 0) for special tokens
    num_text_tokens: int  # text tokens of the whole text, every chunk
    unread: int = 0  # trailing typed tokens equal to the pad id, left out because the classifier never reads them

    @property
    def truncated(self) -> bool:
        """The text has more tokens than the model reads (its trailing pad-id tokens are not a cut: see unread)."""
        return self.num_text_tokens > len(self.special) - int(self.special.sum()) + self.unread


def tokenize(bundle: ModelBundle, texts: str | list[str], **options: Any) -> BatchEncoding:
    """The tokenizer's output for `texts`, truncated at what the model reads. Under the bundle's lock: fast
    tokenizers switch truncation on and off per call, which is not safe across threads."""
    with bundle.lock:
        encoded = bundle.tokenizer(texts, truncation=True, max_length=bundle.max_length, **options)
    _check_ids(bundle, encoded, texts)
    return encoded


class UnembeddableToken(InputError):
    """A text holds a token the model has no embedding for. `text_index` and `text`: which text of a batch (None
    for a single text), so a data set's caller can name the row's line."""

    def __init__(self, message: str, text_index: int | None = None, text: str | None = None) -> None:
        super().__init__(message)
        self.text_index = text_index
        self.text = text


@contextmanager
def texts_from(first: int) -> Iterator[None]:
    """Inside, an UnembeddableToken's text_index counts from `first`: the texts tokenised are a chunk of a longer
    list (a data set's), and the caller names the row by its index in that list."""
    try:
        yield
    except UnembeddableToken as error:
        if error.text_index is not None:
            error.text_index += first
        raise


def _check_ids(bundle: ModelBundle, encoded: BatchEncoding, texts: str | Sequence[str] | None = None) -> None:
    """UnembeddableToken for a token the model has no embedding for (a token added to the tokenizer alone): the
    model would fail on it with an index error deep inside."""
    rows = embedding_rows(bundle.model)
    ids = encoded.get("input_ids")
    if rows is None or ids is None:
        return
    ids = ids.tolist() if hasattr(ids, "tolist") else ids  # a tensor, one list, or one list per text
    batch = bool(ids) and isinstance(ids[0], list)  # one list per text, or per chunk of one long text
    listed = batch and isinstance(texts, list | tuple) and len(texts) == len(ids)
    per_text = ids if batch else [ids]
    index = next((i for i, row in enumerate(per_text) if row and max(row) >= rows), None)  # the first text beyond
    if index is not None:
        largest = max(per_text[index])
        token = bundle.tokenizer.convert_ids_to_tokens(largest)
        raise UnembeddableToken(
            f"The text holds the token {token!r} (id {largest:,}), which this model has no embedding for (it embeds "
            f"{rows:,} ids): its tokenizer knows more tokens than the model. Leave that token out.",
            text_index=index if listed else None,
            text=texts[index] if listed else None,
        )


def encode(bundle: ModelBundle, text: str) -> Encoded:
    """Validate and tokenise `text` for `bundle`, truncated to what the model reads (InputError when nothing of
    it is readable)."""
    validate_text(text)
    # One call: with overflowing tokens on, text past max_length comes back as extra rows, which both flags
    # truncation and counts the text's tokens without tokenising twice.
    encoded = tokenize(
        bundle, text, return_overflowing_tokens=True, return_offsets_mapping=True, return_special_tokens_mask=True
    )
    special_rows = encoded.pop("special_tokens_mask")
    num_text_tokens = sum(len(row) - sum(row) for row in special_rows)
    if num_text_tokens == 0:
        raise InputError("The text has nothing the model can read (only spaces, control or invisible characters).")
    offsets = np.array(encoded.pop("offset_mapping")[0], dtype=np.int64).reshape(-1, 2)
    encoded.pop("overflow_to_sample_mapping", None)
    inputs = {key: list(rows[0]) for key, rows in encoded.items()}
    kept = read_length(bundle, inputs["input_ids"])
    return Encoded(
        inputs={key: row[:kept] for key, row in inputs.items()},
        special=np.array(special_rows[0][:kept], dtype=bool),
        offsets=offsets[:kept],
        num_text_tokens=num_text_tokens,
        unread=sum(1 for added in special_rows[0][kept:] if not added),  # typed, not added by the tokenizer
    )


UNREAD_START = "The text ends in"  # how unread_note begins (of "The text"): the pages find it among a trace's notes


def unread_note(bundle: ModelBundle, count: int, who: str = "The text") -> str:
    """Why the last `count` tokens of a text (`who`: which text, "The clean text") are missing from its analysis:
    they equal the pad id, and the classifier reads the last token that is not padding."""
    token = bundle.tokenizer.convert_ids_to_tokens(int(bundle.model.config.pad_token_id))
    which = (
        "which stands in for the padding token this checkpoint does not define (Hugging Face cannot batch it "
        "without one; given one text alone it would read this token)"
        if bundle.pad_assigned
        else "which this model also uses as its padding token"
    )
    return (
        f"{who} ends in {count} x {token!r}, {which}; its classifier reads the last token that is not padding, so "
        f"{'it is' if count == 1 else 'they are'} not read and not shown."
    )


def typed_special_tokens(tokenizer: Any, text: str, tokens: Sequence[str], special: np.ndarray,
                         offsets: np.ndarray) -> list[str]:
    """The tokenizer's special tokens `text` itself holds ("[CLS]", "</s>" typed), in order, once each, given its
    tokens, which of them the tokenizer added and their character spans: Hugging Face's tokenizers read them as
    those tokens, not as characters (a typed "</s>" became the token a Llama's classifier reads), while every view
    shows them as the user's text."""
    names = set(tokenizer.all_special_tokens)
    found = [token for token, added, (start, end) in zip(tokens, special, offsets)
             if not added and token in names
             and text[start:end].strip() == token]  # typed as such: an emoji read as [UNK] is not
    return list(dict.fromkeys(found))


def typed_special_notes(bundle: ModelBundle, text: str, encoded: Encoded | None = None) -> list[str]:
    """typed_special_sentence of `text` as `bundle` reads it ([] when it types none): for a command's JSON notes.
    `encoded`: encode(bundle, text), when the caller has it already."""
    encoded = encode(bundle, text) if encoded is None else encoded
    tokens = bundle.tokenizer.convert_ids_to_tokens(list(encoded.inputs["input_ids"]))
    typed = typed_special_tokens(bundle.tokenizer, text, tokens, encoded.special, encoded.offsets)
    return [typed_special_sentence(typed)] if typed else []


def read_length(bundle: ModelBundle, ids: Sequence[int]) -> int:
    """How many of a text's tokens to keep: all, except for a decoder that reads its last token, whose trailing
    tokens equal to the pad id (an end-of-text token doubling as padding) are dropped. Given token ids,
    transformers reads such a classifier at the last token that is not the pad id; every method here follows the
    last position (and gets embeddings, not ids), and so do the batched passes (evaluation/predict.token_ids):
    the data-set map's readout and mean vectors and the token counts are those of the tokens trace() shows. A
    decoder's earlier states do not depend on later tokens, so the logits are the model's own."""
    pad = getattr(bundle.model.config, "pad_token_id", None)
    if family_of(bundle.model).readout != "last" or pad is None:
        return len(ids)
    kept = len(ids)
    while kept > 1 and ids[kept - 1] == pad:
        kept -= 1
    return kept


