"""A data-set choice's identity (what decides whether the Errors page reads the data again) never fails on a
file that is gone by the time it is asked about: the read that follows says what is wrong."""

from __future__ import annotations

import os
from pathlib import Path

from explainer.ui.labelled import RESULTS, SOURCES, DataChoice
from tests.conftest import rewrite_under_old_times


def test_identity_of_a_file_deleted_after_its_check_does_not_raise(tmp_path, monkeypatch):
    path = tmp_path / "gone.csv"
    checked, stat = Path.is_file, Path.stat

    def deleted(self, *args, **kwargs):  # there when checked, gone when its size is asked
        if self == path:
            raise FileNotFoundError(2, "No such file or directory", str(self))
        return stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "is_file", lambda self: True if self == path else checked(self))
    monkeypatch.setattr(Path, "stat", deleted)
    assert DataChoice(SOURCES[2], path=str(path)).identity[:3] == ("path", str(path), 0)
    assert DataChoice(RESULTS, path=str(tmp_path / "absent")).identity[2] == 0


def test_identity_changes_on_an_edit_of_the_same_size_under_its_old_time(tmp_path):
    """`cp -p`, `rsync -t` and `tar -x` restore a file's modification time: an edit of the same size (a label
    corrected) kept the page's old results while only size and mtime were compared."""
    path = tmp_path / "data.csv"
    path.write_text("text,label\ngood,1\n")
    before = DataChoice(SOURCES[2], path=str(path)).identity
    times = os.stat(path)
    rewrite_under_old_times(path, b"text,label\ngood,0\n")
    assert os.stat(path).st_mtime_ns == times.st_mtime_ns and os.stat(path).st_size == times.st_size
    assert DataChoice(SOURCES[2], path=str(path)).identity != before
