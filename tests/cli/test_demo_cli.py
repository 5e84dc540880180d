"""The CLI under EXPLAINER_DEMO takes only what the demo config offers, like the app: the probe list of paths and
model names is refused before anything is read or fetched, with a message that quotes no file."""

from __future__ import annotations

from pathlib import Path

import pytest

from explainer.cli import ablate, attribute, counterfactual, evaluate, markers, patch, report, trace
from explainer.cli import map as map_cli

SECRET = "root:x:0:0:the-secret-first-line"


@pytest.fixture
def demo(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / "rows.csv").write_text("text,label\na fine film,positive\na dull film,negative\n")
    secret = tmp_path / "shadow"
    secret.write_text(SECRET + "\n")
    (data / "leak.csv").symlink_to(secret)
    config = tmp_path / "demo.toml"
    config.write_text('[[models]]\nname = "sst2-baseline"\n[[data]]\nname = "rows"\npath = "data"\n')
    monkeypatch.setenv("EXPLAINER_DEMO", str(config))
    return tmp_path, secret


@pytest.mark.parametrize(
    "data",
    ["{secret}", "/etc/passwd", "{root}/data/../shadow", "{root}/data/leak.csv", "rows/leak.csv", "file:///etc/passwd",
     "~/.bashrc", "~root/x"],
)
def test_data_outside_the_roots_is_refused(demo, capsys, data):
    root, secret = demo
    with pytest.raises(SystemExit) as exit_:
        evaluate.main(["--data", data.format(root=root, secret=secret), "--json"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Offered data sets: rows/rows.csv" in err and SECRET not in err and "root:x" not in err


REST = {  # what each command needs besides --model
    trace: ["--text", "hi"],
    attribute: ["--text", "hi", "--method", "saliency"],
    ablate: ["--text", "hi"],
    patch: ["--clean", "a fine film", "--corrupted", "a dull film"],
    counterfactual: ["--text", "hi"],
    report: ["--text", "hi", "--out", "{root}/r.html"],
    markers: ["--data", "rows/rows.csv", "--out", "{root}/m"],
    map_cli: ["--data", "rows/rows.csv", "--out", "{root}/map"],
    evaluate: ["--data", "rows/rows.csv", "--out", "{root}/ev"],
}


@pytest.mark.parametrize("model", ["/etc", "bert-base-uncased", "org/model", "../assets/models/sst2-baseline"])
@pytest.mark.parametrize("command", list(REST), ids=lambda c: c.__name__.rsplit(".", 1)[-1])
def test_models_not_offered_are_refused_before_loading(demo, capsys, model, command):
    root, _ = demo
    argv = ["--model", model, *(arg.format(root=root) for arg in REST[command])]
    with pytest.raises(SystemExit) as exit_:
        command.main(argv)
    assert exit_.value.code == 2
    said = capsys.readouterr().err
    assert "is not offered by this demo (--model takes an offered name); offered: sst2-baseline" in said
    assert said.startswith("error: a model path is" if model in ("/etc", "../assets/models/sst2-baseline")
                           else f"error: model '{model}' is"), said


def test_a_broken_demo_config_stops_the_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EXPLAINER_DEMO", str(tmp_path / "missing.toml"))
    with pytest.raises(SystemExit) as exit_:
        trace.main(["--text", "hi"])
    assert exit_.value.code == 2 and "Cannot read the demo config" in capsys.readouterr().err


@pytest.mark.parametrize("folder", ["sub", "my secret dir"])  # a space: the path pattern stopped there
def test_a_broken_demo_configs_reason_names_no_server_path(tmp_path, monkeypatch, capsys, folder):
    (tmp_path / folder).mkdir()
    (tmp_path / folder / "demo.toml").write_text('[[models]]\nname = "m"\npath = "../secret models/m"\n'
                                                 '[[data]]\nname = "d"\npath = "../private data/d.csv"\n')
    monkeypatch.chdir(tmp_path)
    for config in (f"{folder}/demo.toml", str(tmp_path / folder / "demo.toml")):
        monkeypatch.setenv("EXPLAINER_DEMO", config)
        with pytest.raises(SystemExit) as exit_:
            trace.main(["--text", "hi"])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and "model 'm': [a path on the server] is not a model folder" in err, err
        assert str(tmp_path) not in err and "secret models" not in err and "models/m" not in err, err  # the
        # config's own path as the operator named it relatively stays (it is the operator's)
    (tmp_path / "secret models" / "m").mkdir(parents=True)
    (tmp_path / "secret models" / "m" / "config.json").write_text("{}")
    with pytest.raises(SystemExit):
        trace.main(["--text", "hi"])
    err = capsys.readouterr().err
    assert "data 'd': [a path on the server] does not exist" in err and "private" not in err, err


@pytest.mark.parametrize(
    "command, argv",
    [
        (map_cli, ["--data", "{secret}", "--out", "{root}/map"]),
        (map_cli, ["--data", "/etc/passwd", "--out", "{root}/map"]),
        (counterfactual, ["--data", "{secret}"]),
        (evaluate, ["--data", "{secret}", "--out", "{root}/ev"]),
        (evaluate, ["--data", "{secret}", "--engine", "ray", "--out", "{root}/ev"]),
    ],
    ids=["map", "map-passwd", "counterfactual", "evaluate-out", "evaluate-ray"],
)
def test_every_command_that_reads_data_refuses_a_file_outside_the_roots(demo, capsys, command, argv):
    root, secret = demo
    with pytest.raises(SystemExit) as exit_:
        command.main([arg.format(root=root, secret=secret) for arg in argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Offered data sets: rows/rows.csv" in err and SECRET not in err and "root:x" not in err


@pytest.fixture
def limited(tmp_path, monkeypatch, checkpoint):
    config = tmp_path / "demo.toml"
    config.write_text(
        "[limits]\nmax_text_chars = 40\nattribution_tokens = 10\ngraph_tokens = 8\npatching_tokens = 10\n"
        f'[[models]]\nname = "tiny"\npath = "{checkpoint("ours")}"\n'
    )
    monkeypatch.setenv("EXPLAINER_DEMO", str(config))
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    return tmp_path


LONG = "a fine film with a big heart"  # 18 tokens for the tiny models, 28 characters: over the token limits only


@pytest.mark.parametrize(
    "command, argv, said",
    [
        (trace, ["--text", "x" * 41], "at most 40 characters; this one has 41"),
        (patch, ["--clean", "a fine film", "--corrupted", "y" * 50], "at most 40 characters; this one has 50"),
        (trace, ["--text", "bad \udcff"], "The text is not valid Unicode at character 5"),
        (attribute, ["--text", LONG, "--method", "saliency"], "computes attributions for texts of at most 10 tokens"),
        (attribute, ["--text", "a fine film too", "--method", "graph"], "the attribution graph for texts of at most 8"),
        (patch, ["--clean", "a fine film", "--corrupted", LONG], "computes patching for texts of at most 10 tokens"),
        (ablate, ["--text", LONG], "computes ablation for texts of at most 10 tokens"),
        # the search ran on any length, as the pages' did (a CLI walk: 162 tokens against a limit of 128)
        (counterfactual, ["--text", LONG], "computes counterfactual searches for texts of at most 10 tokens"),
    ],
    ids=["text", "patch-text", "unicode", "attribute", "graph", "patch", "ablate", "counterfactual"],
)
def test_the_demos_text_and_token_limits_hold_on_the_command_line(limited, capsys, command, argv, said):
    with pytest.raises(SystemExit) as exit_:
        command.main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and said in err and err.count("\n") == 1, err  # one line: no usage block above


def test_a_text_within_the_demos_limits_is_analysed_and_the_report_keeps_its_attribution_limit(limited, capsys):
    attribute.main(["--text", "a fine film", "--method", "saliency"])
    assert '"method": "saliency"' in capsys.readouterr().out
    out = limited / "r.html"
    report.main(["--text", LONG, "--pages", "overview,attribution", "--out", str(out)])
    err = capsys.readouterr().err
    document = out.read_text(encoding="utf-8")
    assert "Left out: this text has 18 tokens; attribution is limited to 10 here." in document
    # said on the command line too, and the options table lists no method that shaped nothing
    assert "note: this text has 18 tokens and attribution is limited to 10 here" in err
    assert "attribution method" not in document and "attribution baseline" not in document


@pytest.mark.parametrize("command", [evaluate, markers, map_cli], ids=["evaluate", "markers", "map"])
def test_an_offered_file_that_is_not_a_data_set_is_named_as_offered_not_by_its_server_path(demo, capsys, command):
    root, _ = demo
    (root / "data" / "notes.csv").write_text("title,body\nx,y\n")  # no text or label column
    (root / "data" / "folder.csv").mkdir()  # a folder with a data file's name
    for name in ("rows/notes.csv", "rows/folder.csv"):
        with pytest.raises(SystemExit) as exit_:
            command.main(["--data", name, "--out", str(root / "out")])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and name in err and str(root) not in err, err


@pytest.fixture
def offered_folder(tmp_path, monkeypatch, checkpoint):
    """A demo offering one model folder by name ("offered"), the tiny BERT checkpoint copied beside the config."""
    import shutil

    folder = shutil.copytree(checkpoint("bert"), tmp_path / "models" / "secret-folder-name")
    config = tmp_path / "demo.toml"
    config.write_text(f'[[models]]\nname = "offered"\npath = "{folder}"\n')
    monkeypatch.setenv("EXPLAINER_DEMO", str(config))
    return folder


def test_the_json_calls_an_offered_folder_by_its_name(offered_folder, capsys):
    # "model" was the folder's server path in trace, attribute, ablate, patch and markers
    trace.main(["--model", "offered", "--text", "a fine film", "--json"])
    out = capsys.readouterr().out
    assert '"model": "offered"' in out and str(offered_folder) not in out


def test_a_path_to_an_offered_file_is_called_by_its_offered_name(demo, capsys, monkeypatch):
    """A relative path was accepted (it lies inside a data root) and printed as typed, the absolute one renamed."""
    import json

    root, _ = demo
    monkeypatch.chdir(root)
    for data in ("data/rows.csv", "./data/../data/rows.csv", str(root / "data" / "rows.csv")):
        evaluate.main(["--model", "sst2-baseline", "--data", data, "--json"])
        assert json.loads(capsys.readouterr().out)["data"] == "rows/rows.csv", data


def test_a_broken_offered_model_quotes_nothing_of_its_folder(offered_folder, capsys):
    import json

    config = json.loads((offered_folder / "config.json").read_text())
    config["model_type"] = "SECRET-TYPE"  # quoted by transformers' error, as were id2label keys and base paths
    (offered_folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(SystemExit):
        trace.main(["--model", "offered", "--text", "a fine film"])
    err = capsys.readouterr().err
    assert err.strip() == "error: offered cannot be loaded (EXPLAINER_DEMO hides why)"


def test_a_path_ending_a_sentence_is_called_by_its_offered_name(offered_folder):
    from explainer.cli.common import as_offered

    # "Unrecognized model in /srv/x. Should have ..." kept the path: the full stop read as part of a name
    said = as_offered(f"Unrecognized model in {offered_folder}. Should have")
    assert said == "Unrecognized model in offered. Should have"
    assert as_offered(f"{offered_folder}.csv") == f"{offered_folder}.csv"  # another file, not the folder


def test_a_crash_under_the_demo_is_one_line_without_a_traceback(demo, capsys, monkeypatch):
    from explainer import cli

    def crash(argv):
        raise RuntimeError(f"deep failure in {demo[0]}")

    monkeypatch.setattr(trace, "main", crash)
    assert cli.main(["trace", "--text", "hi"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "error: trace failed (RuntimeError); run it without EXPLAINER_DEMO to see why"
    from explainer.cli import challenge

    monkeypatch.setattr(challenge, "main", crash)
    with pytest.raises(RuntimeError):  # the operator's tools are not the demo's (README): their traceback stays
        cli.main(["challenge"])
    monkeypatch.setenv("EXPLAINER_DEMO", "  ")  # no demo named: local mode
    with pytest.raises(RuntimeError):  # outside a demo the traceback is the operator's to read
        cli.main(["trace", "--text", "hi"])


def test_the_json_stays_json_and_renames_a_path_json_would_escape(tmp_path, monkeypatch, checkpoint, capsys):
    # the renaming ran over the JSON text: an offered name with a quote broke it, a folder with one leaked
    import json
    import shutil

    folder = shutil.copytree(checkpoint("bert"), tmp_path / 'se"cret')
    config = tmp_path / "demo.toml"
    config.write_text(f'[[models]]\nname = \'quoted "name"\'\npath = {json.dumps(str(folder))}\n')
    monkeypatch.setenv("EXPLAINER_DEMO", str(config))
    trace.main(["--model", 'quoted "name"', "--text", "a fine film", "--json"])
    out = capsys.readouterr().out
    assert json.loads(out)["model"] == 'quoted "name"' and "cret" not in out


def test_evaluates_progress_bar_calls_an_offered_folder_by_its_name(offered_folder, capsys, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("text,label\na fine film,pos\na dull film,neg\n")
    config = tmp_path / "demo.toml"
    config.write_text(config.read_text() + f'[[data]]\nname = "rows"\npath = "{rows}"\n')
    evaluate.main(["--model", "offered", "--data", "rows", "--no-cache", "--json"])
    err = capsys.readouterr().err
    assert "offered" in err and str(offered_folder) not in err


def test_a_data_files_rows_over_the_demos_token_limit_are_refused_not_searched(limited, capsys):
    # --data searched every mistake whatever its length, while --text was held to attribution_tokens
    import json

    rows = limited / "data" / "rows.csv"
    rows.parent.mkdir()
    # each text once under each label, so each is a mistake exactly once, whichever label the model gives it
    texts = ["a fine film", LONG]
    rows.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t in texts for lab in ("neg", "pos")))
    config = limited / "demo.toml"
    config.write_text(config.read_text() + f'[[data]]\nname = "rows"\npath = "{rows}"\n')
    out = limited / "flips.jsonl"  # not beside the offered file
    counterfactual.main(["--data", "rows", "--max-candidates", "20", "--out", str(out)])
    summary = json.loads(capsys.readouterr().out)
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["text"] for line in lines] == texts and summary["examples"] == 2 and summary["refused"] == 1
    assert "error" not in lines[0]
    said = "this demo computes counterfactual searches for texts of at most 10 tokens; this one has 18"
    assert lines[1]["error"] == said


@pytest.mark.parametrize("flag", [["--demo", "{other}"], ["--demo={other}"]])
def test_a_demo_flag_on_the_command_line_is_not_read(demo, capsys, monkeypatch, flag):
    """The app takes `--demo PATH` from its script arguments; the command line's arguments are the user's (README:
    a demo is EXPLAINER_DEMO there), so a stray --demo flag is refused by argparse without its file being read,
    and never replaces the operator's config."""
    import sys

    from explainer import cli
    from explainer.serving import demo as demo_module

    root, _ = demo
    other = root / "other.toml"  # unusable: read, it would be quoted in the error ("not 'hunter3'")
    other.write_text('[[models]]\nname = "sst2-thought-beacon"\n[limits]\nmax_text_chars = "hunter3"\n')
    monkeypatch.setattr(demo_module, "_arguments_name_demo", True, raising=False)  # as the app has it
    argv = ["ablate", "--model", "sst2-thought-beacon", "--text", "x", *(f.format(other=other) for f in flag)]
    monkeypatch.setattr(sys, "argv", ["explainer", *argv])
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "unrecognized arguments" in err, err
    assert "hunter3" not in err and "limits.max_text_chars" not in err, err


def test_printed_texts_are_the_texts_the_model_read(demo, capsys):
    """Under a demo, server paths in the output are called by their offered names, but not inside a text (or its
    tokens and edits): "I loved /srv/data/rows.csv" printed as "I loved rows/rows.csv" was not what the model ran."""
    import json

    from explainer.cli.common import print_json

    root, _ = demo
    path = f"{root}/data/rows.csv"
    typed = f"I loved {path} so much"
    print_json({"original": {"text": typed}, "counterfactuals": [{"text": typed, "edits": [{"old": path, "new": ""}]}],
                "tokens": {"clean": [path]}, "notes": [f"read {path}"], "data": path})
    printed = json.loads(capsys.readouterr().out)
    assert printed["original"]["text"] == typed == printed["counterfactuals"][0]["text"]
    assert printed["counterfactuals"][0]["edits"][0]["old"] == path and printed["tokens"]["clean"] == [path]
    assert printed["notes"] == ["read rows/rows.csv"] and printed["data"] == "rows/rows.csv"


def test_a_file_inside_a_root_that_is_not_offered_is_refused_unread(demo, capsys):
    """A typed path to notes.txt inside a data root was read and its rows printed (a folder offers its CSV, TSV,
    JSONL and Parquet files only)."""
    root, _ = demo
    (root / "data" / "notes.txt").write_text("This movie was wonderful SECRETTXT\n")
    with pytest.raises(SystemExit) as exit_:
        evaluate.main(["--data", str(root / "data" / "notes.txt"), "--json"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "is not a data set this demo offers" in err and "SECRETTXT" not in err


@pytest.mark.parametrize("flag", ["--predictions-out", "--out"])
def test_no_output_is_written_inside_the_demos_data(demo, capsys, flag):
    """`evaluate --predictions-out` onto the offered file replaced it (exit 0): the same-file check compared the
    offered name, no file; every visitor after got the predictions as data."""
    root, _ = demo
    offered = root / "data" / "rows.csv"
    before = offered.read_bytes()
    out = offered if flag == "--predictions-out" else root / "data" / "results"
    with pytest.raises(SystemExit) as exit_:
        evaluate.main(["--data", "rows/rows.csv", flag, str(out), "--json"])
    assert exit_.value.code == 2 and "is inside this demo's data: write the output elsewhere" in capsys.readouterr().err
    assert offered.read_bytes() == before and not (root / "data" / "results").exists()


@pytest.mark.parametrize("where", ["model", "beside", "app", "cache", "environment", "tilde"])
def test_no_output_is_written_where_the_server_reads_its_models_data_code_or_cache(tmp_path, monkeypatch, checkpoint,
                                                                                capsys, where):
    """`counterfactual --out MODEL/config.json` replaced an offered model's config (the model no longer loaded), and
    `--out assets/x.jsonl` wrote into the app's own folder: only a folder data root was guarded."""
    import shutil
    import sys

    from tests.conftest import ROOT

    model = shutil.copytree(checkpoint("bert"), tmp_path / "models" / "mine")
    rows = tmp_path / "files" / "rows.csv"
    rows.parent.mkdir()
    rows.write_text("text,label\na fine film,pos\na dull film,neg\n")
    config = tmp_path / "demo.toml"
    config.write_text(f'[[models]]\nname = "mine"\npath = "{model}"\n[[data]]\nname = "rows"\npath = "{rows}"\n')
    monkeypatch.setenv("EXPLAINER_DEMO", str(config))
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    out, said = {
        "model": (model / "config.json", "is inside an offered model's folder"),
        "beside": (rows.parent / "flips.jsonl", "beside a data file this demo offers"),
        "app": (ROOT / "assets" / "flips.jsonl", "is inside the app's own folder"),
        "cache": (tmp_path / "cache" / "flips.jsonl", "is inside the app's cache"),
        "environment": (Path(sys.prefix) / "flips.jsonl", "is inside the app's Python environment"),
        # a quoted '~' is a folder named "~" where the command runs: checked as home, written into the cache
        "tilde": (Path("~") / "flips.jsonl", "is inside the app's cache"),
    }[where]
    if where == "tilde":
        (tmp_path / "cache").mkdir()
        monkeypatch.chdir(tmp_path / "cache")
    before = (model / "config.json").read_bytes()
    with pytest.raises(SystemExit) as exit_:
        counterfactual.main(["--model", "mine", "--data", "rows", "--out", str(out)])
    assert exit_.value.code == 2 and f"{said}: write the output elsewhere" in capsys.readouterr().err
    assert (model / "config.json").read_bytes() == before and (where == "model" or not out.exists())
    if where == "beside":  # its folder, not that folder's subfolders (an offered /tmp/x.csv guarded all of /tmp)
        counterfactual.main(["--model", "mine", "--data", "rows", "--out", str(rows.parent / "sub" / "f.jsonl")])
        assert (rows.parent / "sub" / "f.jsonl").exists()


def test_a_ray_address_is_not_taken_under_a_demo(demo, capsys):
    """--ray-address HOST:PORT made the server connect wherever a visitor said."""
    with pytest.raises(SystemExit) as exit_:
        evaluate.main(["--data", "rows/rows.csv", "--engine", "ray", "--ray-address", "10.0.0.1:6379", "--out",
                       str(demo[0] / "out")])
    assert exit_.value.code == 2 and "--ray-address is not taken under a demo" in capsys.readouterr().err


def test_a_results_folders_recorded_input_is_not_shown_under_a_demo(demo, capsys, monkeypatch):
    """`--out` holding another run's results named that run's input, a server path the visitor never typed: "another
    input (/srv/x/SH there, rows/rows.csv now)". A message keeps the paths the visitor typed and no other."""
    from explainer import cli

    root, _ = demo
    elsewhere = root / "operators-own-data.csv"
    elsewhere.write_text("text,label\na fine film,positive\na dull film,negative\n")
    out = root / "out"
    monkeypatch.delenv("EXPLAINER_DEMO")
    assert cli.main(["evaluate", "--model", "sst2-baseline", "--data", str(elsewhere), "--out", str(out)]) == 0
    capsys.readouterr()
    monkeypatch.setenv("EXPLAINER_DEMO", str(root / "demo.toml"))
    with pytest.raises(SystemExit) as exit_:
        cli.main(["evaluate", "--model", "sst2-baseline", "--data", "rows/rows.csv", "--out", str(out)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "another input ([a path on the server] there, rows/rows.csv now)" in err, err
    assert str(out) in err and str(elsewhere) not in err  # the folder the visitor typed is theirs to see


def test_a_demo_note_on_stderr_is_renamed_as_an_error_is(demo, capsys, monkeypatch):
    """Notes went to stderr unrenamed: "note: /srv/demo/data/rows.csv has no usable rows" printed the offered file's
    server path. Every line on stderr is renamed now, and a relative path typed is said as typed."""
    from explainer import cli
    from explainer.cli import common

    root, _ = demo
    (root / "data" / "empty.csv").write_text("text,label\n")
    monkeypatch.chdir(root)

    def noisy(argv):
        print(f"note: {root / 'data' / 'empty.csv'} has no usable rows; {root / 'mine' / 'a.json'} "
              f"and {root / 'elsewhere'}/x. Ratio 1/2, rows/rows.csv, https://example.org/a/b", file=sys.stderr)
        common.fail(f"cannot write {root / 'mine' / 'a.json'}")

    import sys

    monkeypatch.setattr(trace, "main", noisy)
    with pytest.raises(SystemExit):
        cli.main(["trace", "--out", "mine/a.json"])
    err = capsys.readouterr().err
    assert err == ("note: rows/empty.csv has no usable rows; mine/a.json and [a path on the server]. Ratio 1/2, "
                   "rows/rows.csv, https://example.org/a/b\nerror: cannot write mine/a.json\n"), err
    assert sys.stderr is not None and common.TYPED is None  # put back after the command


def test_paths_given_as_path_options_and_what_lies_beneath_them_are_kept(demo, monkeypatch):
    from explainer.cli import common

    root, _ = demo
    monkeypatch.chdir(root)
    server = common.SERVER_PATH
    typed = ["--out", f"{root}/run", "--data=/etc/passwd", "--text", "I loved /srv/x.csv and ../../.."]
    with common.typed_by_visitor(typed):
        said = common.as_offered(f"{root}/run/manifest.json, {root}/runs, /etc/passwd. /etc/shadow, /srv/x.csv, "
                                 "file:///srv/y, PATH=/usr/bin:/opt/z, 1/2 it/s, https://example.org/a")
        assert common.as_offered(said) == said  # fail() renames, and so does the stderr it writes to
    # a --text is words, not a path to keep (its "/srv/x.csv" let that file's path through)
    assert said == (f"{root}/run/manifest.json, {server}, /etc/passwd. {server}, {server}, file://{server}, "
                    f"PATH={server}:{server}, 1/2 it/s, https://example.org/a")
    up = "../" * len(root.parts) + "usr"  # resolves to /usr: what lies under it is not the visitor's to see
    with common.typed_by_visitor(["--out", up, "--data", "rows/rows.csv"]):
        assert common.as_offered("/usr/lib/python3/x.py") == server
        assert common.as_offered(f"{root}/data/rows.csv") == "rows/rows.csv"
    with common.typed_by_visitor(["--out", "mine/run"]):
        assert common.as_offered(f"{root}/mine/run/points.parquet") == "mine/run/points.parquet"
    monkeypatch.delenv("EXPLAINER_DEMO")
    with common.typed_by_visitor([]):  # local mode: the operator's own paths
        assert common.as_offered("/etc/shadow") == "/etc/shadow"
