"""Streamlit glue of the Causal page: cached ablation and patching (keyed by model, texts and options), where the
clean and corrupted texts come from (the sidebar text and a corrupted text, by default the What-if page's edited
text; or two texts: an Errors-page pair or typed), the counterfactual finder, "open in Attention", and the Errors
page's hand-over of a mistake and its smallest flip."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import streamlit as st

from explainer.capture.encoding import InputError, encode
from explainer.causal import Ablation, Patching, ablate_heads, patch
from explainer.ui import demo, links, session, text_box
from explainer.ui import whatif as whatif_ui
from explainer.ui.caches import get_bundle, weights_version
from explainer.ui.problems import show_problem
from explainer.views import causal as views
from explainer.views.text import MISSING, markdown_literal

PAGE = "app_pages/causal.py"
CORRUPTED_KEY = "causal_corrupted"
CLEAN_KEY = "causal_clean"
SOURCE_KEY = "causal_source"
# Where the clean and corrupted texts come from (the link's source=): the sidebar text is the clean one, or both
# are in text boxes (the Errors page's "Patch in Causal" fills them: its flip clean, the mistake corrupted).
# (Labels that name neither "clean text" nor "corrupted text": the text boxes' labels stay unique on the page.)
SOURCES = {"sidebar": "The sidebar text as the clean one", "pair": "Two texts: an Errors-page pair, or typed"}
OPEN_HEAD_KEY = "_causal_open_head"  # (layer, head) a button asked the Attention page to open
FOUND_KEY = "_causal_found"  # a counterfactual found on the last run, for the text box before it is drawn
FIND_KEY = "_causal_find"  # the clean text the finder button asked a counterfactual of, searched in the run it starts
PAIR_REQUEST = "_causal_pair_request"  # the mistake the Errors page asked to open with its flip, acted on next run
EDITED_KEYS = ("edited", "whatif_edited", "whatif_text")  # where the What-if page may keep its edited text
WRITTEN_FOR_KEY = "_causal_corrupted_for"  # {corrupted text: the clean texts it was written for}: written_for_another
KEPT_PAIRINGS = 64
PATCHING_LIMITS = ("patching_tokens", "attribution_tokens")  # a search for patching: held to the smaller


# Results by (kind, model, texts, options), newest last. Not st.cache_data: its replay forbids updating a progress
# bar made outside the cached function, and patching a long text runs for a while.
_RESULTS: OrderedDict[tuple, Ablation | Patching] = OrderedDict()
_RESULTS_LOCK = threading.Lock()
MAX_RESULTS = 16


def _cached(key: tuple, label: str, compute: Callable[[Callable[[int, int], None]], Ablation | Patching]):
    """The kept result of `key`, or `compute(progress)` under a progress bar (gone once it returns)."""
    with _RESULTS_LOCK:
        if key in _RESULTS:
            _RESULTS.move_to_end(key)
            return _RESULTS[key]
    bar = st.progress(0.0, text=label)
    try:
        result = compute(lambda done, total: bar.progress(done / max(total, 1), text=f"{label} ({done}/{total} runs)"))
    finally:
        bar.empty()
    with _RESULTS_LOCK:
        _RESULTS[key] = result
        while len(_RESULTS) > MAX_RESULTS:
            _RESULTS.popitem(last=False)
    return result


def get_ablation(model_name: str, text: str, target: str | None, mode: str) -> Ablation:
    """Every head ablated on `text` (kept by model and its weights, text, target and mode), with a progress bar."""
    bundle = get_bundle(model_name)  # kept by the weights it runs on
    return _cached(
        ("ablation", model_name, weights_version(bundle), text, target, mode),
        "Ablating heads",
        lambda report: ablate_heads(bundle, text, target=target, mode=mode, progress=report),
    )


def get_patching(model_name: str, clean: str, corrupted: str, target: str | None) -> Patching:
    """Patching from `clean` into `corrupted` (kept by model and its weights, texts and target), with a progress
    bar."""
    bundle = get_bundle(model_name)  # kept by the weights it runs on
    return _cached(
        ("patching", model_name, weights_version(bundle), clean, corrupted, target),
        "Patching",
        lambda report: patch(bundle, clean, corrupted, target=target, progress=report),
    )


def edited_text(original: str) -> str:
    """The What-if page's edited text: as the session last had it (on the What-if page or kept while it is not
    shown), else the link's `edited`; "" when there is none, or when it is still `original` (What-if starts its
    copy as the sidebar text: unedited, it would make a corrupted text the same as the clean one), or when What-if
    says it was written for another sidebar text (patching the sidebar text against an edit of an unrelated one
    measures nothing the user meant)."""
    kept = st.session_state.get(links.KEPT_KEY, {})
    held = (st.session_state.get(key, kept.get(key)) for key in EDITED_KEYS)
    edited = next((value for value in held if isinstance(value, str) and value.strip()), None)
    written = st.session_state.get(whatif_ui.COPY_OF_KEY)
    if edited is not None and written is not None and written[0] == edited and written[1] != original:
        return ""
    if edited is None:
        edited = str(st.query_params.get("edited") or st.session_state.get(links.LINK_KEY, {}).get("edited") or "")
    return edited if edited.strip() != original.strip() else ""


def find_counterfactual(model_name: str, text: str) -> str | None:
    """Fill the corrupted text with the first counterfactual of `text` (None: the search is not installed or
    found none; the reason is shown)."""
    try:
        from explainer.counterfactual import find_counterfactuals
    except ImportError:
        st.info("The counterfactual search is not available in this installation: type a corrupted text.")
        return None
    try:
        search = find_counterfactuals(get_bundle(model_name), text, max_edits=3)
    except ValueError as error:  # InputError and its kin: say why
        show_problem(error, "info")
        return None
    if not search.counterfactuals:
        st.info("The search found no edit of up to 3 words that flips this prediction (it scores the most "
                "promising edits, not every one): type a corrupted text.")
        return None
    return search.counterfactuals[0].text


def request_attention(layer: int, head: int) -> None:
    """A button's callback: open head (layer, head) on the Attention page (its widgets take the values)."""
    st.session_state["attention_layer"] = int(layer)
    st.session_state["attention_head"] = int(head)
    st.session_state[OPEN_HEAD_KEY] = (int(layer), int(head))


