"""Activation beacons: the gates per layer and token, what a threshold tau skips and saves, pinning gates, and
accuracy against compute over tau on a data set. Models without beacons get the measured MLP update ratio.
Options live in the shareable link (tau, pin_layers, pin_pos, pin)."""

import pandas as pd
import streamlit as st

from explainer.loading import shipped
from explainer.thought_beacon import beacons
from explainer.thought_beacon.interventions import compare, gate_pins
from explainer.ui import export, links, progressive, session
from explainer.ui import thought_beacon as tb
from explainer.views import thought_beacon as tb_figures
from explainer.views.text import MISSING, markdown_label, markdown_literal, plural, tau_text

PIN_VALUES = {"open (1: run the MLP in full)": 1.0, "shut (0: no MLP update; skipped when τ > 0)": 0.0}


def _pin_choice(raw: str) -> str:
    names = {value: name for name, value in PIN_VALUES.items()}
    if float(raw) not in names:
        raise links.NotOffered("is neither 0 (shut) nor 1 (open)")
    return names[float(raw)]


st.title("Activation beacons")
st.markdown(
    "Each layer has a small **beacon** gate per word that decides how much of the layer's feed-forward network "
    "(MLP) to apply there. Where the gate is below a threshold **τ** the MLP is **skipped** outright, which is "
    "where compute is saved; higher τ skips more."
)
trace = session.current_trace()
if trace is not None and trace.beacon_gates is None:
    tb.offer_switch(trace.model_name, "On a ThoughtBeacon model this page shows the gate of every layer and word, "
                    "which MLP evaluations a threshold τ skips and the compute saved, lets you pin gates open or "
                    "shut, and plots accuracy against compute over τ.", "use_beacons")
    if trace.mlp_update_ratio is not None:
        st.subheader("Measured MLP update ratio (this model has no beacons)")
        st.caption("Not a gate: how large each layer's MLP update is next to the word's state, ‖MLP(h)‖ / ‖h‖, "
                   "measured in the forward pass. Small values mark MLP evaluations that change little.")
        st.plotly_chart(tb_figures.mlp_ratio_map(trace), width="stretch", key="beacons_ratio_map",
                        config=export.image_config("mlp-update-ratio", "png"))
    elif trace.family_notes:  # a family the per-architecture table lacks: which, and how to add it
        st.info(markdown_literal(" ".join(trace.family_notes)))
