"""The shareable link: what a session opened with seeds the sidebar (model, text) and every page's options once,
clamped to the model now chosen (a link may name another model's sizes or labels); each run publishes the
options back beside model and text. Hand-edited links fall back to defaults, never fail a page.

One run, one address (app.py calls begin_run and end_run around the page): options published during a run are
sent together (when the first figure is, and at its end), so the browser's history gains one entry per action,
not one per option. Back, Forward and a page switch that carries parameters make the address a link again: it
seeds that page's options it names (and, for Back and Forward, the model and the text), except the bare address a
page switch leaves behind, which stands for the session's own state. A page's options outlive a visit to another
page (Streamlit forgets the state of widgets it did not draw): they are kept here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, NoReturn
from urllib.parse import unquote

import streamlit as st

from explainer.attention.statistics import FIELDS
from explainer.attribution.inputs import BASELINES
from explainer.attribution.registry import METHODS
from explainer.capture.encoding import MAX_TEXT_CHARS
from explainer.capture.validation import label_key
from explainer.loading import shipped
from explainer.report import DEFAULT_METHOD, DEFAULT_PAGES, PAGES
from explainer.serving.demo import active_demo
from explainer.ui.text_box import clamp_into
from explainer.ui.widget_state import lingers, resend
from explainer.views.text import markdown_literal

OTHER_MODEL = "Other: a local folder or hub id…"
OTHER_KEPT_KEY = "_model_other_kept"  # what the sidebar's folder box last held: seed_sidebar gives it back
DEFAULT_TEXT = "I wanted to love this movie, but the plot falls apart halfway through."
LINK_KEY = "_link_params"  # the query parameters the session was opened with (or last navigated to)
PENDING_KEY = "_link_pending"  # options published during this run, sent at its end (None: sent at once)
PUBLISHED_KEY = "_link_published"  # the address as the app last left it
ADDRESS_KEY = "_link_address"  # the address the latest run left (one dict, updated in place): latest_address
RELINK_KEY = "_link_relink"  # parameters a page switch carries: the next run seeds from them as from a link
KEPT_KEY = "_link_kept"  # widget key -> its value in this session, kept while its page is not shown
# Every value any page reads for a link option that several pages read with different meanings: a value in it
# is no error on a page that offers other choices (method=umap is the map's projection). The map's projections are
# dataset_map.projection.METHODS (tests check), not imported: that module loads numba.
# source= is Causal's text source (causal.SOURCES) and, in demo mode, the data pages' source (labelled.sources()).
SHARED_OPTION_VALUES = {
    "method": (*METHODS, "pca", "umap"),
    "source": ("sidebar", "pair", "Challenge set (shipped)", "Upload a file", "A data set offered here"),
}
SEEDED_KEY = "_link_seeded"  # widget key -> (the link parameter it is seeded from, the page it was seeded on)
PAGE_KEY = "_link_page"  # the page the previous run showed


def _run_context():
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    return get_script_run_ctx()


def _history_navigation() -> bool:
    """This run answers the browser's Back or Forward (Streamlit's frontend says so with the rerun it asks for)."""
    ctx = _run_context()
    return bool(ctx is not None and ctx.is_history_navigation)


def _page() -> str:
    """The page this run shows (its script hash): a relink re-seeds only that page's options, since pages share
    some parameter names with other meanings (method= is the map's projection and the attribution's method)."""
    ctx = _run_context()
    return ctx.page_script_hash if ctx is not None else ""


def begin_run() -> None:
    """First thing in every run (app.py): follow Back/Forward or a page switch that carries parameters, then
    hold this run's options until end_run."""
    now = st.query_params.to_dict()
    if now != st.session_state.get(PUBLISHED_KEY):  # an address the app did not write: say what it drops
        _tell_repeated()
    relink = st.session_state.pop(RELINK_KEY, None)
    published = st.session_state.get(PUBLISHED_KEY) or {}
    named = set(relink or ())
    if relink is None and _history_navigation() and now != published and now:
        # Back or Forward: the address is the state to show. What it leaves out is at its default, so what the
        # app had published and this address lacks is re-seeded too (and leaves the opening link).
        relink, named = now, set(now) | set(published)
        if "model_choice" in st.session_state:  # seed_sidebar seeds model and text from it again
            for key in ("model_choice", "model_other", "text"):
                st.session_state.pop(key, None)
    # An address without parameters on Back or Forward is the entry Streamlit's page switch adds before the new
    # page's first run adds its full address: it stands for the state beside it, the session's own text, model and
    # kept options, so nothing is re-seeded (re-seeding from it reset them to their defaults); the run publishes
    # that state in its place.
    if relink is not None:
        link = {key: value for key, value in st.session_state.get(LINK_KEY, {}).items() if key not in named}
        st.session_state[LINK_KEY] = {**link, **relink}
        kept, page = st.session_state.get(KEPT_KEY, {}), _page()
        for key, (param, seeded_on) in list(st.session_state.get(SEEDED_KEY, {}).items()):
            if param in named and seeded_on == page:  # seeded again from the new address, not kept from before
                st.session_state.pop(key, None)
                kept.pop(key, None)
    st.session_state[PENDING_KEY] = {}
    _remember(now)


