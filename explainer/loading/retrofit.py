"""Retrofitted models on a verified base: build one before training (`retrofit`) and load an adapter checkpoint
(`load_retrofit`). The base is located offline and its weights verified against the SHA-256 the config records
(explainer.loading.backbone) before anything loads them; problems with the base raise backbone.BackboneError,
problems with an adapter file adapter_io.AdapterError."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from transformers import BertConfig

from explainer.loading import backbone
from explainer.models.adapter_io import AdapterError, load_adapter, load_base_weights
from explainer.models.configuration_retrofit import ThoughtBeaconBertConfig
from explainer.models.modeling_retrofit import ThoughtBeaconBertForSequenceClassification


def retrofit(
    base: str | Path,
    *,
    num_thought_markers: int = 16,
    use_beacons: bool = True,
    marker_temperature: float = 1.0,
    base_sha256: str | None = None,
    label_names: Sequence[str] = ("negative", "positive"),
    lora_rank: int = 0,
    lora_alpha: float = 16.0,
) -> ThoughtBeaconBertForSequenceClassification:
    """A retrofitted model on the verified base, before training: it computes exactly what the base computes
    (marker projections zero, beacons not engaged). A classifier head in the base is kept; otherwise it is new."""
    folder = backbone.resolve(base, base_sha256)
    base_config = BertConfig.from_pretrained(folder).to_dict()
    for key in ("architectures", "model_type", "transformers_version", "_name_or_path", "id2label", "label2id"):
        base_config.pop(key, None)
    config = ThoughtBeaconBertConfig(
        **base_config,
        num_thought_markers=num_thought_markers,
        marker_temperature=marker_temperature,
        use_beacons=use_beacons,
        base_model=str(base),
        base_sha256=backbone.sha256_of(folder / backbone.WEIGHTS),
        lora_rank=lora_rank,
        lora_alpha=lora_alpha,
        id2label=dict(enumerate(label_names)),
        label2id={name: i for i, name in enumerate(label_names)},
    )
    model = ThoughtBeaconBertForSequenceClassification(config)
    _load_base(model, folder / backbone.WEIGHTS)
    return model.eval()


def load_retrofit(folder: str | Path) -> ThoughtBeaconBertForSequenceClassification:
    """Load an adapter checkpoint: resolve and verify its base, load it, merge LoRA, load the trained tensors."""
    folder = Path(folder)
    config = ThoughtBeaconBertConfig.from_pretrained(folder)
    if not config.base_model or not config.base_sha256:
        raise backbone.BackboneError(f"{folder}/config.json does not name its base model and its SHA-256")
    base = backbone.resolve(config.base_model, config.base_sha256)
    model = ThoughtBeaconBertForSequenceClassification(config)
    _load_base(model, base / backbone.WEIGHTS)
    load_adapter(model, folder)
    return model.eval()


def _load_base(model: ThoughtBeaconBertForSequenceClassification, weights: Path) -> None:
    """load_base_weights, with a base that does not fit the model reported as the base problem it is."""
    try:
        load_base_weights(model, weights)
    except AdapterError as error:
        raise backbone.BackboneError(str(error)) from error
