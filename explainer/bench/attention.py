"""The `attention` bench: what the Attention page sends to the browser and how long it takes to build.

Ours: everything a page run does from a cached Trace with the default options: `attention_views.derive`
(head statistics, rollout, pooled thumbnails), `attention_views.build` (every plotly figure and both bertviz
views, cut to their value budget) and serialising each figure as the browser gets it (`payload_bytes`).
Reference: bertviz's own head view of the same Trace, every layer and head on the whole input, from float32
tensors as a Hugging Face model returns them (`bertviz.head_view(..., html_action="return").data`).

Targets (for 512 tokens on a BERT-base-sized model, 12 layers x 12 heads): the whole page sends at most
10 MB and builds in at most 1 s. The flags are computed for every case.

bertviz's head view of 512 tokens on BERT-base takes about a minute and builds a string of about 1.6 GB, so
when repeating the reference would take longer than REFERENCE_BUDGET_SECONDS it is timed once and ours is
timed on its own; each row's `timing` says which was done.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from explainer.bench.capture import DEFAULT_LABEL, ModelFactory, default_models
from explainer.bench.common import BenchOptions, measure_alternating, report, result, text_with_tokens

NAME = "attention"
LENGTHS = (128, 512)
QUICK_LENGTHS = (16, 128)
MAX_BYTES = 10_000_000  # the whole page, in bytes sent to the browser
MAX_SECONDS = 1.0  # derive + build + serialise, from a cached Trace
REFERENCE_BUDGET_SECONDS = 20.0  # reference time x repeats above this: time the reference once
REFERENCE_NAME = "bertviz.head_view, all layers and heads, whole input (float32 tensors, html_action='return')"
BYTES_METRIC = "bytes sent to the browser (whole page)"
SECONDS_METRIC = "seconds to build the page's figures from a Trace"


def utf8_size(text: str) -> int:
    """Bytes of `text` as UTF-8, without copying an ASCII string (bertviz's can be 1.6 GB)."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def page_payload(trace) -> dict[str, int]:
    """Ours: what a page run does from a cached Trace; returns the bytes of each figure."""
    from explainer.views import attention_page as attention_views

    page = attention_views.build(trace, attention_views.AttentionOptions(), attention_views.derive(trace))
    return attention_views.payload_bytes(page)


def reference_tensors(trace) -> list[torch.Tensor]:
    """bertviz's input: one [1, heads, T, T] float32 tensor per layer, as `output_attentions=True` gives them."""
    return [torch.from_numpy(np.array(layer[None], dtype=np.float32)) for layer in trace.attentions]


def bertviz_head_view(tensors: list[torch.Tensor], tokens: Sequence[str]) -> str:
    """The reference: bertviz's own head view HTML of every layer and head."""
    from bertviz import head_view

    return head_view(tensors, list(tokens), html_action="return").data


def _seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def time_case(
    ours: Callable[[], Any], reference: Callable[[], Any], repeats: int, budget: float = REFERENCE_BUDGET_SECONDS
) -> tuple[float, float, str]:
    """(ours seconds, reference seconds, how they were timed). A first round of each warms up and says how
    slow the reference is. If `repeats` more reference runs fit in `budget` seconds: `repeats` alternating
    rounds (medians, `measure_alternating`). Otherwise ours alone `repeats` times (median) and the reference's
    first run as its time: one run of bertviz at 512 tokens on BERT-base is about a minute."""
    _seconds(ours)
    first_reference = _seconds(reference)
    if first_reference * repeats <= budget:
        timing = measure_alternating(ours, reference, repeats=repeats, warmup=0)
        return timing.ours, timing.reference, f"alternating, median of {repeats} runs each after 1 warm-up round"
    gc.collect()
    samples = [_seconds(ours) for _ in range(repeats)]
    how = (
        f"separately: ours median of {repeats} runs after 1 warm-up run; reference timed once "
        f"({first_reference:.1f} s is too slow to repeat), not alternated"
    )
    return statistics.median(samples), first_reference, how


def run(
    options: BenchOptions = BenchOptions(),
    *,
    models: Sequence[ModelFactory] | None = None,
    lengths: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Bytes and build time of the Attention page against bertviz's head view for every model and length;
    `models` and `lengths` replace the defaults (tests pass tiny models). Lengths past the model's maximum
    are truncated by trace(); lengths that truncate to the same input are run once."""
    from explainer import trace as capture

    models = default_models(options.quick) if models is None else models
    lengths = (QUICK_LENGTHS if options.quick else LENGTHS) if lengths is None else lengths
    rows: list[dict[str, Any]] = []
    for label, build in models:
        bundle = build()
        name = f"{label} {bundle.name}" if label == DEFAULT_LABEL else label
        done: set[int] = set()
        for length in lengths:
            text = text_with_tokens(bundle.tokenizer, length, max_length=bundle.max_length)
            trace = capture(bundle, text)
            tokens = len(trace.tokens)
            if tokens in done:
                continue
            done.add(tokens)
            case = f"{name} {tokens} tokens"
            if trace.truncated:
                total = len(bundle.tokenizer(text, truncation=False)["input_ids"])
                case += f" (text of {total}, truncated)"
            case += f", {trace.num_layers} layers x {trace.num_heads} heads"

            sizes: dict[str, dict[str, int] | int] = {}
            tensors = reference_tensors(trace)

            def ours(trace=trace, sizes=sizes) -> None:
                sizes["ours"] = page_payload(trace)

            def reference(tensors=tensors, tokens=trace.tokens, sizes=sizes) -> None:
                sizes["reference"] = utf8_size(bertviz_head_view(tensors, tokens))

            build_seconds, reference_seconds, how = time_case(ours, reference, options.effective_repeats)
            per_figure = dict(sizes["ours"])
            total_bytes = sum(per_figure.values())
            reference_bytes = int(sizes["reference"])
            fields = {
                "tokens": tokens,
                "layers": trace.num_layers,
                "heads": trace.num_heads,
                "bytes_per_figure": per_figure,
                "total_bytes": total_bytes,
                "reference_bytes": reference_bytes,
                "build_seconds": build_seconds,
                "reference_seconds": reference_seconds,
                "within_10mb": total_bytes <= MAX_BYTES,
                "within_1s": build_seconds <= MAX_SECONDS,
                "timing": how,
            }
            common = {"case": case, "reference_name": REFERENCE_NAME}
            rows.append(
                result(
                    **common,
                    metric=BYTES_METRIC,
                    ours=total_bytes,
                    reference=reference_bytes,
                    target=f"ours <= {MAX_BYTES:,} bytes",
                    meets=fields["within_10mb"],
                )
                | fields
            )
            rows.append(
                result(
                    **common,
                    metric=SECONDS_METRIC,
                    ours=build_seconds,
                    reference=reference_seconds,
                    target=f"ours <= {MAX_SECONDS:g} s",
                    meets=fields["within_1s"],
                )
                | fields
            )
            del trace, tensors, sizes
            gc.collect()
        del bundle
        gc.collect()
    return report(NAME, rows)
