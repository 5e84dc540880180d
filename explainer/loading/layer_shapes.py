"""Whether a model's per-layer outputs fit the views: one attention map per layer over the same tokens.

Every view stacks the layers (attention [layers, heads, T, T], hidden states [layers+1, T, d]) and lines
them up with the input's tokens. A model that pools tokens between layers (Funnel Transformer halves the
sequence between blocks) returns maps of another size after each pooling, which no view can draw over the
text. A model whose maps are the same size in every layer but not T x T (Longformer's sliding window) cannot be
drawn either, for another reason, said as such. Said once, in words, where outputs are checked: the load probe
(explainer/loading/bundle.py) and trace() (explainer/capture/tracing.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def layer_shape_refusal(
    name: str,
    model_type: str,
    length: int,
    attentions: Sequence[torch.Tensor],
    hidden_states: Sequence[torch.Tensor] = (),
) -> str | None:
    """None when every attention map is [batch, heads, length, length] with the same heads in every layer and
    every hidden state covers `length` tokens; otherwise one sentence naming the model and why it cannot be shown.
    `length`: the tokens of the input that produced these outputs."""
    maps = [tuple(a.shape[-2:]) for a in attentions]
    states = [int(h.shape[-2]) for h in hidden_states]
    if len(set(maps)) == 1 and maps[0] != (length, length) and all(s == length for s in states):
        # the same size in every layer, but not token by token: a local window (Longformer's [T, window + 1])
        return (
            f"'{name}' ({model_type}) returns attention maps that are not token by token ({maps[0][0]}x"
            f"{maps[0][1]} in every layer for {length} input tokens: a sliding window, not T x T), and the workbench "
            "shows attention between every pair of tokens, so it cannot show this model"
        )
    if any(m != (length, length) for m in maps) or any(s != length for s in states):
        sizes = ", ".join(f"{q}x{k} at layer {i + 1}" for i, (q, k) in enumerate(maps))
        return (
            f"'{name}' ({model_type}) pools its tokens between layers: its attention maps change size from layer "
            f"to layer ({sizes or 'its hidden states shrink'} for {length} input tokens), and the workbench shows "
            "every layer over the same tokens, so it cannot show this model"
        )
    heads = [int(a.shape[-3]) for a in attentions]
    if len(set(heads)) > 1:  # a map per head: layers of different head counts cannot stack either
        return (
            f"'{name}' ({model_type}) has a different number of attention heads in different layers "
            f"({', '.join(map(str, heads))}), and the workbench shows every layer with the same heads, so it "
            "cannot show this model"
        )
    return None
