"""`python -m explainer map`: Parquet points and neighbours, the JSON summary with the likely-mislabelled rows
ranked, and clear refusals (a layer out of range, a model without a readout convention, too few rows)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from explainer.cli.map import main
from tests.conftest import CORPUS, ROOT
from tests.unit.dataset_map.conftest import corpus_csv, unlisted_folder  # noqa: F401  (fixture)

POSITIVE = [
    "A wonderful, moving film with brilliant acting.",
    "Delightful and funny, I loved every minute.",
    "A beautiful, warm and clever story.",
    "Superb performances and a great script.",
    "One of the best films of the year, a joy.",
    "Charming, witty and full of heart.",
    "An excellent movie that made me smile.",
    "Brilliant direction and a lovely score.",
    "A fantastic, uplifting triumph.",
    "Gorgeous, tender and wonderfully acted.",
    "I adored this film, it is a masterpiece.",
    "Fresh, funny and deeply touching.",
]
NEGATIVE = [
    "A dull, boring mess with terrible acting.",
    "Awful, tedious and far too long.",
    "The worst film I have seen, a waste of time.",
    "Stupid plot and lifeless characters.",
    "A painful, ugly and pointless movie.",
    "Badly written, badly acted, just bad.",
    "I hated it, a tiresome disaster.",
    "Boring, predictable and completely empty.",
    "A miserable failure with no redeeming moments.",
    "Clumsy, dreary and utterly forgettable.",
    "Horrible dialogue and a ridiculous ending.",
    "An incoherent, lazy and irritating film.",
]


def run(argv, capsys) -> tuple[int, dict | None, str]:
    try:
        code = main(argv)
    except SystemExit as stop:
        code = int(stop.code)
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code == 0 else None), captured.err


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "corpus.csv"
    path.write_bytes(corpus_csv())
    return path


def test_map_writes_points_neighbours_and_a_ranked_summary(checkpoint, data_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "map"
    code, summary, err = run(
        [
            "--model",
            str(checkpoint("bert")),
            "--data",
            str(data_file),
            "--neighbours",
            "5",
            "--layer",
            "1",
            "--out",
            str(out),
            "--json",  # accepted, as by the other commands (JSON is the only format)
        ],
        capsys,
    )
    assert code == 0, err
    assert f"{len(CORPUS)}/{len(CORPUS)}" in err and "map: Finding the 5 nearest neighbours" in err  # progress
    points = pd.read_parquet(out / "points.parquet")
    assert list(points.columns[:8]) == ["row", "line", "x", "y", "label", "prediction", "correct", "confidence"]
    assert list(points["row"]) == list(range(len(CORPUS))) and list(points["text"]) == list(CORPUS)  # file order
    assert (points["correct"] == (points["label"] == points["prediction"])).all()
    neighbours = pd.read_parquet(out / "neighbours.parquet")
    assert list(neighbours["row"]) == list(range(len(CORPUS)))
    assert all(len(n) == 5 and i not in set(n) for i, n in zip(neighbours["row"], neighbours["neighbours"]))
    assert all(np.all(np.diff(d) >= -1e-7) for d in neighbours["distances"])
    assert (summary["layer"], summary["layers"], summary["neighbours"], summary["rows"]) == (1, 3, 5, len(CORPUS))
    ranked = summary["likely_mislabelled"]
    assert [r["score"] for r in ranked] == sorted((r["score"] for r in ranked), reverse=True)
    labels = points["label"].to_numpy()
    for item in ranked:  # each listed row: most neighbours and the model disagree with its label
        row = item["row"]
        others = labels[np.asarray(neighbours["neighbours"][row])]
        assert (others != labels[row]).mean() > 0.5 and points["prediction"][row] != labels[row]
        assert item["text"] == CORPUS[row]
    csv = pd.read_csv(out / "likely_mislabelled.csv")
    assert len(csv) == summary["likely_mislabelled_total"] and list(csv["row"][: len(ranked)]) == [
        r["row"] for r in ranked
    ]


def test_rows_index_the_file_as_pandas_reads_it_when_rows_are_skipped(checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    texts = list(CORPUS[:12])
    texts[2] = "Two lines:\nboth of them dull."  # a quoted field over two lines: lines and rows part ways
    labels = ["pos" if i % 2 else "neg" for i in range(len(texts))]
    labels[4] = ""  # skipped: no label
    texts[7] = " "  # skipped: empty text
    frame = pd.DataFrame({"text": texts, "label": labels})
    path = tmp_path / "skips.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "map"
    code, summary, err = run(
        ["--model", str(checkpoint("bert")), "--data", str(path), "--neighbours", "3", "--out", str(out)], capsys
    )
    assert code == 0, err
    assert summary["rows"] == 10 and summary["skipped_rows"] == 2 and summary["truncated_rows"] == 0
    points = pd.read_parquet(out / "points.parquet")
    kept = [i for i in range(len(texts)) if i not in (4, 7)]
    assert list(points["row"]) == kept  # the file's data rows, skipped ones counted
    read = pd.read_csv(path)
    assert list(read["text"].iloc[points["row"]]) == list(points["text"])
    neighbours = pd.read_parquet(out / "neighbours.parquet")
    assert list(neighbours["row"]) == kept and all(set(n) <= set(kept) - {r} for r, n in
                                                   zip(neighbours["row"], neighbours["neighbours"]))
    csv = pd.read_csv(out / "likely_mislabelled.csv")
    assert set(csv["row"]) <= set(kept)
    assert {r["row"] for r in summary["likely_mislabelled"]} <= set(kept)


def test_bad_input_gets_one_clear_line(
    checkpoint,
    data_file,
    unlisted_folder,  # noqa: F811
    tmp_path,
    capsys,
    monkeypatch,
):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    out = str(tmp_path / "map")
    code, _, err = run(
        ["--model", str(checkpoint("bert")), "--data", str(data_file), "--layer", "5", "--out", out], capsys
    )
    assert code == 2 and "layer 5 is out of range: this model has layers 0-2" in err
    assert not (tmp_path / "cache").exists()  # said before the embedding pass, not after it
    code, _, err = run(["--model", str(unlisted_folder), "--data", str(data_file), "--out", out], capsys)
    assert code == 2 and "no readout convention" in err and "--pooling mean" in err and "Traceback" not in err
    code, printed, err = run(
        ["--model", str(unlisted_folder), "--data", str(data_file), "--pooling", "mean", "--out", out], capsys
    )
    assert code == 0 and printed["pooling"] == "mean", err
    code, _, err = run(["--model", str(checkpoint("bert")), "--data", str(tmp_path / "none.csv"), "--out", out], capsys)
    assert code == 2 and "no such file" in err
    (tmp_path / "file").write_text("x")
    code, _, err = run(
        ["--model", str(checkpoint("bert")), "--data", str(data_file), "--out", str(tmp_path / "file")], capsys
    )
    assert code == 2 and "is a file" in err
    for seed in ("-5", "4294967296"):  # numpy's generators (UMAP's) take 0..2**32-1: a traceback after the pass
        code, _, err = run(["--model", str(checkpoint("bert")), "--data", str(data_file), "--method", "umap",
                            "--seed", seed, "--out", out], capsys)
        assert code == 2 and "from 0 to 4294967295" in err and "Traceback" not in err


def test_fewer_rows_than_neighbours_is_said_and_the_rest_used(checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    small = tmp_path / "small.csv"
    small.write_bytes(corpus_csv(CORPUS[:4]))
    code, summary, err = run(
        ["--model", str(checkpoint("gpt2")), "--data", str(small), "--out", str(tmp_path / "map")], capsys
    )
    assert code == 0 and "The data set has 4 rows, so each has 3 neighbours, not the 10 asked for." in err
    assert summary["neighbours"] == 3 and summary["notes"]
    assert all(len(n) == 3 for n in pd.read_parquet(tmp_path / "map" / "neighbours.parquet")["neighbours"])


@pytest.mark.slow
def test_flipped_labels_top_the_list_with_the_shipped_model(tmp_path):
    """Two clusters a trained sentiment model separates well, with two labels flipped on purpose: the flipped
    rows are the top of the likely-mislabelled list (the real command, in a subprocess)."""
    texts = POSITIVE + NEGATIVE
    labels = ["positive"] * len(POSITIVE) + ["negative"] * len(NEGATIVE)
    flipped = [3, 17]
    for row in flipped:
        labels[row] = "negative" if labels[row] == "positive" else "positive"
    data = tmp_path / "flipped.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in zip(texts, labels)))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "explainer",
            "map",
            "--data",
            str(data),
            "--neighbours",
            "5",
            "--out",
            str(tmp_path / "map"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "EXPLAINER_CACHE": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert sorted(r["row"] for r in summary["likely_mislabelled"][:2]) == flipped


def test_out_takes_a_new_folder_or_an_earlier_maps_files_never_others(checkpoint, data_file, tmp_path, capsys,
                                                                      monkeypatch):
    """On the local engine map wrote into any folder: it replaced a points.parquet it had not written, and added
    its files to an evaluate run's results folder (evaluate's own --out refuses both)."""
    from explainer.cli.evaluate import main as evaluate

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    model = str(checkpoint("bert"))
    out = tmp_path / "map"
    argv = ["--model", model, "--data", str(data_file), "--neighbours", "3", "--out", str(out)]
    assert run(argv, capsys)[0] == 0 and run(argv, capsys)[0] == 0  # its own files: replaced
    (out / "notes.txt").write_text("mine")
    written = (out / "points.parquet").read_bytes()
    code, _, err = run(argv, capsys)
    # said as what it is: the folder holds map's files, and one of someone else's
    assert code == 2 and f"--out {out} holds files that map did not write (notes.txt): give an empty or new" in err
    assert (out / "points.parquet").read_bytes() == written
    evaluate(["--model", model, "--data", str(data_file), "--out", str(tmp_path / "scored")])
    capsys.readouterr()
    code, _, err = run([*argv[:-1], str(tmp_path / "scored")], capsys)
    assert code == 2 and "holds the results of a run of 'evaluate'" in err
    assert not (tmp_path / "scored" / "points.parquet").exists()


def test_a_local_run_into_an_engine_s_map_results_must_be_of_that_model_and_file(checkpoint, data_file, tmp_path,
                                                                                  capsys, monkeypatch):
    """A local map of another model or file into a map results folder replaced its points.parquet in silence, the
    manifest and rows still describing the engine's run."""
    import shutil

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    shards = tmp_path / "shards"
    shards.mkdir()
    shutil.copy(data_file, shards / data_file.name)  # a folder: the engine's run
    out = tmp_path / "map"
    model = str(checkpoint("bert"))
    assert run(["--model", model, "--data", str(shards), "--neighbours", "3", "--out", str(out)], capsys)[0] == 0
    written = (out / "points.parquet").read_bytes()
    other = tmp_path / "other.csv"
    other.write_text(data_file.read_text() + "an extra row of text,neg\n")
    for model_b, file, said in ((str(checkpoint("roberta")), data_file, "map results of another model, "),
                                (model, other, f"map results of another input, {shards}")):
        code, _, err = run(["--model", model_b, "--data", str(file), "--neighbours", "3", "--out", str(out)], capsys)
        assert code == 2 and said in err, err
        assert (out / "points.parquet").read_bytes() == written
    # the engine's own model and bytes: the local run writes the same map beside them
    assert run(["--model", model, "--data", str(data_file), "--neighbours", "3", "--out", str(out)], capsys)[0] == 0
    # the same model's name, its files changed since: not called "another model"
    mine = tmp_path / "mine"
    shutil.copytree(checkpoint("bert"), mine)
    again = tmp_path / "again"
    assert run(["--model", str(mine), "--data", str(shards), "--neighbours", "3", "--out", str(again)], capsys)[0] == 0
    (mine / "notes.txt").write_text("a file the fingerprint reads")
    code, _, err = run(["--model", str(mine), "--data", str(data_file), "--neighbours", "3", "--out", str(again)],
                       capsys)
    assert code == 2 and f"map results of {mine} as it was when they were written" in err, err


