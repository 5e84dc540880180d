"""What every attribution method starts from: the tokenised input, its word embeddings, the baseline
embeddings, where the classifier reads its prediction, and the model as a function of embeddings.

Attribution runs on the word-embedding output (the model's `inputs_embeds`; position and type embeddings are
added inside the model as usual, with the position ids the token ids give: positions_from_ids), which works the
same for our model and every Hugging Face classifier.
Baselines replace every text token and keep special tokens ([CLS], [SEP], <s>, ...) as they are, the usual
practice: `pad` and `mask` use that token's embedding, `zero` the zero vector.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from explainer.attribution.options import BASELINES
from explainer.capture.encoding import InputError, encode
from explainer.capture.token_names import readable_tokens
from explainer.capture.validation import label_index, require_finite
from explainer.families import family_of, sizes
from explainer.loading.bundle import ModelBundle
from explainer.thought_beacon.dense import ATTRIBUTED_DENSE as DENSE_NOTE
from explainer.thought_beacon.dense import dense_differs, dense_forward_args, differs_note, own_prediction


@dataclass(frozen=True, eq=False)
class Prepared:
    """One tokenised input and its baseline, ready for any method. Tensors on the model's device."""

    input_ids: torch.Tensor  # [1, T]
    special: np.ndarray  # [T] bool, tokens added by the tokenizer
    tokens: tuple[str, ...]
    offsets: np.ndarray  # [T, 2] character span of each token
    embeddings: torch.Tensor  # [1, T, d] word embeddings of the input (no grad)
    baseline_embeddings: torch.Tensor  # [1, T, d] the same with every text token replaced
    baseline_ids: torch.Tensor | None  # [1, T] token ids of the baseline (None for the zero baseline)
    readout: int  # position whose final state the classifier reads
    # Extra keyword arguments every forward pass gets: dense gates for ours (dense_forward_args) and, for RoBERTa
    # and its kin, the position ids their token ids give (positions_from_ids).
    extra: dict[str, Any]
    truncated: bool
    num_text_tokens: int
    dense: bool = False  # the forward passes run a ThoughtBeacon model dense (every MLP update kept)

    @property
    def length(self) -> int:
        return int(self.input_ids.shape[1])


def run_args(bundle: ModelBundle, dense: bool, tau: float | None = None) -> dict[str, float]:
    """The forward arguments of a run: dense (dense_forward_args), else the model at `tau` (None: its own tau;
    a model without beacons takes none)."""
    from explainer.models import uses_beacons  # as thought_beacon.dense imports it: only when a run is built

    if dense:
        return extra_forward_args(bundle)
    if tau is None or not uses_beacons(bundle.model.config):
        return {}
    return {"beacon_threshold": float(tau)}


