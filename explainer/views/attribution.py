"""Figures and HTML of attributions: pure functions, no model, no Streamlit.

Token text is HTML-escaped everywhere it is rendered (the highlighted text, axis labels, hover), because
user text may contain markup and plotly interprets a subset of HTML in its strings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explainer.attribution.options import UNRELIABLE, offered_baselines
from explainer.attribution.registry import REGISTRY
from explainer.attribution.registry import title as method_title
from explainer.views.text import (
    display_token,
    hidden_state_name,
    html_piece,
    html_text,
    isolated,
    label_text,
    markdown_literal,
    markdown_strong,
    numbered,
    plot_text,
    plural,
    token_labels,
)

if TYPE_CHECKING:
    from explainer.attribution.faithfulness import Agreement, Faithfulness
    from explainer.attribution.graph import AttentionAttribution, AttributionGraph
    from explainer.attribution.result import Attribution
    from explainer.loading.bundle import ModelBundle

DIVERGING = "RdBu"  # red against the label, blue for it
ONE_SIDED = "Purples"  # unsigned scores: how much a token weighs, never for or against a label
_FOR, _AGAINST, _WEIGHT = "33, 102, 172", "178, 24, 43", "84, 39, 143"  # blue, red; purple for unsigned


def signed(method: str) -> bool:
    """Whether `method`'s scores are for (+) and against (-) the label; one not registered is taken as signed."""
    return REGISTRY[method].signed if method in REGISTRY else True


def depends_on_target(method: str) -> bool:
    """Whether `method`'s scores change with the target label (attention rollout's do not)."""
    return REGISTRY[method].depends_on_target if method in REGISTRY else True


def colour_scale(method: str) -> str:
    """The plotly colour scale of `method`'s scores: diverging around zero if signed, one-sided if not."""
    return DIVERGING if signed(method) else ONE_SIDED


def legend_sentence(method: str, label: str) -> str:
    """How to read `method`'s colours and bars, towards `label` (the attributed label's name): said under the
    highlighted text and the bars. Unsigned scores say how much a token matters, not for which label; attention
    rollout reads no label at all."""
    if signed(method):
        return f"Blue supports {label}, red speaks against it; darker = stronger."
    if depends_on_target(method):
        return (f"Darker = more weight (towards {label}); unsigned: says how much a token matters, "
                "not for which label.")
    return ("Darker = more weight; unsigned: says how much a token matters, not for which label. "
            "Does not depend on the label: the same for every target.")


def headline(attribution: Attribution, dense: str = "") -> str:
    """The Markdown line above an attribution: the label whose logit it explains, or, for a method that reads no
    label (attention rollout), that it is the same for every label. `dense`: what a dense run adds to the logit."""
    model, label = markdown_literal(attribution.model_name), markdown_strong(attribution.target_label)
    logit = f"logit {attribution.target_logit:.3f}{dense}"
    tokens = plural(len(attribution.tokens), "token")
    if depends_on_target(attribution.method):
        return f"{model}: attributing {label} ({logit}) · {tokens}"
    return f"{model}: the same for every label (it reads no logit; {label} has {logit}) · {tokens}"


def title_suffix(method: str, label: str) -> str:
    """What a figure title adds after the method: "→ label" for signed scores; unsigned ones say so (and that
    they read no label, where they do not). `label` is escaped for plotly."""
    if signed(method):
        return f" → {label_text(label)}"
    return f" (unsigned, towards {label_text(label)})" if depends_on_target(method) else " (unsigned, any label)"


def _color(value: float, scale: float, two_sided: bool = True) -> str:
    """Signed: blue for positive, red for negative, white at zero; unsigned: one hue. Alpha grows with
    |value| / scale."""
    strength = 0.0 if scale <= 0 else min(abs(value) / scale, 1.0)
    rgb = (_FOR if value >= 0 else _AGAINST) if two_sided else _WEIGHT
    return f"rgba({rgb}, {0.85 * strength:.3f})"


MOST_TICKS = 50  # token labels an axis can show legibly at -60°; past that, every 2nd, 3rd... (as plotly thins)


