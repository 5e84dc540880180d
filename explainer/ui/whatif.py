"""Streamlit glue of the What-if page and the Errors page's "Find the smallest flip": the cached search with a
progress bar, the head-change map of two cached Traces, and the hand-over from Errors to What-if."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import streamlit as st

from explainer.capture.encoding import InputError
from explainer.counterfactual.registry import METHODS
from explainer.counterfactual.result import CounterfactualSearch
from explainer.counterfactual.scoring import MAX_BATCH
from explainer.families import family_of, single_readout_note
from explainer.progress import Progress
from explainer.ui import caches, demo, links, progressive, session, target_label
from explainer.ui.text_box import limited_text_input
from explainer.views import whatif as whatif_figures
from explainer.views.text import MISSING, markdown_literal, markdown_strong

PAGE = "app_pages/whatif.py"
ALL = "all"
CF_METHODS = (ALL, *METHODS)  # the page's generator choice; "all" runs every generator


SURE = 0.9  # a prediction this probable may well resist 3 word edits
FEWER_MAY_EXIST = (" Each generator scores its most promising edits, not every one: a flip with fewer edits may "
                   "exist (edit the copy above to try one).")  # said when the fewest edits found are 2 or more


def no_flip_advice(choice: str, confidence: float | None = None) -> str:
    """What to try when a search found no flip: another generator, unless every one already ran. `confidence`,
    the original prediction's probability, says whether "the model may be sure of this text" is true."""
    if choice == ALL:
        sure = " (the model may be sure of this text)" if confidence is not None and confidence >= SURE else ""
        return ("No generator found a flip within 3 word edits (each scores its most promising edits, not every "
                f"one): edit the copy above by hand, or give your own swaps{sure}.")
    return ("This generator found no flip within 3 word edits (it scores its most promising edits, not every one): "
            "try another generator, or all of them.")


ASKED = "_whatif_asked"  # (model, text, method, swaps, target) whose flips the user asked for (progressive.asked)
FLIP_REQUEST = "_whatif_flip_request"  # (text, true label) the Errors page asked to flip, acted on next run
FLIP_TO_KEY = "whatif_flip_to"  # the label a flip must reach (a model of more than two labels), or ANY_LABEL
ANY_LABEL = "any other label"
FLIP_TARGETS_KEY = "_whatif_flip_targets"  # {mistake text: its true label} of the Errors page's flip pickers
ASKED_BEFORE = "_whatif_asked_before"  # the searches asked for in this session, newest last (KEPT_SEARCHES at most)
EDITED_KEY = "whatif_edited"
COPY_OF_KEY = "_whatif_copy_of"  # (the edited copy, the sidebar text it was written for): copy_written_for
METHOD_KEY = "whatif_cf_method"
SWAPS_LONGEST = 2000  # characters of swaps
SWAPS_KEY = "whatif_swaps"  # the user's lexicon swaps, "good->bad, not->", tried before the shipped list
FLIP_TEXTS_KEY = "_whatif_flip_texts"  # the listed flips' texts, by table row
FLIPS_VERSION_KEY = "_whatif_flips_version"  # part of the table's key: a new number draws the table unselected
RETURN_KEY = "_whatif_return"  # (model, original, edited) of the comparison a click on a head left: back_button
GOING_BACK_KEY = "_whatif_going_back"  # the same, set by the way back's click for its run to switch pages


def methods_of(choice: str) -> tuple[str, ...]:
    return METHODS if choice == ALL else (choice,)


# Searches kept per process, newest last. Not st.cache_data: its progress bar is drawn while the search runs,
# and cache_data cannot replay an element drawn into a block made outside the cached function.
_searches: OrderedDict[tuple, CounterfactualSearch] = OrderedDict()
_searches_lock = threading.Lock()
KEPT_SEARCHES = 32


