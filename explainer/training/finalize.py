"""What training does around its loop to ship a model: check the output folder, score each checkpoint on dev,
and finalise the best one: pick the beacon threshold tau on dev (with the tau sweep of
`explainer.thought_beacon.beacons`), evaluate dev and every challenge capability, and write metrics.json and the
model card, then move it in over the old model. `python -m explainer train` parses its options, calls these and
prints."""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from explainer.data.labelled import LabelledData
from explainer.evaluation.predict import evaluate, predict
from explainer.families import sizes
from explainer.loading.bundle import ModelBundle, load_model, readable_length
from explainer.models.adapter_io import ADAPTER_FILE
from explainer.owner import OWNER
from explainer.thought_beacon.beacons import DEFAULT_TAUS, has_beacons, sweep
from explainer.training.model_card import write_card, write_metrics
from explainer.training.settings import REPLACED, TOKENIZER_FILES

# The thresholds tau is chosen from: the sweep's grid without its ends (tau 0 is the dense model, evaluated on its
# own; at tau 1 every MLP is skipped but where a gate saturates to exactly 1.0).
TAU_GRID = tuple(tau for tau in DEFAULT_TAUS if 0 < tau < 1)
TAU_TOLERANCE = 0.005  # accuracy the shipped tau may cost against the dense model
MONITOR_TAU = 0.5  # threshold at which retrofit training logs its dev skip rate
SWEEP_FIELDS = ("tau", "accuracy", "skip_rate")  # what metrics.json keeps of each point of the sweep

# What a model folder holds besides its tokenizer (which training writes again): the old model's that the new one
# lacks are removed once it is moved in, so a from-scratch model cannot be read back beside a stale retrofit adapter
# (or the reverse), and an old card and metrics cannot describe the new weights.
MODEL_FILES = ("config.json", "model.safetensors", ADAPTER_FILE, "pytorch_model.bin", "metrics.json",
               "training_log.json", "README.md")


TRAINED_HERE = ("thought_beacon", "thought_beacon_bert")  # the model types train writes


def not_a_model(out: Path) -> str | None:
    """Why training may not write into `out` (None: it may): files of a model's names there (a config.json, a
    README.md) that are not a model train wrote would be replaced. Such a model there is replaced (another kind,
    a downloaded BERT say, is refused); other files are left."""
    kept = out / REPLACED
    if kept.is_dir() and any(kept.iterdir()):  # a run killed (SIGKILL) while moving its model in: the only copy of
        # the model before it may be there, which the next run's put_in_place removed
        return (f"{kept} holds files of the model that was in --out {out} before a run was stopped while moving its "
                "model in: move them back into the folder (or remove them), then train again")
    config = out / "config.json"
    if config.is_file():
        try:
            value = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            value = None
        if not (isinstance(value, dict) and isinstance(value.get("model_type"), str)):  # null: "a None model"
            return f"--out {out} holds a config.json that is not a model's: choose another folder"
        if value["model_type"] not in TRAINED_HERE:
            kind = value["model_type"] if len(value["model_type"]) <= 40 else value["model_type"][:40] + "…"
            return (f"--out {out} holds a {kind!r} model, which train does not write: choose another "
                    "folder (it would be replaced)")
        return None
    # a folder without a model: its tokenizer files are someone's own too, and a saved tokenizer would replace them
    taken = [name for name in (*MODEL_FILES, *TOKENIZER_FILES, "special_tokens_map.json") if (out / name).exists()]
    if taken:
        return f"--out {out} holds {', '.join(taken)} and no model: choose another folder (they would be replaced)"
    return None


def put_in_place(stage: Path, out: Path) -> list[str]:
    """Move a finished model from `stage` into `out`, replacing the model there; returns the names of the old
    model's files removed (a retrofit's adapter the new one lacks). The old model's files are first renamed into
    REPLACED inside `out` (one file system: `stage` is inside `out` too), then the new ones into `out`: a rename
    that fails, or a signal, midway moves every file back, so `out` holds the old model whole, never the new card
    and config beside the old weights, and `stage` the new one. The new files get the modes the umask gives a new
    file (safetensors writes its weights 0600) where the file system keeps modes."""
    new = sorted(path.name for path in stage.iterdir() if path.name != OWNER)  # the run's claim stays behind
    old = [name for name in dict.fromkeys([*new, *MODEL_FILES]) if (out / name).is_file()]
    kept = out / REPLACED
    shutil.rmtree(kept, ignore_errors=True)  # a killed run's
    kept.mkdir()
    moves: list[tuple[Path, Path]] = []  # (from, to), done in this order
    try:
        for name in old:
            os.replace(out / name, kept / name)
            moves.append((out / name, kept / name))
        for name in new:
            os.replace(stage / name, out / name)
            moves.append((stage / name, out / name))
    except BaseException:
        _move_back(moves, kept)
        raise
    shutil.rmtree(kept, ignore_errors=True)
    mode = _new_file_mode()
    for name in new:
        try:
            os.chmod(out / name, mode)
        except OSError:  # a file system without modes (vfat, some network shares): the model is in place all the same
            pass
    return [name for name in old if name in MODEL_FILES and name not in new]


def _move_back(moves: list[tuple[Path, Path]], kept: Path) -> None:
    """Undo `put_in_place`'s renames, last first; one that fails is said with where the old model's files are."""
    stuck = []
    for source, target in reversed(moves):
        try:
            os.replace(target, source)
        except OSError:
            stuck.append(target.name)
    if stuck:
        raise OSError(f"could not move {', '.join(stuck)} back: the old model's files are in {kept}")
    kept.rmdir()


