"""Marker and beacon figures: what they draw is what the Trace, dictionary or sweep holds; text is escaped."""

from __future__ import annotations

import json

import numpy as np
import plotly.colors
import pytest

from explainer.capture.tracing import trace
from explainer.thought_beacon.beacons import input_compute
from explainer.thought_beacon.interventions import gate_pins, marker_forces
from explainer.views import thought_beacon as tb_figures
from explainer.views.colours import STAND_IN, page_safe

TEXT = "A <b>bold</b> film & a quiet triumph."


@pytest.fixture(scope="module")
def ours(ours_bundle):
    return trace(ours_bundle, TEXT, beacon_threshold=0.5)


def test_marker_map_cells_and_hover(ours):
    figure = tb_figures.marker_map(ours)
    heatmap = figure.data[0]
    assert np.array_equal(np.array(heatmap.z), ours.marker_path)
    layers, length, k = ours.thought_markers.shape
    hover = heatmap.customdata[1][2]
    assert f"m{ours.marker_path[1, 2]}" in hover and f"{ours.marker_contributions[1, 2]:.4f}" in hover
    assert all(f"m{m} " in hover for m in range(k))  # the full distribution
    assert "&lt;" in " ".join(heatmap.x) and not any("<" in label for label in heatmap.x)
    assert len(figure.data) == 1  # nothing forced: no outlines


def test_forced_slots_are_outlined(ours_bundle):
    forced = trace(ours_bundle, TEXT, forced_markers=marker_forces([1], [2, 3], 4))
    outline = tb_figures.marker_map(forced).data[1]
    assert list(outline.y) == ["layer 1", "layer 1"] and len(outline.x) == 2


def test_sankey_flows_count_tokens_between_consecutive_layers(ours):
    layers, length = ours.marker_path.shape
    sankey = tb_figures.reasoning_sankey(ours).data[0]
    assert sum(sankey.link.value) == length * (layers - 1)
    used = {(layer, int(m)) for layer in range(layers) for m in ours.marker_path[layer]}
    assert len(sankey.node.label) == len(used)
    one = tb_figures.reasoning_sankey(ours, token=3).data[0]
    assert len(one.link.value) == layers - 1 and len(one.node.label) == layers
    expected = [ours.thought_markers[layer + 1, 3, ours.marker_path[layer + 1, 3]] for layer in range(layers - 1)]
    np.testing.assert_allclose(one.link.value, expected, rtol=1e-6)
    assert all("<" not in text.replace("<br>", "") for text in sankey.node.customdata)


def test_gate_and_skip_maps(ours_bundle, ours):
    gates = tb_figures.gate_map(ours).data[0]
    assert np.array_equal(np.array(gates.z), ours.beacon_gates)
    saved = input_compute(ours, ours_bundle.model.config)
    skipped = tb_figures.skip_mask_map(saved.skip_mask, ours, 0.5).data[0]
    assert np.array_equal(np.array(skipped.z), saved.skip_mask.astype(float))
    pinned = trace(ours_bundle, TEXT, beacon_threshold=0.5, pinned_gates=gate_pins([0], [1], 0.0))
    assert "pinned" in tb_figures.gate_map(pinned).data[0].customdata[0][1]


def test_mlp_ratio_map_for_any_family(bundle):
    bert = trace(bundle("bert"), TEXT)
    figure = tb_figures.mlp_ratio_map(bert)
    assert np.array_equal(np.array(figure.data[0].z), bert.mlp_update_ratio)
    # its darkest stop (the largest ratios) was Magma's "#000004", a string Streamlit's page swaps for a theme
    # colour: the largest values were drawn pale pink
    traces = json.dumps(json.loads(figure.to_json())["data"])  # the template's stand-ins are Streamlit's, on purpose
    assert not STAND_IN.search(traces) and figure.data[0].colorscale[-1][1] == "rgb(0, 0, 4)"
    with pytest.raises(ValueError, match="no thought markers"):
        tb_figures.marker_map(bert)


def test_a_beacon_model_s_ratio_map_is_titled_as_the_gated_update_it_applied(ours_bundle):
    """It was titled ‖MLP(h)‖ / ‖h‖, the MLP's size, while its values are 0 at every skipped slot."""
    gated = trace(ours_bundle, TEXT, beacon_threshold=0.5)
    title = tb_figures.mlp_ratio_map(gated).layout.title.text
    assert title == "Applied MLP update ‖g·MLP(h)‖ / ‖h‖ at τ = 0.50 (0 where skipped)"


def test_tau_curve_marks_the_model_tau():
    points = [{"tau": t, "accuracy": a, "skip_rate": s, "flops_saved": s / 2, "mlp_flops_saved": s}
              for t, a, s in ((0.0, 0.8, 0.0), (0.5, 0.79, 0.6), (0.95, 0.78, 0.99))]
    figure = tb_figures.tau_curve({"points": points, "model_tau": 0.95}, current_tau=0.5)
    star = next(d for d in figure.data if d.marker.symbol == "star")
    assert list(star.x) == [0.495] and list(star.y) == [0.78]
    ring = next(d for d in figure.data if d.marker.symbol == "circle-open")
    assert list(ring.x) == [0.3] and ring.name == "chosen τ (0.50)" and star.name == "model's τ (0.95)"
    # between swept points: drawn at the nearest, named by the slider's value (it said "chosen τ (0.45)" at 0.44)
    between = tb_figures.tau_curve({"points": points, "model_tau": 0.95}, current_tau=0.44)
    ring = next(d for d in between.data if d.marker.symbol == "circle-open")
    assert list(ring.x) == [0.3] and ring.name == "chosen τ (0.44, drawn at the nearest swept τ 0.50)"
    low, high = figure.layout.yaxis.range
    assert high - low >= 0.1 and low <= 0.78 and high >= 0.8


def test_page_safe_scales_keep_every_colour_and_write_stand_ins_as_rgb():
    assert page_safe("Viridis") == [[p, c] for p, c in plotly.colors.get_colorscale("Viridis")]
    assert page_safe([[0, "#000030"], [0.5, "#000031"], [1, "#00000A"]]) == [
        [0, "rgb(0, 0, 48)"], [0.5, "#000031"], [1, "#00000A"]]  # 31 and hex letters are no stand-ins


def test_a_layer_head_or_token_out_of_range_is_named_not_drawn_under_a_wrong_title(ours):
    """attention_heatmap(t, -1, 0) drew the last layer titled "Layer -1", layer 6 of six was numpy's IndexError,
    and the Sankey of token -1 was titled "token -1 [SEP]"."""
    from explainer.views.attention import attention_heatmap

    layers, heads, length = ours.num_layers, ours.num_heads, len(ours.tokens)
    for layer, head, said in ((layers, 0, f"Layer {layers} is out of range"), (-1, 0, "Layer -1 is out of range"),
                              (0, heads, f"Head {heads} is out of range"), (0.5, 0, "whole number")):
        with pytest.raises(ValueError, match=said):
            attention_heatmap(ours, layer, head)
    assert attention_heatmap(ours, np.int64(layers - 1), 0).layout.title.text == f"Layer {layers - 1}, head 0"
    for token in (-1, length):
        with pytest.raises(ValueError, match=f"Token {token} is out of range: there are {length}"):
            tb_figures.reasoning_sankey(ours, token)
