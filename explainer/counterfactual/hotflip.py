"""Substitution guided by gradients (HotFlip, Ebrahimi et al. 2018), one word at a time, beam search over positions.

For a word made of tokens a_1..a_n at embeddings e(a_k) with gradients g_k of the search's objective, replacing it
by the one-token word b changes the objective by about e(b) . g_1 - sum_k e(a_k) . g_k (first order: b takes the
first token's place, the others go). Every whole-word vocabulary entry is scored that way at once, and the best
(position, word) pairs are tried on the model. Whole words only: no "##" continuations, no special tokens, nothing
but ASCII letters, at least two of them (so no punctuation swaps). Of a BPE or SentencePiece vocabulary (GPT-2's
"Ġ", Llama's "▁"), a word is a piece that opens one: most are whole words, some are fragments ("Ġgoo"), which no
vocabulary alone tells apart. Each state of the beam gets its own gradient.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch

from explainer.counterfactual.context import Candidate, Context, Option, State, beam_search
from explainer.counterfactual.words import match_case, split_words
from explainer.loading.bundle import ModelBundle, embedding_rows

PER_POSITION = 6  # replacements considered at each position
WORD_PREFIXES = ("Ġ", "▁")  # byte-level BPE and SentencePiece mark a word's first piece this way


@dataclass(frozen=True)
class Vocabulary:
    ids: torch.Tensor  # [V] token ids of whole words
    words: tuple[str, ...]  # [V] the words as typed


_vocabularies: dict[tuple[int, int | None], tuple[object, Vocabulary]] = {}
_vocabulary_lock = threading.Lock()


def whole_words(bundle: ModelBundle) -> Vocabulary:
    """The tokenizer's whole-word entries the model can embed (cached per tokenizer and embedding size): a tokenizer
    may know words beyond the model's embedding rows, and one such word failed the whole search (an IndexError)."""
    tokenizer = bundle.tokenizer
    rows = embedding_rows(bundle.model)
    with _vocabulary_lock:
        kept = _vocabularies.get((id(tokenizer), rows))
        if kept is not None and kept[0] is tokenizer:
            return kept[1]
        vocab = tokenizer.get_vocab()
        special = set(tokenizer.all_special_tokens)
        prefixed = any(token.startswith(WORD_PREFIXES) for token in vocab)
        ids: list[int] = []
        words: list[str] = []
        for token, index in sorted(vocab.items(), key=lambda item: item[1]):
            if token in special or token.startswith("##") or (rows is not None and index >= rows):
                continue
            if prefixed:  # only pieces that open a word are words; the others continue one
                if not token.startswith(WORD_PREFIXES):
                    continue
                token = token[1:]
            if len(token) >= 2 and token.isascii() and token.isalpha():
                ids.append(index)
                words.append(token)
        vocabulary = Vocabulary(torch.tensor(ids, dtype=torch.long), tuple(words))
        _vocabularies[(id(tokenizer), rows)] = (tokenizer, vocabulary)
        return vocabulary


def candidate_embeddings(bundle: ModelBundle, ids: torch.Tensor) -> torch.Tensor:
    """[len(ids), d] the embeddings of `ids` as the model makes them: through its embedding module, as the
    gradient's own embeddings are made. Gemma's module scales its rows by sqrt(d), and the bare weight table left
    every candidate that much smaller than the word it would replace, which skewed the ranking across positions."""
    return bundle.model.get_input_embeddings()(ids.to(bundle.device))


def generate(context: Context) -> list[Candidate]:
    vocabulary = whole_words(context.bundle)
    if not len(vocabulary.words):
        return []
    editable = set(context.editable)

    def options(state: State) -> list[Option]:
        text = context.text_of(state)
        words = split_words(text)
        gradient = context.scorer.gradient(text, words)
        positions: list[int] = []  # original positions
        firsts: list[int] = []
        bases: list[float] = []
        dots = gradient.word_dots()  # what each word itself contributes, taken away with it
        for edited, original in context.edited_positions(state).items():
            if original not in editable or edited not in dots:
                continue
            positions.append(original)
            firsts.append(int(np.flatnonzero(gradient.word_of_token == edited)[0]))
            bases.append(dots[edited])
        if not positions:
            return []
        with torch.no_grad():
            candidates = candidate_embeddings(context.bundle, vocabulary.ids)  # [V, d]
            gains = candidates @ gradient.gradient[firsts].T  # [V, P]
            gains = gains.float().cpu().numpy() - np.array(bases)[None, :]
        found: list[Option] = []
        for column, position in enumerate(positions):
            old = context.words[position].text
            for row in np.argsort(-gains[:, column])[: PER_POSITION + 1]:
                word = vocabulary.words[row]
                if word.lower() != old.lower():
                    found.append((position, match_case(word, old), float(gains[row, column])))
        # Interleave positions (each one's best first) so one strong position does not fill the whole level.
        found.sort(key=lambda option: -option[2])
        by_position: dict[int, list[Option]] = {}
        for option in found:
            by_position.setdefault(option[0], []).append(option)
        ranked = sorted(by_position.values(), key=lambda options: -options[0][2])
        return [options[i] for i in range(PER_POSITION) for options in ranked if i < len(options)]

    return beam_search(context, options)
