"""The `map` bench: what the data-set map costs on top of predicting, on 100,000 rows.

Ours: the map's whole computation on one labelled file: the prediction pass that also collects every layer's
readout and mean vectors into the float16 store (`embed_dataset`), PCA of the last layer, the exact cosine
neighbours (k = 10, searched 14 wide because UMAP's graph is the same search, as `build_map` does), and UMAP (PCA to
50 first, seeded) over that graph. Reference: the predictions alone (`predict`, same model, same texts, same batch
size), measured in the same run. Target: ours at most 1.3 x the reference (the map adds at most 30 %), and the
run's peak resident memory under 3 GB.

The two passes take minutes each, so they are not repeated: they run over the same 20 slices of the rows,
alternating slice by slice (ABBA), so that a change in the machine's load falls on both sides, after an untimed
first call of each. The pass's cost is the predictions' seconds times the median of the slices' ratios: a burst of
other load during one side of one slice moves that slice's ratio only (each is kept in the report; the rows are
shuffled, so their spread is noise), and the ratio of the plain sums is reported beside it. A pass streams (its
memory does not grow with the rows), so slicing it does not lower the peak, which comes from the search, UMAP and
the figure over all the rows at once. The report keeps every stage's seconds.

Also, when Playwright and Debian's Chromium are present: the map figure of all the rows (what the page sends,
plotly Scattergl) drawn in headless Chromium, from navigation to plotly's first `afterplot`.

Data: distinct rows, because the map searches and lays out identical vectors once while predictions run every
row: SST-2 train's distinct sentences ($EXPLAINER_SST2_TRAIN, else shared/data/sst2/train.tsv one or two folders
above the checkout), then copies of them with one word replaced (seeded, the same lengths) up to the row count;
else sentences generated from the demo texts. The embedding store and the caches go to a temporary folder,
removed afterwards.
"""

from __future__ import annotations

import importlib
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from explainer.bench.common import BenchOptions, report, result, sst2_file

NAME = "map"
ROWS = 100_000
QUICK_ROWS = 2_000
SLICES = 20  # the passes alternate slice by slice
BATCH_SIZE = 32
NEIGHBOURS = 10
TARGET_RATIO = 1.3
MEMORY_BUDGET_GB = 3.0
RENDER_BUDGET_SECONDS = 10.0
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def default_data() -> Path:
    return sst2_file("EXPLAINER_SST2_TRAIN", "train.tsv")


def _clean(text: str) -> str:
    return " ".join(text.replace("\t", " ").split())  # one line of the TSV the bench writes


def bench_rows(count: int, data: Path | None = None) -> tuple[list[tuple[str, int]], str]:
    """`count` distinct (text, label) rows, and where they came from: SST-2 train's sentences, each once, then (past
    its 66,978 distinct ones) copies of them with one word replaced by a word drawn from the whole file, seeded;
    else sentences generated from the demo texts. Distinct, because the map searches and lays out repeated rows once
    while the predictions it is measured against run every row; of SST-2's lengths, because the map's search and
    layout cost the same per row whatever its length while a prediction costs more for a longer text (joining two
    sentences made the reference dearer). Shuffled (seeded), so that any slice or prefix holds the same mix."""
    path = data if data is not None else default_data()
    rng = random.Random(0)
    if path.is_file():
        from explainer.data.labelled import read_dataset

        source = read_dataset(path)
        first_seen: dict[str, tuple[str, int]] = {}
        for text, label in zip(source.texts, source.labels):
            first_seen.setdefault(_clean(text), (_clean(text), label))  # a repeated sentence keeps its first label
        pairs = list(first_seen.values())
        sentences = len(pairs)
        vocabulary = [word for text, _ in pairs for word in text.split()]

        def make() -> tuple[str, int]:  # a sentence with one word replaced: another text of the same length
            text, label = pairs[rng.randrange(sentences)]
            words = text.split()
            words[rng.randrange(len(words))] = rng.choice(vocabulary)
            return " ".join(words), label

        name = f"SST-2 train ({min(sentences, count):,} distinct sentences"
    else:
        from explainer.loading.untrained import demo_texts

        words = " ".join(demo_texts()).split()
        pairs, sentences = [], 0

        def make() -> tuple[str, int]:
            return " ".join(rng.choices(words, k=rng.randint(4, 30))), rng.randint(0, 1)

        name = "generated from the demo texts (SST-2 train not found"
    rows = pairs[:count]
    seen = {text for text, _ in rows}
    attempts = 0
    while len(rows) < count:
        attempts += 1
        if attempts > 50 * count:
            from explainer.data.labelled import DatasetError  # a file too small: the command's one line, no traceback

            raise DatasetError(f"{path}: {sentences} distinct sentences cannot make {count:,} distinct rows")
        text, label = make()
        if text not in seen:
            seen.add(text)
            rows.append((text, label))
    rng.shuffle(rows)  # the variants spread over the file: every slice or prefix has the same mix
    variants = count - min(sentences, count)
    if sentences and variants:
        name += f", and {variants:,} copies of them with one word replaced"
    return rows, name + ")"


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # Linux reports KiB; GB as the target


