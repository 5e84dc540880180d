"""Streamlit AppTest (no JavaScript): the app runs its pages from the sidebar's state and query params."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from explainer.loading import shipped
from explainer.loading.bundle import load_model
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def scratch_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path_factory.getbasetemp() / "app-cache"))


def run_app(query: dict[str, str] | None = None) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in (query or {}).items():
        app.query_params[key] = value
    return app.run()


def test_default_run_shows_prediction_and_attention():
    app = run_app()
    assert not app.exception
    assert any(h.value.startswith("Prediction: ") for h in app.subheader)
    assert len(app.get("plotly_chart")) == 2
    untrained = shipped.default_model_name() == shipped.UNTRAINED_NAME
    assert any("Untrained model" in w.value for w in app.warning) == untrained  # only a placeholder warns
    assert app.query_params["text"] == app.text_area(key="text").value


def test_query_params_seed_text_and_model():
    last = shipped.available()[-1].name
    app = run_app({"text": "A gentle film with a big heart.", "model": last})
    assert not app.exception
    assert app.text_area(key="text").value == "A gentle film with a big heart."
    assert app.selectbox(key="model_choice").value == last


def test_empty_text_gets_a_message_not_an_error():
    app = run_app()
    app.text_area(key="text").set_value("").run()
    assert not app.exception
    assert any("empty" in i.value for i in app.info)
    assert not app.get("plotly_chart")
    # its link reopens the empty view: without text= it opened the default text
    assert app.query_params["text"] in ("", [""])
    reopened = run_app({"model": app.query_params["model"], "text": ""})
    assert reopened.text_area(key="text").value == "" and any("empty" in i.value for i in reopened.info)
    reopened.text_area(key="text").set_value("   ").run()  # spaces only: as empty
    assert any("empty" in i.value for i in reopened.info) and not reopened.get("plotly_chart")


def test_missing_model_folder_is_a_clear_error(tmp_path):
    app = run_app({"model": str(tmp_path / "no-such-model")})
    assert not app.exception
    assert any("not found" in e.value for e in app.error)


def test_changing_head_reuses_the_cached_trace(monkeypatch):
    app = run_app()
    import explainer.ui.caches as caches

    calls = []
    original = caches.trace
    monkeypatch.setattr(caches, "trace", lambda *a, **k: calls.append(a) or original(*a, **k))
    app.number_input(key="overview_head").set_value(1).run()
    assert not app.exception
    assert calls == []


def test_overview_layer_and_head_live_in_the_link():
    app = run_app({"layer": "1", "head": "2"})
    assert not app.exception
    assert (app.number_input(key="overview_layer").value, app.number_input(key="overview_head").value) == (1, 2)
    app.number_input(key="overview_head").set_value(0).run()
    assert app.query_params["layer"] == "1" and app.query_params["head"] == "0"
    clamped = run_app({"layer": "99", "head": "-3"})  # a link made for a bigger model
    layers = clamped.number_input(key="overview_layer").max + 1
    assert clamped.number_input(key="overview_layer").value == layers - 1
    assert clamped.number_input(key="overview_head").value == 0 and not clamped.exception
    default = run_app()
    assert default.number_input(key="overview_layer").value == layers - 1  # the last layer unless the link says


def test_attention_page_draws_every_view_from_one_trace(monkeypatch):
    app = run_app()
    app.switch_page("app_pages/attention.py").run()
    assert not app.exception
    titles = [h.value for h in app.subheader]
    assert titles == [
        "Every head",
        "Layer 0, head 0",
        "bertviz",
        "Head statistics",
        "Attention rollout",
        "Prediction by layer (logit lens)",
    ]
    # grid, head, statistics map, rollout to the first token, rollout matrix, logit lens
    assert len(app.get("plotly_chart")) == 6
    assert len(app.get("iframe")) == 2  # bertviz head view and model view
    table = app.dataframe[0].value
    layers = app.number_input(key="attention_layer").max + 1
    heads = app.number_input(key="attention_head").max + 1
    assert len(table) == layers * heads and {"entropy", "self_share"} <= set(table.columns)
    assert app.query_params["layer"] == "0" and app.query_params["stat"] == "entropy"

    import explainer.ui.caches as caches

    calls = []
    original = caches.trace
    monkeypatch.setattr(caches, "trace", lambda *a, **k: calls.append(a) or original(*a, **k))
    app.number_input(key="attention_layer").set_value(1).run()
    app.number_input(key="attention_head").set_value(1).run()
    app.selectbox(key="attention_statistic").set_value("mean_distance").run()
    app.multiselect(key="bertviz_layers").set_value([0, 1]).run()
    assert not app.exception and calls == []  # every option change reuses the cached Trace
    assert "Layer 1, head 1" in [h.value for h in app.subheader]
    # the link carries the page's options beside model and text
    assert app.query_params["layer"] == "1" and app.query_params["head"] == "1"
    assert app.query_params["stat"] == "mean_distance" and app.query_params["bv_layers"] == "0,1"
    assert app.query_params["model"] and app.query_params["text"]


def test_attention_link_reproduces_the_view():
    query = {"text": "Not good at all.", "layer": "1", "head": "1", "stat": "self_share", "bv_layers": "1"}
    app = AppTest.from_file(str(ROOT / "app_pages" / "attention.py"), default_timeout=120)
    for key, value in query.items():
        app.query_params[key] = value
    app.run()
    assert not app.exception
    assert app.number_input(key="attention_layer").value == 1
    assert app.number_input(key="attention_head").value == 1
    assert app.selectbox(key="attention_statistic").value == "self_share"
    assert app.multiselect(key="bertviz_layers").value == [1]
    assert "Layer 1, head 1" in [h.value for h in app.subheader]


def test_attention_link_with_bad_options_falls_back():
    query = {"layer": "99", "head": "x", "stat": "nonsense", "bv_layers": "a,b", "window": "-5"}
    app = AppTest.from_file(str(ROOT / "app_pages" / "attention.py"), default_timeout=120)
    for key, value in query.items():
        app.query_params[key] = value
    app.run()
    assert not app.exception
    layer = app.number_input(key="attention_layer")
    assert layer.value == layer.max  # clamped to the model's last layer
    assert app.number_input(key="attention_head").value == 0
    assert app.selectbox(key="attention_statistic").value == "entropy"
    assert app.number_input(key="bertviz_window").value == 0
    told = [t.value for t in app.toast]
    assert any(t.startswith("The link's stat=`nonsense` is not offered here (entropy,") for t in told)
    assert any("window=`-5` is outside 0 to" in t and "for this text; 0 is used" in t for t in told)


def test_sidebar_model_switch_and_text_change_carry_to_the_attention_page():
    names = [m.name for m in shipped.available()]
    if len(names) < 2:
        pytest.skip("needs two shipped models")
    app = run_app()
    app.selectbox(key="model_choice").set_value(names[1]).run()
    assert not app.exception
    assert app.query_params["model"] == names[1]
    assert names[1] in " ".join(c.value for c in app.caption)
    app.text_area(key="text").set_value("Utterly wonderful.").run()
    assert not app.exception and app.query_params["text"] == "Utterly wonderful."
    # AppTest runs a switched-to page without app.py's sidebar: the page reads the shared state / link
    app.switch_page("app_pages/attention.py").run()
    assert not app.exception
    assert app.caption[0].value.startswith(f"{names[1]}: predicts")
    tokens = int(app.caption[0].value.split(" tokens")[0].rsplit("· ", 1)[1])
    from explainer import load_model

    assert tokens == len(load_model(names[1]).tokenizer("Utterly wonderful.")["input_ids"])  # the new text


# ---- Compare ----------------------------------------------------------------------------------------------------


def open_compare(query: dict[str, str]) -> AppTest:
    app = run_app(query)
    app.switch_page("app_pages/compare.py").run()
    assert not app.exception, app.exception
    return app


def test_compare_link_follows_model_b_when_it_fails_or_is_cleared():
    app = open_compare({"text": "A gentle film"})
    assert app.query_params.get("model_b")  # the default B is in the link
    app.text_input(key="compare_model_b").set_value("no-such-model").run()
    assert not app.exception and any("Model B" in e.value for e in app.error)
    assert app.query_params["model_b"] in ("no-such-model", ["no-such-model"])  # the B the page shows
    app.text_input(key="compare_model_b").set_value("  ").run()
    assert not app.exception and any("Enter model B" in i.value for i in app.info)
    assert "model_b" not in app.query_params  # no B shown, none in the link


def _pairs_table(app: AppTest, text: str):
    from explainer.ui.compare import pairs_key

    model_b = app.query_params["model_b"]
    model_b = model_b if isinstance(model_b, str) else model_b[0]
    return pairs_key((app.session_state["model_choice"], model_b, text, False))


def test_compare_keeps_the_shown_pair_of_heads_in_the_link():
    text = "A gentle film with a big heart"
    app = open_compare({"text": text})
    assert "pair" not in app.query_params  # the best match: the default, not written
    table = _pairs_table(app, text)
    pairs = app.dataframe(key=table).value
    shared = open_compare({"text": text, "pair": "2"})
    layer, head = pairs["A head"].iloc[2][1:].split(".H")
    shown = " ".join(chart.proto.spec for chart in shared.get("plotly_chart"))
    assert not shared.toast and shared.query_params["pair"] in ("2", ["2"])
    assert f"A layer {layer}, head {head}" in shown and f"similarity {pairs['similarity'].iloc[2]:.3f}" in shown
    app.session_state[table] = {"selection": {"rows": [3], "columns": []}}  # a row picked in the table
    app.run()
    assert not app.exception and app.query_params["pair"] in ("3", ["3"])
    app.switch_page("app_pages/overview.py").run()  # away and back: the pick kept (it came back as the best match)
    app.switch_page("app_pages/compare.py").run()
    assert not app.exception and app.query_params["pair"] in ("3", ["3"])
    app.text_area(key="text").set_value("A dull film").run()  # another text: the best match again
    assert not app.exception and "pair" not in app.query_params
    clamped = open_compare({"text": text, "pair": "9999"})
    assert [t.value for t in clamped.toast] and clamped.query_params["pair"] in (
        str(len(pairs) - 1), [str(len(pairs) - 1)])


def test_compare_on_one_word_says_why_there_is_no_rank_correlation():
    app = open_compare({"text": "terrible"})
    values = {m.label: m.value for m in app.metric}
    assert values["Spearman rank correlation"] == "not defined" and values["Kendall tau"] == "not defined"
    captions = " ".join(c.value for c in app.caption)
    assert "nan" not in captions.lower().split() and "1 tokens" not in captions and "1 words" not in captions
    assert "not defined for fewer than 2" in captions
    assert "signed attributions" in captions  # which Spearman this is (the Attribution page ranks |attribution|)


def test_compare_says_when_both_models_read_only_the_beginning():
    """Both shipped from-scratch models read 64 tokens: the caption said "one model reads just the text's
    beginning"."""
    text = " ".join(["A gentle film with a big heart and a sharp script."] * 40)
    app = open_compare({"text": text, "model": "sst2-thought-beacon", "model_b": "sst2-baseline"})
    captions = " ".join(caption.value for caption in app.caption)
    assert "only what both read: both models read just the text's beginning" in captions
    assert "one model reads" not in captions
    # the same tokens: compared with [CLS]/[SEP], which words leave out (the numbers differ a lot): said which
    assert "(special tokens included, as both models read them)" in captions


