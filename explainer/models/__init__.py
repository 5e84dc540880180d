"""The project's own architecture, registered with the Hugging Face Auto classes on import."""

from transformers import AutoConfig, AutoModelForSequenceClassification

from explainer.models.thought_beacon import (
    GatePin,
    MarkerForce,
    ThoughtBeaconConfig,
    ThoughtBeaconForSequenceClassification,
    ThoughtBeaconOutput,
)

AutoConfig.register(ThoughtBeaconConfig.model_type, ThoughtBeaconConfig, exist_ok=True)
AutoModelForSequenceClassification.register(
    ThoughtBeaconConfig, ThoughtBeaconForSequenceClassification, exist_ok=True
)

__all__ = [
    "GatePin",
    "MarkerForce",
    "ThoughtBeaconConfig",
    "ThoughtBeaconForSequenceClassification",
    "ThoughtBeaconOutput",
]
