"""The `capture` bench: what trace() costs over the plain forward pass a user runs to classify a text.

trace() asks the model for attention weights and hidden states, reads the logit lens off every layer, hooks
the MLPs (BERT-like families) and copies it all to numpy. The reference is the same model on the same input
doing only what classification needs: tokenize, then model(**inputs) under inference_mode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from explainer.bench.common import (
    BERT_BASE,
    BenchOptions,
    measure_alternating,
    random_bert,
    ratio_at_most,
    report,
    text_with_tokens,
    timed_result,
)

NAME = "capture"
METRIC = "seconds per input"
REFERENCE_NAME = "plain forward (tokenize + model(**inputs))"
MAX_RATIO = 1.15
LENGTHS = (128, 512)
QUICK_LENGTHS = (16, 128)
DEFAULT_LABEL = "default model"

# (label shown in the case name, function building the ModelBundle)
ModelFactory = tuple[str, Callable[[], Any]]


def default_models(quick: bool = False) -> list[ModelFactory]:
    """The app's default model and a random BERT-base-sized one (quick: a small random BERT instead)."""
    from explainer import load_model

    def placeholder():
        return load_model()

    if quick:
        small = {"num_hidden_layers": 2, "num_attention_heads": 2, "hidden_size": 64, "intermediate_size": 128}
        return [(DEFAULT_LABEL, placeholder), ("small bert (random weights)", lambda: random_bert(**small))]
    return [(DEFAULT_LABEL, placeholder), (BERT_BASE, random_bert)]


def plain_forward(bundle, text: str) -> Callable[[], Any]:
    """The reference: what a user writes to classify `text` with this model."""
    tokenizer, model = bundle.tokenizer, bundle.model

    def run():
        inputs = tokenizer(text, truncation=True, max_length=bundle.max_length, return_tensors="pt")
        inputs = inputs.to(bundle.device)
        with torch.inference_mode():
            return model(**inputs)

    return run


def traced(bundle, text: str) -> Callable[[], Any]:
    """Ours: the whole capture of `text`."""
    from explainer import trace

    return lambda: trace(bundle, text)


def run(
    options: BenchOptions = BenchOptions(),
    *,
    models: Sequence[ModelFactory] | None = None,
    lengths: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Time trace() against the plain forward pass for every model and length; `models` and `lengths`
    replace the defaults (tests pass tiny models). The label DEFAULT_LABEL gets the bundle's name appended."""
    models = default_models(options.quick) if models is None else models
    lengths = (QUICK_LENGTHS if options.quick else LENGTHS) if lengths is None else lengths
    target, meets = ratio_at_most(MAX_RATIO)
    rows = []
    for label, build in models:
        bundle = build()
        name = f"{label} {bundle.name}" if label == DEFAULT_LABEL else label
        for length in lengths:
            text = text_with_tokens(bundle.tokenizer, length, max_length=bundle.max_length)
            case = f"{name} {length} tokens"
            if length >= bundle.max_length:
                total = len(bundle.tokenizer(text, truncation=False)["input_ids"])
                case = f"{name} {bundle.max_length} tokens (text of {total}, truncated)"
            timing = measure_alternating(
                traced(bundle, text), plain_forward(bundle, text), repeats=options.effective_repeats, warmup=2
            )
            rows.append(
                timed_result(
                    case=case, metric=METRIC, timing=timing, reference_name=REFERENCE_NAME, target=target, meets=meets
                )
            )
        del bundle
    return report(NAME, rows)