def follow_attention_request() -> None:
    """Call in the page's run: switch to the Attention page when a button asked, with the head in the link."""
    request = st.session_state.pop(OPEN_HEAD_KEY, None)
    if request is not None:
        params = {key: value for key, value in links.link_params().items() if key in ("model", "text")}
        links.switch_page("app_pages/attention.py", {**params, "layer": request[0], "head": request[1]})


def top_heads(rows: list[tuple[int, int, float]], column: str, prefix: str, none: str) -> None:
    """The top heads' table (`column`: what the value is) with a button per head, or the sentence `none` where no
    head qualifies (a table of heads that do the opposite read as the heads that matter)."""
    if not rows:
        st.caption(none)
        return
    st.dataframe(views.top_heads_table(rows, column), hide_index=True, placeholder=MISSING, key=f"{prefix}_table")
    for column, (layer, head, _) in zip(st.columns(len(rows)), rows):  # "open in Attention", one per head
        column.button(f"L{layer} H{head} in Attention", key=f"{prefix}_open_{layer}_{head}",
                      on_click=request_attention, args=(layer, head))


# ---- the clean and corrupted texts ----


def _find(clean_key: str | None) -> None:
    """The finder button's callback: asks for a counterfactual of the clean text as it is now (the sidebar's: one
    typed and not yet sent comes with the click, after the run that drew the button). The search runs in the page
    (search_requested): a message written in a callback lands above the page's title, far from the button."""
    st.session_state[FIND_KEY] = st.session_state.get(clean_key, "") if clean_key else session.sidebar_text()


def search_requested(model_name: str, current_clean: str) -> None:
    """Where the finder button asked: search, saying why below the texts when nothing is found; a counterfactual
    found becomes the corrupted text in a new run (its box is drawn already in this one). A request of another
    clean text (its run stopped before this point, and the text changed since) is dropped, not searched unasked."""
    clean = st.session_state.pop(FIND_KEY, None)
    if clean is None or clean != current_clean:
        return
    # a text the model cannot read is not searched: the page says what is wrong with it (missing_text)
    usable = clean.strip() and unreadable(model_name, clean) is None and whatif_ui.within_search_limit(
        model_name, clean, PATCHING_LIMITS, "the clean text")  # for patching
    with st.spinner("Searching for the smallest edit that flips the prediction…"):
        found = find_counterfactual(model_name, clean) if usable else None
    if found is not None:
        st.session_state[FOUND_KEY] = found
        _write_for(found, clean)  # found for this text, whichever it was found for before
        st.rerun()