def get_counterfactuals(
    model_name: str, text: str, choice: str, progress: Progress | None = None, swaps: str = "",
    target: str | None = None,
):
    """find_counterfactuals with every generator of `choice` (and the lexicon given the user's `swaps`, as
    "good->bad, not->": InputError when they do not parse), to `target` (a label name; None: any other label),
    kept for the same model, text, choice, swaps and target."""
    from explainer.counterfactual import find_counterfactuals
    from explainer.counterfactual.lexicon import parse_swaps

    parsed = parse_swaps(swaps) if swaps.strip() and "lexicon" in methods_of(choice) else ()
    bundle = caches.get_bundle(model_name)
    key = (model_name, caches.weights_version(bundle), text, choice, parsed, target)  # the weights it runs on
    with _searches_lock:
        if key in _searches:
            _searches.move_to_end(key)
            return _searches[key]
    search = find_counterfactuals(bundle, text, target=target, methods=methods_of(choice), swaps=parsed,
                                  progress=progress)
    with _searches_lock:
        _searches[key] = search
        while len(_searches) > KEPT_SEARCHES:
            _searches.popitem(last=False)
    return search


def search_with_progress(
    model_name: str, text: str, choice: str, swaps: str = "", target: str | None = None
) -> CounterfactualSearch:
    """The kept search, or a new one with a progress bar (one step per generator), gone after."""
    bar = st.progress(0.0, text="Searching for counterfactuals…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Searched with {done} of {total} generators")

    try:
        return get_counterfactuals(model_name, text, choice, progress=progress, swaps=swaps, target=target)
    finally:
        bar.empty()


SEARCHES = "counterfactual searches"


def within_search_limit(
    model_name: str, text: str, limit_names: Sequence[str] = ("attribution_tokens",), subject: str = "this one"
) -> bool:
    """In demo mode, False (said on the page) when `text` has more tokens than the smallest of the demo's
    `limit_names` (fields of serving.demo.Limits): a search runs tens of batched passes (17 s of both cores on a
    383-token text), and no demo limit held it. Attribution's limit by default (HotFlip is a gradient method), also
    patching's where the flip is for patching. True in local mode, and for a text the model cannot read (the
    search says why). `subject`: which text it is, where the page has two ("the clean text")."""
    config = demo.config()
    if config is None:
        return True
    try:
        trace = caches.get_trace(model_name, text)
    except InputError:
        return True
    smallest = min(limit_names, key=lambda name: int(getattr(config.limits, name)))
    return demo.within_trace_limit(SEARCHES, trace, smallest, subject)


def targets_offered(label_names: tuple[str, ...]) -> bool:
    """Whether a flip is given a label to reach: with two labels, any flip reaches the other one."""
    return len(label_names) > 2


def flip_choices(model_name: str, text: str) -> list[str]:
    """"Flip to"'s entries: any other label, then every label but the one the model predicts for `text` (offered,
    it was refused only once the search was asked for)."""
    labels = caches.get_bundle(model_name).label_names
    try:
        predicted = caches.get_trace(model_name, text).predicted_label
    except InputError:  # an empty or unreadable text: the page says why; nothing is searched
        predicted = None
    return [ANY_LABEL, *(label for label in labels if label != predicted)]


def seed_flip_to(model_name: str, text: str) -> None:
    """Seed the "Flip to" choice from the link (`flip_to=`), where targets_offered: a label's name, or its index
    as the command line's --target takes it ("2"; a label named "2" is that label)."""
    labels = caches.get_bundle(model_name).label_names
    if targets_offered(labels):
        # a name first, case and spaces aside (" 2" is the label named "2"), as target= reads it
        links.seed_choice(FLIP_TO_KEY, "flip_to", flip_choices(model_name, text), tell=True,
                          parse=target_label.parse_label(labels))
    else:  # no "Flip to" to seed: a link's flip_to= was dropped without a word
        def not_here(raw: str) -> str:
            if raw.strip():
                raise links.NotOffered("does not apply to a model of two labels (a flip reaches the other)")
            return ANY_LABEL

        links.seed_option(FLIP_TO_KEY, "flip_to", not_here, ANY_LABEL)


