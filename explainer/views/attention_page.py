"""Everything the Attention page shows, built from one Trace in one call (the page only adds widgets).

Sizes are bounded so a 512-token, 12 x 12 model stays usable: the thumbnail grid pools each head to at most
GRID_CELLS x GRID_CELLS blocks, and the bertviz views are cut to a token window (see `bertviz_views`).
Each limit is reported in `notes`, for the page to say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from explainer.attention.statistics import HeadStatistics, attention_rollout, head_statistics
from explainer.views import attention as attention_figures
from explainer.views import bertviz as bertviz_views
from explainer.views.bertviz import BertvizView

if TYPE_CHECKING:
    from explainer.capture.tracing import Trace

GRID_CELLS = 32  # thumbnails above this many tokens are average-pooled to this many blocks a side


@dataclass(frozen=True)
class AttentionOptions:
    """The page's choices (all carried in the shareable link)."""

    layer: int = 0
    head: int = 0
    statistic: str = "entropy"
    bertviz_layers: tuple[int, ...] = ()  # empty: the chosen layer (head view) / all layers (model view)
    bertviz_heads: tuple[int, ...] = ()  # empty: all heads (model view)
    window_start: int = 0  # first token of the bertviz token window
    bertviz: bool = True  # build the bertviz views at all


@dataclass(frozen=True)
class AttentionPage:
    figures: dict[str, go.Figure]  # name -> figure, in page order
    statistics: HeadStatistics
    rollout: np.ndarray  # [T, T]
    head_view: BertvizView | None
    model_view: BertvizView | None
    notes: dict[str, str] = field(default_factory=dict)  # figure or view name -> what was limited and why


@dataclass(frozen=True)
class Derived:
    """The Trace-level computations behind the page; independent of the options, so worth caching."""

    statistics: HeadStatistics
    rollout: np.ndarray  # [T, T]
    grid: np.ndarray  # [layers, heads, cells, cells], each thumbnail scaled to its own maximum
    grid_block: float  # tokens per grid cell (1.0 when not pooled)


def pool_attention(attentions: np.ndarray, cells: int = GRID_CELLS) -> tuple[np.ndarray, float]:
    """Average-pool [L, H, T, T] to [L, H, c, c] with c = min(T, cells); returns it and tokens per cell."""
    size = attentions.shape[-1]
    if size <= cells:
        return attentions.astype(np.float32), 1.0
    edges = np.linspace(0, size, cells + 1).round().astype(int)
    counts = np.diff(edges).astype(np.float32)
    pooled = np.add.reduceat(attentions, edges[:-1], axis=-1, dtype=np.float32)
    pooled = np.add.reduceat(pooled, edges[:-1], axis=-2, dtype=np.float32)
    pooled /= counts[:, None] * counts[None, :]
    return pooled, size / cells


def grid_note(tokens: int, cells: int) -> str:
    """What pooling did to the grid: "33 tokens ... cells of 1 or 2 tokens a side", not "1.0 tokens a side on
    average", which read as no pooling though one pair of tokens shared a cell in every thumbnail."""
    edges = np.linspace(0, tokens, cells + 1).round().astype(int)
    sides = sorted(set(np.diff(edges).tolist()))
    side = " or ".join(map(str, sides))
    return (f"{tokens} tokens: each thumbnail is average-pooled to {cells} x {cells} cells of {side} tokens a side. "
            "Click one for the full head.")


def derive(trace: Trace) -> Derived:
    pooled, block = pool_attention(trace.attentions)
    peak = pooled.max(axis=(-2, -1), keepdims=True)
    scaled = np.divide(pooled, peak, out=np.zeros_like(pooled), where=peak > 0)
    return Derived(head_statistics(trace.attentions), attention_rollout(trace.attentions), scaled, block)


def build(trace: Trace, options: AttentionOptions, derived: Derived | None = None) -> AttentionPage:
    """All figures and views of the Attention page for `trace` and `options`."""
    derived = derived or derive(trace)
    layer = min(max(options.layer, 0), trace.num_layers - 1)
    head = min(max(options.head, 0), trace.num_heads - 1)
    notes: dict[str, str] = {}
    figures: dict[str, go.Figure] = {
        "head": attention_figures.attention_heatmap(trace, layer, head),
        "grid": attention_figures.head_grid(derived.grid, selected=(layer, head)),
        "statistics": attention_figures.head_statistic_map(
            getattr(derived.statistics, options.statistic), options.statistic, selected=(layer, head)
        ),
    }
    if trace.readout_note is None:
        figures["rollout_readout"] = attention_figures.rollout_readout_token(derived.rollout, trace)
    else:  # no single position carries the prediction, so no row of the rollout is the one it reads: say why
        notes["rollout_readout"] = trace.readout_note
    figures["rollout"] = attention_figures.rollout_heatmap(derived.rollout, trace)
    if trace.layer_logits is not None:
        figures["logit_lens"] = attention_figures.logit_lens_chart(trace)
    elif trace.family_notes:  # a family the per-architecture table lacks: say which, and how to add it
        notes["logit_lens"] = " ".join(trace.family_notes)
    if derived.grid_block > 1:
        notes["grid"] = grid_note(len(trace.tokens), derived.grid.shape[-1])

    head_view = model_view = None
    if options.bertviz:
        head_view = bertviz_views.head_view_html(trace, options.bertviz_layers or (layer,), options.window_start)
        model_view = bertviz_views.model_view_html(
            trace, options.bertviz_layers, options.bertviz_heads, options.window_start
        )
        for name, view in (("head_view", head_view), ("model_view", model_view)):
            if view.limited:
                notes[name] = (
                    f"Showing tokens {view.token_start}–{view.token_end - 1} of {view.num_tokens} for "
                    f"{len(view.layers)} layer(s) x {len(view.heads)} head(s): bertviz sends every weight as text, "
                    "so fewer layers or heads leave room for a wider window."
                )
    return AttentionPage(figures, derived.statistics, derived.rollout, head_view, model_view, notes)


def payload_bytes(page: AttentionPage) -> dict[str, int]:
    """Bytes each figure sends to the browser: plotly's JSON (what st.plotly_chart ships) or the view's HTML."""
    sizes = {name: len(figure.to_json(validate=False).encode("utf-8")) for name, figure in page.figures.items()}
    for name, view in (("head_view", page.head_view), ("model_view", page.model_view)):
        if view is not None:
            sizes[name] = view.size_bytes
    return sizes
