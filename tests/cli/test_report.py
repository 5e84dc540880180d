"""`python -m explainer report`: writes the HTML file and a JSON summary; bad options are one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from explainer.cli.report import main
from tests.conftest import ROOT


def demo_report(tmp_path, monkeypatch, capsys, name: str, folder, argv: list[str]) -> str:
    """The report `argv` writes under a demo config that offers `folder` as `name` (links carry offered names)."""
    config = tmp_path / "demo.toml"
    config.write_text(f'[[models]]\nname = "{name}"\npath = "{folder}"\n')
    monkeypatch.setenv("EXPLAINER_DEMO", str(config))
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "r.html"
    main([*argv, "--out", str(out)])
    capsys.readouterr()
    return out.read_text(encoding="utf-8")


def test_the_command_writes_a_self_contained_report(checkpoint, tmp_path):
    out = tmp_path / "report.html"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "explainer",
            "report",
            "--model",
            str(checkpoint("ours")),
            "--text",
            "a <i>fine</i> film",
            "--pages",
            "overview,attribution",
            "--layer",
            "1",
            "--head",
            "1",
            "--baseline",
            "mask",
            "--target",
            "pos",
            "--out",
            str(out),
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "EXPLAINER_CACHE": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["pages"] == ["overview", "attribution"] and summary["bytes"] == out.stat().st_size
    document = out.read_text(encoding="utf-8")
    assert "a &lt;i&gt;fine&lt;/i&gt; film" in document and '<h2 id="attribution">' in document
    assert "<td>attribution target</td><td>pos</td>" in document
    assert " label pos. Blue supports pos, red speaks against it" in document
    assert "the attention of layer 1, head 1" in document
    # the folder's path stays on this machine: no link carries it, and the file says why
    assert "Live view:" not in document and str(checkpoint("ours")) not in document
    assert "The live link is left out: the model was loaded from a folder on the machine that made" in document


def test_a_folder_model_is_named_by_its_offered_or_folder_name_in_every_note(checkpoint, tmp_path, capsys,
                                                                             monkeypatch):
    # the markers and beacons notes named the model by its path on the server
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    folder = checkpoint("bert")  # no thought markers, no beacons
    out = tmp_path / "local.html"
    main(["--model", str(folder), "--text", "a fine film", "--pages", "overview,markers,beacons", "--out", str(out)])
    capsys.readouterr()
    document = out.read_text(encoding="utf-8")
    assert f"{folder.name} has no thought markers" in document
    assert f"{folder.name} has no activation beacons" in document
    assert str(folder.parent) not in document
    config = tmp_path / "demo.toml"
    config.write_text(f'[[models]]\nname = "tiny-bert"\npath = "{folder}"\n')
    monkeypatch.setenv("EXPLAINER_DEMO", str(config))
    main(["--text", "a fine film", "--pages", "markers,beacons", "--out", str(out)])
    summary = json.loads(capsys.readouterr().out)
    document = out.read_text(encoding="utf-8")
    assert "tiny-bert has no thought markers" in document and "tiny-bert has no activation beacons" in document
    assert str(folder) not in document and summary["model"] == "tiny-bert"


def test_a_demo_report_links_to_the_model_by_its_offered_name(checkpoint, tmp_path, capsys, monkeypatch):
    config = tmp_path / "demo.toml"
    config.write_text(f'[[models]]\nname = "tiny"\npath = "{checkpoint("ours")}"\n')
    monkeypatch.setenv("EXPLAINER_DEMO", str(config))
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    for argv in ([], ["--model", "tiny"]):  # the first offered model by default, or named
        out = tmp_path / "r.html"
        main([*argv, "--text", "a fine film", "--pages", "overview", "--out", str(out)])
        capsys.readouterr()
        document = out.read_text(encoding="utf-8")
        assert 'Live view: <a href="http://localhost:8501/?model=tiny&amp;text=a+fine+film">' in document
        assert "<b>tiny</b>" in document and str(checkpoint("ours")) not in document


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--pages", "overview,nope"], "Unknown report page"),
        (["--method", "magic"], "Unknown method"),
        (["--baseline", "noise"], "Unknown baseline"),
        (["--target", "neutral"], "Unknown label 'neutral'"),
        (["--statistic", "bogus"], "Unknown head statistic"),
        (["--text", "   "], "empty"),
        (["--app-url", "http:"], "an http:// or https:// address with a host"),  # wrote http:///attention?...
    ],
)
def test_bad_options_are_one_line_errors(checkpoint, tmp_path, capsys, argv, message):
    base = ["--model", str(checkpoint("ours")), "--text", "a fine film", "--out", str(tmp_path / "r.html")]
    with pytest.raises(SystemExit) as exit_:
        main(base + argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_the_link_reopens_what_the_report_shows(checkpoint, tmp_path, capsys, monkeypatch):
    # The link always opened the Overview with model, text, layer and head: --tau, --method, --target ... were
    # dropped, so at --tau 0.6 the report said one probability and its link opened another (the model's own tau).
    document = demo_report(tmp_path, monkeypatch, capsys, "tiny", checkpoint("ours"), [
        "--text", "a fine film", "--pages", "overview,attribution", "--tau", "0.6", "--method", "saliency",
        "--target", "1"])
    assert ('<a href="http://localhost:8501/beacons?model=tiny&amp;text=a+fine+film&amp;tau=0.6&amp;method=saliency'
            '&amp;target=pos">') in document  # the label by its name: the page's picker reads names
    assert "It opens the Beacons page at τ 0.6; the Attribution page reads its options from the link too" in document


def test_the_target_is_a_label_name_or_index_as_attribute_takes_it(checkpoint, tmp_path, capsys, monkeypatch):
    # --target 1 was refused ("Unknown label '1'") while attribute, patch, ablate and counterfactual take an index
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    base = ["--model", str(checkpoint("ours")), "--text", "a fine film", "--pages", "attribution",
            "--method", "saliency"]
    for target, label in (("1", "pos"), ("neg", "neg")):
        out = tmp_path / f"r{target}.html"
        main([*base, "--target", target, "--out", str(out)])
        capsys.readouterr()
        assert f"<td>attribution target</td><td>{label}</td>" in out.read_text(encoding="utf-8")
    with pytest.raises(SystemExit):
        main([*base, "--target", "2", "--out", str(tmp_path / "r2.html")])
    assert "Label index 2 is out of range" in capsys.readouterr().err


def test_the_markers_section_draws_the_reasoning_path_of_the_token_asked_for(checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    base = ["--model", str(checkpoint("ours")), "--text", "a fine film", "--pages", "markers"]
    out = tmp_path / "r2.html"
    main([*base, "--path-token", "2", "--out", str(out)])
    assert json.loads(capsys.readouterr().out)["pages"] == ["markers"]
    assert "<td>reasoning path</td><td>token 2</td>" in out.read_text(encoding="utf-8")
    # a token the text lacks is refused, as --layer is: the report said "every token" while its link carried it
    for token in ("99", "-5"):
        with pytest.raises(SystemExit) as exit_:
            main([*base, "--path-token", token, "--out", str(tmp_path / "r.html")])
        assert exit_.value.code == 2 and f"--path-token {token} is out of range" in capsys.readouterr().err


def test_pages_are_checked_before_the_model_loads_and_said_once(checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    with pytest.raises(SystemExit) as exit_:  # a model that does not exist: the page is refused first
        main(["--model", str(tmp_path / "absent"), "--text", "x", "--pages", "foo", "--out", str(tmp_path / "r.html")])
    assert exit_.value.code == 2 and "Unknown report page(s) ['foo']" in capsys.readouterr().err
    out = tmp_path / "twice.html"
    main(["--model", str(checkpoint("ours")), "--text", "fine", "--pages", "overview,overview", "--out", str(out)])
    assert json.loads(capsys.readouterr().out)["pages"] == ["overview"]  # as drawn: once
    assert out.read_text(encoding="utf-8").count('<h2 id="overview">') == 1


def test_the_link_keeps_the_app_s_path_and_drops_its_query_and_fragment(checkpoint, tmp_path, capsys, monkeypatch):
    # "http://host/app?x=1#frag" gave ".../app?x=1#frag/?model=...": the options inside the fragment, read by no page
    document = demo_report(tmp_path, monkeypatch, capsys, "tiny", checkpoint("ours"), [
        "--text", "fine", "--pages", "markers", "--path-token", "1", "--app-url", "http://h:8501/app?x=1#frag"])
    assert '<a href="http://h:8501/app/markers?model=tiny&amp;text=fine&amp;path=1">' in document


def test_a_model_without_markers_carries_no_path_token_in_its_link(checkpoint, tmp_path, capsys, monkeypatch):
    document = demo_report(tmp_path, monkeypatch, capsys, "plain", checkpoint("bert"), [
        "--text", "fine", "--pages", "markers", "--path-token", "1"])
    assert "has no thought markers" in document and "path=" not in document and "reasoning path" not in document


def test_tau_on_a_model_without_beacons_is_noted_and_the_report_still_written(checkpoint, tmp_path, capsys,
                                                                             monkeypatch):
    # the note said "--tau changes nothing", then the report failed: the threshold still reached the trace, which
    # refuses one for a model without beacons
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "plain.html"
    main(["--model", str(checkpoint("bert")), "--text", "a fine film", "--pages", "overview", "--tau", "0.4",
          "--out", str(out)])
    said = capsys.readouterr()
    assert "has no activation beacons; --tau changes nothing" in said.err and "error" not in said.err
    assert json.loads(said.out)["out"] == str(out) and "tau=" not in out.read_text(encoding="utf-8")


def test_a_path_token_on_a_thought_beacon_model_without_markers_is_noted_and_left_out(checkpoint, tmp_path, capsys,
                                                                                       monkeypatch):
    """The baseline twin (a ThoughtBeacon model with no markers): its link carried path=2 and said it opened "this
    report's reasoning path", which the report (rightly) did not draw; nothing was said."""
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "twin.html"
    main(["--model", str(checkpoint("baseline")), "--text", "a fine film", "--pages", "markers", "--path-token", "2",
          "--out", str(out)])
    said = capsys.readouterr()
    assert "has no thought markers; --path-token changes nothing" in said.err
    assert "has no thought markers; the markers section says so and draws nothing" in said.err
    assert "path=" not in out.read_text(encoding="utf-8")


