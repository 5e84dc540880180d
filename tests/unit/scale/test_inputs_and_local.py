"""The results folder from the local engine: the same rows, numbers and skipped lines as today's evaluation of
the same data, reruns that reuse or refuse, and a folder the app can read back without the model."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explainer.capture.encoding import UnembeddableToken
from explainer.data.labelled import DatasetError, read_dataset
from explainer.evaluation.error_report import analyse, load_labelled
from explainer.scale.engine import EngineError, run_job
from explainer.scale.inputs import resolve_inputs
from explainer.scale.manifest import MANIFEST, PARTIAL, ResultsError
from explainer.scale.reading import ReaderOptions, count_rows
from explainer.scale.results import check_model, open_results, seed_caches, sweep
from explainer.scale.work import JobOptions
from tests.conftest import rewrite_under_old_times
from tests.unit.scale.conftest import concatenated


def test_inputs_resolve_a_file_a_folder_and_a_glob_in_sorted_order(shards, tmp_path):
    folder = resolve_inputs(shards)
    assert [p.name for p in folder.files] == ["part-0.csv", "part-1.csv"]
    assert resolve_inputs(str(shards / "part-*.csv")).content_hash == folder.content_hash
    single = resolve_inputs(shards / "part-1.csv")
    assert single.files == (shards / "part-1.csv",) and single.content_hash != folder.content_hash
    (tmp_path / "mixed").mkdir()
    shutil.copy(shards / "part-0.csv", tmp_path / "mixed" / "a.csv")
    (tmp_path / "mixed" / "b.jsonl").write_text('{"text": "x", "label": "neg"}\n')
    with pytest.raises(DatasetError, match="mixes formats"):
        resolve_inputs(tmp_path / "mixed")
    with pytest.raises(DatasetError, match="no labelled data file matches"):
        resolve_inputs(str(tmp_path / "nothing-*.csv"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no labelled data files"):
        resolve_inputs(tmp_path / "empty")


def test_a_shard_that_cannot_be_read_is_named_in_one_line(shards, monkeypatch):
    """A shard without read permission ended `evaluate --out` and `map` in a PermissionError traceback."""
    unreadable = shards / "part-1.csv"
    real_open = Path.open

    def refusing_open(self, *args, **kwargs):
        if self == unreadable:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refusing_open)
    for spec in (shards, unreadable, str(shards / "part-*.csv")):
        with pytest.raises(DatasetError, match=re.escape(f"{unreadable}: cannot be read (Permission denied)")):
            resolve_inputs(spec)


def test_a_file_counts_as_changed_by_its_bytes_not_by_its_inode(tmp_path):
    """A bucket or NFS mount may hand out a new inode for the same bytes: the finished job was thrown away."""
    path = tmp_path / "data.csv"
    path.write_text("text,label\ngood,pos\n")
    inputs = resolve_inputs(path)
    copy = tmp_path / "copy.csv"
    shutil.copy2(path, copy)
    copy.replace(path)  # the same bytes and times under a new inode
    assert inputs.changed() is None
    rewrite_under_old_times(path, b"text,label\ngood,neg\n")  # other bytes of the same size, the old time
    assert inputs.changed() == path


def test_a_shard_that_is_a_link_to_nothing_is_refused_not_left_out(shards, tmp_path):
    """A broken link named like a shard was skipped: the job ran on the other shards and said nothing."""
    folder = tmp_path / "linked"
    shutil.copytree(shards, folder)
    (folder / "part-2.csv").symlink_to(tmp_path / "gone.csv")
    (folder / ".hidden.csv").symlink_to(tmp_path / "gone.csv")  # hidden names are never shards
    (folder / "notes.txt").symlink_to(tmp_path / "gone.txt")  # nor are other extensions
    with pytest.raises(DatasetError, match=r"part-2\.csv is a link to a missing file"):
        resolve_inputs(folder)
    with pytest.raises(DatasetError, match=r"part-2\.csv is a link to a missing file"):
        resolve_inputs(str(folder / "part-*.csv"))
    (folder / "part-2.csv").unlink()
    assert [p.name for p in resolve_inputs(folder).files] == ["part-0.csv", "part-1.csv"]


def test_a_compressed_shard_is_refused_not_left_out(shards, tmp_path):
    """A folder of part-0.csv and part-1.csv.gz ran on part-0's rows alone and said nothing of part-1."""
    folder = tmp_path / "packed"
    shutil.copytree(shards, folder)
    (folder / "part-1.csv").rename(folder / "part-1.csv.gz")
    (folder / "notes.txt.gz").write_bytes(b"")  # not named like a shard: not one
    with pytest.raises(DatasetError, match=r"part-1\.csv\.gz is compressed, which is not read: decompress it or "
                                           r"move it out of the folder"):
        resolve_inputs(folder)
    with pytest.raises(DatasetError, match=r"part-1\.csv\.gz is compressed, which is not read: decompress it or give "
                                           r"a pattern that leaves it out"):  # not "move it out of the folder"
        resolve_inputs(str(folder / "part-*"))
    (folder / "part-1.csv.gz").unlink()
    (folder / "part-2.csv.snappy").write_bytes(b"")  # Spark's other codecs too
    with pytest.raises(DatasetError, match=r"part-2\.csv\.snappy is compressed"):
        resolve_inputs(folder)
    (folder / "part-2.csv.snappy").unlink()
    assert [p.name for p in resolve_inputs(folder).files] == ["part-0.csv"]


