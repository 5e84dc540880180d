"""Streamlit AppTest of the Errors and Compare pages (no JavaScript: the browser tests click the tables)."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from explainer import load_model
from explainer.data.challenge import DEFAULT_PATH
from explainer.evaluation.error_report import analyse, load_labelled
from explainer.loading import shipped
from explainer.ui.labelled import OPEN_KEY, RESULTS, SOURCES
from explainer.ui.links import OTHER_MODEL
from tests.conftest import ROOT, as_read

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def scratch_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path_factory.getbasetemp() / "errors-app-cache"))


@pytest.fixture(scope="module")
def challenge_report():
    bundle = load_model(device="cpu")
    return analyse(bundle, load_labelled(bundle, DEFAULT_PATH))


def open_page(page: str, query: dict[str, str] | None = None) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    for key, value in (query or {}).items():
        app.query_params[key] = value
    app.run()
    app.switch_page(page).run()
    assert not app.exception, app.exception
    return app


def metric(app: AppTest, label: str) -> str:
    return next(m.value for m in app.metric if m.label == label)


def errors_table(app: AppTest) -> pd.DataFrame:
    return next(d.value for d in app.dataframe if "confidence" in d.value.columns)


def test_errors_page_on_the_challenge_set(challenge_report):
    app = open_page("app_pages/errors.py")
    assert metric(app, "Accuracy") == f"{challenge_report.metrics['accuracy']:.1%}"
    assert metric(app, "Calibration error (ECE)") == f"{challenge_report.calibration.ece:.3f}"
    assert [s.value for s in app.subheader] == ["Confusion matrix", "Calibration", "Misclassified examples"]
    table = errors_table(app)
    assert len(table) == int((~challenge_report.frame["correct"]).sum())
    assert (table["label"] != table["predicted"]).all() and table["confidence"].is_monotonic_decreasing
    assert "correct" not in table  # every row is a mistake: a column of unticked boxes said nothing
    assert len(app.get("plotly_chart")) == 2
    # the shipped set is called by its file name, as its picker shows it: no server path on the page
    assert any(" on challenge_set.csv: 420 examples" in as_read(c.value) for c in app.caption)
    assert not any(str(ROOT) in c.value for c in app.caption)

    app.text_input(key="errors_filter_text").set_value("not").run()
    app.multiselect(key="errors_filter_tags").set_value(["negation"]).run()
    filtered = errors_table(app)
    assert len(filtered) >= 1 and filtered["text"].str.contains("not", case=False).all()
    assert (filtered["capability"] == "negation").all()
    # the filtered mistakes have a download of their own (the one button gave all 420 rows, unsaid on the label)
    buttons = {b.proto.label: b.proto for b in app.get("download_button")}
    assert "All 420 predictions as CSV" in buttons
    shown = f"The {len(filtered)} filtered mistake{'' if len(filtered) == 1 else 's'} as CSV"
    assert shown in buttons and not buttons[shown].disabled

    reopened = open_page("app_pages/errors.py")  # a new session: predictions come from the disk cache
    assert any("read from the cache" in c.value for c in reopened.caption)


def framed_cells(app: AppTest) -> list[tuple[float, float, float, float]]:
    """(x0, x1, y0, y1) of each rectangle drawn on the confusion matrix."""
    chart = next(c for c in app.get("plotly_chart") if "errors_confusion" in c.proto.id)
    shapes = json.loads(chart.proto.spec)["layout"].get("shapes", [])
    return [(s["x0"], s["x1"], s["y0"], s["y1"]) for s in shapes if s["type"] == "rect"]


def test_a_confusion_cell_in_the_link_lists_its_examples(challenge_report):
    frame = challenge_report.frame
    app = open_page("app_pages/errors.py", {"cell": "1,0"})
    names = challenge_report.label_names
    assert f"True label {names[1]}, predicted {names[0]}" in [s.value for s in app.subheader]
    listed = next(d.value for d in app.dataframe if "confidence" in d.value.columns)  # the cell's table comes first
    assert len(listed) == int(((frame["label"] == names[1]) & (frame["predicted"] == names[0])).sum())
    assert app.query_params["cell"] == "1,0"
    assert framed_cells(app) == [(-0.5, 0.5, 0.5, 1.5)]  # the chart frames the cell listed: true 1, predicted 0
    # a cell kept from a model with more labels (the session keeps it across models): none, and a toast
    app.session_state["errors_cell"] = "2,1"
    app.run()
    assert not app.exception and not [s for s in app.subheader if s.value.startswith("True label ")]
    assert "cell" not in app.query_params and any("cell=2,1 is not a cell" in t.value for t in app.toast)
    assert framed_cells(app) == []
    for garbled, why in (("7,0", "is not a cell of this model's 2 x 2 matrix"), ("x", "could not be read here")):
        app = open_page("app_pages/errors.py", {"cell": garbled})  # no cell, and a toast says why
        assert not [s for s in app.subheader if s.value.startswith("True label ")] and "cell" not in app.query_params
        assert any(f"cell=`{garbled}` {why}; the default is used" in t.value for t in app.toast)


def test_choosing_the_uploader_shows_no_earlier_data_set_s_results():
    """With no file yet, the choice had the challenge set's identity: the page kept showing the challenge set's
    metrics and mistakes ("predictions read from the cache") under "Upload a file"."""
    app = open_page("app_pages/errors.py")
    assert app.metric  # the challenge set's report
    app.radio(key="errors_source").set_value(SOURCES[1]).run()
    assert not app.exception and not app.metric and not app.dataframe
    assert "Choose a CSV, TSV, JSONL or Parquet file to upload." in [e.value for e in app.info]


def test_bad_files_get_clear_messages(tmp_path):
    app = open_page("app_pages/errors.py")
    app.radio(key="errors_source").set_value(SOURCES[2]).run()
    # a prompt, not an error: nothing is wrong yet (it was a red box before the user had typed anything)
    assert any("Enter the path" in e.value for e in app.info) and not any("Enter" in e.value for e in app.error)
    folder = open_page("app_pages/errors.py")
    folder.radio(key="errors_source").set_value(RESULTS).run()  # an empty results-folder box: a prompt too
    assert any("Enter the path of a results folder" in e.value for e in folder.info) and not folder.error

    moods = tmp_path / "moods.csv"
    moods.write_text("text,label\ngood film,happy\nbad film,sad\n")
    app.text_input(key="errors_path").set_value(str(moods)).run()
    message = " ".join(e.value for e in app.error)
    # A server file: the model's labels are named, the file's values are not quoted (whoever reaches the port
    # may type any path).
    assert "['negative', 'positive']" in as_read(message) and "2 unknown label values" in message
    assert "happy" not in message

    shadow = tmp_path / "shadow"
    shadow.write_text("root:x:0:0:secret-first-line\ndaemon:*:1:1\n")
    app.text_input(key="errors_path").set_value(str(shadow)).run()
    message = " ".join(e.value for e in app.error)
    assert "is not a labelled data set" in message and "root:x" not in message and "secret" not in message

    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\ncafé crème,positive\n".encode("latin-1"))
    app.text_input(key="errors_path").set_value(str(latin)).run()
    assert any("not UTF-8" in e.value for e in app.error)

    broken = tmp_path / "broken.tsv"
    broken.write_text("sentence\tlabel\na fine film\t1\nno label here\n\t0\nawful\t0\n")
    app.text_input(key="errors_path").set_value(str(broken)).run()
    assert not app.exception and not app.error
    assert any("2 rows of" in e.label for e in app.expander)
    assert "line 3: expected 2 fields, found 1" in app.text[0].value and "line 4: empty text" in app.text[0].value
    assert metric(app, "Misclassified") in {"0", "1", "2"}


def test_a_row_the_model_cannot_embed_is_named_by_its_line(checkpoint, tmp_path):
    """A tokenizer knowing a word the model has no embedding for: the page said which token, not which row."""
    from tests.conftest import with_unembeddable_word

    folder = with_unembeddable_word(checkpoint("ours"), tmp_path / "added")
    path = tmp_path / "zoo.csv"
    path.write_text("text,label\na good film,pos\n,neg\nfine\n\"a\nquoted\nfilm\",neg\nthe zebra was dull,neg\n")
    app = open_page("app_pages/errors.py", {"model": str(folder), "data": str(path)})
    message = " ".join(e.value for e in app.error)
    assert re.search(r"Line 8 of \S*zoo\.csv: ", as_read(message)) and "'zebra'" in as_read(message), message


def test_a_shared_link_names_the_file_and_the_filter(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("text,label\nnot a good film,negative\nnot bad at all,positive\ngreat,positive\n")
    app = open_page("app_pages/errors.py", {"data": str(path), "q": "not"})
    assert app.radio(key="errors_source").value == SOURCES[2] and app.text_input(key="errors_path").value == str(path)
    assert any("rows.csv: 3 examples" in c.value for c in app.caption)
    assert errors_table(app)["text"].str.contains("not").all()
    assert app.query_params["data"] in (str(path), [str(path)]) and app.query_params["q"] in ("not", ["not"])


def test_a_filter_text_is_kept_to_a_length_a_link_can_carry(tmp_path):
    """A 3 MB "Text contains" made an address the server refused: the box keeps its first 1,000 characters."""
    path = tmp_path / "rows.csv"
    path.write_text("text,label\nnot a good film,negative\nnot bad at all,positive\ngreat,positive\n")
    app = open_page("app_pages/errors.py", {"data": str(path), "q": "not" + "x" * 5_000})
    assert app.text_input(key="errors_filter_text").value == ("not" + "x" * 5_000)[:1_000]
    assert app.query_params["q"] in (("not" + "x" * 5_000)[:1_000], [("not" + "x" * 5_000)[:1_000]])
    assert [w.value for w in app.warning if "characters" in w.value] == [
        "The text had 5,003 characters; the first 1,000 are kept (the most this box takes)."]
    app.text_input(key="errors_filter_text").set_value("great" * 300).run()
    assert app.text_input(key="errors_filter_text").value == ("great" * 300)[:1_000]


def test_an_open_token_filter_widens_to_a_data_set_with_longer_texts(tmp_path):
    short, long = tmp_path / "short.csv", tmp_path / "long.csv"
    short.write_text("text,label\ngood,negative\nbad,positive\n")
    long_text = "a " * 40 + "wonderful film"
    long.write_text(f"text,label\n{long_text},negative\nawful,positive\n")
    app = open_page("app_pages/errors.py", {"data": str(short)})
    short_range = app.slider(key="errors_filter_tokens").value
    app.text_input(key="errors_path").set_value(str(long)).run()
    assert not app.exception
    low, high = app.slider(key="errors_filter_tokens").value
    assert high > short_range[1] and low == 1  # not left at the short file's longest
    assert len(errors_table(app)) == 2 and "tokens" not in app.query_params  # both mistakes shown, no filter
    app.slider(key="errors_filter_tokens").set_value((1, 5)).run()  # a real choice narrows ...
    longer = tmp_path / "longer.csv"
    longer.write_text(f"text,label\n{long_text} {long_text},negative\nawful,positive\n")
    app.text_input(key="errors_path").set_value(str(longer)).run()
    assert app.slider(key="errors_filter_tokens").value == (1, 5)  # ... and stays on the next file
    assert app.query_params["tokens"] in ("1-5", ["1-5"])
    # a choice fitted to a file of shorter texts is the user's again on the next longer one, not the whole range
    # (a browser walk: 3-46 became 3-20, then 3-52 and 3-56 for good)
    wide = app.slider(key="errors_filter_tokens").max
    app.slider(key="errors_filter_tokens").set_value((2, wide - 1)).run()
    app.text_input(key="errors_path").set_value(str(short)).run()
    assert app.slider(key="errors_filter_tokens").value[1] == app.slider(key="errors_filter_tokens").max < wide - 1
    app.text_input(key="errors_path").set_value(str(longer)).run()
    assert app.slider(key="errors_filter_tokens").value == (2, wide - 1)


def test_a_chosen_label_another_data_set_lacks_is_dropped_with_a_word(tmp_path):
    """A capability (or label) filter chosen on one file left the filter and the link in silence on a file without
    that value, while a link's value was toasted."""
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("text,label,capability\ngood,negative,typo\nbad,positive,negation\n")
    second.write_text("text,label,capability\ngood,negative,negation\nbad,positive,negation\n")
    app = open_page("app_pages/errors.py", {"data": str(first)})
    app.multiselect(key="errors_filter_tags").set_value(["typo", "negation"]).run()
    app.text_input(key="errors_path").set_value(str(second)).run()
    assert not app.exception and app.multiselect(key="errors_filter_tags").value == ["negation"]
    assert any("The chosen tags=typo names values this data set does not have; they are left out" in t.value
               for t in app.toast), [t.value for t in app.toast]


