"""Streamlit glue of the Compare page's model B: the natural pairs, the picker (a box for any model locally, the
offered list in demo mode), and B loaded with its error said on the page."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import pandas as pd
import streamlit as st

from explainer.capture.validation import label_key
from explainer.evaluation.compare import TextComparison
from explainer.families import sizes
from explainer.loading import shipped
from explainer.loading.bundle import ModelBundle
from explainer.ui import caches, labelled, links, progressive, text_box
from explainer.ui import demo as demo_mode
from explainer.ui.widget_state import resend
from explainer.views import attribution as attribution_figures
from explainer.views import evaluation as evaluation_figures
from explainer.views.text import MISSING, markdown_literal, plural

KEY = "compare_model_b"
PAIR_KEY = "compare_pair"


def _use_pair() -> None:
    """A natural pair picked: the sidebar's model becomes A, the picker B."""
    pair = st.session_state[PAIR_KEY]
    if pair is not None:
        st.session_state.model_choice, st.session_state[KEY] = pair.left, pair.right
        st.session_state[PAIR_KEY] = None


def _model_names() -> list[str]:
    """What B may be picked from by name: the demo's offered models, else the shipped ones."""
    demo = demo_mode.config()
    return list(demo.model_names) if demo else [m.name for m in shipped.available()]


def pair_picker(name_a: str) -> str:
    """The natural pairs (only of offered models in demo mode) and B's first value from the link (A's natural
    partner, else another model); returns that default."""
    names = _model_names()
    others = [name for name in names if name != name_a] or names
    pairs = [p for p in shipped.available_pairs() if {p.left, p.right} <= set(names)]
    # its natural partner, when it has one: the first pair it is in, either side (sst2-minilm-baseline got
    # sst2-baseline, its left pair's partner, not its twin with markers and beacons, the pair listed first)
    twin = next((p.right if p.left == name_a else p.left for p in pairs if name_a in (p.left, p.right)), None)
    default = twin or others[0]
    raw = links.from_link(KEY, "model_b")
    links.seed_option(KEY, "model_b", str, default)
    if raw is not None and demo_mode.config() is not None and raw not in names:  # model_b() uses the default
        links.tell_adjusted("model_b", raw, f"is not offered here; {links.shown_value(default)} is used")
    if pairs:
        st.selectbox("Natural pairs", pairs, index=None, key=PAIR_KEY, on_change=_use_pair,
                     format_func=lambda p: f"{p.question}: {p.left} vs {p.right}",
                     placeholder="Pick a pair to load both models…")
    return default


def model_b(column, default: str) -> ModelBundle | None:
    """B's picker in `column` and B loaded; None after saying why there is none. Demo mode: B comes from the
    config's list like A (no box to type a folder or hub id into), and a load error names nothing of the server."""
    demo = demo_mode.config()
    names = _model_names()
    if demo:
        if st.session_state.get(KEY) not in names:  # a link naming anything else: the default
            st.session_state[KEY] = default
        resend(KEY)  # a select box here (a text box outside demo mode: text_box.text_input)
        name = column.selectbox("Model B", names, key=KEY)
    else:
        name = text_box.text_input("Model B (shipped name, folder or hub id)", KEY, column,
                                   help="Shipped: " + ", ".join(names)).strip()
    links.publish_options({"model_b": name})  # empty: model_b leaves the link
    if not name:
        st.info("Enter model B above: a shipped name (" + ", ".join(names) + "), a model folder or a hub id.")
        return None
    try:
        return caches.get_bundle(name)
    except Exception as error:  # a foreign checkpoint may throw anything: say it, keep the page alive
        st.error(markdown_literal(f"Model B: {name} cannot be loaded." if demo else f"Model B: {error}"))
        return None


OPEN_WITH_KEY = "compare_open_with"
TABLE_B_KEY = "_compare_table_b"  # model B of the disagreements drawn: a row opens with it, not with B's box now


def open_with_picker() -> bool:
    """Which model a disagreement opens with: A (the sidebar's), or B (True), which then becomes the sidebar's
    model. Drawn with the table, so B is noted as the table's: a row clicked after B's box changed, before the new
    comparison is drawn, is a disagreement of the B that made it."""
    st.session_state[TABLE_B_KEY] = st.session_state.get(KEY, "").strip()
    links.keep_choice(OPEN_WITH_KEY)  # drawn after the page's progressive stop
    return st.radio("Open a row with", ["Model A", "Model B"], horizontal=True, key=OPEN_WITH_KEY,
                    help="Model B becomes the sidebar's model, so the view shows B's side of the mistake.") == "Model B"


