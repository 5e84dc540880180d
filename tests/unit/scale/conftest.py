"""Shared inputs of the scale-out tests: labelled shards with a few bad rows, and the local reference run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import CORPUS


def write_shards(folder: Path, label_names: tuple[str, ...], rows_per_shard: int = 90, shards: int = 2) -> Path:
    """`shards` CSV files of random sentences from the test corpus; the first has an empty text and an unclosed
    quote (two skipped rows, reported with their lines). Returns the folder."""
    words = " ".join(CORPUS).replace(".", "").split()
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True, exist_ok=True)
    for shard in range(shards):
        frame = pd.DataFrame(
            {
                "text": [" ".join(rng.choice(words, rng.integers(2, 24))) for _ in range(rows_per_shard)],
                "label": [label_names[int(i)] for i in rng.integers(0, len(label_names), rows_per_shard)],
                "capability": [f"cap{i % 3}" for i in range(rows_per_shard)],
            }
        )
        path = folder / f"part-{shard}.csv"
        frame.to_csv(path, index=False)
        if shard == 0:
            with path.open("a", encoding="utf-8") as f:
                f.write(f",{label_names[0]},empty\n")  # line rows+2: empty text
                f.write(f'"never closed,{label_names[1]},x\n')  # line rows+3: an unclosed quote runs to the end
    return folder


def concatenated(folder: Path, out: Path, label_names: tuple[str, ...]) -> Path:
    """The shards' used rows as one CSV, read by the project's reader (the local engine's single-file reference)."""
    from explainer.data.labelled import read_dataset

    frames = []
    for path in sorted(folder.glob("*.csv")):
        data = read_dataset(path, label_names=label_names)
        frames.append(pd.DataFrame({"text": data.texts, "label": [label_names[i] for i in data.labels],
                                    "capability": data.extra["capability"]}))
    pd.concat(frames, ignore_index=True).to_csv(out, index=False)
    return out


@pytest.fixture(scope="session")
def shards(tmp_path_factory, bundle) -> Path:
    return write_shards(tmp_path_factory.mktemp("shards") / "in", bundle("ours").label_names)