def test_a_shared_link_carries_every_filter_and_the_columns_and_drops_cleared_ones(tmp_path):
    path = tmp_path / "rows.tsv"
    rows = ["not a good film at all", "not bad , really", "great", "awful , not fun", "not my kind of thing , sadly"]
    path.write_text("review\tgold\n" + "".join(f"{text}\t{i % 2}\n" for i, text in enumerate(rows)))
    query = {"data": str(path), "text_column": "review", "label_column": "gold", "q": "not", "tokens": "3-7",
             "true": "negative,nonsense", "pred": "positive"}
    app = open_page("app_pages/errors.py", query)
    assert app.text_input(key="errors_text_column").value == "review"
    assert app.text_input(key="errors_label_column").value == "gold"
    assert app.slider(key="errors_filter_tokens").value == (3, 7)
    assert app.multiselect(key="errors_filter_true").value == ["negative"]  # unknown names dropped
    assert app.multiselect(key="errors_filter_predicted").value == ["positive"]
    table = errors_table(app)
    assert (table["label"] == "negative").all() and (table["predicted"] == "positive").all()
    assert table["tokens"].between(3, 7).all() and table["text"].str.contains("not").all()

    def param(name):
        value = app.query_params.get(name)
        return value[0] if isinstance(value, list) else value

    assert param("tokens") == "3-7" and param("true") == "negative" and param("label_column") == "gold"
    app.text_input(key="errors_filter_text").set_value("").run()
    app.multiselect(key="errors_filter_true").set_value([]).run()
    assert param("q") is None and param("true") is None  # cleared filters leave the link
    assert param("tokens") == "3-7" and param("data") == str(path)

    compare = open_page("app_pages/compare.py", {"on": "A data set", "data": str(path), "text_column": "review",
                                                 "label_column": "gold"})
    assert compare.radio(key="compare_source").value == SOURCES[2]
    assert compare.text_input(key="compare_path").value == str(path)
    counts = [int(metric(compare, name)) for name in ("Both right", "Only A right", "Only B right", "Both wrong")]
    assert sum(counts) == len(rows)


