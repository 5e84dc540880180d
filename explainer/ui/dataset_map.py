"""Streamlit glue of the Data-set map page: its options (seeded from and published to the link), what a click or a
box/lasso selection on the map does, and the slices kept for the session (filters seeded from the link)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st

from explainer.dataset_map import slices as slicing
from explainer.dataset_map.embeddings import has_readout
from explainer.dataset_map.maps import MapOptions, MapResult
from explainer.families import sizes
from explainer.loading.bundle import ModelBundle
from explainer.ui import labelled, links, text_box
from explainer.views import evaluation as evaluation_views
from explainer.views.text import MISSING, hidden_state_name, markdown_literal, plural

POOLING_TITLES = {"readout": "Readout position (CLS / last token)", "mean": "Mean of the tokens"}
METHOD_TITLES = {"pca": "PCA", "umap": "UMAP (PCA to 50 first; slower)"}
NEIGHBOURS = (5, 10, 20, 50)
SHOW_HERE = "Show its neighbours here"
SLICES_KEY = "_map_slices"  # the session's slices: list[Slice]
UNLINKED_KEY = "_map_unlinked_slices"  # those no link carries (selections, lists, filters past its size): kept
# through Back and Forward
PENDING_KEY = "_map_pending"  # rows of the last box/lasso selection, not yet made a slice
PENDING_DATA_KEY = "_map_pending_data"  # the map (layout_id: data set and layout) those rows were drawn on
AREA_KEY = "_map_area"  # the box/lasso the last area selection drew, which plotly keeps in later events
CHART_ROUND_KEY = "_map_chart_round"  # counts the selections made slices: a new chart key drops plotly's drawn box
FOCUS_KEY = "map_row"  # the row whose neighbours are listed (a number input)
IMPORT_KEY = "map_slices_file"  # the uploader of a definitions file
IMPORT_MB = 1  # definitions are small: a bigger file is not this page's export


def layer_count(bundle: ModelBundle) -> int:
    """Hidden states per example: the embedding layer and one per block."""
    return sizes(bundle.model.config).layers + 1


def option_widgets(bundle: ModelBundle) -> MapOptions:
    """Layer, pooling, projection and neighbour count, seeded from the link (map_layer=, pool=, method=, k=).
    Not layer=: the other pages' layer counts blocks from 0, the map's counts hidden states with 0 the embeddings,
    and a session opened on another page's link seeds every page with it."""
    layers = layer_count(bundle)
    links.seed_model_index("map_layer", "map_layer", layers, layers - 1)  # the last layer, whichever model
    poolings = list(POOLING_TITLES) if has_readout(bundle) else ["mean"]  # no known readout: mean vectors only
    links.seed_choice("map_pooling", "pool", poolings, tell=True)
    links.seed_choice("map_method", "method", list(METHOD_TITLES), tell=True)
    links.seed_choice("map_k", "k", list(NEIGHBOURS), default=10, parse=int, tell=True)
    cells = st.columns(4)
    layer = cells[0].selectbox(
        "Layer",
        list(range(layers)),
        key="map_layer",
        format_func=lambda i: hidden_state_name(i) + (" (last)" if i == layers - 1 else ""),
    )
    pooling = cells[1].selectbox("Vector", poolings, key="map_pooling", format_func=POOLING_TITLES.get,
                                 help=None if len(poolings) > 1 else "This model's readout position is not known "
                                 "(its family is not in explainer/families.py): only the mean of the tokens.")
    method = cells[2].selectbox("Projection", list(METHOD_TITLES), key="map_method", format_func=METHOD_TITLES.get)
    k = cells[3].selectbox("Neighbours", list(NEIGHBOURS), key="map_k")
    return MapOptions(layer=int(layer), pooling=pooling, method=method, neighbours=int(k))


def option_link(options: MapOptions, layers: int) -> dict[str, str]:
    """The link options of `options` (defaults leave the link)."""
    return {
        "map_layer": "" if options.layer in (None, layers - 1) else str(options.layer),
        "pool": "" if options.pooling == "readout" else options.pooling,
        "method": "" if options.method == "pca" else options.method,
        "k": "" if options.neighbours == 10 else str(options.neighbours),
    }


def click_value(choice: str) -> str:
    """A click choice as the link writes it: "attribution", "attention", "markers" or "neighbours" (the whole
    radio label made a link of "click=Open+it+in+Thought+markers")."""
    return "neighbours" if choice == SHOW_HERE else choice.rsplit(" ", 1)[-1].lower()


