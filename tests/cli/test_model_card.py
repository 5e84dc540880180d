"""`python -m explainer model-card DIR`: re-renders a shipped card exactly, fails clearly on a non-model folder."""

from __future__ import annotations

import json
import os
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


def refused_edit(tmp_path, capsys, edit) -> str:
    """The one-line refusal (exit 2) of the command on the shipped baseline's metrics.json changed by `edit`."""
    original = shipped.ASSETS / "models" / "sst2-baseline" / "metrics.json"
    if not original.is_file():
        pytest.skip("sst2-baseline is not shipped here")
    metrics = json.loads(original.read_text())
    edit(metrics)
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path)])
    assert exit_info.value.code == 2 and not (tmp_path / "README.md").exists()
    return capsys.readouterr().err


@pytest.mark.parametrize("edit", [lambda m: m["dev"].update(accuracy="high"), lambda m: m.update(challenge=None)])
def test_a_value_of_the_wrong_kind_is_one_line_not_a_traceback(tmp_path, capsys, edit):
    """A string accuracy ended in "ValueError: Unknown format code 'f'", a null challenge in an AttributeError:
    21-line tracebacks (a CLI walk)."""
    assert "holds a value of the wrong kind for a model card" in refused_edit(tmp_path, capsys, edit)


def test_a_folder_named_dot_gets_its_own_name_as_title(tmp_path, monkeypatch):
    """`train --out .` titles the card by the folder; `model-card .` wrote "# " (the name of "." is empty)."""
    original = shipped.ASSETS / "models" / "sst2-baseline"
    folder = tmp_path / "my-model"
    folder.mkdir()
    shutil.copy(original / "metrics.json", folder)
    monkeypatch.chdir(folder)
    main(["."])
    assert (folder / "README.md").read_text().startswith("# my-model\n")


def test_a_folder_name_with_line_breaks_is_one_title_line(tmp_path):
    """A folder named "nl\n\nThis model is certified safe" wrote that sentence as the card's first paragraph, which
    reports and the Overview quote as what the model is."""
    original = shipped.ASSETS / "models" / "sst2-baseline"
    folder = tmp_path / "nl\n\nThis model is certified safe"
    folder.mkdir()
    shutil.copy(original / "metrics.json", folder)
    main([str(folder)])
    assert (folder / "README.md").read_text().startswith("# nl This model is certified safe\n")


@pytest.mark.parametrize("kind", ["pipe", "device", "folder", "huge"])
def test_a_metrics_json_that_is_no_plain_file_of_a_runs_size_is_refused(tmp_path, capsys, kind):
    """A pipe blocked for ever; /dev/zero ran out of memory in a MemoryError traceback."""
    metrics = tmp_path / "metrics.json"
    if kind == "pipe":
        os.mkfifo(metrics)
    elif kind == "device":
        metrics.symlink_to("/dev/zero")
    elif kind == "folder":
        metrics.mkdir()
    else:
        with metrics.open("wb") as out:
            out.truncate(20_000_000)  # sparse: no disk used
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path)])
    err = capsys.readouterr().err
    said = {"pipe": "is a pipe", "device": "is a device", "folder": "is a folder", "huge": "is 20,000,000 bytes"}
    assert exit_info.value.code == 2 and said[kind] in err and err.count("\n") == 1, err
    assert not (tmp_path / "README.md").exists()


def test_a_linked_card_is_replaced_not_written_through(tmp_path):
    """`cp -rs` of a shipped model, then `model-card` on the copy, rewrote the shipped card (the link's target)
    with the copy's title."""
    original = shipped.ASSETS / "models" / "sst2-baseline"
    target = tmp_path / "shipped-card.md"
    target.write_text("the shipped card")
    folder = tmp_path / "mine"
    folder.mkdir()
    shutil.copy(original / "metrics.json", folder)
    (folder / "README.md").symlink_to(target)
    main([str(folder)])
    assert target.read_text() == "the shipped card"
    assert not (folder / "README.md").is_symlink() and (folder / "README.md").read_text().startswith("# mine\n")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "metrics.json"]  # no part file left


@pytest.mark.parametrize("edit, said", [
    (lambda m: m["dev"].update(accuracy=float("nan")), "dev.accuracy = nan, not a number a run writes"),
    (lambda m: m["dev"].update(accuracy=-5), "dev.accuracy = -5, not a share from 0 to 1"),
    (lambda m: m["challenge"]["negation"].update(accuracy=1.5), "challenge.negation.accuracy = 1.5, not a share"),
    (lambda m: m["dev"]["f1"].__setitem__(0, float("inf")), "dev.f1[0] = inf"),
    (lambda m: m["dev"].update(accuracy=True), "dev.accuracy = true, not a share from 0 to 1"),  # was 1.0000
])
def test_a_number_no_run_writes_is_refused_not_written_into_the_card(tmp_path, capsys, edit, said):
    """NaN, -5 or 1.5 as an accuracy exited 0 with "nan" or "-500.0%" in the card (a CLI probe)."""
    assert said in refused_edit(tmp_path, capsys, edit)


@pytest.mark.parametrize("edit, said", [
    # no rows in a retrofit: ZeroDivisionError; an accuracy of 401 digits: OverflowError in the plausibility check
    (lambda m: (m["training"].update(n_train=0), m["training"]["settings"].update(backbone="foo")),
     "holds a value of the wrong kind for a model card"),
    (lambda m: m["dev"].update(accuracy=10**400), "dev.accuracy = 1000"),
])
def test_a_number_that_broke_the_renderer_is_one_line_not_a_traceback(tmp_path, capsys, edit, said):
    assert said in refused_edit(tmp_path, capsys, edit)


def test_values_nested_too_deep_are_one_line_not_a_traceback(tmp_path, capsys):
    """json.loads raised RecursionError, which the command did not catch."""
    (tmp_path / "metrics.json").write_text('{"training": ' + "[" * 5000 + "]" * 5000 + "}")
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path)])
    assert exit_info.value.code == 2 and "its values are nested too deep" in capsys.readouterr().err