def test_an_untrained_model_s_report_says_its_prediction_means_nothing(tmp_path, capsys, monkeypatch):
    """The app warns "Untrained model: random weights"; the report showed "Prediction: positive (51.0%)" alone."""
    from explainer.loading import shipped
    from explainer.report.building import UNTRAINED_NOTE

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "untrained.html"
    main(["--model", shipped.UNTRAINED_NAME, "--text", "a fine film", "--pages", "overview", "--out", str(out)])
    assert UNTRAINED_NOTE.lstrip(", ") in out.read_text(encoding="utf-8")


def test_a_folder_named_like_a_shipped_model_is_not_reported_as_it(tmp_path, monkeypatch):
    """./sst2-baseline (a copy, perhaps retrained) was headed "Model sst2-baseline", the shipped model's name."""
    import shutil

    from explainer import load_model
    from explainer.loading import shipped
    from explainer.report.building import report_model_name

    original = next(iter(shipped.SHIPPED))
    if not original.folder.is_dir():
        pytest.skip("no shipped model here")
    shutil.copytree(original.folder, tmp_path / original.name)
    monkeypatch.chdir(tmp_path)
    copy = load_model(f"./{original.name}", device="cpu")
    assert report_model_name(copy) == f"{original.name} (a folder of that name, not the shipped model)"
    assert report_model_name(load_model(str(original.folder), device="cpu")) == original.name  # the folder itself
    assert report_model_name(load_model(original.name, device="cpu")) == original.name


