"""Shared pieces of every bench: the machine line, alternating timing, the result shape (docs/architecture.md,
"Benchmarks"), a randomly initialised BERT-base-sized classifier loaded through the real loading path, and texts of
an exact token count.
"""

from __future__ import annotations

import atexit
import gc
import math
import os
import platform
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

# ---------------------------------------------------------------------------------------------- options


@dataclass(frozen=True)
class BenchOptions:
    """What the command line asked for; every bench function takes one."""

    repeats: int = 7
    quick: bool = False  # fewer repeats and smaller cases, for tests
    threads: int | None = None  # torch.set_num_threads, None: leave torch's default

    @property
    def effective_repeats(self) -> int:
        return min(self.repeats, 3) if self.quick else self.repeats

    @property
    def server_env(self) -> dict[str, str]:
        """The environment of an app server a bench starts: --threads reached this process's torch alone, so the
        `machine` line named a thread count the measured server did not run with (torch reads OMP_NUM_THREADS)."""
        return {} if self.threads is None else {"OMP_NUM_THREADS": str(self.threads)}


# ---------------------------------------------------------------------------------------------- machine


def sst2_file(variable: str, name: str) -> Path:
    """The SST-2 file environment `variable` names, else GLUE's `name` (dev.tsv, train.tsv) where the team keeps a
    copy beside the checkout (the first of those paths when none is there: the caller says it is missing).
    DatasetError (the command's one line, exit 2) when the variable names no file: a path set on purpose and not
    found was taken as "not set", and the bench ran on other data or none."""
    if os.environ.get(variable):
        path = Path(os.environ[variable])
        if not path.is_file():
            from explainer.data.labelled import DatasetError

            raise DatasetError(f"{variable} names {path}, which is not a file: name the file, or unset it")
        return path
    root = Path(__file__).resolve().parents[2]
    candidates = [folder / "shared" / "data" / "sst2" / name for folder in (root.parent, root.parent.parent)]
    return next((path for path in candidates if path.is_file()), candidates[0])


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "processor\t: ")) and ":" in line:
                value = line.split(":", 1)[1].strip()
                if value and not value.isdigit():
                    return value
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine() -> str:
    """One line naming what ran the bench: CPU model, cores, torch threads, torch version, GPU if any, and the
    1-minute load average (how busy the machine was with other work)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parts = [
        _cpu_model(),
        f"{cores} cores",
        f"torch {torch.__version__} with {torch.get_num_threads()} threads",
    ]
    if torch.cuda.is_available():
        parts.append(f"GPU: {torch.cuda.get_device_name(0)}")
    else:
        parts.append("no GPU")
    if hasattr(os, "getloadavg"):  # other work on the machine is what makes times noisy: say how much there was
        parts.append(f"load average {os.getloadavg()[0]:.2f} at start")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class Timing:
    """Medians of alternating runs, with every sample kept. Unpacks as (ours, reference)."""

    ours: float
    reference: float
    ours_samples: tuple[float, ...] = field(repr=False)
    reference_samples: tuple[float, ...] = field(repr=False)

    @property
    def ratio(self) -> float:
        return self.ours / self.reference

    def __iter__(self) -> Iterator[float]:
        return iter((self.ours, self.reference))


def _sync() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _timed(fn: Callable[[], Any]) -> float:
    _sync()
    start = time.perf_counter()
    fn()
    _sync()
    return time.perf_counter() - start


def measure_alternating(ours: Callable[[], Any], reference: Callable[[], Any], repeats: int, warmup: int = 1) -> Timing:
    """Call ours, reference, ours, reference, ... (ABAB) in one run, `repeats` times each after `warmup`
    untimed rounds, and return the median seconds of each. Alternating spreads machine noise (other load,
    frequency changes) evenly over both sides, so their ratio is steadier than either time."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    for _ in range(warmup):
        ours()
        reference()
    gc.collect()
    ours_samples: list[float] = []
    reference_samples: list[float] = []
    for _ in range(repeats):
        ours_samples.append(_timed(ours))
        reference_samples.append(_timed(reference))
    return Timing(
        ours=statistics.median(ours_samples),
        reference=statistics.median(reference_samples),
        ours_samples=tuple(ours_samples),
        reference_samples=tuple(reference_samples),
    )