def test_compare_on_one_word_matches_no_heads_on_one_by_one_maps():
    """One word at word level: every map 1 x 1, all 16 pairs "matched" at similarity 0, chosen arbitrarily."""
    app = open_compare({"text": "unquestionably", "model": "sst2-minilm-baseline", "model_b": "sst2-baseline"})
    assert any("Compared on 1 word (the two tokenisers differ): every attention map is 1 × 1" in i.value
               for i in app.info)
    assert not any("matched pairs" in c.value for c in app.caption)
    assert any(m.label == "Spearman rank correlation" for m in app.metric)  # the attributions still follow


def test_compare_names_the_heads_left_without_a_partner():
    """MiniLM (6 x 12 heads) against the from-scratch model (4 x 4): "16 matched pairs" said nothing of the 56
    heads of A that no head of B could partner."""
    app = open_compare({"text": "An unquestionably gentle film.", "model": "sst2-minilm-baseline",
                        "model_b": "sst2-baseline"})
    assert any(c.value == "56 of A's 72 heads have no partner." for c in app.caption), [c.value for c in app.caption]


def test_compare_on_words_says_special_tokens_are_left_out():
    app = open_compare({"text": "An unquestionably gentle film.", "model": "sst2-minilm-baseline",
                        "model_b": "sst2-baseline"})
    captions = " ".join(caption.value for caption in app.caption)
    assert "each model's tokens pooled into words, special tokens left out" in captions