def test_a_crafted_column_name_in_a_link_is_shown_as_typed_not_as_a_link(tmp_path):
    """A link's text_column reaches the "no such column" error: markdown must draw it literally, or a link sent
    to a visitor would put a clickable address inside the app's own error box."""
    path = tmp_path / "rows.tsv"
    path.write_text("review\tgold\ngreat\t1\nawful\t0\n")
    crafted = "[Session expired, sign in again](https://evil.example/login)"
    app = open_page("app_pages/errors.py", {"data": str(path), "text_column": crafted, "label_column": "gold"})
    shown = " ".join(e.value for e in app.error)
    assert "no text column" in shown
    assert "\\[Session expired, sign in again\\](`https://evil.example/login" in shown  # drawn as typed: no link
    # the named column's box is open beside the refusal, to clear (it sat in a closed section: a dead end)
    assert [e.proto.expanded for e in app.expander if e.label.startswith("Columns")] == [True]
    app.text_input(key="errors_text_column").set_value("").run()
    assert not app.exception and not app.error and app.dataframe


def test_an_open_request_switches_to_the_view_with_the_text():
    app = open_page("app_pages/errors.py")
    text = "The dialogue is superb, but overall the film is awful."
    app.session_state["text"] = text
    app.session_state[OPEN_KEY] = ("app_pages/attention.py", text)
    app.run()
    assert not app.exception
    assert app.query_params["text"] == [text] or app.query_params["text"] == text
    assert "Attention rollout" in [s.value for s in app.subheader]


