"""Retrofitted models on a verified base: build one before training (`retrofit`) and load an adapter checkpoint
(`load_retrofit`). The base is located offline and its weights verified against the SHA-256 the config records
(explainer.loading.backbone) before anything loads them; problems with the base raise backbone.BackboneError,
problems with an adapter file adapter_io.AdapterError."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from safetensors import SafetensorError
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
    base_config = checked_base_config(folder).to_dict()
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


def checked_base_config(folder: Path) -> BertConfig:
    """The base's BertConfig; BackboneError for a folder without a readable config.json or with one of another
    family (a from-scratch ThoughtBeacon, a DistilBERT): BertConfig read those anyway (a missing file as BERT-base's
    defaults), and the run failed later in a traceback, or said the weights lacked tensors."""
    path = folder / "config.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise backbone.BackboneError(f"{folder} has no config.json: a base model's folder needs its config") from None
    except (OSError, ValueError) as error:
        raise backbone.BackboneError(f"{path} cannot be read as JSON: {error}") from error
    kind = raw.get("model_type") if isinstance(raw, dict) else None
    if kind != "bert":
        said = f"a '{kind}' model" if isinstance(kind, str) and kind else "no model_type"
        raise backbone.BackboneError(f"{path} names {said}: a retrofit's base is a BERT encoder (model_type 'bert', "
                                     "as all-MiniLM-L6-v2)")
    try:
        return BertConfig.from_pretrained(folder)
    except (OSError, ValueError, TypeError) as error:
        raise backbone.BackboneError(f"{path} is not a BERT config that can be read: {error}") from error


def _load_base(model: ThoughtBeaconBertForSequenceClassification, weights: Path) -> None:
    """load_base_weights, with a base that does not fit the model (or a damaged weights file) reported as the base
    problem it is."""
    try:
        load_base_weights(model, weights)
    except AdapterError as error:
        raise backbone.BackboneError(str(error)) from error
    except (SafetensorError, OSError) as error:
        raise backbone.BackboneError(f"{weights} cannot be read as safetensors: {error}") from error
    except RuntimeError as error:  # a tensor of another shape than the config says (load_state_dict's report)
        said = " ".join(str(error).split())
        raise backbone.BackboneError(f"{weights} does not fit its config.json: {said}") from error