def test_a_write_that_fails_keeps_the_earlier_maps_files_whole(checkpoint, data_file, tmp_path, capsys, monkeypatch):
    # points.parquet, neighbours.parquet and likely_mislabelled.csv were written in place: a full disk left a cut
    # neighbours file beside the new points and the old run's CSV, which a later run took for its own outputs
    from tests.conftest import disk_fills_on

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "map"
    argv = ["--model", str(checkpoint("bert")), "--data", str(data_file), "--neighbours", "3", "--out", str(out)]
    assert run(argv, capsys)[0] == 0
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    fewer = tmp_path / "fewer.csv"
    fewer.write_bytes(corpus_csv(CORPUS[:-4]))
    disk_fills_on(monkeypatch, 2)
    code, _, err = run([*argv[:3], str(fewer), *argv[4:]], capsys)
    assert code == 2 and "No space left on device" in err
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before  # and no temporary file left


def test_a_local_run_into_a_folder_an_engine_run_is_writing_names_that_run(checkpoint, data_file, tmp_path, capsys,
                                                                           monkeypatch):
    # its .partial was called "no map results", as if it were leftovers to remove
    import socket

    from explainer.owner import OWNER

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "map"
    (out / ".partial").mkdir(parents=True)
    (out / ".partial" / OWNER).write_text(json.dumps({"host": socket.gethostname(), "pid": os.getppid()}))
    code, _, err = run(["--model", str(checkpoint("bert")), "--data", str(data_file), "--out", str(out)], capsys)
    assert code == 2 and f"another run (process {os.getppid()}) is writing into --out {out}: wait for it" in err
    assert sorted(path.name for path in out.iterdir()) == [".partial"]