def test_another_comparison_starts_from_the_best_match_without_a_toast_for_the_old_pair():
    """Pair 60 of MiniLM's 72 chosen, then model A changed to a model with 16 pairs: a toast said pair 15 was used,
    while the page drew pair 0 (another comparison starts from the best match)."""
    from explainer.ui.compare import pairs_key

    text = "A gentle film with a big heart and a quiet triumph of an ending that I loved."
    app = open_compare({"text": text, "model": "sst2-minilm-thought-beacon"})
    model_b = app.query_params["model_b"]
    app.session_state[pairs_key(("sst2-minilm-thought-beacon", model_b, text, False))] = {
        "selection": {"rows": [60], "columns": []}}
    app.run()
    assert app.query_params["pair"] in ("60", ["60"])
    app.selectbox(key="model_choice").set_value("sst2-thought-beacon").run()
    assert not app.exception and not [toast.value for toast in app.toast if "pair" in toast.value]
    assert "pair" not in app.query_params  # the best match: the link leaves it out


def test_a_linked_pair_is_not_applied_to_a_text_typed_before_the_pairs_were_drawn(monkeypatch):
    """In a browser the matched pairs come in the page's second run. A visitor who typed a new text before it got
    the link's pair= (chosen for the link's text) drawn for the new text: another comparison starts from the best
    match."""
    from explainer.ui import progressive

    monkeypatch.setattr(progressive, "_in_browser", lambda: True)
    text = "A gentle film with a big heart"
    app = open_compare({"text": text, "pair": "3"})  # the first section only: the browser has drawn nothing
    assert not app.exception and not app.dataframe
    app.text_area(key="text").set_value("A dull film").run()
    drawn = ("compare", app.session_state["model_choice"], _linked(app, "model_b"), "A dull film", False)
    progressive._mark_drawn(progressive.token(drawn), app.session_state)  # the browser drew its first figure
    app.run()  # the run the browser's report starts: the rest, for the new text
    assert not app.exception and app.dataframe
    assert "pair" not in app.query_params and not app.toast, app.query_params


