"""A data-set choice's identity (what decides whether the Errors page reads the data again) never fails on a
file that is gone by the time it is asked about: the read that follows says what is wrong."""

from __future__ import annotations

from pathlib import Path

from explainer.ui.labelled import RESULTS, SOURCES, DataChoice


def test_identity_of_a_file_deleted_after_its_check_does_not_raise(tmp_path, monkeypatch):
    path = tmp_path / "gone.csv"
    checked, stat = Path.is_file, Path.stat

    def deleted(self, *args, **kwargs):  # there when checked, gone when its size is asked
        if self == path:
            raise FileNotFoundError(2, "No such file or directory", str(self))
        return stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "is_file", lambda self: True if self == path else checked(self))
    monkeypatch.setattr(Path, "stat", deleted)
    assert DataChoice(SOURCES[2], path=str(path)).identity[:4] == ("path", str(path), 0, 0)
    assert DataChoice(RESULTS, path=str(tmp_path / "absent")).identity[2] == 0