def _tell_repeated() -> None:
    """A parameter given twice (tags=typo&tags=negation) is read once, its last value (to_dict()): say so rather
    than drop the others unsaid."""
    for key in dict.fromkeys(st.query_params):
        values = st.query_params.get_all(key)
        if len(values) > 1:
            tell_adjusted(key, values[-1], f"is the last of {len(values)} {key}= in the link and the only one read "
                          "(a list takes its values in one, separated by commas)")


def arrive() -> None:
    """After st.navigation chose the page (before it, the first run reports the main script), and before the page
    runs: coming from another page, give this page's kept widgets the values the user left them at. The browser
    can send such a widget at its default on the way (the Attention page's statistic map, drawn after its first
    figure, came back as entropy after a visit to Overview), and a value in session state wins over the kept one
    (seed_option)."""
    page = _page()
    if st.session_state.get(PAGE_KEY) == page:
        return
    kept = st.session_state.get(KEPT_KEY, {})
    for key, (_, seeded_on) in st.session_state.get(SEEDED_KEY, {}).items():
        if seeded_on == page and key in kept:
            st.session_state[key] = kept[key]
    st.session_state[PAGE_KEY] = page


def keep(key: str, param: str | None = None) -> None:
    """Widget `key` keeps its value while its page is not shown (Streamlit forgets a widget its run did not draw):
    the kept value comes back, and this run's value is kept for the next. `param`: the link parameter it is
    seeded from (seed_option), None for a widget no link carries. Call before the widget."""
    kept = st.session_state.setdefault(KEPT_KEY, {})
    if key in kept and (key not in st.session_state or lingers(key)):  # forgotten, or an undrawn box's old seed
        st.session_state[key] = kept[key]
    st.session_state.setdefault(SEEDED_KEY, {})[key] = (param, _page())
    if key in st.session_state:
        kept[key] = st.session_state[key]  # the value this run starts from: the user's latest choice


def set_kept(key: str, value: object) -> None:
    """From a callback: widget `key` of another page (or this one) takes `value`, also as its kept value, which
    arrive() would otherwise give back when its page is next shown."""
    st.session_state[key] = value
    kept = st.session_state.get(KEPT_KEY)
    if kept is not None and key in kept:
        kept[key] = value


def keep_choice(key: str) -> None:
    """keep and resend for a choice no link seeds, drawn after a page's progressive stop: a run that stopped
    before it leaves its value in the session, but the browser draws it anew at its first option, which the next
    run would read as the choice. Call before the widget."""
    keep(key)
    resend(key)


def end_run() -> None:
    """Last thing in every run, however it ends (app.py's finally): send this run's options in one address."""
    from streamlit.runtime.scriptrunner_utils.exceptions import StopException

    pending = st.session_state.pop(PENDING_KEY, None)
    if pending is not None:
        try:
            # Sent even when unchanged: a run that ends in a rerun loses its last messages, and an address the
            # server already holds would never be sent again (the browser adds no entry for an unchanged one).
            _apply(pending, always=True)
        except StopException:  # a stop asked meanwhile: nothing more is sent
            pass
        # A RerunException goes on: it carries the rerun asked meanwhile (a click on another page while the text
        # box's change was running), which Streamlit hands over only once; caught here, that click was lost.


def stop() -> NoReturn:
    """st.stop() that first sends this run's options: once a run is stopped it can send nothing (even session
    state raises StopException), so end_run could not, and the link kept the previous run's options."""
    flush()
    st.stop()
    raise AssertionError("st.stop() returned")  # never reached: st.stop raises


def latest_address() -> dict[str, str]:
    """The address the session's latest run left, one dict updated in place whenever an address is sent: for
    work done after the run has ended, such as the report built when its button is clicked."""
    return st.session_state.setdefault(ADDRESS_KEY, {})


REPORT_INPUTS_KEY = "_report_inputs"  # the latest run's model, text and page, read when the report is built


def report_inputs() -> dict:
    """The session's report inputs: one dict, updated in place by each run (the sidebar's report button sets the
    model, text and page; `settled`: the latest run has drawn its button; `uploaded`: a data page's source is an
    upload, set by the page once drawn), read by the report's build in another thread."""
    return st.session_state.setdefault(REPORT_INPUTS_KEY, {})


