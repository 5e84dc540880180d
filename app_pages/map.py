"""Data-set map: a labelled data set's embeddings (from the prediction pass, cached on disk) projected to 2-D by
PCA or UMAP, coloured by label, prediction, correctness, confidence, tag, length or thought marker; nearest
neighbours, likely-mislabelled rows, and slices with their metrics. A click opens an example in another view; a
box or lasso selection becomes a slice."""

import dataclasses

import streamlit as st

from explainer.dataset_map import slices as slicing
from explainer.dataset_map.maps import build_map, mislabelled_csv, mislabelled_table, neighbours_table
from explainer.ui import dataset_map as map_ui
from explainer.ui import export, labelled, links, progressive, session
from explainer.ui.problems import show_problem
from explainer.views import dataset_map as map_figures
from explainer.views.text import MISSING, hidden_state_name, markdown_label, markdown_literal

labelled.follow_open_request()
st.title("Data-set map")
current = session.selection()
if current.error:
    show_problem(current.error)
    links.stop()
bundle = current.bundle
labelled.seed_data_widgets("map", ("map",))
choice = labelled.data_widgets("map", results_kinds=("map",))
options = map_ui.option_widgets(bundle)
kept_slices = map_ui.session_slices()
links.publish_options(
    {
        **labelled.data_link(choice),
        **map_ui.option_link(options, map_ui.layer_count(bundle)),
        "slices": slicing.link_value(kept_slices),
    }
)
run_options = dataclasses.replace(options, beacon_threshold=labelled.choice_tau(choice))  # a folder's run's tau
result = labelled.run_report(
    bundle,
    choice,
    lambda data, progress: build_map(bundle, data, run_options, progress),
    key="_map_result",
    also=(run_options,),
)
if result is None:
    links.stop()

frame = result.frame
labelled.show_problems(result)
st.caption(
    f"{markdown_literal(result.model_name)} on {markdown_literal(result.source)}: "
    f"{len(frame):,} example{'' if len(frame) == 1 else 's'}, "
    f"{hidden_state_name(result.layer)} (hidden state {result.layer} of 0-{result.layers - 1})"
    f", {result.pooling} vectors scaled to length 1 (the neighbours' cosine geometry), {result.method.upper()}"
    + (" (predictions and embeddings read from the cache)" if result.cached else "")
    + labelled.tau_said(bundle, run_options.beacon_threshold)
)
for note in result.notes:
    st.info(markdown_literal(note))

colours = map_figures.colour_options(result.tag_column, result.has_markers)
links.seed_choice("map_colour", "colour", list(colours), tell=True)
left, right = st.columns([1, 2])
colour = left.selectbox("Colour by", list(colours), key="map_colour", format_func=colours.get)
with right:
    map_ui.click_picker("map_click", bundle)
focus = links.seed_index(map_ui.FOCUS_KEY, "row", len(frame), of="this data set")  # the neighbours' row
links.publish_options({"colour": "" if colour == "label" else colour, "row": focus or ""})
st.session_state["map_texts"] = frame["text"].tolist()
chart_key = map_ui.chart_key()
st.plotly_chart(
    map_figures.map_figure(frame, colour, selected=[focus], axis_titles=result.axis_titles,
                           label_names=result.label_names),
    key=chart_key,
    width="stretch",
    on_select=lambda layout=map_ui.layout_id(result), chart=chart_key: map_ui.on_map_select(chart, "map_click",
                                                                                             "map_texts", layout),
    selection_mode=("points", "box", "lasso"),
    config=export.image_config("map", "png"),
)
st.caption(f"The ringed point is row {focus}, whose nearest neighbours are listed below." if len(frame) > 1
           else "The ringed point is the data set's one row, which has no neighbours.")
map_ui.pending_selection(result)
if not progressive.rest_may_follow(("map", bundle.name, tuple(labelled.data_link(choice).items()), options)):
    links.stop()  # slices, neighbours and the likely mislabelled follow once the browser has drawn the map

st.subheader("Slices")
map_ui.filter_form(result)
map_ui.slice_table(result)
map_ui.slice_import(result)

st.subheader("Nearest neighbours")
row = st.number_input("Row", 0, len(frame) - 1, key=map_ui.FOCUS_KEY, step=1)
chosen = frame.iloc[int(row)]
where = f"{markdown_literal(chosen['file'])}, line {chosen['line']}" if "file" in frame else f"line {chosen['line']}"
st.caption(
    f"Row {int(row)} ({where}), true {markdown_label(str(chosen['label']))}, "
    f"predicted {markdown_label(str(chosen['predicted']))} "
    f"({chosen['confidence']:.1%}), by cosine distance ({hidden_state_name(result.layer)}):"
)
st.text(chosen["text"])
st.dataframe(neighbours_table(result, int(row)).round(4), hide_index=True, placeholder=MISSING, key="map_neighbours")

st.subheader("Likely mislabelled")
ranked = result.mislabelled
usable = result.neighbours.indices.shape[1]  # the neighbours each row has (fewer than asked in a tiny data set)
st.caption(
    (f"{len(ranked):,} row{'' if len(ranked) == 1 else 's'} whose label disagrees with most of their "
     f"{usable} nearest neighbours' labels (another label outnumbers theirs among them) and with the "
     "model, most suspicious first.")
    if usable else "No row has a neighbour to compare its label with: none is listed."
)
st.dataframe(mislabelled_table(result).head(2000).round(4), hide_index=True, placeholder=MISSING, key="map_mislabelled")
cells = st.columns(2)
cells[0].download_button(
    "Likely mislabelled (CSV)",
    data=lambda: mislabelled_csv(result),
    file_name="likely_mislabelled.csv",
    mime="text/csv",
    key="map_mislabelled_csv",
    on_click="ignore",
    disabled=not len(ranked),
    icon=":material/download:",
)
if len(ranked) and cells[1].button("Add the list as a slice", key="map_add_list", icon=":material/add:"):
    if map_ui.add_slice(slicing.from_rows("likely mislabelled", ranked["row"].tolist(), "list", result.data_id),
                        result.data_id):
        st.rerun()
