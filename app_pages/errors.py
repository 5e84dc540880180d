"""Errors: a labelled data set through the model; metrics, confusion matrix, calibration, and the misclassified
examples, filterable, each opening in the per-example views. Predictions are cached on disk per (model, data)."""

import pandas as pd
import streamlit as st

from explainer.evaluation.error_report import ExampleFilter, analyse, confusion_cell, filter_examples, predictions_csv
from explainer.ui import causal as causal_ui
from explainer.ui import export, labelled, links, progressive, session, text_box
from explainer.ui import whatif as whatif_ui
from explainer.ui.problems import show_problem
from explainer.views import evaluation as evaluation_figures
from explainer.views.text import MISSING, markdown_literal

labelled.follow_open_request()
st.title("Errors")
current = session.selection()
if current.error:
    show_problem(current.error)
    links.stop()
bundle = current.bundle
whatif_ui.follow_flip_request(bundle.name)  # "Find the smallest flip" below: search, then open What-if
causal_ui.follow_pair_request(bundle.name)  # "Patch the flip in Causal": the same search, then open Causal
# A shared link may name a file on this machine (data=PATH, text_column, label_column) and every filter below.
labelled.seed_data_widgets("errors")
links.seed_option("errors_filter_text", "q", str, "")
choice = labelled.data_widgets("errors", results_kinds=labelled.PREDICTION_KINDS)
links.publish_options(labelled.data_link(choice))
tau = labelled.choice_tau(choice)  # a results folder's run's: its predictions are read at that tau
report = labelled.run_report(
    bundle, choice, lambda data, progress: analyse(bundle, data, beacon_threshold=tau, progress=progress),
    key="_errors_report")
if report is None:
    links.stop()

metrics, names = report.metrics, report.label_names
st.caption(
    f"{markdown_literal(report.model_name)} on {markdown_literal(report.source)}: "
    f"{metrics['n']:,} example{'' if metrics['n'] == 1 else 's'}"
    + (" (predictions read from the cache)" if report.cached else f" ({metrics['examples_per_s']:,.0f} examples/s)")
    + labelled.tau_said(bundle, tau)
)
labelled.show_problems(report)
labelled.note_long_texts(report.frame, bundle.max_length)
cells = st.columns(4)
cells[0].metric("Accuracy", f"{metrics['accuracy']:.1%}")
cells[1].metric("Macro-F1", f"{metrics['macro_f1']:.3f}", help="The mean F1 of the labels that occur as true or "
                "predicted label (scikit-learn's default); a label with neither has no F1 (– in the table).")
cells[2].metric("Calibration error (ECE)", evaluation_figures.ece_text(report.calibration.ece))
cells[3].metric("Misclassified", f"{int((~report.frame['correct']).sum()):,}")
per_label = evaluation_figures.per_label_table(metrics, names)
st.dataframe(evaluation_figures.shown_table(per_label), hide_index=True, placeholder=MISSING)
links.keep("errors_image_format")
image_format = st.radio("Image export", ["png", "svg"], horizontal=True, key="errors_image_format")
left, right = st.columns(2)
with left:
    st.subheader("Confusion matrix")
    st.caption("Rows: true label; columns: predicted. Click a cell to list its examples, and again to close the list.")
    labelled.seed_cell(len(names))  # the clicked cell is in the link (cell=), so a shared link lists its examples
    st.plotly_chart(
        evaluation_figures.confusion_figure(metrics["confusion"], names, picked=labelled.chosen_cell()),
        key="errors_confusion",
        on_select=lambda: labelled.on_cell_click("errors_confusion", len(names)), selection_mode="points",
        config=export.image_config("errors-confusion", image_format),
    )
    links.publish_options({"cell": st.session_state[labelled.CELL_KEY]})
with right:
    st.subheader("Calibration")
    reliability = evaluation_figures.reliability_figure(report.calibration)
    st.plotly_chart(export.clear_of_toolbar(reliability), key="errors_reliability",
                    config=export.image_config("errors-reliability", image_format))
if not progressive.rest_may_follow(("errors", bundle.name, tuple(labelled.data_link(choice).items()))):
    links.stop()  # the examples follow once the browser has drawn the two charts