def test_a_write_that_fails_keeps_the_earlier_report(checkpoint, tmp_path, capsys):
    # the report was written in place: a full disk left a cut HTML file where the good one had been
    from tests.conftest import disk_fills_on

    out = tmp_path / "report.html"
    argv = ["--model", str(checkpoint("bert")), "--pages", "overview", "--out", str(out)]
    main([*argv, "--text", "a fine film"])
    before = out.read_bytes()
    with pytest.MonkeyPatch.context() as patch:
        disk_fills_on(patch, 1)
        with pytest.raises(SystemExit) as stop:
            main([*argv, "--text", "another fine film"])
    assert stop.value.code == 2 and "No space left on device" in capsys.readouterr().err
    assert out.read_bytes() == before and [path.name for path in tmp_path.iterdir()] == ["report.html"]


def test_an_output_that_is_not_a_report_or_not_a_file_is_refused(checkpoint, tmp_path, capsys):
    """`--out notes.txt` replaced the user's notes in silence; a pipe (or /dev/full, run as root) became a regular
    file; `--out new/` wrote a file named "new". An earlier report, or an empty file, is written again."""
    import stat

    notes, pipe = tmp_path / "notes.txt", tmp_path / "pipe.html"
    notes.write_text("keep me")
    os.mkfifo(pipe)
    base = ["--model", str(checkpoint("bert")), "--text", "a fine film", "--pages", "overview"]
    for out, said in ((notes, "exists and is not a report this tool wrote"), (pipe, "not a regular file"),
                      ("", "argument --out: is empty: give a path"),  # was "--out . is a folder"
                      (f"{tmp_path}/new/", "names a folder (it ends with /)")):
        with pytest.raises(SystemExit) as exit_:
            main([*base, "--out", str(out)])
        assert exit_.value.code == 2 and said in capsys.readouterr().err
    assert notes.read_text() == "keep me" and stat.S_ISFIFO(pipe.lstat().st_mode) and not (tmp_path / "new").exists()
    (empty := tmp_path / "empty.html").touch()
    main([*base, "--out", str(empty)])
    main([*base, "--text", "another fine film", "--out", str(empty)])  # a report written before: replaced
    assert "another fine film" in empty.read_text(encoding="utf-8")


