"""The progress callback every long data-set pass takes: `progress(done, total)` after each unit of work (texts,
or text passes when one text is run several times). Pages turn it into a progress bar, commands ignore it."""

from collections.abc import Callable

Progress = Callable[[int, int], None]
