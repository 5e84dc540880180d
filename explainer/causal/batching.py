"""Many interventions on one text, batched, with the prefix they share run once.

Every row of an ablation or patching plan runs the same text, and a row whose first intervention is in layer l
computes exactly what the unedited run computes before layer l. So a forward pass starts with one row, the seed
(row 0 of every plan: nothing edited), and the other rows join the batch where they start to differ: at the
residual point of level l (the module whose output is hidden_states[l], hooks.py), `hooked(grow=...)` appends
copies of the seed's state for the rows that start there, and the model's own forward carries the grown batch on
through layers l … L and its head. Layers before l run once for the seed instead of once per row: all-heads
ablation costs about heads x L(L+1)/2 layer evaluations instead of heads x L^2, and no family needs its layers
called by hand (the retrofit, which runs a BERT layer's parts itself, and ALBERT's shared layer included).

What a model computes once per pass before its layers (attention masks, rotary tables, position ids) is built for
the one-row input and broadcasts over the grown batch. Level 0 is the embeddings' output, and some models build
their masks from it after it has grown (ModernBERT, Llama, Qwen and Mistral: the mask then indexes the one-row
attention mask by the grown batch and fails): for those, rows of level 0, which share only the embeddings, run
from the input in plain passes of their own and the others join from level 1. Decoder heads pick each row's
readout with the input's batch size and so return one row; their logits are read off the classifier's output at
the readout position instead (the rightmost token that is not padding: the model's own rule).

Safety net: a check row (a second copy of the seed, nothing edited) joins at each pass's first level, and its
logits must equal the seed's. A model whose forward cannot take a grown batch from level 0 is tried from level 1;
one that cannot take it at all, or whose check fails, gets the full recompute (every row from the input, as many
rows per pass as memory allows). A level that failed is remembered per model, one that worked is not (it can fail
on a longer text: ModernBERT's sliding-window mask), so a pass that cannot grow always falls back. Plans where
sharing saves no layer evaluations (a 2-layer model with few heads) run the full recompute too: fewer passes.

Accounting: `passes` counts model calls (each one batched pass, whatever its rows); `layer_evaluations` counts
layers run summed over batch rows, so a full pass of one row is `layers` and layer_evaluations / layers is the
work in single-row forward passes.
"""

from __future__ import annotations

import contextlib
import numbers
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from explainer.capture.encoding import InputError
from explainer.causal.hooks import Edit, Layout, Site, forward_extra, hooked, model_inputs, rows_per_pass
from explainer.families import family_of
from explainer.loading.bundle import ModelBundle

Row = TypeVar("Row")
Progress = Callable[[int, int], None]
# Rows of one pass, in batch order -> the edits of that pass (Edit.row = index in that list)
EditsFor = Callable[[Sequence[Any]], dict[Site, list[Edit]]]
CHECK_TOLERANCE = 1e-4  # seed and check row: the same computation in one batch, equal up to float rounding
# Errors a forward pass raises when it cannot take a batch that grows mid-stack (shape mismatches).
GROWTH_ERRORS = (RuntimeError, ValueError, IndexError, TypeError)
LOWEST_LEVELS = (0, 1)  # where rows may start joining: the embeddings' output, else the first layer's output

# Per model: the lowest level rows join at (None: none), after a level that failed once. A model not listed is
# tried from level 0. A level that worked for one text is no proof for the next: ModernBERT builds its sliding-window
# mask (which cannot grow) only for a text longer than the window, so a growth error always falls back.
_JOINS: weakref.WeakKeyDictionary[nn.Module, int | None] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, eq=False)
class Run:
    logits: np.ndarray  # [rows, labels] each row's logits
    passes: int  # model calls
    layer_evaluations: int  # layers run, summed over batch rows (one full single-row pass = layers)
    shared_prefix: bool  # rows joined mid-stack (False: every row ran from the input)