def test_compare_page_on_a_text_and_on_the_challenge_set(challenge_report):
    other = [m.name for m in shipped.available() if m.name != shipped.default_model_name()][0]
    app = open_page("app_pages/compare.py", {"text": "Not bad at all, a warm and funny film."})
    assert [s.value for s in app.subheader][:2] == [f"A: {shipped.default_model_name()}", f"B: {other}"]
    pairs = next(d.value for d in app.dataframe if "similarity" in d.value.columns)
    bundle = load_model(device="cpu")
    config = bundle.model.config
    assert len(pairs) == config.num_hidden_layers * config.num_attention_heads
    assert pairs["similarity"].is_monotonic_decreasing
    assert {m.label for m in app.metric} == {"Spearman rank correlation", "Kendall tau", "Top-5 overlap"}
    assert app.query_params["model_b"] in (other, [other])

    app.radio(key="compare_mode").set_value("A data set").run()
    assert not app.exception
    assert "data" not in app.query_params  # the shipped challenge set: nothing to name
    counts = [int(metric(app, name).replace(",", "")) for name in ("Both right", "Only A right", "Only B right",
                                                                    "Both wrong")]
    assert sum(counts) == challenge_report.metrics["n"]
    table = next(d.value for d in app.dataframe if "right" in d.value.columns)
    assert len(table) == counts[1] + counts[2]
    assert (table["right"] == "A").sum() == counts[1]


