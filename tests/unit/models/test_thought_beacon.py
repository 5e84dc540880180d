"""The ThoughtBeacon model itself: save/load, output shapes, beacon skipping, forced markers, pinned gates."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification

from explainer.models import GatePin, MarkerForce, ThoughtBeaconConfig, ThoughtBeaconForSequenceClassification
from tests.conftest import CORPUS, HEADS, HIDDEN, LAYERS, MARKERS, build_model, tiny_config

TEXT = CORPUS[0]


def run(model, inputs, **kwargs):
    with torch.no_grad():
        return model(**inputs, output_attentions=True, output_hidden_states=True, **kwargs)


def randomise(module: torch.nn.Module, seed: int, std: float = 1.0) -> None:
    """Overwrite every parameter of `module` with N(0, std) draws from a fixed seed."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)


def randomise_gates(model, seed: int = 1) -> None:
    """Spread the beacon gates over (0, 1): the default init (bias 2, tiny weights) makes them all ~0.88."""
    for index, layer in enumerate(model.layers):
        randomise(layer.gate, seed + index, std=0.5)
        with torch.no_grad():
            layer.beacon.copy_(torch.randn(layer.beacon.shape, generator=torch.Generator().manual_seed(99 + index)))


def randomise_marker_projections(model, seed: int = 7) -> None:
    for index, layer in enumerate(model.layers):
        randomise(layer.marker_proj, seed + index, std=0.5)


# --- save / load -------------------------------------------------------------------------------------------