def click_picker(key: str, bundle: ModelBundle) -> str:
    """What a click on a point does: open the example in one of the per-example views `bundle` can show, or list
    its neighbours."""
    choices = [*(f"Open it in {view}" for view in labelled.available_views(bundle)), SHOW_HERE]
    every = [*(f"Open it in {view}" for view in labelled.available_views()), SHOW_HERE]
    by_value = {click_value(choice): choice for choice in every}
    # a link's short value, or the whole label as links written before carried it
    links.seed_choice(key, "click", choices, tell=True, parse=lambda text: by_value.get(text.strip().lower(), text),
                      shown=click_value)
    chosen = st.radio("A click on a point", choices, horizontal=True, key=key,
                      help="A click picks a point while the map's Zoom or Pan tool is on (Box and Lasso select).")
    links.publish_options({"click": "" if chosen == choices[0] else click_value(chosen)})  # the default: no link
    return chosen


def area_of(selection: Mapping[str, Any]) -> str:
    """The box and lasso outlines of a selection event, as comparable text ("" for none)."""
    box, lasso = selection.get("box") or [], selection.get("lasso") or []
    return json.dumps([box, lasso], sort_keys=True, default=str) if box or lasso else ""


def selection_rows(selection: Mapping[str, Any], known_area: str = "") -> tuple[str, list[int]]:
    """("area", rows) for a box or lasso selection, ("click", [row]) for a clicked point, ("", []) for none.
    Rows come from the points' customdata (the map puts each point's data row there). Plotly keeps a drawn box in
    every later event, so an event whose area is `known_area` (the last one drawn) with one point is a click; with
    more (a shift-click adding to the area) it is read as nothing new, as a new area would need a new outline."""
    rows: list[int] = []
    for point in selection.get("points", []) or []:
        data = point.get("customdata")
        if isinstance(data, list):
            data = data[0] if data else None
        if data is not None:
            rows.append(int(data))
    rows = sorted(set(rows))
    area = area_of(selection)
    if area and area == known_area:
        return ("click", rows) if len(rows) == 1 else ("", [])
    if area:
        return "area", rows
    return ("click", rows[:1]) if rows else ("", [])


def chart_key() -> str:
    """The map chart's widget key. plotly keeps a drawn box or lasso (and its dimmed points, and the select tool)
    until the chart is mounted afresh, so once a selection is made a slice the chart gets a new key."""
    return f"map_chart_{st.session_state.get(CHART_ROUND_KEY, 0)}"


def layout_id(result: MapResult) -> str:
    """Which map a selection was drawn on: the data set and its layout (layer, vectors, projection). The points a
    box held on one layout lie elsewhere on another, where the map draws no box."""
    return f"{result.data_id}|{result.layer}|{result.pooling}|{result.method}"


def on_map_select(chart_key: str, click_key: str, texts_key: str, layout: str) -> None:
    """The map's on_select callback (`layout`: layout_id of the map shown): an area becomes a pending selection;
    a click opens the example or focuses the neighbours list on it."""
    selection = st.session_state[chart_key].selection
    kind, rows = selection_rows(selection, st.session_state.get(AREA_KEY, ""))
    if kind == "area":
        st.session_state[AREA_KEY] = area_of(selection)
        st.session_state[PENDING_KEY] = rows
        st.session_state[PENDING_DATA_KEY] = layout
    elif kind == "click":
        st.session_state[FOCUS_KEY] = rows[0]
        action = st.session_state[click_key]
        if action != SHOW_HERE:
            labelled.request_open(action.removeprefix("Open it in "), st.session_state[texts_key][rows[0]])


# ---- slices -----------------------------------------------------------------------------------------------------


def session_slices() -> list[slicing.Slice]:
    """The session's slices; the first time, the filters named in the link's slices= parameter."""
    if SLICES_KEY not in st.session_state:
        links.seed_sidebar()
        raw = st.session_state.get(links.LINK_KEY, {}).get("slices", "")
        try:  # a hand-edited link: the good slices, a toast for the others, never a failed page
            kept, problems = slicing.read_link(raw) if raw else ([], [])
        except ValueError as error:
            kept, problems = [], [str(error)]
        # Back or Forward re-seeds the filters from the address; the selections and lists it cannot carry stay
        linked = {each.name for each in kept}
        kept += [each for each in st.session_state.get(UNLINKED_KEY, []) if each.name not in linked]
        st.session_state[SLICES_KEY] = kept
        if problems:
            links.tell_adjusted("slices", raw, "was not read whole: " + markdown_literal("; ".join(problems[:3])))
        links.mark_seeded(SLICES_KEY, "slices")
    return st.session_state[SLICES_KEY]


