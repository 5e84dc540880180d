"""Train a ThoughtBeacon model or its baseline twin on a labelled text file: from scratch, or retrofitted onto a
pretrained BERT-family encoder (`backbone` set: LoRA on the frozen base, see explainer/models/modeling_retrofit.py).

Loss = cross-entropy
     + beacon_sparsity * mean gate over real tokens            (pushes MLP work towards skippable)
     + marker_confidence * mean routing entropy per slot        (each slot picks one marker clearly)
     + marker_balance * (log K - entropy of mean routing)       (every marker stays in use)
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, PreTrainedModel, PreTrainedTokenizerFast, get_linear_schedule_with_warmup

from explainer.loading import backbone as backbones
from explainer.loading.retrofit import retrofit
from explainer.models import ThoughtBeaconConfig, ThoughtBeaconForSequenceClassification, ThoughtBeaconOutput
from explainer.models.tokenization_wordpiece import train_wordpiece
from explainer.training.lora import add_lora
from explainer.training.settings import TrainSettings, settings_problems  # noqa: F401  (re-exported)


class TrainingDiverged(ValueError):
    """The loss or the weights stopped being finite numbers (a learning rate far too high): nothing to keep. A
    diverged run had been saved as a finished model whose every weight was NaN, its card quoting an accuracy."""


RETROFIT_MAX_LENGTH = 256
SCRATCH_POSITIONS = 512  # the position table of a model trained from scratch: --max-length cannot pass it


def build_model(
    settings: TrainSettings, vocab_size: int, label_names: Sequence[str]
) -> ThoughtBeaconForSequenceClassification:
    ours = settings.arch == "thought-beacon"
    config = ThoughtBeaconConfig(
        vocab_size=vocab_size,
        hidden_size=settings.hidden_size,
        num_hidden_layers=settings.num_layers,
        num_attention_heads=settings.num_heads,
        intermediate_size=settings.intermediate_size,
        max_position_embeddings=SCRATCH_POSITIONS,
        hidden_dropout_prob=settings.dropout,
        attention_probs_dropout_prob=settings.dropout,
        num_thought_markers=settings.num_markers if ours else 0,
        marker_temperature=settings.marker_temperature,
        use_beacons=ours,
        id2label=dict(enumerate(label_names)),
        label2id={name: i for i, name in enumerate(label_names)},
    )
    return ThoughtBeaconForSequenceClassification(config)


def auxiliary_losses(out: ThoughtBeaconOutput, mask: torch.Tensor, settings: TrainSettings) -> dict[str, torch.Tensor]:
    """The beacon and marker terms, averaged over real (unpadded) tokens and layers."""
    terms: dict[str, torch.Tensor] = {}
    real = mask.bool()  # [batch, T]
    if out.beacon_gates is not None:
        gates = torch.stack(out.beacon_gates)[:, real]  # [layers, real tokens]
        terms["beacon_sparsity"] = settings.beacon_sparsity * gates.mean()
    if out.thought_markers is not None:
        routing = torch.stack(out.thought_markers)[:, real]  # [layers, real tokens, K]
        entropy = -(routing * routing.clamp_min(1e-9).log()).sum(-1).mean()
        usage = routing.mean(dim=1)  # [layers, K]
        usage_entropy = -(usage * usage.clamp_min(1e-9).log()).sum(-1).mean()
        terms["marker_confidence"] = settings.marker_confidence * entropy
        terms["marker_balance"] = settings.marker_balance * (math.log(routing.shape[-1]) - usage_entropy)
    return terms


def length_bucketed_batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar lengths (dynamic padding wastes little): sort within pools of 50 batches."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def train(
    texts: Sequence[str],
    labels: Sequence[int],
    label_names: Sequence[str],
    settings: TrainSettings,
    out_dir: Path,
    evaluate_fn: Callable[[PreTrainedModel, PreTrainedTokenizerFast], float],
    device: torch.device,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
    tokenizer: PreTrainedTokenizerFast | None = None,
) -> dict:
    """Train, keep the checkpoint with the best `evaluate_fn` score (dev accuracy; NaN: outputs not finite, which
    ends training as diverged) in `out_dir`, return a log.

    From scratch, without `tokenizer`, a WordPiece tokenizer is trained on `texts` first. Note: `tokenizers`'
    trainer breaks ties in hash-map order, so its vocabulary differs slightly between processes and a rerun with
    the same seed is close to, not identical with, the last one; the tokenizer is saved with the model.
    With `settings.backbone`, the base's own tokenizer is used and only the adapter is trained and saved."""
    if not texts:
        raise ValueError("No training rows: the training file has no usable rows")
    random.seed(settings.seed)
    np.random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    if settings.backbone:
        model, tokenizer, parameters = build_retrofit(settings, label_names)
        groups = [{"params": parameters, "weight_decay": settings.weight_decay}]
    else:
        if tokenizer is None:
            tokenizer = train_wordpiece(texts, vocab_size=settings.vocab_size)
        model = build_model(settings, len(tokenizer), label_names)
        no_decay = [p for n, p in model.named_parameters() if p.ndim < 2 or "norm" in n]
        decay = [p for n, p in model.named_parameters() if not (p.ndim < 2 or "norm" in n)]
        groups = [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # From scratch, positions past the training length never get trained: the saved tokenizer states the model's
    # real limit, so loading, the app and evaluation truncate there. A pretrained base was trained on longer
    # inputs: its models read up to RETROFIT_MAX_LENGTH tokens (all-MiniLM-L6-v2's own limit), or as many as it has
    # positions (a base of 64 positions whose tokenizer said 512 failed at the first dev evaluation).
    tokenizer.model_max_length = min(max(settings.max_length, RETROFIT_MAX_LENGTH),
                                     model.config.max_position_embeddings) if settings.backbone else settings.max_length
    log = fit(model.to(device), tokenizer, groups, texts, labels, settings, out_dir, evaluate_fn, device, progress)
    return {**log, "vocabulary": len(tokenizer)}  # what the model embeds: --vocab-size is an upper bound only


def build_retrofit(settings: TrainSettings, label_names: Sequence[str]):
    """The retrofitted model on the verified base (beacons engaged for training), its tokenizer, and the
    trainable parameters (LoRA, pooler, classifier, markers, routers, gates)."""
    ours = settings.arch == "thought-beacon"
    model = retrofit(
        settings.backbone,
        num_thought_markers=settings.num_markers if ours else 0,
        use_beacons=ours,
        marker_temperature=settings.marker_temperature,
        base_sha256=settings.backbone_sha256 or None,
        label_names=label_names,
    )
    model.config.beacons_engaged = ours
    parameters = add_lora(model, settings.lora_rank, settings.lora_alpha, dropout=settings.dropout)
    # never the folder's own code: an auto_map in its tokenizer_config.json asked "run the custom code? [y/N]"
    tokenizer = AutoTokenizer.from_pretrained(backbones.locate(settings.backbone), use_fast=True,
                                              trust_remote_code=False, local_files_only=True)
    return model, tokenizer, parameters


def fit(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    groups: list[dict],
    texts: Sequence[str],
    labels: Sequence[int],
    settings: TrainSettings,
    out_dir: Path,
    evaluate_fn: Callable[[PreTrainedModel, PreTrainedTokenizerFast], float],
    device: torch.device,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
) -> dict:
    """The training loop shared by both kinds: AdamW with linear warmup/decay, length-bucketed batches,
    cross-entropy plus the marker and beacon terms, periodic dev evaluation keeping the best checkpoint."""
    encoded = tokenizer(list(texts), truncation=True, max_length=settings.max_length)["input_ids"]
    lengths = [len(ids) for ids in encoded]
    label_tensor = torch.tensor(list(labels), dtype=torch.long)

    rng = random.Random(settings.seed)
    steps_per_epoch = math.ceil(len(texts) / settings.batch_size)
    total_steps = steps_per_epoch * settings.epochs
    if settings.max_steps:
        total_steps = min(total_steps, settings.max_steps)
    trainable = [p for group in groups for p in group["params"]]
    optimizer = torch.optim.AdamW(groups, lr=settings.learning_rate)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(settings.warmup_share * total_steps), total_steps)
    eval_every = max(1, min(steps_per_epoch, total_steps) // settings.evals_per_epoch)
    deadline = time.monotonic() + 60 * settings.time_limit_minutes if settings.time_limit_minutes else math.inf

    best, history, step, stopped_early = -1.0, [], 0, False
    for _epoch in range(settings.epochs):
        for batch_rows in length_bucketed_batches(lengths, settings.batch_size, rng):
            model.train()
            width = max(lengths[i] for i in batch_rows)
            ids = torch.zeros(len(batch_rows), width, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, i in enumerate(batch_rows):
                ids[row, : lengths[i]] = torch.tensor(encoded[i])
                mask[row, : lengths[i]] = 1
            ids, mask = ids.to(device), mask.to(device)
            out = model(input_ids=ids, attention_mask=mask, labels=label_tensor[batch_rows].to(device),
                        beacon_threshold=0.0)
            terms = auxiliary_losses(out, mask, settings)
            loss = out.loss + sum(terms.values())
            if not torch.isfinite(loss):
                advice = (f"try a lower --learning-rate than {settings.learning_rate:g}" if step else
                          # before any update: no learning rate is the cause (--marker-temperature 1e-300 was)
                          "before any update, so a setting of the model or its losses, not the learning rate"
                          + (f": --marker-temperature {settings.marker_temperature:g}, say"
                             if settings.arch == "thought-beacon" and settings.num_markers else ""))
                raise TrainingDiverged(f"training diverged at step {step + 1}: the loss is {loss.item()} ({advice})")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            if progress:
                losses = {"loss": out.loss.item(), **{k: v.item() for k, v in terms.items()}}
                progress(step, total_steps, losses)
            # only a step short of the plan is a stop: a run whose last step ends past the limit ran every step
            stopped_early = step < total_steps and time.monotonic() > deadline
            if step % eval_every == 0 or step == total_steps or stopped_early:
                model.eval()
                if not all(torch.isfinite(p).all() for p in trainable):  # the step's update overflowed
                    raise TrainingDiverged(f"training diverged at step {step}: weights are no longer finite (try a "
                                           f"lower --learning-rate than {settings.learning_rate:g})")
                score = evaluate_fn(model, tokenizer)
                if math.isnan(score):  # finite weights of ~1e6 can still give NaN logits: a model of no numbers
                    raise TrainingDiverged(f"training diverged at step {step}: the model's outputs on the dev texts "
                                           "are no longer finite (try a lower --learning-rate than "
                                           f"{settings.learning_rate:g})")
                history.append({"step": step, "epoch": step / steps_per_epoch, "loss": out.loss.item(),
                                "dev_accuracy": score})
                if score > best:
                    best = score
                    model.save_pretrained(out_dir)
                    tokenizer.save_pretrained(out_dir)
            if step >= total_steps or stopped_early:
                break
        if step >= total_steps or stopped_early:
            break
    log = {"settings": asdict(settings), "best_dev_accuracy": best, "history": history, "steps": step,
           "planned_steps": total_steps, "stopped_by_time_limit": stopped_early}
    (out_dir / "training_log.json").write_text(json.dumps(log, indent=2))
    return log
