"""`python -m explainer <command> --help`, and a usage error, start at once: every command builds and parses its
options without importing torch, transformers or any other heavy package (they load in main(), after parsing).
Checked in one fresh process by what it imported, not by timing."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

from explainer.bench import NAMES
from explainer.cli import COMMANDS
from tests.conftest import ROOT

HEAVY = ("torch", "transformers", "captum", "ray", "umap", "numba", "sklearn", "streamlit", "plotly", "pandas")

SCRIPT = """
import contextlib, io, json, sys

import explainer.cli as cli

HEAVY = {heavy!r}


def run(argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = cli.main(argv)
        except SystemExit as stop:  # argparse exits: 0 after --help, 2 on a usage error
            code = stop.code
    return [code, out.getvalue(), sorted(name for name in HEAVY if name in sys.modules)]


runs = {{}}
for command in cli.COMMANDS:
    runs[command] = {{"help": run([command, "--help"]), "error": run([command, "--no-such-option"])}}
runs["attribute"]["text"] = run(["attribute", "--text", "a fine film", "--method", "magic"])  # --text read first
print(json.dumps(runs))
"""


def test_help_and_usage_errors_import_nothing_heavy():
    done = subprocess.run([sys.executable, "-c", SCRIPT.format(heavy=HEAVY)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    runs = json.loads(done.stdout)
    assert list(runs) == list(COMMANDS)
    for command, outcomes in runs.items():
        usage = f"python -m explainer {command}"
        code, text, heavy = outcomes["help"]
        assert (code, heavy) == (0, []), (command, heavy)
        assert usage in text and "-h, --help" in text, command
        code, text, heavy = outcomes["error"]
        assert (code, heavy) == (2, []), (command, heavy)
        assert usage in text and "error:" in text, command
    code, text, heavy = runs["attribute"]["text"]
    assert (code, heavy) == (2, []) and "argument --method: invalid choice: 'magic'" in text


def test_the_bench_names_are_the_bench_modules():
    # `bench --help` lists explainer.bench.NAMES without importing the benches; BENCHES is built from it.
    folder = ROOT / "explainer" / "bench"
    modules = sorted(
        path.stem for path in folder.glob("*.py")
        if any(isinstance(node, ast.FunctionDef) and node.name == "run"
               for node in ast.parse(path.read_text(encoding="utf-8")).body)
    )
    assert sorted(NAMES) == modules and len(set(NAMES)) == len(NAMES)