def _remember(address: Mapping[str, str]) -> None:
    latest = latest_address()
    latest.clear()
    latest.update(address)


def flush() -> None:
    """Send the options published so far in this run, when they change the address: the page's first figure is
    on its way (progressive.rest_may_follow), so its link should be too, not only when the run ends."""
    pending = st.session_state.get(PENDING_KEY)
    if pending:
        _apply(pending, always=False)
        pending.clear()


# Kept in the address even when empty: an emptied text box is a view of its own ("The text is empty"), and an
# address without text= opens the default text instead.
KEPT_EMPTY = ("text", "edited")  # edited=: the What-if copy, whose default is the text


def _address(options: Mapping[str, str]) -> dict[str, str]:
    """The current address with `options` over it; an empty value leaves the address (but text=, KEPT_EMPTY)."""
    merged = {**st.query_params.to_dict(), **options}
    return {key: value for key, value in merged.items() if value != "" or key in KEPT_EMPTY}


def _apply(options: Mapping[str, str], always: bool) -> None:
    wanted = _address(options)
    st.session_state[PUBLISHED_KEY] = wanted
    _remember(wanted)
    if always or wanted != st.query_params.to_dict():
        st.query_params.from_dict(wanted)  # one message, so one history entry


def link_params() -> dict[str, str]:
    """The address as this run will leave it: the current one with the options published so far."""
    return _address(st.session_state.get(PENDING_KEY) or {})


def switch_page(page: str, params: Mapping[str, Any]) -> None:
    """st.switch_page to `page` with `params` as its address: the page seeds the options they name from them
    (over the session's kept ones), and nothing else this run published is added to them."""
    params = {key: str(value) for key, value in params.items()}
    st.session_state[RELINK_KEY] = params
    st.session_state[PUBLISHED_KEY] = params
    st.session_state.pop(PENDING_KEY, None)
    st.switch_page(page, query_params=params)


def seed_sidebar() -> None:
    """First run of a session: a shared link's query parameters seed the sidebar's widgets, and are kept for
    the pages' options (seed_option). Later, a sidebar value the session lost is seeded from the address again:
    a page switch with parameters drops the text boxes' values (the text's, and the folder box's under "Other")
    while the model picker's, resent with every run (session.sidebar), stays."""
    folder_lost = st.session_state.get("model_choice") == OTHER_MODEL and "model_other" not in st.session_state
    if "model_choice" in st.session_state and "text" in st.session_state and not folder_lost:
        return
    if LINK_KEY not in st.session_state:  # the session's first run; Back and Forward set it in begin_run
        st.session_state[LINK_KEY] = st.query_params.to_dict()
    demo = active_demo()
    if "model_choice" not in st.session_state:
        names = _offered_models()
        model = st.query_params.get("model", "")
        if not model.strip():  # model= names none: the first offered, as with no model= (a toast called it ``)
            model = names[0]
        model = model.strip() if model.strip() in names else model  # "%20sst2-baseline%20": a toast called it
        if demo is not None and model not in names:  # demo mode offers its list only: a link naming anything else
            tell_adjusted("model", model, f"is not offered here; {shown_value(names[0])} is used")  # opens the first
            model = names[0]
        choose_model(model)
    elif folder_lost:  # the switch's model (Causal's head button carries it), else the folder the box held (a row
        # opened from a table keeps the sidebar's model and carries none): the page ran with no model before
        linked = st.query_params.get("model", "")
        folder = linked if linked and linked not in _offered_models() else st.session_state.get(OTHER_KEPT_KEY, "")
        st.session_state.model_other = folder
    if "text" not in st.session_state:
        text = st.query_params.get("text", DEFAULT_TEXT)
        longest = demo.limits.max_text_chars if demo is not None else MAX_TEXT_CHARS
        clamp_into("text", text, longest)  # a hand-made link: keep what the text box can hold, and say so


def _offered_models() -> list[str]:
    """The sidebar picker's model names: the demo config's, else the shipped models present."""
    demo = active_demo()
    return list(demo.model_names) if demo is not None else [m.name for m in shipped.available()]


def chosen_model() -> str:
    """The sidebar's model as chosen (what choose_model sets): a listed name, or the folder or hub id in its box."""
    choice = st.session_state.get("model_choice")
    return st.session_state.get("model_other", "").strip() if choice == OTHER_MODEL else choice


