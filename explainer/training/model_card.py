"""Write metrics.json and the model card (README.md) of a trained model from evaluation results.

Every number in the card comes from the `metrics` dict the evaluation code produced; nothing is typed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_metrics(out_dir: Path, metrics: dict[str, Any]) -> None:
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))


# Settings that only shape the ThoughtBeacon model; a baseline card leaves them out.
OURS_ONLY = {"num_markers", "marker_temperature", "beacon_sparsity", "marker_confidence", "marker_balance"}


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _results_head(dev: dict[str, Any]) -> list[str]:
    """The card's Results heading and the first rows of its dev-set table (both cards start it the same way)."""
    return [
        "## Results",
        "",
        f"SST-2 dev ({dev['n']} sentences), from `python -m explainer evaluate`:",
        "",
        "| metric | value |",
        "|---|---|",
        f"| accuracy | {dev['accuracy']:.4f} |",
        f"| macro-F1 | {dev['macro_f1']:.4f} |",
    ]


def _challenge_table(challenge: dict[str, dict[str, float]]) -> list[str]:
    """Accuracy per challenge-set capability, as a Markdown table after a blank line and its caption."""
    return [
        "",
        "Challenge set (`assets/challenge_set.csv`, CheckList-style templates), accuracy per capability:",
        "",
        "| capability | n | accuracy |",
        "|---|---|---|",
        *[f"| {name} | {figures['n']} | {figures['accuracy']:.3f} |" for name, figures in challenge.items()],
    ]


def render_card(name: str, metrics: dict[str, Any]) -> str:
    settings = metrics["training"]["settings"]
    if settings.get("backbone"):  # retrofitted onto a pretrained encoder: its own card
        from explainer.training.retrofit_card import render_retrofit_card

        return render_retrofit_card(name, metrics)
    dev = metrics["dev"]
    ours = settings["arch"] == "thought-beacon"
    lines = [
        f"# {name}",
        "",
        f"A {'ThoughtBeacon' if ours else 'baseline'} Transformer encoder classifier trained from scratch on "
        "GLUE SST-2 (Socher et al. 2013), binary sentiment: `negative` / `positive`.",
        "Shipped with the Transformer Explainer workbench; load it with `explainer.load_model(folder)`.",
        "",
        *_results_head(dev),
    ]
    if ours:
        lines += [
            f"| beacon threshold tau (chosen on this dev set) | {metrics['beacon_threshold']:.2f} |",
            f"| accuracy with every MLP run (tau = 0) | {metrics['dev_dense']['accuracy']:.4f} |",
            f"| skip rate (MLP evaluations skipped) | {_pct(dev['skip_rate'])} |",
            f"| MLP FLOPs saved | {_pct(dev['mlp_flops_saved'])} |",
            f"| total FLOPs saved | {_pct(dev['total_flops_saved'])} |",
            f"| marker mean max probability | {dev['marker_mean_max_prob']:.3f} |",
            f"| least-used marker (share of slots) | {_pct(min(dev['marker_usage']))} |",
        ]
        if dev["skip_rate"] > 0.95:
            lines += [
                "",
                f"At its shipped tau the model skips {_pct(dev['skip_rate'])} of MLP evaluations: training routed the "
                "decision through attention and the thought markers, and the MLPs can be dropped with "
                f"{'no loss' if dev['accuracy'] >= metrics['dev_dense']['accuracy'] else 'little loss'} of accuracy "
                "against running them all. The beacons act as a learned pruning of the MLPs here rather than a "
                "per-token choice.",
            ]
    lines += _challenge_table(metrics["challenge"])
    lines += [
        "",
        "## Training",
        "",
        f"Data: SST-2 `train.tsv` ({metrics['training']['n_train']} phrases); checkpoint chosen on dev accuracy "
        f"(best {metrics['training']['best_dev_accuracy']:.4f}{' with every MLP run' if ours else ''})."
        + (_tau_choice(metrics) if ours else ""),
        "",
        "| hyper-parameter | value |",
        "|---|---|",
        *[f"| {key} | {value} |" for key, value in settings.items() if ours or key not in OURS_ONLY],
        "",
        "Tokenizer: WordPiece (lower-cased) trained on the training text with Hugging Face `tokenizers`.",
        "",
        *(_mechanisms() if ours else [
            "## Baseline twin",
            "",
            "No thought markers and no activation beacons: a plain pre-LayerNorm encoder of the same size, trained "
            "with the same data, tokenizer recipe, schedule and seed as `sst2-thought-beacon`, so the two can be "
            "compared side by side.",
            "",
        ]),
        "## Limitations",
        "",
        "A small model trained from scratch on movie-review sentiment: it knows nothing outside that domain. "
        f"Its weakest challenge-set capabilities: {_weakest(metrics['challenge'])}.",
    ]
    return "\n".join(lines) + "\n"


def _weakest(challenge: dict[str, dict[str, float]], count: int = 2) -> str:
    ranked = sorted(challenge.items(), key=lambda item: item[1]["accuracy"])[:count]
    return ", ".join(f"{name} ({figures['accuracy']:.0%})" for name, figures in ranked)


def _mechanisms() -> list[str]:
    return [
        "## Thought markers and activation beacons",
        "",
        "*Thought markers*: a shared bank of K learned vectors. At every layer each token routes softly over them "
        "(`p = softmax(R(LN(x)) / T)`), and the routed marker is added to the residual stream through a projection "
        "that starts at zero. The routing across layers is the token's path of \"thoughts\"; markers can be forced "
        "at inference to see how the prediction moves.",
        "",
        "*Activation beacons*: a per-layer gate `g = sigmoid(W [LN(h); b])` scales the MLP update, trained with a "
        "sparsity cost; positions with `g < tau` skip the MLP at inference (really skipped).",
        "",
        "The name is unrelated to BAAI's \"Activation Beacon\", a KV-cache compression method for long contexts.",
        "",
        "Related work: pause tokens (Goyal et al. 2023), register tokens (Darcet et al. 2023) and thinking "
        "tokens (markers); highway networks (Srivastava et al. 2015), GateSkip and Mixture-of-Depths "
        "(Raposo et al. 2024) (beacons).",
        "",
    ]


def _tau_choice(metrics: dict[str, Any]) -> str:
    """How train.pick_tau chose the shipped tau: by default within the accuracy tolerance; with --min-skip-rate
    it may have taken the smallest tau skipping enough instead (its `tau_rule` says so)."""
    rule = metrics.get("tau_rule", "")
    if rule.startswith("smallest"):
        return (f" The shipped tau was chosen on dev as the {rule}: the largest threshold whose accuracy stays "
                f"within {metrics['tau_tolerance']:.3f} of the dense accuracy skipped less than that.")
    return (" The shipped tau was chosen on dev as the largest threshold whose accuracy stays within "
            f"{metrics['tau_tolerance']:.3f} of the dense accuracy.")


def write_card(out_dir: Path, name: str, metrics: dict[str, Any]) -> None:
    (out_dir / "README.md").write_text(render_card(name, metrics))