def render_seconds(figure, folder: Path) -> float | None:
    """Seconds from navigation to the end of plotly's first draw of `figure` (newPlot's promise) in headless
    Chromium (None when no browser is available). plotly.js is inlined from the installed package: nothing is
    fetched."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not Path(CHROMIUM).exists():
        return None
    # post_script runs in newPlot's .then(): once plotly has drawn the points (its canvas and _fullLayout, which
    # the bench polled for, exist before the WebGL points are drawn)
    html = figure.to_html(include_plotlyjs=True, full_html=True, div_id="map",
                          post_script="window.__mapDrawn = performance.now();")
    page_path = folder / "map.html"
    page_path.write_text(html, encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-background-networking", "--no-first-run"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=flags, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(page_path.as_uri(), wait_until="load", timeout=300_000)
            page.wait_for_function("window.__mapDrawn !== undefined", timeout=300_000, polling=50)
            return float(page.evaluate("window.__mapDrawn")) / 1000.0  # since navigation started
        except Exception as error:  # a browser that cannot draw it: said in the report, never a failed bench
            print(f"map bench: the browser render failed: {error}", file=sys.stderr)
            return None
        finally:
            browser.close()


def _slices(count: int) -> list[range]:
    """SLICES contiguous ranges of the rows (fewer for few rows)."""
    parts = max(1, min(SLICES, count // (4 * BATCH_SIZE)))
    bounds = [round(i * count / parts) for i in range(parts + 1)]
    return [range(a, b) for a, b in zip(bounds, bounds[1:])]


def _part(labelled, rows: range, tag: str):
    """Rows `rows` of the data set as one of their own, under their own cache key (no slice reads another's)."""
    cut = slice(rows.start, rows.stop)
    return replace(labelled, texts=labelled.texts[cut], labels=labelled.labels[cut], lines=labelled.lines[cut],
                   extra={}, content_hash=f"{labelled.content_hash}-{tag}")


def _timed_passes(bundle, labelled) -> tuple[dict[str, float], Any, Any, Any, list[float]]:
    """The predictions alone and the embedding pass (`embed_dataset`, the map's own call), each over the same
    slices of the rows, alternating slice by slice (ABBA) so that a change in the machine's load lands on both
    sides. Returns (seconds per side, the predictions, the last layer's unit readout vectors [N, hidden], the
    dominant markers [N], each slice's ratio)."""
    import numpy as np

    from explainer.dataset_map.embeddings import embed_dataset
    from explainer.dataset_map.projection import unit_rows
    from explainer.evaluation.predict import Predictions, predict

    warm = _part(labelled, range(0, 2 * BATCH_SIZE), "warm-up")
    predict(bundle, warm.texts, batch_size=BATCH_SIZE)  # both sides' first calls, untimed: neither pays a cold start
    embed_dataset(bundle, warm, batch_size=BATCH_SIZE)
    totals = {"predictions_alone": 0.0, "predictions_with_embeddings": 0.0}
    parts: list[tuple[Predictions, Any]] = []
    ratios: list[float] = []
    for index, rows in enumerate(_slices(len(labelled))):
        part = _part(labelled, rows, f"{rows.start}-{rows.stop}")
        timed: dict[str, float] = {}
        sides = ("predictions_alone", "predictions_with_embeddings")
        for side in sides if index % 2 == 0 else sides[::-1]:
            start = time.perf_counter()
            if side == "predictions_alone":
                predict(bundle, part.texts, batch_size=BATCH_SIZE)
            else:
                parts.append(embed_dataset(bundle, part, batch_size=BATCH_SIZE)[:2])
            timed[side] = time.perf_counter() - start
            os.sync()  # the store's pages written back now, untimed, not during the other side's next pass
        for side, value in timed.items():
            totals[side] += value
        ratios.append(timed["predictions_with_embeddings"] / timed["predictions_alone"])
    layer = parts[0][1].layers - 1
    start = time.perf_counter()  # build_map reads the layer and normalises it too
    vectors = unit_rows(np.concatenate([store.layer(layer, "readout") for _, store in parts]))  # [N, hidden]
    totals["vectors"] = time.perf_counter() - start
    probabilities = np.concatenate([p.probabilities for p, _ in parts])  # [N, labels]
    lengths = np.concatenate([p.lengths for p, _ in parts])  # [N]
    predictions = replace(parts[0][0], probabilities=probabilities, lengths=lengths)
    markers = np.concatenate([store.markers() for _, store in parts])  # [N]
    return totals, predictions, vectors, markers, ratios


def _budget_row(case: str, metric: str, ours: float, budget: float, what: str, target: str, meets: bool,
                rows: int) -> dict[str, Any]:
    """A row measured against a budget (not a measurement of a reference)."""
    return {**result(case=case, metric=metric, ours=ours, reference=budget,
                     reference_name=f"the {what} budget (not a measurement)", target=target, meets=meets), "rows": rows}


def run(
    options: BenchOptions = BenchOptions(),
    *,
    bundle=None,
    rows: int | None = None,
    data: Path | None = None,
    umap: bool = True,
    browser: bool = True,
) -> dict[str, Any]:
    from explainer import load_model
    from explainer.data.labelled import read_dataset
    from explainer.dataset_map.maps import points_frame, search_width
    from explainer.dataset_map.neighbours import nearest_neighbours
    from explainer.dataset_map.projection import fit_pca, project
    from explainer.views.dataset_map import map_figure

    count = rows or (QUICK_ROWS if options.quick else ROWS)
    bundle = bundle or load_model()
    pairs, data_name = bench_rows(count, data)
    names = bundle.label_names
    scratch = Path(tempfile.mkdtemp(prefix="explainer-bench-map-"))
    previous = os.environ.get("EXPLAINER_CACHE")
    os.environ["EXPLAINER_CACHE"] = str(scratch / "cache")  # the 100,000-row store is not the user's cache
    try:
        file = scratch / "rows.tsv"
        with file.open("w", encoding="utf-8") as out:
            out.write("sentence\tlabel\n")
            for text, label in pairs:
                clean = " ".join(text.replace("\t", " ").split())
                out.write(f"{clean}\t{names[label % len(names)]}\n")
        labelled = read_dataset(file, label_names=names)
        texts = list(labelled.texts)
        seconds, predictions, vectors, markers, slice_ratios = _timed_passes(bundle, labelled)
        if umap:  # umap-learn's numba import (seconds in a fresh process) is no part of the map's work
            importlib.import_module("umap")

        start = time.perf_counter()
        xy = fit_pca(vectors, 2).transform(vectors)  # [N, 2]
        seconds["pca"] = time.perf_counter() - start
        start = time.perf_counter()
        found = nearest_neighbours(vectors, search_width("umap" if umap else "pca", NEIGHBOURS))
        seconds["neighbours"] = time.perf_counter() - start
        if umap:
            start = time.perf_counter()
            project(vectors, "umap", seed=0, graph=(found.indices, found.distances), distinct=found.distinct)
            seconds["umap"] = time.perf_counter() - start
        distinct = len(found.distinct.first) if found.distinct is not None else len(texts)
        del found
        del vectors
        # The pass's cost: the predictions' seconds times the median slice ratio, so that a burst of other load
        # during one slice moves one ratio, not the result (the plain sums stay in "seconds").
        pass_ratio = statistics.median(slice_ratios)
        after_pass = sum(v for k, v in seconds.items() if k not in ("predictions_alone", "predictions_with_embeddings"))
        ours = seconds["predictions_alone"] * pass_ratio + after_pass
        stages = "embeddings + PCA" + (" + UMAP" if umap else "") + f" + {NEIGHBOURS} neighbours"
        case = f"{bundle.name} on {len(texts):,} rows of {data_name}: {stages}"
        rows_out = [
            {
                **result(
                    case=case,
                    metric="seconds",
                    ours=ours,
                    reference=seconds["predictions_alone"],
                    reference_name=(
                        f"predictions alone (predict, batch size {BATCH_SIZE}), same run, slice by slice alternating "
                        "with the embedding pass; ours: these seconds x the slices' median pass ratio + the stages "
                        "after the pass"
                    ),
                    target=f"ratio <= {TARGET_RATIO:g}",
                    meets=lambda ratio: ratio <= TARGET_RATIO,
                ),
                "rows": len(texts),
                "distinct_vectors": distinct,  # what the search and UMAP's layout ran over
                "seconds": {k: round(v, 3) for k, v in seconds.items()},
                # each slice's embedding pass over its predictions alone (the slices hold the same mix of
                # texts): their spread is mostly the run's noise
                "pass_ratio_per_slice": [round(r, 3) for r in slice_ratios],
                "pass_ratio_median": round(pass_ratio, 4),
                "ratio_of_sums": round(
                    (seconds["predictions_with_embeddings"] + after_pass) / seconds["predictions_alone"], 4
                ),
            },
        ]
        skipped: list[str] = []
        if browser:
            frame = points_frame(labelled, predictions, tuple(bundle.label_names), markers, xy)
            figure = map_figure(frame, "label", label_names=bundle.label_names)
            drawn = render_seconds(figure, scratch)
            if drawn is None:
                skipped.append("no Playwright or Chromium here: the browser render was not measured")
            else:
                rows_out.append({
                    **_budget_row(f"map figure of {len(texts):,} points (Scattergl) first drawn in headless Chromium",
                                  "seconds", drawn, RENDER_BUDGET_SECONDS, "render", f"<= {RENDER_BUDGET_SECONDS:g} s",
                                  drawn <= RENDER_BUDGET_SECONDS, len(texts)),
                    "figure_bytes": len(figure.to_json()),
                })
        del predictions
        peak = _peak_rss_gb()  # after the figure too: the peak of the whole run
        rows_out.insert(1, _budget_row(f"peak resident memory of the whole run ({len(texts):,} rows)", "GB", peak,
                                       MEMORY_BUDGET_GB, "memory", f"< {MEMORY_BUDGET_GB:g} GB",
                                       peak < MEMORY_BUDGET_GB, len(texts)))
    finally:
        if previous is None:
            os.environ.pop("EXPLAINER_CACHE", None)
        else:
            os.environ["EXPLAINER_CACHE"] = previous
        shutil.rmtree(scratch, ignore_errors=True)
    out = report(NAME, rows_out)
    if skipped:
        print(f"map bench: {skipped[0]}", file=sys.stderr)
        out["skipped"] = skipped
    return out
