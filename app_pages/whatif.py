"""What-if: an editable copy of the sidebar text beside the original; both predictions, the word-level diff, the
change in every head's attention (drawn first) and the attribution of each; counterfactuals found on request, one
click loading a flip as the edited text. The link carries the edited text (edited), the generator (cf_method), the
user's lexicon swaps (swaps) and the attribution method (method)."""


import streamlit as st

from explainer.attribution import METHODS
from explainer.attribution.options import page_options
from explainer.attribution.registry import methods_for, title
from explainer.capture.encoding import InputError
from explainer.thought_beacon.dense import dense_suffix
from explainer.ui import caches, demo, export, links, progressive, session
from explainer.ui import whatif as whatif_ui
from explainer.ui.problems import show_problem
from explainer.ui.text_box import limited_text_area
from explainer.views import attribution as attribution_figures
from explainer.views import whatif as whatif_figures
from explainer.views.text import html_text, markdown_label, markdown_literal, markdown_strong

st.title("What-if")
current = session.selection()
if current.error:
    show_problem(current.error)
    links.stop()
name, original = current.bundle.name, current.text
whatif_ui.back_button(name, original)  # come back by the sidebar after a head was opened for the edited copy
whatif_ui.follow_sidebar(original)
whatif_ui.seed_copy(original)
links.seed_choice(whatif_ui.METHOD_KEY, "cf_method", whatif_ui.CF_METHODS, tell=True)
links.seed_option(whatif_ui.SWAPS_KEY, "swaps", str, "")
whatif_ui.seed_flip_to(name, original)
methods = methods_for(current.bundle.model)  # rollout and grad×attention need the position the classifier reads
links.seed_choice("whatif_attribution", "method", methods, default="integrated_gradients", tell=True, shown=title,
                  offered_elsewhere=METHODS)

left, right = st.columns(2)
with left:
    st.markdown("**Original** (the sidebar text)")
    st.markdown(
        f"<div class='whatif-original' style='white-space:pre-wrap;padding:0.5rem 0'>{html_text(original)}</div>",
        unsafe_allow_html=True,
    )
with right:
    edited = limited_text_area("Edited copy", whatif_ui.EDITED_KEY, demo.text_limit(), height=110)
    st.button("Reset to the original", on_click=whatif_ui.reset_copy, key="whatif_reset")
    written_for = whatif_ui.copy_written_for(original, edited)  # every run: it follows the copy's changes
    earlier = edited != original and written_for != original
    if earlier:
        st.info("The edited copy was written for an earlier sidebar text: *Reset to the original* starts it "
                "from this one.")
cf_method = st.session_state[whatif_ui.METHOD_KEY]
attribution_method = st.session_state["whatif_attribution"]
links.publish_options({"edited": edited, "edited_for": whatif_ui.written_for_link(written_for) if earlier else "",
                       "cf_method": cf_method, "method": attribution_method,
                       "swaps": st.session_state.get(whatif_ui.SWAPS_KEY, ""),
                       "flip_to": whatif_ui.flip_target(current.bundle.label_names) or ""})

traces = []
for who, text in (("The sidebar text", original), ("The edited copy", edited)):
    try:
        traces.append(caches.get_trace(name, text))
    except InputError as error:  # say which box: both are on this page
        show_problem(error, "info", subject=who)
        break
for who, trace in zip(("Original: ", "Edited: "), traces):
    session.warn_if_truncated(trace, who)
one, two = st.columns(2)
for column, who, trace in zip((one, two), ("Original", "Edited"), traces):
    column.metric(f"{who} prediction", markdown_label(trace.predicted_label),  # a metric's value is markdown
                  f"{trace.probabilities[trace.predicted]:.1%}", delta_color="off", delta_arrow="off")  # no arrow
if len(traces) < 2:  # the copy cannot be run (emptied): the original's flips can still be loaded into it
    if traces:
        whatif_ui.counterfactual_section(name, original)
    links.stop()
flipped = traces[0].predicted != traces[1].predicted
st.markdown(whatif_figures.diff_html(original, edited), unsafe_allow_html=True)
st.caption(whatif_figures.change_caption(original, edited, flipped))

st.subheader("Attention change per head")
change = whatif_ui.get_head_change(name, original, edited, caches.model_version(name))
chart = export.charts("whatif", "png", html_download=False)
head = None
if change is None:  # no single position carries the prediction
    st.info(markdown_literal(whatif_ui.head_change_note(name)))
else:
    st.caption(
        "Total variation distance (0 to 1) between each head's attention from the token the classifier reads, "
        "over the words of the two texts (kept words matched). Click a head to open it on the Attention page."
    )
    event = chart(whatif_figures.head_change_figure(change), "heads", on_select="rerun", selection_mode="points")
    head = export.clicked_pair(event)
if head is not None:
    whatif_ui.open_head(name, original, edited, head[0], head[1])
if not progressive.rest_may_follow(("whatif", name, original, edited)):
    links.stop()  # attributions and counterfactuals follow once the browser has drawn the heads

st.subheader("Attribution of each text")
method = st.selectbox("Attribution method", methods, format_func=title, key="whatif_attribution")
options = page_options()
one, two = st.columns(2)
longest_trace = max(traces, key=lambda trace: (len(trace.tokens), trace.num_text_tokens))  # as Attribution counts
longest = "the sidebar text" if longest_trace is traces[0] else "the edited text"  # the one a limit refuses
shown = ((one, "Original"), (two, "Edited"))
results = []  # the edited text is attributed towards the original's label, so that the colours compare
same = traces[0].predicted == traces[1].predicted  # then None names that label too, and shares cached results
for text in (original, edited) if demo.within_trace_limit("attributions", longest_trace, "attribution_tokens",
                                                          longest) else ():
    target = None if same or not results else results[0].target_label
    results.append(caches.get_attribution(name, text, method, target, options))
scale = attribution_figures.shade_scale(*results)  # one scale for both: a shade means the same score on each side
for (column, who), result in zip(shown, results):
    column.caption(f"{who} · {attribution_figures.headline(result, dense_suffix(result.notes))}")
    column.markdown(attribution_figures.highlighted_html(result, scale), unsafe_allow_html=True)
if results:
    st.caption(whatif_figures.attribution_key(method, markdown_strong(results[0].target_label)))

whatif_ui.counterfactual_section(name, original)
