"""The `pages` bench: every page of the app in a real browser, against a floor page measured in the same run.

Starts `streamlit run serve.py` (warm start) and a bare Streamlit page that draws one plotly heatmap of the same
size (explainer/ui/bench_floor.py), and drives headless Chromium. For the default model, each page is visited in a
new session with a fresh 17-token text and a fresh 128-token text, then again with the same text (warm). Measured:
time from navigation to the page's first main figure, and to the end of its run (no status, no spinner). Targets
(ratios to the floor page measured alternately in the same run): first main figure of every page at most 2x;
full run of every page except Attribution at most 3x on 17 tokens; warm visits at most 1.5x.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from explainer.bench.common import BenchOptions, ratio_at_most, report, result, text_with_tokens, untargeted_result

NAME = "pages"
PAGES = ("", "attention", "attribution", "whatif", "markers", "beacons", "errors", "map", "compare", "causal")
QUICK_PAGES = ("", "attention", "attribution")
LENGTHS = (17, 128)
QUICK_LENGTHS = (17,)
WORDS = ("red", "blue", "green", "old", "new", "big", "small", "warm", "cold", "long", "short", "dark", "bright",
         "quiet", "loud", "slow", "fast", "rich", "poor", "young")
FLOOR = "explainer/ui/bench_floor.py"


def fresh_texts(tokenizer, n: int, count: int) -> list[str]:
    """`count` different texts of exactly `n` tokens: one distinct word in front of the same n-1 token text."""
    from explainer.bench.common import _count

    texts: list[str] = []
    for word in WORDS:
        extra = _count(tokenizer, word) - _count(tokenizer, "")  # tokens the word adds (1 in a real vocabulary)
        if 0 < extra < n - 2:
            text = f"{word} {text_with_tokens(tokenizer, n - extra)}"
            if _count(tokenizer, text) == n and text not in texts:
                texts.append(text)
    if len(texts) < count:
        raise RuntimeError(f"only {len(texts)} fresh {n}-token texts")
    return texts[:count]


def _page_name(path: str) -> str:
    return path or "overview"


def run(options: BenchOptions) -> dict[str, Any]:
    from explainer.bench.app_driver import app_server, run_sessions
    from explainer.loading import shipped
    from explainer.loading.bundle import load_model

    pages = QUICK_PAGES if options.quick else PAGES
    lengths = QUICK_LENGTHS if options.quick else LENGTHS
    model = shipped.default_model_name()
    tokenizer = load_model(model, device="cpu").tokenizer
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="explainer-pages-") as scratch:
        env = options.server_env
        with app_server(Path(scratch) / "app", env) as app, app_server(Path(scratch) / "floor", env,
                                                                        script=FLOOR) as floor:
            run_sessions(app.url, [(model, [("", "Warm-up: the server's first visit.")])], timeout_s=600)
            # The floor's first run is cold too (a 2-15 % slower visit): warmed, untimed, so no page is held to it.
            run_sessions(floor.url, [(None, [("?tokens=17&seed=999", "")])], timeout_s=600)
            for n in lengths:
                texts = iter(fresh_texts(tokenizer, n, len(pages)))
                floor_first: list[float] = []
                floor_done: list[float] = []
                for page in pages:
                    text = next(texts)
                    # Alternate: floor, page fresh, page warm (a new session, same text), floor.
                    for kind in ("floor", "fresh", "warm", "floor"):
                        if kind == "floor":
                            visit = run_sessions(floor.url, [(None, [(f"?tokens={n}&seed={len(floor_first)}", "")])])
                            visit = visit[0][0]
                            if visit.exception:  # the reference itself failed: every ratio would be wrong
                                raise RuntimeError(f"the floor page failed:\n{floor.log.read_text()[-3000:]}")
                            if visit.first_figure_s is not None:
                                floor_first.append(visit.first_figure_s)
                                floor_done.append(visit.done_s or visit.first_figure_s)
                            continue
                        visit = run_sessions(app.url, [(model, [(page, text)])], timeout_s=600)[0][0]
                        rows += _rows(page, n, kind, visit, floor_first, floor_done)
    return report(NAME, rows)


def _rows(page: str, n: int, kind: str, visit, floor_first: list[float], floor_done: list[float]) -> list[dict]:
    """This visit's rows against the floor's median so far (the floor visits alternate with the pages)."""
    if not floor_first:
        return []
    first_floor, done_floor = statistics.median(floor_first), statistics.median(floor_done)
    name = f"{_page_name(page)}, {n} tokens, {kind}" + (" (the page showed an exception)" if visit.exception else "")
    first_limit = 1.5 if kind == "warm" else 2.0
    target, meets = ratio_at_most(first_limit)
    # an exception box ends the driver's wait as a figure does: that visit drew nothing, so it is not measured (a
    # crashed page met its target)
    failed = visit.exception
    first = visit.first_figure_s if visit.first_figure_s is not None and not failed else float("inf")
    rows = [result(case=name, metric="seconds to the first main figure", ours=first, reference=first_floor,
                   reference_name="floor page: one plotly heatmap of the same size", target=target, meets=meets)]
    done = visit.done_s if visit.done_s is not None and not failed else float("inf")
    end = {"case": name, "metric": "seconds to the end of the run", "ours": done, "reference": done_floor,
           "reference_name": "floor page: one plotly heatmap of the same size"}
    if kind == "warm" or (n == 17 and page != "attribution"):
        target, meets = ratio_at_most(1.5 if kind == "warm" else 3.0)
        rows.append(result(**end, target=target, meets=meets))
    else:  # the issue sets no target for this row
        rows.append(untargeted_result(**end))
    return rows
