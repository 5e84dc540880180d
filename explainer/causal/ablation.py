"""Head ablation: the change of a text's target logit (and probability) when one head's output is removed, for
every head, batched: each batch row removes one head, so all heads of a layer (of every layer, memory allowing)
run in one forward pass, and a row removing a head of layer l joins the batch at layer l's input, the layers
before it run once for all rows (prefix sharing, batching.py). Also each layer's MLP write, and for ThoughtBeacon
models each layer's thought markers turned off and its beacon gates pinned shut or open.

Removing = replacing the head's slice of the attention output projection's input with zeros (`zero`) or with
the head's mean output over a reference set of texts, over every real token (`mean`, the default: a zero output
is one the model never saw; Wang et al. 2023). The reference set is the shipped challenge set unless one is given.
An MLP row replaces the layer's MLP write the same way; a ThoughtBeacon layer writes g * FFN(u), so its mean is
that product's, written with the gate passing it whole (not the mean FFN output under each position's gate).
"""

from __future__ import annotations

import csv
import weakref
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from explainer.capture.encoding import InputError, tokenize
from explainer.capture.validation import CUT_LEFT_ELSEWHERE, truncation_sentence
from explainer.causal.alignment import Tokenized, tokenized
from explainer.causal.batching import Run, check_row_counts
from explainer.causal.batching import run_rows as run_batched
from explainer.causal.hooks import (
    Edit,
    Layout,
    Site,
    forward_extra,
    hooked,
    layout,
    model_inputs,
)
from explainer.causal.results import MODES, Ablation, label_index
from explainer.data.challenge import DEFAULT_PATH
from explainer.loading.bundle import ModelBundle, embedding_rows
from explainer.models import GatePin
from explainer.thought_beacon.dense import RUN_DENSE as DENSE_NOTE
from explainer.thought_beacon.dense import dense_differs, differs_note, own_prediction

Progress = Callable[[int, int], None]
REFERENCE_BATCH = 32


@dataclass(frozen=True, eq=False)
class Means:
    """Mean activations over a reference set, per layer."""

    heads: tuple[torch.Tensor, ...]  # layers x [heads * head_dim], mean input of the output projection
    mlp: tuple[torch.Tensor, ...] | None  # layers x [d], mean MLP write (for ThoughtBeacon models g * FFN(u))
    size: int  # texts


def reference_texts(reference: Sequence[str] | Any | None) -> tuple[str, ...]:
    """The texts of a reference set: the shipped challenge set (None), a list of texts, or a data set (anything
    with `.texts`, such as LabelledData)."""
    if reference is None:
        with open(DEFAULT_PATH, newline="", encoding="utf-8") as handle:
            return tuple(row["text"] for row in csv.DictReader(handle) if row.get("text", "").strip())
    texts = getattr(reference, "texts", reference)
    if isinstance(texts, str):
        raise InputError("The reference set is a list of texts, not one text")
    texts = tuple(str(t) for t in texts if str(t).strip())
    if not texts:
        raise InputError("The reference set has no texts to take mean activations over")
    return texts


_MEANS: weakref.WeakKeyDictionary[Any, dict[tuple[str, ...], Means]] = weakref.WeakKeyDictionary()


def reference_means(bundle: ModelBundle, reference: Sequence[str] | Any | None = None) -> Means:
    """Mean head outputs and MLP writes over the reference set (kept per model and reference set)."""
    texts = reference_texts(reference)
    plan = layout(bundle)
    with bundle.lock:
        kept = _MEANS.setdefault(bundle.model, {})
        if texts in kept:
            return kept[texts]
    sites = [Site("head", layer) for layer in range(plan.layers)]
    if plan.mlp is not None:
        sites += [Site("mlp", layer) for layer in range(plan.layers)]
    if plan.mlp_is_gated:
        sites += [Site("gate", layer) for layer in range(plan.layers)]
    sums: dict[Site, torch.Tensor] = {}
    count = 0
    extra = forward_extra(bundle)
    usable = _embeddable(bundle, texts)
    for start in range(0, len(usable), REFERENCE_BATCH):
        batch = tokenize(bundle, list(usable[start : start + REFERENCE_BATCH]), padding=True, return_tensors="pt")
        inputs = {key: value.to(bundle.device) for key, value in batch.items()}
        mask = inputs["attention_mask"].bool()  # [B, T]
        with bundle.lock, torch.inference_mode(), hooked(plan, record=sites) as recorded:
            bundle.model(**inputs, **extra)
        if plan.mlp_is_gated:  # the layer writes g * FFN(u): its mean, not the mean FFN output under a live gate
            for layer in range(plan.layers):
                logit = recorded.pop(Site("gate", layer), None)  # [B, T, 1]; None: a retrofit whose beacons are
                if logit is not None:  # not engaged yet never runs its gate (every applied gate is exactly 1)
                    recorded[Site("mlp", layer)] = torch.sigmoid(logit) * recorded[Site("mlp", layer)]  # [B, T, d]
        for site, tensor in recorded.items():
            total = tensor[mask].double().sum(dim=0)
            sums[site] = total if site not in sums else sums[site] + total
        count += int(mask.sum())
    means = {site: (total / count).float() for site, total in sums.items()}
    result = Means(
        heads=tuple(means[Site("head", layer)] for layer in range(plan.layers)),
        mlp=None if plan.mlp is None else tuple(means[Site("mlp", layer)] for layer in range(plan.layers)),
        size=len(usable),
    )
    with bundle.lock:
        _MEANS.setdefault(bundle.model, {})[texts] = result
    return result


