"""Attribution: which tokens drive the prediction, by every method; how faithful each is and how much they
agree; and the attribution graph of the attention flow. Options live in the shareable link
(method, baseline, target, threshold)."""

import json

import streamlit as st

from explainer.attribution import METHODS
from explainer.attribution.faithfulness import agreement
from explainer.attribution.graph import DEFAULT_STEPS, DEFAULT_THRESHOLD, graph_unavailable
from explainer.attribution.inputs import BASELINES, cheap_enough
from explainer.attribution.options import GRAPH_THRESHOLD_STEP as THRESHOLD_STEP
from explainer.attribution.options import UNRELIABLE, offered_baselines, page_options
from explainer.attribution.registry import methods_for, title
from explainer.capture.encoding import InputError
from explainer.families import single_readout_note
from explainer.thought_beacon.dense import dense_suffix
from explainer.ui import caches, demo, export, links, progressive, session, target_label
from explainer.ui.problems import show_problem
from explainer.views import attribution as attribution_figures
from explainer.views.text import MISSING, markdown_label, markdown_literal

ASKED = "_attribution_asked"  # (model, text) whose expensive sections the user asked for

st.title("Attribution")
trace = session.current_trace()
if trace is not None and not demo.within_trace_limit("attributions", trace, "attribution_tokens"):
    trace = None  # demo mode: a request larger than the config allows is refused with its reason