def test_what_a_folder_holds_besides_its_shards_is_named(shards, tmp_path, capsys, checkpoint):
    """A Hive-style subfolder, an extensionless Hadoop part file and a notes.txt were left out in silence: the
    results held the other shards' rows alone. Spark's and Hadoop's bookkeeping files are not worth a word."""
    from explainer.cli.evaluate import main as evaluate_main
    from explainer.scale.inputs import left_out_note

    folder = tmp_path / "mixed"
    shutil.copytree(shards, folder)
    (folder / "label=1").mkdir()
    shutil.copy(folder / "part-0.csv", folder / "label=1" / "part-0.csv")
    shutil.copy(folder / "part-0.csv", folder / "part-00002")
    (folder / "notes.txt").write_text("mine")
    for name in ("_SUCCESS", ".part-0.csv.crc", "part-0.csv.crc"):
        (folder / name).write_text("")
    inputs = resolve_inputs(folder)
    assert inputs.left_out == ("label=1/", "notes.txt", "part-00002")
    assert left_out_note(inputs).endswith(" files are read, not its subfolders: left out label=1/, notes.txt, "
                                          "part-00002 (their rows, if any, are not in the results)")
    assert resolve_inputs(shards).left_out == () and left_out_note(resolve_inputs(shards)) is None
    evaluate_main(["--model", str(checkpoint("ours")), "--data", str(folder), "--out", str(tmp_path / "o")])
    assert "left out label=1/, notes.txt, part-00002" in capsys.readouterr().err


def test_broken_links_are_named_so_each_can_be_found(tmp_path):
    """Named by file name only, cut to five without a word, all called missing: a glob's two train.csv read
    "train.csv, train.csv", and a link loop was "a link to a missing file"."""
    for day in ("a", "b", "c"):
        (tmp_path / day).mkdir()
        (tmp_path / day / "train.csv").symlink_to(tmp_path / f"gone-{day}.csv")
    with pytest.raises(DatasetError, match=rf"{tmp_path}/a/train\.csv, {tmp_path}/b/train\.csv, {tmp_path}/c/train"
                       r"\.csv are links to missing files; fix or remove them"):
        resolve_inputs(str(tmp_path / "*" / "train.csv"))
    many = tmp_path / "many"
    many.mkdir()
    for i in range(8):
        (many / f"part-{i}.csv").symlink_to(tmp_path / f"gone-{i}.csv")
    with pytest.raises(DatasetError, match=r": part-0\.csv, .*, part-4\.csv and 3 more are links to missing files"):
        resolve_inputs(many)
    loop = tmp_path / "loop"
    loop.mkdir()
    (loop / "a.csv").symlink_to(loop / "b.csv")
    (loop / "b.csv").symlink_to(loop / "a.csv")
    with pytest.raises(DatasetError, match=r": a\.csv, b\.csv are link loops; fix or remove them"):
        resolve_inputs(loop)
    (loop / "c.csv").symlink_to(tmp_path / "gone.csv")
    with pytest.raises(DatasetError, match=r"are links to missing files or link loops"):
        resolve_inputs(loop)


def test_parquet_input_reads_like_the_same_csv(tmp_path, ours_bundle):
    frame = pd.DataFrame(
        {"text": ["a fine film", " ", "dull"], "label": ["pos", "pos", "neg"], "capability": ["a", "b", "c"]}
    )
    frame.to_parquet(tmp_path / "d.parquet")
    frame.to_csv(tmp_path / "d.csv", index=False)
    parquet = read_dataset(tmp_path / "d.parquet", label_names=ours_bundle.label_names)
    csv = read_dataset(tmp_path / "d.csv", label_names=ours_bundle.label_names)
    assert parquet.texts == csv.texts and parquet.labels == csv.labels and parquet.extra == csv.extra
    assert parquet.problems == ((2, "empty text"),) and parquet.format == "parquet"
    # The progress bar's total counts every row the pass reads, the skipped one too, in either format; and a
    # shard with no bytes or only a header counts none (allow_empty: one shard of many).
    options = ReaderOptions(tuple(ours_bundle.label_names), allow_empty=True)
    assert count_rows(tmp_path / "d.parquet", options) == count_rows(tmp_path / "d.csv", options) == 3
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "header.csv").write_text("text,label\n")
    assert count_rows(tmp_path / "empty.csv", options) == count_rows(tmp_path / "header.csv", options) == 0


def test_local_engine_writes_the_rows_and_numbers_of_todays_evaluation(shards, tmp_path, ours_bundle):
    told: list[tuple[int, int]] = []
    manifest, reused = run_job(
        ours_bundle, resolve_inputs(shards), JobOptions("evaluate"), tmp_path / "out", block_rows=40,
        progress=lambda done, total: told.append((done, total)),
    )
    assert not reused and manifest.rows == 180 and manifest.skipped == 2 and manifest.nodes == 1
    # The bar knows its total from the start: every row read, used or skipped (two files of 92 and 90).
    assert told[0] == (0, 182) and told[-1] == (182, 182) and len(told) > 3
    assert all(a[0] < b[0] and a[1] == b[1] for a, b in zip(told, told[1:]))
    assert [(e.rows, e.skipped) for e in manifest.files] == [(90, 2), (90, 0)]
    assert {"file", "row", "line", "probabilities", "marker_counts", "mean_gate", "skipped_slots"} <= set(
        manifest.columns
    )
    results = open_results(tmp_path / "out")
    reference = load_labelled(ours_bundle, concatenated(shards, tmp_path / "all.csv", ours_bundle.label_names))
    data = results.labelled_data()
    assert data.texts == reference.texts and data.labels == reference.labels
    assert data.extra["capability"] == reference.extra["capability"]
    assert data.problems == ((92, "part-0.csv: empty text"), (93, "part-0.csv: expected 3 fields, found 1"))
    # each file numbers its own lines, so a row named by its line is named by its file too
    assert data.row_files == ("part-0.csv",) * 90 + ("part-1.csv",) * 90 and data.lines[90] == 2
    unembeddable = UnembeddableToken("The text holds the token 'x'", text_index=90, text=data.texts[90])
    assert data.located(unembeddable) == "Line 2 of part-1.csv: The text holds the token 'x'"
    expected = analyse(ours_bundle, reference, batch_size=7)  # other batches: the numbers may not depend on them
    predictions = results.predictions()
    np.testing.assert_allclose(predictions.probabilities, expected.frame[["p(neg)", "p(pos)"]].to_numpy(), atol=1e-5)
    report = analyse(ours_bundle, seed_caches(ours_bundle, results))
    assert report.cached  # read back from the results, not recomputed
    assert report.metrics["confusion"] == expected.metrics["confusion"] and report.metrics["n"] == 180
    for name in ("accuracy", "macro_f1", "skip_rate", "marker_usage", "marker_mean_max_prob", "f1"):
        assert report.metrics[name] == pytest.approx(expected.metrics[name], abs=1e-6), name
    assert report.calibration.ece == pytest.approx(expected.calibration.ece, abs=1e-6)


