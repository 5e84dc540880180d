"""The `counterfactuals` bench: how often find_counterfactuals flips a prediction with at most 3 word edits, and
what it costs, against a plain exhaustive single-word removal search on the same texts.

Texts: the shipped challenge set's rows the default model gets wrong (target: the true label), and SST_COUNT
SST-2 dev sentences (any flip; the data set is not shipped: $EXPLAINER_SST2_DEV, else shared/data/sst2/dev.tsv,
as the batch bench finds it; the rows are skipped with a note when it is absent).
Reference: remove each word (letters or digits) in turn, one forward pass per candidate, as a plain loop does,
after one pass for the original. Ours and the reference run alternately on each text, once (a search is too long
to repeat); seconds are the total over the texts.

Per data set, rows: the share with a flip (ours: <= 3 word edits; reference: 1 removal; targets: ours at least
80% on the challenge mistakes, 85% on SST-2), the median forward passes per text and the total seconds (reported
beside the reference, no target: ours searches up to 3 edits with three generators, the reference 1 removal).
Each row also carries the medians of both and ours' median edits.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from explainer.bench.batch import default_data
from explainer.bench.common import BenchOptions, report, result, untargeted_result

NAME = "counterfactuals"
REFERENCE_NAME = "exhaustive single-word removal, one forward pass per candidate"
MAX_EDITS = 3
SST_COUNT = 200
QUICK_COUNT = 6
TARGETS = {"challenge": 0.80, "sst2": 0.85}


def exhaustive_removal(bundle, text: str, target: str | None) -> tuple[bool, int]:
    """(some single-word removal flips the prediction, forward passes): every word removed in turn."""
    from explainer.counterfactual.scoring import Scorer
    from explainer.counterfactual.search import resolve_target
    from explainer.counterfactual.words import apply_edits, split_words

    probe = Scorer(bundle, 0, None)
    label = int(probe.probabilities([text])[0].argmax())
    scorer = Scorer(bundle, label, resolve_target(bundle, target))
    words = split_words(text)
    found = False
    for position, word in enumerate(words):
        if word.is_punctuation:
            continue
        if scorer.flipped(scorer.probabilities([apply_edits(text, words, {position: ""})]))[0]:
            found = True
    return found, probe.forward_passes + scorer.forward_passes


def compare(bundle, rows: list[tuple[str, str | None]]) -> dict[str, Any]:
    """Ours and the reference on each (text, target), alternating."""
    from explainer.counterfactual.dataset import search_each, summary

    examples, reference_found, reference_passes = [], [], []
    ours_seconds = reference_seconds = 0.0
    searches = search_each(bundle, rows, max_edits=MAX_EDITS)
    for text, target in rows:
        example = next(searches)
        examples.append(example)
        ours_seconds += example.seconds
        started = time.perf_counter()
        found, passes = exhaustive_removal(bundle, text, target)
        reference_seconds += time.perf_counter() - started
        reference_found.append(found)
        reference_passes.append(passes)
    ours = summary(examples, MAX_EDITS)
    return {
        **ours,
        "reference_found_share": float(np.mean(reference_found)) if rows else 0.0,
        "reference_median_forward_passes": statistics.median(reference_passes) if rows else None,
        "ours_seconds": ours_seconds,
        "reference_seconds": reference_seconds,
        "methods_found": _methods(examples),
    }


def _methods(examples) -> dict[str, int]:
    counts: dict[str, int] = {}
    for example in examples:
        if example.search is not None and example.search.best is not None:
            counts[example.search.best.method] = counts.get(example.search.best.method, 0) + 1
    return counts


def rows_for(case: str, measured: dict[str, Any], share_target: float) -> list[dict[str, Any]]:
    extra = {key: measured[key] for key in ("examples", "median_edit_count", "methods_found")}

    def value(key: str) -> float:
        """As measured (clamped to 1e-9, a reference share of 0 read 1e-09 with a ratio of a billion): None (every
        row refused) is not measured, null; 0 stays 0, with a null ratio."""
        found = measured[key]
        return math.nan if found is None else float(found)

    met = measured["found_share"] is not None and measured["found_share"] >= share_target
    share = {**result(
        case=case,
        metric=f"share with a flip (ours: <= {MAX_EDITS} word edits; reference: 1 removal)",
        ours=value("found_share"),
        reference=value("reference_found_share"),
        reference_name=REFERENCE_NAME,
        target=f"ours >= {share_target:.0%}",
        meets=met,
    ), "meets": met}  # the target is on ours alone: met also where the reference found none (no ratio)
    # Passes and seconds are reported beside the reference, as the issue asks, with no target of their own.
    passes = untargeted_result(
        case=case,
        metric="forward passes per text (median)",
        ours=value("median_forward_passes"),
        reference=value("reference_median_forward_passes"),
        reference_name=REFERENCE_NAME,
    )
    seconds = untargeted_result(
        case=case,
        metric="seconds for all texts",
        ours=value("ours_seconds"),
        reference=value("reference_seconds"),
        reference_name=REFERENCE_NAME,
    )
    return [{**row, **extra} for row in (share, passes, seconds)]


def run(
    options: BenchOptions = BenchOptions(),
    *,
    bundle=None,
    challenge: str | Path | None = None,
    sst2: str | Path | None = None,
    sst2_count: int | None = None,
) -> dict[str, Any]:
    from explainer import load_model
    from explainer.counterfactual.dataset import misclassified
    from explainer.data.challenge import DEFAULT_PATH
    from explainer.data.labelled import read_dataset
    from explainer.evaluation.error_report import load_labelled

    path = Path(sst2) if sst2 is not None else default_data()  # a data file named but missing: refused before work
    bundle = bundle or load_model()
    limit = QUICK_COUNT if options.quick else None
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []

    mistakes = misclassified(bundle, load_labelled(bundle, Path(challenge or DEFAULT_PATH)))[:limit]
    measured = compare(bundle, [(text, label) for text, label in mistakes])
    rows += rows_for(
        f"{bundle.name}: the challenge set's {len(mistakes)} misclassified rows (target: true label)",
        measured,
        TARGETS["challenge"],
    )

    if path.is_file():
        count = sst2_count or (QUICK_COUNT if options.quick else SST_COUNT)
        texts = list(read_dataset(path).texts)[:count]
        measured = compare(bundle, [(text, None) for text in texts])
        rows += rows_for(f"{bundle.name}: {len(texts)} SST-2 dev sentences (any flip)", measured, TARGETS["sst2"])
    else:
        message = f"SST-2 dev set not found at {path} (set EXPLAINER_SST2_DEV): its rows were not measured"
        print(f"counterfactuals bench: {message}", file=sys.stderr)
        skipped.append(message)
    out = report(NAME, rows)
    if skipped:
        out["skipped"] = skipped
    return out