# ---------------------------------------------------------------------------------------------- results

RESULT_KEYS = ("case", "metric", "ours", "reference", "reference_name", "ratio", "target", "meets")


def _round(value: float) -> float:
    """6 significant digits, but a whole count (bytes) as it is: 1088002 read 1088000.0 beside its exact count, and
    at a limit the printed value and `meets` could disagree."""
    if float(value).is_integer() and abs(value) < 2**53:
        return float(value)
    return float(f"{value:.6g}")


def _measured(value: float) -> float | None:
    return _round(value) if math.isfinite(value) else None


def result(
    *,
    case: str,
    metric: str,
    ours: float,
    reference: float,
    reference_name: str,
    target: str,
    meets: bool | Callable[[float], bool],
) -> dict[str, Any]:
    """One row of a bench report. `ratio` is ours / reference (computed from the reported, 6-digit values,
    so a reader can check it); `meets` is a bool, or a predicate on the ratio. A side that was not measured (inf
    or NaN: a visit that never drew its figure) or a reference of 0 is null, with a null ratio that meets no
    target (Infinity is no JSON, and a visit that failed is not fast)."""
    ours, reference = _measured(ours), _measured(reference)
    ratio = ours / reference if ours is not None and reference else None
    return {
        "case": case,
        "metric": metric,
        "ours": ours,
        "reference": reference,
        "reference_name": reference_name,
        "ratio": ratio,
        "target": target,
        "meets": False if ratio is None else bool(meets(ratio) if callable(meets) else meets),
    }


def untargeted_result(*, case: str, metric: str, ours: float, reference: float, reference_name: str) -> dict[str, Any]:
    """A row reported beside its reference with no target of its own: `target` and `meets` are None."""
    row = result(case=case, metric=metric, ours=ours, reference=reference, reference_name=reference_name,
                 target="", meets=True)
    row["target"], row["meets"] = None, None
    return row


def ratio_at_most(limit: float) -> tuple[str, Callable[[float], bool]]:
    """(target in words, predicate) for the common goal 'ours takes at most `limit` times the reference'."""
    return f"ratio <= {limit:g}", lambda ratio: ratio <= limit


def timed_result(
    *, case: str, metric: str, timing: Timing, reference_name: str, target: str, meets: bool | Callable[[float], bool]
) -> dict[str, Any]:
    """result() of one measure_alternating Timing: its medians as ours and reference."""
    return result(
        case=case,
        metric=metric,
        ours=timing.ours,
        reference=timing.reference,
        reference_name=reference_name,
        target=target,
        meets=meets,
    )


