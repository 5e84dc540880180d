"""The models the app ships, by name, and where they live, grouped for the model picker, and the natural
pairs to compare (PAIRS: with vs without markers and beacons; from scratch vs pretrained).

The default is the first shipped model present in assets/models/. A checkout without them (or a test) falls
back to an untrained ThoughtBeacon model built on first use (random weights, labelled as untrained wherever
it is shown); `load_model("untrained-thought-beacon")` builds it on request.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from explainer.data.disk_cache import cache_dir
from explainer.loading import backbone
from explainer.loading.backbone import MINILM_ID

ASSETS = Path(__file__).resolve().parents[2] / "assets"
UNTRAINED_NAME = "untrained-thought-beacon"


FROM_SCRATCH = "from scratch"
PRETRAINED = "pretrained MiniLM"


@dataclass(frozen=True)
class ShippedModel:
    name: str
    folder: Path
    description: str  # one line for the model picker
    group: str = FROM_SCRATCH  # heading the picker files it under
    base: str | None = None  # pretrained base it was fine-tuned from (only an adapter ships), if any


# Default first: the MiniLM ThoughtBeacon model beats the from-scratch one on SST-2 dev accuracy (model cards).
SHIPPED: tuple[ShippedModel, ...] = (
    ShippedModel(
        "sst2-minilm-thought-beacon",
        ASSETS / "models" / "sst2-minilm-thought-beacon",
        "Pretrained MiniLM-L6 with thought markers and activation beacons retrofitted, LoRA-tuned on SST-2",
        PRETRAINED,
        MINILM_ID,
    ),
    ShippedModel(
        "sst2-minilm-baseline",
        ASSETS / "models" / "sst2-minilm-baseline",
        "Baseline twin of sst2-minilm-thought-beacon: same MiniLM and LoRA tuning, no markers, no beacons",
        PRETRAINED,
        MINILM_ID,
    ),
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


@dataclass(frozen=True)
class ModelPair:
    left: str
    right: str
    question: str  # what comparing the two shows, one line


# The natural comparisons, for the Compare page: each differs from its partner in one respect.
PAIRS: tuple[ModelPair, ...] = (
    ModelPair("sst2-minilm-thought-beacon", "sst2-minilm-baseline",
              "With vs without thought markers and beacons (pretrained MiniLM)"),
    ModelPair("sst2-thought-beacon", "sst2-baseline", "With vs without thought markers and beacons (from scratch)"),
    ModelPair("sst2-minilm-thought-beacon", "sst2-thought-beacon", "Pretrained vs from scratch (ThoughtBeacon)"),
    ModelPair("sst2-minilm-baseline", "sst2-baseline", "Pretrained vs from scratch (baseline)"),
)


def available() -> list[ShippedModel]:
    """Shipped models present on disk (with their pretrained base, for adapters), default first; the untrained
    placeholder only when none is."""
    present = [
        m for m in SHIPPED
        if (m.folder / "config.json").is_file() and (m.base is None or backbone.present_offline(m.base))
    ]
    placeholder = ShippedModel(
        UNTRAINED_NAME,
        cache_dir() / UNTRAINED_NAME,
        "UNTRAINED ThoughtBeacon model with random weights: shows the machinery, its predictions mean nothing",
    )
    return present or [placeholder]


def shipped_name(name: str) -> str | None:
    """The shipped model `name` is, by its name or its folder (a demo's path = entry, the Other box); None for
    any other model."""
    if any(name == model.name for model in SHIPPED):
        return name
    path = Path(name).expanduser()
    if not path.is_dir():
        return None
    found = path.resolve()
    return next((model.name for model in SHIPPED if model.folder.resolve() == found), None)


def default_model_name() -> str:
    return available()[0].name


def available_pairs() -> list[ModelPair]:
    """The PAIRS whose two models are both present on disk."""
    present = {m.name for m in available()}
    return [pair for pair in PAIRS if pair.left in present and pair.right in present]


def picker_label(name: str) -> str:
    """How the model picker lists a model: its name, then its group, so a narrow sidebar cuts the group first
    (names that are not shipped: as given)."""
    group = next((m.group for m in SHIPPED if m.name == name), None)
    return f"{name} ({group})" if group else name


def resolve(name: str) -> Path | None:
    """The folder of a shipped model name or a local path; None when `name` is neither (a hub id)."""
    if name == UNTRAINED_NAME:
        from explainer.loading.untrained import ensure_untrained_model

        return ensure_untrained_model(cache_dir() / UNTRAINED_NAME)
    for model in SHIPPED:
        if name == model.name:
            return model.folder
    path = Path(name).expanduser()
    return path if path.is_dir() else None