def test_a_rerun_reuses_the_same_job_and_refuses_another(shards, tmp_path, ours_bundle):
    inputs = resolve_inputs(shards)
    out = tmp_path / "out"
    first, _ = run_job(ours_bundle, inputs, JobOptions("evaluate"), out)
    again, reused = run_job(ours_bundle, inputs, JobOptions("evaluate", batch_size=3), out)
    assert reused and again == first  # the batch size does not change the results
    with pytest.raises(ResultsError, match="holds the results of another run"):
        run_job(ours_bundle, inputs, JobOptions("evaluate", beacon_threshold=0.5), out)
    with pytest.raises(ResultsError, match="holds the results of another run"):
        run_job(ours_bundle, resolve_inputs(shards / "part-1.csv"), JobOptions("evaluate"), out)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ResultsError, match="not empty and holds no results"):
        run_job(ours_bundle, inputs, JobOptions("evaluate"), foreign)
    assert (foreign / "notes.txt").read_text() == "mine"
    unfinished = tmp_path / "unfinished"
    (unfinished / PARTIAL / "rows").mkdir(parents=True)
    (unfinished / PARTIAL / "rows" / "stale.parquet").write_bytes(b"half a run")
    manifest, reused = run_job(ours_bundle, inputs, JobOptions("evaluate"), unfinished)
    assert not reused and not (unfinished / PARTIAL).exists() and manifest.rows == 180
    assert all("stale" not in shard for shard in manifest.shards)
    # killed between moving its shards in and writing its manifest: refused as "not empty and holds no results
    # (rows)", though the README says an interrupted run is started afresh
    moved = tmp_path / "moved"
    shutil.copytree(out / "rows", moved / "rows")
    (moved / PARTIAL).mkdir()  # the killed run's folder, left beside its rows (its claim's process is gone)
    manifest, reused = run_job(ours_bundle, inputs, JobOptions("evaluate"), moved)
    assert not reused and manifest.rows == 180 and (moved / MANIFEST).is_file()
    mine = tmp_path / "mine"  # a folder named rows that holds a user's files is no run's: still refused
    (mine / "rows").mkdir(parents=True)
    (mine / "rows" / "notes.txt").write_text("mine")
    with pytest.raises(ResultsError, match="not empty and holds no results"):
        run_job(ours_bundle, inputs, JobOptions("evaluate"), mine)
    users = tmp_path / "users"  # a rows/ of Parquet files with no run's .partial beside it: a data set, kept (it was
    shutil.copytree(out / "rows", users / "rows")  # deleted without a word, even when it was the run's input)
    before = sorted(p.name for p in (users / "rows").iterdir())
    for data in (inputs, resolve_inputs(users / "rows")):
        with pytest.raises(ResultsError, match="not empty and holds no results"):
            run_job(ours_bundle, data, JobOptions("evaluate"), users)
        assert sorted(p.name for p in (users / "rows").iterdir()) == before


def test_a_second_run_into_a_folder_another_run_is_writing_is_refused(shards, tmp_path, ours_bundle):
    # two runs into one --out removed each other's rows: both failed, one saying its input had no usable rows
    import json
    import socket
    import subprocess
    import sys

    from explainer.scale.manifest import OWNER

    busy = tmp_path / "busy"
    (busy / PARTIAL / "rows").mkdir(parents=True)
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # a run still going
    try:
        (busy / PARTIAL / OWNER).write_text(json.dumps({"host": socket.gethostname(), "pid": writer.pid}))
        with pytest.raises(ResultsError, match=rf"another run \(process {writer.pid}\) is writing into --out"):
            run_job(ours_bundle, resolve_inputs(shards), JobOptions("evaluate"), busy)
        assert (busy / PARTIAL / "rows").is_dir()  # its rows left alone
    finally:
        writer.kill()
        writer.wait()
    # once that run has ended (killed: no clean-up), its rows are stale: removed, and the job runs afresh
    manifest, reused = run_job(ours_bundle, resolve_inputs(shards), JobOptions("evaluate"), busy)
    assert not reused and manifest.rows == 180 and not (busy / PARTIAL).exists()


def test_results_of_a_model_whose_files_changed_say_so(shards, tmp_path, checkpoint):
    """Touching, copying or checking out a model folder changes its fingerprint (file times are in it): the
    refusal said "results of X, not of the chosen model X", naming the same model twice."""
    import os

    from explainer import load_model

    folder = shutil.copytree(checkpoint("ours"), tmp_path / "model")
    out = tmp_path / "out"
    run_job(load_model(folder, device="cpu"), resolve_inputs(shards / "part-1.csv"), JobOptions("evaluate"), out)
    check_model(open_results(out), load_model(folder, device="cpu"))  # the same files: accepted
    config = folder / "config.json"
    os.utime(config, ns=(config.stat().st_atime_ns, config.stat().st_mtime_ns + 10**9))  # same bytes, new time
    with pytest.raises(ResultsError, match="as it was when the job ran; it has changed since") as error:
        check_model(open_results(out), load_model(folder, device="cpu"))
    assert "not of the chosen model" not in str(error.value)
    # a hub id has no files to blame: a new revision of it is named instead
    from dataclasses import replace

    hub = replace(load_model(folder, device="cpu"), name="org/model", folder_stamp=None)
    hub.model.config._commit_hash = "a" * 40
    run_job(hub, resolve_inputs(shards / "part-1.csv"), JobOptions("evaluate"), tmp_path / "hub")
    hub.model.config._commit_hash = "b" * 40
    with pytest.raises(ResultsError, match="changed since \\(a new revision on the hub, or its config"):
        check_model(open_results(tmp_path / "hub"), hub)