def flip_target(label_names: tuple[str, ...]) -> str | None:
    """The label the flips must reach (None: any other label)."""
    chosen = st.session_state.get(FLIP_TO_KEY, ANY_LABEL) if targets_offered(label_names) else ANY_LABEL
    return None if chosen == ANY_LABEL or chosen not in label_names else chosen


def generator_widgets(model_name: str, text: str) -> tuple[str, str, str | None, bool]:
    """The generator choice, the user's swaps (when the lexicon runs), the label to flip to (a model of more than
    two labels) and the "Find counterfactuals" button. Returns (choice, swaps, target, whether the user asked for
    this search)."""
    from explainer.counterfactual.registry import title

    labels = caches.get_bundle(model_name).label_names
    widths = [2, 2, 2, 1.6] if targets_offered(labels) else [2, 2, 1]  # the button's label whole (not "Find counterf…")
    left, middle, *target_column, right = st.columns(widths, vertical_alignment="bottom")
    choice = left.selectbox("Generator", CF_METHODS, key=METHOD_KEY,
                            format_func=lambda m: "All generators" if m == ALL else title(m))
    if targets_offered(labels):
        target_column[0].selectbox("Flip to", flip_choices(model_name, text), key=FLIP_TO_KEY,
                                help="A label the flip must reach; the Errors page asks for a mistake's true label")
    target = flip_target(labels)
    swaps = ""
    if "lexicon" in methods_of(choice):
        swaps = limited_text_input("Your swaps (tried before the shipped word list)", SWAPS_KEY, SWAPS_LONGEST,
                                   middle, placeholder="good->bad, not->",
                                   help="old->new pairs separated by commas; old-> removes the word")
    right.button("Find counterfactuals", key="whatif_find", type="primary", on_click=progressive.click, args=(ASKED,))
    request = (model_name, text, choice, swaps, target)  # the text shown now
    before = st.session_state.setdefault(ASKED_BEFORE, [])
    if progressive.asked(ASKED, request) and request not in before:
        before.append(request)
        del before[:-KEPT_SEARCHES]
    # A search asked before shows again when its options come back (Back, a link, the choice made again): the
    # list was gone after Back until "Find counterfactuals" was clicked again.
    return choice, swaps, target, request in before


@st.cache_data(show_spinner=False, max_entries=16, ttl=3600)
def get_head_change(
    model_name: str, original: str, edited: str, version: str | None
) -> np.ndarray | None:  # [layers, heads]
    """None when no single position carries the prediction (the trace's readout_note says why). `version`: the
    model's caches.model_version, so that new weights under its name are not answered from the old ones."""
    family = family_of(caches.get_bundle(model_name).model)
    a, b = caches.get_trace(model_name, original), caches.get_trace(model_name, edited)
    if a.readout_note is not None:
        return None
    return whatif_figures.head_change(
        a, b, family.readout_position(len(a.tokens)), family.readout_position(len(b.tokens))
    )


def head_change_note(model_name: str) -> str:
    """Why the per-head attention change is not drawn (get_head_change gave None): the readout's note without the
    attribution methods it advises, which this section has no switch for."""
    note = single_readout_note(caches.get_bundle(model_name).model, advice=False) or ""
    return f"The change per head follows the attention from the position the classifier reads. {note}"


def follow_sidebar(original: str) -> None:
    """A copy never edited (still the sidebar text it was made from) follows a new sidebar text; kept, the page
    compared two unrelated texts and reported a flip no one had made. An edited copy stays (copy_written_for)."""
    held = st.session_state.get(COPY_OF_KEY)
    # Called before the copy is seeded: a copy Back or Forward re-seeds from the address is absent here (dropped by
    # links.begin_run), so the address's copy is never replaced; one kept while another page was shown is present.
    copy = st.session_state.get(EDITED_KEY, st.session_state.get(links.KEPT_KEY, {}).get(EDITED_KEY))
    if held is not None and held[0] == held[1] != original and copy == held[0]:
        links.set_kept(EDITED_KEY, original)