REPLACES = "A name already in the slice table replaces that slice."
FILTER_NAME_KEY = "map_filter_name"
FILTER_USED_KEY = "_map_filter_used"  # a value was set in the filter form this session: it is drawn open
SELECTION_NAME_KEY = "map_selection_name"


def _name_box(target, label: str, key: str, base: str) -> None:
    """A slice-name box holding a name no slice has yet ("filter 2"). Renewed by _add_named in the add button's
    callback, before the next run draws it: a box that stays on screen shows what the browser holds, and a
    changed default (value=) would not reach it."""
    if key not in st.session_state:
        _give_name(key, unique_name(base))
    text_box.text_input(label, key, target, help=REPLACES)


GIVEN_NAMES_KEY = "_map_given_names"  # box key -> the name the app last put in it (no use of the form: _filter_set)


def _give_name(key: str, name: str) -> None:
    st.session_state[key] = name
    st.session_state.setdefault(GIVEN_NAMES_KEY, {})[key] = name


def _add_named(key: str, base: str, make: Callable[[str], slicing.Slice], data_id: str) -> bool:
    """In an add button's callback: the slice `make` builds under the name in box `key` (a fresh one if it is
    blank), then a new name in the box for the next slice. False, with a toast, for a name no slice may have."""
    try:
        name = slicing.check_name(st.session_state[key].strip() or unique_name(base))
    except ValueError as error:
        st.toast(markdown_literal(str(error)), icon=":material/error:")
        return False
    if not add_slice(make(name), data_id):
        return False
    _give_name(key, unique_name(base))
    return True


def add_slice(new: slicing.Slice, data_id: str) -> bool:
    """Keep `new`, made on the data set `data_id`: it replaces the slice of its name shown there (a name used
    again replaces its slice), and a filter, shown on every data set, every slice of its name. False, with a
    toast, when the session holds slicing.MAX_SLICES already."""
    def replaced(each: slicing.Slice) -> bool:
        return each.name == new.name and (each.fits(data_id) or new.kind == "filter")

    kept = [each for each in session_slices() if not replaced(each)]
    if len(kept) >= slicing.MAX_SLICES:
        st.toast(f"At most {slicing.MAX_SLICES} slices are kept: remove one to add {markdown_literal(new.name)}.",
                 icon=":material/error:")
        return False
    store_slices([*kept, new])
    return True


def store_slices(slices: list[slicing.Slice]) -> None:
    """The session's slices are now `slices` (those no link carries noted apart: see UNLINKED_KEY)."""
    st.session_state[SLICES_KEY] = slices
    filters = [each for each in slices if each.kind == "filter"]
    overflow = filters[len(filters) - slicing.linked_filters(slices)[1]:]  # the last, past the link's size
    st.session_state[UNLINKED_KEY] = [each for each in slices if each.kind != "filter" or each in overflow]


def shown_slices(data_id: str) -> list[slicing.Slice]:
    """The session's slices that mean something on the data set `data_id` (filters, and its own selections)."""
    return [each for each in session_slices() if each.fits(data_id)]


def unique_name(base: str) -> str:
    names = {each.name for each in session_slices()}
    return base if base not in names else next(f"{base} {i}" for i in range(2, 10_000) if f"{base} {i}" not in names)


def pending_selection(result: MapResult) -> None:
    """The last box/lasso selection on this data set: its size and a button that makes it a slice."""
    rows = st.session_state.get(PENDING_KEY) or []
    here = st.session_state.get(PENDING_DATA_KEY, layout_id(result)) == layout_id(result)
    if not here:
        rows = []  # drawn on another data set (its rows name other examples) or layout (the map shows no box)
    if not rows:
        if here and st.session_state.get(AREA_KEY):  # a box over empty space: said, not taken for no box at all
            st.caption("The box or lasso drawn holds no point: draw it over points to make a slice of them.")
        else:
            st.caption("Draw a box or lasso on the map to make a slice of the points inside.")
        return
    left, right = st.columns([3, 1])
    points = f"{len(rows):,} point{'s' if len(rows) != 1 else ''}"
    _name_box(left, f"{points} selected: slice name", SELECTION_NAME_KEY, "selection")
    right.button("Add as slice", key="map_add_selection", icon=":material/add:", on_click=_add_selection_slice,
                 args=(rows, result.data_id))
    # plotly keeps the box or lasso tool after a selection, and a click then clears it instead of picking a point
    st.caption("To click a point again, pick Zoom or Pan in the map's toolbar (Box and Lasso select instead).")