def tick_step(count: int, most: int = MOST_TICKS) -> int:
    """Show every step-th of `count` labels, so that at most `most` are drawn: 1 up to `most`, 3 for 137."""
    return max(1, -(-count // most))


def correlation_text(value: float) -> str:
    """A rank correlation for a metric: "0.412", or "not defined" instead of "nan" (fewer than 2 units ranked, or
    one ranking constant: undefined_reason says which)."""
    return "not defined" if np.isnan(value) else f"{value:.3f}"


def undefined_reason(units: int, unit: str = "token") -> str:
    """Why a rank correlation over `units` `unit`s is not defined."""
    if units < 2:
        return f"Rank correlations are not defined for fewer than 2 {unit}s: this text has {plural(units, unit)}."
    return "Rank correlations are not defined when one model gives every unit the same score."


STRONG = 0.6  # share of the largest |score| past which a token's shading is dark enough to need white text


def shade_scale(*attributions: Attribution) -> float:
    """The largest |score| of all `attributions`: the full shade of highlighted_html. Texts drawn side by side on
    it compare (What-if); each on its own, a 4.6 and a 0.4 maximum were both drawn darkest."""
    return max((float(np.abs(a.scores).max()) for a in attributions if a.scores.size), default=0.0)


def highlighted_html(attribution: Attribution, scale: float | None = None) -> str:
    """The input text, each token's span shaded by its attribution (signed: blue for the target label, red
    against; unsigned: one hue, darker = more weight); special tokens shown in brackets. Every piece of user text
    is escaped. `scale`: the |score| drawn darkest (shade_scale; default: this text's largest)."""
    scores = attribution.scores
    two_sided = attribution.signed
    scale = shade_scale(attribution) if scale is None else scale
    text = attribution.text
    parts: list[str] = []
    cursor = 0
    for index, token in enumerate(attribution.tokens):
        start, end = (int(v) for v in attribution.offsets[index])
        value = float(scores[index])
        strong = scale > 0 and abs(value) / scale > STRONG  # a dark background: white text stays readable
        label = token if attribution.special_tokens[index] else display_token(token)  # "Ġ" reads "␣", as on axes
        if attribution.special_tokens[index] or end <= max(start, cursor):
            shown = f"<small style='opacity:{1 if strong else 0.6};margin:0 4px'>{html_text(label)}</small>"
        else:
            if start > cursor:
                parts.append(html_piece(text[cursor:start]))
            shown = html_piece(text[max(start, cursor) : end])  # overlapping offsets: show each character once
            cursor = end
        parts.append(
            f"<span class='attribution-token' title='{html_text(label)}: {value:+.4f}' "
            # no side padding: the text's own spaces separate words, so the pieces of one word ("un", "##earned")
            # and a word's punctuation read as typed, not as separate words
            f"style='background:{_color(value, scale, two_sided)};padding:1px 0;border-radius:3px"
            f"{';color:#fff' if strong else ''}'>{shown}</span>"
        )
    return (
        "<div class='attribution-text' style='line-height:2;font-size:1.05rem;white-space:pre-wrap'>"
        + "".join(parts)
        + "</div>"
    )


def layer_mean_note(attribution: Attribution) -> str:
    """What a per-layer method's one score per token is: the mean of its hidden states' rows (each of which sums to
    the logit's change, so the mean does too); "" for any other method."""
    if attribution.layer_scores is None:
        return ""
    return f"mean over the {len(attribution.layer_scores)} hidden states"


def bars(attribution: Attribution) -> go.Figure:
    labels = token_labels(attribution.tokens)
    mean = layer_mean_note(attribution)
    scores = attribution.scores
    two_sided = attribution.signed
    figure = go.Figure(
        go.Bar(
            x=labels,
            y=scores,
            marker_color=[("#2166ac" if v >= 0 else "#b2182b") if two_sided else "#54278f" for v in scores],
            hovertemplate="%{x}<br>attribution %{y:.4f}<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"{attribution.title}{f' ({mean})' if mean else ''}"
              f"{title_suffix(attribution.method, attribution.target_label)}",
        xaxis={"type": "category", "tickangle": -60},
        yaxis={"title": "attribution" if two_sided else "weight (unsigned)"},
        height=360,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure


def layer_heatmap(attribution: Attribution) -> go.Figure:
    """Hidden states x tokens of a per-layer method: the embeddings first, then the output of each layer."""
    if attribution.layer_scores is None:
        raise ValueError(f"{attribution.method} has no per-layer scores")
    values = attribution.layer_scores
    bound = float(np.abs(values).max()) or 1.0
    rows = [hidden_state_name(index) for index in range(values.shape[0])]
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=token_labels(attribution.tokens),
            y=rows,
            colorscale=colour_scale(attribution.method),
            zmin=-bound if attribution.signed else 0.0,
            zmax=bound,
            colorbar={"title": "conductance" if attribution.method == "layer_conductance" else "attribution"},
            hovertemplate="%{y}<br>%{x}<br>%{z:.4f}<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"{attribution.title} per layer",
        xaxis={"type": "category", "tickangle": -60},
        yaxis={"type": "category", "autorange": "reversed"},
        height=160 + 40 * values.shape[0],
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure


NOT_RELIABLE_MARK = " (not reliable)"  # after a method's name in the tables of every method


def unreliable_methods(attributions: Mapping[str, Attribution]) -> list[str]:
    """The methods whose scores for this text carry the not-reliable note (a path integral that did not converge,
    LIME or KernelSHAP with too few samples): the tables mark them and every_method_warning names them, since their
    scores feed every section."""
    return [method for method, result in attributions.items() if any(UNRELIABLE in note for note in result.notes)]


def every_method_warning(attributions: Mapping[str, Attribution]) -> str | None:
    """The warning over the every-method sections, or None: layer conductance missing completeness by 172% on a
    Llama was said on its own view only, while its column, faithfulness and agreement were shown as any other."""
    failing = unreliable_methods(attributions)
    if not failing:
        return None
    names = ", ".join(method_title(method) for method in failing)
    its, view = ("its", "its own view says why") if len(failing) == 1 else ("their", "each one's own view says why")
    return (f"{names}: {UNRELIABLE} on this text ({view}: an integral that has not converged, or too few samples). "
            f"{its.capitalize()} scores are in the table, the faithfulness curves and the agreement maps below all "
            "the same: read them with that in mind.")


def methods_table(attributions: Mapping[str, Attribution]) -> pd.DataFrame:
    """One row per token, one column per method (raw values); a method whose scores are not reliable on this text
    is marked so in its column's name."""
    first = next(iter(attributions.values()))
    table = pd.DataFrame({"token": [display_token(token) for token in first.tokens]})  # as the axes show them
    failing = unreliable_methods(attributions)
    for method, result in attributions.items():
        mean = layer_mean_note(result)
        mark = NOT_RELIABLE_MARK if method in failing else ""
        table[method_title(method) + (f" ({mean})" if mean else "") + mark] = result.scores
    return table


def faithfulness_table(results: Mapping[str, Faithfulness], unreliable: Sequence[str] = ()) -> pd.DataFrame:
    """One row per method: its faithfulness measures to 4 places; a measure this text leaves undefined (the
    comprehensiveness of a model's one text token when it adds no special tokens: removing it leaves nothing to
    read) says so instead of an empty cell. Methods in `unreliable` (unreliable_methods) are marked."""
    table = pd.DataFrame([{"method": method_title(m) + (NOT_RELIABLE_MARK if m in unreliable else ""), **f.summary()}
                          for m, f in results.items()]).round(4)
    table = table.rename(columns={"deletion_auc": "deletion AUC", "insertion_auc": "insertion AUC", "aopc": "AOPC"})
    return table.astype(object).where(table.notna(), "not defined")


def faithfulness_curves(results: Mapping[str, Faithfulness]) -> go.Figure:
    titles = ("Deletion (lower is better)", "Insertion (higher is better)")
    figure = make_subplots(rows=1, cols=2, subplot_titles=titles)
    for index, (method, result) in enumerate(results.items()):
        color = _PALETTE[index % len(_PALETTE)]
        name = plot_text(method_title(method))
        for column, values in ((1, result.deletion), (2, result.insertion)):
            figure.add_trace(
                go.Scatter(
                    x=result.fractions,
                    y=values,
                    mode="lines+markers",
                    name=name,
                    legendgroup=method,
                    showlegend=column == 1,
                    line={"color": color},
                    hovertemplate=f"{name}<br>%{{x:.0%}} of tokens<br>p = %{{y:.3f}}<extra></extra>",
                ),
                row=1,
                col=column,
            )
    figure.update_xaxes(title="share of text tokens", tickformat=".0%")
    figure.update_yaxes(title="target probability", range=[0, 1])
    figure.update_layout(height=380, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return figure


_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")


def agreement_heatmap(result: Agreement, measure: str = "spearman") -> go.Figure:
    """Methods x methods. Neither measure is defined over fewer than 2 tokens (the cells are left blank and a note
    says why), nor a rank correlation for a method that ranks every token the same ("–" in its cells, said on
    hover). The overlap's title gives the overlap two unrelated rankings have on average (k / tokens)."""
    values = np.asarray(result.spearman if measure == "spearman" else result.top_k_overlap, dtype=float)
    names = [plot_text(method_title(m)) for m in result.methods]
    title = ("Spearman rank correlation" if measure == "spearman"
             else f"Top-{result.k} overlap" + (f" (chance {result.chance_overlap:.0%})" if result.tokens >= 2 else ""))
    too_few = result.tokens < 2
    shown = values
    text = np.array([["–" if np.isnan(v) else f"{v:.2f}" for v in row] for row in values], dtype=object)
    hover = np.array([["not defined (a method gives every token the same score)" if np.isnan(v) else f"{v:.3f}"
                       for v in row] for row in values], dtype=object)
    if too_few:
        shown, text = np.full_like(values, np.nan), np.full(values.shape, "", dtype=object)
        hover = np.full(values.shape, "not defined for fewer than 2 tokens", dtype=object)
    figure = go.Figure(
        go.Heatmap(
            z=shown,
            x=names,
            y=names,
            colorscale=DIVERGING if measure == "spearman" else "Blues",
            zmin=-1 if measure == "spearman" else 0,
            zmax=1,
            text=text,
            texttemplate="%{text}",
            customdata=hover,
            hovertemplate="%{y} vs %{x}: %{customdata}<extra></extra>",
            showscale=not too_few,
        )
    )
    if too_few:
        note = f"Not defined for fewer than 2 tokens: this text has {plural(result.tokens, 'token')}"
        figure.add_annotation(text=note, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False)
    figure.update_layout(
        title=title,
        yaxis={"autorange": "reversed"},
        height=160 + 40 * len(names),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure


def graph_caption(heads: AttentionAttribution, graph: AttributionGraph) -> tuple[str, bool]:
    """The line under the graph: its edge count and every layer's completeness error, then the warning of the
    layers whose integral has not converged; True when there is one (the page shows it as a warning)."""
    errors = ", ".join(f"{d:.1%}" for d in heads.relative_deltas)
    unmet = [note for note in heads.notes if UNRELIABLE in note]
    line = f"{plural(len(graph.edges), 'edge')} · completeness error per layer: {errors}."
    said = [graph.note] if graph.note else []  # an empty graph says why (a label the model does not predict)
    return " ".join([line, *said, *unmet]), bool(unmet or said)



def graph_figure(graph: AttributionGraph) -> go.Figure:
    """Layers bottom (input tokens) to top (prediction); tokens across. Edge width grows with attribution;
    hovering an edge's midpoint shows its weight and the heads carrying it. Layers and heads are numbered from 0,
    as on the Attention and Causal pages: the edge into row l is the attention of layer l - 1."""
    figure = go.Figure()
    labels = [plot_text(display_token(t)) for t in graph.tokens]  # "Ġfilm" reads "film", as on the other charts
    strongest = max((e.weight for e in graph.edges), default=1.0) or 1.0
    mid_x, mid_y, mid_text = [], [], []
    for edge in graph.edges:
        (l0, j), (l1, i) = edge.source, edge.target
        figure.add_trace(
            go.Scatter(
                x=[j, i],
                y=[l0, l1],
                mode="lines",
                line={"width": 1 + 7 * edge.weight / strongest, "color": "rgba(33, 102, 172, 0.6)"},
                hoverinfo="skip",
                showlegend=False,
            )
        )
        heads = ", ".join(f"head {h}: {v:.3f}" for h, v in edge.heads)
        mid_x.append((i + j) / 2)
        mid_y.append((l0 + l1) / 2)
        mid_text.append(
            f"layer {l1 - 1} attention: {numbered(i, labels[i])} ← {numbered(j, labels[j])}<br>attribution "
            f"{edge.weight:.4f} "
            f"({edge.relative:.0%} of the layer's strongest)<br>{heads}"
        )
    figure.add_trace(
        go.Scatter(
            x=mid_x, y=mid_y, mode="markers", marker={"size": 8, "opacity": 0.0}, hovertext=mid_text,
            hoverinfo="text", showlegend=False, name="edges",
        )
    )
    nodes = list(graph.nodes)
    step = tick_step(len(labels))  # every token is still in the hover of its nodes and edges
    figure.add_trace(
        go.Scatter(
            x=[p for _, p in nodes],
            y=[layer for layer, _ in nodes],
            mode="markers",
            marker={
                "size": [16 if n == graph.prediction else 10 for n in nodes],
                "color": ["#d62728" if n == graph.prediction else "#1f77b4" for n in nodes],
            },
            hovertext=[f"{hidden_state_name(layer)}, token {p} {labels[p]}" for layer, p in nodes],
            hoverinfo="text",
            showlegend=False,
            name="nodes",
        )
    )
    figure.update_layout(
        title=f"Attribution graph → {plot_text(isolated(graph.target_label))} (threshold {graph.threshold:.2f})",
        xaxis={
            "tickmode": "array",
            "tickvals": list(range(0, len(labels), step)),
            "ticktext": [numbered(i, t) for i, t in enumerate(labels)][::step],
            "tickangle": -60,
            "range": [-0.5, len(labels) - 0.5],
        },
        yaxis={
            "tickmode": "array",
            "tickvals": list(range(graph.num_layers + 1)),
            "ticktext": [hidden_state_name(row) for row in range(graph.num_layers + 1)],
            "range": [-0.3, graph.num_layers + 0.3],
        },
        height=260 + 70 * graph.num_layers,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure


def convergence_caption(result: Attribution) -> str:
    """One line on how well a path method converged: delta, its share of the logit gap, the error bound where
    the method has one (adaptive IG), and the path points used."""
    parts = [f"Convergence delta {result.convergence_delta:+.5f}"]
    if result.logit_gap:
        parts[0] += f" ({result.relative_delta:.2%} of F(x) − F(baseline) = {result.logit_gap:+.4f})"
        if result.error_bound is not None:
            share = result.error_bound / abs(result.logit_gap)
            # Each panel's error is known exactly for the sum of the token scores only: errors of opposite sign in
            # different tokens cancel in it, so it says nothing of a single token (measured: one token of a random
            # tiny DeBERTa off by 6.8% of the gap under a 0.2% bound; on the shipped default at most 2.1%).
            parts.append(f"error bound {share:.2%} of F(x) − F(baseline) (|error| summed over path panels; "
                         "not a bound on each token)")
    if result.method == "layer_conductance":  # its steps count the trapezoid's intervals, one point fewer
        parts.append(f"{result.steps} intervals ({result.steps + 1} path points)")
    else:
        parts.append(f"{result.steps} path points")
    return " · ".join(parts)


def baselines_help(bundle: ModelBundle) -> str:
    """The Baseline picker's help (markdown) for this model: which token "pad" is where the checkpoint names no pad
    token, and why "mask" is missing."""
    said = ("What replaces text tokens (integrated gradients, occlusion, LIME, KernelSHAP, faithfulness); special "
            "tokens stay.")
    if bundle.pad_assigned:  # a token such as __pad__ would turn bold
        said += (f" Pad is {markdown_literal(repr(bundle.tokenizer.pad_token))}, the token this model pads with (its "
                 "config names none).")
    if "mask" not in offered_baselines(bundle):
        said += " No mask baseline: its tokenizer has no mask token."
    return said