def seed_copy(original: str) -> None:
    """Seed the edited copy from the link, and what it was written for: an earlier sidebar text when the link's
    `edited_for` is the digest of another text than `original` (published while the page says the copy is from an
    earlier text), else `original`. Back and Forward re-seed both, so the notice follows the step shown, not the
    session's last run (Back to the first step showed it, the step where the text had changed did not)."""
    digest = links.from_link(EDITED_KEY, "edited_for")  # None unless the copy is about to be seeded
    seeding = not links.has_value(EDITED_KEY)
    links.seed_option(EDITED_KEY, "edited", str, original)
    if seeding:
        edited = st.session_state[EDITED_KEY]
        earlier = bool(digest) and edited != original and digest != text_digest(original)
        st.session_state[COPY_OF_KEY] = (edited, EARLIER_TEXT + digest if earlier else original)


# What a copy seeded from a link was written for: an earlier text known only by its digest (never a sidebar text:
# a text holds no NUL), so a link carries 12 characters for it, not a second copy of a long text.
EARLIER_TEXT = "\0earlier text "


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def written_for_link(written_for: str) -> str:
    """The link's `edited_for` for the text a copy was written for (copy_written_for)."""
    return written_for.removeprefix(EARLIER_TEXT) if written_for.startswith(EARLIER_TEXT) else text_digest(written_for)


def copy_written_for(original: str, edited: str) -> str:
    """The sidebar text the edited copy was last written or loaded against: `original` whenever the copy changed
    since the page's last run (typed, reset, a flip loaded, a link), else the one it was written for before."""
    held = st.session_state.get(COPY_OF_KEY)
    if held is None or held[0] != edited:
        held = (edited, original)
        st.session_state[COPY_OF_KEY] = held
    return held[1]


def open_head(name: str, original: str, edited: str, layer: int, head: int) -> None:
    """A click on the head-change map: the head on the Attention page for the edited copy, which becomes the sidebar
    text there; the comparison is remembered, so that page and this one offer the way back to it."""
    st.session_state[RETURN_KEY] = (name, original, edited)
    links.switch_page("app_pages/attention.py", {"model": name, "text": edited, "layer": layer, "head": head})


def back_button(name: str, text: str) -> None:
    """While the sidebar still holds the edited copy a head was opened for: a button back to the comparison, the
    original the sidebar text again (the sidebar's What-if had compared the copy with itself)."""
    going = st.session_state.pop(GOING_BACK_KEY, None)
    if going is not None:  # the click's run: its callback has set the texts; the address and page follow
        links.switch_page(PAGE, {"model": going[0], "text": going[1], "edited": going[2]})
    held = st.session_state.get(RETURN_KEY)
    if held is None:
        return
    model, original, edited = held
    if (model, edited) != (name, text):  # the text or model moved on: nothing to go back to
        del st.session_state[RETURN_KEY]
        return
    shown = original if len(original) <= 60 else original[:57] + "..."
    st.button(f"Back to What-if: the original, {markdown_literal(repr(shown))}, against this copy",
              key="whatif_back", icon=":material/arrow_back:", type="tertiary", on_click=_go_back)


def _go_back() -> None:
    """The way back's callback: callbacks run before the sidebar is drawn, so its text can still be set here (a
    switch to the page already shown keeps the sidebar's text over the address's)."""
    held = st.session_state.pop(RETURN_KEY, None)
    if held is None:  # a click on a button a rerun has just dropped
        return
    model, original, edited = held
    st.session_state["text"] = original
    st.session_state[EDITED_KEY] = edited
    st.session_state[GOING_BACK_KEY] = (model, original, edited)


def load_edited(text: str) -> None:
    """A callback: put `text` into the edited copy."""
    st.session_state[EDITED_KEY] = text


