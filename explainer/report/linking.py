"""The report's "Live view" link back to the app: which model name a link may carry (a folder's path must not
travel with the file: the report names a folder model by its folder's name only), and, for the command line, the
page and options that reopen what the report shows, under the names the live pages read them by (ui/links.live_view
reads a page's link back into a report's options: tests/unit/report/test_linking.py holds the two together)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from explainer.loading import shipped
from explainer.loading.bundle import ModelBundle
from explainer.report.options import DEFAULT_METHOD

LINK_LEFT_OUT = "The live link is left out: the model was loaded from a folder on the machine that made this report."
# The app page each report section comes from, by its URL path ("" is the Overview), and how the file names it
URL_PATHS = {"overview": "", "attention": "attention", "attribution": "attribution", "markers": "markers",
             "beacons": "beacons"}
TITLES = {"overview": "the Overview", "attention": "the Attention page", "attribution": "the Attribution page",
          "markers": "the Thought markers page", "beacons": "the Beacons page"}
PARAM_NAMES = {"layer": "layer", "head": "head", "stat": "head statistic", "method": "method",
               "baseline": "baseline", "target": "target", "path": "reasoning path", "tau": "τ"}


def link_model(bundle: ModelBundle, offered: str | None = None) -> str | None:
    """The model name a link to the live app may carry: demo mode's `offered` name, a shipped name, a hub id;
    None for a model loaded from a folder (its path names the machine that made the report, and opens nothing
    anywhere else)."""
    if offered:
        return offered
    named = {m.name for m in shipped.SHIPPED} | {shipped.UNTRAINED_NAME}
    return bundle.name if bundle.folder is None or bundle.name in named else None


@dataclass(frozen=True)
class LiveLink:
    """Where a report's link points: an app page (its URL path), the options it carries beside model and text, and
    what opening it shows, said beside the link in the file."""

    page: str
    params: dict[str, str]
    opens: str


# Page options that can name a file or folder on the server (outside demo mode, where they carry offered names).
PATH_OPTIONS = ("data", "results", "results_b", "model_b")


def server_paths(params: Mapping[str, str]) -> list[str]:
    """The options of a local (not demo) page's link that name a path on this machine: data=, results= and
    results_b= whenever set, model_b= when it names a folder (a shipped name or a hub id travels)."""
    named = {m.name for m in shipped.SHIPPED} | {shipped.UNTRAINED_NAME}
    return [key for key in PATH_OPTIONS if params.get(key) and not (
        key == "model_b" and (params[key] in named or not Path(params[key]).expanduser().exists()))]


def paths_left_out(keys: Sequence[str]) -> str:
    """The report's line in place of a live link that would carry the server paths of options `keys`."""
    return (f"The live link is left out: its {', '.join(f'{key}=' for key in keys)} would carry a path on the "
            "machine that made this report.")


UPLOAD_LEFT_OUT = ("The live link is left out: the page's data set was uploaded, and an upload does not travel in a "
                   "link (it would open the page on another data set).")


def page_link(address: str, query: Mapping[str, str]) -> str:
    """`address` (a page's URL without its query) with `query`: the Overview's bare "http://host:port" gets the
    root's slash first, as browsers write it ("http://host:port/?model=...")."""
    parts = urllib.parse.urlsplit(address)
    return urllib.parse.urlunsplit(parts._replace(path=parts.path or "/", query=urllib.parse.urlencode(query)))


def live_link(
    pages: Sequence[str],
    *,
    layer: int | None = None,
    head: int = 0,
    method: str = DEFAULT_METHOD,
    baseline: str = "pad",
    target: str | None = None,
    statistic: str = "entropy",
    beacon_threshold: float | None = None,
    path_token: int | None = None,
) -> LiveLink:
    """The link that reopens a report of `pages` made with these options (build_report's, by the same names;
    `beacon_threshold` only for a model with beacons). A link opens one page, and only the Beacons page reads τ:
    the link opens the page whose options the report set (the Beacons page first, τ changing every view), and
    carries the other pages' options too, which those pages take when they are first opened in that session."""
    wanted = _page_options(pages, layer, head, method, baseline, target, statistic, beacon_threshold, path_token)
    chosen = [page for page in ("beacons", *pages) if wanted.get(page)]
    landing = chosen[0] if chosen else pages[0]
    params = {name: value for page in chosen for name, value in wanted[page].items()}
    opens = f"It opens {TITLES[landing]}" + _carrying(landing, wanted.get(landing, {}))
    others = [TITLES[page] for page in chosen if page != landing]
    if others:
        one = len(others) == 1
        opens += (f"; {_and(others)} {'reads its' if one else 'read their'} options from the link too when first "
                  "opened in that session")
    if beacon_threshold is not None and any(page != "beacons" for page in pages):
        opens += "; the other pages show the model's own τ, not this report's"
    return LiveLink(URL_PATHS[landing], params, opens + ".")


def _page_options(
    pages: Sequence[str], layer: int | None, head: int, method: str, baseline: str, target: str | None,
    statistic: str, beacon_threshold: float | None, path_token: int | None,
) -> dict[str, dict[str, str]]:
    # Each report page's options its live page would not show by default, under the link names the page reads.
    # τ shapes every section of the report, so it counts whichever pages were chosen.
    options = {
        "overview": {"layer": layer, "head": head if layer is not None or head else None},
        "attention": {"stat": None if statistic == "entropy" else statistic},
        "attribution": {"method": None if method == DEFAULT_METHOD else method,
                        "baseline": None if baseline == "pad" else baseline, "target": target},
        "markers": {"path": path_token},
        "beacons": {"tau": None if beacon_threshold is None else f"{beacon_threshold:g}"},
    }
    return {page: {name: str(value) for name, value in read.items() if value is not None}
            for page, read in options.items() if page in pages or page == "beacons"}


def _carrying(page: str, params: dict[str, str]) -> str:
    if page == "beacons" and "tau" in params:
        return f" at τ {params['tau']}" + _carrying("", {k: v for k, v in params.items() if k != "tau"})
    return f" with this report's {_and([PARAM_NAMES[name] for name in params])}" if params else ""


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def made_on_note(page: str, own_tau_differs: bool, intervention: str = "") -> str:
    """What a sidebar report's link opens: the page it was downloaded on (its URL path: "" for the Overview), with
    that page's options; a τ of the Beacons page other than the model's own is no other page's (the command line's
    link says the same, live_link). `intervention`: what the link also runs that the report does not draw ("the
    marker forced on the page"): the link opens the page with it, not as the report shows the model."""
    title = TITLES.get(page or "overview")
    said = (f"It opens {title} with this report's options" if title else
            "It opens the page it was downloaded on, with that page's options (its own view is not in this report)")
    if intervention:
        said += f", and with {intervention}, which this report does not draw"
    return said + ("; the other pages show the model's own τ, not this report's" if own_tau_differs else "") + "."
