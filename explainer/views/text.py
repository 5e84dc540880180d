"""Token and label text for figures and widgets: the one place user text is escaped for plotly."""

from __future__ import annotations

import html
from collections.abc import Sequence


def plot_text(text: str) -> str:
    """`text` escaped for a plotly label, title or hover: <, > and & only. Plotly reads a subset of HTML tags in
    them but shows entities such as &quot; literally, so quotes are left as they are."""
    return html.escape(str(text), quote=False)


def token_labels(tokens: Sequence[str], plotly: bool = True) -> list[str]:
    """Unique labels ("3 movie"): repeated tokens must not merge on a categorical axis. Escaped for plotly;
    `plotly=False` gives them as typed, for Streamlit widgets, which show text literally."""
    return [f"{i} {plot_text(token) if plotly else token}" for i, token in enumerate(tokens)]