def reset_copy() -> None:
    """The "Reset to the original" callback: the copy is the sidebar text again (as it is now: one typed and not
    yet sent comes with the click), and the list of flips is drawn anew, with no row selected, so that a click on
    the flip loaded before loads it again (on the old table it only cleared the selection, and nothing loaded)."""
    load_edited(session.sidebar_text())
    _redraw_flips()


def _redraw_flips() -> str:
    """A new key for the flips table, so the browser draws it with no row selected; returns that key."""
    st.session_state[FLIPS_VERSION_KEY] = st.session_state.get(FLIPS_VERSION_KEY, 0) + 1
    return _flips_key()


def _flips_key() -> str:
    return f"whatif_flips_{st.session_state.get(FLIPS_VERSION_KEY, 0)}"


def on_flip_selected(table_key: str, texts_key: str) -> None:
    """The counterfactual table's on_select: load the selected flip as the edited text."""
    rows = st.session_state[table_key].selection.get("rows", [])
    if rows:
        load_edited(st.session_state[texts_key][rows[0]])


def counterfactual_section(model_name: str, original: str) -> None:
    """The generator widgets and, once asked, the flips of `original`: a table whose row click loads the flip
    as the edited copy."""
    from explainer.ui.problems import show_problem
    from explainer.views.text import markdown_literal

    st.subheader("Counterfactuals")
    st.caption("Edits of the original that flip its prediction, fewest edited words first (none listed holds "
               "another); every one re-run through the model.")
    if not within_search_limit(model_name, original):
        return
    choice, swaps, target, asked = generator_widgets(model_name, original)
    if not asked:
        return
    try:
        search = search_with_progress(model_name, original, choice, swaps, target)
    except InputError as error:
        show_problem(error, "info")
        return
    for note in search.notes:
        st.caption(markdown_literal(note))
    found, passes = len(search.counterfactuals), search.forward_passes
    st.caption(
        f"{found} flip{'s' if found != 1 else ''} from {markdown_strong(search.original.label)}"
        + (f" to {markdown_strong(target)}" if target else "") + f" found in {passes} "
        f"batched forward pass{'es' if passes != 1 else ''} (up to {MAX_BATCH} candidate texts each)."
        + (" Select one to load it as the edited text." if found else "")
        + (FEWER_MAY_EXIST if found and search.counterfactuals[0].edit_count > 1 else "")
    )
    if swaps.strip() and "lexicon" in methods_of(choice):  # parsed when the search ran: they parse
        from explainer.counterfactual.lexicon import parse_swaps, unreadable_swaps

        user_swaps = parse_swaps(swaps)
        unread = unreadable_swaps(caches.get_bundle(model_name), original, user_swaps)
        st.caption(markdown_literal(whatif_figures.swap_outcomes(original, user_swaps, search, unread)))
    if not search.counterfactuals:
        st.info(no_flip_advice(choice, search.original.probabilities.get(search.original.label)))
        return
    table_key = _flips_key()
    shown = st.session_state.get(table_key)
    rows = shown.selection.get("rows", []) if shown is not None else []
    listed = st.session_state.get(FLIP_TEXTS_KEY, [])
    if rows and rows[0] < len(listed) and listed[rows[0]] != st.session_state.get(EDITED_KEY):
        # the copy changed since that flip was loaded (typed, reset, a link): a table still showing the row selected
        # would take a click on it as "unselect", and nothing would load; drawn anew, none is selected
        table_key = _redraw_flips()
    st.session_state[FLIP_TEXTS_KEY] = [c.text for c in search.counterfactuals]
    st.dataframe(
        whatif_figures.counterfactual_table(search),
        hide_index=True, placeholder=MISSING,
        width="stretch",
        key=table_key,
        selection_mode="single-row",
        on_select=lambda: on_flip_selected(table_key, FLIP_TEXTS_KEY),
    )


# ---- Errors page: "Find the smallest flip" ----