def _start_pair() -> None:
    """The source radio's callback: "Two texts" chosen with an empty clean box starts it from the sidebar text as
    it is now (a box to edit, not one to fill; one typed and not yet sent comes with the choice)."""
    if st.session_state.get(SOURCE_KEY) == "pair" and not str(st.session_state.get(CLEAN_KEY, "")).strip():
        st.session_state[CLEAN_KEY] = session.sidebar_text()


def choose_texts(model_name: str, sidebar_text: str) -> tuple[str, str, dict[str, str]]:
    """The source choice and text boxes, seeded from the link once: (clean, corrupted, their link options)."""
    links.seed_choice(SOURCE_KEY, "source", list(SOURCES), tell=True)
    links.seed_option(CLEAN_KEY, "clean", str, "")
    links.seed_option(CORRUPTED_KEY, "corrupted", str, edited_text(sidebar_text))
    if FOUND_KEY in st.session_state:
        st.session_state[CORRUPTED_KEY] = st.session_state.pop(FOUND_KEY)
    source = st.radio(
        "Where the texts come from", list(SOURCES), format_func=SOURCES.get, key=SOURCE_KEY, horizontal=True,
        on_change=_start_pair,
    )
    paired = source == "pair"
    text_column, button_column = st.columns([3, 1])  # [5, 1] cut the button's label at 1400 px
    longest = demo.text_limit()  # as the sidebar's box: a demo's visitor could paste 20,000 characters here
    if paired:
        text_box.limited_text_area("Clean text", CLEAN_KEY, longest, text_column, height=80,
                                   placeholder="The text whose activations are patched in")
    text_box.limited_text_area("Corrupted text", CORRUPTED_KEY, longest, text_column, height=80,
                               placeholder="The clean text with a word or two changed", on_edit=_typed)
    button_column.button(
        "Find a counterfactual",
        key="causal_find",
        on_click=_find,
        args=(CLEAN_KEY if paired else None,),
        help="Fill the corrupted text with the smallest edit of the clean text that flips its prediction",
    )
    search_requested(model_name, st.session_state.get(CLEAN_KEY, "") if paired else sidebar_text)
    clean = st.session_state[CLEAN_KEY] if paired else sidebar_text
    corrupted = st.session_state[CORRUPTED_KEY]
    options = {"source": source if paired else "", "clean": clean if paired else "", "corrupted": corrupted}
    return clean, corrupted, options


def _write_for(corrupted: str, clean: str) -> None:
    """Note `corrupted` as written for `clean` too (Back to an earlier pairing is still one the user made)."""
    written: dict[str, tuple[str, ...]] = st.session_state.setdefault(WRITTEN_FOR_KEY, {})
    cleans = written.pop(corrupted, ())
    written[corrupted] = (*(c for c in cleans if c != clean), clean)[-KEPT_PAIRINGS:]  # newest last
    while len(written) > KEPT_PAIRINGS:
        del written[next(iter(written))]


def _typed() -> None:
    """The corrupted box's on_edit: typed now, so written for the clean text as it is now (a text typed in the
    sidebar and not yet sent comes with the edit)."""
    paired = st.session_state.get(SOURCE_KEY) == "pair"
    clean = st.session_state.get(CLEAN_KEY, "") if paired else session.sidebar_text()
    _write_for(st.session_state.get(CORRUPTED_KEY, ""), clean)


def written_for_another(clean: str, corrupted: str, paired: bool) -> bool:
    """Whether the corrupted text was written for another sidebar text than `clean`: the sidebar's text changed
    since, and patching it against an edit of an unrelated text measures nothing meant (a browser walk patched
    "Great." against a flip of a 126-token review, its maps almost empty). A corrupted text is written for a clean
    one when typed (`_typed`) or found (`_find`) beside it, or first seen with it (a link); Back, which restores an
    earlier corrupted text beside a later sidebar text, is none of these. One in two boxes (`paired`), both in
    view, is written for its clean box, whose edits are deliberate."""
    written: dict[str, tuple[str, ...]] = st.session_state.setdefault(WRITTEN_FOR_KEY, {})
    if paired or corrupted not in written:
        _write_for(corrupted, clean)
    return clean not in written[corrupted] and corrupted.strip() != clean.strip()  # the same: "nothing to patch"