def test_compare_on_a_data_set_refuses_models_of_other_labels_without_a_bar_left_running(checkpoint, tmp_path):
    """The refusal came under "Predicting 3 examples per model…" and an empty bar, as if something still ran."""
    import json
    import shutil

    moods = shutil.copytree(checkpoint("bert"), tmp_path / "moods")
    config = json.loads((moods / "config.json").read_text())
    config.update(id2label={"0": "sad", "1": "happy"}, label2id={"sad": 0, "happy": 1})
    (moods / "config.json").write_text(json.dumps(config))
    rows = tmp_path / "rows.csv"
    rows.write_text("text,label\na fine film,pos\na dull film,neg\nthe film,pos\n")
    app = open_page("app_pages/compare.py", {"model": str(checkpoint("bert")), "model_b": str(moods),
                                             "on": "A data set", "data": str(rows)})
    assert [e.value for e in app.error if e.value.startswith("The two models have different labels (A: neg, pos;")]
    assert not app.get("progress"), [p.proto for p in app.get("progress")]


def test_compare_offers_the_views_of_the_model_a_row_opens_with(checkpoint, tmp_path):
    """Thought markers was offered while rows opened with B, a model without markers: a detour to a page that said
    so (a probe in a browser)."""
    from explainer.ui import compare, navigation

    rows = tmp_path / "rows.csv"
    rows.write_text("text,label\na fine film,pos\na dull film,neg\nthe film,pos\n")
    app = open_page("app_pages/compare.py", {"model": str(checkpoint("ours")), "model_b": str(checkpoint("bert")),
                                             "on": "A data set", "data": str(rows)})
    assert not app.exception, app.exception
    assert navigation.MARKERS_TITLE in app.radio(key="compare_view").options  # A has markers
    app.radio(key="compare_view").set_value(navigation.MARKERS_TITLE).run()
    app.radio(key=compare.OPEN_WITH_KEY).set_value("Model B").run()
    assert navigation.MARKERS_TITLE not in app.radio(key="compare_view").options  # B has none
    assert app.radio(key="compare_view").value == app.radio(key="compare_view").options[0]
    same = open_page("app_pages/compare.py", {"model": str(checkpoint("ours")), "model_b": str(checkpoint("ours")),
                                              "on": "A data set", "data": str(rows)})  # no row where they differ
    assert "None: on every row both models are right, or both wrong." in [i.value for i in same.info]
    assert not [d for d in same.dataframe if "right" in d.value.columns]  # no empty grid under "select a row"


def test_compare_page_with_a_missing_model_b_says_so(tmp_path):
    app = open_page("app_pages/compare.py", {"model_b": str(tmp_path / "nothing")})
    assert any("Model B" in e.value and "not found" in e.value for e in app.error)


def test_compare_page_offers_the_natural_pairs_and_loads_both_models():
    pairs = shipped.available_pairs()
    if len(pairs) < 2:
        pytest.skip("needs two shipped pairs (the MiniLM base package is absent)")
    app = open_page("app_pages/compare.py", {"text": "A gentle film with a big heart."})
    assert app.text_input(key="compare_model_b").value == pairs[0].right  # the default model's twin
    app.selectbox(key="compare_pair").select_index(1).run()
    assert not app.exception, app.exception
    assert app.session_state["model_choice"] == pairs[1].left
    assert app.text_input(key="compare_model_b").value == pairs[1].right
    assert [s.value for s in app.subheader][:2] == [f"A: {pairs[1].left}", f"B: {pairs[1].right}"]