def check_row_counts(**counts: int | None) -> None:
    """Refuse a row count below 1 (None: no cap). A negative `batch_rows` made range() empty, and the never
    filled logits came back as results; a negative `limit_rows` cut rows from the end."""
    for name, count in counts.items():
        if count is not None and (isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1):
            raise InputError(f"{name} must be a whole number of rows, 1 or more (None: no cap), not {count!r}")


def run_rows(
    bundle: ModelBundle,
    plan: Layout,
    inputs: dict[str, list[int]],
    rows: Sequence[Row],
    levels: Sequence[int],
    edits_for: EditsFor,
    *,
    batch_rows: int | None = None,
    share_prefix: bool = True,
    progress: Progress | None = None,
) -> Run:
    """Logits of `inputs` with each row's edits. rows[0] must edit nothing (the seed); levels[i] (0 … layers) is
    the residual level before which row i edits nothing. `batch_rows` caps rows per pass (None: as many as memory
    allows; under 3 leaves no room beside the seed and check rows, so every row runs from the input)."""
    check_row_counts(batch_rows=batch_rows)
    chunk = batch_rows or rows_per_pass(bundle, len(inputs["input_ids"]))
    if share_prefix and chunk >= 3 and len(rows) > 1:
        with bundle.lock:
            lowest = _JOINS.get(bundle.model, LOWEST_LEVELS[0])
            while lowest is not None:
                if planned_evaluations(levels, plan.layers, chunk, lowest) >= len(rows) * plan.layers:
                    break  # sharing saves no work here (and would take more passes)
                shared = _shared(bundle, plan, inputs, rows, levels, edits_for, chunk, lowest, progress)
                if shared is not None:
                    return shared
                later = [level for level in LOWEST_LEVELS if level > lowest]
                lowest = later[0] if later else None
                _JOINS[bundle.model] = lowest
    return _full(bundle, plan, inputs, rows, edits_for, chunk, progress)


def _full(
    bundle: ModelBundle,
    plan: Layout,
    inputs: dict[str, list[int]],
    rows: Sequence[Row],
    edits_for: EditsFor,
    chunk: int,
    progress: Progress | None,
) -> Run:
    """Every row from the input: `chunk` rows per pass."""
    extra = forward_extra(bundle)
    logits = np.empty((len(rows), len(bundle.label_names)))
    passes = 0
    with bundle.lock, torch.inference_mode():
        for start in range(0, len(rows), chunk):
            batch = rows[start : start + chunk]
            with hooked(plan, edits_for(batch)):
                out = bundle.model(**model_inputs(bundle, inputs, len(batch)), **extra).logits
            logits[start : start + len(batch)] = out.float().cpu().numpy()
            passes += 1
            if progress is not None:
                progress(start + len(batch), len(rows))
    return Run(logits, passes, len(rows) * plan.layers, shared_prefix=False)


def _shared(
    bundle: ModelBundle,
    plan: Layout,
    inputs: dict[str, list[int]],
    rows: Sequence[Row],
    levels: Sequence[int],
    edits_for: EditsFor,
    chunk: int,
    lowest: int,
    progress: Progress | None,
) -> Run | None:
    """Rows joining at their level (rows below `lowest` run from the input), `chunk` rows per pass with the seed
    and check row; None when a pass could not run or failed its check."""
    plain, groups = _grouped(levels, chunk, lowest)
    logits = np.empty((len(rows), len(bundle.label_names)))
    passes = evaluations = done = 0
    with bundle.lock, torch.inference_mode():
        for group in groups:
            joins = _joins(levels, group)
            batch = [rows[0], rows[0], *(rows[index] for index in group)]
            out = _grown_pass(bundle, plan, inputs, batch, joins, edits_for)
            if out is None or not np.allclose(out[1], out[0], rtol=CHECK_TOLERANCE, atol=CHECK_TOLERANCE):
                return None
            logits[0], logits[group] = out[0], out[2:]
            passes += 1
            evaluations += _evaluations(plan.layers, joins)
            done += len(group)
            if progress is not None:
                progress(1 + done, len(rows))
        if plain:
            done += 1

            def step(finished: int, total: int) -> None:
                if progress is not None:
                    progress(done + finished, len(rows))

            rest = _full(bundle, plan, inputs, [rows[index] for index in plain], edits_for, chunk, step)
            logits[plain] = rest.logits
            passes += rest.passes
            evaluations += rest.layer_evaluations
    return Run(logits, passes, evaluations, shared_prefix=True)