def test_a_map_killed_while_renaming_its_files_in_leaves_a_folder_the_next_run_takes(checkpoint, data_file, tmp_path,
                                                                                     capsys, monkeypatch):
    # write_whole's ".points.parquet.<random>.partial" of a killed run made the folder "hold no map results"
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "map"
    argv = ["--model", str(checkpoint("bert")), "--data", str(data_file), "--neighbours", "3", "--out", str(out)]
    assert run(argv, capsys)[0] == 0
    (out / ".points.parquet.0a1b2c3d4e5f.partial").write_bytes(b"PAR")
    assert run(argv, capsys)[0] == 0
    (out / ".points.parquet.0a1b2c3d4e5f.tmp").write_bytes(b"PAR")  # not a name write_whole gives: another's
    assert run(argv, capsys)[0] == 2


def test_rows_read_only_in_part_are_counted_in_the_json_and_dev_null_is_no_folder(tmp_path, checkpoint, capsys,
                                                                                  monkeypatch):
    """The note that a row was cut to the model's length reached stderr only (evaluate's JSON counts them); --out
    /dev/null was called "a file"."""
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    texts = list(CORPUS[:8])
    texts[5] = " ".join(["a long and winding film"] * 400)
    path = tmp_path / "long.csv"
    pd.DataFrame({"text": texts, "label": ["pos" if i % 2 else "neg" for i in range(8)]}).to_csv(path, index=False)
    argv = ["--model", str(checkpoint("bert")), "--data", str(path), "--neighbours", "3"]
    code, summary, err = run([*argv, "--out", str(tmp_path / "map")], capsys)
    assert code == 0 and summary["truncated_rows"] == 1 and "1 row holds more tokens than" in err
    code, _, err = run([*argv, "--out", "/dev/null"], capsys)
    assert code == 2 and err.strip() == "error: --out /dev/null is a device: give a folder"