def positions_from_ids(bundle: ModelBundle, input_ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """{"position_ids": [1, T]} for a model that numbers positions from its token ids, else {}. RoBERTa and its kin
    (XLM-R, CamemBERT, ...) give a pad id in the text the padding position and do not count it; given embeddings
    instead of ids they number every token. Attribution feeds embeddings, so it passes the ids' numbering: the
    function it explains is then the one trace() ran, whatever the text holds."""
    embeddings = getattr(bundle.model.base_model, "embeddings", None)
    # RoBERTa's own method; MPNet, ESM, I-BERT, LUKE and Longformer keep it as a function of their module
    number = getattr(embeddings, "create_position_ids_from_input_ids", None) or getattr(
        sys.modules.get(type(embeddings).__module__), "create_position_ids_from_input_ids", None)
    padding_idx = getattr(embeddings, "padding_idx", None)
    if number is None or padding_idx is None:
        return {}
    return {"position_ids": number(input_ids, padding_idx)}


def extra_forward_args(bundle: ModelBundle) -> dict[str, Any]:
    return dense_forward_args(bundle.model.config)


def baseline_token_id(bundle: ModelBundle, baseline: str) -> int | None:
    if baseline not in BASELINES:
        raise InputError(f"Unknown baseline '{baseline}': choose one of {', '.join(BASELINES)}")
    if baseline == "zero":
        return None
    tokenizer = bundle.tokenizer
    token_id = tokenizer.pad_token_id if baseline == "pad" else tokenizer.mask_token_id
    if token_id is None:
        raise InputError(f"The tokenizer of {bundle.name} has no {baseline} token: choose another baseline")
    return int(token_id)


def prepare(bundle: ModelBundle, text: str, baseline: str = "pad", dense: bool = True,
            tau: float | None = None) -> Prepared:
    """Tokenise `text` (truncated to what the model reads) and build its embeddings and baseline. `dense`: a
    ThoughtBeacon model's passes run dense (dense_forward_args), else at `tau` (None: its own)."""
    encoded = encode(bundle, text)
    replacement = baseline_token_id(bundle, baseline)
    ids = encoded.inputs["input_ids"]
    special = encoded.special
    input_ids = torch.tensor([ids], device=bundle.device)
    embedding = bundle.model.get_input_embeddings()
    with bundle.lock, torch.no_grad():
        embeddings = embedding(input_ids).detach()
        if replacement is None:
            baseline_ids = None
            keep = torch.tensor(special, device=bundle.device)[None, :, None]
            baseline_embeddings = torch.where(keep, embeddings, torch.zeros_like(embeddings))
        else:
            baseline_ids = input_ids.clone()
            baseline_ids[0, torch.tensor(~special, device=bundle.device)] = replacement
            baseline_embeddings = embedding(baseline_ids).detach()
    return Prepared(
        input_ids=input_ids,
        special=special,
        tokens=readable_tokens(bundle.tokenizer, ids),
        offsets=encoded.offsets,
        embeddings=embeddings,
        baseline_embeddings=baseline_embeddings,
        baseline_ids=baseline_ids,
        readout=family_of(bundle.model).readout_position(len(ids)),
        extra={**run_args(bundle, dense, tau), **positions_from_ids(bundle, input_ids)},
        truncated=encoded.truncated,
        num_text_tokens=encoded.num_text_tokens,
        dense=dense and bool(extra_forward_args(bundle)),
    )


def logits_of_embeddings(bundle: ModelBundle, prepared: Prepared) -> Callable[..., torch.Tensor]:
    """f(embeds [B, T, d], **forward_kwargs) -> logits [B, labels]. Call under the bundle's lock."""
    model = bundle.model

    def forward(embeds: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
        return model(inputs_embeds=embeds, attention_mask=mask, **prepared.extra, **kwargs).logits

    return forward


def target_of(bundle: ModelBundle, prepared: Prepared, target: int | str | None) -> tuple[int, np.ndarray]:
    """(target label index, logits [labels] of the input). None picks the predicted label; a name or index
    picks that label."""
    forward = logits_of_embeddings(bundle, prepared)
    with bundle.lock, torch.no_grad():
        logits = forward(prepared.embeddings)[0].float().cpu().numpy()
    require_finite(logits, bundle.name)  # argmax read a NaN as the predicted label
    if target is None:
        if prepared.dense:  # the target is still the label the model predicts at its own tau
            mask = torch.ones_like(prepared.input_ids)
            with bundle.lock:
                return own_prediction(bundle, {"input_ids": prepared.input_ids, "attention_mask": mask}), logits
        return int(logits.argmax()), logits
    return label_index(bundle.label_names, target), logits


def dense_notes(
    bundle: ModelBundle, prepared: Prepared, target: int | str | None, label: int, logits: np.ndarray
) -> tuple[str, ...]:
    """The notes of an attribution run dense (logits [labels] of that run): that it was, and, when the target was
    the default, whether that run would predict another label than the model does at its own tau."""
    if not prepared.dense or not dense_differs(bundle.model.config):  # at tau 0 the dense run is the model's own
        return ()
    differs = differs_note(bundle.label_names, label, logits) if target is None else None
    return (DENSE_NOTE, differs) if differs else (DENSE_NOTE,)


# Below this |F(x) - F(baseline)| a completeness error is judged against it instead: a text its baseline scores
# alike would otherwise ask every path method for an error near 0.
GAP_FLOOR = 0.01


def rows_per_batch(bundle: ModelBundle, length: int, budget_bytes: float = 1.5e9) -> int:
    """How many copies of a `length`-token input one forward+backward may batch within ~`budget_bytes` of
    activations (attention maps dominate at long inputs)."""
    size = sizes(bundle.model.config)
    per_row = 4 * size.layers * (4 * size.heads * length * length + 16 * length * size.hidden)
    return max(1, int(budget_bytes // per_row))


# layers x hidden x tokens. Every method, their faithfulness and the graph take ~15 s on 2 CPU cores for the
# shipped MiniLM at 64 tokens, ~30 s at 128 and ~65 s at 256: this runs them unasked up to ~100 tokens of it
# (~220 of the from-scratch model, ~25 of BERT-base).
AUTO_BUDGET = 230_000


def cheap_enough(bundle: ModelBundle, length: int) -> bool:
    """Whether every method and the graph finish in seconds on a CPU for an input of `length` tokens, so a page
    may run them without being asked."""
    size = sizes(bundle.model.config)
    return size.layers * size.hidden * length <= AUTO_BUDGET or bundle.device.type == "cuda"
