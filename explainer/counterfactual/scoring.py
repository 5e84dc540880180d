"""The model as the counterfactual search uses it: probabilities of many texts, a batch per forward pass, and the
gradient of the search's objective at one text. Every pass runs under the bundle's lock and is counted.

Scoring runs the model exactly as `trace()` does (ThoughtBeacon models at their own threshold), so a candidate's
probabilities are the model's real output. Gradients run them at their tau too: HotFlip's gain is a first-order
estimate around the text as the model reads it, and the skipped MLPs are fixed there (the skip is a step that no
gradient sees, but it holds for a small step). Attribution runs dense instead, since its path from a baseline
crosses the steps. The dense gradient of a model that skips 99.8% of its MLPs guided the swaps of another function:
on sst2-thought-beacon no one-word flip was found where "gentle" -> "dull" flips it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from explainer.attribution.inputs import positions_from_ids
from explainer.capture.encoding import read_length, tokenize
from explainer.counterfactual.words import Word
from explainer.loading.bundle import ModelBundle

MAX_BATCH = 64  # candidate texts per forward pass


@dataclass(frozen=True)
class Gradient:
    """The objective's gradient at one text, per token, and which word each token belongs to."""

    ids: np.ndarray  # [T] token ids
    gradient: torch.Tensor  # [T, d] d objective / d word embedding
    embeddings: torch.Tensor  # [T, d] word embeddings of the text
    word_of_token: np.ndarray  # [T] index into the text's words, -1 for special tokens
    objective: float

    def word_dots(self) -> dict[int, float]:
        """{word index: embedding . gradient summed over the word's tokens}, for every word the model reads: the
        objective moves by about minus this when the word is taken away (first order), which HotFlip subtracts
        from a replacement's gain and the lexicon ranks words by."""
        with torch.no_grad():
            own = (self.embeddings * self.gradient).sum(-1).float().cpu().numpy()  # [T]
        words = self.word_of_token[self.word_of_token >= 0]
        return {int(word): float(own[self.word_of_token == word].sum()) for word in np.unique(words)}


class Scorer:
    """Runs the model for the search and counts its forward passes (a gradient pass counts as one)."""

    def __init__(self, bundle: ModelBundle, label: int, target: int | None) -> None:
        self.bundle = bundle
        self.label = label  # the original prediction
        self.target = target  # None: any other label
        self.forward_passes = 0

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:  # [N, labels]
        """The model's probabilities for every text, MAX_BATCH texts per forward pass."""
        bundle = self.bundle
        out = np.zeros((len(texts), len(bundle.label_names)), dtype=np.float64)
        for first in range(0, len(texts), MAX_BATCH):
            chunk = list(texts[first : first + MAX_BATCH])
            encoded = tokenize(bundle, chunk, padding=True, return_tensors="pt")
            inputs = {key: value.to(bundle.device) for key, value in encoded.items()}
            with bundle.lock, torch.inference_mode():
                logits = bundle.model(**inputs).logits  # [batch, labels]
            out[first : first + len(chunk)] = logits.double().softmax(-1).cpu().numpy()
            self.forward_passes += 1
        return out

    def objective(self, logits: torch.Tensor) -> torch.Tensor:
        """What the search raises, from logits [..., labels]: the log-odds of leaving the original label (any
        flip), or of the target against the other labels. Above zero (two labels) means flipped."""
        keep = torch.ones(logits.shape[-1], dtype=torch.bool, device=logits.device)
        if self.target is None:
            keep[self.label] = False
            return torch.logsumexp(logits[..., keep], dim=-1) - logits[..., self.label]
        keep[self.target] = False
        return logits[..., self.target] - torch.logsumexp(logits[..., keep], dim=-1)

    def margin(self, probabilities: np.ndarray) -> np.ndarray:  # [N] from [N, labels]
        """How far each text is past the flip: > 0 flipped (its argmax left the label / is the target)."""
        others = probabilities.copy()
        if self.target is None:
            others[:, self.label] = -np.inf
            return others.max(axis=1) - probabilities[:, self.label]
        others[:, self.target] = -np.inf
        return probabilities[:, self.target] - others.max(axis=1)

    def flipped(self, probabilities: np.ndarray) -> np.ndarray:  # [N] bool from [N, labels]
        predicted = probabilities.argmax(axis=1)
        return predicted != self.label if self.target is None else predicted == self.target

    def gradient(self, text: str, words: Sequence[Word]) -> Gradient:
        """One forward and backward pass of `text` (truncated as the model reads it)."""
        bundle = self.bundle
        encoded = tokenize(bundle, text, return_offsets_mapping=True, return_special_tokens_mask=True)
        kept = read_length(bundle, encoded["input_ids"])  # a decoder's trailing pad ids left out, as trace() does
        ids = list(encoded["input_ids"][:kept])
        special = np.array(encoded["special_tokens_mask"][:kept], dtype=bool)
        offsets = np.array(encoded["offset_mapping"][:kept], dtype=np.int64).reshape(-1, 2)
        starts = [word.start for word in words]
        word_of_token = np.full(len(ids), -1, dtype=np.int64)
        for index, (start, end) in enumerate(offsets):
            if not special[index] and end > start:
                word = bisect_right(starts, int(start)) - 1
                # a token in the gap between words (a tokenizer's own space marker) belongs to the next word
                word_of_token[index] = word if word >= 0 and start < words[word].end else word + 1
        word_of_token[word_of_token >= len(words)] = -1
        input_ids = torch.tensor([ids], device=bundle.device)
        extra = {key: value[:kept] for key, value in encoded.items() if key == "token_type_ids"}
        with bundle.lock, torch.enable_grad():
            embedding = bundle.model.get_input_embeddings()
            embeds = embedding(input_ids).detach().requires_grad_(True)
            mask = torch.ones(input_ids.shape, dtype=torch.long, device=bundle.device)
            kwargs = {key: torch.tensor([value], device=bundle.device) for key, value in extra.items()}
            logits = bundle.model(
                inputs_embeds=embeds, attention_mask=mask, **kwargs,
                **positions_from_ids(bundle, input_ids),  # the positions the ids give (RoBERTa kin), as scored
            ).logits[0]
            objective = self.objective(logits.float())
            (gradient,) = torch.autograd.grad(objective, embeds)
        self.forward_passes += 1
        return Gradient(
            ids=np.array(ids, dtype=np.int64),
            gradient=gradient[0].detach(),
            embeddings=embeds[0].detach(),
            word_of_token=word_of_token,
            objective=float(objective.detach()),
        )