def _new_file_mode() -> int:
    """The permission bits a new file gets under this process's umask (read without changing it for good)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def dev_scorer(
    dev: LabelledData, label_names: Sequence[str], device, monitor: Callable[[str], None] | None = None
) -> Callable:
    """The checkpoint score `training.loop.train` keeps the best of: dev accuracy with every MLP run (NaN where an
    output is not finite). With `monitor`, a model with beacons is also run at MONITOR_TAU and `monitor` gets a
    line with that accuracy and skip rate (how far the gates have come; retrofit training logs it)."""
    labels = np.asarray(dev.labels)

    def score(model, tokenizer) -> float:
        bundle = ModelBundle("training", model, tokenizer, tuple(label_names), device,
                             max_length=readable_length(model, tokenizer))  # what load_model will say
        dense = predict(bundle, dev.texts, batch_size=128, beacon_threshold=0.0)
        if not np.isfinite(dense.probabilities).all():
            return math.nan  # fit says the run diverged: such a model read every text as its first label
        accuracy = float((dense.predicted == labels).mean())
        if monitor and getattr(model.config, "use_beacons", False):
            gated = predict(bundle, dev.texts, batch_size=128, beacon_threshold=MONITOR_TAU)
            gated_accuracy = float((gated.predicted == labels).mean())
            monitor(f"dev accuracy {accuracy:.4f}; at tau {MONITOR_TAU}: {gated_accuracy:.4f}, "
                    f"skip rate {gated.skipped_slots / max(gated.slots, 1):.3f}")
        return accuracy

    return score


def pick_tau(sweep: list[dict], dense_accuracy: float, min_skip_rate: float = 0.0) -> tuple[float, str]:
    """The largest threshold whose dev accuracy stays within TAU_TOLERANCE of the dense model's; when that skips
    less than `min_skip_rate`, the smallest threshold that skips at least that much. Returns (tau, rule)."""
    chosen = max([row["tau"] for row in sweep if row["accuracy"] >= dense_accuracy - TAU_TOLERANCE], default=0.0)
    skip = next((row["skip_rate"] for row in sweep if row["tau"] == chosen), 0.0)
    if min_skip_rate and skip < min_skip_rate:
        enough = [row["tau"] for row in sweep if row["skip_rate"] >= min_skip_rate]
        if enough:
            return min(enough), f"smallest tau skipping at least {min_skip_rate:.0%} of MLP evaluations"
        most = max((row["skip_rate"] for row in sweep), default=0.0)  # asked for more than any tau gives: said
        return chosen, (f"largest tau within {TAU_TOLERANCE} of the dense accuracy (no tau skips the "
                        f"{min_skip_rate:.1%} of MLP evaluations asked; the most any skips is {most:.1%})")
    return chosen, f"largest tau within {TAU_TOLERANCE} of the dense accuracy"


def finalize(
    out: Path, dev: LabelledData, challenge: LabelledData, training: dict, device=None, min_skip_rate: float = 0.0,
    title: str | None = None,
) -> dict:
    """Evaluate the checkpoint in `out` as shipped: pick tau on dev (ThoughtBeacon), evaluate dev and every
    challenge capability, and write metrics.json and the model card (titled `title`, else by `out`'s name).
    Rerunnable on a shipped folder. Returns the metrics written."""
    bundle = load_model(out.absolute(), device=device)  # as written: "~/y" (quoted) was made at ./~/y, and
    # load_model, reading "~" as home, looked for /root/y
    config = bundle.model.config
    metrics: dict = {"training": training}
    if (out / ADAPTER_FILE).is_file():
        shape = sizes(config)  # the card describes the base by these, whichever base it was
        metrics["base"] = {"model": config.base_model, "sha256": config.base_sha256,
                           "adapter_bytes": (out / ADAPTER_FILE).stat().st_size,
                           "layers": shape.layers, "heads": shape.heads, "hidden": shape.hidden}
    if has_beacons(bundle):
        dense = evaluate(bundle, dev.texts, dev.labels, beacon_threshold=0.0)
        points = sweep(bundle, dev.texts, dev.labels, taus=TAU_GRID, with_model_tau=False)["points"]
        tau_sweep = [{field: point[field] for field in SWEEP_FIELDS} for point in points]
        tau, rule = pick_tau(tau_sweep, dense["accuracy"], min_skip_rate)
        config.beacon_threshold = tau
        config.save_pretrained(out)
        metrics.update({"dev_dense": dense, "beacon_threshold": tau, "tau_tolerance": TAU_TOLERANCE,
                        "tau_rule": rule, "tau_sweep": tau_sweep})
        if min_skip_rate:  # what was asked, beside the rule that says whether a tau gave it
            metrics["min_skip_rate"] = min_skip_rate
    metrics["dev"] = evaluate(bundle, dev.texts, dev.labels)
    capabilities = challenge.extra["capability"]
    metrics["challenge"] = {}
    for capability in sorted(set(capabilities)):
        rows = [i for i, c in enumerate(capabilities) if c == capability]
        result = evaluate(bundle, [challenge.texts[i] for i in rows], [challenge.labels[i] for i in rows])
        metrics["challenge"][capability] = {"n": result["n"], "accuracy": result["accuracy"]}
    write_metrics(out, metrics)
    write_card(out, title or out.name, metrics)
    return metrics