labelled.view_picker("errors_view", bundle)


def example_table(frame: pd.DataFrame, key: str) -> None:
    shown = frame.drop(columns="correct").head(2000)  # one value in a confusion cell, and in the mistakes: says nothing
    st.session_state[f"{key}_texts"] = shown["text"].tolist()
    st.dataframe(shown.round(4), hide_index=True, placeholder=MISSING, width="stretch", key=key,
                 selection_mode="single-row",
                 on_select=lambda: labelled.open_selected(key, f"{key}_texts", "errors_view"))
    if len(frame) > len(shown):
        st.caption(f"The {len(shown):,} most confident of {len(frame):,}; narrow the filters to see others.")


cell = labelled.chosen_cell()
if cell is not None:
    true_id, predicted_id = cell
    true_name, predicted_name = (markdown_literal(names[int(i)]) for i in (true_id, predicted_id))
    st.subheader(f"True label {true_name}, predicted {predicted_name}")  # "True positive" reads as a TP cell
    example_table(confusion_cell(report.frame, names[int(true_id)], names[int(predicted_id)]), "errors_cell_table")

st.subheader("Misclassified examples")
st.caption("Most confident mistakes first. Select a row to open that example.")
columns = st.columns([3, 2, 2, 2, 2])
longest = max(int(report.frame["tokens"].max()), 2)
tag_names = sorted(report.frame[report.tag_column].unique()) if report.tag_column else []
# Seeded from the link once; another data set may have other labels, tags or lengths: keep only what this one has.
links.seed_range("errors_filter_tokens", "tokens", 1, longest, high_key="_errors_longest")
links.seed_names("errors_filter_true", "true", names)
links.seed_names("errors_filter_predicted", "pred", names)
links.seed_names("errors_filter_tags", "tags", tag_names)
text = text_box.limited_text_input("Text contains", "errors_filter_text", text_box.FILTER_LONGEST, columns[0])
tokens = columns[1].slider("Tokens", 1, longest, key="errors_filter_tokens")
tags: list[str] = []
if report.tag_column:
    tags = columns[2].multiselect(report.tag_column.capitalize(), tag_names, key="errors_filter_tags")
true_labels = columns[3].multiselect("True label", list(names), key="errors_filter_true")
predicted_labels = columns[4].multiselect("Predicted", list(names), key="errors_filter_predicted")
links.publish_options({"q": text, "tokens": "" if tokens == (1, longest) else f"{tokens[0]}-{tokens[1]}",
                       "tags": links.joined(tags), "true": links.joined(true_labels),
                       "pred": links.joined(predicted_labels)})
rule = ExampleFilter(errors_only=True, text=text, min_tokens=tokens[0], max_tokens=tokens[1], tags=tuple(tags),
                     true_labels=tuple(true_labels), predicted_labels=tuple(predicted_labels))
mistakes = filter_examples(report.frame, rule, report.tag_column)
example_table(mistakes, "errors_table")
flippable = mistakes["text"].head(500).tolist()
whatif_ui.flip_picker(flippable, mistakes["label"].head(500).tolist())  # a flip to the true label (3+ labels)
causal_ui.pair_button(flippable)
every, shown = st.columns(2)  # the whole set, or the mistakes the filters leave (a filtered page got all rows)
rows = len(report.frame)
every.download_button("The prediction as CSV" if rows == 1 else f"All {rows:,} predictions as CSV",
                      data=lambda: predictions_csv(report.frame),
                      file_name="predictions.csv", mime="text/csv", key="errors_download", on_click="ignore",
                      icon=":material/download:", help="Every example of the data set, whatever the filters above "
                      "(texts a spreadsheet would run as a formula start with an apostrophe).")
shown.download_button(f"The {len(mistakes):,} filtered mistake{'' if len(mistakes) == 1 else 's'} as CSV",
                      data=lambda: predictions_csv(mistakes), file_name="mistakes.csv", mime="text/csv",
                      key="errors_download_shown", on_click="ignore", icon=":material/download:",
                      disabled=mistakes.empty,
                      help="The misclassified examples the filters above leave, as the table lists them.")
