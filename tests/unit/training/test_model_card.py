"""`python -m explainer model-card DIR`: re-renders a shipped card exactly, says how tau was chosen, and fails
clearly on a folder that is not a trained model."""

from __future__ import annotations

import json
import shutil

import pytest

from explainer.cli.model_card import main
from explainer.loading import shipped as registry
from explainer.training.model_card import _tau_choice


def test_rerendering_a_shipped_card_reproduces_it(tmp_path):
    shipped = registry.ASSETS / "models" / "sst2-thought-beacon"
    if not (shipped / "metrics.json").is_file():
        pytest.skip("the from-scratch model is not shipped here")
    folder = shutil.copytree(shipped, tmp_path / "sst2-thought-beacon")
    (folder / "README.md").unlink()
    main([str(folder)])
    assert (folder / "README.md").read_text() == (shipped / "README.md").read_text()


def test_the_card_says_which_rule_picked_tau():
    default = {"tau_tolerance": 0.005, "tau_rule": "largest tau within 0.005 of the dense accuracy"}
    assert "largest threshold whose accuracy stays within 0.005" in _tau_choice(default)
    assert _tau_choice(default) == _tau_choice({"tau_tolerance": 0.005})  # older metrics.json without the rule
    floor = {"tau_tolerance": 0.005, "tau_rule": "smallest tau skipping at least 50% of MLP evaluations"}
    assert _tau_choice(floor).startswith(" The shipped tau was chosen on dev as the smallest tau skipping at least 50%")


@pytest.mark.parametrize("case, complaint", [("missing", "is not a model folder"), ("empty", "no metrics.json"),
                                             ("bad-json", "cannot read"), ("no-training", "lacks what a model card")])
def test_cli_fails_clearly_on_a_folder_that_is_not_a_trained_model(tmp_path, capsys, case, complaint):
    folder = tmp_path / case
    if case != "missing":
        folder.mkdir()
    if case == "bad-json":
        (folder / "metrics.json").write_text("{ not json")
    if case == "no-training":
        (folder / "metrics.json").write_text(json.dumps({}))
    with pytest.raises(SystemExit) as exit_info:
        main([str(folder)])
    assert exit_info.value.code == 2 and complaint in capsys.readouterr().err