def unreadable(model_name: str, text: str) -> InputError | None:
    """Why the model cannot read `text` (only invisible characters, a token it cannot embed), else None: tokenized
    only, no model run."""
    try:
        encode(get_bundle(model_name), text)
    except InputError as error:
        return error
    return None


def missing_text(model_name: str, clean: str, paired: bool) -> None:
    """Say what the patching still needs, where a text is missing: the clean text first (a clean text of only a
    zero-width space was asked for a corrupted one, and the finder it pointed to could not search it)."""
    problem = unreadable(model_name, clean) if clean.strip() else None
    if not clean.strip():
        st.info("Type a clean text.")
    elif problem is not None:
        show_problem(problem, "info", subject="The clean text" if paired else "The sidebar text")
    else:
        st.info("Type a corrupted text (or find a counterfactual) to patch.")


def within_demo_limit(model_name: str, clean: str, corrupted: str, paired: bool) -> bool:
    """In demo mode, False (said on the page, naming the text) when either text is longer than the patching
    limit: the sidebar's check covers only the sidebar text, and these may be typed or linked. Counted as the
    other pages count: the whole text's tokens when the model reads only its beginning."""
    if demo.config() is None:
        return True
    bundle = get_bundle(model_name)
    for text, subject in ((clean, "the clean text" if paired else "the sidebar text"),
                          (corrupted, "the corrupted text")):
        try:
            encoded = encode(bundle, text)
        except InputError:
            continue  # empty or unreadable: the page or patching says what is wrong with it
        whole = encoded.num_text_tokens if encoded.truncated else None  # as within_trace_limit counts
        if not demo.within_token_limit("patching", len(encoded.inputs["input_ids"]), "patching_tokens", whole,
                                       subject):
            return False
    return True


# ---- the Errors page's hand-over: a mistake (corrupted) and its smallest flip (clean) ----


def pair_button(texts: list[str], text_key: str = "errors_flip_text") -> None:
    """Under the Errors page's flip picker (`texts` its mistakes, `text_key` its choice): open the chosen mistake
    and its smallest flip on the Causal page."""
    if not texts:  # no mistake to pick: the picker is not drawn either
        return
    st.button(
        "Patch the flip in Causal",
        key="errors_causal_button",
        on_click=_request_pair,
        args=(text_key,),
        icon=":material/science:",
        help="Find the mistake's smallest flip, then patch from the flip (clean) into the mistake (corrupted)",
    )


def _request_pair(text_key: str) -> None:
    st.session_state[PAIR_REQUEST] = whatif_ui.mistake_request(text_key)  # the sidebar's text: head ablation runs on it


def follow_pair_request(model_name: str) -> None:
    """Call on the Errors page once its model is known: find the asked mistake's smallest flip (the search the
    flip button keeps) and open the Causal page with the flip as the clean text and the mistake as the
    corrupted one, both in the link. Says so, and stays, when no flip is found."""
    request = st.session_state.pop(PAIR_REQUEST, None)
    if request is None:
        return
    found = whatif_ui.search_mistake(model_name, request, PATCHING_LIMITS)  # the pair is for patching
    if found is None:
        return
    text, target, search = found
    if search.best is None:
        to = f" to its true label, {markdown_literal(target)}" if target else ""
        message = (f"The search found no edit of up to 3 words that flips this mistake's prediction{to} (it scores "
                   "the most promising edits, not every one), so there is no pair to patch: type one on the Causal "
                   "page.")
        st.info(message)
        st.toast(message, icon=":material/info:")  # the button is far down the page; the toast shows where it is
        return
    flip = search.best.text
    st.session_state.update({SOURCE_KEY: "pair", CLEAN_KEY: flip, CORRUPTED_KEY: text})
    links.switch_page(PAGE, {"model": model_name, "text": text, "source": "pair", "clean": flip, "corrupted": text})