def test_results_that_cannot_be_seeded_into_the_cache_are_refused_not_recomputed(shards, tmp_path, ours_bundle,
                                                                                   monkeypatch):
    # with EXPLAINER_CACHE naming a file, the results were run, their seeding failed in silence, and the pass
    # ran again locally to read them back
    out = tmp_path / "out"
    run_job(ours_bundle, resolve_inputs(shards), JobOptions("evaluate"), out)
    (tmp_path / "a-file").write_text("x")
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "a-file"))
    with pytest.raises(ResultsError, match=r"read through the cache, but the cache folder .*a-file cannot be "
                                           r"written \(Not a directory\); set EXPLAINER_CACHE"):
        seed_caches(ours_bundle, open_results(out))


def test_results_refuse_another_model_and_report_damage(shards, tmp_path, ours_bundle, bundle):
    out = tmp_path / "out"
    run_job(ours_bundle, resolve_inputs(shards), JobOptions("evaluate"), out)
    with pytest.raises(ResultsError, match="not of the chosen model"):
        check_model(open_results(out), bundle("baseline"))
    with pytest.raises(ResultsError, match="not of the chosen model"):
        seed_caches(bundle("baseline"), open_results(out))
    manifest = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).write_text(json.dumps({**manifest, "files": "oops"}))
    with pytest.raises(ResultsError, match="damaged"):
        open_results(out)
    (out / MANIFEST).write_text("[" * 20_000 + "]" * 20_000)  # past the JSON parser's recursion limit
    with pytest.raises(ResultsError, match="damaged"):
        open_results(out)
    (out / MANIFEST).write_text(json.dumps(manifest))
    (out / manifest["shards"][0]).unlink()
    with pytest.raises(ResultsError, match="missing"):
        open_results(out)
    with pytest.raises(ResultsError, match="not a results folder"):
        open_results(shards)
    with pytest.raises(ResultsError, match="is a file: a results folder is the folder"):
        open_results(shards / "part-0.csv")
    (tmp_path / "local-map").mkdir()
    (tmp_path / "local-map" / "points.parquet").write_bytes(b"")  # what `map --out` writes on the local engine
    with pytest.raises(ResultsError, match="with --engine ray or for a folder or glob of files, not for one file"):
        open_results(tmp_path / "local-map")
    # `markers --out` on one file writes the dictionary only: the Thought markers page said "an unfinished run"
    (tmp_path / "local-markers").mkdir()
    (tmp_path / "local-markers" / "marker_dictionary.json").write_text("{}")
    with pytest.raises(ResultsError, match="holds a marker dictionary but no manifest.json: 'markers --out' writes a "
                                           "results folder with --engine ray or for a folder or glob of files"):
        open_results(tmp_path / "local-markers")


def test_a_failing_block_names_its_file_and_lines(shards, tmp_path, ours_bundle, monkeypatch):
    import explainer.scale.work as work

    def broken(bundle, texts, *args, **kwargs):
        if len(texts) < 40:  # the third block of part-0.csv: 10 used rows beside its 2 skipped ones
            raise MemoryError("out of memory")
        return real(bundle, texts, *args, **kwargs)

    real = work._predict_rows
    monkeypatch.setattr(work, "_predict_rows", broken)
    with pytest.raises(EngineError, match=r"rows of \S+/part-0\.csv lines 82-93 failed: MemoryError: out of memory"):
        run_job(ours_bundle, resolve_inputs(shards), JobOptions("evaluate"), tmp_path / "out", block_rows=40)
    assert not (tmp_path / "out").exists()  # the folder it made is gone with the failed run: no empty --out left
    with pytest.raises(EngineError):  # and the parents it made for it
        run_job(ours_bundle, resolve_inputs(shards), JobOptions("evaluate"), tmp_path / "new" / "deeper" / "out",
                block_rows=40)
    assert not (tmp_path / "new").exists()
    with pytest.raises(EngineError):  # through a folder it made and "..": rmdir("new/..") stopped the clean-up
        run_job(ours_bundle, resolve_inputs(shards), JobOptions("evaluate"), tmp_path / "new" / ".." / "out",
                block_rows=40)
    assert not (tmp_path / "new").exists() and not (tmp_path / "out").exists()
    (tmp_path / "kept").mkdir()  # a folder the user made stays, empty, as given
    with pytest.raises(EngineError):
        run_job(ours_bundle, resolve_inputs(shards), JobOptions("evaluate"), tmp_path / "kept", block_rows=40)
    assert (tmp_path / "kept").is_dir() and not any((tmp_path / "kept").iterdir())


@pytest.mark.parametrize("kind", ["evaluate", "markers"])
def test_a_row_the_model_cannot_embed_is_named_by_its_file_and_line(tmp_path, checkpoint, kind):
    """The single-file commands said "Line 5 of a.csv: ..."; a folder's job (either engine) said only the block's
    line range and the exception's class name."""
    from explainer.loading.bundle import load_model
    from tests.conftest import with_unembeddable_word

    added = load_model(with_unembeddable_word(checkpoint("ours"), tmp_path / "added"), device="cpu")
    neg, pos = added.label_names[:2]
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_text(f"text,label\na good film,{pos}\na dull film,{neg}\n")
    (folder / "b.csv").write_text(f"text,label\na fine film,{pos}\n,{neg}\nthe zebra was dull,{neg}\n")
    with pytest.raises(EngineError) as caught:
        run_job(added, resolve_inputs(folder), JobOptions(kind), tmp_path / "out", block_rows=2)
    assert str(caught.value).startswith(f"Line 4 of {folder / 'b.csv'}: The text holds the token 'zebra'")


