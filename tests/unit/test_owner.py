"""explainer/owner.py: a folder's claim names its writer whole from the moment it exists, and only one run gets it."""

from __future__ import annotations

import json
import os

from explainer import owner


def test_a_claim_is_whole_when_it_appears_and_a_second_is_refused(tmp_path, monkeypatch):
    """The claim was created empty and written after: a second run reading it in between saw no claim and removed
    the first one's folder."""
    folder = tmp_path / ".partial"
    seen_at_link = []
    link = os.link

    def watched(source, target):  # what the claim holds the moment its name appears
        link(source, target)
        seen_at_link.append(json.loads(owner.Path(target).read_text()))

    monkeypatch.setattr(owner.os, "link", watched)
    assert owner.claim(folder)
    mine = {"host": owner.socket.gethostname(), "pid": os.getpid(), **owner.process_start(os.getpid())}
    assert seen_at_link == [mine]
    assert not owner.claim(folder)  # taken
    assert sorted(p.name for p in folder.iterdir()) == [owner.OWNER]  # nothing staged is left


def test_a_file_system_without_hard_links_still_claims_once(tmp_path, monkeypatch):
    def no_links(source, target):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(owner.os, "link", no_links)
    folder = tmp_path / "stage"
    assert owner.claim(folder) and not owner.claim(folder)
    assert json.loads((folder / owner.OWNER).read_text())["pid"] == os.getpid()
    assert sorted(p.name for p in folder.iterdir()) == [owner.OWNER]


def test_a_claim_of_another_process_under_the_same_id_is_no_ones(tmp_path):
    # a process id reused since the claim was written (a reboot, a killed run long ago) kept the folder "in use"
    # by a process that never wrote it, every later run refused
    import socket

    import pytest

    parent = owner.process_start(os.getppid())
    if not parent:
        pytest.skip("no /proc: processes are told apart by their id alone")
    folder = tmp_path / "partial"
    folder.mkdir()

    def claimed(**fields) -> str | None:
        (folder / owner.OWNER).write_text(json.dumps({"host": socket.gethostname(), "pid": os.getppid(), **fields}))
        return owner.running_owner(folder)

    assert claimed(**parent) == f"process {os.getppid()}"
    assert claimed() == f"process {os.getppid()}"  # a claim written before these fields: as before
    assert claimed(boot=parent["boot"], start=parent["start"] + 1) is None  # a later process under its id
    assert claimed(boot="another boot", start=parent["start"]) is None
    assert owner.claim(tmp_path / "mine") and json.loads((tmp_path / "mine" / owner.OWNER).read_text()) == {
        "host": socket.gethostname(), "pid": os.getpid(), **owner.process_start(os.getpid())}
    (folder / owner.OWNER).write_text(json.dumps({"host": socket.gethostname(), "pid": 10**30}))
    assert owner.running_owner(folder) is None  # no process id at all: OverflowError, not a traceback
