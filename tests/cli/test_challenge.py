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


def test_a_file_where_a_folder_should_be_is_named(tmp_path, capsys):
    """`--out afile/x.csv` said "cannot write to afile/x.csv: File exists" (mkdir's words, of no file named)."""
    from explainer.cli.challenge import main

    (tmp_path / "afile").write_text("mine")
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path / "afile" / "deeper" / "x.csv")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (f"error: cannot write to {tmp_path / 'afile' / 'deeper' / 'x.csv'}: "
                                               f"{tmp_path / 'afile'} is a file, not a folder")
    assert (tmp_path / "afile").read_text() == "mine"


@pytest.mark.parametrize("leads_to", ["gone", "link"])
def test_a_folder_that_is_a_link_to_nothing_or_to_itself_is_named(tmp_path, capsys, leads_to):
    """`--out link/c.csv`, link a link to a missing folder ("cannot write to ...: File exists") or to itself
    (resolve() raised a RuntimeError traceback)."""
    from explainer.cli.challenge import main

    (tmp_path / "link").symlink_to(tmp_path / leads_to)
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path / "link" / "c.csv")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and f"{tmp_path / 'link'} is a link that leads nowhere" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link"]  # nothing made where the link leads


def test_a_file_that_is_no_challenge_set_is_not_written_over(tmp_path, capsys):
    """`--out data/train.csv` replaced the user's training file in silence; a challenge set written before is
    still written again (another seed or size)."""
    mine = tmp_path / "train.csv"
    mine.write_text("sentence,label\na fine film,1\n")
    with pytest.raises(SystemExit) as exit_info:
        challenge_cli.main(["--out", str(mine)])
    assert exit_info.value.code == 2 and "exists and is no challenge set" in capsys.readouterr().err
    assert mine.read_text() == "sentence,label\na fine film,1\n"
    again = tmp_path / "challenge.csv"
    for written_before in (b"", b'\xef\xbb\xbf"text","label","capability"\r\nno,negative,negation\r\n'):
        again.write_bytes(written_before)  # empty, or a set re-saved by a spreadsheet: written again
        challenge_cli.main(["--out", str(again)])
        assert again.read_bytes() == DEFAULT_PATH.read_bytes()
    challenge_cli.main(["--out", str(again), "--per-capability", "4"])
    challenge_cli.main(["--out", str(again)])
    assert again.read_bytes() == DEFAULT_PATH.read_bytes()


def test_a_pipe_or_a_name_ending_in_a_slash_is_not_written(tmp_path, capsys):
    """A FIFO became a regular file (the write renames over it); `--out new/` wrote a file named "new"."""
    import os
    import stat

    pipe = tmp_path / "pipe.csv"
    os.mkfifo(pipe)
    with pytest.raises(SystemExit) as exit_info:
        challenge_cli.main(["--out", str(pipe)])
    assert exit_info.value.code == 2 and "not a regular file" in capsys.readouterr().err
    assert stat.S_ISFIFO(pipe.lstat().st_mode)
    with pytest.raises(SystemExit) as exit_info:
        challenge_cli.main(["--out", f"{tmp_path}/new/"])
    assert exit_info.value.code == 2 and "names a folder (it ends with /)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.csv"]