def choose_model(name: str) -> None:
    """From a callback: the sidebar's model becomes `name`: a shipped name is picked from the list, anything else
    (a folder or hub id) goes into the sidebar's box; in demo mode `name` is one the config offers (the picker's
    list: a name it lacks opens the first offered model, as a link naming it does)."""
    if name in _offered_models() or active_demo() is not None:
        st.session_state.model_choice = name
        st.session_state.pop("model_other", None)
    else:
        st.session_state.model_choice = OTHER_MODEL
        st.session_state.model_other = st.session_state[OTHER_KEPT_KEY] = name


def parse_ints(raw: str) -> list[int]:
    """A list option from a link, e.g. "0,2,3" (ValueError on anything else, so seed_option falls back)."""
    return [int(part) for part in raw.split(",") if part.strip()]


def parse_names(raw: str, allowed) -> list[str]:
    """A list of names from a link, e.g. "negative,positive", keeping only those in `allowed`, in its order. Each
    name is read as `joined` wrote it (a comma or percent sign inside it escaped), exactly, spaces included; a
    hand-typed "negative, positive" still finds both, and a name alike but for case and spaces finds the one
    allowed name it is alike to ("negative" the label "Negative "), as data files and --target match labels."""
    parts = [unquote(part) for part in raw.split(",")]
    wanted = {*parts, *(part.strip() for part in parts)}
    exact = [name for name in allowed if name in wanted]
    found = {label_key(name) for name in exact}
    alike: dict[str, list[str]] = {}
    for name in allowed:
        alike.setdefault(label_key(name), []).append(name)
    keys = {label_key(part) for part in parts} - found
    more = {names[0] for key, names in alike.items() if key in keys and len(names) == 1}
    return [name for name in allowed if name in wanted or name in more]


def unmatched_names(raw: str, allowed) -> list[str]:
    """The names of a link's list that parse_names finds no allowed name for: "negative,NEGATIVE" has none (both
    find "negative"), "positive,meh" has "meh"."""
    return [unquote(part) for part in raw.split(",") if part.strip() and not parse_names(part, allowed)]


def parse_fraction(raw: str) -> float:
    """A number in [0, 1] from a link (a tau, a threshold), clamped (ValueError for anything that is not a finite
    number: max(nan, 0) is nan, so a clamp alone would let "nan" through)."""
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {raw!r}")
    return min(max(value, 0.0), 1.0)


def snap(value: float, step: float) -> float:
    """`value` at the nearest multiple of `step` (rounded to 10 places: 0.29 + float noise is 0.29)."""
    return round(round(value / step) * step, 10)


def parse_range(raw: str, low: int, high: int) -> tuple[int, int]:
    """An inclusive range from a link, e.g. "3-20", clamped to [low, high] (ValueError if it is not one)."""
    first, last = (int(part) for part in raw.split("-", 1))
    first, last = sorted((min(max(first, low), high), min(max(last, low), high)))
    return first, last


def joined(values: Iterable[Any]) -> str:
    """A list option for the link: "0,2,3" (empty: the option leaves the link). A comma or percent sign inside a
    value (a tag or label name such as "a, b") is escaped, so parse_names reads the same values back."""
    return ",".join(str(value).replace("%", "%25").replace(",", "%2C") for value in values)


def shown_value(raw: str) -> str:
    """A link's value quoted for a toast (markdown): short, one line, no backtick to end the code span early."""
    value = " ".join(raw.replace("`", "'").split())
    if not value:  # "``" showed as two backticks
        return "(empty)"
    return f"`{value[:40]}{'…' if len(value) > 40 else ''}`"


def tell_adjusted(param: str, raw: str, why: str) -> None:
    """Say once, in a toast, that the link's `param`=`raw` was not used as written, and why (a hand-edited or old
    link; the page goes on with what it says instead of failing). Shown for 10 s, not 4: it comes with the page's
    first run, while a long first load still draws, and a 4-second toast was gone before the page was."""
    st.toast(f"The link's {param}={shown_value(raw)} {why}.", icon=":material/link_off:", duration="long")


def tell_clamped(param: str, value: Any, why: str) -> None:
    """Say in a toast that the session's own `param`=`value`, chosen for another model or text, does not fit
    here, and what is used (tell_adjusted's twin for a value that did not come from the link)."""
    st.toast(f"The chosen {param}={markdown_literal(str(value))} {why}.", icon=":material/straighten:",
             duration="long")


def offered_list(names: Iterable[str], limit: int = 120) -> str:
    """Names a widget offers, for a toast: escaped (label names come from a model's config), joined by commas, and
    cut after the names that fit in `limit` characters ("…" for the rest)."""
    escaped = [markdown_literal(name) for name in names]
    count, length = 1, len(escaped[0]) if escaped else 0  # a first name is always shown, however long
    while count < len(escaped):  # the most whole names that fit, with ", …" after them where some are left out
        longer = length + 2 + len(escaped[count])
        if longer + (3 if count + 1 < len(escaped) else 0) > limit:
            break
        count, length = count + 1, longer
    return ", ".join(escaped[:count]) + (", …" if count < len(escaped) else "")


