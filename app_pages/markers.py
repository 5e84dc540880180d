"""Thought markers: the marker each token picks at each layer, its path across layers, forcing a marker, and
the marker dictionary over a data set. Options live in the shareable link (path, force_layers, force_pos,
force_marker)."""

import pandas as pd
import streamlit as st

from explainer.thought_beacon import marker_dictionary as md
from explainer.thought_beacon.interventions import compare, marker_forces
from explainer.ui import export, links, progressive, session
from explainer.ui import thought_beacon as tb
from explainer.views import thought_beacon as tb_figures
from explainer.views.text import MISSING, markdown_literal, plot_text, plural

st.title("Thought markers")
st.markdown(
    "At every layer, each token of the input routes over a small shared bank of learned **thought markers**, a "
    "vocabulary of internal states that the model adds to its working memory (the map shows the most likely "
    "one). Following a word's markers from layer to layer gives a readable **reasoning path**; forcing a different "
    "marker shows how the answer depends on it."
)
trace = session.current_trace()
if trace is not None and trace.thought_markers is None:
    tb.offer_switch(trace.model_name, "On a ThoughtBeacon model this page shows, for every layer and word, the marker "
                    "it picked, the path words take across layers, a dictionary of what each marker stands for, and "
                    "lets you force a marker to see the prediction move.", "num_thought_markers")