def _realign(model) -> None:
    """Copy every parameter into freshly allocated memory.

    from_pretrained leaves weights in memory-mapped safetensors buffers at arbitrary alignments, and CPU
    matmul kernels round differently (~1e-8) on differently aligned data. Same values in ordinary
    allocations make the forward pass bit-for-bit reproducible."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.data = parameter.data.clone()


def test_save_pretrained_round_trip_is_exact(encode, tmp_path):
    # Non-default config values and weights: losing either on the way would change the outputs.
    model = build_model("ours", marker_temperature=0.5, layer_norm_eps=1e-6, beacon_threshold=0.25)
    randomise_gates(model)
    randomise_marker_projections(model)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert not (tmp_path / "pytorch_model.bin").exists()

    config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, ThoughtBeaconConfig)
    assert config.model_type == "thought_beacon"
    assert config.num_thought_markers == MARKERS and config.use_beacons is True
    assert (config.marker_temperature, config.layer_norm_eps, config.beacon_threshold) == (0.5, 1e-6, 0.25)
    assert config.id2label == {0: "neg", 1: "pos"}
    assert isinstance(AutoConfig.for_model("thought_beacon"), ThoughtBeaconConfig)

    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert type(loaded) is ThoughtBeaconForSequenceClassification
    assert loaded.config._attn_implementation == "eager"
    assert not loaded.training

    before, after = model.state_dict(), loaded.state_dict()
    assert before.keys() == after.keys()
    for key in before:
        assert torch.equal(before[key], after[key]), key

    inputs = encode([TEXT, CORPUS[2]])
    expected = run(model, inputs)
    fields = ("attentions", "hidden_states", "thought_markers", "beacon_gates")
    # As loaded (memory-mapped weights): equal up to kernel rounding.
    actual = run(loaded, inputs)
    assert torch.allclose(expected.logits, actual.logits, rtol=1e-5, atol=1e-5)
    for field in fields:
        for a, b in zip(getattr(expected, field), getattr(actual, field), strict=True):
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-5), field
    # Same weights in ordinary memory: bit for bit.
    _realign(loaded)
    actual = run(loaded, inputs)
    assert torch.equal(expected.logits, actual.logits)
    for field in fields:
        pairs = list(zip(getattr(expected, field), getattr(actual, field), strict=True))
        assert len(pairs) == (LAYERS + 1 if field == "hidden_states" else LAYERS)
        for a, b in pairs:
            assert torch.equal(a, b), field


# --- output shapes -------------------------------------------------------------------------------------------


def test_output_shapes_and_normalisation(ours_model, encode):
    randomise_gates(ours_model)
    inputs = encode([TEXT, "A dull script."])  # different lengths: the second row is padded
    mask = inputs["attention_mask"]
    batch, length = mask.shape
    assert (mask == 0).any(), "the batch should contain padding"
    out = run(ours_model, inputs)

    assert out.logits.shape == (batch, 2)
    assert len(out.hidden_states) == LAYERS + 1
    for hidden in out.hidden_states:
        assert hidden.shape == (batch, length, HIDDEN)
    assert torch.equal(out.hidden_states[0], ours_model.embed(inputs["input_ids"]))

    assert isinstance(out.attentions, tuple) and len(out.attentions) == LAYERS
    for attention in out.attentions:
        assert attention.shape == (batch, HEADS, length, length)  # BERT layout: query x key
        assert torch.allclose(attention.sum(-1), torch.ones(batch, HEADS, length), atol=1e-5)
        assert (attention >= 0).all()
        # padded keys get no attention
        assert attention[1][:, :, mask[1] == 0].abs().max() < 1e-6

    assert len(out.thought_markers) == LAYERS
    for routing in out.thought_markers:
        assert routing.shape == (batch, length, MARKERS)
        assert torch.allclose(routing.sum(-1), torch.ones(batch, length), atol=1e-5)
        assert (routing >= 0).all()

    assert len(out.beacon_gates) == LAYERS
    for gates in out.beacon_gates:
        assert gates.shape == (batch, length)
        assert ((gates > 0) & (gates < 1)).all()
    assert torch.stack(out.beacon_gates).std() > 0.01, "randomised gates should vary"

    for field in ("marker_contributions", "mlp_update_ratios"):
        values = getattr(out, field)
        assert len(values) == LAYERS
        for value in values:
            assert value.shape == (batch, length)
            assert torch.isfinite(value).all()


def test_fresh_gates_start_open_at_init_bias():
    model = build_model("ours", beacon_init_bias=2.0)
    for layer in model.layers:
        assert torch.equal(layer.gate.bias, torch.tensor([2.0]))
        assert torch.equal(layer.beacon, torch.zeros(HIDDEN))
        assert torch.equal(layer.marker_proj.weight, torch.zeros(HIDDEN, HIDDEN))
    # the bank starts at the embeddings' scale, N(0, initializer_range): larger markers stall training
    assert model.markers.shape == (MARKERS, HIDDEN)
    assert model.markers.detach().std().item() == pytest.approx(model.config.initializer_range, rel=0.25)


# --- beacons: skipping the MLP at tau ------------------------------------------------------------------------


def _pick_tau(gates: torch.Tensor, margin: float = 1e-3) -> float:
    """A threshold halfway between two neighbouring gate values near the median, far from every gate."""
    values = gates.flatten().sort().values
    middle = len(values) // 2
    for offset in range(len(values) // 2):
        for index in (middle + offset, middle - offset):
            if 1 <= index < len(values) and values[index] - values[index - 1] > 2 * margin:
                return float((values[index] + values[index - 1]) / 2)
    raise AssertionError("no gap between gate values to put tau in")


def test_threshold_skips_exactly_like_pinning_gates_to_zero(ours_model, encode):
    randomise_gates(ours_model)
    inputs = encode(TEXT)
    dense = run(ours_model, inputs)
    tau = _pick_tau(dense.beacon_gates[0])

    seen_rows: list[list[int]] = [[] for _ in ours_model.layers]
    handles = [
        layer.mlp.register_forward_hook(
            lambda module, args, output, i=index: seen_rows[i].append(args[0].reshape(-1, HIDDEN).shape[0])
        )
        for index, layer in enumerate(ours_model.layers)
    ]
    try:
        skipped = run(ours_model, inputs, beacon_threshold=tau)
    finally:
        for handle in handles:
            handle.remove()

    pins = []
    total_dropped = 0
    for index, gates in enumerate(skipped.beacon_gates):
        gates = gates[0]
        assert (gates - tau).abs().min() > 1e-4, "tau too close to a gate: the comparison would be fragile"
        below = (gates < tau).nonzero().flatten().tolist()
        kept = int((gates >= tau).sum())
        # The MLP really saw only the kept rows, once per layer.
        assert seen_rows[index] == [kept], f"layer {index}: MLP saw {seen_rows[index]}, {kept} rows kept"
        total_dropped += len(below)
        pins.append(GatePin(index, below, 0.0))
    assert total_dropped > 0 and sum(sum(rows) for rows in seen_rows) < LAYERS * inputs["input_ids"].shape[1]

    pinned = run(ours_model, inputs, beacon_threshold=0.0, pinned_gates=pins)
    assert torch.allclose(skipped.logits, pinned.logits, atol=1e-5)
    for a, b in zip(skipped.hidden_states, pinned.hidden_states, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    # ...and skipping really changed the output compared with the dense run.
    assert not torch.allclose(skipped.logits, dense.logits, atol=1e-4)
    # Skipped slots report no MLP update.
    for index, pin in enumerate(pins):
        assert torch.equal(skipped.mlp_update_ratios[index][0, pin.positions], torch.zeros(len(pin.positions)))


def test_threshold_zero_runs_the_mlp_on_every_row(ours_model, encode):
    randomise_gates(ours_model)
    inputs = encode(TEXT)
    rows: list[int] = []
    handle = ours_model.layers[0].mlp.register_forward_hook(
        lambda m, a, o: rows.append(a[0].reshape(-1, HIDDEN).shape[0])
    )
    try:
        run(ours_model, inputs, beacon_threshold=0.0)
    finally:
        handle.remove()
    assert rows == [inputs["input_ids"].numel()]


def test_config_threshold_is_the_default_tau(encode):
    """forward() without beacon_threshold uses config.beacon_threshold."""
    model = build_model("ours")
    randomise_gates(model)
    inputs = encode(TEXT)
    tau = _pick_tau(run(model, inputs).beacon_gates[0])
    explicit = run(model, inputs, beacon_threshold=tau)
    model.config.beacon_threshold = tau
    implicit = run(model, inputs)
    assert torch.equal(explicit.logits, implicit.logits)


# --- forced markers ------------------------------------------------------------------------------------------


def test_forced_marker_gives_one_hot_routing_at_the_forced_slots(ours_model, encode):
    randomise_marker_projections(ours_model)
    inputs = encode(TEXT)
    free = run(ours_model, inputs)
    force = MarkerForce(layer=1, positions=[2, 3], marker=4)
    forced = run(ours_model, inputs, forced_markers=[force])

    one_hot = torch.nn.functional.one_hot(torch.tensor(4), MARKERS).float()
    for position in (2, 3):
        assert torch.equal(forced.thought_markers[1][0, position], one_hot)
        assert not torch.equal(free.thought_markers[1][0, position], one_hot)
    others = [i for i in range(inputs["input_ids"].shape[1]) if i not in (2, 3)]
    assert torch.equal(forced.thought_markers[1][0, others], free.thought_markers[1][0, others])
    # Layers before the forced one are untouched, as is everything they computed.
    assert torch.equal(forced.thought_markers[0], free.thought_markers[0])
    assert torch.equal(forced.hidden_states[1], free.hidden_states[1])
    assert torch.equal(forced.beacon_gates[0], free.beacon_gates[0])
    # With a non-zero W_m the forced marker moves the prediction.
    assert not torch.allclose(forced.logits, free.logits, atol=1e-4)


def test_forcing_the_argmax_marker_changes_only_that_slot(ours_model, encode):
    randomise_marker_projections(ours_model)
    inputs = encode(TEXT)
    free = run(ours_model, inputs)
    layer, position = 0, 3
    argmax = int(free.thought_markers[layer][0, position].argmax())
    forced = run(ours_model, inputs, forced_markers=[MarkerForce(layer, [position], argmax)])

    routing_free, routing_forced = free.thought_markers[layer][0], forced.thought_markers[layer][0]
    assert torch.equal(routing_forced[position], torch.nn.functional.one_hot(torch.tensor(argmax), MARKERS).float())
    assert routing_forced[position].argmax() == routing_free[position].argmax()
    assert not torch.equal(routing_forced[position], routing_free[position])  # the distribution became one-hot
    others = [i for i in range(routing_free.shape[0]) if i != position]
    assert torch.equal(routing_forced[others], routing_free[others])


def test_forcing_every_position(ours_model, encode):
    inputs = encode(TEXT)
    forced = run(ours_model, inputs, forced_markers=[MarkerForce(0, None, 2)])
    expected = torch.zeros(inputs["input_ids"].shape[1], MARKERS)
    expected[:, 2] = 1.0
    assert torch.equal(forced.thought_markers[0][0], expected)


def test_forcing_is_a_no_op_while_marker_projection_is_zero(ours_model, encode):
    """Training-free init: W_m = 0, so markers add nothing and forcing them cannot move the logits."""
    for layer in ours_model.layers:
        assert torch.equal(layer.marker_proj.weight, torch.zeros_like(layer.marker_proj.weight))
    inputs = encode(TEXT)
    free = run(ours_model, inputs)
    forced = run(ours_model, inputs, forced_markers=[MarkerForce(0, None, 1), MarkerForce(1, [1, 2], 3)])
    assert not torch.equal(free.thought_markers[0], forced.thought_markers[0])
    assert torch.equal(free.logits, forced.logits)
    for contribution in forced.marker_contributions:
        assert torch.equal(contribution, torch.zeros_like(contribution))


# --- pinned gates --------------------------------------------------------------------------------------------


def test_pinned_gate_values_hold(ours_model, encode):
    randomise_gates(ours_model)
    inputs = encode(TEXT)
    free = run(ours_model, inputs)
    pinned = run(ours_model, inputs, pinned_gates=[GatePin(1, None, 1.0), GatePin(0, [0, 4], 0.0)])
    assert torch.equal(pinned.beacon_gates[1], torch.ones_like(pinned.beacon_gates[1]))
    assert torch.equal(pinned.beacon_gates[0][0, [0, 4]], torch.zeros(2))
    others = [i for i in range(inputs["input_ids"].shape[1]) if i not in (0, 4)]
    assert torch.equal(pinned.beacon_gates[0][0, others], free.beacon_gates[0][0, others])
    assert not torch.allclose(pinned.logits, free.logits, atol=1e-4)


def test_all_gates_pinned_open_equals_the_model_without_gates(ours_model, encode):
    """g = 1 everywhere gives x = h + MLP(LN(h)): the same weights in a config without beacons."""
    randomise_gates(ours_model)
    randomise_marker_projections(ours_model)
    ungated = ThoughtBeaconForSequenceClassification(tiny_config("ours", use_beacons=False)).eval()
    result = ungated.load_state_dict(ours_model.state_dict(), strict=False)
    assert not result.missing_keys
    assert sorted(result.unexpected_keys) == sorted(
        f"layers.{i}.{name}" for i in range(LAYERS) for name in ("beacon", "gate.weight", "gate.bias")
    )

    inputs = encode([TEXT, CORPUS[5]])
    pins = [GatePin(layer, None, 1.0) for layer in range(LAYERS)]
    open_gates = run(ours_model, inputs, pinned_gates=pins)
    reference = run(ungated, inputs)
    assert reference.beacon_gates is None
    assert torch.allclose(open_gates.logits, reference.logits, atol=1e-6)
    for a, b in zip(open_gates.hidden_states, reference.hidden_states, strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    # The unpinned model differs: its gates are not 1.
    assert not torch.allclose(run(ours_model, inputs).logits, reference.logits, atol=1e-4)


# --- baseline twin, determinism, validation ------------------------------------------------------------------


def test_baseline_twin_has_no_marker_or_gate_parameters(encode):
    baseline = build_model("baseline")
    names = [name for name, _ in baseline.named_parameters()]
    assert baseline.markers is None
    for name in names:
        parts = set(name.split("."))
        assert not parts & {"markers", "router", "router_norm", "marker_proj", "beacon", "gate"}, name

    out = run(baseline, encode(TEXT))
    assert out.thought_markers is None
    assert out.beacon_gates is None
    assert out.marker_contributions is None
    assert len(out.attentions) == LAYERS and len(out.hidden_states) == LAYERS + 1
    assert len(out.mlp_update_ratios) == LAYERS

    ours = build_model("ours")
    extra = sum(p.numel() for p in ours.parameters()) - sum(p.numel() for p in baseline.parameters())
    per_layer = (HIDDEN * MARKERS + MARKERS) + 2 * HIDDEN + HIDDEN * HIDDEN + HIDDEN + (2 * HIDDEN + 1)
    assert extra == MARKERS * HIDDEN + LAYERS * per_layer


def test_eval_mode_is_deterministic(ours_model, encode):
    inputs = encode([TEXT, CORPUS[3]])
    first, second = run(ours_model, inputs), run(ours_model, inputs)
    assert torch.equal(first.logits, second.logits)
    for a, b in zip(first.attentions, second.attentions, strict=True):
        assert torch.equal(a, b)
    # The check is not vacuous: in training mode, dropout makes two runs differ.
    ours_model.train()
    torch.manual_seed(1)
    noisy = run(ours_model, inputs)
    assert not torch.equal(noisy.logits, first.logits)


@pytest.mark.parametrize(
    "intervention",
    [
        {"forced_markers": [MarkerForce(LAYERS, [1], 0)]},
        {"forced_markers": [MarkerForce(-1, [1], 0)]},
        {"pinned_gates": [GatePin(LAYERS, None, 1.0)]},
        {"pinned_gates": [GatePin(-1, None, 1.0)]},
    ],
    ids=["force-past-last", "force-negative", "pin-past-last", "pin-negative"],
)
def test_invalid_layer_raises_value_error(ours_model, encode, intervention):
    with pytest.raises(ValueError, match="layer"):
        run(ours_model, encode(TEXT), **intervention)


def test_config_rejects_hidden_size_not_divisible_by_heads():
    with pytest.raises(ValueError, match="multiple"):
        ThoughtBeaconConfig(hidden_size=30, num_attention_heads=4)


def test_skipping_runs_under_autocast(ours_model, encode):
    """Mixed precision runs the MLP in bf16; the scatter into the update must follow that dtype."""
    inputs = encode(["the film was good", "a dull plot"])
    with torch.inference_mode():
        full_precision = ours_model(**inputs, beacon_threshold=0.9)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = ours_model(**inputs, beacon_threshold=0.9)
    assert torch.isfinite(out.logits.float()).all()
    # Skipping really ran under autocast: every slot whose gate fell below tau got no MLP update, some did...
    skipped = [ratios[gates < 0.9] for gates, ratios in zip(out.beacon_gates, out.mlp_update_ratios, strict=True)]
    assert sum(s.numel() for s in skipped) > 0 and all(bool((s == 0).all()) for s in skipped)
    # ...and the result is the fp32 run's, to bf16's precision.
    assert torch.allclose(out.logits.float(), full_precision.logits, atol=0.05, rtol=0.05)
