"""Causal: which positions and heads carry the difference between a clean text (the sidebar text, or an
Errors-page pair's flip, or typed) and a corrupted one (activation patching), and which heads the prediction needs
(head ablation) beside attention-based head statistics. Options live in the shareable link (source, clean,
corrupted, target, mode, stat)."""

import streamlit as st

from explainer.attention.statistics import FIELDS, field_title
from explainer.capture.encoding import InputError
from explainer.causal import MODES, SUPPORTED
from explainer.thought_beacon.dense import dense_suffix
from explainer.ui import caches, demo, export, links, progressive, session, target_label
from explainer.ui import causal as causal_ui
from explainer.ui.problems import show_problem
from explainer.views import causal as views
from explainer.views.text import markdown_label, markdown_literal

st.title("Causal")
causal_ui.follow_attention_request()
trace = session.current_trace()
if trace is not None:
    current = session.selection()
    name, text = current.bundle.name, current.text
    if trace.architecture not in SUPPORTED:
        st.info(f"Ablation and patching support {', '.join(SUPPORTED)} models, not {trace.architecture}.")
        links.stop()
    links.seed_choice("causal_mode", "mode", MODES, tell=True)
    links.seed_choice("causal_statistic", "stat", FIELDS, tell=True)

    first, second, third = st.columns([2, 1, 1])
    choice = target_label.picker(first, "causal_target", trace.label_names,
                                 help="Predicted label: patching's is the clean text's prediction, ablation's the "
                                 "prediction on the sidebar text; each section's caption names its label.")
    target = target_label.target(choice)
    mode = second.radio(
        "Ablation",
        MODES,
        key="causal_mode",
        horizontal=True,
        help="mean: the head's mean output over the challenge set; zero: zeros",
    )
    links.keep("causal_image_format")
    image_format = third.radio("Image export", ["png", "svg"], key="causal_image_format", horizontal=True)
    chart = export.charts("causal", image_format)

    st.subheader("Activation patching")
    st.caption(
        "Run the corrupted text, put one activation back from the clean run, and see how much of the logit "
        "difference returns: 0 is the corrupted run, 1 the clean one (Meng et al. 2022; Wang et al. 2023). Texts "
        "are aligned word by word; tokens without a partner are not patched."
    )
    clean, corrupted, text_options = causal_ui.choose_texts(name, text)
    paired = text_options["source"] == "pair"
    stale = bool(clean.strip() and corrupted.strip()) and causal_ui.written_for_another(clean, corrupted, paired)
    links.publish_options({**text_options, "target": target_label.link_value(choice), "mode": mode,
                           "stat": st.session_state.causal_statistic,
                           **({"corrupted": ""} if stale else {})})  # a link patches no text this view does not
    if not causal_ui.within_demo_limit(name, clean, corrupted, paired):
        pass  # said, before asking for the other text: a demo's over-long sidebar text cannot be patched at all
    elif not clean.strip() or not corrupted.strip():
        causal_ui.missing_text(name, clean, paired)
    elif stale:
        st.info("The corrupted text was written for another clean text: *Find a counterfactual* fills it from the "
                "sidebar text, or edit it to patch.")
    else:
        try:
            patched = causal_ui.get_patching(name, clean, corrupted, target)
        except InputError as error:
            show_problem(error, "info")
        else:
            st.caption(views.patch_summary(patched))
            for note in patched.notes:  # may quote the text (where a long one is cut): escaped
                st.caption(markdown_literal(note))
            tabs = st.tabs(["Residual stream", "Attention output", "MLP output"])
            for tab, which in zip(tabs, views.MAPS):
                with tab:
                    if getattr(patched, which) is None:
                        st.info("This model's family declares no MLP to patch.")
                    else:
                        chart(views.position_map(patched, which), f"patch_{which}")
            chart(views.patched_heads(patched), "patch_heads")
            causal_ui.top_heads(patched.top_heads(5), "restored", "causal_patch",
                                "No head restores any of the logit difference on its own.")

    st.subheader("Head ablation")
    st.caption(
        "Each head's output removed in turn on the sidebar text: the change of the target logit. Beside it, "
        "an attention-based head statistic, and how far the two agree (Spearman's rank correlation)."
    )
    if not demo.within_trace_limit("head ablation", trace, "patching_tokens"):
        links.stop()  # patching above may still run on two typed texts within the limit
    summary = st.empty()
    # the choice above both maps, so the two start level and compare cell by cell
    statistic = st.columns(2)[1].selectbox("Head statistic (right map)", FIELDS, key="causal_statistic",
                                           format_func=field_title)  # as the caption says
    left, right = st.columns(2)
    with right:  # from the Trace: drawn while every head is ablated beside it
        values = getattr(caches.get_attention_derived(name, text).statistics, statistic)
        chart(
            views.head_map(values, field_title(statistic), statistic, statistic, diverging=False), "head_statistic"
        )
    with left:
        try:
            ablation = causal_ui.get_ablation(name, text, target, mode)
        except InputError as error:
            show_problem(error, "info")
            links.stop()
        chart(views.ablated_heads(ablation), "ablation")
    with summary.container():
        st.caption(
            f"{markdown_label(ablation.target_label)}: logit {ablation.baseline_logit:.3f}, probability "
            f"{ablation.baseline_probability:.1%}{dense_suffix(ablation.notes)} · {ablation.forward_passes} batched "
            f"forward pass{'' if ablation.forward_passes == 1 else 'es'}, "
            f"{ablation.layer_evaluations:,} layer evaluations"
        )
        for note in ablation.notes:
            st.caption(markdown_literal(note))
    if not progressive.rest_may_follow(("causal", name, text, target, mode)):
        links.stop()  # layer effects and the top heads follow once the browser has drawn both maps
    st.caption(views.rank_correlation_caption(ablation.importance, values, field_title(statistic)))
    if ablation.mlp is not None or ablation.marker_off is not None or ablation.gate_pinned is not None:
        chart(views.layer_effects(ablation), "layers")
    causal_ui.top_heads(ablation.top_heads(5), "logit change", "causal_ablation",
                        "No head's removal lowers the target logit: none supports it on its own.")