def _linked(app: AppTest, name: str) -> str:
    value = app.query_params[name]
    return value if isinstance(value, str) else value[0]


def assert_the_default_last_layer_follows_the_model(app: AppTest, widget, deeper: str, shallow: str, last: int,
                                                     param: str) -> None:
    """`widget()` (a layer input at its default, the last layer `last` of model `deeper`) follows a switch to the
    model `shallow` of one layer fewer and back, with no toast; a layer chosen stays."""
    assert widget().value == last
    app.text_input(key="model_other").set_value(shallow).run()
    assert not app.exception and widget().value == last - 1
    assert not [t.value for t in app.toast if f"{param}=" in t.value]  # the default moved; nothing was clamped
    app.text_input(key="model_other").set_value(deeper).run()
    assert widget().value == last
    widget().set_value(last - 2).run()  # chosen: it stays
    app.text_input(key="model_other").set_value(shallow).run()
    assert widget().value == last - 2
    app.text_input(key="model_other").set_value(deeper).run()
    assert widget().value == last - 2
    # chosen where it equals the shallower model's default: still a choice when the deeper model comes back (it
    # was taken for the shallower default, never moved, and replaced by the deeper model's last layer)
    widget().set_value(last - 1).run()
    app.text_input(key="model_other").set_value(shallow).run()
    assert widget().value == last - 1
    app.run()  # a rerun on the shallower model (a widget, the progressive rest) leaves it a choice
    app.text_input(key="model_other").set_value(deeper).run()
    assert widget().value == last - 1
    widget().set_value(last).run()  # back at the default: it follows the model again
    app.text_input(key="model_other").set_value(shallow).run()
    assert widget().value == last - 1 and not [t.value for t in app.toast if f"{param}=" in t.value]


