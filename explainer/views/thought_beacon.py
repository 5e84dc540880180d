"""Figures for thought markers and activation beacons: pure functions of a Trace, a dictionary or a sweep.

Token text is HTML-escaped wherever plotly renders it (axes, hover, node labels).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from plotly import colors as plotly_colors

from explainer.views.colours import page_safe
from explainer.views.text import index_within, label_texts, marker_name, numbered, plot_text, tau_text, token_labels

if TYPE_CHECKING:
    from explainer.capture.tracing import Trace

PALETTE = (  # 20 distinguishable colours (plotly's Dark24, whose two near-identical pinks at 11 and 12 are swapped
    # for a brown and a cyan), then plotly's Light24; markers beyond 43 wrap around. Every view colours a marker
    # id the same (Markers, the map).
    "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86", "#EB663B", "#511CFB",
    "#00A08B", "#6C4516", "#17BECF", "#B2828D", "#6C7C32", "#778AAE", "#862A16", "#A777F1", "#620042", "#1616A7",
)


MORE_COLOURS = tuple(plotly_colors.qualitative.Light24)  # markers 20-43 (a model with more than 20 markers)


def marker_color(marker: int) -> str:
    colours = PALETTE + MORE_COLOURS
    return colours[marker % len(colours)]


def _layer_labels(layers: int) -> list[str]:
    return [f"layer {i}" for i in range(layers)]


def _distribution_text(probs: np.ndarray) -> str:
    """Every marker's probability, largest first, four per line: "m3 0.912 · m7 0.051 · ..."."""
    order = np.argsort(-probs, kind="stable")
    parts = [f"{marker_name(k)} {probs[k]:.3f}" for k in order]
    return "<br>".join(" · ".join(parts[i : i + 4]) for i in range(0, len(parts), 4))


def marker_map(trace: Trace, title: str = "Chosen marker per layer and token") -> go.Figure:
    """Layers x tokens, each cell the argmax marker (coloured by id, labelled "m3"); hover: the full routing
    distribution and the contribution ratio ||W_m m|| / ||x||. Forced slots are outlined."""
    if trace.thought_markers is None:
        raise ValueError(f"{trace.model_name} has no thought markers")
    path = trace.marker_path  # [layers, T]
    layers, length, k = trace.thought_markers.shape
    labels = token_labels(trace.tokens)
    contributions = trace.marker_contributions
    hover = [
        [
            f"layer {layer} · token {labels[i]}<br>marker <b>{marker_name(path[layer, i])}</b> "
            f"(p {trace.thought_markers[layer, i, path[layer, i]]:.3f})<br>"
            f"contribution ‖W<sub>m</sub>m‖/‖x‖ {contributions[layer, i]:.4f}<br>"
            f"{_distribution_text(trace.thought_markers[layer, i])}"
            for i in range(length)
        ]
        for layer in range(layers)
    ]
    steps = []  # a discrete colour scale: each marker id one flat band
    for m in range(k):
        steps += [[m / k, marker_color(m)], [(m + 1) / k, marker_color(m)]]
    figure = go.Figure(
        go.Heatmap(
            z=path,
            x=labels,
            y=_layer_labels(layers),
            zmin=-0.5,
            zmax=k - 0.5,
            colorscale=steps,
            text=[[marker_name(v) for v in row] for row in path],
            texttemplate="%{text}",
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
            showscale=False,  # every cell is labelled with its marker id
            xgap=1,
            ygap=1,
        )
    )
    forced = _forced_slots(trace)
    if forced:
        figure.add_trace(
            go.Scatter(
                x=[labels[i] for _, i in forced],
                y=[f"layer {layer}" for layer, _ in forced],
                mode="markers",
                marker={"symbol": "square-open", "size": 22, "color": "black", "line": {"width": 3}},
                name="forced",
                hoverinfo="skip",
            )
        )
    figure.update_layout(
        title=title,
        xaxis={"type": "category", "tickangle": -60},
        yaxis={"type": "category", "autorange": "reversed"},
        height=160 + 40 * layers,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        showlegend=False,
    )
    return figure


def _forced_slots(trace: Trace) -> list[tuple[int, int]]:
    every = range(len(trace.tokens))
    return sorted({(f.layer, p) for f in trace.forced_markers for p in (every if f.positions is None else f.positions)})


