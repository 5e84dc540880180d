"""A tiny classifier trained here in seconds on a known rule: the label is "pos" exactly when the cue word
"clever" is in the text. The ground truth for the counterfactual tests: the one-word flip of a "pos" text is
removing or replacing the cue, and of a "neg" text is putting the cue in."""

from __future__ import annotations

import random

import pytest
import torch

from explainer.loading.bundle import ModelBundle, load_model
from tests.conftest import build_model, save_checkpoint

CUE = "clever"
POOL = (
    "acting",
    "actors",
    "again",
    "and",
    "are",
    "but",
    "cast",
    "every",
    "film",
    "movie",
    "one",
    "plot",
    "scene",
    "script",
    "story",
    "that",
    "the",
    "this",
    "too",
    "will",
    "with",
)


def sentence(rng: random.Random, cue: bool) -> str:
    words = [rng.choice(POOL) for _ in range(rng.randint(4, 7))]
    if cue:
        words.insert(rng.randrange(len(words) + 1), CUE)
    return " ".join(words)


@pytest.fixture(scope="session")
def cue_bundle(tmp_path_factory, tokenizer) -> ModelBundle:
    """A 1-layer BERT trained until it follows the cue-word rule on held-out sentences."""
    rng = random.Random(0)
    texts = [sentence(rng, i % 2 == 1) for i in range(768)]
    labels = torch.tensor([i % 2 for i in range(768)])
    model = build_model("bert", num_hidden_layers=1).train()
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is fastest, and spares a busy machine
    try:
        for _ in range(80):  # the loss is near zero after ~50 steps
            rows = torch.randint(0, len(texts), (64,))
            logits = model(input_ids=encoded["input_ids"][rows], attention_mask=encoded["attention_mask"][rows]).logits
            # Label smoothing keeps the model off saturation, as models trained on real data are: a saturated
            # toy gives gradients that say nothing about a one-word change (HotFlip's first-order estimate).
            loss = torch.nn.functional.cross_entropy(logits, labels[rows], label_smoothing=0.2)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    folder = save_checkpoint(model, tokenizer, tmp_path_factory.mktemp("cue-model") / "cue")
    bundle = load_model(folder, device="cpu")
    held_out = random.Random(1)
    checks = [(sentence(held_out, i % 2 == 1), i % 2) for i in range(64)]
    batch = tokenizer([t for t, _ in checks], padding=True, return_tensors="pt")
    with torch.no_grad():
        predicted = bundle.model(**batch).logits.argmax(-1).tolist()
    accuracy = sum(p == y for p, (_, y) in zip(predicted, checks)) / len(checks)
    assert accuracy == 1.0, f"the cue model did not learn its rule (held-out accuracy {accuracy:.0%})"
    return bundle