@pytest.mark.parametrize("model_a, twin", [("sst2-minilm-baseline", "sst2-minilm-thought-beacon"),
                                           ("sst2-baseline", "sst2-thought-beacon"),
                                           ("sst2-thought-beacon", "sst2-baseline")])
def test_compares_default_model_b_is_the_twin_with_or_without_markers_and_beacons(model_a, twin):
    """sst2-minilm-baseline got sst2-baseline (the first pair it stood left in), not its twin with markers and
    beacons, which the first pair lists it beside."""
    if not {model_a, twin} <= {m.name for m in shipped.available()}:
        pytest.skip("needs both shipped models")
    app = open_page("app_pages/compare.py", {"text": "A gentle film.", "model": model_a})
    assert not app.exception, app.exception
    assert app.text_input(key="compare_model_b").value == twin


def test_compare_page_keeps_the_same_layer_choice_in_the_link_and_warns_on_long_text():
    long_text = "A warm and funny film. " * 120  # far past what either model reads
    app = open_page("app_pages/compare.py", {"text": long_text, "same_layer": "1"})
    assert app.toggle(key="compare_by_layer").value is True
    assert app.query_params["same_layer"] in ("1", ["1"])
    pairs = next(d.value for d in app.dataframe if "similarity" in d.value.columns)
    layer_of = lambda head: head.split(".")[0]  # noqa: E731  ("L2.H5" -> "L2")
    assert (pairs["A head"].map(layer_of) == pairs["B head"].map(layer_of)).all()  # matched within layers
    warnings = [w.value for w in app.warning if "only the beginning was analysed" in w.value]
    assert len(warnings) == 2 and warnings[0].startswith("Model A") and warnings[1].startswith("Model B")
    app.toggle(key="compare_by_layer").set_value(False).run()
    assert not app.exception and "same_layer" not in app.query_params
    odd = open_page("app_pages/compare.py", {"text": "a fine film", "same_layer": "2"})
    assert not odd.exception and odd.toggle(key="compare_by_layer").value is False
    assert [t.value for t in odd.toast] == [
        "The link's same_layer=`2` is neither 1 (on) nor 0 (off); the default is used."]


def test_compare_page_with_model_b_cleared_asks_for_one():
    app = open_page("app_pages/compare.py", {"text": "A gentle film with a big heart."})
    app.text_input(key="compare_model_b").set_value("  ").run()
    assert not app.exception and not app.error
    assert any("Enter model B" in i.value for i in app.info)


def test_compare_matches_within_layers_only_when_both_models_have_as_many(checkpoint, tokenizer, tmp_path):
    from tests.conftest import build_model, save_checkpoint

    deeper = save_checkpoint(build_model("bert", num_hidden_layers=3), tokenizer, tmp_path / "deeper")
    text = "a fine film"
    same = open_page("app_pages/compare.py", {"model": str(checkpoint("bert")), "model_b": str(checkpoint("ours")),
                                             "text": text, "same_layer": "1"})
    assert same.toggle(key="compare_by_layer").value and same.query_params["same_layer"] == "1"
    pairs = next(d.value for d in same.dataframe if "similarity" in d.value.columns)
    layer = r"^(L\d+)\."
    assert (pairs["A head"].str.extract(layer) == pairs["B head"].str.extract(layer)).all().all()

    unequal = open_page("app_pages/compare.py", {"model": str(checkpoint("bert")), "model_b": str(deeper),
                                                "text": text, "same_layer": "1"})
    toggle = unequal.toggle(key="compare_by_layer_unequal")
    assert toggle.disabled and not toggle.value and "A has 2 layers and B 3" in toggle.help
    assert "same_layer" not in unequal.query_params  # the link does not claim what was not done
    assert [t.value for t in unequal.toast if "same_layer" in t.value] == [  # dropped from the link, and said
        "The link's same_layer=`1` does not apply here: A has 2 layers and B 3, so heads are matched across all "
        "layers."]
    spaced = open_page("app_pages/compare.py", {"model": str(checkpoint("bert")), "model_b": str(deeper),
                                               "text": text, "same_layer": " 1"})  # read as 1 on a pair of equal depth
    assert any("does not apply here" in t.value for t in spaced.toast)


