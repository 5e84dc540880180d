"""The `attribution` bench: integrated gradients and the attribution graph against one forward+backward pass.

Reference: one forward+backward pass of the input (its word embeddings, the target logit's gradient), what
the cheapest gradient method costs. Measured against it, alternating in one run:
- ours: `attribute(..., "integrated_gradients")` with its defaults (adaptive Simpson panels, each round one batch,
  refined until the error bound, and so the convergence delta, is under 1% of the logit gap F(x) - F(baseline);
  see ig_adaptive.py). Target: ratio <= 10 with |delta| under 1%.
- ours stopped on |delta| alone (captum's convergence criterion): faster, and the row shows what that costs.
- captum's default call: IntegratedGradients(...).attribute(n_steps=50), all 50 steps in one batch.
Every IG row also says how far its worst token is from a 128-point Gauss-Legendre reference (captum), in % of
the gap: the delta is a sum over tokens and can be small while single tokens are off.
- the attribution graph (self-attention attribution of every layer, default steps); target: completeness
  error under 5% in every layer (no time target).
On the default model and a random BERT-base-sized one, at 64 and 128 tokens; and, where the SST-2 dev set is on
hand (see bench/batch.py), ours on real dev text for the default model: SENTENCES dev sentences, the inputs it is
made for, and LONG_TEXTS texts of LONG_TOKENS tokens made of dev sentences joined (the 64-token row above is one
text; its logit gap, 0.09 on the shipped default, is small against the swing of F along the path, so 1% of it
asks for many points): total time against total reference time, with the median and spread of the per-text
ratios.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from explainer.bench.capture import DEFAULT_LABEL, ModelFactory, default_models
from explainer.bench.common import (
    BenchOptions,
    measure_alternating,
    report,
    result,
    text_with_tokens,
    timed_result,
)

NAME = "attribution"
METRIC = "seconds per input"
REFERENCE_NAME = "one forward+backward pass (target logit, gradient w.r.t. the embeddings)"
MAX_RATIO = 10.0
MAX_RELATIVE_DELTA = 0.01
GRAPH_MAX_DELTA = 0.05
LENGTHS = (64, 128)
QUICK_LENGTHS = (16, 32)
SENTENCES = 16
SENTENCE_SEED = 1
LONG_TEXTS = 8
LONG_TOKENS = 64


def forward_backward(bundle, text: str) -> Callable[[], Any]:
    from explainer.attribution.inputs import logits_of_embeddings, prepare, target_of

    prepared = prepare(bundle, text)
    label, _ = target_of(bundle, prepared, None)
    forward = logits_of_embeddings(bundle, prepared)

    def run():
        with bundle.lock, torch.enable_grad():
            embeds = prepared.embeddings.clone().requires_grad_(True)
            return torch.autograd.grad(forward(embeds)[0, label], embeds)

    return run


def worst_token_error(scores, reference) -> float:
    """max |score - reference| over tokens, as a share of |F(x) - F(baseline)|."""
    return float(abs(scores - reference.scores).max() / abs(reference.logit_gap))


def captum_default(bundle, text: str) -> Callable[[], Any]:
    from captum.attr import IntegratedGradients

    from explainer.attribution.inputs import logits_of_embeddings, prepare, target_of

    prepared = prepare(bundle, text)
    label, _ = target_of(bundle, prepared, None)
    forward = logits_of_embeddings(bundle, prepared)
    ig = IntegratedGradients(lambda embeds: forward(embeds)[:, label])

    def run():
        with bundle.lock, torch.enable_grad():
            return ig.attribute(prepared.embeddings, baselines=prepared.baseline_embeddings, n_steps=50)

    return run


def run(
    options: BenchOptions = BenchOptions(),
    *,
    models: Sequence[ModelFactory] | None = None,
    lengths: Sequence[int] | None = None,
    data: str | Path | None = None,
) -> dict[str, Any]:
    """Time IG (ours and captum's default call) and the graph against one forward+backward pass, for every
    model and length; `models` and `lengths` replace the defaults (tests pass tiny models). The sentence row
    runs for the default model when the SST-2 dev set is found, or for the first model when `data` is given."""
    from explainer.bench.batch import default_data

    sentences_from = Path(data) if data is not None else default_data()
    given = models is not None
    models = default_models(options.quick) if models is None else models
    lengths = (QUICK_LENGTHS if options.quick else LENGTHS) if lengths is None else lengths
    repeats = min(options.effective_repeats, 3)  # IG and the graph take seconds to minutes per call on a CPU
    rows = []
    for label, build in models:
        bundle = build()
        name = f"{label} {bundle.name}" if label == DEFAULT_LABEL else label
        measured = set()
        for length in lengths:
            if min(length, bundle.max_length) in measured:
                continue  # truncated to a length already measured (the shipped model reads 64 tokens)
            measured.add(min(length, bundle.max_length))
            rows += _rows(bundle, name, length, repeats)
        # The sentence row: once, for the default model (tests: for the first model, given `data`).
        wanted = (data is not None and label == models[0][0]) if given else label == DEFAULT_LABEL and not options.quick
        if wanted and sentences_from.is_file():
            from explainer.data.labelled import read_dataset

            dev = list(read_dataset(sentences_from, label_names=bundle.label_names).texts)
            rows.append(_dev_text_row(bundle, name, _dev_sentences(dev), repeats))
            long_texts = _joined_dev_texts(bundle.tokenizer, dev, LONG_TOKENS)
            joined = f"texts of {LONG_TOKENS} tokens (dev sentences joined)"
            rows.append(_dev_text_row(bundle, name, long_texts, repeats, joined))
        del bundle
    return report(NAME, rows)


def _dev_sentences(texts: list[str]) -> list[str]:
    """SENTENCES of the dev sentences `texts` (fixed seed)."""
    import numpy as np

    chosen = np.random.default_rng(SENTENCE_SEED).choice(len(texts), min(SENTENCES, len(texts)), replace=False)
    return [texts[int(index)] for index in chosen]


def _joined_dev_texts(tokenizer, texts: list[str], tokens: int) -> list[str]:
    """LONG_TEXTS texts of `tokens` tokens (special tokens included), each made of dev sentences drawn at random
    (fixed seed) from `texts` and joined, cut at the token count."""
    import numpy as np

    room = tokens - len(tokenizer("")["input_ids"])  # what the special tokens leave
    generator = np.random.default_rng(SENTENCE_SEED)
    joined = []
    for _ in range(LONG_TEXTS):
        ids: list[int] = []
        while len(ids) < room:
            ids += tokenizer(texts[int(generator.integers(len(texts)))], add_special_tokens=False)["input_ids"]
        joined.append(tokenizer.decode(ids[:room]))
    return joined


def _dev_text_row(bundle, name: str, texts: list[str], repeats: int, what: str = "SST-2 dev sentences") -> dict:
    """Ours on `texts`, each alternated with its own forward+backward pass."""
    import numpy as np

    from explainer.attribution import attribute

    ours_total = reference_total = 0.0
    ratios, points, deltas, bounds = [], [], [], []
    for text in texts:
        outcome: dict[str, Any] = {}

        def ours(text=text, outcome=outcome):
            outcome["ig"] = attribute(bundle, text, "integrated_gradients")

        timing = measure_alternating(ours, forward_backward(bundle, text), repeats=repeats, warmup=1)
        ours_total += timing.ours
        reference_total += timing.reference
        ratios.append(timing.ours / timing.reference)
        ig = outcome["ig"]
        points.append(ig.steps)
        deltas.append(ig.relative_delta or 0.0)
        bounds.append(ig.error_bound / abs(ig.logit_gap) if ig.logit_gap else 0.0)
    ratios_array = np.array(ratios)
    return result(
        case=f"{name}: integrated gradients, ours on {len(texts)} {what} (per text: ratio median "
        f"{np.median(ratios_array):.1f}, {np.min(ratios_array):.1f}-{np.max(ratios_array):.1f}, <= {MAX_RATIO:g} on "
        f"{int((ratios_array <= MAX_RATIO).sum())}; points median {int(np.median(points))}; worst |delta| "
        f"{max(deltas):.2%}, worst error bound {max(bounds):.2%} of the logit gap)",
        metric="seconds for all texts",
        ours=ours_total,
        reference=reference_total,
        reference_name=REFERENCE_NAME,
        target=f"ratio <= {MAX_RATIO:g} at |delta| < {MAX_RELATIVE_DELTA:.0%} of the logit gap",
        meets=lambda ratio: ratio <= MAX_RATIO and max(deltas) < MAX_RELATIVE_DELTA,
    )


def _row(case: str, timing, target: str, meets) -> dict[str, Any]:
    """A result row timed against REFERENCE_NAME."""
    return timed_result(
        case=case, metric=METRIC, timing=timing, reference_name=REFERENCE_NAME, target=target, meets=meets
    )


def _rows(bundle, name: str, length: int, repeats: int) -> list[dict[str, Any]]:
    from explainer.attribution import AttributionOptions, attribute
    from explainer.attribution.graph import attention_attribution

    text = text_with_tokens(bundle.tokenizer, length, max_length=bundle.max_length)
    if length >= bundle.max_length:  # the model reads no more: say so, as the capture bench does
        total = len(bundle.tokenizer(text, truncation=False)["input_ids"])
        name = f"{name} {bundle.max_length} tokens (text of {total}, truncated)"
        length_label = ""
    else:
        length_label = f" {length} tokens"
    reference = forward_backward(bundle, text)
    reference()  # warm-up
    outcome: dict[str, Any] = {}

    def ours():
        outcome["ig"] = attribute(bundle, text, "integrated_gradients")

    def graph():
        outcome["graph"] = attention_attribution(bundle, text)

    def ours_on_delta():
        on_delta = AttributionOptions(ig_stop="delta")
        outcome["ig_delta"] = attribute(bundle, text, "integrated_gradients", options=on_delta)

    many_points = AttributionOptions(integration="gausslegendre", steps=128, max_steps=128)
    truth = attribute(bundle, text, "integrated_gradients", options=many_points)
    rows = []
    for label, run_ours, key in (("ours", ours, "ig"), ("ours stopped on |delta| alone", ours_on_delta, "ig_delta")):
        timing = measure_alternating(run_ours, reference, repeats=repeats, warmup=1)
        ig = outcome[key]
        delta = ig.relative_delta if ig.relative_delta is not None else 0.0
        rows.append(
            _row(
                f"{name}{length_label}: integrated gradients, {label} ({ig.steps} points, |delta| {delta:.2%}, "
                f"error bound {ig.error_bound / abs(ig.logit_gap):.2%}, worst token "
                f"{worst_token_error(ig.scores, truth):.2%} of the logit gap)",
                timing,
                f"ratio <= {MAX_RATIO:g} at |delta| < {MAX_RELATIVE_DELTA:.0%} of the logit gap",
                lambda ratio, delta=delta: ratio <= MAX_RATIO and delta < MAX_RELATIVE_DELTA,
            )
        )
    captum_run = captum_default(bundle, text)

    def captum():
        outcome["captum"] = captum_run()

    timing = measure_alternating(captum, reference, repeats=repeats, warmup=0)
    captum_scores = outcome["captum"][0].sum(-1).detach().double().cpu().numpy()
    captum_delta = abs(captum_scores.sum() - truth.logit_gap) / abs(truth.logit_gap)
    rows.append(
        _row(
            f"{name}{length_label}: integrated gradients, captum's default call (50 steps, one batch, "
            f"|delta| {captum_delta:.2%}, worst token {worst_token_error(captum_scores, truth):.2%} of the logit gap)",
            timing,
            f"ratio <= {MAX_RATIO:g}",
            lambda ratio: ratio <= MAX_RATIO,
        )
    )
    timing = measure_alternating(graph, reference, repeats=repeats, warmup=0)
    heads = outcome["graph"]
    worst = float(heads.relative_deltas.max())
    rows.append(
        _row(
            f"{name}{length_label}: attribution graph ({heads.steps} steps x {heads.num_layers} layers, "
            f"worst layer |delta| {worst:.2%})",
            timing,
            f"no time target; completeness error < {GRAPH_MAX_DELTA:.0%} in every layer",
            worst < GRAPH_MAX_DELTA,
        )
    )
    return rows
