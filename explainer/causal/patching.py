"""Activation patching (Meng et al. 2022; Wang et al. 2023): run the corrupted text, overwrite one activation with
its value from the clean run, and measure how much of the logit difference between the two runs comes back.

Patched, one per batch row: the residual stream entering each layer (and leaving the last) at one position; the
attention's write and the MLP's write at one (layer, position); each head's output at every partnered position.
LD = logit[target] - logit[foil], target the clean run's label (or the one named), foil the corrupted run's
label when it differs, else the corrupted run's strongest other label. The share restored is
(LD(patched) - LD(corrupted)) / (LD(clean) - LD(corrupted)): 0 is the corrupted run, 1 the clean one. Patching
the whole residual stream at the last layer's readout position makes the classifier read the clean state, so it
restores 1 (to float precision); a row with nothing patched measures 0.

A row patching layer l (or the residual stream entering it) joins the batch at layer l: the corrupted run before
layer l is shared by every row and run once (prefix sharing, batching.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from explainer.capture.encoding import InputError, UnembeddableToken, typed_special_tokens, unread_note
from explainer.capture.validation import require_finite, typed_special_sentence
from explainer.causal.ablation import truncation_note
from explainer.causal.alignment import Alignment, EditLike, Tokenized, resolve, tokenized
from explainer.causal.batching import check_row_counts, run_rows
from explainer.causal.hooks import (
    Edit,
    Layout,
    Site,
    forward_extra,
    hooked,
    layout,
    model_inputs,
)
from explainer.causal.results import Patching, label_index
from explainer.families import single_readout_note
from explainer.loading.bundle import ModelBundle
from explainer.thought_beacon.dense import RUN_DENSE as DENSE_NOTE
from explainer.thought_beacon.dense import dense_differs, differs_note, own_prediction
from explainer.views.text import display_token, quoted_label

Progress = Callable[[int, int], None]
MIN_GAP = 1e-6  # |LD(clean) - LD(corrupted)| below this: nothing to restore
SMALL_GAP = 0.1  # ... below this (in logits), every share divides a patch's change by almost nothing: said

# One batch row: (kind, layer, corrupted position or head, clean position); kind "none" patches nothing.
Row = tuple[str, int, int, int]


def _site_sets(plan: Layout) -> list[Site]:
    sites = [Site("residual", layer) for layer in range(plan.layers + 1)]
    sites += [Site("head", layer) for layer in range(plan.layers)]
    sites += [Site("attention", layer) for layer in range(plan.layers)]
    if plan.mlp is not None:
        sites += [Site("mlp", layer) for layer in range(plan.layers)]
        if plan.gates is not None:
            sites += [Site("gate", layer) for layer in range(plan.layers)]
    return sites


def plan_rows(plan: Layout, alignment: Alignment) -> list[Row]:
    pairs = sorted(alignment.pairs, key=lambda p: p[1])
    rows: list[Row] = [("none", -1, -1, -1)]
    rows += [("residual", layer, r, c) for layer in range(plan.layers + 1) for c, r in pairs]
    rows += [("attention", layer, r, c) for layer in range(plan.layers) for c, r in pairs]
    if plan.mlp is not None:
        rows += [("mlp", layer, r, c) for layer in range(plan.layers) for c, r in pairs]
    rows += [("head", layer, head, -1) for layer in range(plan.layers) for head in range(plan.heads)]
    return rows


def _edits(
    plan: Layout, rows: Sequence[Row], clean: dict[Site, torch.Tensor], alignment: Alignment, device: torch.device
) -> dict[Site, list[Edit]]:
    # int64 even for no pairs (an empty list makes a float tensor, which cannot index)
    corrupted_positions = torch.tensor([r for _, r in alignment.pairs], dtype=torch.long, device=device)
    clean_positions = torch.tensor([c for c, _ in alignment.pairs], dtype=torch.long, device=device)
    edits: dict[Site, list[Edit]] = defaultdict(list)
    for index, (kind, layer, where, partner) in enumerate(rows):
        if kind == "none":
            continue
        if kind == "head":
            features = plan.head_slice(where)
            values = clean[Site("head", layer)][clean_positions][:, features]
            edits[Site("head", layer)].append(Edit(index, corrupted_positions, features, values))
            continue
        position = torch.tensor([where], device=device)
        site = Site(kind, layer)  # type: ignore[arg-type]
        edits[site].append(Edit(index, position, slice(None), clean[site][[partner]]))
        gate = Site("gate", layer)
        if kind == "mlp" and gate in clean:  # the gated update g * FFN(u): the clean gate with the clean FFN output
            edits[gate].append(Edit(index, position, slice(None), clean[gate][[partner]]))
    return edits


def _tokenized_as(bundle: ModelBundle, text: str, who: str) -> Tokenized:
    """tokenized(), its refusal naming which of the two texts it is ("The corrupted text is empty")."""
    try:
        return tokenized(bundle, text)
    except InputError as error:
        said = str(error)
        if not said.startswith("The text") or type(error) not in (InputError, UnembeddableToken):
            raise  # other subclasses keep their own words
        renamed = who + said[len("The text"):]
        if isinstance(error, UnembeddableToken):  # keeps its type and fields for its callers
            raise UnembeddableToken(renamed, error.text_index, error.text) from None
        raise InputError(renamed) from None


def patch(
    bundle: ModelBundle,
    clean: str,
    corrupted: str,
    target: int | str | None = None,
    alignment: Alignment | Sequence[tuple[int, int]] | Sequence[EditLike] | None = None,
    *,
    batch_rows: int | None = None,
    progress: Progress | None = None,
    limit_rows: int | None = None,
    share_prefix: bool = True,
) -> Patching:
    """Patch every residual position, attention and MLP write, and head from the `clean` run into the `corrupted`
    run. `alignment`: None (word by word), an Alignment, (clean position, corrupted position) token pairs, or a
    counterfactual's edits. `batch_rows` caps rows per forward pass (None: as many as memory allows).
    `limit_rows` runs only the first rows of the plan (a timing sample: later cells stay NaN). `share_prefix`:
    rows join the batch at the layer they patch (False: every row runs from the input; the same numbers)."""
    check_row_counts(batch_rows=batch_rows, limit_rows=limit_rows)
    plan = layout(bundle)
    left, right = _tokenized_as(bundle, clean, "The clean text"), _tokenized_as(bundle, corrupted, "The corrupted text")
    if left.inputs["input_ids"] == right.inputs["input_ids"]:
        cut = left.truncated or right.truncated  # the same ids: both read as far, left.length tokens
        said = (f" The model reads only the first {left.length} tokens, and the texts differ only after that: change "
                "a word it reads.") if cut and left.text != right.text else ""
        raise InputError(
            "The clean and corrupted texts read the same to the model: there is nothing to patch."
            + (said or " Change a word of one of them (or find a counterfactual).")
        )
    aligned = resolve(left, right, alignment)
    extra = forward_extra(bundle)
    with bundle.lock, torch.inference_mode():
        with hooked(plan, record=_site_sets(plan)) as recorded:
            clean_logits = bundle.model(**model_inputs(bundle, left.inputs, 1), **extra).logits[0]
        clean_acts = {site: tensor[0] for site, tensor in recorded.items()}
        corrupted_logits = bundle.model(**model_inputs(bundle, right.inputs, 1), **extra).logits[0]
        # run dense, the target by default is still the clean text's prediction at the model's own tau
        own = own_prediction(bundle, model_inputs(bundle, left.inputs, 1)) if extra and target is None else None
        # and the corrupted text (often a counterfactual found at that tau) may read otherwise dense: say so
        own_corrupted = own_prediction(bundle, model_inputs(bundle, right.inputs, 1)) if extra else None
    own_passes = (own is not None) + (own_corrupted is not None)
    clean_np = clean_logits.float().cpu().numpy()
    corrupted_np = corrupted_logits.float().cpu().numpy()
    require_finite(clean_np, bundle.name, "the clean text")
    require_finite(corrupted_np, bundle.name, "the corrupted text")
    label = label_index(bundle, target, int(clean_np.argmax()) if own is None else own)
    foil = _foil(corrupted_np, label)
    clean_difference, corrupted_difference = _difference(clean_np, label, foil), _difference(corrupted_np, label, foil)
    difference = clean_difference - corrupted_difference
    if abs(difference) < MIN_GAP:
        raise InputError(
            f"Both texts give the same logit difference between {quoted_label(bundle.label_names[label])} and "
            f"{quoted_label(bundle.label_names[foil])}: there is nothing for patching to restore. Pick a corrupted "
            "text the model reads differently."
        )
    rows = plan_rows(plan, aligned)
    rows = rows[:limit_rows] if limit_rows is not None else rows
    run = run_rows(
        bundle,
        plan,
        right.inputs,
        rows,
        [max(layer, 0) for _, layer, _, _ in rows],
        lambda batch: _edits(plan, batch, clean_acts, aligned, bundle.device),
        batch_rows=batch_rows,
        share_prefix=share_prefix,
        progress=progress,
    )
    logits = run.logits
    shares = (logits[:, label] - logits[:, foil] - corrupted_difference) / difference + 0.0  # + 0.0: no "-0.0"
    maps = _maps(plan, rows, shares, right.length)
    notes = [DENSE_NOTE] if dense_differs(bundle.model.config) else []
    if own is not None and (differs := differs_note(bundle.label_names, own, clean_np, "for the clean text")):
        notes.append(differs)
    if own_corrupted is not None and (
        said := differs_note(bundle.label_names, own_corrupted, corrupted_np, "for the corrupted text", is_target=False)
    ):
        notes.append(said)
    notes += [
        truncation_note(who, item, bundle.cuts_left_elsewhere)
        for who, item in (("The clean text", left), ("The corrupted text", right))
        if item.truncated
    ]
    notes += [unread_note(bundle, item.unread, who)  # the sidebar's text says its own: the corrupted one may not be it
              for who, item in (("The clean text", left), ("The corrupted text", right)) if item.unread]
    for who, item in (("The clean text", left), ("The corrupted text", right)):  # as the pages say the sidebar's
        if typed := typed_special_tokens(bundle.tokenizer, item.text, item.tokens, item.special, item.offsets):
            notes.append(typed_special_sentence(typed, who))
    if aligned.unpartnered_corrupted or aligned.unpartnered_clean:
        notes.append(_unpartnered_note(left, right, aligned))
    if single_readout_note(bundle.model) is not None:
        notes.append(NO_SINGLE_READOUT_NOTE)
    notes += _gap_notes(bundle.label_names, label, foil, clean_difference, corrupted_difference)
    return Patching(
        model_name=bundle.name,
        architecture=bundle.architecture,
        clean_text=clean,
        corrupted_text=corrupted,
        clean_tokens=left.tokens,
        corrupted_tokens=right.tokens,
        label_names=bundle.label_names,
        target=label,
        foil=foil,
        clean_logits=clean_np,
        corrupted_logits=corrupted_np,
        residual=maps["residual"],
        attention=maps["attention"],
        mlp=maps["mlp"] if plan.mlp is not None else None,
        heads=maps["head"],
        partners=aligned.partners(),
        unpartnered_clean=aligned.unpartnered_clean,
        unpartnered_corrupted=aligned.unpartnered_corrupted,
        readout=right.readout,
        nothing_patched=float(shares[0]),
        # the clean and the corrupted run, a model with beacons each again at its own tau, then the patched rows
        forward_passes=2 + own_passes + run.passes,
        layer_evaluations=(2 + own_passes) * plan.layers + run.layer_evaluations,
        truncated=(left.truncated, right.truncated),
        notes=tuple(notes),
    )


NO_SINGLE_READOUT_NOTE = (
    "This model's classifier mean-pools every position (a ModernBERT with classifier_pooling='mean'): patching one "
    "position, even its whole residual stream at the last layer, restores only that position's part, so no cell "
    "need reach 1, and the marked readout position is only its first."
)


def _foil(corrupted: np.ndarray, label: int) -> int:
    order = [int(i) for i in np.argsort(-corrupted, kind="stable") if int(i) != label]
    if not order:
        raise InputError("Patching needs a model with at least two labels")
    predicted = int(corrupted.argmax())
    return predicted if predicted != label else order[0]


def _gap_notes(names: Sequence[str], label: int, foil: int, clean: float, corrupted: float) -> list[str]:
    """What makes the 0-to-1 scale hard to read: a corruption that moves the logit difference the wrong way, or
    hardly at all (every cell divides a patched change by that gap)."""
    pair = f"{quoted_label(names[label])} - {quoted_label(names[foil])}"
    notes = []
    if corrupted > clean:
        notes.append(
            f"The corrupted text favours {quoted_label(names[label])} more than the clean one (logit difference "
            f"{pair}: clean {clean:+.6g}, corrupted {corrupted:+.6g}), so 1 here means lowering that difference to "
            "the clean text's; pick a corrupted text that weakens or flips the prediction for the usual reading."
        )
    if abs(clean - corrupted) < SMALL_GAP:  # either way round: a tiny gap magnifies every cell
        notes.append(
            f"The two texts' logit differences ({pair}) are only {abs(clean - corrupted):.2g} apart: every cell "
            "divides a patched change by that gap, so small changes show as large values; pick a corrupted text the "
            "model reads more differently."
        )
    return notes


def _difference(logits: np.ndarray, label: int, foil: int) -> float:
    return float(logits[label] - logits[foil])


def _maps(plan: Layout, rows: Sequence[Row], shares: np.ndarray, length: int) -> dict[str, np.ndarray]:
    maps: dict[str, Any] = {
        "residual": np.full((plan.layers + 1, length), np.nan),
        "attention": np.full((plan.layers, length), np.nan),
        "mlp": np.full((plan.layers, length), np.nan),
        "head": np.full((plan.layers, plan.heads), np.nan),
    }
    for (kind, layer, where, _), share in zip(rows, shares):
        if kind != "none":
            maps[kind][layer, where] = share
    return maps


def _unpartnered_note(left: Tokenized, right: Tokenized, aligned: Alignment) -> str:
    def names(item: Tokenized, positions: tuple[int, ...]) -> str:
        # tokens as the heatmap's axis shows them ("film", not "Ġfilm"); the note is text for the reader
        listed = ", ".join(f"{display_token(item.tokens[p])} ({p})" for p in positions[:12])
        return listed + (" …" if len(positions) > 12 else "")

    parts = []
    if aligned.unpartnered_corrupted:
        parts.append(
            f"corrupted tokens without a clean partner (not patched): {names(right, aligned.unpartnered_corrupted)}"
        )
    if aligned.unpartnered_clean:
        parts.append(f"clean tokens without a partner: {names(left, aligned.unpartnered_clean)}")
    note = "; ".join(parts)
    if left.readout or right.readout:  # a last-token classifier: the read positions pair whatever they hold
        note += (" (the positions the classifier reads, the last ones, are always paired with each other, so a "
                 "word that is last in only one text loses its partner)")
    return note[:1].upper() + note[1:] + "."  # not str.capitalize(): it lower-cases the tokens ("[CLS]")
