"""`python -m explainer report [--model M] --text "..." [--pages overview,attention,attribution,markers,beacons]
[--method M] [--baseline B] [--layer L --head H] [--tau T] --out report.html`: one self-contained HTML report that
opens offline with no server."""

from __future__ import annotations

import argparse
import urllib.parse
from pathlib import Path

from explainer.capture.encoding import InputError
from explainer.cli.common import fail, model_argument, print_json, unit_interval, writing_to
from explainer.loading.bundle import ModelLoadError, load_model

DEFAULT_APP_URL = "http://localhost:8501/"


def main(argv: list[str] | None = None) -> None:
    from explainer.report import DEFAULT_PAGES, PAGES, ReportError, build_report

    parser = argparse.ArgumentParser(prog="python -m explainer report", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="shipped model, local folder or hub id (default: app default)")
    parser.add_argument("--text", required=True, help="the input text")
    parser.add_argument("--pages", default=",".join(DEFAULT_PAGES), help=f"comma-separated, from {', '.join(PAGES)}")
    parser.add_argument("--method", default="integrated_gradients", help="attribution method of the attribution page")
    parser.add_argument("--baseline", default="pad", help="what replaces text tokens in attribution: pad, mask, zero")
    parser.add_argument("--layer", type=int, default=None, help="the overview's attention layer (default: the last)")
    parser.add_argument("--head", type=int, default=0, help="the overview's attention head")
    parser.add_argument("--tau", type=unit_interval, default=None,
                        help="beacon threshold for every view (ThoughtBeacon models; default: the model's own)")
    parser.add_argument("--out", required=True, help="the HTML file to write")
    parser.add_argument("--app-url", default=DEFAULT_APP_URL, help="where the live app runs (for the link back)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary (the default and only format)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.is_dir():
        fail(f"--out {out} is a folder: give a file name ending in .html")
    pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    try:
        bundle = load_model(model_argument(args.model))
        query = {"model": args.model or bundle.name, "text": args.text}
        if args.layer is not None:
            query["layer"] = str(args.layer)
        if args.layer is not None or args.head:
            query["head"] = str(args.head)
        link = args.app_url.rstrip("/") + "/?" + urllib.parse.urlencode(query)
        document = build_report(bundle, args.text, pages, method=args.method, baseline=args.baseline,
                                layer=args.layer, head=args.head, beacon_threshold=args.tau, link=link)
    except (ModelLoadError, InputError, ReportError) as error:
        fail(str(error))
    with writing_to(out):
        out.write_text(document, encoding="utf-8")
    print_json({"out": str(out), "bytes": out.stat().st_size, "pages": pages, "model": bundle.name})