def test_a_run_hashes_each_shard_once_though_it_moves_them(shards, tmp_path, ours_bundle, monkeypatch):
    """Shards are hashed before their folder moves into place; keyed by path, the open after the run hashed every
    one again (a map run's shards hold every vector: a gigabyte per 100,000 rows)."""
    import collections
    import hashlib

    import explainer.scale.manifest as manifest

    hashed = collections.Counter()

    def counting(file, digest):
        hashed[Path(file.name).name] += 1
        return real(file, digest)

    real = hashlib.file_digest
    monkeypatch.setattr(manifest.hashlib, "file_digest", counting)
    run_job(ours_bundle, resolve_inputs(shards), JobOptions("evaluate"), tmp_path / "out")
    results = open_results(tmp_path / "out")
    assert hashed and set(hashed.values()) == {1}, hashed
    assert sorted(hashed) == sorted(Path(name).name for name in results.manifest.shards)


def test_a_file_changed_while_the_job_reads_it_keeps_no_results(shards, tmp_path, ours_bundle):
    """The rows read were stored under the hash taken before the run: a file appended to mid-run, then restored,
    was later reused with rows that are not in it (n too big)."""
    folder = shutil.copytree(shards, tmp_path / "in")
    second = sorted(folder.glob("*.csv"))[1]
    original = second.read_bytes()
    inputs = resolve_inputs(folder)

    def append_once(done: int, total: int) -> None:
        if second.read_bytes() == original:
            second.write_bytes(original + b"a row appended while the job ran,1\n" * 10)

    with pytest.raises(EngineError, match=rf"{second.name} changed \(or was removed\) while the job read it; run it"):
        run_job(ours_bundle, inputs, JobOptions("evaluate"), tmp_path / "out", block_rows=40, progress=append_once)
    assert not (tmp_path / "out" / MANIFEST).exists() and not (tmp_path / "out" / "rows").exists()
    second.write_bytes(original)
    manifest, reused = run_job(ours_bundle, resolve_inputs(folder), JobOptions("evaluate"), tmp_path / "out")
    assert not reused and manifest.rows == 180


def test_a_file_removed_while_the_job_runs_is_said_as_such(shards, tmp_path, ours_bundle):
    """The OS's bare "[Errno 2] No such file or directory: '...'" was the whole message."""
    folder = shutil.copytree(shards, tmp_path / "in")
    last = sorted(folder.glob("*.csv"))[-1]
    inputs = resolve_inputs(folder)

    def remove(done: int, total: int) -> None:
        last.unlink(missing_ok=True)

    with pytest.raises(EngineError, match=rf"{last.name} changed \(or was removed\) while the job read it"):
        run_job(ours_bundle, inputs, JobOptions("evaluate"), tmp_path / "out", block_rows=40, progress=remove)
    assert not (tmp_path / "out" / MANIFEST).exists()


def test_local_sweep_matches_todays_sweep(shards, tmp_path, ours_bundle):
    from explainer.thought_beacon.beacons import sweep as local_sweep

    taus = (0.0, 0.3, 0.7)
    run_job(ours_bundle, resolve_inputs(shards), JobOptions("sweep", taus=taus), tmp_path / "out", block_rows=50)
    reference = load_labelled(ours_bundle, concatenated(shards, tmp_path / "all.csv", ours_bundle.label_names))
    expected = local_sweep(ours_bundle, reference.texts, reference.labels, taus=taus, with_model_tau=False)
    found = sweep(ours_bundle, open_results(tmp_path / "out"))
    assert [p["tau"] for p in found["points"]] == list(taus) and found["n"] == expected["n"]
    for ours, theirs in zip(found["points"], expected["points"], strict=True):
        assert ours == pytest.approx(theirs, abs=1e-9)


