"""Build the untrained placeholder model: what the app runs on before trained models are shipped.

Random weights from a fixed seed and a tokenizer trained on the shipped demo sentences. The config carries
`explainer_untrained: true`, which every view shows as a warning.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import torch

from explainer.models import ThoughtBeaconConfig, ThoughtBeaconForSequenceClassification
from explainer.models.tokenization_wordpiece import train_wordpiece

DEMO_TEXTS = Path(__file__).resolve().parents[2] / "assets" / "demo_texts.txt"
LABELS = {0: "negative", 1: "positive"}


def demo_texts() -> list[str]:
    return [line.strip() for line in DEMO_TEXTS.read_text(encoding="utf-8").splitlines() if line.strip()]


def ensure_untrained_model(folder: Path) -> Path:
    """Build the placeholder into `folder` unless it is already there; safe against concurrent builders."""
    if (folder / "config.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
    try:
        tokenizer = train_wordpiece(demo_texts() * 4, vocab_size=600)
        torch.manual_seed(0)
        config = ThoughtBeaconConfig(
            vocab_size=len(tokenizer),
            hidden_size=128,
            num_hidden_layers=4,
            num_attention_heads=4,
            intermediate_size=512,
            num_thought_markers=8,
            id2label=LABELS,
            label2id={v: k for k, v in LABELS.items()},
            explainer_untrained=True,
        )
        ThoughtBeaconForSequenceClassification(config).save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        try:
            staging.rename(folder)  # atomic: readers never see a half-written folder
        except OSError:  # another process finished first
            pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