def report(bench: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole output of one bench, the report shape of docs/architecture.md (Benchmarks); a bench may add
    "skipped" or "runs" to it."""
    return {"bench": bench, "machine": machine(), "results": list(results)}


def format_table(data: dict[str, Any]) -> str:
    """A readable table of a report, for the terminal."""
    headers = ("case", "metric", "ours", "reference", "ratio", "target", "meets")
    rows = [
        (
            r["case"],
            r["metric"],
            "-" if r["ours"] is None else f"{r['ours']:.4g}",  # None: not measured (a visit that failed)
            "-" if r["reference"] is None else f"{r['reference']:.4g}",
            "-" if r["ratio"] is None else f"{r['ratio']:.3f}",
            r["target"] or "",
            "-" if r["meets"] is None else ("yes" if r["meets"] else "NO"),  # None: a row without a target
        )
        for r in data["results"]
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out = [f"bench: {data['bench']}", f"machine: {data['machine']}", "", line(headers), line("-" * w for w in widths)]
    out += [line(row) for row in rows]
    names = sorted({r["reference_name"] for r in data["results"]})
    if names:
        out += ["", "reference: " + "; ".join(names)]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------- models

BERT_BASE = "bert-base (random weights)"
_bert_folders: dict[tuple[tuple[str, Any], ...], Path] = {}
_bert_lock = threading.Lock()


def random_bert_folder(**config_overrides: Any) -> Path:
    """A randomly initialised BertForSequenceClassification (BertConfig() defaults: 12 layers, 12 heads,
    hidden 768, 2 labels; `config_overrides` change them, e.g. for a tiny test model) with a local WordPiece
    tokenizer, saved as safetensors into a temporary folder. Built once per process and configuration; the
    folder is removed at exit. Nothing is downloaded."""
    key = tuple(sorted(config_overrides.items()))
    with _bert_lock:
        folder = _bert_folders.get(key)
        if folder is not None and (folder / "config.json").is_file():
            return folder
        from transformers import BertConfig, BertForSequenceClassification

        from explainer.loading.untrained import demo_texts
        from explainer.models.tokenization_wordpiece import train_wordpiece

        tokenizer = train_wordpiece(demo_texts() * 4, vocab_size=600)
        labels = {0: "negative", 1: "positive"}
        settings: dict[str, Any] = {
            "vocab_size": len(tokenizer),
            "num_labels": 2,
            "id2label": labels,
            "label2id": {v: k for k, v in labels.items()},
            "pad_token_id": tokenizer.pad_token_id,
            **config_overrides,
        }
        tokenizer.model_max_length = settings.get("max_position_embeddings", 512)
        torch.manual_seed(0)
        model = BertForSequenceClassification(BertConfig(**settings))
        folder = Path(tempfile.mkdtemp(prefix="explainer-bench-bert-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        model.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
        del model
        _bert_folders[key] = folder
        return folder


def random_bert(**config_overrides: Any):
    """The random BERT (see `random_bert_folder`) loaded with `explainer.load_model`, the real loading path."""
    from explainer import load_model

    return load_model(random_bert_folder(**config_overrides))


# ---------------------------------------------------------------------------------------------- texts

_WORDS: list[str] | None = None


def _words() -> list[str]:
    global _WORDS
    if _WORDS is None:
        from explainer.loading.untrained import demo_texts

        _WORDS = " ".join(demo_texts()).split()
    return _WORDS


def _count(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])


def text_with_tokens(tokenizer, n: int, max_length: int | None = None, overflow: int = 64) -> str:
    """A text of demo sentences that `tokenizer` turns into exactly `n` tokens, special tokens included.

    When `max_length` is given and `n >= max_length`, the text has `max_length + overflow` tokens instead, so
    trace() (and the reference) truncate it to `max_length`: that is what a too-long input costs."""
    if max_length is not None and n >= max_length:
        n = max_length + overflow
    base = _count(tokenizer, "")  # special tokens alone
    if n <= base:
        raise ValueError(f"{n} tokens is too few: the special tokens alone take {base}")
    words = _words()
    pool = list(words)
    while _count(tokenizer, " ".join(pool)) < n:
        pool += words
    # Longest prefix of whole words with at most n tokens (token count grows with the prefix).
    low, high = 0, len(pool)
    while low < high:
        mid = (low + high + 1) // 2
        if _count(tokenizer, " ".join(pool[:mid])) <= n:
            low = mid
        else:
            high = mid - 1
    text = " ".join(pool[:low])
    # Top up with one-token fillers; try a few in case a tokenizer merges one with its neighbour.
    for _ in range(n):
        have = _count(tokenizer, text)
        if have == n:
            return text
        for filler in (" .", " ,", " a", " the", "."):
            if _count(tokenizer, text + filler) == have + 1:
                text += filler
                break
        else:
            break
    raise ValueError(f"could not build a text of exactly {n} tokens with this tokenizer")