def test_a_long_text_s_live_link_is_cut_where_shown_and_whole_behind_it(tmp_path, capsys):
    """A 10,000-character text printed its whole ~10 KB address as the link's text: a wall in the report; that the
    model read its beginning alone was said only in the file's table of options."""
    import html
    import re

    out, text = tmp_path / "r.html", "a fine film " * 800
    main(["--model", "sst2-baseline", "--text", text, "--pages", "overview", "--out", str(out)])  # shipped: a link
    href, shown = re.search(r'Live view: <a href="([^"]*)">([^<]*)</a>', out.read_text(encoding="utf-8")).groups()
    assert len(html.unescape(href)) > 9000 and len(html.unescape(shown)) <= 160 and shown.endswith("…")
    assert "note: The text has 2,400 tokens; the model reads" in capsys.readouterr().err


@pytest.mark.parametrize("piped", [False, True])
def test_the_commands_own_stdout_is_refused_as_out(checkpoint, tmp_path, piped):
    """`--out /dev/stdout > r.html` renamed the report over the shell's file, and the JSON printed after it went to
    the unlinked one; piped (`| cat`) it said "cannot write to /dev/stdout: No such file or directory"."""
    argv = [sys.executable, "-m", "explainer", "report", "--model", str(checkpoint("bert")), "--text", "a fine film",
            "--pages", "overview", "--out", "/dev/stdout"]
    target = tmp_path / "r.html"
    with target.open("w") as redirect:
        done = subprocess.run(argv, cwd=ROOT, stdout=subprocess.PIPE if piped else redirect, stderr=subprocess.PIPE,
                              text=True, timeout=300, env={**os.environ, "EXPLAINER_CACHE": str(tmp_path / "c")})
    assert done.returncode == 2, done.stderr
    assert "--out /dev/stdout is where this command prints (its stdout or stderr)" in done.stderr
    assert target.read_text() == "" and (done.stdout or "") == ""
    same = tmp_path / "same.html"  # the shell's redirect target named again: the same file
    with same.open("w") as redirect:
        done = subprocess.run([*argv[:-1], str(same)], cwd=ROOT, stdout=redirect, stderr=subprocess.PIPE, text=True,
                              timeout=300, env={**os.environ, "EXPLAINER_CACHE": str(tmp_path / "c")})
    assert done.returncode == 2 and "is where this command prints" in done.stderr


@pytest.mark.parametrize("tau, linked, shown", [("1e-9", "tau=0\"", "0.00"), ("-0", "tau=0\"", "0.00"),
                                               ("0.4000000001", "tau=0.4\"", "0.40")])
def test_a_tau_within_round_off_of_a_hundredth_is_run_and_linked_as_that_hundredth(checkpoint, tmp_path, capsys,
                                                                                  monkeypatch, tau, linked, shown):
    """--tau 1e-9 was shown as 0.00 and linked as tau=1e-09 (the Beacons page moved it, with a toast); -0 read
    "-0.00"."""
    document = demo_report(tmp_path, monkeypatch, capsys, "tiny", checkpoint("ours"), [
        "--text", "a fine film", "--pages", "beacons", "--tau", tau])
    assert linked in document and "-0.00" not in document and f"τ = {shown}" in document


@pytest.mark.parametrize("argv, message", [
    (["--method", "foo"], "Unknown method 'foo'"), (["--statistic", "foo"], "Unknown head statistic 'foo'"),
    (["--target", "foo"], "Unknown label 'foo'"), (["--path-token", "99"], "--path-token"),
])
def test_an_unknown_option_value_is_refused_without_a_note_that_it_changes_nothing(checkpoint, tmp_path, capsys, argv,
                                                                                   message):
    """`--pages overview --method foo` said "note: --method ... changes nothing", then "error: Unknown method"."""
    with pytest.raises(SystemExit) as exit_:
        main(["--model", str(checkpoint("ours")), "--text", "a fine film", "--pages", "overview", *argv,
              "--out", str(tmp_path / "r.html")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and "changes nothing" not in err, err
