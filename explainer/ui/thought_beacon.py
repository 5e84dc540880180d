"""Streamlit pieces shared by the Thought markers and Beacons pages: intervened traces (cached), the offer to
switch to the shipped ThoughtBeacon model, layer/token pickers, the data-set picker and progress bars."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from explainer.capture.encoding import InputError
from explainer.capture.tracing import Trace
from explainer.data.disk_cache import file_version
from explainer.data.labelled import DatasetError, LabelledData
from explainer.evaluation.error_report import with_labels_taken
from explainer.loading import shipped
from explainer.loading.bundle import ModelBundle
from explainer.models import THOUGHT_BEACON_TYPES
from explainer.scale.manifest import ResultsError
from explainer.serving.paths import PathRefused
from explainer.thought_beacon.marker_dictionary import DictionaryOptions, example_context
from explainer.ui import demo as demo_mode
from explainer.ui import labelled, links, progressive, text_box
from explainer.ui.caches import get_trace_with, read_labelled
from explainer.ui.problems import show_problem
from explainer.ui.widget_state import resend
from explainer.views.text import html_text, markdown_literal, markdown_strong, token_labels
from explainer.views.thought_beacon import marker_name

CHALLENGE_SET = shipped.ASSETS / "challenge_set.csv"
SOURCES = labelled.SOURCES  # the same data-set choice, worded the same, as on the Errors and Compare pages




def intervened(model_name: str, text: str, tau: float | None, forces=(), pins=()) -> Trace | None:
    try:
        return get_trace_with(model_name, text, tau, tuple(forces), tuple(pins))
    except InputError as error:
        show_problem(error)
        return None


def shipped_thought_beacon(feature: str, current: str = "") -> str | None:
    """The first model offered here (shipped, or in demo mode the config's list) that has `feature`
    ("num_thought_markers" or "use_beacons"), by its config; its name as the sidebar's picker offers it. The
    `current` model's own twin first (sst2-baseline's is sst2-thought-beacon: same training, with both)."""
    demo = demo_mode.config()
    offered = [(m.name, m.target) for m in demo.models] if demo else [(m.name, m.name) for m in shipped.available()]
    if demo is not None and current:  # the offered name: its target is a shipped name or a folder
        try:
            current = demo.offered(current).target
        except PathRefused:
            pass  # not offered here: no twin to put first
    own = shipped.shipped_name(current) if current else None  # a shipped model opened by its folder too
    twins = {pair.left for pair in shipped.PAIRS if pair.right == own}
    offered.sort(key=lambda item: shipped.shipped_name(item[1]) not in twins)  # stable: the rest keep their order
    for name, target in offered:
        if target == shipped.UNTRAINED_NAME:
            return name  # the placeholder is a ThoughtBeacon model with both
        folder = shipped.resolve(target)  # a shipped name's folder, or the demo's folder
        if folder is None:
            continue
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if config.get("model_type") in THOUGHT_BEACON_TYPES and config.get(feature):
            return name
    return None


def offer_switch(model_name: str, what: str, feature: str) -> None:
    """Say plainly what this page would show, and offer the shipped ThoughtBeacon model (one click)."""
    target = shipped_thought_beacon(feature, model_name)
    st.info(f"{markdown_strong(model_name)} is not a ThoughtBeacon model with this feature. {what}")
    if target is not None:
        st.button(f"Switch to {target}", key="switch_to_thought_beacon", on_click=links.choose_model, args=(target,),
                  type="primary", icon=":material/swap_horiz:")


TAU_STEP = 0.01  # the Beacons page's slider: a link's tau is snapped to it, so the page shows the tau it runs


def seed_tau(key: str, model_name: str, model_tau: float) -> None:
    """The tau widget's value: from the link, else as kept, else the model's own. A value still at the previous
    model's own tau (never moved) follows the new model's own when the sidebar switches models: one model's
    default is not a choice for another (a tau the user moved stays); so too when the model's own tau changed (a
    folder trained again in place)."""
    links.seed_fraction(key, "tau", model_tau, step=TAU_STEP)
    owner = f"{key}__model"  # (model, its own tau) the value was last shown with
    previous = st.session_state.get(owner)
    if previous is not None and tuple(previous) != (model_name, model_tau) and st.session_state.get(key) == previous[1]:
        st.session_state[key] = model_tau
    st.session_state[owner] = (model_name, model_tau)


def seed_slots(prefix: str, layers_param: str, positions_param: str, result: Trace, what: str) -> None:
    """The layer and token multiselects' first values from the link, or the session's kept ones for this text.
    When every chosen token is gone (a shorter text, a link's position past the end), the layers are cleared too:
    no token chosen means every token, and a force on one token must not silently become a force on all."""
    layers_key, positions_key = f"{prefix}_layers", f"{prefix}_positions"
    links.seed_indices(layers_key, layers_param, result.num_layers)
    had = bool(st.session_state.get(positions_key, st.session_state.get(links.KEPT_KEY, {}).get(positions_key)))
    raw = links.from_link(positions_key, positions_param)
    try:  # a link's positions that cannot be read: the default (every token) is used, and the toast says so
        had = had or bool(raw and links.parse_ints(raw))
    except ValueError:
        pass
    kept = links.seed_indices(positions_key, positions_param, len(result.tokens),
                              emptied=f"{what} is off until layers are chosen again (no token chosen: every token)")
    if had and not kept:
        st.session_state[layers_key] = []


def choose_slots(result: Trace, prefix: str) -> tuple[list[int], list[int]]:
    """Layer and token-position multiselects (labels "3 movie"); choices that no longer exist are dropped."""
    layers, count = result.num_layers, len(result.tokens)
    for key, limit in ((f"{prefix}_layers", layers), (f"{prefix}_positions", count)):
        if key in st.session_state:
            st.session_state[key] = [v for v in st.session_state[key] if 0 <= v < limit]
    labels = token_labels(result.tokens, plotly=False)  # widgets show text as typed
    left, right = st.columns(2)
    chosen_layers = left.multiselect("Layers", list(range(layers)), key=f"{prefix}_layers",
                                     format_func=lambda v: f"layer {v}")
    positions = right.multiselect("Tokens (none chosen: every token)", list(range(count)), key=f"{prefix}_positions",
                                  format_func=lambda i: labels[i])
    return chosen_layers, positions


def prediction_line(result: Trace) -> str:
    return f"{markdown_strong(result.predicted_label)} ({result.probabilities[result.predicted]:.1%})"


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """`with progress_bar(label) as progress:` a callback for the library's `progress(done, total)` that fills an
    st.progress bar, which goes when the work is done (the results take its place)."""
    bar = st.progress(0.0, text=label)

    def update(done: int, total: int) -> None:
        bar.progress(min(done / total, 1.0) if total else 1.0, text=f"{label} {done:,}/{total:,}")

    try:
        yield update
    finally:
        bar.empty()


def run_button(label: str, key: str, working: str, compute: Callable[[Callable[[int, int], None]], object],
               data: LabelledData):
    """A button that runs `compute(progress)` over `data` under a progress bar and returns its result (None until
    clicked, or after saying why it failed: a row holding a token the model cannot embed, named by its line).
    The button goes once the work is done: the results take its place, and it would only run them again.
    The click is kept until a run reaches the button (progressive.clicked). The bar says that leaving the page
    stops the work (Streamlit ends the run; nothing unfinished is kept)."""
    slot = st.empty()
    slot.button(label, key=key, type="primary", on_click=progressive.click, args=(key,))
    if not progressive.clicked(key):
        return None
    try:
        with progress_bar(f"{working} (leaving this page or changing anything on it stops it)") as progress:
            result = compute(progress)
    except InputError as error:  # the button stays: the file can be fixed and the work run again
        show_problem(data.located(error))
        return None
    slot.empty()
    return result


def _read_path(path: str, label_names: tuple[str, ...], quote: bool = True, shown: str | None = None
               ) -> LabelledData:
    """`quote=False` for a file a visitor named: its contents stay out of the error messages. `shown`: what
    captions and messages call it instead of its path (a demo's offered name, the shipped challenge set)."""
    try:
        version = file_version(Path(path).expanduser().stat())
    except OSError:
        version = ()  # read_dataset says what is wrong with the path
    return read_labelled(str(Path(path).expanduser()), shown, label_names, version, quote)


def _seed_source(prefix: str, names: list[str], kind: str | None) -> str:
    """The source radio, its first value from the link: a data= names a path here (a demo's offered data set),
    a results= a results folder; none, the shipped challenge set (in a demo, the first offered)."""
    results = kind is not None  # the run kind a results folder must hold here
    sources = labelled.sources(results)
    linked = labelled.LISTED if names else SOURCES[2]  # a data= names a listed set, or a path outside a demo
    linked = linked if linked in sources else sources[0]  # a demo offering no list reads no path
    if results and labelled.RESULTS in sources:
        links.seed_option(f"{prefix}_results", "results", str, "")  # after the first seed: the link is read
    if labelled.RESULTS in sources and labelled.linked_results((kind,)):
        links.seed_option(f"{prefix}_source", "results", lambda raw: labelled.RESULTS, sources[0])
    else:
        links.seed_option(f"{prefix}_source", "data", lambda raw: linked if raw else sources[0], sources[0])
    resend(f"{prefix}_source")  # drawn after the progressive stop: see dataset_picker
    return labelled.source_radio(prefix, sources)


def _results_run(prefix: str, bundle: ModelBundle, folder: str, kind: str) -> tuple[LabelledData, dict]:
    """labelled.results_run once per model and version of the folder in this session: reading its rows and
    merging its dictionary or sweep on every widget change of the page would redo it all each time."""
    key = (bundle.name, id(bundle), labelled.DataChoice(labelled.RESULTS, path=folder).identity, kind)
    held = st.session_state.get(f"_{prefix}_results_read")
    if held is not None and held[0] == key:
        return held[1]
    run = labelled.results_run(bundle, folder, (kind,))
    st.session_state[f"_{prefix}_results_read"] = (key, run)
    return run


def dictionary_options(prefix: str) -> DictionaryOptions:
    """The options of the dictionary the picker's data set has: a markers results folder's own (the key its
    dictionary is cached under), else the page's defaults."""
    options = st.session_state.get(f"_{prefix}_run_options", {}).get("dictionary")
    return DictionaryOptions(**options) if options else DictionaryOptions()


def sweep_grid(prefix: str) -> tuple[float, ...] | None:
    """The taus of the sweep the picker's data set has: a sweep results folder's own, else None (the default)."""
    taus = st.session_state.get(f"_{prefix}_run_options", {}).get("taus")
    return tuple(taus) if taus else None


def dataset_picker(
    prefix: str, label_names: tuple[str, ...], results_of: tuple[ModelBundle, str] | None = None,
    work: tuple[int, str] = (1, ""),
) -> LabelledData | None:
    """The shipped challenge set by default, an uploaded file, a path, or outside demo mode with `results_of` (the
    page's model, the run kind it shows) a results folder, whose dictionary or sweep goes into the cache the page
    reads; None (with a message) when unusable. `work`: how many times the page's work runs each row, and what
    that work is called (a demo's upload row limit is shared out over the passes).
    Drawn after the page's progressive stop: a run for a new text or model stops before it, and the browser then
    mounts these widgets anew at their defaults while the session still holds the choices (the page showed the
    chosen file beside a radio on the challenge set, and the next run read the radio): choices are sent with every
    run, the path box when the request lacked it; an uploaded file, which cannot be sent back to the browser, is
    used from the session's copy (labelled.uploader). All are kept while another page is shown (links.keep).
    The link's data= (a path here; a demo's offered name) seeds the choice, and a path or name chosen goes into
    the link, as on the Errors page."""
    demo = demo_mode.config()
    names = list(demo.data_choices()) if demo else []
    source = _seed_source(prefix, names, results_of[1] if results_of is not None else None)
    links.publish_options({"results": ""})  # but for a results folder, below
    st.session_state[f"_{prefix}_run_options"] = {}  # but a results folder's run options, below
    try:
        if demo is not None and source not in labelled.sources(results_of is not None):
            # a source the demo does not offer (a stale value): never the challenge set, a path or a folder
            raise DatasetError("Choose a data set from the list.")
        if source == labelled.RESULTS and results_of is not None:  # outside demo mode only (labelled.sources)
            bundle, kind = results_of
            folder = text_box.text_input(f"Results folder (the --out folder of `{labelled.RUN_COMMANDS[kind]}`)",
                                         f"{prefix}_results").strip()
            links.publish_options({"data": "", "results": folder})
            if not folder:
                return None
            data, options = _results_run(prefix, bundle, folder, kind)  # its dictionary or sweep: in the cache
            st.session_state[f"_{prefix}_run_options"] = options  # what it is cached under
        elif source == SOURCES[0]:
            links.publish_options({"data": ""})
            data = _read_path(str(CHALLENGE_SET), label_names, shown=CHALLENGE_SET.name)
        elif source == labelled.LISTED:  # demo mode: the config's list, by name
            labelled.seed_listed(prefix, names)  # a linked name not offered: the warning Errors and Map give
            labelled.say_refused(prefix)
            resend(f"{prefix}_listed")
            name = st.selectbox("Data set", names, key=f"{prefix}_listed")
            links.publish_options({"data": name or ""})
            # called by its offered name, never by its path on the server (as the Errors page does)
            data = _read_path(str(labelled.listed_path(name or "")), label_names, quote=False, shown=name)
        elif source == SOURCES[1]:
            links.publish_options({"data": ""})  # an upload does not travel in a link
            if refused := labelled.no_upload_fits(*work):  # said before a file is sent, not after it is read
                st.info(markdown_literal(refused))
                return None
            upload = labelled.uploader(prefix)
            if upload is None:
                return None
            labelled.check_upload(upload)
            data = labelled.private_to_session(
                labelled.check_upload_rows(read_labelled(upload.getvalue(), upload.name, label_names), *work))
        elif demo is not None:  # and whatever the list of sources says: a demo never reads a typed path
            raise DatasetError("Choose a data set from the list.")
        else:
            links.seed_option(f"{prefix}_path", "data", str, "")
            path = text_box.text_input("Path to a labelled CSV, TSV, JSONL or Parquet file", f"{prefix}_path").strip()
            links.publish_options({"data": path})
            if not path:
                return None
            data = _read_path(path, label_names, quote=False)
    except (DatasetError, ResultsError) as error:
        show_problem(with_labels_taken("This model", label_names, error))  # as the Errors page says it
        return None
    count, skipped = len(data), len(data.problems)
    note = f"{count:,} text{'s' if count != 1 else ''} from {markdown_literal(data.source)}"
    if data.problems:
        line, reason = data.problems[0]
        note += (f" ({skipped:,} row{'s' if skipped != 1 else ''} skipped, first at line {line}: "
                 f"{markdown_literal(reason)})")
    st.caption(note)
    return data


def marker_card(dictionary: dict, layer: int, marker: int) -> None:
    """One dictionary entry in words: share, confidence, top tokens, contexts (token highlighted), effects.
    All text from the data is HTML-escaped before it is shown."""
    entry = next(e for e in dictionary["entries"] if e["layer"] == layer and e["marker"] == marker)
    tokens = ", ".join(f"<code>{html_text(t['token'])}</code> ×{t['count']}" for t in entry["top_tokens"]) or "none"
    contexts = "".join(
        f"<li>{example_context(e, '<mark>{}</mark>', html_text, ellipsis=True)} <small>(p {e['prob']:.3f})</small></li>"
        for e in entry["examples"]
    )
    effects = " · ".join(
        f"{html_text(label)}: direct {entry['direct_effect'][label]:+.4f}"
        + (f", forced {entry['forced_effect'][label]:+.3f}" if entry.get("forced_effect") else "")
        for label in dictionary["label_names"]
    )
    st.markdown(
        f"<div class='marker-card'><b>Layer {layer}, marker {marker_name(marker)}</b>: chosen by "
        f"{entry['share']:.1%} of the tokens at this layer (mean probability {entry['mean_prob']:.3f})."
        f"<br>Most frequent tokens: {tokens}"
        f"<br>Contexts where it is most likely:<ul>{contexts}</ul>Effect on the logits (Δ): {effects}</div>",
        unsafe_allow_html=True,
    )