elif trace is not None:
    bundle = session.selection().bundle
    config = bundle.model.config
    model_tau = float(config.beacon_threshold)
    layers, count = trace.beacon_gates.shape
    chart = export.image_config("beacons", "png")  # saved as beacons.png, not plotly's newplot.png
    own = beacons.input_compute(trace, config)
    rate, dev_name = beacons.reported_dev(bundle.folder or shipped.resolve(bundle.name), model_tau) or (None, "")
    note = beacons.mostly_skipped_note(own.skip_rate, rate, model_tau, markdown_literal(dev_name),  # a file's name
                                       trace.thought_markers is not None)
    if note is not None:
        st.info(note)
    tb.seed_tau("beacons_tau", trace.model_name, model_tau)
    tau = st.slider("Threshold τ", 0.0, 1.0, step=tb.TAU_STEP, key="beacons_tau",
                    help=f"The model's own τ is {tau_text(model_tau)}, which the other pages show its predictions "
                         "at. τ = 0 runs every MLP (scaled by its gate).")
    at_tau = trace if float(tau) == model_tau else tb.intervened(trace.model_name, trace.text, float(tau))
    if at_tau is not None:
        saved = beacons.input_compute(at_tau, config)
        cols = st.columns(4)
        cols[0].metric("MLP evaluations skipped", f"{saved.skip_rate:.1%}", f"{saved.skipped} of {saved.slots}",
                       delta_color="off", delta_arrow="off")
        cols[1].metric("MLP FLOPs saved", f"{saved.skip_rate:.1%}")
        cols[2].metric("Total FLOPs saved", f"{saved.total_flops_saved:.1%}")
        cols[3].metric("Prediction at this τ", markdown_label(at_tau.predicted_label),  # a value is markdown
                       f"{at_tau.probabilities.max():.1%}", delta_color="off", delta_arrow="off",
                       help=f"The other pages show the prediction at the model's own τ, {tau_text(model_tau)}")
        st.plotly_chart(tb_figures.gate_map(at_tau), width="stretch", key="beacons_gate_map", config=chart)
        if not progressive.rest_may_follow(("beacons", trace.model_name, trace.text, float(tau))):
            links.stop()  # the skip mask, pins and the accuracy curve follow once the browser has drawn the gates
        st.plotly_chart(tb_figures.skip_mask_map(saved.skip_mask, at_tau, float(tau)), width="stretch",
                        key="beacons_skip_map", config=chart)

        st.subheader("Pin gates")
        st.caption("Force gates open or shut at the chosen layers and tokens and re-run the model at this τ.")
        tb.seed_slots("beacons_pin", "pin_layers", "pin_pos", at_tau, "pinning")
        links.seed_choice("beacons_pin_value", "pin", list(PIN_VALUES), parse=_pin_choice)
        pin_layers, positions = tb.choose_slots(at_tau, "beacons_pin")
        value = PIN_VALUES[st.radio("Pin to", list(PIN_VALUES), key="beacons_pin_value", horizontal=True)]
        links.publish_options({"tau": tau_text(tau), "pin_layers": links.joined(pin_layers),
                               "pin_pos": links.joined(positions), "pin": f"{value:g}"})
        pins = gate_pins(pin_layers, positions, value)
        pinned = tb.intervened(trace.model_name, trace.text, float(tau), (), pins) if pin_layers else None
        if pinned is None:
            st.caption("Choose at least one layer to pin.")
        else:
            change = compare(at_tau, pinned, pins)
            after = beacons.input_compute(pinned, config)
            st.markdown(f"Prediction: {tb.prediction_line(at_tau)} → after pinning: {tb.prediction_line(pinned)}"
                        + (" · **the label flipped**" if change.flipped else ""))
            st.caption(f"MLP evaluations skipped: {saved.skip_rate:.1%} → {after.skip_rate:.1%}; "
                       f"{plural(change.changed_skips, 'skip decision')} changed: "
                       f"{change.changed_skips - change.changed_skips_elsewhere} at the pinned slots, "
                       f"{change.changed_skips_elsewhere} elsewhere (later layers see a different state).")
            left, right = st.columns([1, 2])
            left.plotly_chart(tb_figures.prediction_change(at_tau, pinned, "pinned"), width="stretch",
                              key="beacons_pin_bars", config=chart)
            right.plotly_chart(tb_figures.gate_map(pinned, "Gates after pinning"), width="stretch",
                               key="beacons_pin_map", config=chart)

    st.subheader("Accuracy against compute")
    st.caption("The evaluation run once per τ (0 to 1 in steps of 0.05, plus the model's own) over a labelled "
               "data set: accuracy, share of MLP evaluations skipped and of total FLOPs saved.")
    grid = beacons.sweep_taus(bundle.model.config.beacon_threshold)  # the default sweep's taus: a pass each per row
    data = tb.dataset_picker("beacons_data", bundle.label_names, results_of=(bundle, "sweep"),
                             work=(len(grid), "the sweep"))
    if data is not None:
        taus = tb.sweep_grid("beacons_data")  # a results folder's own, else the default grid
        result = beacons.load_cached_sweep(bundle, data, taus)
        if result is None:
            result = tb.run_button("Run the sweep", "beacons_sweep", "Sweeping τ…",
                                   lambda progress: beacons.cached_sweep(bundle, data, taus=taus,
                                                                         progress=progress)[0], data)
        if result is None:
            st.caption(f"Not run yet for this model and data: {len(beacons.sweep_taus(model_tau, taus))} passes over "
                       f"{len(data):,} text{'s' if len(data) != 1 else ''}; cached on disk afterwards.")
        else:
            st.plotly_chart(tb_figures.tau_curve(result, float(tau)), width="stretch", key="beacons_curve",
                            config=chart)
            if not result["monotone_skip_rate"]:
                st.caption("The skip rate is not monotone in τ here: skipping early MLPs changes later gates.")
            st.dataframe(pd.DataFrame(result["points"]).round(4), hide_index=True, placeholder=MISSING, width="stretch",
                         key="beacons_table")
