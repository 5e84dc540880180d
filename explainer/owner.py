"""Which process is writing a folder: a claim file in it naming the host and the process (OWNER). A results
folder's `.partial` (explainer/scale/manifest.py) and a training run's stage (explainer/cli/train.py) are claimed
this way, so a second run into the same folder is refused instead of deleting the first one's files."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

OWNER = "owner.json"  # {"host", "pid"} of the run writing the folder


def claim(folder: Path) -> bool:
    """Make `folder` (created if need be) this process's, atomically; False when another run has just claimed it."""
    folder.mkdir(parents=True, exist_ok=True)
    claim_text = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), **process_start(os.getpid())})
    # Written whole under another name, then linked in (atomic, and refused if the name exists): a claim created
    # empty and written after could be read in between as no claim (running_owner), and a second run then removed
    # the first one's folder; a full disk left it empty for good.
    staged = folder / f".{OWNER}.{os.getpid()}"
    try:
        staged.write_text(claim_text, encoding="utf-8")
        try:
            os.link(staged, folder / OWNER)
            return True
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: create-exclusive, then write (the old way)
            pass
    finally:
        staged.unlink(missing_ok=True)
    try:
        handle = os.open(folder / OWNER, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return False
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(claim_text)
    return True


def running_owner(folder: Path) -> str | None:
    """The run still writing `folder` ("process 123", "process 123 on host-b"), or None when none is (no claim,
    or one whose process has ended: a killed run's leftovers may be removed)."""
    try:
        owner = json.loads((folder / OWNER).read_text(encoding="utf-8"))
        host, pid = owner["host"], owner["pid"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not isinstance(pid, int) or isinstance(pid, bool):
        return None
    if host != socket.gethostname():  # another node sharing the folder: its process cannot be looked up here
        return f"process {pid} on {host}"
    if pid == os.getpid() or os.name == "nt":  # this process's own earlier run, which ended without its clean-up;
        return None  # on Windows os.kill(pid, 0) would end that process, not look it up
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except OSError:  # alive, another user's
        pass
    except OverflowError:  # no process id this system can have
        return None
    written = {key: owner.get(key) for key in ("boot", "start")}  # a claim of before they were written: none
    if None not in written.values() and (now := process_start(pid)) and now != written:
        return None  # another process under the claim's id (reused since a reboot or a long-gone run): none writes
    return f"process {pid}"


def process_start(pid: int) -> dict[str, str | int]:
    """What tells process `pid` from a later one under its id, where /proc says (Linux): the boot and its start in
    clock ticks since that boot (no wall clock: a clock set forward or a network file system's times would take a
    live run's claim for a stale one); {} elsewhere."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        start = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])  # field 22, starttime
    except (OSError, ValueError, IndexError):
        return {}
    return {"boot": boot, "start": start}
