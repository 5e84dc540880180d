"""The data-set commands' `--engine` and `--out` options: a results folder from `evaluate --out`, the sweep, the
rerun rules, and clear refusals of options that do not go together."""

from __future__ import annotations

import json
import re

import pytest

from explainer.cli.evaluate import main as evaluate
from explainer.cli.markers import main as markers
from explainer.scale.results import open_results
from tests.unit.scale.conftest import write_shards


@pytest.fixture
def shard_folder(tmp_path, bundle):
    return write_shards(tmp_path / "in", bundle("ours").label_names, rows_per_shard=30)


def run(command, argv, capsys) -> tuple[int, str, str]:
    try:
        command(argv)
        code = 0
    except SystemExit as stop:
        code = stop.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_evaluate_out_writes_a_results_folder_and_reuses_it(shard_folder, tmp_path, checkpoint, capsys):
    argv = ["--model", str(checkpoint("ours")), "--data", str(shard_folder), "--out", str(tmp_path / "out")]
    code, out, err = run(evaluate, argv, capsys)
    assert code == 0, err
    payload = json.loads(out)
    assert payload["n"] == 60 and payload["skipped_rows"] == 2 and payload["results"]["engine"] == "local"
    assert payload["results"]["reused"] is False and "skipped line 33: part-0.csv: expected 3 fields, found 1" in err
    assert "62/62" in err  # the bar had its total (every row read, the 2 skipped too), so a percentage and an ETA
    assert not re.search(r"\(local\): \d+row \[", err)  # and from its first line: no "0row [" while counting
    assert open_results(tmp_path / "out").manifest.rows == 60
    code, out, err = run(evaluate, argv, capsys)
    assert code == 0 and json.loads(out)["results"]["reused"] is True and "reused them" in err
    assert "row/s" not in err  # reused: nothing was read, so no progress bar at all
    assert json.loads(out)["accuracy"] == payload["accuracy"]
    code, _, err = run(evaluate, [*argv, "--beacon-threshold", "0.4"], capsys)
    assert code == 2 and "holds the results of another run" in err


def test_an_empty_shard_is_named_and_an_error_comes_under_the_bar(shard_folder, tmp_path, checkpoint, capsys):
    (shard_folder / "part-2.csv").write_bytes(b"")
    argv = ["--model", str(checkpoint("ours")), "--data", str(shard_folder), "--out", str(tmp_path / "out")]
    code, out, err = run(evaluate, argv, capsys)
    assert code == 0, err
    assert json.loads(out)["n"] == 60 and f"note: {shard_folder / 'part-2.csv'} has no usable rows" in err
    for part in ("part-0.csv", "part-1.csv"):
        (shard_folder / part).write_text("text,label\n", encoding="utf-8")
    code, _, err = run(evaluate, [*argv[:-1], str(tmp_path / "none")], capsys)
    assert code == 2 and err.rstrip().endswith(f"error: {shard_folder}: no usable rows in any of its 3 files")


@pytest.mark.parametrize("command", ["evaluate", "map"])
def test_a_cache_that_cannot_be_written_is_said_before_the_pass(command, shard_folder, tmp_path, checkpoint, capsys,
                                                                  monkeypatch):
    """Both read their results back through the cache: evaluate ran the whole pass and then ended in a traceback
    (ResultsError), leaving a finished folder; map said it in one line, after the pass."""
    from explainer.cli.map import main as map_main

    (tmp_path / "a-file").write_text("x")
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "a-file"))
    argv = ["--model", str(checkpoint("ours")), "--data", str(shard_folder), "--out", str(tmp_path / "out")]
    code, _, err = run(evaluate if command == "evaluate" else map_main, argv, capsys)
    assert code == 2 and "its results are read through the cache, but the cache folder" in err, err
    assert "row/s" not in err and "Traceback" not in err and not (tmp_path / "out").exists()


