"""bertviz's head view and model view, made to work offline, escaped, and bounded in size.

bertviz's HTML loads require.js, d3 and jQuery from cdnjs at run time. Here the same libraries come from the
npm registry at install time (`frontend/package.json`, installed by install.sh) and are inlined into the
HTML, and the CDN addresses are removed, so the views render with no network at all.

bertviz writes its parameters (tokens included) as raw JSON inside a <script>: a token holding "</script>"
would end the script. The JSON is re-serialised with <, > and & as \\u escapes. Tokens themselves are drawn
with d3's .text(), which never interprets HTML.

bertviz sends every attention weight as JSON text: a 512-token, 12 x 12 model makes a page of about 1.6 GB.
Views here get a value budget and are cut to chosen layers and heads and a token window that fit it.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from explainer.capture.tracing import Trace


FRONTEND_DIR = Path(os.environ.get("EXPLAINER_FRONTEND_DIR", Path(__file__).resolve().parents[2] / "frontend"))
# Load order matters: d3 and jQuery first (no AMD loader yet, so they set globals), then require.js, then
# named AMD modules handing those globals to bertviz's requirejs(['jquery', 'd3'], ...).
VENDOR_FILES = ("d3/dist/d3.min.js", "jquery/dist/jquery.min.js", "requirejs/require.js")
AMD_SHIM = (
    "define('d3', [], function () { return window.d3; });\ndefine('jquery', [], function () { return window.jQuery; });"
)

# Attention values one view may carry: ~7 bytes each as rounded JSON ("0.123, "), so under 2 MB a view.
DEFAULT_VALUE_BUDGET = 250_000
DECIMALS = 3  # weights below 0.0005 draw no visible line in bertviz anyway

_CDN_SCRIPT = re.compile(r"<script[^>]*cdnjs[^>]*>\s*</script>", re.IGNORECASE)
_REQUIRE_CONFIG = re.compile(r"require\.config\(\{.*?\}\);", re.DOTALL)
_HEADER_COMMENT = re.compile(r"/\*\*.*?\*\*/", re.DOTALL)  # bertviz's file header (credits, with URLs)
_PARAMS_MARK = "const params = "


class FrontendMissingError(RuntimeError):
    """The vendored JavaScript is not installed (install.sh was not run)."""


@dataclass(frozen=True)
class BertvizView:
    """One self-contained bertviz HTML page and what part of the Trace it shows."""

    html: str
    layers: tuple[int, ...]
    heads: tuple[int, ...]
    token_start: int
    token_end: int  # exclusive
    num_tokens: int  # of the whole Trace

    @property
    def limited(self) -> bool:
        return self.token_start > 0 or self.token_end < self.num_tokens

    @property
    def size_bytes(self) -> int:
        return len(self.html.encode("utf-8"))


@cache
def vendor_javascript() -> str:
    """The inlined libraries (read once per process)."""
    parts = []
    for relative in VENDOR_FILES:
        path = FRONTEND_DIR / "node_modules" / relative
        if not path.is_file():
            raise FrontendMissingError(
                f"bertviz's JavaScript is not installed ({path} is missing). Run `bash install.sh`, or "
                f"`npm ci --prefix {FRONTEND_DIR}`, once while a package registry is reachable."
            )
        # "</script" cannot occur in these minified libraries' code paths we inline, but guard anyway.
        parts.append(path.read_text(encoding="utf-8").replace("</script", "<\\/script"))
    return "\n".join(f"<script>\n{source}\n</script>" for source in parts) + f"\n<script>\n{AMD_SHIM}\n</script>\n"


def window_size(num_layers: int, num_heads: int, num_tokens: int, budget: int = DEFAULT_VALUE_BUDGET) -> int:
    """The most tokens a view of this many layers and heads can show within the value budget."""
    per_head = budget / max(1, num_layers * num_heads)
    return max(1, min(num_tokens, math.isqrt(int(per_head))))


def _window(trace: Trace, layers: int, heads: int, start: int, budget: int) -> tuple[int, int]:
    count = len(trace.tokens)
    size = window_size(layers, heads, count, budget)
    start = max(0, min(start, count - size))
    return start, start + size


def _attention_tensors(trace: Trace, layers: tuple[int, ...], heads: tuple[int, ...], start: int, end: int):
    """bertviz's input: one [1, H, W, W] tensor per layer of the model, so it labels layers and heads with their
    real numbers. Only chosen layers and heads carry data; bertviz never reads the others (1x1 placeholders)."""
    import torch  # bertviz takes torch tensors; imported here so the views import no torch until drawn

    tensors = []
    for layer in range(trace.num_layers):
        if layer not in layers:
            tensors.append(torch.zeros(1, trace.num_heads, 1, 1, dtype=torch.float64))
            continue
        block = np.zeros((1, trace.num_heads, end - start, end - start))
        # float64 after rounding, so bertviz's .tolist() writes "0.123", not float32's "0.12300000339746475".
        selected = trace.attentions[layer, list(heads), start:end, start:end].astype(np.float64)
        block[0, list(heads)] = np.round(selected, DECIMALS)
        tensors.append(torch.from_numpy(block))
    return tensors


def _params_span(html: str, at: int) -> int:
    """End of bertviz's parameter JSON starting at `at`. The template writes `J; // HACK: J is a template
    marker...` (the JSON twice); find the split where both halves are the same text, without parsing."""
    separator, suffix = "; // HACK: ", " is a template marker"
    position = html.find(suffix, at)
    while position != -1:
        length, remainder = divmod(position - at - len(separator), 2)
        if (
            not remainder
            and length > 0
            and html.startswith(separator, at + length)
            and html[at : at + length] == html[at + length + len(separator) : position]
        ):
            return at + length
        position = html.find(suffix, position + 1)
    raise ValueError("bertviz's HTML template changed: its parameter block was not found")


def _offline(html: str) -> str:
    """Inline the vendored libraries, drop every CDN address, and escape the parameter JSON.

    In JSON, <, > and & can only occur inside strings (tokens), where \\u003c etc. mean the same characters,
    so replacing them in the JSON's text is exact. The second, commented copy is dropped."""
    html = _CDN_SCRIPT.sub("", html)
    html = _REQUIRE_CONFIG.sub("", html, count=1)
    html = _HEADER_COMMENT.sub("", html, count=1)
    at = html.index(_PARAMS_MARK) + len(_PARAMS_MARK)
    end = _params_span(html, at)
    params = html[at:end]
    safe = params.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    line_end = html.index("\n", end)
    html = html[:at] + safe + "; // parameters above (bertviz)" + html[line_end:]
    if "cdnjs" in html or "https://" in html:
        raise AssertionError("bertviz output still references a remote address")  # bertviz changed: fail loudly
    return (
        # bertviz draws at a fixed width (a model view of 12 heads is ~970 px): a page column a little narrower
        # shrinks it to fit (down to 80%: a hidden scrollbar left head 11 cut in half at 1400 px), a much narrower
        # one scrolls it sideways instead of cutting the last heads off
        "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body style='margin:0'>\n"
        + vendor_javascript()
        + "<div style='overflow-x:auto'>"
        + html
        + "</div>\n"
        + FIT_SCRIPT
        + "</body></html>"
    )


# Shrinks the wrapper above it to the frame's width when bertviz drew wider, by at most MIN_FIT; rerun as d3 draws.
MIN_FIT = 0.8
FIT_SCRIPT = (
    "<script>(function () {\n"
    "  const box = document.currentScript.previousElementSibling;\n"
    "  function fit() {\n"
    "    box.style.zoom = '';\n"
    "    const drawn = box.scrollWidth, room = box.clientWidth;\n"
    f"    if (drawn > room + 1 && room / drawn >= {MIN_FIT}) box.style.zoom = (room / drawn).toFixed(4);\n"
    "  }\n"
    "  new ResizeObserver(fit).observe(document.body);\n"
    "  [100, 500, 1500].forEach(function (ms) { setTimeout(fit, ms); });\n"
    "})();</script>\n"
)


def _tokens(trace: Trace, start: int, end: int) -> list[str]:
    return list(trace.tokens[start:end])


def head_view_html(
    trace: Trace,
    layers: tuple[int, ...] | None = None,
    window_start: int = 0,
    budget: int = DEFAULT_VALUE_BUDGET,
) -> BertvizView:
    """bertviz's head view of the chosen layers (all heads), cut to the token window the budget allows."""
    layers = tuple(range(trace.num_layers)) if not layers else tuple(sorted(set(layers)))
    heads = tuple(range(trace.num_heads))
    start, end = _window(trace, len(layers), len(heads), window_start, budget)
    attention = _attention_tensors(trace, layers, heads, start, end)
    from bertviz import head_view  # imports torch: only when a view is drawn

    html = head_view(
        attention, _tokens(trace, start, end), layer=layers[0], include_layers=list(layers), html_action="return"
    ).data
    return BertvizView(_offline(html), layers, heads, start, end, len(trace.tokens))


def model_view_html(
    trace: Trace,
    layers: tuple[int, ...] | None = None,
    heads: tuple[int, ...] | None = None,
    window_start: int = 0,
    budget: int = DEFAULT_VALUE_BUDGET,
) -> BertvizView:
    """bertviz's model view (a thumbnail per layer and head) of the chosen layers and heads."""
    layers = tuple(range(trace.num_layers)) if not layers else tuple(sorted(set(layers)))
    heads = tuple(range(trace.num_heads)) if not heads else tuple(sorted(set(heads)))
    start, end = _window(trace, len(layers), len(heads), window_start, budget)
    attention = _attention_tensors(trace, layers, heads, start, end)
    from bertviz import model_view  # imports torch: only when a view is drawn

    html = model_view(
        attention,
        _tokens(trace, start, end),
        include_layers=list(layers),
        include_heads=list(heads),
        html_action="return",
    ).data
    return BertvizView(_offline(html), layers, heads, start, end, len(trace.tokens))