def _add_selection_slice(rows: list[int], data_id: str) -> None:
    """The "Add as slice" callback: the selection's slice; the selection is done with."""
    if _add_named(SELECTION_NAME_KEY, "selection",
                  lambda name: slicing.from_rows(name, rows, "selection", data=data_id), data_id):
        st.session_state[PENDING_KEY] = []
        st.session_state[AREA_KEY] = ""
        st.session_state[CHART_ROUND_KEY] = st.session_state.get(CHART_ROUND_KEY, 0) + 1


def filter_form(result: MapResult) -> None:
    """A new slice from a filter: text, tokens, labels, tag, confidence, correct or wrong."""
    frame, names = result.frame, list(result.label_names)
    longest = max(int(frame["tokens"].max()), 2)
    # Open once the form is used: a map option seen for the first time ends its run before the form (the map is
    # drawn first), and the rerun that brings the form back drew it closed over the values typed in it.
    st.session_state[FILTER_USED_KEY] = st.session_state.get(FILTER_USED_KEY, False) or _filter_set(longest)
    with st.expander("New slice from a filter", expanded=st.session_state[FILTER_USED_KEY],
                     icon=":material/filter_alt:"):
        first = st.columns(3)
        _name_box(first[0], "Slice name", FILTER_NAME_KEY, "filter")
        text_box.limited_text_input("Text contains", "map_filter_text", text_box.FILTER_LONGEST, first[1])
        first[2].slider("Tokens", 1, longest, (1, longest), key="map_filter_tokens")
        second = st.columns(4)
        second[0].multiselect("True label", names, key="map_filter_labels")
        second[1].multiselect("Predicted", names, key="map_filter_predicted")
        if result.tag_column:
            tag_names = sorted(frame[result.tag_column].unique())
            second[2].multiselect(result.tag_column.capitalize(), tag_names, key="map_filter_tags")
        second[3].radio("Correct", slicing.CORRECTNESS, horizontal=True, key="map_filter_correct")
        st.slider("Confidence", 0.0, 1.0, (0.0, 1.0), step=0.01, key="map_filter_confidence")
        st.button("Add slice", key="map_add_filter", icon=":material/add:", on_click=_add_filter_slice,
                  args=(longest, bool(result.tag_column), result.data_id))


def _filter_set(longest: int) -> bool:
    """Whether any value of the filter form differs from its default (the name box's is the name the app gave it:
    counted as set, it opened the form by itself on the page's second run)."""
    state = st.session_state
    named = ("map_filter_text", "map_filter_labels", "map_filter_predicted", "map_filter_tags")
    return (any(state.get(key) for key in named)
            or state.get(FILTER_NAME_KEY, "") not in ("", state.get(GIVEN_NAMES_KEY, {}).get(FILTER_NAME_KEY))
            or tuple(state.get("map_filter_tokens", (1, longest))) != (1, longest)
            or tuple(state.get("map_filter_confidence", (0.0, 1.0))) != (0.0, 1.0)
            or state.get("map_filter_correct", slicing.CORRECTNESS[0]) != slicing.CORRECTNESS[0])


def _add_filter_slice(longest: int, has_tags: bool, data_id: str) -> None:
    """The "Add slice" callback: the filter's slice from the form's values."""
    state = st.session_state
    tokens, confidence = state["map_filter_tokens"], state["map_filter_confidence"]
    rule = slicing.SliceRule(
        text=state["map_filter_text"],
        min_tokens=tokens[0] if tokens[0] > 1 else None,
        max_tokens=tokens[1] if tokens[1] < longest else None,
        labels=tuple(state["map_filter_labels"]),
        predicted=tuple(state["map_filter_predicted"]),
        tags=tuple(state.get("map_filter_tags", ())) if has_tags else (),
        min_confidence=confidence[0] if confidence[0] > 0 else None,
        max_confidence=confidence[1] if confidence[1] < 1 else None,
        correct=state["map_filter_correct"],
    )
    _add_named(FILTER_NAME_KEY, "filter", lambda name: slicing.from_filter(name, rule), data_id)