def open_disagreement() -> None:
    """The disagreements table's on_select: open the row in the chosen view, with the chosen model (B as picked
    in its box: in demo mode an offered name, never the path it stands for)."""
    with_b = st.session_state.get(OPEN_WITH_KEY) == "Model B"
    model = (st.session_state.get(TABLE_B_KEY) or None) if with_b else None
    sidebar = links.chosen_model()
    if model is not None and sidebar and st.session_state["compare_table"].selection.get("rows"):
        # B becomes the sidebar's model: back on Compare, B is compared with the old A (sides swapped), not with
        # itself ("A and B are the same model"); rows open with the same model as before, now A ("Model B" stayed
        # and opened them with the other one)
        links.set_kept(KEY, sidebar)
        links.set_kept(OPEN_WITH_KEY, "Model A")
    labelled.open_selected("compare_table", "_compare_texts", "compare_view", model)


def _on_or_off(raw: str) -> bool:  # a toggle's link value: "1" on, "0" or "" off (what the page writes)
    if raw.strip() not in ("0", "1", ""):
        raise links.NotOffered("is neither 1 (on) nor 0 (off)")
    return raw.strip() == "1"


def same_layer_toggle(bundle_a: ModelBundle, bundle_b: ModelBundle) -> bool:
    """"Match heads only within the same layer", seeded from and published to the link; off and disabled, with
    the reason, when the two models differ in depth (layer i of one is not layer i of the other)."""
    raw = links.from_link("compare_by_layer", "same_layer")  # the link's, on the toggle's first run only
    links.seed_choice("compare_by_layer", "same_layer", [False, True], parse=_on_or_off)
    layers_a, layers_b = sizes(bundle_a.model.config).layers, sizes(bundle_b.model.config).layers
    label = "Match heads only within the same layer"
    if layers_a != layers_b:
        if raw is not None and raw.strip() == "1":  # dropped from the address without a word otherwise
            links.tell_adjusted("same_layer", raw, f"does not apply here: A has {layers_a} layers and B {layers_b}, "
                                "so heads are matched across all layers")
        st.toggle(label, value=False, disabled=True, key="compare_by_layer_unequal",
                  help=f"A has {layers_a} layers and B {layers_b}: heads are matched across all layers.")
        links.publish_options({"same_layer": ""})  # the choice made before is kept for a pair of equal depth
        return False
    by_layer = st.toggle(label, key="compare_by_layer")
    links.publish_options({"same_layer": "1" if by_layer else ""})
    return by_layer


HEADS_KEY = "_compare_heads"  # the index of the matched pair of heads shown


def pairs_key(compared: tuple) -> str:
    """The pairs table's widget key, one per comparison (models, text, matching): Streamlit keeps a keyed table's
    selection when its rows change, which would carry a row picked for one text over to the next."""
    return "compare_pairs_" + hashlib.sha1(repr(compared).encode("utf-8")).hexdigest()[:12]


def rest_may_follow(compared: tuple) -> bool:
    """progressive.rest_may_follow for this comparison (models, text, matching), which it first records as the one
    a link's pair= was chosen for: the matched pairs come in the page's second run, and a text typed before it is
    another comparison, which chosen_heads starts from the best match (the link's pair was drawn for the new text)."""
    st.session_state.setdefault(HEADS_KEY + "_of", compared)
    # Back or Forward to an address with pair= seeds the pair again, for that address's comparison: forget the
    # comparison it was recorded for too, or the pair of the address left would reset it to the best match.
    links.mark_seeded(HEADS_KEY + "_of", "pair")
    return progressive.rest_may_follow(("compare", *compared))


def chosen_heads(picked, count: int, compared: tuple) -> int:
    """The matched pair shown, an index into the `count` pairs: the row selected in the table, else the link's
    pair= (clamped, with a toast), else the best match; kept while the selection is cleared, and in the link.
    Another comparison (`compared`: models, text, matching) starts again from the best match."""
    # Another comparison first: its best match, before the link's pair is clamped to the new count (which would
    # toast a pair the page then does not show).
    if st.session_state.setdefault(HEADS_KEY + "_of", compared) != compared:
        st.session_state[HEADS_KEY], st.session_state[HEADS_KEY + "_of"] = 0, compared
    links.seed_index(HEADS_KEY, "pair", count, of="these two models' matched pairs")
    rows = picked.selection.get("rows") if picked else None
    if rows:
        st.session_state[HEADS_KEY] = int(rows[0])
        links.keep(HEADS_KEY, "pair")  # kept as picked now: seed_index kept the run's start, one pick behind
    index = min(max(int(st.session_state[HEADS_KEY]), 0), count - 1)
    links.publish_options({"pair": str(index) if index else ""})
    return index