def _shard(path, header: str, rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


def test_shards_with_other_columns_are_refused_before_any_row_runs(tmp_path, ours_bundle):
    neg, pos = ours_bundle.label_names[:2]
    folder = tmp_path / "mixed"
    _shard(folder / "a.csv", "text,label,capability", [f"a dull film,{neg},x", f"a fine film,{pos},y"])
    _shard(folder / "b.csv", "label,text,source,capability", [f"{neg},a slow plot,web,x", f"{pos},great cast,web,y"])
    _shard(folder / "c.csv", "sentence,target", [f"tedious,{neg}", f"superb,{pos}"])
    with pytest.raises(DatasetError) as caught:
        run_job(ours_bundle, resolve_inputs(folder), JobOptions("evaluate"), tmp_path / "out")
    message = str(caught.value)
    assert "\n" not in message and f"{folder / 'b.csv'} has other columns" in message
    assert "'source'" in message and str(folder / "a.csv") in message and "same columns" in message
    assert not (tmp_path / "out" / MANIFEST).exists()
    with pytest.raises(DatasetError, match="has other columns than") as hidden:  # contents kept out of the message
        run_job(ours_bundle, resolve_inputs(folder), JobOptions("evaluate"), tmp_path / "out2", quote_contents=False)
    assert "source" not in str(hidden.value)
    # a shard naming its text and label columns otherwise: "no label column 'label' ...; leave the label column
    # unset", of a column never set
    other = tmp_path / "renamed"
    _shard(other / "a.csv", "text,label", [f"a dull film,{neg}", f"a fine film,{pos}"])
    _shard(other / "b.csv", "review,sentiment", [f"a slow plot,{neg}", f"great cast,{pos}"])
    with pytest.raises(DatasetError, match=r"b\.csv has other columns \(text 'review', label 'sentiment', others: "
                                           r"none\) than \S+a\.csv \(text 'text', label 'label'"):
        run_job(ours_bundle, resolve_inputs(other), JobOptions("evaluate"), tmp_path / "out4")
    # The same columns in another order line up: accepted, every shard's extra column kept.
    (folder / "c.csv").unlink()
    _shard(folder / "b.csv", "label,text,capability", [f"{neg},a slow plot,x", f"{pos},great cast,y"])
    manifest, _ = run_job(ours_bundle, resolve_inputs(folder), JobOptions("evaluate"), tmp_path / "out3")
    assert manifest.rows == 4 and list(manifest.extra_columns) == ["capability"]
    assert list(open_results(tmp_path / "out3").labelled_data().extra["capability"]) == ["x", "y", "x", "y"]


def test_empty_shards_add_no_rows_and_a_set_of_only_empty_shards_is_refused(tmp_path, ours_bundle):
    neg, pos = ours_bundle.label_names[:2]
    folder = tmp_path / "parts"
    _shard(folder / "a.csv", "text,label", [f"a dull film,{neg}", f"a fine film,{pos}"])
    _shard(folder / "b.csv", "text,label", [])  # a header only
    (folder / "c.csv").write_bytes(b"")  # no bytes at all
    _shard(folder / "d.csv", "text,label", [f" ,{neg}"])  # its only row is skipped
    manifest, _ = run_job(ours_bundle, resolve_inputs(folder), JobOptions("evaluate"), tmp_path / "out")
    assert [(e.rows, e.skipped) for e in manifest.files] == [(2, 0), (0, 0), (0, 0), (0, 1)]
    assert manifest.rows == 2 and manifest.skipped == 1
    run_job(ours_bundle, resolve_inputs(folder / "a.csv"), JobOptions("evaluate"), tmp_path / "single")
    np.testing.assert_allclose(
        open_results(tmp_path / "out").predictions().probabilities,
        open_results(tmp_path / "single").predictions().probabilities,
    )
    # The map's pass too: a block of skipped rows only runs no batch (it failed on the vectors it never had)
    mapped, _ = run_job(ours_bundle, resolve_inputs(folder), JobOptions("map"), tmp_path / "map")
    assert [(e.rows, e.skipped) for e in mapped.files] == [(2, 0), (0, 0), (0, 0), (0, 1)]
    np.testing.assert_allclose(open_results(tmp_path / "map").predictions().probabilities,
                               open_results(tmp_path / "single").predictions().probabilities)
    # A single file with no usable row keeps the reader's detailed message; a set of only empty shards fails too.
    with pytest.raises(DatasetError, match=r"d\.csv: no usable rows \(line 2: empty text\)"):
        run_job(ours_bundle, resolve_inputs(folder / "d.csv"), JobOptions("evaluate"), tmp_path / "one")
    (folder / "a.csv").unlink()
    with pytest.raises(DatasetError, match="no usable rows in any of its 3 files"):
        run_job(ours_bundle, resolve_inputs(folder), JobOptions("evaluate"), tmp_path / "none")
    (folder / "d.csv").unlink()
    (folder / "b.csv").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"no usable rows \(all 2 files are empty\)"):
        run_job(ours_bundle, resolve_inputs(folder), JobOptions("evaluate"), tmp_path / "none2")
    assert not (tmp_path / "none" / MANIFEST).exists() and not (tmp_path / "none2" / MANIFEST).exists()


def test_a_header_only_shard_takes_the_columns_another_shard_names(tmp_path, ours_bundle):
    # "body" is not a known text column name: the others' rows show it holds the text, a header alone cannot
    neg, pos = ours_bundle.label_names[:2]
    folder = tmp_path / "body"
    _shard(folder / "a.csv", "body,label", [])
    _shard(folder / "b.csv", "body,label", [f"a dull film,{neg}", f"a fine film,{pos}"])
    manifest, _ = run_job(ours_bundle, resolve_inputs(folder), JobOptions("evaluate"), tmp_path / "out")
    assert [e.rows for e in manifest.files] == [0, 2] and manifest.text_column == "body"
    # the columns compared with are named after the file that gave them, not an empty first one
    (folder / "0.csv").write_bytes(b"")
    _shard(folder / "c.csv", "body,label,extra", [f"slow,{neg},x"])
    with pytest.raises(DatasetError) as caught:
        run_job(ours_bundle, resolve_inputs(folder), JobOptions("evaluate"), tmp_path / "out2")
    assert f"{folder / 'c.csv'} has other columns" in str(caught.value) and f"than {folder / 'b.csv'}" in str(
        caught.value)


def test_a_bad_shard_fails_before_the_engine_starts(tmp_path, ours_bundle, monkeypatch):
    import explainer.scale.engine as engine

    neg, pos = ours_bundle.label_names[:2]
    folder = tmp_path / "latin1"
    _shard(folder / "a.csv", "text,label", [f"a dull film,{neg}", f"a fine film,{pos}"])
    (folder / "b.csv").write_bytes(f"text,label\ncaf\xe8 noir,{neg}\n".encode("latin-1"))
    monkeypatch.setattr(engine, "_run_local", lambda *a, **k: pytest.fail("the engine ran"))
    with pytest.raises(DatasetError, match=r"b\.csv is not UTF-8"):
        run_job(ours_bundle, resolve_inputs(folder), JobOptions("evaluate"), tmp_path / "out")


@pytest.mark.parametrize("before", [0, 1001])  # in the reader's sample of a file, and found mid-run
def test_unknown_labels_are_said_beside_the_model_s_as_a_file_read_directly_says_them(tmp_path, ours_bundle, before):
    """The engines' message lost its first sentence: which labels the model takes."""
    neg = ours_bundle.label_names[0]
    _shard(tmp_path / "in" / "a.csv", "text,label", [*[f"row {i},{neg}" for i in range(before)], "late,sarcastic"])
    takes = f"The model {ours_bundle.name} takes its label names or ids 0-{len(ours_bundle.label_names) - 1}. "
    with pytest.raises((DatasetError, EngineError)) as caught:
        run_job(ours_bundle, resolve_inputs(tmp_path / "in"), JobOptions("evaluate"), tmp_path / "out")
    assert str(caught.value).startswith(takes) and "sarcastic" in str(caught.value)