def flip_picker(texts: list[str], truths: list[str], key: str = "errors_flip") -> None:
    """A mistake to pick and the button that finds its smallest flip and opens What-if with it. `truths`: each
    mistake's true label, the label its flip must reach when the model has more than two (with two, any flip
    does; with more, "any other label" mostly led to a third label, further from the truth)."""
    if not texts:
        return
    st.session_state[FLIP_TARGETS_KEY] = dict(zip(reversed(texts), reversed(truths)))  # a repeated text: its first
    text_key = f"{key}_text"
    links.keep_choice(text_key)  # Back from What-if or Causal: the mistake picked, not the first one
    if text_key in st.session_state and st.session_state[text_key] not in texts:  # filtered out since: the first,
        st.session_state[text_key] = texts[0]  # assigned, so the browser draws it too (a pop left the old one shown)
    left, right = st.columns([3, 1], vertical_alignment="bottom")  # wide enough for the whole label
    left.selectbox("Mistake to flip", texts, key=text_key)
    right.button(
        "Find the smallest flip",
        key=f"{key}_button",
        on_click=_request_flip,
        args=(f"{key}_text",),
        icon=":material/swap_horiz:",
    )


def _request_flip(text_key: str) -> None:
    st.session_state[FLIP_REQUEST] = mistake_request(text_key)


def mistake_request(text_key: str) -> tuple[str, str | None]:
    """From a flip button's callback ("Find the smallest flip", "Patch the flip in Causal"): the mistake picked
    under `text_key`, which becomes the sidebar's text, and its true label (flip_picker keeps them)."""
    text = st.session_state[text_key]
    st.session_state["text"] = text
    return text, st.session_state.get(FLIP_TARGETS_KEY, {}).get(text)


def search_mistake(
    model_name: str, request: tuple[str, str | None], limit_names: Sequence[str] = ("attribution_tokens",)
) -> tuple[str, str | None, CounterfactualSearch] | None:
    """(text, target, search): the smallest flips of a mistake_request, to its true label on a model of more than
    two labels (target None: any other label). None, said in a message, when the text cannot be searched (the
    model cannot read it) or the model run on it alone predicts its true label: the table's prediction came from
    another run (a results folder, a batch), and a flip would lead away from the truth."""
    from explainer.ui.problems import show_problem
    from explainer.views.text import markdown_literal

    text, truth = request
    labels = caches.get_bundle(model_name).label_names
    target = truth if targets_offered(labels) and truth in labels else None
    try:
        alone = caches.get_trace(model_name, text).predicted_label
    except InputError as error:  # a row the model cannot read: the Errors table lists what the file holds
        show_problem(error)
        return None
    if truth is not None and alone == truth:
        message = (f"Run on this text alone, the model predicts its true label, {markdown_literal(truth)}, "
                   "already (the table's prediction came from another run): there is no mistake to flip.")
        st.info(message)
        st.toast(message, icon=":material/info:")  # the button is far down the page; the toast shows where it is
        return None
    if not within_search_limit(model_name, text, limit_names):  # said at the top of the page (in demo mode)
        st.toast(f"This demo does not run {SEARCHES} on a text this long: see the top of the page.",
                 icon=":material/info:")
        return None
    return text, target, search_with_progress(model_name, text, ALL, target=target)


def follow_flip_request(model_name: str) -> None:
    """Call on the Errors page once its model is known: run the search asked for and open What-if with the best
    flip as the edited text (the original when none was found), its list shown."""
    request = st.session_state.pop(FLIP_REQUEST, None)
    if request is None:
        return
    found = search_mistake(model_name, request)
    if found is None:
        return
    text, target, search = found
    edited = search.best.text if search.best is not None else text
    st.session_state[EDITED_KEY] = edited
    st.session_state[METHOD_KEY] = ALL
    st.session_state[SWAPS_KEY] = ""  # the search ran with the shipped word list only
    st.session_state[FLIP_TO_KEY] = target or ANY_LABEL
    st.session_state[ASKED] = (model_name, text, ALL, "", target)
    links.switch_page(PAGE, {"model": model_name, "text": text, "edited": edited, "cf_method": ALL,
                             "flip_to": target or ""})