def test_the_overview_s_default_last_layer_follows_the_model(checkpoint, tokenizer, tmp_path):
    """The Overview shows the last layer by default: switching to a model of fewer layers toasted "The chosen
    layer=2 is outside…" though nothing was chosen, and switching back left it at the smaller model's last."""
    from tests.conftest import build_model, save_checkpoint

    deeper = str(save_checkpoint(build_model("bert", num_hidden_layers=3), tokenizer, tmp_path / "deeper"))
    app = run_app({"model": deeper, "text": "a fine film"})
    assert_the_default_last_layer_follows_the_model(app, lambda: app.number_input(key="overview_layer"), deeper,
                                                    str(checkpoint("bert")), 2, "layer")


def test_a_head_a_smaller_model_clamped_comes_back_on_the_larger_one(checkpoint, tokenizer, tmp_path):
    """Layer 2, head 7 on a 3-layer, 8-head model became 1 and 3 on a 2 x 4 one (with a toast), and stayed 1 and 3
    when the larger model came back: Attention's default layer is 0 on every model, so the switch went unseen."""
    from tests.conftest import build_model, save_checkpoint

    larger = str(save_checkpoint(build_model("bert", num_hidden_layers=3, num_attention_heads=8), tokenizer,
                                 tmp_path / "larger"))
    smaller = str(checkpoint("bert"))
    app = AppTest.from_file(str(ROOT / "app_pages" / "attention.py"), default_timeout=120)
    app.query_params.update({"model": larger, "text": "a fine film"})
    app.run()
    app.number_input(key="attention_layer").set_value(2).run()
    app.number_input(key="attention_head").set_value(7).run()
    from explainer.ui.links import OTHER_MODEL

    app.session_state["model_choice"] = OTHER_MODEL  # the sidebar is app.py's: this page reads the chosen model
    for model, shown in ((smaller, (1, 3)), (larger, (2, 7)), (smaller, (1, 3))):
        app.session_state["model_other"] = model
        app.run()
        assert not app.exception, model
        assert (app.number_input(key="attention_layer").value, app.number_input(key="attention_head").value) == shown
    assert any("head" in t.value and "is outside 0 to 3" in t.value for t in app.toast)


def _after_a_switch_that_dropped_the_folder_box() -> None:
    """AppTest script: the session's state after a page switch in the browser, which drops the text boxes' values
    (AppTest keeps them): the picker says "Other", the folder box's value is gone; then the sidebar is seeded."""
    import streamlit as st

    from explainer.ui import links

    if "step" not in st.session_state:
        st.session_state.step = 1
        links.choose_model("/models/mine")  # typed into the box once (session.sidebar notes each value too)
        st.session_state.text = "a film"
    st.session_state.pop("model_other", None)
    links.seed_sidebar()
    st.write(repr(links.chosen_model()))


@pytest.mark.parametrize("linked, chosen", [(None, "/models/mine"), ("/models/linked", "/models/linked")])
def test_a_page_switch_keeps_a_model_typed_into_the_folder_box(linked, chosen):
    """Opening a row of the Errors table (no model= in the switch: the sidebar's stays) or a head from Causal
    (model= carried) with a model from a folder showed "Enter a model folder or hub id in the sidebar.", and the
    link lost its model."""
    app = AppTest.from_function(_after_a_switch_that_dropped_the_folder_box, default_timeout=60)
    if linked:
        app.query_params["model"] = linked
    app.run()
    assert not app.exception, app.exception
    assert app.markdown[0].value == repr(chosen)


def test_a_pages_figures_save_under_the_pages_name():
    # the camera button and the HTML download saved grid.png, head.html: files of two pages overwrote each other
    import json

    for page in ("attention", "overview"):  # (plotly's own name for a chart without one: newplot.png)
        app = AppTest.from_file(str(ROOT / "app_pages" / f"{page}.py"), default_timeout=120).run()
        configs = [json.loads(chart.proto.config) for chart in app.get("plotly_chart")]
        names = {config.get("toImageButtonOptions", {}).get("filename", "newplot") for config in configs}
        assert names and all(name.startswith(f"{page}-") for name in names), names


def test_the_overview_says_what_the_model_is_from_its_card(checkpoint, tmp_path):
    # the card's summary reached only the downloaded report; the page a stakeholder is shown had none
    import shutil

    app = run_app()
    about = [c.value for c in app.caption if c.value.startswith("About this model: ")]
    assert len(about) == 1 and "SST-2" in about[0] and "load_model" not in about[0]
    folder = shutil.copytree(checkpoint("bert"), tmp_path / "carded")
    (folder / "README.md").write_text("# carded\n\nA *tiny* model <b>for</b> [tests](http://x.org).\n")
    app = run_app({"model": str(folder), "text": "a fine film"})
    about = [c.value for c in app.caption if c.value.startswith("About this model: ")]
    assert about == ["About this model: A tiny model \\<b\\>for\\</b\\> tests."], about  # markup as text
    (folder / "README.md").unlink()  # no card: nothing said
    app = run_app({"model": str(shutil.copytree(checkpoint("bert"), tmp_path / "bare")), "text": "a fine film"})
    assert not [c.value for c in app.caption if c.value.startswith("About this model")]


def test_text_read_as_the_unknown_token_is_said_on_the_page():
    app = run_app({"text": "Le film 😍🔥 but the ending was boring"})
    assert not app.exception, app.exception
    said = [i.value for i in app.info if "unknown token" in i.value]
    assert len(said) == 1 and "The text: 1 of its 8 tokens is" in said[0], said  # "😍🔥": one [UNK]
    plain = run_app({"text": "The film was boring"})
    assert not [i.value for i in plain.info if "unknown token" in i.value]


def test_a_right_to_left_label_keeps_its_percentage_in_place(tmp_path, tokenizer):
    """A Hebrew label took "(83.4%)" into its direction ("(%83.4) חיובי"): the Overview's heading, the Attention
    page's caption and the report set the label apart (the heading and the report checked here)."""
    from explainer.report.building import build_report
    from tests.conftest import build_model, save_checkpoint

    names = {0: "שלילי", 1: "חיובי"}
    model = build_model("bert", id2label=names, label2id={name: i for i, name in names.items()})
    folder = str(save_checkpoint(model, tokenizer, tmp_path / "model"))
    app = run_app({"model": folder, "text": "a fine film"})
    assert not app.exception, app.exception
    heading = next(h.value for h in app.subheader if h.value.startswith("Prediction:"))
    assert any(f"Prediction: \u2068{name}\u2069 (" in heading for name in names.values()), heading
    document = build_report(load_model(folder, device="cpu"), "a fine film", ["overview"])
    assert "<bdi>שלילי</bdi>" in document and "<bdi>חיובי</bdi>" in document
    assert any(f"Prediction: <b>\u2068{name}\u2069 (" in document for name in names.values())