def mark_seeded(key: str, param: str) -> None:
    """Session state `key` (not a widget) was seeded from the link's `param`: Back, Forward or a page switch that
    names `param` seeds it again."""
    st.session_state.setdefault(SEEDED_KEY, {})[key] = (param, _page())


def has_value(key: str) -> bool:
    """Whether widget `key` has a value already, in the session or kept while its page was not shown: else its
    next run seeds it (from the link, or its default)."""
    return key in st.session_state or key in st.session_state.get(KEPT_KEY, {})


def from_link(key: str, param: str) -> str | None:
    """The link's raw `param` when widget `key` is about to get its first value from it; None otherwise."""
    if has_value(key):
        return None
    seed_sidebar()
    return st.session_state.get(LINK_KEY, {}).get(param)


class NotOffered(ValueError):
    """A link value that reads as a value of its kind but is not one the widget offers; the message says why, as
    the toast's words after "The link's param=value" ("is neither 0 (shut) nor 1 (open)")."""


def seed_option(key: str, param: str, parse: Callable[[str], Any], default: Any) -> Any:
    """Give widget `key` its first value: from the shared link's parameter `param` if it parses, else
    `default` (and a toast says so). Later runs keep whatever the user chose. Returns the current value."""
    if not has_value(key):  # its first value
        raw = from_link(key, param)
        value = default
        if raw is not None:
            try:
                value = parse(raw)
            except NotOffered as error:  # read, but not a value this widget has
                tell_adjusted(param, raw, f"{error}; the default is used")
            except (TypeError, ValueError):
                value = default  # a hand-edited link: fall back, never fail the page
                tell_adjusted(param, raw, "could not be read here; the default is used")
        st.session_state[key] = value
    keep(key, param)  # back on its page: Streamlit forgot the widget, the session did not
    return st.session_state[key]


def _adjust(key: str, value: Any) -> None:
    """Widget `key`'s value, fitted to this model or data set after seed_option (clamped, left out, widened), and
    the kept value too: keep() kept the run's start, so a visit to another page brought the unfitted one back (a
    Tokens range widened for a longer data set came back narrow, hiding its longest mistakes)."""
    st.session_state[key] = value
    kept = st.session_state.get(KEPT_KEY)
    if kept is not None and key in kept:
        kept[key] = value


def seed_fraction(key: str, param: str, default: float, step: float | None = None) -> float:
    """seed_option for a number in [0, 1] (a tau, a threshold): a link value outside is clamped, and one between
    the slider's `step`s is snapped to the nearest (the slider would show, and the address keep, a value other
    than the one computed: tau=0.004 ran at 0.004 under a slider at 0.00); `default` is kept as it is (a folder's
    own tau of 0.375). Either is said in a toast."""
    raw = from_link(key, param)

    def parse(text: str) -> float:
        value = parse_fraction(text)
        return value if step is None or value == default else snap(value, step)

    value = seed_option(key, param, parse, default)
    try:
        read = None if raw is None else float(raw)
        clamped = read is not None and read != parse_fraction(raw)
        snapped = read is not None and not clamped and read != parse(raw)
    except ValueError:  # not a number: seed_option has said so
        clamped = snapped = False
    if clamped:
        tell_adjusted(param, raw, f"is outside 0 to 1; {value:g} is used")
    elif snapped:
        tell_adjusted(param, raw, f"is between the slider's steps of {step:g}; {value:g} is used")
    resend(key)  # a slider
    return value


