"""The project's own architectures, registered with the Hugging Face Auto classes on import: the from-scratch
ThoughtBeacon encoder and the retrofit of thought markers and beacons onto a pretrained BERT-family encoder."""

from transformers import AutoConfig, AutoModelForSequenceClassification

from explainer.models.configuration_retrofit import ThoughtBeaconBertConfig
from explainer.models.configuration_thought_beacon import ThoughtBeaconConfig
from explainer.models.marker_beacon_blocks import GatePin, MarkerForce, ThoughtBeaconOutput
from explainer.models.modeling_retrofit import ThoughtBeaconBertForSequenceClassification
from explainer.models.modeling_thought_beacon import ThoughtBeaconForSequenceClassification

AutoConfig.register(ThoughtBeaconConfig.model_type, ThoughtBeaconConfig, exist_ok=True)
AutoModelForSequenceClassification.register(ThoughtBeaconConfig, ThoughtBeaconForSequenceClassification, exist_ok=True)
AutoConfig.register(ThoughtBeaconBertConfig.model_type, ThoughtBeaconBertConfig, exist_ok=True)

# Model types whose outputs carry thought markers and beacon gates and whose forward takes beacon_threshold,
# forced_markers and pinned_gates.
THOUGHT_BEACON_TYPES = frozenset({ThoughtBeaconConfig.model_type, ThoughtBeaconBertConfig.model_type})


def is_thought_beacon(config) -> bool:
    return getattr(config, "model_type", None) in THOUGHT_BEACON_TYPES


def uses_markers(config) -> bool:
    """A ThoughtBeacon config with thought markers (the baseline twins, and --num-markers 0, have none)."""
    return is_thought_beacon(config) and getattr(config, "num_thought_markers", 0) > 0


def uses_beacons(config) -> bool:
    """A ThoughtBeacon config whose blocks have activation beacons (the baseline twins have none)."""
    return is_thought_beacon(config) and bool(getattr(config, "use_beacons", False))


__all__ = [
    "THOUGHT_BEACON_TYPES",
    "uses_beacons",
    "uses_markers",
    "GatePin",
    "MarkerForce",
    "ThoughtBeaconBertConfig",
    "ThoughtBeaconBertForSequenceClassification",
    "ThoughtBeaconConfig",
    "ThoughtBeaconForSequenceClassification",
    "ThoughtBeaconOutput",
    "is_thought_beacon",
]