def reasoning_sankey(trace: Trace, token: int | None = None) -> go.Figure:
    """The reasoning path as flows between the chosen markers of consecutive layers.

    All tokens (`token` None): a node per (layer, marker) in use, sized by how many tokens chose it; a link
    per pair of markers at consecutive layers, its width the number of tokens that went from one to the
    other. One token: its path, each link as wide as the routing probability of the marker it reaches."""
    if trace.thought_markers is None:
        raise ValueError(f"{trace.model_name} has no thought markers")
    path = trace.marker_path  # [layers, T]
    layers, length = path.shape
    token = None if token is None else index_within(token, length, "token")
    positions = list(range(length)) if token is None else [token]
    escaped = [plot_text(t) for t in trace.tokens]
    nodes: dict[tuple[int, int], int] = {}
    members: dict[tuple[int, int], list[str]] = {}
    for layer in range(layers):
        for i in positions:
            key = (layer, int(path[layer, i]))
            nodes.setdefault(key, len(nodes))
            members.setdefault(key, []).append(numbered(i, escaped[i]))
    flows: dict[tuple[int, int], float] = {}
    for layer in range(layers - 1):
        for i in positions:
            source, target = nodes[layer, int(path[layer, i])], nodes[layer + 1, int(path[layer + 1, i])]
            weight = 1.0 if token is None else float(trace.thought_markers[layer + 1, i, path[layer + 1, i]])
            flows[source, target] = flows.get((source, target), 0.0) + weight
    keys = list(nodes)
    node_hover = [
        f"layer {layer}, marker {marker_name(m)}<br>{len(members[layer, m])} token(s): "
        + ", ".join(members[layer, m][:12])
        + (" …" if len(members[layer, m]) > 12 else "")
        for layer, m in keys
    ]
    figure = go.Figure(
        go.Sankey(
            arrangement="snap",
            textfont={"color": "#1f2430", "size": 12},  # dark on the pastel marker colours (the theme's was white)
            node={
                "label": [f"L{layer} m{m}" for layer, m in keys],
                "color": [marker_color(m) for _, m in keys],
                "customdata": node_hover,
                "hovertemplate": "%{customdata}<extra></extra>",
                "pad": 8,
            },
            link={
                "source": [s for s, _ in flows],
                "target": [t for _, t in flows],
                "value": list(flows.values()),
                "color": [_fade(marker_color(keys[s][1])) for s, _ in flows],
                "hovertemplate": "%{source.label} → %{target.label}: %{value:.3g}<extra></extra>",
            },
        )
    )
    # One token's nodes differ in height by design: each link is as wide as the routing probability it reaches.
    who = "all tokens" if token is None else f"token {token} {escaped[token]} (width: routing probability)"
    figure.update_layout(title=f"Reasoning path: {who}", height=420, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return figure


def _fade(color: str, alpha: float = 0.35) -> str:
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _layers_by_tokens(trace: Trace, values: np.ndarray, title: str, name: str, colorscale: str | list, zmax: float,
                      hover_extra: list[list[str]] | None = None) -> go.Figure:
    labels = token_labels(trace.tokens)
    layers = values.shape[0]
    custom = hover_extra or [["" for _ in labels] for _ in range(layers)]
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=labels,
            y=_layer_labels(layers),
            zmin=0.0,
            zmax=zmax,
            colorscale=page_safe(colorscale),
            customdata=custom,
            colorbar={"title": name},
            hovertemplate=f"%{{y}} · token %{{x}}<br>{name} %{{z:.4f}}%{{customdata}}<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    figure.update_layout(
        title=title,
        xaxis={"type": "category", "tickangle": -60},
        yaxis={"type": "category", "autorange": "reversed"},
        height=160 + 40 * layers,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure


def gate_map(trace: Trace, title: str = "Beacon gate g per layer and token") -> go.Figure:
    """Beacon gates g (how much of its MLP each slot applies) per layer and token; hover says kept/skipped."""
    if trace.beacon_gates is None:
        raise ValueError(f"{trace.model_name} has no activation beacons")
    tau = trace.beacon_threshold or 0.0
    pinned = {(p.layer, i) for p in trace.pinned_gates
              for i in (p.positions if p.positions is not None else range(len(trace.tokens)))}
    extra = [
        [
            ("<br>MLP skipped (g < τ)" if tau > 0 and g < tau else "<br>MLP run")
            + (" · pinned" if (layer, i) in pinned else "")
            for i, g in enumerate(row)
        ]
        for layer, row in enumerate(trace.beacon_gates)
    ]
    return _layers_by_tokens(trace, trace.beacon_gates, title, "gate", "Viridis", 1.0, extra)


def skip_mask_map(skip_mask: np.ndarray, trace: Trace, tau: float) -> go.Figure:
    """[layers, T] kept (0) / skipped (1) at tau."""
    figure = _layers_by_tokens(
        trace, skip_mask.astype(float), f"MLP skipped at τ = {tau_text(tau)} (dark: skipped)", "skipped",
        [[0, "#e8f0fb"], [1, "#1f3b73"]], 1.0,
    )
    figure.update_traces(showscale=False, hovertemplate="%{y} · token %{x}<br>skipped: %{z:.0f}<extra></extra>")
    return figure


def mlp_ratio_map(trace: Trace) -> go.Figure:
    """The measured ||MLP update|| / ||residual entering the MLP|| per layer and token (every family). A beacon
    model's is the update it applied: gated, and 0 where its gate skipped the MLP (titled so)."""
    if trace.mlp_update_ratio is None:
        raise ValueError(f"{trace.model_name}: no MLP update ratio was measured")
    values = trace.mlp_update_ratio
    title = "Measured MLP update ratio ‖MLP(h)‖ / ‖h‖"
    if trace.beacon_gates is not None:
        tau = tau_text(trace.beacon_threshold or 0.0)
        title = f"Applied MLP update ‖g·MLP(h)‖ / ‖h‖ at τ = {tau} (0 where skipped)"
    return _layers_by_tokens(trace, values, title, "ratio", "Magma_r", float(values.max()) if values.size else 1.0)


def tau_curve(result: dict[str, Any], current_tau: float | None = None) -> go.Figure:
    """Accuracy against the share of total FLOPs saved, one point per tau; the model's own tau is a star,
    the tau chosen on the page a ring, and the dense accuracy (tau 0) a dashed line."""
    points = result["points"]
    x = [p["flops_saved"] for p in points]
    y = [p["accuracy"] for p in points]
    hover = [
        f"τ {p['tau']:.2f}<br>accuracy {p['accuracy']:.3f}<br>MLP evaluations skipped {p['skip_rate']:.1%}"
        f"<br>total FLOPs saved {p['flops_saved']:.1%}"
        for p in points
    ]
    figure = go.Figure(
        go.Scatter(x=x, y=y, mode="lines+markers", name="τ sweep", customdata=hover,
                   hovertemplate="%{customdata}<extra></extra>", line={"color": "#1f77b4"})
    )
    dense = next((p for p in points if p["tau"] == 0.0), None)
    if dense is not None:
        figure.add_hline(y=dense["accuracy"], line_dash="dash", line_color="gray",
                         annotation_text="dense (τ 0)", annotation_position="top left")  # the right end holds
        # the high-τ points and the model's star, which the label covered
    for tau, symbol, label, size in ((result.get("model_tau"), "star", "model's τ", 18),
                                     (current_tau, "circle-open", "chosen τ", 16)):
        point = _nearest(points, tau)
        if point is not None:
            # a τ between the swept ones is drawn at the nearest, and said so: "chosen τ (0.45)" beside a 0.44 slider
            swept = "" if abs(point["tau"] - tau) < 5e-3 else f", drawn at the nearest swept τ {point['tau']:.2f}"
            figure.add_trace(
                go.Scatter(x=[point["flops_saved"]], y=[point["accuracy"]], mode="markers",
                           name=f"{label} ({tau_text(tau)}{swept})",
                           marker={"symbol": symbol, "size": size, "color": "#d62728", "line": {"width": 2}},
                           hoverinfo="skip")
            )
    # A y range of at least 10 points: a 1-point dip must not fill the plot's height.
    low, high = min(y), max(y)
    pad = max(0.0, 0.1 - (high - low)) / 2 + 0.01
    figure.update_layout(
        xaxis={"title": "share of total FLOPs saved", "tickformat": ".0%"},
        yaxis={"title": "accuracy", "range": [max(0.0, low - pad), min(1.0, high + pad)], "tickformat": ".0%"},
        height=420,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": -0.2},
    )
    return figure


def _nearest(points: list[dict], tau: float | None) -> dict | None:
    if tau is None or not points:
        return None
    return min(points, key=lambda p: abs(p["tau"] - tau))


def marker_matrix(values: np.ndarray, title: str, name: str, diverging: bool = False) -> go.Figure:
    """A layers x markers map from the dictionary (share of slots, or an effect on a logit)."""
    layers, k = values.shape
    limit = float(np.abs(values).max()) or 1.0
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=[marker_name(m) for m in range(k)],
            y=_layer_labels(layers),
            colorscale="RdBu" if diverging else "Blues",
            zmid=0.0 if diverging else None,
            zmin=-limit if diverging else 0.0,
            zmax=limit,
            colorbar={"title": name},
            hovertemplate=f"%{{y}}, marker %{{x}}<br>{name} %{{z:.4g}}<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    figure.update_layout(
        title=title,
        xaxis={"type": "category"},
        yaxis={"type": "category", "autorange": "reversed"},
        height=160 + 40 * layers,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure


def prediction_change(before: Trace, after: Trace, after_name: str = "after") -> go.Figure:
    """Grouped bars: each label's probability before and after an intervention."""
    labels = label_texts(before.label_names)
    figure = go.Figure(
        [
            go.Bar(name="before", x=labels, y=before.probabilities, marker_color="#b0b0b0",
                   text=[f"{p:.1%}" for p in before.probabilities], textposition="auto"),
            go.Bar(name=after_name, x=labels, y=after.probabilities, marker_color="#d62728",
                   text=[f"{p:.1%}" for p in after.probabilities], textposition="auto"),
        ]
    )
    # The legend above the bars: under them, a horizontal legend covered the label names.
    figure.update_layout(barmode="group", yaxis={"range": [0, 1], "title": "probability"}, height=300,
                         xaxis={"type": "category"},  # the model's label order, never a number line
                         margin={"l": 10, "r": 10, "t": 30, "b": 10},
                         legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"})
    return figure