def seed_choice(key: str, param: str, choices: Sequence[Any], default: Any = None, parse: Callable = str,
                tell: bool = False, shown: Callable[[Any], str] = str, offered_elsewhere: Sequence[Any] = ()) -> Any:
    """seed_option for a widget offering `choices`: a link value outside them, or a value kept from before that
    this model no longer offers (its labels, its number of tokens), gives `default` (the first choice unless
    named). `parse` turns the link's text into a choice; `shown` a choice into the link's text (for the toast).

    A toast says so only where `tell`: pages share some names with other meanings (method= is the map's
    projection and the attribution's method) and a link keeps every page's options, so a value not offered here
    is often no error: the values other pages accept for `param` (SHARED_OPTION_VALUES) pass silently, except
    those this widget offers for other models (`offered_elsewhere`: rollout, which this model cannot run)."""
    default = choices[0] if default is None else default
    raw = from_link(key, param) if tell else None

    def matched(text: str) -> Any:
        """The choice the text names: as written, else one name alike but for case and spaces (a label typed
        "Negative", matched as data files' labels and --target are)."""
        value = parse(text)
        if value in choices or not isinstance(value, str):
            return value
        alike = [c for c in choices if isinstance(c, str) and c.strip().casefold() == value.strip().casefold()]
        return alike[0] if len(alike) == 1 else value

    def parse_choice(text: str) -> Any:
        value = matched(text)
        return value if value in choices else default

    seed_option(key, param, parse_choice, default)
    silent = set(SHARED_OPTION_VALUES.get(param, ())) - set(map(str, offered_elsewhere))
    if raw is not None and raw not in silent:
        try:
            offered_here = matched(raw) in choices
        except (TypeError, ValueError):
            offered_here = True  # seed_option has said it could not be read
        if not offered_here:
            used = markdown_literal(shown(default))
            tell_adjusted(param, raw, f"is not offered here ({offered_list(map(shown, choices))}); {used} is used")
    if st.session_state[key] not in choices:  # kept from another text or model, which offered it
        if tell:
            tell_clamped(param, shown(st.session_state[key]),
                         f"is not offered here; {markdown_literal(shown(default))} is used")
        _adjust(key, default)
    resend(key)  # a radio or select box
    return st.session_state[key]


def seed_index(key: str, param: str, size: int, default: int = 0, of: str = "this model") -> int:
    """seed_option for a number input over 0 … size - 1 (a layer, a head, a token): the link's or the kept
    value clamped into that range (a link's, with a toast naming what sets the range: `of`)."""
    raw = from_link(key, param)
    seed_option(key, param, int, default)
    value = min(max(int(st.session_state[key]), 0), size - 1)
    if raw is not None and value != st.session_state[key]:
        tell_adjusted(param, raw, f"is outside 0 to {size - 1} for {of}; {value} is used")
    elif value != st.session_state[key]:  # the kept choice, made for another model or text
        tell_clamped(param, st.session_state[key], f"is outside 0 to {size - 1} for {of}; {value} is used")
    _adjust(key, value)
    return value


def seed_model_index(key: str, param: str, size: int, default: int) -> int:
    """seed_index for an index whose range (and default: the last layer) depends on the model: a value never
    chosen follows the new model's default, since one model's default is not a choice to clamp, with a toast, for
    another (as thought_beacon.seed_tau does for tau). A choice is what the user or a link set on one model, kept as
    chosen across switches: a layer picked on a deep model that equals a shallower model's default is still a
    choice when the deep model comes back, and one a shallower model clamps (8 shown as 5) comes back as chosen (8).
    A model is told from the last by its range and default: only a change of range clamps a choice."""
    shown_default, seen_key, chosen_key = f"{key}__default", f"{key}__seen", f"{key}__chosen"
    previous = st.session_state.get(shown_default)
    same_model = previous is None or previous == (default, size)  # a head's default is 0 on every model
    linked = from_link(key, param) is not None  # the link seeds it this run (a first visit, Back, a page switch)
    held = has_value(key)
    chosen = st.session_state.get(chosen_key)
    if held and not same_model and not linked:
        st.session_state[key] = default if chosen is None else chosen
    seeded = seed_index(key, param, size, default)
    if linked or (same_model and seeded != st.session_state.get(seen_key)):  # set on this model: a choice
        st.session_state[chosen_key] = None if seeded == default else seeded
    st.session_state[shown_default], st.session_state[seen_key] = (default, size), seeded
    return seeded


def seed_layer_head(prefix: str, layers: int, heads: int, default_layer: int = 0) -> None:
    """The layer and head inputs `{prefix}_layer` and `{prefix}_head` from the link's layer= and head=, clamped
    to this model's sizes; a layer left at its default follows the model's (seed_model_index: the Overview's
    default is the last layer), and a head or layer a smaller model clamped comes back as chosen on a larger one
    (layer 5, head 11 stayed 3 and 3 after a visit to a 4 x 4 model)."""
    seed_model_index(f"{prefix}_layer", "layer", layers, default_layer)
    seed_model_index(f"{prefix}_head", "head", heads, 0)


def seed_indices(key: str, param: str, size: int, emptied: str = "") -> list[int]:
    """seed_option for a multiselect over 0 … size - 1 (e.g. "0,2"): values outside that range are dropped.
    `emptied`: what the toast adds when every chosen value was dropped (the caller undoes what none would mean)."""
    raw = from_link(key, param)
    seed_option(key, param, parse_ints, [])
    inside = [v for v in st.session_state[key] if 0 <= v < size]
    kept = list(dict.fromkeys(inside))  # "0,0,1" is two choices: the multiselect showed layer 0 twice
    then = f"; {emptied}" if emptied and st.session_state[key] and not kept else ""
    if raw is not None and len(inside) != len(st.session_state[key]):
        tell_adjusted(param, raw, f"names values outside 0 to {size - 1}; they are left out{then}")
    elif len(inside) != len(st.session_state[key]):  # the kept choice, made for another model
        dropped = joined(v for v in st.session_state[key] if not 0 <= v < size)
        tell_clamped(param, dropped, f"is outside 0 to {size - 1} here; left out{then}")
    _adjust(key, kept)
    return kept


