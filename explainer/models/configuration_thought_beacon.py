"""Configuration of the ThoughtBeacon encoder classifier (modeling_thought_beacon.py)."""

from __future__ import annotations

from transformers import PretrainedConfig


class ThoughtBeaconConfig(PretrainedConfig):
    model_type = "thought_beacon"

    def __init__(
        self,
        vocab_size: int = 8000,
        hidden_size: int = 256,
        num_hidden_layers: int = 4,
        num_attention_heads: int = 4,
        intermediate_size: int = 1024,
        max_position_embeddings: int = 512,
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.1,
        layer_norm_eps: float = 1e-5,
        initializer_range: float = 0.02,
        num_thought_markers: int = 16,
        marker_temperature: float = 1.0,
        use_beacons: bool = True,
        beacon_threshold: float = 0.0,
        beacon_init_bias: float = 2.0,
        pad_token_id: int = 0,
        **kwargs,
    ):
        super().__init__(pad_token_id=pad_token_id, **kwargs)
        if hidden_size % num_attention_heads:
            raise ValueError(f"hidden_size {hidden_size} is not a multiple of {num_attention_heads} attention heads")
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.max_position_embeddings = max_position_embeddings
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        self.num_thought_markers = num_thought_markers
        self.marker_temperature = marker_temperature
        self.use_beacons = use_beacons
        self.beacon_threshold = beacon_threshold  # tau used when forward() is not given one
        self.beacon_init_bias = beacon_init_bias  # gates start open: sigmoid(2) ~ 0.88