def test_compare_draws_bs_prediction_in_as_label_order(checkpoint, tmp_path):
    """B numbering the same labels otherwise (POSITIVE, NEGATIVE) had its bars listed upside down beside A's."""
    import json
    import shutil

    folder = shutil.copytree(checkpoint("bert"), tmp_path / "reversed")
    config = json.loads((folder / "config.json").read_text())
    names = {"0": "POS", "1": "NEG"}  # the tests' labels are neg, pos
    config.update(id2label=names, label2id={name: int(i) for i, name in names.items()})
    (folder / "config.json").write_text(json.dumps(config))
    app = open_page("app_pages/compare.py", {"model": str(checkpoint("bert")), "model_b": str(folder),
                                             "text": "a fine film"})
    import plotly.io

    a, b = (bars for chart in app.get("plotly_chart") for bars in plotly.io.from_json(chart.proto.spec).data[:1]
            if bars.hovertemplate == "%{y}: %{x:.4f}<extra></extra>")  # the two prediction charts
    assert list(a.y) == ["neg", "pos"] and list(b.y) == ["NEG", "POS"]
    from explainer import load_model, trace

    own = trace(load_model(str(folder)), "a fine film").probabilities  # B's own order: POS, NEG
    assert list(b.text) == [f"{own[1]:.1%}", f"{own[0]:.1%}"]  # each bar keeps its own label's probability


def test_compare_says_when_a_and_b_are_the_same_model_and_when_one_reads_less(checkpoint):
    folder = str(checkpoint("bert"))
    same = open_page("app_pages/compare.py", {"model": folder, "model_b": folder, "text": "a fine film"})
    assert any("A and B are the same model" in i.value for i in same.info)
    # one folder by two names (here a path and the same path through ..) is loaded twice, yet is one model
    twice = str(checkpoint("bert").parent / ".." / checkpoint("bert").parent.name / "bert")
    by_path = open_page("app_pages/compare.py", {"model": folder, "model_b": twice, "text": "a fine film"})
    assert any("A and B are the same model" in i.value for i in by_path.info)
    long_text = " ".join(["a fine film"] * 40)  # longer than the tiny models read
    other = open_page("app_pages/compare.py", {"model": folder, "model_b": str(checkpoint("ours")),
                                              "text": long_text})
    assert not any("same model" in i.value for i in other.info)
    assert any("only what both read" in c.value for c in other.caption)


