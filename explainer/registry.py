"""The models the app ships, by name, and where they live.

The default is the first shipped model present in assets/models/. A checkout without them (or a test) falls
back to an untrained ThoughtBeacon model built on first use (random weights, labelled as untrained wherever
it is shown); `load_model("untrained-thought-beacon")` builds it on request.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
UNTRAINED_NAME = "untrained-thought-beacon"


@dataclass(frozen=True)
class ShippedModel:
    name: str
    folder: Path
    description: str  # one line for the model picker


SHIPPED: tuple[ShippedModel, ...] = (
    ShippedModel(
        "sst2-thought-beacon",
        ASSETS / "models" / "sst2-thought-beacon",
        "ThoughtBeacon encoder trained from scratch on SST-2 (thought markers + activation beacons)",
    ),
    ShippedModel(
        "sst2-baseline",
        ASSETS / "models" / "sst2-baseline",
        "Baseline twin of sst2-thought-beacon: same size and training, no markers, no beacons",
    ),
)


def cache_dir() -> Path:
    """Where models built on demand are kept (EXPLAINER_CACHE overrides)."""
    root = os.environ.get("EXPLAINER_CACHE") or Path.home() / ".cache" / "transformer-explainer"
    return Path(root)


def available() -> list[ShippedModel]:
    """Shipped models present on disk, default first; the untrained placeholder only when none is."""
    present = [m for m in SHIPPED if (m.folder / "config.json").is_file()]
    placeholder = ShippedModel(
        UNTRAINED_NAME,
        cache_dir() / UNTRAINED_NAME,
        "UNTRAINED ThoughtBeacon model with random weights: shows the machinery, its predictions mean nothing",
    )
    return present or [placeholder]


def default_model_name() -> str:
    return available()[0].name


def resolve(name: str) -> Path | None:
    """The folder of a shipped model name or a local path; None when `name` is neither (a hub id)."""
    if name == UNTRAINED_NAME:
        from explainer.untrained import ensure_untrained_model

        return ensure_untrained_model(cache_dir() / UNTRAINED_NAME)
    for model in SHIPPED:
        if name == model.name:
            return model.folder
    path = Path(name).expanduser()
    return path if path.is_dir() else None