if trace is not None:
    current = session.selection()
    name, text = current.bundle.name, current.text
    methods = methods_for(current.bundle.model)  # a link's method this model cannot use: the default, said
    links.seed_choice("attribution_method", "method", methods, tell=True, shown=title, offered_elsewhere=METHODS)
    baselines = offered_baselines(current.bundle)  # no mask without a mask token: a link's mask= is said
    links.seed_choice("attribution_baseline", "baseline", baselines, "pad", tell=True, offered_elsewhere=BASELINES)
    links.seed_fraction("attribution_threshold", "threshold", DEFAULT_THRESHOLD, step=THRESHOLD_STEP)

    left, middle, right, far = st.columns([2, 2, 1, 1])
    method = left.selectbox("Method", methods, format_func=title, key="attribution_method")
    if methods != METHODS:
        st.caption(f"Not offered: {', '.join(title(m) for m in METHODS if m not in methods)}. "
                   + markdown_literal(single_readout_note(current.bundle.model, advice=False)))
    choice = target_label.picker(middle, "attribution_target", trace.label_names)
    baseline = right.radio("Baseline", baselines, key="attribution_baseline",
                           help=attribution_figures.baselines_help(current.bundle))
    links.keep("attribution_image_format")
    image_format = far.radio("Image export", ["png", "svg"], key="attribution_image_format")
    links.publish_options({"method": method, "baseline": baseline, "target": target_label.link_value(choice),
                             "threshold": f"{st.session_state.attribution_threshold:.2f}"})
    target = target_label.target(choice)
    options = page_options(baseline)

    chart = export.charts("attribution", image_format)
    try:
        result = caches.get_attribution(name, text, method, target, options)
    except InputError as error:
        show_problem(error, "info")
        links.stop()
    st.caption(attribution_figures.headline(result, dense_suffix(result.notes)))
    for note in result.notes:  # scores that are not reliable are a warning, the rest context
        (st.warning if UNRELIABLE in note else st.caption)(markdown_literal(note))

    st.subheader(title(method))
    st.markdown(attribution_figures.highlighted_html(result), unsafe_allow_html=True)
    st.caption(attribution_figures.legend_sentence(method, markdown_label(result.target_label)))  # label: as named
    if result.convergence_delta is not None:
        st.caption(attribution_figures.convergence_caption(result))
    chart(attribution_figures.bars(result), "bars")
    if not progressive.rest_may_follow(("attribution", name, text, method, target, baseline)):
        links.stop()  # the rest follows once the browser has drawn the bars
    if result.layer_scores is not None:
        chart(attribution_figures.layer_heatmap(result), "layers")

    # Every method and the graph take seconds on small models; on long inputs to large ones, minutes: ask first.
    asked = progressive.asked(ASKED, (name, text))  # read on every run: a click is for the run it was made in
    if not (cheap_enough(current.bundle, len(result.tokens)) or asked):
        st.info(f"Every method, faithfulness, agreement and the graph take a while on {len(result.tokens)} tokens.")
        st.button("Compute them", on_click=progressive.click, args=(ASKED,))
        links.stop()

    st.subheader("Every method")
    # Each method and its faithfulness is cached on its own: a bar over all of them, gone once they are in.
    bar = st.progress(0.0)

    def step(stage: str, offset: int):
        def report(done: int, total: int, method: str) -> None:
            bar.progress((offset + done) / (2 * total), text=f"{stage}: {title(method)} done ({done}/{total})")

        return report

    results = caches.get_attributions(name, text, target, options, progress=step("Attributing (1 of 2)", 0))
    faithful = caches.get_faithfulness(name, text, target, options,
                                       progress=step("Faithfulness (2 of 2)", len(METHODS)))
    bar.empty()
    if (warning := attribution_figures.every_method_warning(results)) is not None:
        st.warning(warning)
    st.dataframe(attribution_figures.methods_table(results).round(4), hide_index=True, placeholder=MISSING,
                 width="stretch")
    st.download_button("Attributions as JSON", json.dumps({m: r.as_dict() for m, r in results.items()}, indent=1),
                       file_name="attributions.json", mime="application/json", key="attribution_json",
                       on_click="ignore")

    st.subheader("Faithfulness")
    st.caption("Tokens removed (replaced by the baseline) or inserted in the order each method ranks them. Faithful "
               "rankings make deletion fall and insertion rise fast. Comprehensiveness and sufficiency: ERASER "
               "(DeYoung et al. 2020), tokens removed from the sequence at 1, 5, 10, 20 and 50%.")
    chart(attribution_figures.faithfulness_curves(faithful), "faithfulness")
    unreliable = attribution_figures.unreliable_methods(results)
    st.dataframe(attribution_figures.faithfulness_table(faithful, unreliable), hide_index=True, placeholder=MISSING,
                 width="stretch")

    st.subheader("Agreement between methods")
    st.caption("Rank agreement over the text tokens, by magnitude (|attribution|): signs left out, since three methods "
               "have none (Compare ranks its one signed method by value).")
    agreed = agreement(results)
    one, two = st.columns(2)
    with one:
        chart(attribution_figures.agreement_heatmap(agreed, "spearman"), "agreement_spearman")
    with two:
        chart(attribution_figures.agreement_heatmap(agreed, "overlap"), "agreement_overlap")

    st.subheader("Attribution graph")
    st.caption(
        "Self-attention attribution (Hao et al. 2021): integrated gradients over each layer's attention. Nodes are "
        "(layer, token); an edge carries the attribution of the attention from one token to another, summed over "
        "heads (hover a midpoint for the heads). Kept: edges above the threshold (share of their layer's strongest) "
        "that lie on a path to the prediction (red)."
    )
    if (unavailable := graph_unavailable(current.bundle.model, current.bundle.architecture)) is not None:
        st.info(markdown_literal(unavailable))
    elif demo.within_token_limit("the attribution graph", len(result.tokens), "graph_tokens"):
        threshold = st.slider("Threshold", 0.0, 1.0, step=THRESHOLD_STEP, key="attribution_threshold")
        graph_bar = st.progress(0.0, text="Attributing every attention weight…")
        heads = caches.get_attention_attribution(name, text, target, DEFAULT_STEPS, progress=lambda done, planned:
                                                graph_bar.progress(min(done / max(planned, 1), 1.0)))
        graph_bar.empty()
        graph = heads.graph(threshold)
        caption, unreliable = attribution_figures.graph_caption(heads, graph)
        (st.warning if unreliable else st.caption)(markdown_literal(caption))  # it may name a checkpoint's label
        chart(attribution_figures.graph_figure(graph), "graph")
        st.download_button(
            "Graph as JSON",
            json.dumps(graph.as_dict(), indent=1),
            file_name="attribution-graph.json",
            mime="application/json",
            key="attribution_graph_json",
            on_click="ignore",
        )
