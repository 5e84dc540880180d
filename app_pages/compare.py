"""Compare: the sidebar's model (A) and a second model (B) side by side, on the sidebar's text (predictions,
attention with heads matched by pattern similarity, attributions and their rank agreement) or on a data set
(both metrics and confusion matrices, the examples where one is right and the other wrong)."""

import streamlit as st

from explainer.capture.encoding import InputError
from explainer.evaluation.compare import CompareError, compare_data
from explainer.ui import caches, demo, export, labelled, links, session, text_box
from explainer.ui import compare as compare_ui
from explainer.ui.problems import show_problem
from explainer.views import attention as attention_figures
from explainer.views import evaluation as evaluation_figures
from explainer.views.text import MISSING, markdown_literal, markdown_strong

MODES = ("This text", "A data set")

labelled.follow_open_request()
st.title("Compare")
current = session.selection()
if current.error:
    show_problem(current.error)
    links.stop()
bundle_a = current.bundle
default_b = compare_ui.pair_picker(bundle_a.name)
links.seed_choice("compare_mode", "on", MODES, tell=True)
left, right = st.columns([2, 1])
mode = right.radio("Compare on", MODES, key="compare_mode", horizontal=True)
links.publish_options({"on": mode})
bundle_b = compare_ui.model_b(left, default_b)  # in demo mode, from the offered list only
if bundle_b is None:
    links.stop()
name_b = bundle_b.name
name_a = bundle_a.name
# one folder by two names (a shipped name and its path) is loaded twice, yet the same model: its stamp says so
stamp = bundle_a.folder_stamp
if bundle_b.model is bundle_a.model or (stamp is not None and stamp == bundle_b.folder_stamp):
    st.info(f"A and B are the same model ({markdown_literal(name_a)}): every figure below compares it with itself. "
            "Choose another B.")
links.keep("compare_image_format")
image_format = st.radio("Image export", ["png", "svg"], horizontal=True, key="compare_image_format")
chart = export.charts("compare", image_format, html_download=False)

if mode == MODES[0]:
    links.publish_options(labelled.data_link(labelled.DataChoice(labelled.SOURCES[0])))  # no data in the link
    links.report_inputs()["uploaded"] = False  # the data mode's upload, if any, is not what the page shows now
    by_layer = compare_ui.same_layer_toggle(bundle_a, bundle_b)
    try:
        result = caches.get_comparison(name_a, name_b, current.text, by_layer, demo.attribution_limit())
    except (InputError, CompareError) as error:
        show_problem(error, "info")
        links.stop()
    for side, trace in (("A", result.trace_a), ("B", result.trace_b)):
        session.warn_if_truncated(trace, f"Model {side} ({trace.model_name}): ")
    columns = st.columns(2)
    sides = ((columns[0], "A", result.trace_a, None), (columns[1], "B", result.trace_b, result.order_b))
    for column, side, trace, order in sides:  # B's bars in A's label order where they have the same labels
        column.subheader(f"{side}: {markdown_literal(trace.model_name)}")
        column.markdown(f"Predicts {markdown_strong(trace.predicted_label)} "
                        f"({trace.probabilities[trace.predicted]:.1%})")
        with column:
            chart(attention_figures.prediction_bars(trace, order), f"prediction_{side}")
    compared = (name_a, name_b, current.text, by_layer)
    if not compare_ui.rest_may_follow(compared):
        links.stop()  # the matched heads and attributions follow once the browser has drawn the predictions
    compare_ui.heads_section(result, chart, compared, name_a, name_b)
    compare_ui.attribution_section(result, chart, name_a, name_b)
else:
    labelled.seed_data_widgets("compare")
    links.seed_option("compare_results_b", "results_b", str, "")
    choice = labelled.data_widgets("compare", results_kinds=labelled.PREDICTION_KINDS)
    results_b = text_box.text_input("Results folder of model B (else B runs on A's rows)", "compare_results_b") \
        if choice.kind == labelled.RESULTS else ""
    links.publish_options({**labelled.data_link(choice), "results_b": results_b, "same_layer": "", "pair": ""})
    comparison = labelled.run_report(
        bundle_a, choice,
        lambda data, progress: compare_data(bundle_a, bundle_b, labelled.seed_second_results(bundle_b, results_b, data),
                                            progress_a=progress, progress_b=progress,
                                            # each folder's predictions at the tau its run used
                                            beacon_threshold=labelled.choice_tau(choice),
                                            beacon_threshold_b=labelled.results_tau(results_b)),
        key="_compare_report", label=" per model",  # B's folder by its file version too, as A's is (run again)
        also=(bundle_b.name, id(bundle_b),
              results_b and labelled.DataChoice(labelled.RESULTS, path=results_b).identity),
    )
    if comparison is None:
        links.stop()
    labelled.show_problems(comparison.report_a)
    counts = comparison.counts
    cells = st.columns(4)
    cells[0].metric("Both right", f"{counts['both_right']:,}")
    cells[1].metric("Only A right", f"{counts['only_a_right']:,}")
    cells[2].metric("Only B right", f"{counts['only_b_right']:,}")
    cells[3].metric("Both wrong", f"{counts['both_wrong']:,}")
    columns = st.columns(2)
    sides = zip(columns, "AB", (comparison.report_a, comparison.report_b), comparison.confusions(),
                (bundle_a, bundle_b), (labelled.choice_tau(choice), labelled.results_tau(results_b)))
    for column, side, report, (confusion, names), side_bundle, tau in sides:  # both matrices in A's label order
        metrics = report.metrics
        column.subheader(f"{side}: {markdown_literal(report.model_name)}")
        column.markdown(f"Accuracy **{metrics['accuracy']:.1%}** · macro-F1 **{metrics['macro_f1']:.3f}** · "
                        f"ECE **{evaluation_figures.ece_text(report.calibration.ece)}**"
                        + labelled.tau_said(side_bundle, tau, "its folder's"))
        with column:
            chart(evaluation_figures.confusion_figure(confusion, names), f"confusion_{side}")
    st.subheader("Where they disagree")
    table = comparison.disagreements
    if table.empty:  # an empty grid under "select a row" read as a table still loading
        st.info("None: on every row both models are right, or both wrong.")
    else:
        st.caption("One model right, the other wrong; the most confident mistake first. Select a row to open it.")
        with_b = compare_ui.open_with_picker()  # first: the views offered are those of the model a row opens with
        labelled.view_picker("compare_view", bundle_b if with_b else bundle_a)
        st.session_state["_compare_texts"] = table["text"].tolist()
        st.dataframe(table.round(4), hide_index=True, placeholder=MISSING, width="stretch", key="compare_table",
                     selection_mode="single-row", on_select=compare_ui.open_disagreement)
