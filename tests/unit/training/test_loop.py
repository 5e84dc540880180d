"""Training from scratch: a tiny run learns, is reproducible, batches by length, checks its settings."""

from __future__ import annotations

import random

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from explainer import load_model
from explainer.models.tokenization_wordpiece import SPECIAL_TOKENS
from explainer.training.loop import TrainSettings, length_bucketed_batches, train

POSITIVE = ["good", "great", "wonderful", "lovely", "superb", "fine"]
NEGATIVE = ["bad", "awful", "dull", "boring", "terrible", "weak"]
TINY = dict(vocab_size=120, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64, num_markers=4,
            batch_size=16, learning_rate=3e-3, max_length=16,
            beacon_sparsity=0.02)  # 64 steps: the full recipe's 0.1 shuts the gates before the MLPs learn


def fixed_tokenizer() -> PreTrainedTokenizerFast:
    """A WordPiece tokenizer over a fixed word list: unlike a trained one, the same ids in every process."""
    words = sorted({"the", "film", "plot", "cast", "was", *POSITIVE, *NEGATIVE})
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *words])}
    backend = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


def toy_data(n: int, seed: int) -> tuple[list[str], list[int]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        label = rng.randint(0, 1)
        word = rng.choice(POSITIVE if label else NEGATIVE)
        texts.append(f"the {rng.choice(['film', 'plot', 'cast'])} was {word}")
        labels.append(label)
    return texts, labels


@pytest.mark.parametrize("arch", ["thought-beacon", "baseline"])
def test_tiny_run_lowers_the_loss_and_keeps_the_best_checkpoint(tmp_path, arch):
    texts, labels = toy_data(256, seed=0)
    # 8 epochs: at 4 the toy loss lands anywhere from 0.3 to 0.55 depending on torch's thread count
    settings = TrainSettings(arch=arch, epochs=8, evals_per_epoch=1, **TINY)
    losses: list[float] = []
    scores = iter([0.5, 0.9, 0.7, 0.8, 0.6, 0.85, 0.8, 0.7])  # the second is the best: that checkpoint stays
    saved: list[torch.Tensor] = []

    def score(model, tokenizer) -> float:
        value = next(scores)
        if value == 0.9:
            saved.append(model.classifier.weight.detach().clone())
        return value

    log = train(texts, labels, ("negative", "positive"), settings, tmp_path, score, torch.device("cpu"),
                lambda step, total, parts: losses.append(parts["loss"]), tokenizer=fixed_tokenizer())
    assert sum(losses[-8:]) / 8 < sum(losses[:8]) / 8 - 0.2
    assert log["best_dev_accuracy"] == 0.9 and len(log["history"]) == settings.epochs
    bundle = load_model(tmp_path)
    assert torch.equal(bundle.model.classifier.weight, saved[0])
    assert (bundle.model.config.num_thought_markers > 0) == (arch == "thought-beacon")


def test_same_seed_and_tokenizer_give_identical_weights(tmp_path):
    texts, labels = toy_data(64, seed=3)
    settings = TrainSettings(epochs=1, evals_per_epoch=1, **TINY)
    weights = []
    for run in ("a", "b"):
        train(texts, labels, ("negative", "positive"), settings, tmp_path / run, lambda m, t: 0.5,
              torch.device("cpu"), tokenizer=fixed_tokenizer())
        weights.append(load_model(tmp_path / run).model.state_dict())
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])


def test_batches_cover_every_row_once_with_similar_lengths():
    lengths = [random.Random(i).randint(1, 60) for i in range(1000)]
    batches = length_bucketed_batches(lengths, 32, random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(1000))
    spreads = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches]
    assert sum(spreads) / len(spreads) < 5  # sorted within pools: padding stays small


def test_training_without_rows_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="No training rows"):
        train([], [], ("negative", "positive"), TrainSettings(**TINY), tmp_path, lambda m, t: 0.0,
              torch.device("cpu"))


def test_settings_problems_is_empty_for_the_defaults_and_a_retrofit():
    from explainer.training.loop import settings_problems

    assert settings_problems(TrainSettings()) == []
    assert settings_problems(TrainSettings(**TINY)) == []
    assert settings_problems(TrainSettings(backbone="some/base", hidden_size=0)) == []  # the base's sizes count
    assert len(settings_problems(TrainSettings(dropout=1.0, warmup_share=float("nan")))) == 2


def test_a_run_that_ran_every_step_was_not_stopped_by_its_time_limit(tmp_path, monkeypatch):
    """A limit passed during the last step said "Training stopped at its time limit after 4 steps" of 4 planned."""
    from types import SimpleNamespace

    import explainer.training.loop as loop

    texts, labels = toy_data(64, seed=3)
    clock = iter(range(0, 10**6, 120))  # two minutes a step: past a one-minute limit from the first step on
    monkeypatch.setattr(loop, "time", SimpleNamespace(monotonic=lambda: next(clock)))  # the loop's clock alone
    settings = TrainSettings(epochs=1, evals_per_epoch=1, max_steps=1, time_limit_minutes=1.0, **TINY)
    log = train(texts, labels, ("negative", "positive"), settings, tmp_path, lambda m, t: 0.5, torch.device("cpu"),
                tokenizer=fixed_tokenizer())
    assert log["steps"] == log["planned_steps"] == 1 and log["stopped_by_time_limit"] is False
    settings = TrainSettings(epochs=1, evals_per_epoch=1, max_steps=3, time_limit_minutes=1.0, **TINY)
    log = train(texts, labels, ("negative", "positive"), settings, tmp_path / "cut", lambda m, t: 0.5,
                torch.device("cpu"), tokenizer=fixed_tokenizer())
    assert log["steps"] == 1 < log["planned_steps"] and log["stopped_by_time_limit"] is True  # a real stop
