"""`python -m explainer ablate` prints the JSON the issue names and fails clearly on bad input."""

from __future__ import annotations

import numpy as np
import pytest

from explainer.causal import ablate_heads
from explainer.causal.hooks import SUPPORTED
from explainer.loading.bundle import load_model
from tests.cli.test_patch import run


def test_ablate_json(checkpoint, capsys):
    code, payload, err = run(
        capsys,
        "ablate",
        "--model",
        str(checkpoint("ours")),
        "--text",
        "the film is funny .",
        "--mode",
        "zero",
        "--json",
    )
    assert code == 0, err
    assert {"heads", "mlp", "target", "baseline_logit", "forward_passes", "layer_evaluations"} <= set(payload)
    # Prefix sharing: fewer layer evaluations than every row (baseline, 8 heads, 2 MLPs, 2 marker rows) run
    # through both layers, plus the 4 gate-pin passes.
    assert payload["layer_evaluations"] < (1 + 8 + 2 + 2) * 2 + 4 * 2
    assert len(payload["heads"]) == 2 and len(payload["heads"][0]) == 4 and len(payload["mlp"]) == 2
    assert payload["target"] in ("neg", "pos") and len(payload["marker_off"]) == 2
    assert set(payload["gate_pinned"]) == {"shut", "open"}
    top = payload["top_heads"][0]
    assert top["change"] == pytest.approx(min(min(row) for row in payload["heads"]))
    # the numbers are the library's on the same input
    result = ablate_heads(load_model(checkpoint("ours")), "the film is funny .", mode="zero")
    np.testing.assert_allclose(payload["heads"], result.heads, atol=1e-6)
    np.testing.assert_allclose(payload["mlp"], result.mlp, atol=1e-6)
    np.testing.assert_allclose(payload["marker_off"], result.marker_off, atol=1e-6)
    np.testing.assert_allclose([payload["gate_pinned"]["shut"], payload["gate_pinned"]["open"]], result.gate_pinned,
                               atol=1e-6)
    assert payload["baseline_logit"] == pytest.approx(result.baseline_logit, abs=1e-6)


def test_ablate_bad_input(checkpoint, capsys, monkeypatch):
    model = str(checkpoint("bert"))
    code, _, err = run(capsys, "ablate", "--model", model, "--text", "fine", "--mode", "half")
    assert code == 2 and "invalid choice" in err
    code, _, err = run(capsys, "ablate", "--model", model, "--text", "fine", "--target", "maybe")
    assert code == 2 and "Unknown label" in err

    def mystery(*args, **kwargs):  # a model whose family the architecture table does not know
        bundle = load_model(model, device="cpu")
        bundle.model.config.model_type = "mystery"
        return bundle

    monkeypatch.setattr("explainer.loading.bundle.load_model", mystery)
    code, _, err = run(capsys, "ablate", "--text", "fine")
    assert code == 2 and "mystery" in err and all(name in err for name in SUPPORTED[:4])