def _grouped(levels: Sequence[int], chunk: int, lowest: int) -> tuple[list[int], list[list[int]]]:
    """(rows below level `lowest`, which run from the input; the other rows in level order, `chunk` - 2 per grown
    pass). Row 0, the seed, is in neither."""
    plain = [index for index in range(1, len(levels)) if levels[index] < lowest]
    joining = sorted((i for i in range(1, len(levels)) if levels[i] >= lowest), key=lambda index: levels[index])
    capacity = chunk - 2
    return plain, [joining[start : start + capacity] for start in range(0, len(joining), capacity)]


def _joins(levels: Sequence[int], group: Sequence[int]) -> Counter[int]:
    """{level: rows joining there} of one grown pass; the check row joins with the group's first rows."""
    return Counter([levels[group[0]]] + [levels[index] for index in group])


def _evaluations(layers: int, joins: Counter[int]) -> int:
    """Layer evaluations of one grown pass: the seed runs every layer, a row joining at level l layers l … L-1."""
    return layers * (1 + sum(joins.values())) - sum(level * count for level, count in joins.items())


def planned_evaluations(levels: Sequence[int], layers: int, chunk: int, lowest: int = LOWEST_LEVELS[0]) -> int:
    """The layer evaluations `run_rows` takes for rows of these levels when rows join from level `lowest` (what a
    timing sample of some rows is scaled by: a row's cost is the layers it runs, not one pass)."""
    plain, groups = _grouped(levels, chunk, lowest)
    if chunk < 3 or not groups:
        return len(levels) * layers
    return len(plain) * layers + sum(_evaluations(layers, _joins(levels, group)) for group in groups)


def _grown_pass(
    bundle: ModelBundle,
    plan: Layout,
    inputs: dict[str, list[int]],
    batch: Sequence[Row],
    joins: Counter[int],
    edits_for: EditsFor,
) -> np.ndarray | None:
    """[len(batch), labels] from one pass that starts with the seed row; None when the model cannot take it (an
    error that is not the growth's own comes again from the full recompute the caller falls back to)."""
    try:
        with hooked(plan, edits_for(batch), grow=joins), _classifier_output(bundle) as head:
            out = bundle.model(**model_inputs(bundle, inputs, 1), **forward_extra(bundle)).logits
    except GROWTH_ERRORS:
        return None
    if out.shape[0] == len(batch):
        return out.float().cpu().numpy()
    # A decoder head picked one row by the input's batch size: read every row at its readout position.
    scores = head.get("output")
    if family_of(bundle.model).readout != "last" or scores is None or tuple(scores.shape[:1]) != (len(batch),):
        return None
    if scores.dim() == 2:
        return scores.float().cpu().numpy()
    return scores[:, _last_token(bundle, inputs["input_ids"])].float().cpu().numpy()


def _last_token(bundle: ModelBundle, ids: Sequence[int]) -> int:
    """The rightmost token that is not padding (the decoder heads' own rule; the first one when all are)."""
    pad = getattr(bundle.model.config, "pad_token_id", None)
    return max((index for index, token in enumerate(ids) if token != pad), default=0)


@contextlib.contextmanager
def _classifier_output(bundle: ModelBundle) -> Iterator[dict[str, torch.Tensor]]:
    """The output of the family's classifier module during the block (the model's lock held by the caller)."""
    caught: dict[str, torch.Tensor] = {}
    family = family_of(bundle.model)
    if family.readout != "last" or family.classifier is None:
        yield caught
        return
    handle = family.classifier(bundle.model).register_forward_hook(
        lambda module, args, output: caught.__setitem__("output", output)
    )
    try:
        yield caught
    finally:
        handle.remove()
