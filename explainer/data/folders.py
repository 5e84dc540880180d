"""Output folders a command makes on its way, and removes again when it stops without output: a refused or failed
command leaves no empty folder behind (the CLI's writability probe, a failed data-set job)."""

from __future__ import annotations

from pathlib import Path


def missing_folders(folder: Path) -> list[Path]:
    """`folder` and its parents that do not exist yet, deepest first: what mkdir(parents=True) will make."""
    return [parent for parent in (folder, *folder.parents) if not parent.exists()]


def remove_made(folders: list[Path]) -> None:
    """Remove the folders missing_folders listed, deepest first, while they are empty: the first one that is not
    (or cannot be removed) stays, and so do those above it."""
    for made in folders:
        if made.name == "..":  # new/.. is where new was made, removed next: not a folder of its own
            continue
        try:
            made.rmdir()
        except OSError:
            break