def seed_names(key: str, param: str, allowed: Sequence[str]) -> list[str]:
    """seed_option for a multiselect of names (labels, tags): only those in `allowed` (this data set's) are kept."""
    raw = from_link(key, param)
    seed_option(key, param, lambda raw: parse_names(raw, allowed), [])
    chosen = list(st.session_state[key])
    _adjust(key, [name for name in chosen if name in allowed])
    if raw is not None and (unmatched := unmatched_names(raw, allowed)):
        tell_adjusted(param, raw, f"names values this data set does not have ({offered_list(unmatched)}); they are "
                      "left out")
    elif raw is None and len(st.session_state[key]) < len(chosen):  # the session's own, chosen on another data set
        gone = [name for name in chosen if name not in allowed]
        tell_clamped(param, ",".join(gone), "names values this data set does not have; they are left out")
    return st.session_state[key]


def seed_range(key: str, param: str, low: int, high: int, high_key: str) -> tuple[int, int]:
    """seed_option for a range slider over [low, high] (the link's "3-20"), clamped to it (a link's, with a toast).
    A range open at the top (it reached the previous `high`, kept under `high_key`) stays open when `high` grows,
    e.g. on a data set with longer texts."""
    raw = from_link(key, param)
    seed_option(key, param, lambda raw: parse_range(raw, low, high), (low, high))
    first, last = st.session_state[key]
    if raw is not None and _parses_as_range(raw):
        asked = tuple(int(part) for part in raw.split("-", 1))
        if (first, last) != tuple(sorted(asked)):
            tell_adjusted(param, raw, f"is outside {low} to {high} here; {first}-{last} is used")
        elif (first, last) != asked:
            tell_adjusted(param, raw, f"runs from high to low; {first}-{last} is used")
    # (the range shown, the range the user chose (its top None: open), the top shown): a range clamped for a data
    # set of shorter texts is the user's again on a longer one, not one open at the top (3-46 became 3-20 on a
    # short file, and then 3-52, the whole range, on the next)
    held = st.session_state.get(high_key)
    held = held if isinstance(held, tuple) and len(held) == 3 else None
    if raw is not None or held is None:  # from the link (a first visit, Back, a switch) or the default: as it is
        top = None if last >= high else last  # at the top of the slider: open
    else:  # each end the user left where it was shown keeps the choice it was fitted from (a review: moving the
        (shown_first, shown_last), (wanted_first, wanted_top), shown_high = held  # low end only made the top open)
        first = wanted_first if first == shown_first else first
        top = wanted_top if last == shown_last else (None if last >= shown_high else last)
    value = parse_range(f"{first}-{high if top is None else top}", low, high)
    _adjust(key, value)
    st.session_state[high_key] = (value, (first, top), high)
    return st.session_state[key]


def _parses_as_range(raw: str) -> bool:  # "3-20", whatever its bounds
    try:
        parse_range(raw, 0, 0)
    except ValueError:
        return False
    return True


def publish_options(options: Mapping[str, Any]) -> None:
    """Put the page's options into the link, beside model and text. An empty value takes its option out of the
    link (opening the link then gives that option its default, which every page makes the empty choice). Within
    app.py's run they are sent at its end, all at once; a page run on its own (tests) sends them now."""
    options = {key: str(value) for key, value in options.items()}
    pending = st.session_state.get(PENDING_KEY)
    if pending is not None:
        pending.update(options)
    else:
        _apply(options, always=True)


