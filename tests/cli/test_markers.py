"""`python -m explainer markers`: writes the marker dictionary as JSON and CSV, refuses a model without markers."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from explainer.cli.markers import main
from tests.conftest import LAYERS, MARKERS
from tests.unit.thought_beacon.test_markers import TEXTS, labelled_csv, marker_model, saved


@pytest.fixture(scope="module")
def ours_bundle(tmp_path_factory, tokenizer):
    """The marker model of tests/unit/thought_beacon/test_markers.py (W_m off its zero init), saved and loaded."""
    return saved(marker_model(), tokenizer, tmp_path_factory.mktemp("markers") / "ours")


def test_cli_writes_json_and_csv(ours_bundle, tmp_path, capsys):
    out = tmp_path / "out"
    main(["--model", ours_bundle.name, "--data", str(labelled_csv(tmp_path / "d.csv")), "--out", str(out),
          "--no-forced-effect", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert summary["texts"] == len(TEXTS) and summary["layers"] == LAYERS and summary["markers"] == MARKERS
    saved = json.loads((out / "marker_dictionary.json").read_text())
    assert len(saved["entries"]) == LAYERS * MARKERS
    table = pd.read_csv(out / "marker_dictionary.csv")
    assert len(table) == LAYERS * MARKERS
    assert {"layer", "marker", "share", "top_tokens", "examples", "direct_effect_neg", "direct_effect_pos"} <= set(
        table.columns
    )


def test_a_file_is_read_as_evaluate_reads_it(ours_bundle, tmp_path, capsys):
    """markers read its file on its own: an unknown label lost which labels the model takes, and a guessed text
    column was read without the note evaluate and map print."""
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\na fine film,sarcastic\n")
    with pytest.raises(SystemExit):
        main(["--model", ours_bundle.name, "--data", str(bad), "--out", str(tmp_path / "out")])
    assert capsys.readouterr().err.startswith(f"error: The model {ours_bundle.name} takes its label names or ids")
    guessed = tmp_path / "words.csv"
    guessed.write_text("words,label\n" + "".join(f'"{text}",{i % 2}\n' for i, text in enumerate(TEXTS)))
    main(["--model", ours_bundle.name, "--data", str(guessed), "--out", str(tmp_path / "out"), "--no-forced-effect"])
    assert "note: No column is named text" in capsys.readouterr().err


def test_cli_refuses_a_model_without_markers_with_a_clear_message(checkpoint, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", str(checkpoint("baseline")), "--data", str(labelled_csv(tmp_path / "d.csv")),
              "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no thought markers" in err  # no progress bar drawn before it


@pytest.mark.parametrize("command", ["markers", "map"])
def test_an_out_folder_that_cannot_be_written_fails_before_any_model_pass(tmp_path, capsys, monkeypatch, command):
    import explainer.cli.map as map_cli
    import explainer.cli.markers as markers_cli

    cli = markers_cli if command == "markers" else map_cli
    monkeypatch.setattr("explainer.loading.bundle.load_model",
                        lambda *a, **k: pytest.fail("the model was loaded before --out was checked"))
    (tmp_path / "a-file").write_text("x")
    for out, complaint in ((tmp_path / "a-file", "is a file: give a folder"),
                           (tmp_path / "a-file" / "under", "cannot write to")):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["--data", str(labelled_csv(tmp_path / "d.csv")), "--out", str(out)])
        assert exit_info.value.code == 2 and complaint in capsys.readouterr().err
    out = tmp_path / "new" / "folder"
    assert markers_cli.check_output_folder(out) == out
    assert not (tmp_path / "new").exists()  # made for the probe only: a command refused later leaves nothing
    out.mkdir(parents=True)
    assert markers_cli.check_output_folder(out) == out and out.is_dir() and not list(out.iterdir())  # no probe left


def test_out_holding_other_files_is_refused(ours_bundle, tmp_path, capsys):
    """The dictionary's two files were written beside whatever the folder held."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit) as stop:
        main(["--model", ours_bundle.name, "--data", str(labelled_csv(tmp_path / "d.csv")), "--out", str(out),
              "--no-forced-effect"])
    assert stop.value.code == 2 and "is not empty and holds no markers results (notes.txt)" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_a_thought_beacon_model_built_without_markers_is_not_called_another_kind(checkpoint, tmp_path, capsys,
                                                                                 monkeypatch, tokenizer):
    """--num-markers 0: 'has no thought markers: a marker dictionary needs a ThoughtBeacon model', to a user
    holding one; a tau sweep of a model built without beacons said the same of beacons."""
    from explainer.cli.evaluate import main as evaluate_main
    from tests.conftest import build_model, save_checkpoint
    from tests.unit.thought_beacon.test_beacons import labelled_csv as beacons_csv

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    data = beacons_csv(tmp_path / "d.csv")
    for field, said, run in (("num_thought_markers", "has no thought markers: it was built with none",
                              lambda m: main(["--model", m, "--data", str(data), "--out", str(tmp_path / "o")])),
                             ("use_beacons", "has no activation beacons: it was built with none",
                              lambda m: evaluate_main(["--model", m, "--data", str(data), "--sweep-tau"]))):
        # built so, not a config edited over trained markers or gates (refused: their weights would go unused)
        model = build_model("ours", **{field: 0 if field[0] == "n" else False})
        folder = save_checkpoint(model, tokenizer, tmp_path / field)
        with pytest.raises(SystemExit):
            run(str(folder))
        err = capsys.readouterr().err
        assert said in err and "needs a ThoughtBeacon model" not in err, err
    with pytest.raises(SystemExit):
        main(["--model", str(checkpoint("bert")), "--data", str(data), "--out", str(tmp_path / "o")])
    assert "has no thought markers: a marker dictionary needs a ThoughtBeacon model" in capsys.readouterr().err
