"""One forward pass in, one immutable Trace out: everything the views show about an input."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from explainer.capture import layer_hooks
from explainer.capture.encoding import UNREAD_START, InputError, encode, typed_special_tokens, unread_note
from explainer.capture.token_names import readable_tokens
from explainer.capture.validation import check_tau, require_finite
from explainer.families import MlpProbe, family_of, missing_family_note, single_readout_note
from explainer.frozen import FrozenArrays
from explainer.loading.bundle import ModelBundle
from explainer.loading.layer_shapes import layer_shape_refusal
from explainer.models import GatePin, MarkerForce, is_thought_beacon


@dataclass(frozen=True, eq=False, repr=False)
class Trace(FrozenArrays):
    """What one forward pass showed. Numpy on CPU, read-only, no model reference, picklable.
    Two Traces are equal when every field is (arrays compared element-wise)."""

    model_name: str
    architecture: str  # config.model_type
    text: str
    tokens: tuple[str, ...]
    offsets: np.ndarray  # [T, 2] character span of each token in `text`; (0, 0) for special tokens
    special_tokens: np.ndarray  # [T] bool, True for [CLS]/[SEP]/<s>/... added by the tokenizer
    label_names: tuple[str, ...]
    logits: np.ndarray  # [labels]
    probabilities: np.ndarray  # [labels]
    predicted: int
    attentions: np.ndarray  # [layers, heads, T, T], query x key, rows sum to 1
    hidden_states: np.ndarray  # [layers+1, T, d], embeddings first
    layer_logits: np.ndarray | None  # [layers+1, labels], the classifier head read off each layer (logit lens)
    mlp_update_ratio: np.ndarray | None  # [layers, T], ||MLP update|| / ||residual entering the MLP||
    thought_markers: np.ndarray | None  # [layers, T, K] marker routing probabilities (ThoughtBeacon only)
    marker_contributions: np.ndarray | None  # [layers, T], ||W_m m|| / ||x|| (ThoughtBeacon only)
    beacon_gates: np.ndarray | None  # [layers, T], gate g in [0, 1] (ThoughtBeacon only)
    beacon_threshold: float | None  # tau the gates were applied with (ThoughtBeacon only)
    forced_markers: tuple[MarkerForce, ...]
    pinned_gates: tuple[GatePin, ...]
    truncated: bool  # the text had more tokens than the model reads; only the first max_length were used
    num_text_tokens: int  # tokens the whole text has (before truncation, special tokens excluded)
    max_length: int
    untrained: bool  # the model is an untrained placeholder
    # Why a field is missing, in words: a family the per-architecture table lacks gets no logit lens or MLP
    # ratio, and the note names it and how to add it (explainer/families.py: missing_family_note).
    notes: tuple[str, ...] = ()
    readout: int = 0  # the position the classifier reads: the first token ([CLS], <s>), or the last (decoders)
    # Why no single position carries the prediction (families.single_readout_note: a family the table lacks, a
    # mean-pooling ModernBERT); `readout` is then only the first token, and views that follow it say so instead.
    readout_note: str | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Trace):
            return NotImplemented
        for item in fields(self):
            mine, theirs = getattr(self, item.name), getattr(other, item.name)
            if isinstance(mine, np.ndarray) or isinstance(theirs, np.ndarray):
                if not (isinstance(mine, np.ndarray) and isinstance(theirs, np.ndarray)):
                    return False
                if mine.shape != theirs.shape or not np.array_equal(mine, theirs):
                    return False
            elif mine != theirs:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]  # holds arrays: not hashable

    @property
    def predicted_label(self) -> str:
        return self.label_names[self.predicted]

    @property
    def unread_note(self) -> str | None:
        """Why typed trailing tokens are missing (encoding.unread_note), when they are."""
        return next((note for note in self.notes if note.startswith(UNREAD_START)), None)

    def typed_special_tokens(self, tokenizer) -> list[str]:
        """The tokenizer's special tokens the text itself holds ("[CLS]", "</s>" typed), in order, once each:
        Hugging Face's tokenizers read them as those tokens, not as characters (a typed "</s>" became the token a
        Llama's classifier reads), while every view shows them as the user's text."""
        return typed_special_tokens(tokenizer, self.text, self.tokens, self.special_tokens, self.offsets)

    @property
    def family_notes(self) -> tuple[str, ...]:
        """What the per-architecture table lacks for the logit lens (the notes but the unread one)."""
        return tuple(note for note in self.notes if not note.startswith(UNREAD_START))

    @property
    def num_layers(self) -> int:
        return self.attentions.shape[0]

    @property
    def num_heads(self) -> int:
        return self.attentions.shape[1]

    @property
    def layer_probabilities(self) -> np.ndarray | None:  # [layers+1, labels]
        if self.layer_logits is None:
            return None
        shifted = np.exp(self.layer_logits - self.layer_logits.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)

    @property
    def marker_path(self) -> np.ndarray | None:  # [layers, T], argmax marker per slot
        return None if self.thought_markers is None else self.thought_markers.argmax(axis=-1)

    def shapes(self) -> dict[str, list[int] | None]:
        """The shape of every captured array (None where this architecture has no such field)."""
        return {
            item.name: list(value.shape) if isinstance(value := getattr(self, item.name), np.ndarray) else None
            for item in fields(self)
            if "np.ndarray" in str(item.type)
        }


def trace(
    bundle: ModelBundle,
    text: str,
    *,
    beacon_threshold: float | None = None,
    forced_markers: Sequence[MarkerForce] = (),
    pinned_gates: Sequence[GatePin] = (),
) -> Trace:
    """Run `text` through the model once and capture what happens inside.

    Thread-safe: the forward pass and its hooks run under the bundle's lock. Text longer than the model
    reads is truncated, and the Trace says so (`truncated`, `num_text_tokens`).
    """
    encoded = encode(bundle, text)
    # one MarkerForce or GatePin given alone is one intervention, not three fields to read as interventions
    forced_markers = (forced_markers,) if isinstance(forced_markers, MarkerForce) else forced_markers
    pinned_gates = (pinned_gates,) if isinstance(pinned_gates, GatePin) else pinned_gates
    forced_markers = tuple(_normalise(f, MarkerForce) for f in forced_markers)
    pinned_gates = tuple(_normalise(p, GatePin) for p in pinned_gates)
    beacon_threshold = check_tau(beacon_threshold)
    model = bundle.model
    offsets, special, num_text_tokens = encoded.offsets, encoded.special, encoded.num_text_tokens
    inputs = {key: torch.tensor([row], device=bundle.device) for key, row in encoded.inputs.items()}
    is_ours = is_thought_beacon(model.config)
    extra: dict[str, Any] = {}
    if is_ours:
        extra = {"beacon_threshold": beacon_threshold, "forced_markers": forced_markers, "pinned_gates": pinned_gates}
        _check_interventions(model, inputs["input_ids"].shape[1], forced_markers, pinned_gates)
    elif forced_markers or pinned_gates or beacon_threshold is not None:
        raise InputError("Forcing markers, pinning gates and beacon thresholds need a ThoughtBeacon model")

    family = family_of(model)
    with bundle.lock, torch.inference_mode():
        with _record_mlp_norms(family.mlp_probes(model)) as norms:
            out = model(**inputs, output_attentions=True, output_hidden_states=True, **extra)
        hidden = out.hidden_states
        layer_logits = family.logit_lens(model, hidden, inputs["input_ids"]) if family.logit_lens else None

    if not out.attentions or out.attentions[0] is None:
        raise RuntimeError(f"{bundle.name} returned no attention weights: it must run with eager attention")
    # A model that pools tokens between layers (Funnel) is refused at load; a bundle made another way, here.
    refusal = layer_shape_refusal(
        bundle.name, model.config.model_type, inputs["input_ids"].shape[1], out.attentions, hidden
    )
    if refusal:
        raise RuntimeError(refusal)
    logits = _numpy(out.logits[0])
    require_finite(logits, bundle.name, "this text with these interventions" if forced_markers or pinned_gates
                   else "this text")
    probabilities = _numpy(out.logits[0].float().softmax(-1))
    if is_ours:
        mlp_ratio = _stack(out.mlp_update_ratios)
    elif norms:
        mlp_ratio = np.stack([update / np.maximum(residual, 1e-12) for residual, update in norms])
    else:
        mlp_ratio = None
    tokens = readable_tokens(bundle.tokenizer, encoded.inputs["input_ids"])
    return Trace(
        model_name=bundle.name,
        architecture=model.config.model_type,
        text=text,
        tokens=tokens,
        offsets=offsets,
        special_tokens=special,
        label_names=bundle.label_names,
        logits=logits,
        probabilities=probabilities,
        predicted=int(probabilities.argmax()),
        attentions=_stack(out.attentions),
        hidden_states=_stack(hidden),
        layer_logits=None if layer_logits is None else _numpy(layer_logits[:, 0]),
        mlp_update_ratio=mlp_ratio,
        thought_markers=_stack(getattr(out, "thought_markers", None)),
        marker_contributions=_stack(getattr(out, "marker_contributions", None)),
        beacon_gates=_stack(getattr(out, "beacon_gates", None)),
        beacon_threshold=_effective_tau(model, beacon_threshold) if is_ours else None,
        forced_markers=forced_markers,
        pinned_gates=pinned_gates,
        truncated=encoded.truncated,
        num_text_tokens=num_text_tokens,
        max_length=bundle.max_length,
        untrained=bundle.untrained,
        readout=family.readout_position(len(tokens)),
        readout_note=single_readout_note(model),
        notes=tuple(
            note
            for note in (
                unread_note(bundle, encoded.unread) if encoded.unread else None,
                missing_family_note(model, "the logit lens and MLP update ratio"),
            )
            if note
        ),
    )


@contextlib.contextmanager
def _record_mlp_norms(probes: list[MlpProbe]) -> Iterator[list[tuple[np.ndarray, np.ndarray]]]:
    """Forward hooks measuring per-token norms of the residual entering each MLP and of its update.

    Layers are told apart by call order (a shared layer, as in ALBERT, is one module called once per layer).
    Every handle is removed on exit, also when the forward pass raises."""
    residual_norms: dict[int, np.ndarray] = {}
    update_norms: dict[int, np.ndarray] = {}
    results: list[tuple[np.ndarray, np.ndarray]] = []

    def keep(store: dict[int, np.ndarray], index: int, tensor: torch.Tensor) -> None:
        store[index] = _numpy(tensor[0].float().norm(dim=-1))  # [T]

    readers = [reader for reader, _ in probes]
    writers = [writer for _, writer in probes]
    with (
        layer_hooks.forward_hooks(readers, lambda layer, m, a, o: keep(residual_norms, layer, a[0])),
        layer_hooks.forward_hooks(writers, lambda layer, m, a, o: keep(update_norms, layer, o)),
    ):
        yield results
    results.extend((residual_norms[i], update_norms[i]) for i in range(len(probes)))


def _normalise(item: MarkerForce | GatePin, kind: type) -> MarkerForce | GatePin:
    """A copy with positions as a tuple of ints (the Trace must not share the caller's list), checked."""
    try:
        layer, positions, last = item
    except (TypeError, ValueError):  # [[0]] or a bare number: a TypeError or ValueError of unpacking
        raise InputError(f"Each intervention is a {kind.__name__}(layer, positions, "
                         f"{'marker' if kind is MarkerForce else 'value'}), not {item!r}") from None
    if positions is not None:
        if isinstance(positions, (int, np.integer)) or not all(isinstance(p, (int, np.integer)) for p in positions):
            raise InputError(f"Positions must be a list of token indices or None, not {positions!r}")
        positions = tuple(int(p) for p in positions)
        if not positions:  # recorded in the Trace as if it had acted, while it changed nothing
            raise InputError(f"A {kind.__name__} with no positions would change nothing: give token indices, or "
                             "None for every token")
    if not isinstance(layer, (int, np.integer)):
        raise InputError(f"Layer must be an integer, not {layer!r}")
    if kind is MarkerForce:
        if not isinstance(last, (int, np.integer)):
            raise InputError(f"A forced marker must be an integer marker id, not {last!r}")
        return MarkerForce(int(layer), positions, int(last))
    if not (isinstance(last, (int, float, np.number)) and math.isfinite(last) and 0 <= last <= 1):
        raise InputError(f"A pinned gate must be a value from 0 to 1, not {last!r}")
    return GatePin(int(layer), positions, float(last))


def _check_interventions(model: Any, length: int, forces: Sequence[MarkerForce], pins: Sequence[GatePin]) -> None:
    config = model.config
    for force in forces:
        if config.num_thought_markers == 0:
            raise InputError("This model has no thought markers to force")
        if not 0 <= force.marker < config.num_thought_markers:
            raise InputError(f"Marker {force.marker} does not exist: the model has {config.num_thought_markers}")
    if pins and not config.use_beacons:
        raise InputError("This model has no activation beacons to pin")
    for item in [*forces, *pins]:
        if not 0 <= item.layer < config.num_hidden_layers:
            raise InputError(f"Layer {item.layer} does not exist: the model has {config.num_hidden_layers}")
        bad = [p for p in (item.positions or ()) if not 0 <= p < length]
        if bad:
            raise InputError(f"Token positions {bad} are outside this input's {length} tokens")


def _effective_tau(model: Any, beacon_threshold: float | None) -> float | None:
    if not model.config.use_beacons:
        return None
    return model.config.beacon_threshold if beacon_threshold is None else beacon_threshold


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    # A copy: a view would keep the torch storage (and its autograd/inference state) alive with the Trace.
    return np.array(tensor.detach().float().cpu().numpy(), copy=True)


def _stack(per_layer: tuple[torch.Tensor, ...] | None) -> np.ndarray | None:
    """Layers x [1, ...] tensors -> [layers, ...] array of the single batch row.

    Copied once, straight into a numpy array: attention of a 512-token BERT-base input is 151 MB, and a
    torch.stack followed by a copy would write (and page-fault) that twice."""
    if not per_layer:
        return None
    result = np.empty((len(per_layer), *per_layer[0].shape[1:]), dtype=np.float32)
    for index, tensor in enumerate(per_layer):
        result[index] = tensor[0].detach().float().cpu().numpy()
    return result
