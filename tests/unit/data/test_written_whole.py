"""data.folders.written_whole: a streamed output replaces its file only once written, and a shell's redirect of
/dev/stdout is written through, not renamed over."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from explainer.data.folders import PARTIAL_SUFFIX, written_whole


def test_the_old_file_stays_until_the_block_ends_and_a_killed_runs_leftover_goes(tmp_path):
    out = tmp_path / "flips.jsonl"
    out.write_text("old\n")
    os.chmod(out, 0o640)
    left = tmp_path / f".flips.jsonl.abc123{PARTIAL_SUFFIX}"  # a run killed two hours ago
    left.write_text("cut")
    os.utime(left, (time.time() - 7200,) * 2)
    with pytest.raises(KeyboardInterrupt), written_whole(out) as handle:
        handle.write("new 1\n")
        raise KeyboardInterrupt
    assert out.read_text() == "old\n" and left.exists()  # stopped: nothing replaced, its own temporary gone
    assert sorted(p.name for p in tmp_path.iterdir()) == [left.name, "flips.jsonl"]
    with written_whole(out) as handle:
        handle.write("a\r\nb\n")  # written as given: no line-end translation
    assert out.read_bytes() == b"a\r\nb\n" and out.stat().st_mode & 0o777 == 0o640 and not left.exists()


def test_dev_stdout_redirected_to_a_file_is_written_through(tmp_path):
    """Renamed over the shell's redirect target, the lines went to a new file and the JSON printed after them to
    the unlinked old one: the file held the lines alone."""
    script = ("import sys; from pathlib import Path; from explainer.data.folders import written_whole\n"
              "with written_whole(Path('/dev/stdout')) as handle:\n    handle.write('line\\n')\n"
              "print('{\"json\": 1}', flush=True)\n")
    target = tmp_path / "all.jsonl"
    with target.open("w") as redirect:
        subprocess.run([sys.executable, "-c", script], stdout=redirect, check=True, timeout=60)
    assert target.read_text() == 'line\n{"json": 1}\n'


def test_a_piped_dev_stdout_passes_the_output_check_and_is_streamed_into(tmp_path):
    """check_output_file followed /dev/stdout to /proc/PID/fd/pipe:[...] and proved that "folder" writable:
    `counterfactual --out /dev/stdout | cat` failed with "No such file or directory"."""
    script = ("from pathlib import Path; from explainer.cli.common import check_output_file\n"
              "from explainer.data.folders import written_whole\n"
              "out = check_output_file('/dev/stdout')\n"
              "with written_whole(out) as handle:\n    handle.write('line\\n')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).parents[3])
    assert done.returncode == 0 and done.stdout == "line\n", done.stderr


def test_an_output_file_that_is_the_shells_redirect_target_is_refused(tmp_path):
    """`evaluate --predictions-out p.csv > p.csv`: the file was renamed over the shell's, and the JSON printed after
    it went to the unlinked one. /dev/stdout itself stays written through."""
    target = tmp_path / "p.csv"
    script = f"from explainer.cli.common import check_output_file\ncheck_output_file({str(target)!r})\n"
    with target.open("w") as redirect:
        done = subprocess.run([sys.executable, "-c", script], stdout=redirect, stderr=subprocess.PIPE, text=True,
                              timeout=60, cwd=Path(__file__).parents[3])
    assert done.returncode == 2 and "is where this command prints" in done.stderr
    other = tmp_path / "other.csv"
    with target.open("w") as redirect:
        done = subprocess.run([sys.executable, "-c", script.replace(str(target), str(other))], stdout=redirect,
                              stderr=subprocess.PIPE, text=True, timeout=60, cwd=Path(__file__).parents[3])
    assert done.returncode == 0, done.stderr


def test_dev_null_stays_an_output_when_stdout_goes_there_too(tmp_path):
    """`evaluate --predictions-out /dev/null > /dev/null` discards both: a device is written in place, nothing is
    renamed over it."""
    script = "from explainer.cli.common import check_output_file\ncheck_output_file('/dev/null')\n"
    with open(os.devnull, "w") as discard:
        done = subprocess.run([sys.executable, "-c", script], stdout=discard, stderr=subprocess.PIPE, text=True,
                              timeout=60, cwd=Path(__file__).parents[3])
    assert done.returncode == 0, done.stderr
