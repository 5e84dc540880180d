"""`python -m explainer model-card DIR`: re-renders a shipped card exactly, fails clearly on a non-model folder."""

from __future__ import annotations

import json
import shutil

import pytest

from explainer.cli.model_card import main
from explainer.loading import shipped


@pytest.mark.parametrize(  # from scratch and retrofitted onto MiniLM, each with its baseline twin
    "name", ["sst2-thought-beacon", "sst2-baseline", "sst2-minilm-thought-beacon", "sst2-minilm-baseline"]
)
def test_rerendering_a_shipped_card_reproduces_it(tmp_path, name):
    original = shipped.ASSETS / "models" / name
    if not (original / "metrics.json").is_file():
        pytest.skip(f"{name} is not shipped here")
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(original / "metrics.json", folder)  # all a card is rendered from
    main([str(folder)])
    assert (folder / "README.md").read_text() == (original / "README.md").read_text()


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
