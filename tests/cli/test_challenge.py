"""`python -m explainer challenge`: regenerates the shipped challenge set, refuses bad counts and outputs."""

from __future__ import annotations

import pytest

from explainer.cli import challenge as challenge_cli
from explainer.data import challenge
from explainer.data.challenge import DEFAULT_PATH


def test_cli_writes_the_same_file(tmp_path, capsys):
    # In-process: `python -m` would also import torch through explainer/__init__, seconds for nothing.
    out = tmp_path / "challenge.csv"
    challenge_cli.main(["--out", str(out)])
    assert out.read_bytes() == DEFAULT_PATH.read_bytes()
    printed = capsys.readouterr().out
    assert "negation" in printed and str(out) in printed


@pytest.mark.parametrize(
    "args, complaint",
    [(["--per-capability", "3"], "--per-capability must be even (half negative, half positive), not 3"),
     (["--per-capability", "0"], "at least 1"),
     (["--per-capability", "100000"], "the templates make at most 260 rows per capability"),
     (["--out", "{tmp}"], "is a folder"),
     (["--out", "{tmp}/a-file/x.csv"], "cannot write to")],
)
def test_cli_refuses_bad_counts_and_outputs_without_touching_the_shipped_set(tmp_path, capsys, args, complaint):
    (tmp_path / "a-file").write_text("not a folder")
    shipped = challenge.DEFAULT_PATH.read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        challenge_cli.main([arg.replace("{tmp}", str(tmp_path)) for arg in args])
    assert exit_info.value.code == 2 and complaint in capsys.readouterr().err
    assert challenge.DEFAULT_PATH.read_bytes() == shipped