def heads_section(result: TextComparison, chart: Callable, compared: tuple, name_a: str, name_b: str) -> None:
    """The heads of A and B matched by the similarity of their attention maps on this text, a pair's maps side by
    side, and every pair's similarity. On a single unit every map is 1 x 1 and no pattern can be told apart: said,
    instead of pairs "matched" at similarity 0."""
    st.subheader("Attention, heads matched by pattern")
    if len(result.units) < 2:
        why = f" ({result.why_words})" if result.level == "word" else ""
        st.info(f"Compared on {plural(len(result.units), result.level)}{why}: every attention "
                "map is 1 × 1, so no head's pattern differs from another's. Type a longer text to match heads.")
        return
    cut = (result.trace_a.truncated, result.trace_b.truncated)
    st.caption(
        f"Compared on {plural(len(result.units), result.level)}"
        + (f" ({result.why_words}: each model's tokens pooled into words, special tokens left out)"
           if result.level == "word" else " (special tokens included, as both models read them)")
        + (f"; only what both read: {'both models read' if all(cut) else 'one model reads'} just the text's "
           "beginning" if any(cut) else "")
        + f". Similarity: correlation of the two heads' attention maps on this text; mean over the "
        f"{len(result.matching.pairs)} matched pairs {result.matching.mean_similarity:.3f}. Select a pair."
    )
    if notes := evaluation_figures.matching_notes(result.matching, result.level):
        st.caption(notes)
    rows = result.matching.as_rows()
    picked = st.dataframe(pd.DataFrame(rows), hide_index=True, placeholder=MISSING, key=pairs_key(compared),
                          selection_mode="single-row", on_select="rerun", height=240)
    pair = result.matching.pairs[chosen_heads(picked, len(result.matching.pairs), compared)]
    chart(evaluation_figures.paired_heatmaps(result.attention_a[pair.layer_a, pair.head_a],
                                             result.attention_b[pair.layer_b, pair.head_b], result.units,
                                             f"A layer {pair.layer_a}, head {pair.head_a}",
                                             f"B layer {pair.layer_b}, head {pair.head_b} "
                                             f"(similarity {pair.similarity:.3f})", result.level),
          "matched_pair")
    with st.expander("Similarity of every pair of heads"):
        chart(evaluation_figures.similarity_figure(result.matching, name_a, name_b), "similarity")


def attribution_section(result: TextComparison, chart: Callable, name_a: str, name_b: str) -> None:
    """Both models' gradient × input attributions and their rank agreement; in a demo, a text over its attribution
    limit gets the Attribution page's message instead (compare_text computed none)."""
    st.subheader("Attributions")
    agreement = result.agreement
    if agreement is None or result.attribution_a is None or result.attribution_b is None:
        longest = max((result.trace_a, result.trace_b), key=lambda trace: len(trace.tokens))
        demo_mode.within_trace_limit("attributions", longest, "attribution_tokens")
        return
    target, target_b = (markdown_literal(name) for name in result.target_names)
    same = label_key(result.target_names[0]) == label_key(result.target_names[1])  # one label, as compare_text read it
    towards = f"'{target}'" if same else f"'{target}' in A and '{target_b}' in B"
    for note in result.notes:
        st.info(markdown_literal(note))
    st.caption(f"Gradient × input on the token embeddings, towards {towards}, per {result.level}. Spearman and "
               "Kendall rank the signed attributions (a unit against the label ranks low; the Attribution page ranks "
               "by |attribution|); the top-k overlap ranks by |attribution|.")
    units, cells = plural(agreement.units, result.level), st.columns(3)
    cells[0].metric("Spearman rank correlation", attribution_figures.correlation_text(agreement.spearman),
                    help="Of the signed attributions.")
    cells[1].metric("Kendall tau", attribution_figures.correlation_text(agreement.kendall),
                    help="Of the signed attributions.")
    cells[2].metric(f"Top-{agreement.k} overlap", f"{agreement.top_k_overlap:.0%}",
                    help=f"Of the {units} ranked (special tokens left out), the "
                         f"{agreement.k} with the largest |attribution| in both models. Two unrelated rankings "
                         f"share {agreement.chance_overlap:.0%} on average.")
    st.caption(f"Ranked over {units}, special tokens left out; "
               f"top-{agreement.k} overlap by chance: {agreement.chance_overlap:.0%}."
               + ("" if np.isfinite(agreement.spearman) and np.isfinite(agreement.kendall) else
                  " " + attribution_figures.undefined_reason(agreement.units, result.level)))
    chart(evaluation_figures.paired_attributions(result.attribution_a, result.attribution_b, result.units,
                                                 f"A {name_a}", f"B {name_b}", result.level), "attributions")
