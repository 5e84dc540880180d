"""The figures each shipped model's card and metrics.json quote are its weights' own: every challenge-set
capability re-evaluated from the shipped folder (and SST-2 dev where the machine has it). A retrained model
committed without its metrics, or metrics edited by hand, would go unnoticed otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from explainer.data.challenge import DEFAULT_PATH
from explainer.data.labelled import read_dataset
from explainer.evaluation.predict import evaluate
from explainer.loading.bundle import load_model

MODELS = Path(__file__).resolve().parents[3] / "assets" / "models"
SST2_DEV = Path(__file__).resolve().parents[4] / "shared" / "data" / "sst2" / "dev.tsv"

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", sorted(path.name for path in MODELS.iterdir() if path.is_dir()))
def test_shipped_metrics_are_the_weights_own(name):
    metrics = json.loads((MODELS / name / "metrics.json").read_text())
    bundle = load_model(MODELS / name)
    challenge = read_dataset(DEFAULT_PATH, label_names=bundle.label_names)
    capabilities = challenge.extra["capability"]
    assert sorted(metrics["challenge"]) == sorted(set(capabilities))
    for capability, shipped in metrics["challenge"].items():
        rows = [i for i, c in enumerate(capabilities) if c == capability]
        result = evaluate(bundle, [challenge.texts[i] for i in rows], [challenge.labels[i] for i in rows])
        assert (result["n"], result["accuracy"]) == (shipped["n"], pytest.approx(shipped["accuracy"], abs=1e-9)), (
            capability
        )
    if SST2_DEV.is_file():  # the team's machines: the dev figure too
        dev = read_dataset(SST2_DEV, label_names=bundle.label_names)
        accuracy = evaluate(bundle, dev.texts, dev.labels)["accuracy"]
        assert accuracy == pytest.approx(metrics["dev"]["accuracy"], abs=1e-9)
