"""`python -m explainer evaluate`: metrics and predictions of one or two models, the tau sweep, clear refusals."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from explainer.cli.evaluate import main
from explainer.thought_beacon.beacons import DEFAULT_TAUS
from tests.conftest import ROOT
from tests.unit.evaluation.test_error_report import ROWS, csv_bytes
from tests.unit.thought_beacon.test_beacons import labelled_csv


def test_cli_two_models_prints_metrics_and_disagreements_and_writes_predictions(checkpoint, tmp_path):
    data = tmp_path / "rows.csv"
    data.write_bytes(csv_bytes())
    out = tmp_path / "predictions.csv"
    result = subprocess.run(
        [sys.executable, "-m", "explainer", "evaluate", "--model", str(checkpoint("ours")), "--model",
         str(checkpoint("bert")), "--data", str(data), "--predictions-out", str(out), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "EXPLAINER_CACHE": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert [m["model"] for m in payload["models"]] == [str(checkpoint("ours")), str(checkpoint("bert"))]
    written = pd.read_csv(out)
    assert len(written) == len(ROWS) and {"predicted A", "predicted B", "capability"} <= set(written.columns)
    a, b = written["correct A"], written["correct B"]
    counts = payload["disagreement"]
    assert counts["only_a_right"] == int((a & ~b).sum()) and counts["only_b_right"] == int((~a & b).sum())
    assert counts["both_right"] + counts["both_wrong"] + counts["only_a_right"] + counts["only_b_right"] == len(ROWS)
    for model, column in zip(payload["models"], ("A", "B")):
        assert model["accuracy"] == pytest.approx(written[f"correct {column}"].mean())


def test_cli_refuses_unknown_labels(checkpoint, tmp_path):
    data = tmp_path / "moods.csv"
    data.write_text("text,label\ngood,happy\n")
    result = subprocess.run(
        [sys.executable, "-m", "explainer", "evaluate", "--model", str(checkpoint("ours")), "--data", str(data)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "EXPLAINER_CACHE": str(tmp_path / "cache")},
    )
    assert result.returncode == 2 and "['neg', 'pos']" in result.stderr and "'happy'" in result.stderr


@pytest.mark.parametrize(
    "option, value, complaint",
    [("--batch-size", "0", "at least 1"), ("--batch-size", "-1", "at least 1"),
     ("--beacon-threshold", "5", "from 0 to 1"), ("--beacon-threshold", "nan", "from 0 to 1")],
)
def test_cli_refuses_out_of_range_options_before_any_work(checkpoint, tmp_path, capsys, monkeypatch, option, value,
                                                          complaint):
    """A negative batch size once ran no batch and cached all-zero probabilities as results."""
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "rows.csv"
    data.write_bytes(csv_bytes())
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", str(checkpoint("ours")), "--data", str(data), option, value])
    assert exit_info.value.code == 2 and complaint in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()


def test_cli_reports_an_unwritable_predictions_file_in_one_line(checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "rows.csv"
    data.write_bytes(csv_bytes())
    (tmp_path / "a-file").write_text("not a folder")
    for out, complaint in ((tmp_path, "is a folder"), (tmp_path / "a-file" / "p.csv", "cannot write to")):
        with pytest.raises(SystemExit) as exit_info:
            main(["--model", str(checkpoint("ours")), "--data", str(data), "--predictions-out", str(out)])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and complaint in err and "Traceback" not in err


@pytest.mark.parametrize("no_cache", [[], ["--no-cache"]], ids=["cached", "no-cache"])
def test_a_cache_folder_that_cannot_be_written_leaves_the_results_whole(checkpoint, tmp_path, capsys, monkeypatch,
                                                                         no_cache):
    # EXPLAINER_CACHE naming a file: a NotADirectoryError traceback after the pass, and before it with --no-cache
    (tmp_path / "a-file").write_text("x")
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "a-file"))
    data = tmp_path / "rows.csv"
    data.write_bytes(csv_bytes())
    main(["--model", str(checkpoint("ours")), "--data", str(data), "--json", *no_cache])
    assert json.loads(capsys.readouterr().out)["n"] == len(ROWS)


@pytest.mark.parametrize("command", ["evaluate", "sweep", "map", "markers", "counterfactual"])
def test_a_row_holding_a_token_the_model_cannot_embed_is_one_line(checkpoint, tmp_path, capsys, monkeypatch, command):
    """A tokenizer knowing more words than the model embeds loads (a text meeting them is refused where it is
    used); evaluate without --out printed a traceback for such a row, as the Errors page and --out do not."""
    from tests.conftest import with_unembeddable_word

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    folder = with_unembeddable_word(checkpoint("ours"), tmp_path / "added")
    data = tmp_path / "rows.csv"
    data.write_text("text,label\na good film,pos\n,neg\nthe zebra was dull,neg\n")  # line 3 skipped: no text
    from explainer.cli import counterfactual as counterfactual_cli
    from explainer.cli import map as map_cli
    from explainer.cli import markers as markers_cli

    # markers in batches of one: the row is not in the first batch (its index counted from the batch's start)
    run, extra = {"evaluate": (main, []), "sweep": (main, ["--sweep-tau"]),
                  "map": (map_cli.main, ["--out", str(tmp_path / "map")]),
                  "markers": (markers_cli.main, ["--out", str(tmp_path / "markers"), "--batch-size", "1"]),
                  "counterfactual": (counterfactual_cli.main, [])}[command]
    with pytest.raises(SystemExit) as exit_info:
        run(["--model", str(folder), "--data", str(data), *extra])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "'zebra'" in err and "no embedding for" in err and "Traceback" not in err
    assert re.search(r"Line 4 of \S*rows\.csv: ", err)  # the row is named by its line in the file, as skipped rows


def test_cli_sweep_on_a_model_without_beacons_says_so_before_any_progress_bar(checkpoint, tmp_path, capsys,
                                                                                monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "rows.csv"
    data.write_bytes(csv_bytes())
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", str(checkpoint("baseline")), "--data", str(data), "--sweep-tau"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("error: ") and "no activation beacons" in err


def test_evaluate_cli_sweep_tau(checkpoint, tmp_path, capsys):
    main(["--model", str(checkpoint("ours")), "--data", str(labelled_csv(tmp_path / "d.csv")), "--sweep-tau", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert len(result["points"]) == len(DEFAULT_TAUS)  # the tiny model's own tau (0) is on the grid
    assert all({"tau", "accuracy", "skip_rate", "flops_saved"} <= set(p) for p in result["points"])
    assert result["monotone_skip_rate"] is True
    with pytest.raises(SystemExit):
        main(["--model", str(checkpoint("baseline")), "--data", str(tmp_path / "d.csv"), "--sweep-tau"])
    assert "no activation beacons" in capsys.readouterr().err


def test_a_fresh_results_folder_is_not_called_cached_and_its_rerun_is(checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    argv = ["--model", str(checkpoint("ours")), "--data", str(labelled_csv(tmp_path / "d.csv")),
            "--out", str(tmp_path / "out")]
    main(argv)
    first = json.loads(capsys.readouterr().out)
    main(argv)
    again = json.loads(capsys.readouterr().out)
    assert (first["cached"], first["results"]["reused"]) == (False, False)
    assert (again["cached"], again["results"]["reused"]) == (True, True)
    assert again["accuracy"] == first["accuracy"]
    # --no-cache asks for a new pass, which a finished folder would not give: said, not reused in silence
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--no-cache"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("error: --no-cache: ") and "give another --out" in err


def test_rows_of_a_folder_of_shards_are_named_by_file_and_line(checkpoint, tmp_path, monkeypatch):
    """Each shard numbers its own lines: the predictions CSV and the map's files gave a line with no file, so one
    line number pointed into every shard."""
    from explainer.cli.map import main as map_main

    folder = tmp_path / "shards"
    folder.mkdir()
    (folder / "part-0.csv").write_text("text,label\na fine film,pos\na dull film,neg\n")
    (folder / "part-1.csv").write_text("text,label\na warm film,pos\nthe plot falls apart,neg\nfunny,pos\n")
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "predictions.csv"
    main(["--model", str(checkpoint("bert")), "--data", str(folder), "--out", str(tmp_path / "eval"),
          "--predictions-out", str(out), "--json"])
    written = pd.read_csv(out)
    assert list(written.columns[:3]) == ["file", "line", "text"]
    assert list(zip(written["file"], written["line"])) == [("part-0.csv", 2), ("part-0.csv", 3), ("part-1.csv", 2),
                                                           ("part-1.csv", 3), ("part-1.csv", 4)]
    map_main(["--model", str(checkpoint("bert")), "--data", str(folder), "--out", str(tmp_path / "map"),
              "--method", "pca", "--neighbours", "2"])
    points = pd.read_parquet(tmp_path / "map" / "points.parquet")
    assert list(points.columns[:3]) == ["row", "file", "line"]
    assert list(zip(points["file"], points["line"])) == [("part-0.csv", 2), ("part-0.csv", 3), ("part-1.csv", 2),
                                                         ("part-1.csv", 3), ("part-1.csv", 4)]
    single = tmp_path / "one.csv"
    single.write_text("text,label\na fine film,pos\na dull film,neg\n")
    main(["--model", str(checkpoint("bert")), "--data", str(single), "--predictions-out", str(out), "--json"])
    assert "file" not in pd.read_csv(out).columns  # one file: its lines say where


def test_rows_of_files_of_one_name_in_several_folders_are_named_by_their_folder_too(checkpoint, tmp_path,
                                                                                    monkeypatch):
    """A glob over folders (data/*/train.csv) named every row's file train.csv: its line pointed into both."""
    from explainer import load_model
    from explainer.dataset_map.maps import MapOptions, build_map, neighbours_table
    from explainer.evaluation.compare import disagreement_table
    from explainer.evaluation.error_report import analyse
    from explainer.scale.results import open_results

    for year, rows in (("2023", "a fine film,pos\na dull film,neg\n"), ("2024", "a warm film,pos\nfunny,neg\n")):
        (tmp_path / "data" / year).mkdir(parents=True)
        (tmp_path / "data" / year / "train.csv").write_text("text,label\n" + rows)
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "predictions.csv"
    main(["--model", str(checkpoint("bert")), "--data", str(tmp_path / "data" / "*" / "train.csv"),
          "--out", str(tmp_path / "eval"), "--predictions-out", str(out), "--json"])
    written = pd.read_csv(out)
    assert list(zip(written["file"], written["line"])) == [("2023/train.csv", 2), ("2023/train.csv", 3),
                                                           ("2024/train.csv", 2), ("2024/train.csv", 3)]
    # the map's neighbours and Compare's disagreements name the file beside the line, as the Errors table does
    bundle = load_model(str(checkpoint("bert")))
    data = open_results(tmp_path / "eval").labelled_data()
    result = build_map(bundle, data, MapOptions(method="pca", neighbours=2))
    neighbours = neighbours_table(result, 0)
    assert list(neighbours.columns[2:5]) == ["row", "file", "line"]
    assert {(row.file, row.line) for row in neighbours.itertuples()} <= {(f"{year}/train.csv", line)
                                                                         for year in (2023, 2024) for line in (2, 3)}
    report = analyse(bundle, data)
    flipped = replace(report, frame=report.frame.assign(correct=~report.frame["correct"]))
    table = disagreement_table(report, flipped)
    assert list(table.columns[:2]) == ["file", "line"]
    assert sorted(map(tuple, table[["file", "line"]].values.tolist())) == [
        ("2023/train.csv", 2), ("2023/train.csv", 3), ("2024/train.csv", 2), ("2024/train.csv", 3)]


def test_a_folder_run_says_how_its_files_were_read_as_a_file_run_does(checkpoint, tmp_path, monkeypatch, capsys):
    """No column named text: a file run said which column the texts were read from; a folder run (either engine)
    said nothing, and its results folder could not say it on the pages."""
    from explainer.scale.results import open_results

    folder = tmp_path / "shards"
    folder.mkdir()
    for index, rows in enumerate(("a fine film,pos\na dull film,neg\n", "a warm film,pos\nfunny,neg\n")):
        (folder / f"part-{index}.csv").write_text("words,label\n" + rows)
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    main(["--model", str(checkpoint("bert")), "--data", str(folder / "part-0.csv"), "--json"])
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: No column is named")]
    assert len(said) == 1 and "column 'words'" in said[0]
    main(["--model", str(checkpoint("bert")), "--data", str(folder), "--out", str(tmp_path / "out"), "--json"])
    assert said[0] in capsys.readouterr().err.splitlines()
    assert open_results(tmp_path / "out").labelled_data().text_column_guessed


def test_a_folder_run_lists_its_skipped_lines_once_as_a_file_run_does(checkpoint, tmp_path, monkeypatch, capsys):
    """evaluate --out said only 'skipped 1 row(s) of FILE'; map said that and then listed every line again."""
    from explainer.cli.map import main as map_main

    folder = tmp_path / "shards"
    folder.mkdir()
    (folder / "part-0.csv").write_text("text,label\na fine film,pos\n,neg\na dull film,neg\n")
    (folder / "part-1.csv").write_text("text,label\na warm film,pos\nfunny,\n")
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    listed = ["skipped line 3: part-0.csv: empty text", "skipped line 3: part-1.csv: missing label"]
    main(["--model", str(checkpoint("bert")), "--data", str(folder), "--out", str(tmp_path / "eval"), "--json"])
    assert [line for line in capsys.readouterr().err.splitlines() if line.startswith("skipped")] == listed
    map_main(["--model", str(checkpoint("bert")), "--data", str(folder), "--out", str(tmp_path / "map"),
              "--method", "pca", "--neighbours", "2"])
    assert [line for line in capsys.readouterr().err.splitlines() if line.startswith("skipped")] == listed


def test_rows_longer_than_the_model_reads_are_counted_and_said(checkpoint, tmp_path, capsys, monkeypatch):
    """A file's long rows were judged on their first max_length tokens with nothing said: the JSON, stderr and the
    tokens column read as if each was read whole."""
    from explainer import load_model
    from explainer.cli.map import main as map_main
    from explainer.cli.markers import main as markers_main
    from tests.conftest import MAX_POSITIONS

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    long = " ".join(["the film is good"] * MAX_POSITIONS)  # far past the positions
    rows = [("the film is good", "pos"), (long, "neg"), ("dull", "neg"), (long, "pos"), ("a fine film", "pos"),
            ("bad film", "neg")]
    data = tmp_path / "long.csv"
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(data, index=False)
    model = str(checkpoint("ours"))
    assert load_model(model).max_length <= MAX_POSITIONS
    said = f"2 rows hold more tokens than {model} reads"
    for extra in ([], ["--sweep-tau"], ["--out", str(tmp_path / "out")], ["--sweep-tau", "--out", str(tmp_path / "sw")],
                  ["--model", str(checkpoint("bert"))]):
        main(["--model", model, "--data", str(data), *extra])
        captured = capsys.readouterr()
        result = json.loads(captured.out)
        counts = [m["truncated_rows"] for m in result["models"]] if "models" in result else [result["truncated_rows"]]
        assert counts == [2] * len(counts), (extra, result)
        assert f"{said} ({load_model(model).max_length} with special tokens; first on line 3)" in captured.err, extra
    main(["--model", model, "--data", str(labelled_csv(tmp_path / "short.csv"))])
    captured = capsys.readouterr()
    assert json.loads(captured.out)["truncated_rows"] == 0 and "more tokens than" not in captured.err
    markers_main(["--model", model, "--data", str(data), "--out", str(tmp_path / "markers"), "--no-forced-effect"])
    assert said in capsys.readouterr().err
    map_main(["--model", model, "--data", str(data), "--out", str(tmp_path / "map"), "--method", "pca",
              "--neighbours", "2"])
    assert said in capsys.readouterr().err
    # given the lengths a pass read (only rows read at the limit tokenised again), the same rows
    from explainer.evaluation.predict import longer_than_read, predict

    bundle, texts = load_model(model), [text for text, _ in rows]
    lengths = predict(bundle, texts).lengths
    np.testing.assert_array_equal(longer_than_read(bundle, texts, lengths), longer_than_read(bundle, texts))
    assert longer_than_read(bundle, texts).tolist() == [False, True, False, True, False, False]


def test_predictions_out_replaces_an_earlier_predictions_file_never_another(checkpoint, tmp_path, capsys,
                                                                             monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "rows.csv"
    data.write_bytes(csv_bytes())
    notes = tmp_path / "notes.csv"
    notes.write_text("name,score\nalice,3\n")
    argv = ["--model", str(checkpoint("ours")), "--data", str(data), "--predictions-out"]
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, str(notes)])
    assert exit_info.value.code == 2 and notes.read_text() == "name,score\nalice,3\n"
    assert "--predictions-out " + str(notes) + " exists and is not a predictions file" in capsys.readouterr().err
    out = tmp_path / "predictions.csv"
    out.write_text("")  # empty: taken
    main([*argv, str(out)])
    main([*argv, str(out)])  # its own: replaced
    assert len(pd.read_csv(out)) == len(ROWS)


@pytest.mark.parametrize("name", ["p.parquet", "p.JSONL", "p.tsv"])
def test_predictions_out_under_another_format_s_name_is_refused_before_any_work(tmp_path, capsys, name):
    """It wrote CSV under that name, which evaluate --data (reading by suffix) then failed on."""
    data = tmp_path / "rows.csv"
    data.write_text("text,label\na fine film,positive\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", "/nowhere", "--data", str(data), "--predictions-out", str(tmp_path / name)])
    suffix = name[1:].lower()
    assert exit_info.value.code == 2
    assert f"--predictions-out writes CSV: name the file .csv, not {suffix}" in capsys.readouterr().err
    assert not (tmp_path / name).exists()