def test_evaluate_sweep_into_a_results_folder(shard_folder, tmp_path, checkpoint, capsys):
    argv = ["--model", str(checkpoint("ours")), "--data", str(shard_folder / "part-1.csv"), "--sweep-tau",
            "--out", str(tmp_path / "sweep")]
    code, out, err = run(evaluate, argv, capsys)
    assert code == 0, err
    payload = json.loads(out)
    assert payload["n"] == 30 and len(payload["points"]) >= 21 and payload["results"]["rows"] == 30
    assert payload["points"][0]["tau"] == 0.0 and payload["points"][0]["skip_rate"] == 0.0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--engine", "ray"], "--engine ray needs --out DIR"),
        (["--ray-address", "auto"], "--ray-address needs --engine ray"),
        (["--out", "OUT", "--model", "SECOND"], "take one --model"),
        # Ray's "Resource quantities must be at most 1e14 ... 'CPU'" named no option
        (["--engine", "ray", "--out", "OUT", "--workers", "9" * 20], "--workers: must be at most 100,000"),
        # a local Ray started every one of them: 80 model copies (7.9 GB) in the first minute on 2 cores
        (["--engine", "ray", "--out", "OUT", "--workers", "100000"], "or join a cluster with --ray-address"),
    ],
)
def test_options_that_do_not_go_together_are_refused(extra, message, shard_folder, tmp_path, checkpoint, capsys):
    extra = [str(tmp_path / "o") if e == "OUT" else str(checkpoint("bert")) if e == "SECOND" else e for e in extra]
    code, _, err = run(evaluate, ["--model", str(checkpoint("ours")), "--data", str(shard_folder), *extra], capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_a_folder_of_shards_without_the_scale_options_says_how(shard_folder, checkpoint, capsys):
    code, _, err = run(evaluate, ["--model", str(checkpoint("ours")), "--data", str(shard_folder)], capsys)
    assert code == 2 and "is a folder" in err and "--out DIR" in err  # the local engine reads shards too (0f58ad5)
    code, _, err = run(markers, ["--model", str(checkpoint("ours")), "--data", "/no/such/*.csv", "--out", "x",
                                 "--engine", "ray"], capsys)
    assert code == 2 and "no labelled data file matches" in err


@pytest.mark.parametrize("command", ["map", "markers"])
def test_map_and_markers_read_a_folder_or_glob_on_the_local_engine(command, shard_folder, tmp_path, checkpoint,
                                                                    capsys):
    """Their --out is always given, yet a folder or glob was refused as needing '--out DIR' (only --engine ray read
    one): the local engine reads them, as for evaluate --out."""
    from explainer.cli.map import main as map_main

    main, extra = {"map": (map_main, []), "markers": (markers, ["--no-forced-effect"])}[command]
    for index, data in enumerate((str(shard_folder), str(shard_folder / "*.csv"))):
        argv = ["--model", str(checkpoint("ours")), "--data", data, "--out", str(tmp_path / f"out{index}"), *extra]
        code, out, err = run(main, argv, capsys)
        assert code == 0, err
        assert json.loads(out)["results"]["engine"] == "local" and "skipped line 32: part-0.csv: empty text" in err


def test_help_offers_only_addresses_that_work(capsys):
    code, out, _ = run(evaluate, ["--help"], capsys)
    assert code == 0 and "--ray-address" in out and "HOST:PORT" in out and "ray://" not in out


def test_an_unreachable_ray_address_fails_in_seconds(shard_folder, tmp_path, checkpoint, capsys):
    import socket
    import time

    pytest.importorskip("ray")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    code, _, err = run(evaluate, ["--model", str(checkpoint("ours")), "--data", str(shard_folder), "--engine", "ray",
                                  "--ray-address", f"127.0.0.1:{port}", "--out", str(tmp_path / "o")], capsys)
    assert time.monotonic() - start < 15
    assert code == 2 and f"cannot reach the Ray cluster at 127.0.0.1:{port}" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("ray_exit, seen", [(15, False), (1, True), ("engine", True)])
def test_a_sigterm_that_ray_turns_into_its_own_exit_is_said_as_terminated(shard_folder, tmp_path, checkpoint,
                                                                          monkeypatch, ray_exit, seen):
    """SIGTERM during ray.init (Ray's handler: sys.exit(15)) or while the actor pool starts (Ray turns our
    Terminated into SystemExit(1)) ended the command with status 15 or 1 and no word."""
    from explainer.cli import common
    from explainer.scale import engine

    def stopped(*args, **kwargs):
        common.SIGTERM_SEEN = seen  # as explainer/__main__.py's handler sets it
        if ray_exit == "engine":  # Ray wrapped it in a worker's error
            raise engine.EngineError("the Ray job failed: Terminated")
        raise SystemExit(ray_exit)

    monkeypatch.setattr(common, "SIGTERM_SEEN", False)
    monkeypatch.setattr(engine, "run_job", stopped)
    with pytest.raises(common.Terminated) as raised:
        evaluate(["--model", str(checkpoint("ours")), "--data", str(shard_folder), "--out", str(tmp_path / "o")])
    assert raised.value.code == 143
    monkeypatch.setattr(common, "SIGTERM_SEEN", False)
    monkeypatch.setattr(engine, "run_job", lambda *a, **k: (_ for _ in ()).throw(SystemExit(1)))  # no SIGTERM
    with pytest.raises(SystemExit) as raised:
        evaluate(["--model", str(checkpoint("ours")), "--data", str(shard_folder), "--out", str(tmp_path / "o")])
    assert not isinstance(raised.value, common.Terminated) and raised.value.code == 1


def test_a_workers_error_after_ctrl_c_is_said_as_interrupted(shard_folder, tmp_path, checkpoint, monkeypatch):
    """Ctrl+C as workers read the model once ended in "error: Adapter checkpoint ... is damaged" (exit 2): the
    worker's error, caused by the interruption, reached the command first."""
    from explainer.cli import common
    from explainer.scale import engine

    def interrupted(*args, **kwargs):
        common.SIGINT_SEEN = True  # as explainer/__main__.py's SIGINT handler sets it
        raise engine.EngineError("Adapter checkpoint x is damaged or does not fit its base")

    monkeypatch.setattr(common, "SIGINT_SEEN", False)
    monkeypatch.setattr(engine, "run_job", interrupted)
    with pytest.raises(KeyboardInterrupt):
        evaluate(["--model", str(checkpoint("ours")), "--data", str(shard_folder), "--out", str(tmp_path / "o")])
    monkeypatch.setattr(common, "SIGINT_SEEN", False)
    monkeypatch.setattr(engine, "run_job", lambda *a, **k: (_ for _ in ()).throw(engine.EngineError("broken")))
    with pytest.raises(SystemExit) as raised:  # no Ctrl+C: the error is said
        evaluate(["--model", str(checkpoint("ours")), "--data", str(shard_folder), "--out", str(tmp_path / "o")])
    assert raised.value.code == 2


def test_markers_on_the_engine_says_which_rows_were_read_only_in_part(tmp_path, checkpoint, capsys):
    """A file run said "1 row holds more tokens than ... reads"; a folder of shards said nothing."""
    folder = tmp_path / "shards"
    folder.mkdir()
    rows = ["a fine film,pos", "a dull film,neg", " ".join(["a long and winding film"] * 200) + ",pos"]
    (folder / "part-0.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
    code, _, err = run(markers, ["--model", str(checkpoint("ours")), "--data", str(folder), "--out",
                                 str(tmp_path / "out"), "--no-forced-effect"], capsys)
    assert code == 0 and "1 row holds more tokens than" in err and "first on line 4)" in err, err


def test_a_quoted_tilde_out_is_read_back_from_where_it_was_written(shard_folder, tmp_path, checkpoint, capsys,
                                                                   monkeypatch):
    """`--out '~/r'`: the folder was made at ./~/r, as typed, but pyarrow wrote its shards under $HOME/r ("Failed to
    open local file"), and the results were read back from $HOME/r (another run's, printed as this one's)."""
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    model = ["--model", str(checkpoint("ours"))]
    code, _, err = run(evaluate, [*model, "--data", str(shard_folder), "--out", str(home / "r"),
                                  "--beacon-threshold", "0.9"], capsys)  # another run's results at $HOME/r
    assert code == 0, err
    code, out, err = run(evaluate, [*model, "--data", str(shard_folder), "--out", "~/r"], capsys)
    assert code == 0, err
    assert (work / "~" / "r" / "manifest.json").is_file() and json.loads(out)["results"]["reused"] is False
    assert open_results(work / "~" / "r").manifest.options["beacon_threshold"] is None
    code, out, err = run(evaluate, [*model, "--data", str(shard_folder), "--out", "~/r"], capsys)  # checked, reused
    assert code == 0 and json.loads(out)["results"]["reused"] is True, err
    assert sorted(p.name for p in home.iterdir()) == ["r"]  # nothing of it written there


def test_naming_the_column_a_reused_run_guessed_drops_the_note_to_name_it(tmp_path, checkpoint, capsys):
    """A folder whose run guessed the text column "body", reused by `--text-column body`, still said "name it
    (--text-column)"."""
    folder = tmp_path / "in"
    folder.mkdir()
    for part in range(2):
        (folder / f"p{part}.csv").write_text("body,label\na fine warm film,pos\na dull flat film,neg\n")
    argv = ["--model", str(checkpoint("ours")), "--data", str(folder), "--out", str(tmp_path / "out")]
    code, _, err = run(evaluate, argv, capsys)
    assert code == 0 and "the texts were read from column 'body'" in err, err
    code, out, err = run(evaluate, [*argv, "--text-column", "body"], capsys)
    assert code == 0 and json.loads(out)["results"]["reused"] is True, err
    assert "the texts were read from column" not in err


def test_more_workers_than_cpus_on_a_local_ray_are_said():
    """A local Ray is sized for --workers, so the cluster-CPU note never fired: 5 actors on 2 cores took 3 GB."""
    from explainer.scale.engine import EngineError, check_local_workers

    assert check_local_workers(2, 2) is None
    assert check_local_workers(5, 2).startswith("note: --workers 5 on a local Ray: this machine has 2 CPUs and each")
    assert check_local_workers(8, 2) is not None
    with pytest.raises(EngineError, match="--workers 9 on a local Ray would start 9 processes .* give at most 8"):
        check_local_workers(9, 2)


@pytest.mark.parametrize("command", ["map", "markers"])
def test_an_engine_run_goes_into_a_folder_of_the_same_command_s_own_outputs(command, shard_folder, tmp_path,
                                                                            checkpoint, capsys):
    """A map (or dictionary) of one file, then of a folder of shards into the same --out: the engine run was refused
    as a folder that "holds no results (likely_mislabelled.csv, neighbours.parquet, points.parquet)", though the
    other order is taken. Another file there is still refused."""
    from explainer.cli.map import main as map_main

    main, extra = {"map": (map_main, []), "markers": (markers, ["--no-forced-effect"])}[command]
    out = tmp_path / "out"
    base = ["--model", str(checkpoint("ours")), "--out", str(out), *extra]
    code, _, err = run(main, [*base, "--data", str(shard_folder / "part-1.csv")], capsys)
    assert code == 0, err
    code, printed, err = run(main, [*base, "--data", str(shard_folder)], capsys)
    assert code == 0 and json.loads(printed)["results"]["engine"] == "local", err
    assert (out / "manifest.json").is_file()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    code, _, err = run(main, [*base[:3], str(mine), *extra, "--data", str(shard_folder)], capsys)
    assert code == 2 and "not empty and holds no results (notes.txt)" in err