@dataclass(frozen=True)
class LiveView:
    """What a live page showed, so that a report made from it draws the same: the page's own section besides the
    defaults, the overview's head, the attribution's method and baseline, the beacons' tau (None: the model's)."""

    pages: tuple[str, ...] = DEFAULT_PAGES
    layer: int | None = None  # None: the last layer
    head: int = 0
    method: str = DEFAULT_METHOD
    baseline: str = "pad"
    target: str | None = None  # the attributed label's name (None: the predicted label)
    statistic: str = "entropy"  # the Attention page's head statistic map
    beacon_threshold: float | None = None
    path_token: int | None = None  # the markers' reasoning path of one token (None: all tokens)
    left_out: tuple[str, ...] = ()  # what the page showed that the report does not draw (forcing, pinning)

    def for_model(self, markers: bool, beacons: bool) -> LiveView:
        """This view without the notes of a data-set view the model has none of (a model without thought markers
        has no marker dictionary to leave out: its report's markers section says it has no markers)."""
        gone = {NOT_IN_REPORT["markers"], *self._intervened("markers")} if not markers else set()
        gone |= {NOT_IN_REPORT["beacons"], *self._intervened("beacons")} if not beacons else set()
        # a link's tau= or path= the model cannot take: build_report refused it, and the file blamed an empty text
        return replace(self, left_out=tuple(note for note in self.left_out if note not in gone),
                       beacon_threshold=self.beacon_threshold if beacons else None,
                       path_token=self.path_token if markers else None)

    def _intervened(self, page: str) -> list[str]:
        return [note for note in self.left_out if note.startswith(INTERVENTIONS[page].said)]

    @property
    def intervention(self) -> str:
        """What the page ran that the report does not draw ("the marker forced on the page"), "" for none: its
        link opens the page with it (report.linking.made_on_note says so)."""
        return next((kind.said for page, kind in INTERVENTIONS.items() if self._intervened(page)), "")

    def report_options(self, label_names: Sequence[str]) -> dict[str, Any]:
        """build_report's keyword arguments for this view: every field, by the same name (a test checks that
        build_report takes them all), with a target the model does not have left to the predicted label."""
        options = asdict(self)
        if self.target not in label_names:
            options["target"] = None
        return options


# Pages whose own view the report has no section for: the file says what it leaves out.
NOT_IN_REPORT = {
    "compare": "the comparison with model B (the report shows the sidebar's model only)",
    "whatif": "the What-if page's edits (the report shows the sidebar's text)",
    "causal": "the Causal page's ablation and patching",
    "errors": "the Errors page's data-set results",
    "map": "the data-set map",
    # no "(the report shows this text's routing)": a model without markers or beacons has none, and its section
    # says so (the file contradicted itself)
    "markers": "the marker dictionary of a data set",
    "beacons": "the τ sweep over a data set",
}


@dataclass(frozen=True)
class Intervention:
    """What a page's link may carry that changes the model's run, which the report does not draw (it shows the model
    as it is): said among what the file leaves out, and beside its link, which opens the page with it."""

    param: str  # the link option that carries it
    said: str  # what it is, as the file says it
    instead: str  # what the report shows in its place


INTERVENTIONS = {
    "beacons": Intervention("pin_layers", "the gates pinned on the page", "the report shows the model's own gates"),
    "markers": Intervention("force_layers", "the marker forced on the page",
                            "the report shows the model's own routing"),
}


def live_view(page: str, params: Mapping[str, str]) -> LiveView:
    """The LiveView of app page `page` (its URL path: "" for the Overview, "attention", "beacons", ...) opened
    with link `params` (with the sidebar's `text`: What-if's copy left as it was is no edit), read as the pages
    read them. Values a hand-edited link garbles keep their defaults.
    report/linking.live_link writes the command line's report options under the same names (a test reads them back
    with this)."""

    def number(name: str, parse, default):
        try:
            return parse(params[name]) if name in params else default
        except ValueError:
            return default

    view = LiveView(pages=DEFAULT_PAGES + ((page,) if page in PAGES and page not in DEFAULT_PAGES else ()))
    if page in ("", "overview", "attention"):
        view = replace(view, layer=number("layer", int, None), head=number("head", int, 0))
    if page in ("attention", "causal") and params.get("stat") in FIELDS:  # Causal's right map: the same statistic
        view = replace(view, statistic=params["stat"])
    if page in ("attribution", "whatif"):  # What-if attributes its original as Attribution does, with pad, predicted
        view = replace(view, method=params.get("method", "") if params.get("method") in METHODS else DEFAULT_METHOD)
    if page == "attribution":
        view = replace(view, baseline=params.get("baseline", "") if params.get("baseline") in BASELINES else "pad",
                       target=params.get("target") or None)  # a name the model lacks: the caller's predicted
    if page == "beacons":
        view = replace(view, beacon_threshold=number("tau", parse_fraction, None))
    if page == "markers":
        token = number("path", int, None)
        view = replace(view, path_token=token if token is not None and token >= 0 else None)
    if (kind := INTERVENTIONS.get(page)) and params.get(kind.param):
        view = replace(view, left_out=(f"{kind.said} ({kind.instead})",))
    unedited = page == "whatif" and params.get("edited", "") in ("", params.get("text"))  # nothing left out
    if page in NOT_IN_REPORT and not unedited:
        view = replace(view, left_out=(*view.left_out, NOT_IN_REPORT[page]))
    return view