def _embeddable(bundle: ModelBundle, texts: tuple[str, ...]) -> tuple[str, ...]:
    """The reference texts the model can embed: a tokenizer may know words the model has no row for, and one such
    word in the shipped challenge set made mean ablation fail on every text, blaming the user's text for it."""
    rows = embedding_rows(bundle.model)
    if rows is None:
        return texts
    with bundle.lock:
        ids = bundle.tokenizer(list(texts), truncation=True, max_length=bundle.max_length)["input_ids"]
    kept = tuple(text for text, row in zip(texts, ids) if max(row, default=0) < rows)
    if not kept:
        raise InputError(
            f"None of the {len(texts):,} reference texts of mean ablation can be embedded by this model (its "
            "tokenizer knows more tokens than the model): use zero ablation, or a reference set in its vocabulary."
        )
    return kept


# One batch row: ("baseline" | "head" | "mlp" | "marker", layer, head)
Row = tuple[str, int, int]


# A gate logit whose sigmoid is exactly 1 in float32 and float64 (1 / (1 + e^-40): e^-40 is below either's epsilon).
OPEN_GATE_LOGIT = 40.0


def _edits(plan: Layout, rows: Sequence[Row], means: Means | None, device: torch.device) -> dict[Site, list[Edit]]:
    zero = torch.zeros((), device=device)
    open_gate = torch.full((), OPEN_GATE_LOGIT, device=device)
    edits: dict[Site, list[Edit]] = defaultdict(list)
    for index, (kind, layer, head) in enumerate(rows):
        if kind == "head":
            features = plan.head_slice(head)
            value = zero if means is None else means.heads[layer][features]
            edits[Site("head", layer)].append(Edit(index, slice(None), features, value))
        elif kind == "mlp":
            value = zero if means is None or means.mlp is None else means.mlp[layer]
            edits[Site("mlp", layer)].append(Edit(index, slice(None), slice(None), value))
            if means is not None and plan.mlp_is_gated:  # the mean write is already gated: the gate passes it whole
                edits[Site("gate", layer)].append(Edit(index, slice(None), slice(None), open_gate))
        elif kind == "marker":
            edits[Site("marker", layer)].append(Edit(index, slice(None), slice(None), zero))
    return edits


def run_rows(
    bundle: ModelBundle,
    plan: Layout,
    item: Tokenized,
    rows: Sequence[Row],
    means: Means | None,
    batch_rows: int | None = None,
    progress: Progress | None = None,
    *,
    share_prefix: bool = True,
) -> Run:
    """Logits [rows, labels] of the text with each row's ablation, with the passes and layer evaluations it took.
    rows[0] is the baseline; a row ablating layer l joins the batch at layer l (`share_prefix`, batching.py)."""
    return run_batched(
        bundle,
        plan,
        item.inputs,
        rows,
        [max(layer, 0) for _, layer, _ in rows],
        lambda batch: _edits(plan, batch, means, bundle.device),
        batch_rows=batch_rows,
        share_prefix=share_prefix,
        progress=progress,
    )


