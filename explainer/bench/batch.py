"""The `batch` bench: batch prediction over the SST-2 dev set, ours against transformers' pipeline.

Ours: `explainer.evaluation.predict.predict` (tokenised once, length-sorted dynamic batches of 32, probabilities of
every label). Reference: `pipeline("text-classification")` on the same model object and tokenizer, asked for every
label's score (top_k=None), once with its default batch size (1) and once with batch_size=32 (padded per batch in
input order). Our ThoughtBeacon output carries per-layer tuples (gates, routing) that the pipeline's
un-batching cannot split, so the reference keeps only the logits of each forward pass (`_LogitsOnly`, the one
change to the stock pipeline; the model still computes everything, as it does for ours). Both sides must agree
on every prediction, or the bench fails. Metric: examples per second; ratio = ours / reference, target >= 1.5.

The data set is not shipped: the path is `run(data=...)`, else $EXPLAINER_SST2_DEV, else shared/data/sst2/dev.tsv
in the folder that holds the checkout or the one above it (for a worktree). Without it the
bench reports no rows and says why in `skipped`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from explainer.bench.common import BenchOptions, measure_alternating, report, result, sst2_file

NAME = "batch"
BATCH_SIZE = 32
TARGET = 1.5
QUICK_EXAMPLES = 128


def default_data() -> Path:
    return sst2_file("EXPLAINER_SST2_DEV", "dev.tsv")


def _logits_only_pipeline():
    from transformers import TextClassificationPipeline

    class _LogitsOnly(TextClassificationPipeline):
        def _forward(self, model_inputs):
            return {"logits": super()._forward(model_inputs)["logits"]}

    return _LogitsOnly


def _pipeline_scores(outputs: list, label_names: tuple[str, ...]) -> np.ndarray:  # [N, labels]
    index = {name: i for i, name in enumerate(label_names)}
    scores = np.zeros((len(outputs), len(label_names)), dtype=np.float32)
    for row, output in enumerate(outputs):
        for item in output:
            scores[row, index[item["label"]]] = item["score"]
    return scores


def run(options: BenchOptions = BenchOptions(), *, bundle=None, data: str | Path | None = None) -> dict[str, Any]:
    from transformers import pipeline
    from transformers.utils import logging as hf_logging

    from explainer import load_model
    from explainer.data.labelled import read_dataset
    from explainer.evaluation.predict import predict

    path = Path(data) if data is not None else default_data()
    if not path.is_file():
        message = (f"SST-2 dev set not found at {path}: the batch bench needs it (set EXPLAINER_SST2_DEV or pass "
                   "data=...); nothing was measured")
        print(f"batch bench skipped: {message}", file=sys.stderr)
        return {**report(NAME, []), "skipped": [message]}
    bundle = bundle or load_model()
    texts = list(read_dataset(path).texts)
    if options.quick:
        texts = texts[:QUICK_EXAMPLES]
    # The pipeline logs, as an error, 4.8 KB of every model type it knows when ours is not among them: not one here
    # (the predictions are checked against ours just below).
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity(hf_logging.CRITICAL)
    try:
        classify = pipeline("text-classification", model=bundle.model, tokenizer=bundle.tokenizer,
                            device=bundle.device, pipeline_class=_logits_only_pipeline())
    finally:
        hf_logging.set_verbosity(verbosity)
    call = {"top_k": None, "truncation": True, "max_length": bundle.max_length}

    ours = predict(bundle, texts, batch_size=BATCH_SIZE).probabilities
    for size in (1, BATCH_SIZE):
        theirs = _pipeline_scores(classify(texts, batch_size=size, **call), bundle.label_names)
        if not (np.array_equal(ours.argmax(1), theirs.argmax(1)) and np.allclose(ours, theirs, atol=1e-4)):
            raise AssertionError(f"predictions differ from the pipeline's (batch size {size}): not the same model")

    rows = []
    for size in (1, BATCH_SIZE):
        timing = measure_alternating(
            lambda: predict(bundle, texts, batch_size=BATCH_SIZE),
            lambda size=size: classify(texts, batch_size=size, **call),
            repeats=options.effective_repeats, warmup=1,
        )
        reference_name = f'transformers pipeline("text-classification"), batch_size={size}, top_k=None'
        rows.append(
            result(
                case=f"{bundle.name} on {len(texts)} SST-2 dev sentences (ours: dynamic batches of {BATCH_SIZE})",
                metric="examples per second",
                ours=len(texts) / timing.ours,
                reference=len(texts) / timing.reference,
                reference_name=reference_name,
                target=f"ratio >= {TARGET:g}",
                meets=lambda ratio: ratio >= TARGET,
            )
        )
    return report(NAME, rows)