def test_texts_the_model_reads_only_the_beginning_of_are_counted(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("text,label\n" + "a wonderful film " * 200 + ",positive\nawful,negative\n")
    app = open_page("app_pages/errors.py", {"data": str(path)})
    max_length = load_model(device="cpu").max_length
    said = [c.value for c in app.caption if "the most this model reads" in c.value]
    # with the line, as the command line names it
    assert said == [f"1 text (on line 2) reaches {max_length:,} tokens, the most this model reads: the prediction "
                    "of a longer one reads only its beginning."]


def test_the_challenge_set_s_ids_read_by_a_three_label_model_are_said(tokenizer, tmp_path):
    from tests.conftest import build_model, save_checkpoint

    names = {0: "negative", 1: "neutral", 2: "positive"}
    model = build_model("bert", num_labels=3, id2label=names, label2id={v: k for k, v in names.items()})
    folder = save_checkpoint(model, tokenizer, tmp_path / "three")
    app = open_page("app_pages/errors.py", {"model": str(folder)})
    assert not app.exception, app.exception
    told = " ".join(w.value for w in app.warning)
    assert "0 as 'negative', 1 as 'neutral'" in told and "write the labels as names" in told


def test_a_crafted_file_name_is_shown_as_typed_in_the_caption_and_the_skipped_rows(tmp_path):
    """A file's name (an upload's, a path's) reaches the page's caption and the skipped-rows expander, both
    markdown: a name holding a link must be drawn as typed, not as a clickable link."""
    crafted = "[Session expired](evil.html)"
    path = tmp_path / f"{crafted}.csv"
    path.write_text("text,label\ngreat fun,1\nawful,0\na lovely film,\n")  # the last row has no label: skipped
    app = open_page("app_pages/errors.py", {"data": str(path)})
    assert not app.error, [e.value for e in app.error]
    caption = next(c.value for c in app.caption if " examples" in c.value)
    label = next(e.label for e in app.expander if "skipped" in e.label)
    for shown in (caption, label):
        assert "\\[Session expired\\]" in shown and not re.search(r"(?<!\\)\]\(", shown), shown
        assert f"{crafted}.csv" in as_read(shown)


def _open_a_disagreement(with_model: str, typed_b: str) -> None:
    """AppTest script: Compare's disagreements table reports row 1 selected (AppTest cannot select rows)."""
    import types

    import streamlit as st

    from explainer.ui import compare, labelled

    st.session_state.compare_table = types.SimpleNamespace(selection={"rows": [1]})
    st.session_state._compare_texts = ["a dull film", "a fine film"]
    st.session_state.compare_view = list(labelled.available_views())[0]
    st.session_state[compare.KEY] = typed_b
    st.session_state[compare.OPEN_WITH_KEY] = with_model
    compare.open_with_picker()  # drawn with the table: notes its B
    st.session_state[compare.KEY] = "another-model"  # B's box changed before the new comparison was drawn
    compare.open_disagreement()
    st.write(repr((st.session_state.get("model_choice"), st.session_state.get("model_other"),
                   st.session_state.text, st.session_state[labelled.OPEN_KEY][1])))


@pytest.mark.parametrize("with_model, typed_b, chosen", [
    ("Model A", "sst2-baseline", (None, None)),  # the sidebar's model stays
    ("Model B", "sst2-baseline", ("sst2-baseline", None)),  # a shipped name: picked from the list
    ("Model B", " /models/b ", (OTHER_MODEL, "/models/b")),  # anything else: into the sidebar's box
])
def test_a_disagreement_opens_with_the_model_asked_for(with_model, typed_b, chosen):
    """Compare's disagreements always opened with model A, even the rows where B made the mistake; and with B as
    its box read at the click, not the B whose mistake the row is."""
    app = AppTest.from_function(_open_a_disagreement, args=(with_model, typed_b), default_timeout=60).run()
    assert not app.exception, app.exception
    assert app.markdown[0].value == repr((*chosen, "a fine film", "a fine film"))


def _open_with_b_then_back_on_compare() -> None:
    import types

    import streamlit as st

    from explainer.ui import compare, labelled, links

    st.session_state.model_choice = "sst2-thought-beacon"
    st.session_state.compare_table = types.SimpleNamespace(selection={"rows": [0]})
    st.session_state._compare_texts = ["a dull film"]
    st.session_state.compare_view = list(labelled.available_views())[0]
    st.session_state[compare.KEY] = "sst2-baseline"
    links.keep(compare.KEY, "model_b")  # Compare keeps B's box while another page is shown (links.arrive)
    st.session_state[compare.OPEN_WITH_KEY] = "Model B"
    links.keep(compare.OPEN_WITH_KEY)  # as the picker keeps it, whose radio is not drawn here: the table's
    st.session_state[compare.TABLE_B_KEY] = st.session_state[compare.KEY]  # on_select runs before any widget is
    compare.open_disagreement()
    kept = st.session_state[links.KEPT_KEY][compare.KEY]
    st.write(repr((st.session_state.model_choice, st.session_state[compare.KEY], kept,
                   st.session_state[compare.OPEN_WITH_KEY], st.session_state[links.KEPT_KEY][compare.OPEN_WITH_KEY])))


def test_opening_with_b_leaves_compare_with_the_sides_swapped_not_b_against_itself():
    """B became the sidebar's model and B's box kept B: back on Compare, "A and B are the same model" and the
    whole data set was run through one model twice; the old A was reachable only with the browser's Back."""
    app = AppTest.from_function(_open_with_b_then_back_on_compare, default_timeout=60).run()
    assert not app.exception, app.exception
    # and rows open with the same model as before, now side A ("Model B" stayed: the other model, unsaid)
    assert app.markdown[0].value == repr(("sst2-baseline", "sst2-thought-beacon", "sst2-thought-beacon", "Model A",
                                          "Model A"))


def test_a_one_row_data_set_downloads_the_prediction(checkpoint, tmp_path):
    path = tmp_path / "one.csv"  # "All 1 predictions as CSV"
    path.write_text("text,label\na fine film,pos\n")
    app = open_page("app_pages/errors.py", {"model": str(checkpoint("bert")), "data": str(path)})
    assert not app.exception, app.exception
    assert "The prediction as CSV" in [b.proto.label for b in app.get("download_button")]