def ablate_heads(
    bundle: ModelBundle,
    text: str,
    target: int | str | None = None,
    mode: str = "mean",
    reference: Sequence[str] | Any | None = None,
    *,
    batch_rows: int | None = None,
    progress: Progress | None = None,
    share_prefix: bool = True,
) -> Ablation:
    """Ablate every head (and every MLP, markers and gates where the model has them) of `bundle` on `text`.

    `target`: the label whose logit is watched (None: the predicted one). `mode`: "mean" (the head's mean output
    over `reference`, the shipped challenge set by default) or "zero". `batch_rows` caps rows per forward pass
    (None: as many as memory allows). `share_prefix`: rows join the batch at the layer they ablate (False: every
    row runs from the input; the same numbers, more work). Hooks run under the bundle's lock and are removed
    when it returns."""
    if mode not in MODES:
        raise InputError(f"Unknown ablation mode '{mode}': choose one of {', '.join(MODES)}")
    if mode == "zero" and reference is not None:  # read by mean ablation only: it went unused, unsaid
        raise InputError("A reference set is what mean ablation averages over; zero ablation reads none")
    check_row_counts(batch_rows=batch_rows)
    plan = layout(bundle)
    item = tokenized(bundle, text)
    means = reference_means(bundle, reference) if mode == "mean" else None
    rows: list[Row] = [("baseline", -1, -1)]
    rows += [("head", layer, head) for layer in range(plan.layers) for head in range(plan.heads)]
    if plan.mlp is not None:
        rows += [("mlp", layer, -1) for layer in range(plan.layers)]
    if plan.markers is not None:
        rows += [("marker", layer, -1) for layer in range(plan.layers)]
    run = run_rows(bundle, plan, item, rows, means, batch_rows, progress, share_prefix=share_prefix)
    logits = run.logits
    baseline = logits[0]
    own_run = target is None and bool(forward_extra(bundle))  # one more pass: the label at the model's own tau
    own = _own_label(bundle, item) if own_run else int(baseline.argmax())
    label = label_index(bundle, target, own)
    probabilities = _softmax(logits)[:, label]
    change = logits[:, label] - baseline[label]
    change_p = probabilities - probabilities[0]
    layers, heads = plan.layers, plan.heads
    count = layers * heads
    mlp = mlp_p = marker = None
    offset = 1 + count
    if plan.mlp is not None:
        mlp, mlp_p = change[offset : offset + layers], change_p[offset : offset + layers]
        offset += layers
    if plan.markers is not None:
        marker = change[offset : offset + layers]
    pinned, pin_passes = _gate_pins(bundle, item, label, float(baseline[label]))
    notes = [DENSE_NOTE] if dense_differs(bundle.model.config) else []
    if target is None and (differs := differs_note(bundle.label_names, label, baseline)):
        notes.append(differs)
    if item.truncated:
        notes.append(truncation_note("The text", item, bundle.cuts_left_elsewhere))
    if mode == "mean" and plan.mlp is not None and forward_extra(bundle):
        notes.append(
            "MLP mean ablation replaces what the layer's MLP writes, its gate times the feed-forward output, by "
            "that product's mean over the reference set."
        )
    return Ablation(
        model_name=bundle.name,
        architecture=bundle.architecture,
        text=text,
        tokens=item.tokens,
        label_names=bundle.label_names,
        target=label,
        mode=mode,
        baseline_logits=baseline,
        heads=change[1 : 1 + count].reshape(layers, heads),
        head_probability=change_p[1 : 1 + count].reshape(layers, heads),
        mlp=mlp,
        mlp_probability=mlp_p,
        marker_off=marker,
        gate_pinned=pinned,
        reference_size=0 if means is None else means.size,
        forward_passes=run.passes + pin_passes + own_run,
        layer_evaluations=run.layer_evaluations + (pin_passes + own_run) * layers,
        truncated=item.truncated,
        notes=tuple(notes),
    )


def _own_label(bundle: ModelBundle, item: Tokenized) -> int:
    """The label the model predicts for `item` at its own tau (ablation runs it dense)."""
    with bundle.lock:
        return own_prediction(bundle, model_inputs(bundle, item.inputs, 1))


def _gate_pins(bundle: ModelBundle, item: Tokenized, label: int, baseline: float) -> tuple[np.ndarray | None, int]:
    """[2, layers] target logit change with each layer's gates pinned shut and open (the model's own GatePin;
    a pin holds for the whole batch, so one pass per layer and value)."""
    config = bundle.model.config
    if not getattr(config, "use_beacons", False):
        return None, 0
    layers = int(config.num_hidden_layers)
    result = np.empty((2, layers))
    extra = forward_extra(bundle)
    with bundle.lock, torch.inference_mode():
        for row, value in enumerate((0.0, 1.0)):
            for layer in range(layers):
                pins = (GatePin(layer, None, value),)
                out = bundle.model(**model_inputs(bundle, item.inputs, 1), pinned_gates=pins, **extra).logits
                result[row, layer] = float(out[0, label]) - baseline
    return result, 2 * layers


def truncation_note(who: str, item: Tokenized, cuts_left_elsewhere: bool = False) -> str:
    used = item.used_part()
    return (
        truncation_sentence(item.num_text_tokens, item.length, who)
        + f" That is its first {len(used):,} characters (up to “…{used[-40:]}”)."
        + CUT_LEFT_ELSEWHERE * cuts_left_elsewhere
    )


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
