"""`python -m explainer`: one entry point that lists every command, runs each by name, and refuses an unknown one
in one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from explainer.cli import COMMANDS
from tests.conftest import ROOT

EXPECTED = (
    "trace", "attribute", "counterfactual", "patch", "ablate", "evaluate", "map", "markers", "train", "challenge",
    "model-card", "report", "bench",
)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "explainer", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_help_lists_every_command():
    done = run("--help")
    assert done.returncode == 0, done.stderr
    listed = [line.split()[0] for line in done.stdout.splitlines() if line.startswith("  ")]
    assert listed == list(EXPECTED) == list(COMMANDS)
    assert "usage: python -m explainer <command>" in done.stdout


def test_no_command_prints_usage_and_fails():
    done = run()
    # an error, so on stderr, as an unknown command's (stdout is for a command's output, often piped as JSON)
    assert done.returncode == 2 and "usage: python -m explainer <command>" in done.stderr and not done.stdout


def test_unknown_command_is_refused_with_the_list():
    done = run("tracee", "--text", "x")
    assert done.returncode == 2
    assert "unknown command 'tracee'" in done.stderr and "model-card" in done.stderr


@pytest.mark.parametrize("command", EXPECTED)
def test_every_command_has_its_own_help_and_every_option_says_what_it_does(command):
    # One process per command for both checks: each start costs about a second.
    wide = {**os.environ, "COLUMNS": "200"}  # one line per option, its help beside it or on the lines below
    done = subprocess.run([sys.executable, "-m", "explainer", command, "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=wide)
    assert done.returncode == 0, done.stderr
    assert f"python -m explainer {command}" in done.stdout and "-h, --help" in done.stdout
    lines = done.stdout.split("options:")[-1].splitlines()
    silent = [
        line.strip() for at, line in enumerate(lines)
        if (found := re.match(r"^  (-\S.*?)(\s{2,}\S.*)?$", line)) and not found.group(2)
        and not (lines[at + 1] if at + 1 < len(lines) else "").startswith(" " * 10)
    ]
    assert silent == []


def test_old_module_entry_points_are_gone():
    done = subprocess.run(
        [sys.executable, "-m", "explainer.trace", "--text", "x"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "No module named explainer.trace" in done.stderr


def test_ctrl_c_is_one_line_and_the_shells_exit_status(monkeypatch, capsys):
    import explainer.cli
    from explainer.cli import trace as trace_command

    def interrupted(argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(trace_command, "main", interrupted)
    assert explainer.cli.main(["trace", "--text", "x"]) == 130
    assert capsys.readouterr().err == "\ninterrupted\n"


def test_sigterm_is_one_line_and_the_shells_exit_status(monkeypatch, capsys):
    """explainer/__main__.py raises Terminated on SIGTERM: it ended without a word (and a Ray run with Ray's dump)."""
    import explainer.cli
    from explainer.cli import trace as trace_command
    from explainer.cli.common import Terminated

    def terminated(argv):
        raise Terminated(143)

    monkeypatch.setattr(trace_command, "main", terminated)
    assert explainer.cli.main(["trace", "--text", "x"]) == 143
    assert capsys.readouterr().err == "\nterminated\n"


def test_a_reader_that_leaves_ends_the_command_quietly(checkpoint, tmp_path):
    """`... --json | head -c 100`: the JSON's write into the closed pipe printed a BrokenPipeError traceback."""
    env = {**os.environ, "EXPLAINER_CACHE": str(tmp_path)}
    run = subprocess.Popen([sys.executable, "-m", "explainer", "trace", "--model", str(checkpoint("bert")), "--text",
                            "a film", "--json"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    run.stdout.close()  # the reader is gone before the command writes (starting it takes seconds)
    err = run.communicate(timeout=300)[1]
    assert run.returncode == 141, err  # 128 + SIGPIPE, what a shell reports for a program its pipe ended
    assert "Traceback" not in err and "Exception ignored" not in err and "BrokenPipe" not in err, err


def test_a_broken_pipe_that_is_not_stdout_s_still_fails_loudly(monkeypatch, tmp_path):
    """Only stdout's reader leaving ends a command quietly: another pipe breaking (a worker's) is a failure."""
    import explainer.cli
    from explainer.cli import trace as trace_command

    def broken(argv):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(trace_command, "main", broken)
    monkeypatch.setattr(explainer.cli, "_stdout_gone", lambda: False)
    with pytest.raises(BrokenPipeError):
        explainer.cli.main(["trace", "--text", "x"])


def test_the_library_imports_from_any_folder(tmp_path):
    """install.sh installs the library editable, so a script outside the checkout imports this checkout's."""
    done = subprocess.run([sys.executable, "-c", "import explainer; print(explainer.__file__)"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"run install.sh (pip install -e .): {done.stderr[-500:]}"
    assert os.path.samefile(done.stdout.strip(), ROOT / "explainer" / "__init__.py")


@pytest.mark.slow
def test_the_readme_library_snippets_run(tmp_path):
    """Every ```python block of the README, in order, as one script kept outside the checkout (its relative paths
    are the checkout's, as the README's commands are run from there)."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 3 and "explainer.load_model()" in blocks[0]
    script = tmp_path / "readme_snippets.py"
    script.write_text("\n".join(blocks), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


def test_only_the_program_entry_lets_a_command_keep_stdout_for_its_json(monkeypatch):
    """`python -m explainer` marks the process as the command's own (a Ray job may then send everything but the
    JSON to stderr, cli/common.stdout_for_json_only); importing the CLI in-process does not."""
    import runpy

    from explainer.cli import common

    monkeypatch.setattr(common, "RUN_AS_PROGRAM", False)
    monkeypatch.setattr(sys, "argv", ["explainer", "--help"])
    with pytest.raises(SystemExit):
        runpy.run_module("explainer", run_name="__main__")
    assert common.RUN_AS_PROGRAM is True