def test_an_unreachable_cluster_fails_within_seconds(monkeypatch):
    import socket
    import time

    pytest.importorskip("ray")
    import explainer.scale.engine as engine

    with socket.socket() as probe:  # a port nothing listens on: bound, then freed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr("ray.is_initialized", lambda: False)
    monkeypatch.setattr("ray.init", lambda *a, **k: pytest.fail("ray.init would retry for many minutes"))
    start = time.monotonic()
    with pytest.raises(EngineError, match=rf"cannot reach the Ray cluster at 127\.0\.0\.1:{port}: nothing accepted"):
        engine.connect(f"127.0.0.1:{port}", 2)
    assert time.monotonic() - start < 15
    monkeypatch.setattr(engine, "CONNECT_SECONDS", 0.5)
    start = time.monotonic()  # an address that drops packets (TEST-NET-1) times out instead of refusing
    with pytest.raises(EngineError, match=r"cannot reach the Ray cluster at 192\.0\.2\.1:6379"):
        engine.connect("192.0.2.1:6379", 2)
    assert time.monotonic() - start < 15



def test_an_address_that_accepts_but_is_not_ray_fails_within_seconds(monkeypatch):
    """A port that accepts and stays silent (another service, a proxy) passed the TCP check, and ray.init then
    retried for minutes, deaf to Ctrl-C. A gRPC server answers HTTP/2's preface with a SETTINGS frame."""
    import http.server
    import socket
    import threading
    import time

    pytest.importorskip("ray")
    import explainer.scale.engine as engine

    monkeypatch.setattr("ray.is_initialized", lambda: False)
    monkeypatch.setattr("ray.init", lambda *a, **k: pytest.fail("ray.init would retry for many minutes"))
    monkeypatch.setattr(engine, "CONNECT_SECONDS", 1)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        start = time.monotonic()
        with pytest.raises(EngineError, match=r"accepted a connection but did not answer within 1 s"):
            engine.connect(f"127.0.0.1:{silent.getsockname()[1]}", 2)
        assert time.monotonic() - start < 10
    web = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=web.handle_request, daemon=True).start()
    with pytest.raises(EngineError, match=r"answered, but not as a Ray cluster does"):
        engine.connect(f"127.0.0.1:{web.server_port}", 2)
    web.server_close()
    with socket.socket() as closing:  # accepts, then closes at once: said as such, not as a wait
        closing.bind(("127.0.0.1", 0))
        closing.listen(1)

        def close() -> None:
            peer, _ = closing.accept()
            peer.close()

        threading.Thread(target=close, daemon=True).start()
        with pytest.raises(EngineError, match=r"accepted a connection, then closed it without answering"):
            engine.connect(f"127.0.0.1:{closing.getsockname()[1]}", 2)
    with socket.socket() as grpc_like:  # answers as a gRPC server does: the address passes to ray.init
        grpc_like.bind(("127.0.0.1", 0))
        grpc_like.listen(1)

        def answer() -> None:
            peer, _ = grpc_like.accept()
            with peer:
                peer.recv(len(engine.HTTP2_PREFACE))
                peer.sendall(bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))

        threading.Thread(target=answer, daemon=True).start()
        engine._check_reachable(f"127.0.0.1:{grpc_like.getsockname()[1]}")


def test_ray_client_addresses_are_refused_without_ray_client(monkeypatch):
    import importlib.util

    pytest.importorskip("ray")
    import explainer.scale.engine as engine

    if importlib.util.find_spec("grpc") is not None:
        pytest.skip("Ray Client's grpc is installed here")
    monkeypatch.setattr("ray.is_initialized", lambda: False)
    monkeypatch.setattr("ray.init", lambda *a, **k: pytest.fail("ray.init was called"))
    with pytest.raises(EngineError, match=r"Ray Client \(ray://\) is not installed"):
        engine.connect("ray://127.0.0.1:10001", 2)


def test_a_failed_join_says_the_token_mode_a_ray_start_cluster_needs(monkeypatch):
    """`ray start --head` requires its token, which a driver sends only with RAY_AUTH_MODE=token: the join failed
    after 20 s with Ray's bare 'Failed to connect to Ray cluster', though the README says the token is used."""
    pytest.importorskip("ray")
    import explainer.scale.engine as engine

    def refused(*args, **kwargs):
        raise ConnectionError("Failed to connect to Ray cluster at 192.0.2.2:6391")

    monkeypatch.setattr("ray.is_initialized", lambda: False)
    monkeypatch.setattr("ray.init", refused)
    monkeypatch.setattr(engine, "_check_reachable", lambda address: None)  # something listens there
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    with pytest.raises(EngineError, match=r"Failed to connect .*; is this the head node's GCS address .* not Ray "
                                          r"Client's port 10001\)\? If it is, and the head node holds a Ray token .*"
                                          r"requires it: set RAY_AUTH_MODE=token here"):
        engine.connect("127.0.0.1:6391", 2)
    monkeypatch.setenv("RAY_AUTH_MODE", "token")  # set already: the failure is something else, said as Ray says it
    with pytest.raises(EngineError) as raised:
        engine.connect("127.0.0.1:6391", 2)
    assert "RAY_AUTH_MODE" not in str(raised.value)


@pytest.mark.parametrize("address, error", [
    (None, NotADirectoryError(20, "Not a directory", "/tmp/one.csv/ray")),  # RAY_TMPDIR naming a file
    ("auto", ConnectionError("Could not find any running Ray instance. Please specify the one to connect to.")),
])
def test_a_ray_that_cannot_start_says_so_without_a_token_hint_for_no_cluster(address, error, monkeypatch):
    """A local Ray that could not make its folder ended in a bare "[Errno 20] Not a directory" (never saying that
    Ray failed to start); `--ray-address auto` with no cluster running was sent looking at tokens."""
    pytest.importorskip("ray")
    import explainer.scale.engine as engine

    def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr("ray.is_initialized", lambda: False)
    monkeypatch.setattr("ray.init", failing)
    monkeypatch.setattr(engine, "_check_reachable", lambda address: None)
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    said = "cannot start or join a local Ray" if address is None else "no running Ray cluster was found; start one"
    with pytest.raises(EngineError, match=said) as raised:
        engine.connect(address, 2)
    assert "RAY_AUTH_MODE" not in str(raised.value) and "`--address`" not in str(raised.value)


