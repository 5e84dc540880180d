"""Configuration of a BERT-family encoder retrofitted with thought markers and activation beacons
(modeling_retrofit.py): the base's BertConfig plus the retrofit's settings, the base it was built on and its LoRA
rank."""

from __future__ import annotations

from transformers import BertConfig


class ThoughtBeaconBertConfig(BertConfig):
    model_type = "thought_beacon_bert"

    def __init__(
        self,
        num_thought_markers: int = 16,
        marker_temperature: float = 1.0,
        use_beacons: bool = True,
        beacon_threshold: float = 0.0,
        beacon_init_bias: float = 3.0,
        beacons_engaged: bool = False,
        base_model: str | None = None,
        base_sha256: str | None = None,
        lora_rank: int = 0,
        lora_alpha: float = 16.0,
        **kwargs,
    ):
        kwargs.pop("model_type", None)
        super().__init__(**kwargs)
        self.num_thought_markers = num_thought_markers
        self.marker_temperature = marker_temperature
        self.use_beacons = use_beacons
        self.beacon_threshold = beacon_threshold  # tau used when forward() is not given one
        self.beacon_init_bias = beacon_init_bias  # engaged gates start at sigmoid(3) ~ 0.95
        self.beacons_engaged = beacons_engaged  # False: applied gates are exactly 1 (see modeling_retrofit.py)
        self.base_model = base_model  # hub id or folder of the pretrained encoder
        self.base_sha256 = base_sha256  # SHA-256 of its model.safetensors
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha
