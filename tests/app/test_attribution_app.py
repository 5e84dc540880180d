"""AppTest of the Attribution page (no JavaScript): every section draws, the link carries the options, the
options change what is shown, and a bad link falls back."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from explainer.attribution import AttributionOptions
from explainer.attribution.options import GRAPH_THRESHOLD as DEFAULT_THRESHOLD
from explainer.ui.target_label import PREDICTED
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
PAGE = str(ROOT / "app_pages" / "attribution.py")


@pytest.fixture(autouse=True)
def scratch_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path_factory.getbasetemp() / "app-cache"))


def run_page(query: dict[str, str]) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=300)
    for key, value in query.items():
        app.query_params[key] = value
    return app.run()


def test_page_draws_every_section_from_the_link():
    query = {"text": "A warm, <b>funny</b> film.", "method": "layer_conductance", "baseline": "mask",
             "target": "negative", "threshold": "0.1"}
    app = run_page(query)
    assert not app.exception, app.exception
    assert app.selectbox(key="attribution_method").value == "layer_conductance"
    assert app.radio(key="attribution_baseline").value == "mask"
    assert app.slider(key="attribution_threshold").value == pytest.approx(0.1)
    subheaders = [h.value for h in app.subheader]
    for title in ("Layer conductance", "Every method", "Faithfulness", "Agreement between methods",
                  "Attribution graph"):
        assert title in subheaders
    # bars, layers heatmap, curves, two agreement maps, the graph
    assert len(app.get("plotly_chart")) == 6
    assert "attributing **negative**" in app.caption[0].value
    assert "with every MLP update run (dense)" in app.caption[0].value  # the shipped default has beacons
    markdown = " ".join(m.value for m in app.markdown)
    assert "&lt;" in markdown and "&gt;" in markdown and "<b>" not in markdown  # the user's markup stays text
    assert any("Convergence delta" in c.value for c in app.caption)
    assert app.query_params["method"] == "layer_conductance" and app.query_params["target"] == "negative"


def test_changing_method_and_threshold_updates_the_view():
    app = run_page({"text": "Dull and far too long."})
    assert not app.exception
    assert app.selectbox(key="attribution_method").value == "integrated_gradients"
    assert len(app.get("plotly_chart")) == 5  # no layer heatmap for integrated gradients
    edges_before = next(c.value for c in app.caption if " edges · " in c.value)
    app.selectbox(key="attribution_method").set_value("occlusion").run()
    assert not app.exception and "Occlusion" in [h.value for h in app.subheader]
    assert not any("Convergence delta" in c.value for c in app.caption)
    app.slider(key="attribution_threshold").set_value(0.0).run()
    edges_after = next(c.value for c in app.caption if " edges · " in c.value)
    assert int(edges_after.split()[0]) >= int(edges_before.split()[0])
    assert app.query_params["method"] == "occlusion" and app.query_params["threshold"] == "0.00"


def test_bad_link_falls_back_and_empty_text_gets_a_message():
    app = run_page({"text": "Fine.", "method": "magic", "baseline": "noise", "target": "nobody", "threshold": "x"})
    assert not app.exception
    assert app.selectbox(key="attribution_method").value == "integrated_gradients"
    assert app.radio(key="attribution_baseline").value == "pad"
    picker = app.selectbox(key="attribution_target")
    assert picker.value == PREDICTED and picker.index == 0  # shown as "Predicted label", not an empty box
    empty = run_page({"text": "   "})
    assert not empty.exception and empty.info


@pytest.mark.parametrize("threshold, used", [("nan", DEFAULT_THRESHOLD), ("inf", DEFAULT_THRESHOLD), ("-5", 0.0),
                                              ("7", 1.0)])
def test_a_threshold_that_is_not_a_finite_fraction_falls_back_or_clamps(threshold, used):
    app = run_page({"text": "Fine.", "method": "graph", "threshold": threshold})
    assert not app.exception  # "nan" once passed the clamp (max(nan, 0) is nan) and failed the graph
    assert app.slider(key="attribution_threshold").value == pytest.approx(used)  # not a number: the default
    assert app.query_params["threshold"] == f"{used:.2f}"  # the link says what is used


def test_expensive_sections_wait_to_be_asked_for(monkeypatch):
    from explainer.attribution import inputs as attribution_inputs

    monkeypatch.setattr(attribution_inputs, "AUTO_BUDGET", 0)  # as if the input were long and the model large
    app = run_page({"text": "A long, long film."})
    assert not app.exception
    assert len(app.get("plotly_chart")) == 1  # only the chosen method's bars
    assert "Every method" not in [h.value for h in app.subheader]
    app.button[0].click().run()
    assert not app.exception
    assert "Attribution graph" in [h.value for h in app.subheader] and len(app.get("plotly_chart")) == 5


def test_every_method_and_its_faithfulness_report_progress_and_the_bar_goes(bundle, monkeypatch):
    from explainer.attribution import METHODS
    from explainer.ui import caches as cache

    monkeypatch.setattr(cache, "get_bundle", lambda name: bundle("bert"))
    options = AttributionOptions(samples=10, conductance_steps=4)
    seen: list[tuple] = []
    results = cache.get_attributions("tiny-bert", "A fine film.", None, options, progress=lambda *a: seen.append(a))
    assert seen == [(i + 1, len(METHODS), m) for i, m in enumerate(METHODS)] and list(results) == list(METHODS)
    seen.clear()
    faithful = cache.get_faithfulness("tiny-bert", "A fine film.", None, options, progress=lambda *a: seen.append(a))
    assert seen == [(i + 1, len(METHODS), m) for i, m in enumerate(METHODS)] and list(faithful) == list(METHODS)

    monkeypatch.undo()  # the page runs on the real default model
    app = run_page({"text": "A fine film."})
    assert not app.exception and "Faithfulness" in [h.value for h in app.subheader]
    assert not app.get("progress")  # emptied once every method is in


def test_legend_follows_the_method_and_one_token_gets_a_note_not_nan():
    app = run_page({"text": "terrible", "method": "rollout"})
    assert not app.exception, app.exception
    captions = [c.value for c in app.caption]
    assert not any("blue supports" in c.lower() for c in captions)  # rollout has no sign
    assert any("unsigned" in c and "does not depend on the label" in c.lower() for c in captions)
    spearman = next(c.proto.spec for c in app.get("plotly_chart") if "Spearman rank correlation" in c.proto.spec)
    assert "fewer than 2 tokens" in spearman and "NaN" not in spearman and "nan" not in spearman.lower()
    app.selectbox(key="attribution_method").set_value("occlusion").run()
    assert any("Blue supports" in c.value for c in app.caption)


def test_options_no_page_offers_are_told_and_replaced():
    app = run_page({"text": "A warm film.", "method": "magic", "baseline": "bar", "target": "neutral"})
    assert not app.exception
    told = " ".join(t.value for t in app.toast)
    for option in ("method=`magic`", "baseline=`bar`", "target=`neutral`"):
        assert f"The link's {option} is not offered here" in told
    assert app.query_params["method"] == "integrated_gradients" and app.query_params["baseline"] == "pad"


def test_scores_that_ran_out_of_steps_get_a_warning_not_a_caption(monkeypatch):
    from explainer.attribution import attributing

    told = f"Layer conductance: it misses completeness by +9 after 4 steps: so {attributing.UNRELIABLE}"
    monkeypatch.setattr(attributing, "completeness_note", lambda *args: told)
    app = run_page({"text": "An unconverged little film.", "method": "layer_conductance"})
    assert not app.exception, app.exception
    assert told in [w.value for w in app.warning] and told not in [c.value for c in app.caption]


def test_a_method_not_reliable_on_this_text_is_marked_in_every_section_that_uses_it(monkeypatch):
    """Layer conductance missing completeness by 172% (a Llama) was warned of on its own view only; its column, its
    faithfulness and its agreement were shown as any other's."""
    from explainer.attribution import attributing

    told = f"Layer conductance: it misses completeness by +9 after 4 steps: so {attributing.UNRELIABLE}"
    monkeypatch.setattr(attributing, "completeness_note",
                        lambda method, *args: told if method == "layer_conductance" else None)
    app = run_page({"text": "A marked little film.", "method": "saliency"})
    assert not app.exception, app.exception
    warned = [w.value for w in app.warning if w.value.startswith("Layer conductance: ")]
    assert len(warned) == 1 and "faithfulness curves and the agreement maps" in warned[0], warned
    table = next(d.value for d in app.dataframe if "token" in d.value.columns)
    marked = [column for column in table.columns if column.endswith("(not reliable)")]
    assert len(marked) == 1 and marked[0].startswith("Layer conductance"), list(table.columns)
    faithfulness = next(d.value for d in app.dataframe if "method" in d.value.columns)
    assert [m for m in faithfulness["method"] if m.endswith("(not reliable)")] == ["Layer conductance (not reliable)"]


def test_a_label_named_predicted_label_is_a_label_of_its_own(tmp_path, tokenizer):
    """The picker offered "Predicted label" twice (the prediction, then the label), and both meant the prediction;
    a link's target=Predicted+label reopened on the prediction too. Streamlit tells entries apart by the text shown,
    so the label's entry reads differently."""
    from explainer import load_model, trace
    from tests.conftest import build_model, save_checkpoint

    model = build_model("bert")
    predicted = trace(load_model(save_checkpoint(model, tokenizer, tmp_path / "plain")), "a fine film").predicted
    labels = {predicted: "other", 1 - predicted: "Predicted label"}  # the label of that name is not the prediction
    model.config.id2label, model.config.label2id = labels, {v: k for k, v in labels.items()}
    folder = str(save_checkpoint(model, tokenizer, tmp_path / "clash"))

    def headline(app: AppTest) -> str:
        return next(c.value for c in app.caption if ": attributing **" in c.value)

    app = run_page({"model": folder, "text": "a fine film", "method": "saliency"})
    picker = app.selectbox(key="attribution_target")
    shown = [name if name == "other" else "Predicted label (a label of the model)" for name in labels.values()]
    assert picker.options == ["Predicted label", *shown] and picker.index == 0  # every entry its own text
    assert "attributing **other**" in headline(app) and "target" not in app.query_params  # no target= in the link
    picker.set_value("Predicted label").run()  # sent as its shown text, as the browser sends it
    assert not app.exception and app.query_params["target"] == "Predicted label"
    assert "attributing **Predicted label**" in headline(app)
    app.selectbox(key="attribution_target").set_value(PREDICTED).run()  # and back to the prediction
    assert "attributing **other**" in headline(app) and "target" not in app.query_params
    again = run_page({"model": folder, "text": "a fine film", "method": "saliency", "target": "Predicted label"})
    assert again.selectbox(key="attribution_target").value == "Predicted label" and not again.toast
    assert "attributing **Predicted label**" in headline(again)
    plain = run_page({"text": "a fine film", "method": "saliency", "target": "Predicted label"})  # an older link
    assert plain.selectbox(key="attribution_target").value == PREDICTED and not plain.toast


def test_a_tokenizer_with_no_mask_token_is_offered_no_mask_baseline(tmp_path, tokenizer):
    # GPT-2-style tokenizers have no mask token: "mask" was offered, and chosen (or linked) left the page empty but
    # for one line; the pad a checkpoint lacks (its end-of-text token) was never named
    import copy

    from tests.conftest import as_read, build_model, save_checkpoint

    bare = copy.deepcopy(tokenizer)
    bare.mask_token = bare.pad_token = None  # padded with its unknown token, as GPT-2 with its end-of-text
    folder = str(save_checkpoint(build_model("gpt2", pad_token_id=None), bare, tmp_path / "gpt2"))
    app = run_page({"model": folder, "text": "a fine film", "method": "saliency", "baseline": "mask"})
    radio = app.radio(key="attribution_baseline")
    assert not app.exception and "mask" not in radio.options and radio.value == "pad"
    assert "No mask baseline: its tokenizer has no mask token" in radio.help
    assert f"Pad is {bare.eos_token or bare.unk_token!r}, the token this model pads with" in as_read(radio.help)
    assert any("baseline=`mask`" in toast.value for toast in app.toast)  # the link's choice, said and replaced
    assert app.query_params["baseline"] == "pad" and app.get("plotly_chart")
    assert "mask" in run_page({"text": "a fine film", "method": "saliency"}).radio(key="attribution_baseline").options