@pytest.mark.parametrize("address, said", [("http://127.0.0.1:8265", "not a web address such as the dashboard's"),
                                           ("", "--ray-address is empty"),
                                           ("127.0.0.1:99999", "99999 is not a port (1 to 65535)"),
                                           ("localhost", "--ray-address localhost: give the head node's HOST:PORT")])
def test_an_address_of_the_wrong_form_is_said_as_such(address, said):
    """The dashboard's http:// address read as 'nothing accepted a connection ... (Name or service not known)', port
    99999 as 'Connection refused', an empty one (and a host with no port) as Ray's 'Invalid address format: '."""
    pytest.importorskip("ray")
    import explainer.scale.engine as engine

    with pytest.raises(EngineError, match=re.escape(said)):
        engine._check_reachable(address)


def test_auto_with_ray_address_set_names_where_the_address_came_from(monkeypatch):
    """'cannot reach the Ray cluster at auto: nothing accepted a connection to 192.0.2.2:1' named an address the
    user never typed (RAY_ADDRESS's 127.0.0.1, rewritten by Ray to this node's own)."""
    import socket

    pytest.importorskip("ray")
    import explainer.scale.engine as engine

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    with pytest.raises(EngineError, match=rf"at auto \(RAY_ADDRESS=127\.0\.0\.1:{port}, tried as [^)]*:{port}\)"):
        engine._check_reachable("auto")


def test_a_results_folder_keeps_the_note_on_labels_read_as_ids(tmp_path, ours_bundle):
    # integer labels that use fewer of the model's labels than it has: the app says how it read them (the same
    # note a file opened directly gets), so the folder must remember that its labels were ids
    from explainer.data.labelled import label_id_note

    neg = ours_bundle.label_names[0]
    _shard(tmp_path / "ids" / "a.csv", "text,label", ["a dull film,0", "a slow film,0"])
    _shard(tmp_path / "names" / "a.csv", "text,label", [f"a dull film,{neg}", f"a slow film,{neg}"])
    by_id, _ = run_job(ours_bundle, resolve_inputs(tmp_path / "ids"), JobOptions("evaluate"), tmp_path / "out_ids")
    named, _ = run_job(ours_bundle, resolve_inputs(tmp_path / "names"), JobOptions("evaluate"), tmp_path / "out_n")
    assert by_id.labels_by_id and not named.labels_by_id
    read = open_results(tmp_path / "out_ids").labelled_data()
    assert read.labels_by_id and label_id_note(read) == label_id_note(read_dataset(tmp_path / "ids" / "a.csv",
                                                                                  label_names=ours_bundle.label_names))
    assert label_id_note(open_results(tmp_path / "out_n").labelled_data()) is None
    # the notes a run prints come from the manifest and the labels alone, not from every row read back
    assert open_results(tmp_path / "out_ids").notes() == (label_id_note(read),)
    assert open_results(tmp_path / "out_n").notes() == ()


def test_a_run_that_fails_after_moving_its_rows_in_leaves_no_rows_behind(shards, tmp_path, ours_bundle, monkeypatch):
    """A failure between moving the shards in and writing the manifest left rows/ in a folder the user made, which
    every later run refused."""
    from explainer.scale import engine

    out = tmp_path / "made"
    out.mkdir()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(engine, "write_manifest", full_disk)
    with pytest.raises(OSError):
        run_job(ours_bundle, resolve_inputs(shards), JobOptions("evaluate"), out)
    assert out.is_dir() and list(out.iterdir()) == []


def test_a_model_whose_files_change_while_the_job_runs_keeps_no_results(shards, tmp_path, checkpoint, monkeypatch):
    """Ray's workers read the weights mapped from the file: a checkpoint rewritten in place mid-run could mix into
    rows kept under the old fingerprint, with nothing said."""
    from explainer import load_model
    from explainer.scale import engine

    folder = tmp_path / "model"
    shutil.copytree(checkpoint("ours"), folder)
    bundle = load_model(folder, device="cpu")
    run_local = engine._run_local

    def rewritten_midway(*args, **kwargs):
        run_local(*args, **kwargs)
        (folder / "config.json").write_text((folder / "config.json").read_text() + "\n")  # any file of the model

    monkeypatch.setattr(engine, "_run_local", rewritten_midway)
    with pytest.raises(EngineError, match="the model's files in .* changed while the job ran"):
        run_job(bundle, resolve_inputs(shards), JobOptions("evaluate"), tmp_path / "out")
    assert not (tmp_path / "out" / MANIFEST).exists()


def test_ray_data_s_false_hang_warning_is_kept_off_the_console():
    """Every CPU of a local Ray is taken by the actors by design (one each, started first): Ray Data's "The Dataset
    job will hang unless more CPUs are freed up" came just before the job finished. Its other warnings pass."""
    import logging

    pytest.importorskip("ray")
    import explainer.scale.engine as engine

    def record(level: int, message: str) -> logging.LogRecord:
        return logging.LogRecord("ray.data.dataset", level, __file__, 1, message, None, None)

    kept = engine._ConsoleQuiet()
    assert not kept.filter(record(logging.WARNING, "Warning: The Ray cluster currently does not have any available "
                                                   "CPUs. The Dataset job will hang unless more CPUs are freed up."))
    assert not kept.filter(record(logging.ERROR, "a task failed: 150 lines of traceback"))
    assert kept.filter(record(logging.WARNING, "a block is larger than the target size"))