elif trace is not None:
    bundle = session.selection().bundle
    layers, count, k = trace.thought_markers.shape
    st.caption(f"{markdown_literal(trace.model_name)}: predicts {tb.prediction_line(trace)} · "
               f"{plural(count, 'token')} · {plural(layers, 'layer')} · {plural(k, 'marker')}")
    chart_config = export.image_config("markers", "png")  # markers.png, not plotly's newplot.png
    st.subheader("Marker per layer and token")
    st.caption("Hover a cell for the whole routing distribution and how much the marker adds to the word's state "
               "(‖W_m m‖ / ‖x‖).")
    st.plotly_chart(tb_figures.marker_map(trace), width="stretch", key="markers_map", config=chart_config)
    if not progressive.rest_may_follow(("markers", trace.model_name, trace.text)):
        links.stop()  # the path, forcing and the dictionary follow once the browser has drawn the map

    st.subheader("Reasoning path")
    tokens = [-1, *range(count)]  # -1: every token
    links.seed_choice("markers_path_token", "path", tokens, parse=lambda raw: -1 if raw == "all" else int(raw),
                      tell=True, shown=lambda i: "all" if i < 0 else str(i))
    labels = tb_figures.token_labels(trace.tokens, plotly=False)  # a widget: text as typed
    token = st.selectbox("Token", tokens, key="markers_path_token",
                         format_func=lambda i: "All tokens" if i < 0 else labels[i])
    st.plotly_chart(tb_figures.reasoning_sankey(trace, None if token < 0 else token), width="stretch",
                    key="markers_sankey", config=chart_config)

    st.subheader("Force a marker")
    st.caption("Override the routing with one marker at the chosen layers and tokens, then re-run the model."
               + (" With one marker, every token already routes to it: forcing it changes nothing, and its forced "
                  "effect in the dictionary is 0." if k == 1 else ""))
    tb.seed_slots("markers_force", "force_layers", "force_pos", trace, "forcing")
    links.seed_choice("markers_force_marker", "force_marker", range(k), parse=int, tell=True)
    force_layers, positions = tb.choose_slots(trace, "markers_force")
    marker = st.selectbox("Marker", list(range(k)), key="markers_force_marker", format_func=tb_figures.marker_name)
    links.publish_options({"path": "all" if token < 0 else str(token), "force_marker": str(marker),
                           "force_layers": links.joined(force_layers), "force_pos": links.joined(positions)})
    forces = marker_forces(force_layers, positions, marker)
    forced = tb.intervened(trace.model_name, trace.text, None, forces) if force_layers else None
    if forced is None:
        st.caption("Choose at least one layer to force.")
    else:
        change = compare(trace, forced, forces)
        st.markdown(f"Prediction: {tb.prediction_line(trace)} → after forcing m{marker}: "
                    f"{tb.prediction_line(forced)}" + (" · **the label flipped**" if change.flipped else ""))
        st.caption(f"{change.changed_markers} of {layers * count} (layer, token) marker choices differ from before: "
                   f"{change.changed_markers - change.changed_markers_elsewhere} at the forced slots, "
                   f"{change.changed_markers_elsewhere} elsewhere.")
        # beside the bars for a short text; under them, at the page's width, for a long one (its cells read "m3")
        left, right = st.columns([1, 2]) if count <= 12 else (st.columns([1, 1])[0], st.container())
        left.plotly_chart(tb_figures.prediction_change(trace, forced, "forced"), width="stretch",
                          key="markers_force_bars", config=chart_config)
        right.plotly_chart(tb_figures.marker_map(forced, "After forcing (forced slots outlined)"),
                           width="stretch", key="markers_force_map", config=chart_config)

    st.subheader("Marker dictionary")
    st.caption("Over a data set: which words each marker collects at each layer, example contexts, and its effect "
               "on each label's logit — **direct** (the marker's write added straight to the [CLS] state that the "
               "classifier reads) and **forced** (the mean change when the marker is forced on every token, [CLS] and "
               "[SEP] included).")
    if (direct_note := md.direct_effect_note(bundle.model)) is not None:
        st.caption(direct_note)
    data = tb.dataset_picker("markers_data", bundle.label_names, results_of=(bundle, "markers"),
                             work=(md.passes_per_text(bundle), "the dictionary"))
    if data is not None:
        options = tb.dictionary_options("markers_data")  # a results folder's own, else the defaults
        dictionary = md.load_cached_dictionary(bundle, data, options)
        if dictionary is None:
            dictionary = tb.run_button("Build the dictionary", "markers_build", "Building the dictionary…",
                                       lambda progress: md.cached_dictionary(bundle, data, options,
                                                                             progress=progress)[0], data)
        if dictionary is None:
            passes = len(data) * (1 + layers * k)
            each = f"each of the {len(data):,} texts runs" if len(data) != 1 else "the 1 text runs"
            st.caption(f"Not built yet for this model and data: {each} once, then "
                       f"{layers * k} more time{'' if layers * k == 1 else 's'} with one marker forced for the forced "
                       f"effect: {passes:,} passes in "
                       "all (many minutes on a CPU for thousands of texts). Cached on disk afterwards.")
        else:
            links.keep_choice("markers_effect_label")  # kept while other pages are shown
            label = st.selectbox("Label", list(bundle.label_names), key="markers_effect_label")
            cols = st.columns(2)
            share_map = tb_figures.marker_matrix(md.share_matrix(dictionary), "Share of tokens", "share")
            cols[0].plotly_chart(export.clear_of_toolbar(share_map), width="stretch", key="markers_share",
                                 config=chart_config)  # as the effect beside it, so their rows line up
            effect, kind = md.shown_effect(dictionary, label)  # a results folder's may lack the forced effect
            effect_map = tb_figures.marker_matrix(effect, f"{kind} effect on the '{plot_text(label)}' logit", "Δ logit",
                                                  diverging=True)
            cols[1].plotly_chart(export.clear_of_toolbar(effect_map), width="stretch", key="markers_effect",
                                 config=chart_config)
            if kind == "Direct":
                st.caption("This dictionary was built without the forced effect (`--no-forced-effect`): the direct "
                           "effect is drawn, and the cards list no forced one.")
            st.markdown("**Look up a marker**")
            pick_layer, pick_marker = st.columns(2)
            links.keep_choice("markers_card_layer")
            links.keep_choice("markers_card_marker")
            card_layer = pick_layer.selectbox("Layer", list(range(layers)), key="markers_card_layer",
                                              format_func=lambda v: f"layer {v}")
            card_marker = pick_marker.selectbox("Marker ", list(range(k)), key="markers_card_marker",
                                                format_func=tb_figures.marker_name)
            tb.marker_card(dictionary, card_layer, card_marker)
            table: pd.DataFrame = md.to_frame(dictionary)
            st.dataframe(table.round(4), hide_index=True, placeholder=MISSING, width="stretch", key="markers_table")
            st.download_button("Dictionary as CSV", md.dictionary_csv(dictionary), "marker_dictionary.csv", "text/csv",
                               key="markers_csv", on_click="ignore")
