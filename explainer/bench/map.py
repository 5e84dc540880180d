"""The `map` bench: what the data-set map costs on top of predicting, on 100,000 rows.

Ours: the map's whole computation on one labelled file: the prediction pass that also collects every layer's
readout and mean vectors into the float16 store (`embed_dataset`), PCA of the last layer, the exact cosine
neighbours (k = 10, searched 14 wide because UMAP's graph is the same search, as `build_map` does), and UMAP (PCA to
50 first, seeded) over that graph (rows whose vectors are identical searched and laid out once, as build_map does:
the SST-2 rows repeat to reach 100,000). Reference: the predictions alone (`predict`, same model, same
texts, same batch size), measured in the same run. Target: ours at most 1.3 x the reference (the map adds at most
30 %), and the run's peak resident memory under 3 GB. Each side runs once (a full pass takes minutes); the
report keeps every stage's seconds.

Also, when Playwright and Debian's Chromium are present: the map figure of all the rows (what the page sends,
plotly Scattergl) drawn in headless Chromium, from navigation to plotly's first `afterplot`.

Data: SST-2 train sentences (repeated up to the row count; $EXPLAINER_SST2_TRAIN, else shared/data/sst2/train.tsv
one or two folders above the checkout), else sentences generated from the demo texts. The embedding store and the
caches go to a temporary folder, removed afterwards.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from explainer.bench.common import BenchOptions, report, result

NAME = "map"
ROOT = Path(__file__).resolve().parents[2]
ROWS = 100_000
QUICK_ROWS = 2_000
BATCH_SIZE = 32
NEIGHBOURS = 10
TARGET_RATIO = 1.3
MEMORY_BUDGET_GB = 3.0
RENDER_BUDGET_SECONDS = 10.0
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def default_data() -> Path:
    if os.environ.get("EXPLAINER_SST2_TRAIN"):
        return Path(os.environ["EXPLAINER_SST2_TRAIN"])
    candidates = [folder / "shared" / "data" / "sst2" / "train.tsv" for folder in (ROOT.parent, ROOT.parent.parent)]
    return next((path for path in candidates if path.is_file()), candidates[0])


def bench_rows(count: int, data: Path | None = None) -> tuple[list[tuple[str, int]], str]:
    """`count` (text, label) rows: SST-2 train repeated when present, else generated; and where they came from."""
    path = data if data is not None else default_data()
    if path.is_file():
        from explainer.data.labelled import read_dataset

        source = read_dataset(path)
        pairs = list(zip(source.texts, source.labels))
        name = f"SST-2 train ({len(pairs):,} sentences{', repeated' if len(pairs) < count else ''})"
    else:
        from explainer.loading.untrained import demo_texts

        rng = random.Random(0)
        words = " ".join(demo_texts()).split()
        pairs = [(" ".join(rng.choices(words, k=rng.randint(4, 30))), rng.randint(0, 1)) for _ in range(5_000)]
        name = "generated from the demo texts (SST-2 train not found)"
    return [pairs[i % len(pairs)] for i in range(count)], name


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB


def render_seconds(figure, folder: Path) -> float | None:
    """Seconds from navigation to plotly's first afterplot of `figure` in headless Chromium (None when no browser
    is available). plotly.js is inlined from the installed package: nothing is fetched."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not Path(CHROMIUM).exists():
        return None
    html = figure.to_html(include_plotlyjs=True, full_html=True, div_id="map")
    page_path = folder / "map.html"
    page_path.write_text(html, encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-background-networking", "--no-first-run"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=flags, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(page_path.as_uri(), wait_until="load", timeout=300_000)
            drawn = (
                "document.querySelector('#map .gl-container canvas') !== null && document.getElementById('map')"
                "._fullLayout !== undefined"
            )
            page.wait_for_function(drawn, timeout=300_000, polling=50)
            return float(page.evaluate("performance.now()")) / 1000.0  # since navigation started
        except Exception as error:  # a browser that cannot draw it: said in the report, never a failed bench
            print(f"map bench: the browser render failed: {error}", file=sys.stderr)
            return None
        finally:
            browser.close()


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
    from explainer.dataset_map.embeddings import embed_dataset
    from explainer.dataset_map.maps import MapOptions, build_map, search_width
    from explainer.dataset_map.neighbours import nearest_neighbours
    from explainer.dataset_map.projection import fit_pca, project, unit_rows
    from explainer.evaluation.predict import predict
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
        seconds: dict[str, float] = {}

        start = time.perf_counter()
        predict(bundle, texts, batch_size=BATCH_SIZE)
        seconds["predictions_alone"] = time.perf_counter() - start

        start = time.perf_counter()
        predictions, store, _ = embed_dataset(bundle, labelled, batch_size=BATCH_SIZE)
        seconds["predictions_with_embeddings"] = time.perf_counter() - start
        vectors = unit_rows(store.layer(store.layers - 1, "readout"))  # [N, hidden]
        start = time.perf_counter()
        fit_pca(vectors, 2).transform(vectors)
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
        ours = sum(v for k, v in seconds.items() if k != "predictions_alone")
        peak = _peak_rss_gb()
        stages = "embeddings + PCA" + (" + UMAP" if umap else "") + f" + {NEIGHBOURS} neighbours"
        case = f"{bundle.name} on {len(texts):,} rows of {data_name}: {stages}"
        rows_out = [
            {
                **result(
                    case=case,
                    metric="seconds",
                    ours=ours,
                    reference=seconds["predictions_alone"],
                    reference_name=f"predictions alone (predict, batch size {BATCH_SIZE}), same run",
                    target=f"ratio <= {TARGET_RATIO:g}",
                    meets=lambda ratio: ratio <= TARGET_RATIO,
                ),
                "rows": len(texts),
                "distinct_vectors": distinct,  # what the search and UMAP's layout ran over
                "seconds": {k: round(v, 3) for k, v in seconds.items()},
            },
            {
                **result(
                    case=f"peak resident memory of the whole run ({len(texts):,} rows)",
                    metric="GB",
                    ours=peak,
                    reference=MEMORY_BUDGET_GB,
                    reference_name="the memory budget (not a measurement)",
                    target=f"< {MEMORY_BUDGET_GB:g} GB",
                    meets=peak < MEMORY_BUDGET_GB,
                ),
                "rows": len(texts),
            },
        ]
        skipped: list[str] = []
        if browser:
            mapped = build_map(bundle, labelled, MapOptions(method="pca", neighbours=NEIGHBOURS))
            figure = map_figure(mapped.frame, "label")
            drawn = render_seconds(figure, scratch)
            if drawn is None:
                skipped.append("no Playwright or Chromium here: the browser render was not measured")
            else:
                rows_out.append(
                    {
                        **result(
                            case=f"map figure of {len(texts):,} points (Scattergl) first drawn in headless Chromium",
                            metric="seconds",
                            ours=drawn,
                            reference=RENDER_BUDGET_SECONDS,
                            reference_name="the render budget (not a measurement)",
                            target=f"<= {RENDER_BUDGET_SECONDS:g} s",
                            meets=drawn <= RENDER_BUDGET_SECONDS,
                        ),
                        "rows": len(texts),
                        "figure_bytes": len(figure.to_json()),
                    }
                )
        del predictions
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
