"""The progress callback every long data-set pass takes: `progress(done, total)` after each unit of work (texts,
or text passes when one text is run several times). Pages turn it into a progress bar, commands ignore it.

A step that has no count (UMAP's layout, the neighbour search) is announced with `announce(progress, text)`: a
callback with a `stage(text)` method (the pages' bar) shows the text, a plain callable is left alone."""

from collections.abc import Callable

Progress = Callable[[int, int], None]


def announce(progress: Progress | None, text: str) -> None:
    """Tell `progress` which uncounted step runs now, if it can show it."""
    stage = getattr(progress, "stage", None)
    if callable(stage):
        stage(text)
