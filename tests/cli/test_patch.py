"""`python -m explainer patch` prints the JSON the issue names and fails clearly on bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from explainer.cli import main


def run(capsys, *args: str) -> tuple[int, dict | None, str]:
    try:
        code = main(list(args))
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def test_patch_json(checkpoint, capsys):
    code, payload, err = run(
        capsys,
        "patch",
        "--model",
        str(checkpoint("bert")),
        "--clean",
        "the film is funny .",
        "--corrupted",
        "the film is a warm triumph .",
        "--json",
    )
    assert code == 0, err
    for key in (
        "clean",
        "corrupted",
        "logit_difference",
        "residual",
        "attention",
        "mlp",
        "heads",
        "tokens",
        "forward_passes",
    ):
        assert key in payload
    tokens = payload["tokens"]
    assert len(payload["residual"]) == 3 and len(payload["residual"][0]) == len(tokens["corrupted"])
    assert len(payload["heads"]) == 2 and len(payload["heads"][0]) == 4
    assert payload["residual"][-1][tokens["readout"]] == pytest.approx(1.0, abs=1e-4)
    assert tokens["unpartnered_corrupted"]  # "a" and "triumph" were inserted
    for position in tokens["unpartnered_corrupted"]:
        assert all(row[position] is None for row in payload["residual"])  # JSON null, never NaN
    assert set(payload["logit_difference"]) == {"clean", "corrupted"}
    assert payload["forward_passes"] >= 3
    # the numbers are the library's on the same input (NaN, an unpartnered token, prints as null)
    from explainer.causal import patch
    from explainer.loading.bundle import load_model

    result = patch(load_model(checkpoint("bert")), "the film is funny .", "the film is a warm triumph .")
    np.testing.assert_allclose(np.array(payload["residual"], dtype=float), result.residual, atol=1e-6)
    np.testing.assert_allclose(payload["heads"], result.heads, atol=1e-6)
    assert payload["logit_difference"]["clean"] == pytest.approx(result.logit_difference_clean, abs=1e-6)


def test_patch_bad_input(checkpoint, capsys):
    model = str(checkpoint("bert"))
    code, _, err = run(capsys, "patch", "--model", model, "--clean", "same text", "--corrupted", "same text")
    assert code == 2 and "nothing to patch" in err and "Traceback" not in err
    code, _, err = run(capsys, "patch", "--model", model, "--clean", "", "--corrupted", "x")
    assert code == 2 and "empty" in err
