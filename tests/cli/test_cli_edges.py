"""Edges of the command line found by a user's-eye pass: text a shell cannot decode, options that did nothing
without a word, outputs checked before the work, help that says what each option does, and one way to load a
model everywhere (--allow-pickle on every command that loads one)."""

from __future__ import annotations

import argparse
import json
import re

import pytest

from explainer.cli import COMMANDS, attribute, challenge, evaluate, model_card, report, trace
from explainer.cli.common import describe, load_cli_model
from explainer.data import challenge as challenge_data

UNDECODABLE = "great \udcff film"  # how Python hands a shell argument's byte 0xff to the program (surrogateescape)


def outcome(command, argv, capsys) -> tuple[int, str, str]:
    try:
        code = command.main(argv) or 0
    except SystemExit as stop:
        code = int(stop.code)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("command", [trace, attribute, report])
def test_text_a_shell_could_not_decode_is_refused_in_one_line(command, tmp_path, capsys):
    argv = {trace: [], attribute: ["--method", "saliency"], report: ["--out", str(tmp_path / "r.html")]}[command]
    code, _, err = outcome(command, ["--text", UNDECODABLE, *argv], capsys)
    assert code == 2 and "not valid Unicode at character 7" in err and "Traceback" not in err


def test_a_data_row_with_an_unpaired_surrogate_is_skipped_not_fatal(checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "rows.jsonl"
    rows = [{"text": "\\ud800 a good film", "label": "pos"}, {"text": "a fine film", "label": "pos"},
            {"text": "a dull film", "label": "neg"}]
    path.write_text("\n".join(json.dumps(r).replace("\\\\ud800", "\\ud800") for r in rows) + "\n")
    code, out, err = outcome(evaluate, ["--model", str(checkpoint("bert")), "--data", str(path)], capsys)
    assert code == 0, err
    assert "skipped line 1: text is not valid Unicode" in err and json.loads(out)["skipped_rows"] == 1


def test_report_refuses_a_layer_or_head_the_model_lacks_and_a_link_that_is_not_http(checkpoint, tmp_path, capsys):
    model, out = str(checkpoint("bert")), str(tmp_path / "r.html")
    for options, complaint in (
        (["--layer", "9"], "--layer 9 is out of range"),
        (["--layer", "-1"], "--layer -1 is out of range"),
        (["--head", "99"], "--head 99 is out of range"),
        (["--app-url", "javascript:alert(1)"], "--app-url must be an http:// or https:// address"),
    ):
        code, _, err = outcome(report, ["--model", model, "--text", "good", "--out", out, *options], capsys)
        assert code == 2 and complaint in err, (options, err)
    assert not (tmp_path / "r.html").exists()


def test_report_says_tau_does_nothing_on_a_baseline_twin_without_beacons(checkpoint, tmp_path, capsys):
    out = tmp_path / "r.html"
    code, _, err = outcome(
        report, ["--model", str(checkpoint("baseline")), "--text", "good", "--pages", "overview", "--tau", "0.5",
                 "--out", str(out)], capsys,
    )
    assert code == 0 and "has no activation beacons; --tau changes nothing" in err and out.is_file()


def test_report_says_which_options_no_chosen_page_reads(checkpoint, tmp_path, capsys):
    out = tmp_path / "r.html"
    code, _, err = outcome(
        report, ["--model", str(checkpoint("baseline")), "--text", "good", "--pages", "overview", "--method",
                 "saliency", "--statistic", "entropy", "--head", "1", "--out", str(out)], capsys,
    )
    assert code == 0 and out.is_file()
    assert "note: --method is read by the attribution page, which --pages leaves out" in err
    assert "--statistic" not in err and "--head" not in err  # a default, and an option the overview reads


def test_an_unwritable_output_fails_before_the_model_is_loaded(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("explainer.loading.bundle.load_model",
                        lambda *a, **k: pytest.fail("the model was loaded before the output was checked"))
    (tmp_path / "a-file").write_text("x")
    code, _, err = outcome(report, ["--text", "good", "--out", str(tmp_path / "a-file" / "r.html")], capsys)
    assert code == 2 and "cannot write to" in err


@pytest.mark.parametrize(
    "argv, complaint",
    [
        (["--sweep-tau", "--predictions-out", "p.csv"], "--sweep-tau goes without --predictions-out"),
        (["--sweep-tau", "--no-cache", "--beacon-threshold", "0.5"],
         "--sweep-tau goes without --beacon-threshold, --no-cache"),
        (["--workers", "3"], "--workers needs --engine ray"),
        (["--threads", "2", "--ray-address", "auto"], "--ray-address, --threads need --engine ray"),
    ],
)
def test_options_that_would_be_ignored_are_refused(tmp_path, capsys, argv, complaint):
    data = tmp_path / "d.csv"
    data.write_text("text,label\na fine film,pos\n")
    code, _, err = outcome(evaluate, ["--data", str(data), *argv], capsys)
    assert code == 2 and complaint in err


def test_the_graph_says_baseline_and_samples_do_not_apply(checkpoint, capsys):
    code, out, err = outcome(
        attribute, ["--model", str(checkpoint("bert")), "--text", "a fine film", "--method", "graph",
                    "--baseline", "mask", "--steps", "2"], capsys,
    )
    assert code == 0 and "--baseline and --samples do not apply to the graph" in err and json.loads(out)["edges"]


def test_challenge_will_not_overwrite_the_shipped_set_with_another_seed(capsys):
    shipped = challenge_data.DEFAULT_PATH.read_bytes()
    code, _, err = outcome(challenge, ["--seed", "7"], capsys)
    assert code == 2 and "give --out FILE" in err and challenge_data.DEFAULT_PATH.read_bytes() == shipped


def test_a_file_given_as_a_model_folder_is_called_a_file(tmp_path, capsys):
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"\0" * 8)
    code, _, err = outcome(trace, ["--model", str(weights), "--text", "hi"], capsys)
    assert code == 2 and "is a file, not a model folder" in err
    code, _, err = outcome(trace, ["--model", "/dev/null", "--text", "hi"], capsys)  # there: not "not found"
    assert code == 2 and "/dev/null is a file, not a model folder" in err


def test_model_card_says_what_it_wrote(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(model_card, "write_card", lambda folder, name, metrics: None)
    (tmp_path / "metrics.json").write_text("{}")
    code, out, _ = outcome(model_card, [str(tmp_path)], capsys)
    assert code == 0 and f"wrote {tmp_path / 'README.md'}" in out


def test_descriptions_are_whole_sentences_and_every_option_has_help():
    assert describe('"""`python -m x y --a`: ablate every head of a model\non one text.\n\nMore."""'.strip('"')) == (
        "Ablate every head of a model on one text."
    )
    assert describe("`python -m x map --out DIR`\n\nMap a file: points.") == "Map a file: points."
    for name in ("map", "evaluate", "markers", "counterfactual", "attribute", "report", "challenge", "model-card"):
        parser = _parser_of(name)
        for action in parser._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help, f"{name} {action.option_strings or action.dest} has no help"


def test_every_command_that_loads_a_model_takes_allow_pickle():
    for name in ("trace", "attribute", "counterfactual", "patch", "ablate", "evaluate", "map", "markers", "report"):
        assert "--allow-pickle" in _parser_of(name).format_help(), name


def _parser_of(name: str) -> argparse.ArgumentParser:
    """The command's parser, caught where its main() would parse (commands build their parser inside main)."""
    captured: list[argparse.ArgumentParser] = []

    class Caught(Exception):
        pass

    original = argparse.ArgumentParser.parse_args

    def catch(self, *args, **kwargs):
        captured.append(self)
        raise Caught

    argparse.ArgumentParser.parse_args = catch
    try:
        _module(name).main([])
    except Caught:
        pass
    finally:
        argparse.ArgumentParser.parse_args = original
    return captured[0]


def _module(name: str):
    import importlib

    return importlib.import_module(f"explainer.cli.{COMMANDS[name][0]}")


def test_attribute_says_which_given_options_a_method_does_not_use(checkpoint, capsys):
    model = str(checkpoint("bert"))
    code, _, err = outcome(attribute, ["--model", model, "--text", "a fine film", "--method", "rollout", "--target",
                                       "1", "--baseline", "mask"], capsys)
    assert code == 0 and "note: rollout does not use --baseline, --target" in err
    code, _, err = outcome(attribute, ["--model", model, "--text", "a fine film", "--method", "lime", "--steps", "3",
                                       "--samples", "20"], capsys)
    assert code == 0 and "note: lime does not use --steps" in err and "--samples" not in err
    code, _, err = outcome(attribute, ["--model", model, "--text", "a fine film", "--method",
                                       "integrated_gradients", "--baseline", "mask", "--steps", "4"], capsys)
    assert code == 0 and "note:" not in err
    code, _, err = outcome(attribute, ["--model", model, "--text", "a fine film", "--method", "saliency",
                                       "--threshold", "0.5"], capsys)  # the graph's alone: it passed in silence
    assert code == 0 and "note: saliency does not use --threshold" in err


def test_ig_steps_beyond_the_cap_are_run_and_an_absurd_count_refused(checkpoint, capsys):
    """--steps 1000 was cut to 255 path points in silence; 100000000 too."""
    model = str(checkpoint("bert"))
    code, out, _ = outcome(attribute, ["--model", model, "--text", "a fine film", "--method", "integrated_gradients",
                                       "--steps", "300"], capsys)
    assert code == 0 and json.loads(out)["steps"] == 301  # 300 intervals (even already): 301 points
    code, _, err = outcome(attribute, ["--model", model, "--text", "a fine film", "--method", "integrated_gradients",
                                       "--steps", "100000000"], capsys)
    assert code == 2 and "--steps: must be at most 4096, got 100000000" in err


def test_an_error_during_a_progress_bar_gets_a_line_of_its_own(capsys):
    import sys

    from tqdm.auto import tqdm

    from explainer.cli.common import fail

    with pytest.raises(SystemExit), tqdm(desc="evaluate (local)", unit="row", file=sys.stderr) as bar:
        bar.update(0)
        fail("b.csv is empty")
    lines = capsys.readouterr().err.replace("\r", "\n").splitlines()
    assert "error: b.csv is empty" in lines  # not glued to the end of the bar's line


def test_a_progress_bar_is_drawn_only_once_there_is_progress_to_show(capsys):
    """A map read from a results folder counts no texts: its bar drew an empty "map: 0text" at once."""
    from explainer.cli.common import progress_bar

    with progress_bar("map", "text"):
        pass
    assert capsys.readouterr().err == ""
    with progress_bar("map", "text") as progress:
        progress.stage("Projecting 9 points with PCA…")
    drawn = capsys.readouterr().err
    assert "map: Projecting 9 points with PCA…" in drawn and "map: 0text" not in drawn
    with progress_bar("map", "text") as progress:  # a stage, then counts
        progress.stage("Reading…")
        progress(4, 8)
    assert "4/8" in capsys.readouterr().err
    with progress_bar("map", "text") as progress:
        progress(9, 9)  # a map's cached vectors: all done at once
    drawn = capsys.readouterr().err
    # "map: 0text", not "0text": the rate ("629145.60text/s") may end in a 0
    assert "9/9" in drawn and "map: 0text" not in drawn


def test_a_glob_without_out_says_how_shards_are_read(capsys, tmp_path):
    from explainer.cli.evaluate import main as evaluate_main

    with pytest.raises(SystemExit):
        evaluate_main(["--data", str(tmp_path / "shards" / "*.csv")])
    assert "a glob of shards is read by evaluate, map and markers with --out DIR" in capsys.readouterr().err


@pytest.mark.parametrize(("engine", "as_program"), [("ray", True), ("ray", False), ("local", True)])
def test_a_ray_job_keeps_stdout_for_the_json_alone(engine, as_program, tmp_path, monkeypatch):
    """Ray prints cluster events from its own threads at any moment; with --engine ray `python -m explainer` sends
    all of it to stderr (tests/unit/scale/test_ray_engine.py checks that a real event lands there). The local
    engine, and a command called in-process (a notebook), leave stdout as it is."""
    from explainer.cli import common, engine_options
    from explainer.scale import engine as scale_engine

    monkeypatch.setattr(common, "RUN_AS_PROGRAM", as_program)

    calls: list[str] = []
    monkeypatch.setattr(engine_options, "stdout_for_json_only", lambda: calls.append("stdout kept"))

    def job_that_fails(*args, **kwargs):
        calls.append("job")
        raise scale_engine.EngineError("stopped here")

    monkeypatch.setattr(scale_engine, "run_job", job_that_fails)
    data = tmp_path / "rows.csv"
    data.write_text("text,label\na fine film,pos\n")
    args = argparse.Namespace(engine=engine, data=str(data), ray_address=None, workers=None, threads=None)
    job = argparse.Namespace(kind="evaluate")  # run_job never sees it: stopped above
    with pytest.raises(SystemExit):
        engine_options.run_engine_job(args, None, job, str(tmp_path / "out"))
    assert calls == (["stdout kept", "job"] if engine == "ray" and as_program else ["job"])


def test_after_a_ray_command_in_process_the_next_stdout_gets_the_json(monkeypatch):
    """A command run in-process (tests, a notebook) swaps stdout for the rest of the process; a harness that sets
    sys.stdout afresh (pytest between tests) must get the next command's JSON, not the first one's stream."""
    import io
    import sys

    from explainer.cli import common

    first, first_err, second = io.StringIO(), io.StringIO(), io.StringIO()
    monkeypatch.setattr(common, "_json_swap", None)
    monkeypatch.setattr(sys, "stdout", first)
    monkeypatch.setattr(sys, "stderr", first_err)
    common.stdout_for_json_only()
    print("(raylet) a worker died")  # what Ray prints from its threads
    common.print_json({"run": 1})
    assert json.loads(first.getvalue()) == {"run": 1} and "(raylet)" in first_err.getvalue()
    monkeypatch.setattr(sys, "stdout", second)  # the next test's capture
    common.print_json({"run": 2})
    assert json.loads(second.getvalue()) == {"run": 2} and json.loads(first.getvalue()) == {"run": 1}


def test_the_writability_probe_removes_the_folders_it_made_also_through_dotdot(tmp_path):
    """A folder made on the way to "new/../out" stayed: rmdir("new/..") failed and stopped the clean-up."""
    from explainer.cli.common import check_output_file, check_output_folder

    check_output_folder(tmp_path / "new" / ".." / "out")
    check_output_file(tmp_path / "made" / ".." / "deeper" / "r.html")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_output_through_a_link_leading_nowhere_says_so(tmp_path, capsys):
    """A dangling link or a link loop as --out, or on the way to an output, was "cannot write to out: File exists"."""
    from explainer.cli.common import check_output_file, check_output_folder

    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    for name, reason in (("dangling", "No such file or directory"), ("loop", "Too many levels of symbolic links")):
        link = tmp_path / name
        for check, path in ((check_output_folder, link), (check_output_folder, link / "sub"),
                            (check_output_file, link / "flips.jsonl"), (check_output_file, link / "sub" / "r.html")):
            with pytest.raises(SystemExit):
                check(path)
            said = capsys.readouterr().err
            assert f"cannot write to {path}: {link} is a link that leads nowhere ({reason})" in said, said


def test_out_of_memory_while_loading_is_a_one_line_error(capsys, monkeypatch):
    """The probe pass lets out of memory through (the machine's state, not a broken model); the CLI printed it as
    a traceback."""
    import torch

    def short_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr("explainer.loading.bundle.load_model", short_of_memory)
    code, _, err = outcome(trace, ["--text", "good"], capsys)
    assert code == 2 and err.startswith("error: out of memory while loading the default model: CUDA out of memory.")
    assert "Traceback" not in err


def test_out_of_memory_said_in_a_plain_runtime_error_is_a_one_line_error_too(capsys, monkeypatch):
    """MPS says it as RuntimeError("MPS backend out of memory ..."): it was a traceback."""
    def short_of_memory(*args, **kwargs):
        raise RuntimeError("MPS backend out of memory (MPS allocated: 8.00 GB). Tried to allocate 2.00 GiB")

    monkeypatch.setattr("explainer.loading.bundle.load_model", short_of_memory)
    code, _, err = outcome(trace, ["--text", "good"], capsys)
    assert code == 2 and err.startswith("error: out of memory while loading the default model: MPS backend out of")


def test_a_runtime_error_that_is_not_out_of_memory_is_not_called_so(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("size mismatch")

    monkeypatch.setattr("explainer.loading.bundle.load_model", broken)
    with pytest.raises(RuntimeError, match="size mismatch"):
        load_cli_model(None)


@pytest.mark.parametrize("family", ["baseline", "bert"])
@pytest.mark.parametrize("command", ["evaluate", "map"])
def test_a_tau_for_a_model_without_beacons_is_said_to_change_nothing(command, family, checkpoint, tmp_path, capsys,
                                                                    monkeypatch):
    """evaluate and map took --beacon-threshold for a baseline twin or another family in silence, their output
    reading as if it had been applied (report said so already)."""
    from explainer.cli import map as map_command

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "".join(f"text {i},{i % 2}\n" for i in range(6)))
    argv = ["--model", str(checkpoint(family)), "--data", str(data), "--beacon-threshold", "0.5"]
    if command == "map":
        argv += ["--out", str(tmp_path / "map"), "--method", "pca", "--neighbours", "2"]
    code, _, err = outcome(evaluate if command == "evaluate" else map_command, argv, capsys)
    assert code == 0, err
    assert "has no activation beacons; --beacon-threshold changes nothing" in err


def test_a_tau_for_a_model_with_beacons_gets_no_such_note(checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "d.csv"
    data.write_text("text,label\na good film,1\na bad film,0\n")
    code, _, err = outcome(evaluate, ["--model", str(checkpoint("ours")), "--data", str(data),
                                      "--beacon-threshold", "0.5"], capsys)
    assert code == 0 and "changes nothing" not in err, err


@pytest.mark.parametrize("name", ["", "  "])
def test_an_empty_model_name_is_refused_not_read_as_the_current_folder(name, capsys):
    # `--model ""` said ". has no config.json: it is not a Hugging Face model folder"
    from explainer.cli import trace

    with pytest.raises(SystemExit) as exit_:
        trace.main(["--model", name, "--text", "hi"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--model is empty" in err and "config.json" not in err


@pytest.mark.parametrize(("command", "flag"), [("counterfactual", "--out"), ("evaluate", "--predictions-out")])
def test_an_output_that_is_the_data_file_is_refused_before_any_work(command, flag, tmp_path, capsys):
    """counterfactual --data rows.csv --out rows.csv replaced the labelled file with JSONL lines (rc 0)."""
    import importlib

    data = tmp_path / "rows.csv"
    data.write_text("text,label\na fine film,positive\na dull film,negative\n")
    (tmp_path / "link.csv").symlink_to(data)
    (tmp_path / "sub").mkdir()
    for out in (data, tmp_path / "link.csv", tmp_path / "sub" / ".." / "rows.csv"):
        with pytest.raises(SystemExit) as exit_:
            importlib.import_module(f"explainer.cli.{command}").main(
                ["--model", "/nowhere", "--data", str(data), flag, str(out)])
        assert exit_.value.code == 2 and "is the --data file" in capsys.readouterr().err, out
    assert data.read_text().startswith("text,label\n")


def test_report_refuses_a_tau_its_link_could_not_open(tmp_path, capsys):
    """The report's link opens the Beacons page, whose slider moves in hundredths: --tau 0.306 would open at 0.31."""
    code, _, err = outcome(report, ["--text", "good", "--tau", "0.306", "--out", str(tmp_path / "r.html")], capsys)
    assert code == 2 and "--tau 0.306 is not in hundredths" in err and not (tmp_path / "r.html").exists()


def test_a_warning_during_a_progress_bar_gets_a_line_of_its_own(checkpoint, tmp_path, capsys, monkeypatch):
    """"results are not kept between runs: the cache folder ... cannot be written" was printed inside the bar's
    line ("320/420 [00:00<00:00]results are not kept ...")."""
    from explainer.cli import main
    from explainer.data import disk_cache

    (tmp_path / "a-file").write_text("x")
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "a-file"))
    monkeypatch.setattr(disk_cache, "_unwritable_said", set())
    data = tmp_path / "rows.csv"
    data.write_text("text,label\n" + "".join(f"film {i},{'pos' if i % 2 else 'neg'}\n" for i in range(40)))
    assert main(["evaluate", "--model", str(checkpoint("ours")), "--data", str(data), "--json"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"[\r\n]results are not kept between runs: the cache folder .* folder that can be\n", err), err


def test_an_output_beside_a_quoted_tilde_data_path_is_still_the_data_file(tmp_path, monkeypatch, capsys):
    """`--data '~/d.csv'` (quoted: read from home) with `--out ~/d.csv` (the shell's): the same-file guard looked for
    ./~/d.csv, passed, and the output replaced the data set."""
    from explainer.cli.common import check_output_file

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "d.csv").write_text("text,label\na,pos\n")
    with pytest.raises(SystemExit):
        check_output_file(str(tmp_path / "d.csv"), "~/d.csv")
    assert "is the --data file" in capsys.readouterr().err


@pytest.mark.parametrize("name, argv", [
    ("map", ["--data", "d.csv", "--out", ""]), ("markers", ["--data", "d.csv", "--out", ""]),
    ("evaluate", ["--data", "d.csv", "--out", ""]), ("evaluate", ["--data", "d.csv", "--predictions-out", ""]),
    ("counterfactual", ["--data", "d.csv", "--out", ""]), ("report", ["--text", "x", "--out", ""]),
    ("evaluate", ["--data", ""]), ("counterfactual", ["--data", ""]), ("challenge", ["--out", ""]),
    ("model_card", [""]),
])
def test_an_empty_path_is_refused_before_any_work(name, argv, tmp_path, capsys, monkeypatch):
    """Path("") is the current folder: `map --out "$OUT"` with OUT unset wrote its files there, `markers` and
    `evaluate` called it "--out ." and `counterfactual --out ""` wrote nothing without a word."""
    import importlib

    monkeypatch.chdir(tmp_path)
    code, _, err = outcome(importlib.import_module(f"explainer.cli.{name}"), argv, capsys)
    assert code == 2 and "is empty: give a path" in err and list(tmp_path.iterdir()) == []
