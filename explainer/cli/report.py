"""`python -m explainer report [--model M] --text "..." [--pages overview,attention,attribution,markers,beacons]
[--method M] [--baseline B] [--target LABEL] [--statistic S] [--layer L --head H] [--tau T] [--path-token N]
--out report.html`:
one self-contained HTML report that opens offline with no server. Its "Live view" link opens the app page that
reads the options given (report/linking.live_link) and says what it opens."""

from __future__ import annotations

import argparse
import sys
import urllib.parse
from pathlib import Path

from explainer.capture.validation import InputError, truncation_sentence
from explainer.cli.common import (
    MODEL_HELP,
    NAME_FIRST,
    add_allow_pickle,
    check_output_file,
    demo_limits,
    describe,
    encoded_text,
    fail,
    load_cli_model,
    named_path,
    note_unused_tau,
    offered_model,
    print_json,
    refuse_special_file,
    refuse_unrelated_file,
    text_argument,
    unit_interval,
    writing_to,
)
from explainer.data.folders import write_whole
from explainer.report.options import DEFAULT_PAGES, PAGES, ReportError, check_pages, is_report
from explainer.views.text import tau_text

DEFAULT_APP_URL = "http://localhost:8501/"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m explainer report", description=describe(__doc__))
    parser.add_argument("--model", default=None, help=MODEL_HELP)
    parser.add_argument("--text", type=text_argument, required=True, help="the input text")
    parser.add_argument("--pages", default=",".join(DEFAULT_PAGES),
                        help=f"comma-separated, from {', '.join(PAGES)} (default {','.join(DEFAULT_PAGES)})")
    parser.add_argument("--method", default="integrated_gradients",
                        help="attribution method of the attribution page (default integrated_gradients; the "
                        "attribute command lists them)")
    parser.add_argument("--baseline", default="pad",
                        help="what replaces text tokens in attribution: pad (default), mask, zero")
    parser.add_argument("--target", default=None,
                        help="the label the attribution page explains, by name or index (default: the predicted "
                        "label); " + NAME_FIRST)
    parser.add_argument("--statistic", default="entropy",
                        help="the attention page's head statistic map (default entropy; also mean_distance, "
                        "first_token_share, last_token_share, self_share, previous_token_share)")
    parser.add_argument("--layer", type=int, default=None,
                        help="the overview's attention layer, from 0 (default: the last)")
    parser.add_argument("--head", type=int, default=0, help="the overview's attention head, from 0 (default 0)")
    parser.add_argument("--tau", type=unit_interval, default=None,
                        help="beacon threshold for every view, 0 to 1 in steps of 0.01 as the Beacons page's slider "
                             "(ThoughtBeacon models; default: the model's own)")
    parser.add_argument("--path-token", type=int, default=None,
                        help="the markers section's reasoning path of one token, from 0 with special tokens "
                        "(default: every token)")
    parser.add_argument("--out", required=True, type=named_path, help="the HTML file to write")
    parser.add_argument("--app-url", default=DEFAULT_APP_URL,
                        help=f"where the live app runs, http(s) (for the link back; default {DEFAULT_APP_URL})")
    parser.add_argument("--json", action="store_true", help="print a JSON summary (the default and only format)")
    add_allow_pickle(parser)
    args = parser.parse_args(argv)
    address = urllib.parse.urlsplit(args.app_url)
    if address.scheme not in ("http", "https") or not address.hostname:  # the link is shared: no javascript:, and
        # "http:" wrote a dead http:///attention?... link
        fail(f"--app-url must be an http:// or https:// address with a host, not {args.app_url!r}")
    if args.tau is not None and tau_text(args.tau) != f"{args.tau:.2f}":  # 0.306: the link would open at 0.31
        fail(f"--tau {args.tau:g} is not in hundredths: the report's link opens the Beacons page, whose τ moves in "
             f"steps of 0.01 (--tau {args.tau:.2f}, say)")
    if args.tau is not None:  # the hundredth it is within round-off of, run and linked as shown: 1e-9 was shown as
        args.tau = round(args.tau * 100) / 100  # 0.00 and linked as tau=1e-09 (the page moved it), -0 as "-0.00"
    out = Path(args.out)
    if out.is_dir() and args.out.strip():  # "" is Path("."): check_output_file says it is empty
        fail(f"--out {out} is a folder: give a file name ending in .html")
    check_output_file(args.out)  # as typed: Path() drops the slash of "new/"
    refuse_special_file(out)
    refuse_unrelated_file(out, "--out", is_report, "not a report this tool wrote")
    try:  # before the model loads; a page named twice is drawn once
        pages = check_pages([p.strip() for p in args.pages.split(",") if p.strip()])
    except ReportError as error:
        fail(str(error))
    _check_choices(args)  # before the model loads, and before any note that an option changes nothing
    # torch, the model and the views load only now: --help and usage errors start at once
    from explainer.models import uses_beacons, uses_markers
    from explainer.report.building import build_report, target_name
    from explainer.report.linking import link_model

    bundle = load_cli_model(args.model, args.allow_pickle)
    _check_head(bundle, args.layer, args.head)
    _check_path_token(bundle, args.text, args.path_token)
    config = bundle.model.config
    offered = offered_model(args.model)  # a demo's offered name, said in place of its folder
    note_unused_tau(bundle, args.tau, "--tau", offered)
    if args.path_token is not None and not uses_markers(config):  # its link said it opened a path there is none of
        print(f"note: {offered or bundle.name} has no thought markers; --path-token changes nothing", file=sys.stderr)
    for page, has, what in (("markers", uses_markers, "thought markers"),
                            ("beacons", uses_beacons, "activation beacons")):
        if page in pages and not has(config):  # said in the file only: the command's output listed the page as drawn
            print(f"note: {offered or bundle.name} has no {what}; the {page} section says so and draws nothing",
                  file=sys.stderr)
    try:
        # τ only where beacons read it (noted above; a model without them refuses a threshold), a path only where
        # markers draw one
        options = {"layer": args.layer, "head": args.head, "method": args.method, "baseline": args.baseline,
                   "target": None if args.target is None else target_name(bundle.label_names, args.target),
                   "statistic": args.statistic, "beacon_threshold": args.tau if uses_beacons(config) else None,
                   "path_token": args.path_token if uses_markers(config) else None}
        _note_unread(parser, args, pages)  # once --target is known to be a label: noted, then refused, it read oddly
        link, opens = _link(args.app_url, link_model(bundle, offered), args.text, pages, options)
        limits = demo_limits()  # a demo's attribution limit, as the app's report keeps it
        document = build_report(bundle, args.text, pages, **options, link=link, link_note=opens,
                                model_label=offered, attribution_token_limit=limits and limits.attribution_tokens)
    except (InputError, ReportError) as error:
        fail(str(error))
    encoded = encoded_text(bundle, args.text)
    limit = limits and limits.attribution_tokens
    if "attribution" in pages and limit is not None and encoded is not None and len(encoded.special) > limit:
        # said in the file only, as a section with nothing to draw is (markers, beacons above); counted as the
        # section counts: the tokens the model reads, special ones too
        print(f"note: this text has {len(encoded.special)} tokens and attribution is limited to {limit} here; the "
              "attribution section says so and draws nothing", file=sys.stderr)
    if encoded is not None and encoded.truncated:  # said in the file's options only: a 2,115-token text, 256 read
        print("note: " + truncation_sentence(encoded.num_text_tokens, bundle.max_length,
                                             cuts_left_elsewhere=bundle.cuts_left_elsewhere), file=sys.stderr)
    with writing_to(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        write_whole({out: lambda handle: handle.write(document.encode("utf-8"))})  # the old report kept on failure
    print_json({"out": str(out), "bytes": out.stat().st_size, "pages": pages, "model": offered or bundle.name})


# option -> (its flag, the page that reads it): one given for a page left out changes nothing
READ_BY = {
    "layer": ("--layer", "overview"),
    "head": ("--head", "overview"),
    "statistic": ("--statistic", "attention"),
    "method": ("--method", "attribution"),
    "baseline": ("--baseline", "attribution"),
    "target": ("--target", "attribution"),
    "path_token": ("--path-token", "markers"),
}


def _check_choices(args: argparse.Namespace) -> None:
    """Fail on an unknown --method, --baseline or --statistic, in build_report's words (it checks them too)."""
    from explainer.attention.statistics import FIELDS
    from explainer.attribution.options import BASELINES
    from explainer.attribution.registry import METHODS

    for value, known, what in ((args.method, METHODS, "method"), (args.baseline, BASELINES, "baseline"),
                               (args.statistic, FIELDS, "head statistic")):
        if value not in known:
            fail(f"Unknown {what} '{value}'; choose one of {', '.join(known)}")


def _note_unread(parser: argparse.ArgumentParser, args: argparse.Namespace, pages: tuple[str, ...]) -> None:
    """Say on stderr which given options no chosen page reads (--method without the attribution page was dropped in
    silence, the report reading as if it had been applied); an option at its default was not given."""
    for dest, (flag, page) in READ_BY.items():
        if getattr(args, dest) != parser.get_default(dest) and page not in pages:
            print(f"note: {flag} is read by the {page} page, which --pages leaves out; it changes nothing",
                  file=sys.stderr)


def _link(app_url: str, model: str | None, text: str, pages: tuple[str, ...], options: dict) -> tuple[str, str]:
    """The link that reopens what the report shows (the page that reads its options, carrying them all under the
    names the pages read) and what it opens; none for a model from a folder (build_report says why)."""
    from explainer.report.linking import live_link

    if model is None:  # a folder's path stays out of the link
        return "", ""
    live = live_link(pages, **options)
    query = {"model": model, "text": text, **live.params}
    # The page under the app's path; the app's own query or fragment (?x=1#top) would swallow the options.
    parts = urllib.parse.urlsplit(app_url)
    page = parts._replace(path=f"{parts.path.rstrip('/')}/{live.page}", query=urllib.parse.urlencode(query),
                          fragment="")
    return urllib.parse.urlunsplit(page), live.opens


def _check_path_token(bundle, text: str, token: int | None) -> None:
    """--path-token one of the text's tokens: the report said "the text has no token -5" while its live link
    opened the Markers page with path=-5 (a CLI walk)."""
    encoded = encoded_text(bundle, text) if token is not None else None
    if encoded is None:
        return  # no token asked for, or a text build_report says what is wrong with
    count = len(encoded.special)
    if not 0 <= token < count:
        fail(f"--path-token {token} is out of range: the text has tokens 0-{count - 1} (special tokens counted)")


def _check_head(bundle, layer: int | None, head: int) -> None:
    """--layer and --head inside the model (the live page clamps a link's; a command line is told)."""
    from explainer.families import sizes

    shape = sizes(bundle.model.config)
    layers, heads = shape.layers, shape.heads
    if layer is not None and not 0 <= layer < layers:
        fail(f"--layer {layer} is out of range: {bundle.name} has layers 0-{layers - 1}")
    if not 0 <= head < heads:
        fail(f"--head {head} is out of range: {bundle.name} has heads 0-{heads - 1}")