def slice_table(result: MapResult) -> None:
    """Per-slice metrics (whole set first), removal, and the exports."""
    kept = shown_slices(result.data_id)
    table = slicing.metrics_table(result.frame, kept, result.tag_column)
    st.dataframe(evaluation_views.shown_table(table), hide_index=True, key="map_slice_metrics",
                 placeholder=MISSING)
    st.caption("Macro-F1 is the mean F1 over the labels that occur as truth or prediction in the slice, so on a "
               "slice of mostly one label a miss on the other counts for half; ECE is the calibration error. A "
               "slice with no rows has no metrics.")
    tags = result.frame[result.tag_column].unique().tolist() if result.tag_column else []
    for said in slicing.unknown_values(kept, result.label_names, tags):
        st.caption(markdown_literal(said))
    if hidden := len(session_slices()) - len(kept):
        st.caption(f"{hidden} slice{'s' if hidden != 1 else ''} of rows picked on another data set "
                   f"{'are' if hidden != 1 else 'is'} kept for it, not shown here: those rows are other examples.")
    if not kept:
        return
    if unlinked := slicing.linked_filters(session_slices())[1]:
        st.caption(f"The link carries the first filters only ({unlinked:,} more would make it too long to open): "
                   "the definitions file below keeps them all.")
    if picked := sum(each.kind != "filter" for each in kept):  # rows, not rules: too long for any address
        st.caption(f"{plural(picked, 'slice')} of picked rows (a selection or the mislabel list) "
                   f"{'travel' if picked != 1 else 'travels'} in the definitions file below, not in the link.")
    cells = st.columns([2, 1, 1, 1])
    gone = cells[0].multiselect(
        "Remove slices",
        [each.name for each in kept],
        key="map_remove",
        label_visibility="collapsed",
        placeholder="Slices to remove",
    )
    if cells[1].button("Remove", key="map_remove_button", disabled=not gone):
        store_slices([each for each in session_slices() if not (each.name in gone and each.fits(result.data_id))])
        st.rerun()
    cells[2].download_button(
        "Rows (CSV)",
        data=lambda: slicing.rows_csv(result.frame, kept, result.tag_column),
        file_name="slices.csv",
        mime="text/csv",
        key="map_slices_csv",
        on_click="ignore",
        icon=":material/download:",
    )
    cells[3].download_button(
        "Definitions (JSON)",
        data=lambda: slicing.to_json(kept),
        file_name="slices.json",
        mime="application/json",
        key="map_slices_json",
        on_click="ignore",
        icon=":material/download:",
    )


def slice_import(result: MapResult) -> None:
    """Slices from a definitions file (the "Definitions (JSON)" export), where the server takes uploads (a demo
    may take none)."""
    if labelled.upload_limit() <= 0:
        return
    with st.expander("Load slices from a definitions file", icon=":material/upload_file:"):
        st.file_uploader(
            f"Slice definitions, as exported above (JSON, at most {IMPORT_MB} MB)", type=["json"], key=IMPORT_KEY,
            max_upload_size=IMPORT_MB, on_change=_load_slices, args=(result.data_id, len(result.frame)),
            help="Filters apply to any data set; picked rows belong to the data set they were picked on. "
            + REPLACES,
        )


def _load_slices(data_id: str, size: int) -> None:
    """The uploader's callback: each good slice kept, a toast for what was loaded and what was not."""
    upload = st.session_state.get(IMPORT_KEY)
    if upload is None:  # the file was removed: its slices stay, as ones made on the page do
        return
    try:
        loaded, problems = slicing.read_file(upload.getvalue().decode("utf-8"), data_id, size)
    except (UnicodeDecodeError, ValueError) as error:
        why = "it is not UTF-8 text" if isinstance(error, UnicodeDecodeError) else str(error)
        st.toast(f"{markdown_literal(upload.name)} was not read: {markdown_literal(why)}", icon=":material/error:")
        return
    loaded = [each for each in loaded if add_slice(each, each.data or data_id)]  # (the cap said in a toast)
    elsewhere = sum(not each.fits(data_id) for each in loaded)
    said = f"{len(loaded)} slice{'s' if len(loaded) != 1 else ''} loaded from {markdown_literal(upload.name)}"
    if elsewhere:
        said += f" ({elsewhere} of rows picked on another data set, kept for it)"
    if problems:
        said += "; not loaded: " + markdown_literal("; ".join(problems[:3])) + ("; ..." if len(problems) > 3 else "")
    st.toast(said, icon=":material/error:" if problems or not loaded else ":material/check:", duration="long")
