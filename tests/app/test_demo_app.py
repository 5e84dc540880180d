"""Demo mode through AppTest: the probe list a visitor can send (links naming server paths, hub ids, huge texts,
files outside the roots) is refused with a clear message and no file content; tracebacks are hidden."""

from __future__ import annotations

import io

import pytest
import streamlit as st
from streamlit import config as streamlit_config
from streamlit.testing.v1 import AppTest

from explainer.ui.labelled import LISTED, SOURCES
from tests.conftest import ROOT

SECRET = "root:x:0:0:the-secret-first-line"


@pytest.fixture
def demo(tmp_path, monkeypatch, checkpoint):
    data = tmp_path / "data"
    data.mkdir()
    (data / "rows.csv").write_text("text,label\na fine film,pos\na dull film,neg\n")  # the tiny models' labels
    secret = tmp_path / "shadow"
    secret.write_text(SECRET + "\n")
    (data / "leak.csv").symlink_to(secret)
    config = tmp_path / "demo.toml"
    config.write_text(
        "[limits]\nmax_text_chars = 300\nattribution_tokens = 8\npatching_tokens = 8\n"
        f'[[models]]\nname = "tiny"\npath = "{checkpoint("ours")}"\n'
        f'[[models]]\nname = "tiny-bert"\npath = "{checkpoint("bert")}"\n'
        '[[data]]\nname = "rows"\npath = "data"\n'
    )
    monkeypatch.setenv("EXPLAINER_DEMO", str(config))
    uploads = streamlit_config.get_option("server.maxUploadSize")
    yield secret
    st.set_option("client.showErrorDetails", "full")  # AppTest shares this process's config
    streamlit_config.set_option("server.maxUploadSize", uploads)


def run(query: dict[str, str] | None = None, page: str | None = None) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in (query or {}).items():
        app.query_params[key] = value
    app.run()
    if page:
        app.switch_page(page).run()
    assert not app.exception, app.exception
    return app


def shown(app: AppTest) -> str:
    return " ".join(str(e.value) for kind in ("error", "warning", "info", "markdown", "caption", "title", "subheader")
                    for e in getattr(app, kind))


@pytest.mark.parametrize("model", ["/etc", "bert-base-uncased", "org/model", "~/models/x", "file:///etc"])
def test_a_linked_model_outside_the_list_opens_the_first_offered(demo, model):
    app = run({"model": model, "text": "a fine film"})
    picker = app.selectbox(key="model_choice")
    assert picker.options == ["tiny", "tiny-bert"] and picker.value == "tiny"
    assert not [t for t in app.text_input if t.key == "model_other"]  # no free-text model box
    assert app.query_params["model"] == "tiny"  # links carry names, never server paths
    assert [t.value for t in app.toast] == [f"The link's model=`{model}` is not offered here; `tiny` is used."]
    assert st.get_option("client.showErrorDetails") == "none"
    assert streamlit_config.get_option("server.maxUploadSize") == 0  # no uploads here: the endpoint takes none


@pytest.mark.parametrize("model", ["", "  "])
def test_a_link_naming_no_model_opens_the_first_offered_without_a_toast(demo, model):
    # "The link's model=`` is not offered here": an empty value, quoted as two backticks
    app = run({"model": model, "text": "a fine film"})
    assert app.selectbox(key="model_choice").value == "tiny" and not app.toast


def test_an_offered_model_named_with_spaces_around_it_opens_without_a_toast(demo):
    # the toast read "model=`tiny-bert` is not offered here" (its spaces dropped): an offered name, refused
    app = run({"model": " tiny-bert ", "text": "a fine film"})
    assert app.selectbox(key="model_choice").value == "tiny-bert" and not app.toast


def test_a_long_linked_text_is_cut_to_the_limit_and_said(demo):
    app = run({"text": "word " * 100_000})  # 500 kB: Streamlit drops longer query strings itself
    assert len(app.text_area(key="text").value) == 300
    assert any("500,000 characters" in w.value for w in app.warning)
    app.run()  # a page drawn again (its progressive rest, a widget) still says it: the box holds the cut text
    assert any("500,000 characters" in w.value for w in app.warning)
    app.text_area(key="text").input("a shorter text").run()
    assert not any("characters; the first" in w.value for w in app.warning)


def test_a_pasted_text_over_the_limit_keeps_its_beginning_and_says_so(demo):
    # Streamlit's max_chars drops such a paste whole in the browser, leaving the box as it was: not used.
    app = run()
    app.text_area(key="text").input("good " * 70).run()  # 350 characters, over the demo's 300
    assert app.text_area(key="text").value == ("good " * 70)[:300]
    assert any("350 characters; the first 300 are kept" in w.value for w in app.warning)
    assert app.get("plotly_chart")


def test_a_10_mb_text_sent_past_the_text_box_is_cut_before_the_model(demo, monkeypatch):
    import explainer.ui.caches as caches

    seen: list[int] = []
    original = caches.trace
    monkeypatch.setattr(caches, "trace", lambda bundle, text, **kw: seen.append(len(text)) or original(bundle, text))
    app = run()
    app.text_area(key="text").set_value("many " * 2_000_000 + "tail").run()  # a client that ignores max_chars
    assert not app.exception and app.get("plotly_chart")
    assert seen and seen[-1] == 300  # the model read what the demo's limit lets through, no more


@pytest.mark.parametrize("data", ["{secret}", "/etc/passwd", "rows/leak.csv", "rows/../../shadow", "file:///etc/passwd"])
def test_errors_page_offers_the_list_only_and_refuses_linked_paths(demo, data):
    app = run({"data": data.format(secret=demo)}, page="app_pages/errors.py")
    # no path box, no uploads (max_upload_mb = 0): one source, so no radio (a lone one sat above the list)
    assert not [radio for radio in app.radio if radio.key == "errors_source"]
    assert app.session_state["errors_source"] == LISTED and SOURCES[2] not in [r.value for r in app.radio]
    assert app.selectbox(key="errors_listed").options == ["rows/rows.csv"]
    assert any("does not offer" in w.value for w in app.warning)
    assert any("does not offer" in w.value for w in app.run().warning)  # a second run keeps it (it flashed)
    assert SECRET not in shown(app) and "root:x" not in shown(app)
    assert app.query_params["data"] == "rows/rows.csv"


def test_the_attribution_page_keeps_to_the_token_limit(demo):
    app = run({"text": "a fine film with a big heart and a plot that holds"}, page="app_pages/attribution.py")
    assert any("at most 8 tokens" in i.value for i in app.info)
    assert not app.get("plotly_chart")


@pytest.mark.parametrize("page", ["app_pages/attribution.py", "app_pages/whatif.py"])
def test_the_token_limit_gives_the_whole_text_s_count_when_the_model_read_its_beginning(demo, page):
    app = run({"text": "fine " * 150}, page=page)  # past the tiny model's max_length
    warning = next(w.value for w in app.warning if "only the beginning" in w.value)
    said = next(i.value for i in app.info if "at most 8 tokens" in i.value)
    whole = warning.split("The text has ")[1].split(" tokens")[0]
    subject = "the sidebar text" if page.endswith("whatif.py") else "this one"  # What-if has two texts
    assert f"{subject} has {whole} (the model reads" in said  # the count the page's own warning gives


def test_an_oversized_upload_is_refused_before_it_is_read(tmp_path, monkeypatch, bundle):
    from explainer.data.labelled import DatasetError
    from explainer.ui.labelled import DataChoice, sources

    config = tmp_path / "uploads.toml"
    config.write_text('[limits]\nmax_upload_mb = 1\n[[models]]\nname = "sst2-baseline"\n'
                      f'[[data]]\nname = "challenge"\npath = "{ROOT / "assets" / "challenge_set.csv"}"\n')
    monkeypatch.setenv("EXPLAINER_DEMO", str(config))
    assert sources() == (LISTED, SOURCES[1])

    class Upload:  # what Streamlit's UploadedFile offers; reading it would fail the test
        name, size, file_id = "big.csv", 2 * 10**6, "id"

        def getvalue(self):
            raise AssertionError("an oversized upload must not be read")

    refusal = r"big\.csv is 2,000,000 bytes; uploads are limited to 1 MB \(1,048,576 bytes\) here"
    with pytest.raises(DatasetError, match=refusal):
        DataChoice(SOURCES[1], upload=Upload()).load(bundle("ours"))
    with pytest.raises(DatasetError, match="Choose a data set from the list"):
        DataChoice(SOURCES[2], path="/etc/passwd").load(bundle("ours"))  # a path source does not exist here


def test_an_upload_of_more_rows_than_the_demo_runs_is_refused_before_the_model_runs(tmp_path, monkeypatch, bundle):
    """1 MB of short lines is ~100,000 rows: each upload a minute of the server's CPU (uploads are cached by none)."""
    from explainer.data.labelled import DatasetError
    from explainer.ui.labelled import DataChoice

    config = tmp_path / "uploads.toml"
    config.write_text('[limits]\nmax_upload_mb = 1\nmax_upload_rows = 3\n[[models]]\nname = "sst2-baseline"\n')
    monkeypatch.setenv("EXPLAINER_DEMO", str(config))
    content = "text,label\n" + "".join(f"film {i},{'pos' if i % 2 else 'neg'}\n" for i in range(4))

    class Upload(io.BytesIO):  # a binary file with what Streamlit's UploadedFile adds
        name, file_id = "many.csv", "id"
        size = property(lambda self: len(self.getvalue()))

    with pytest.raises(DatasetError, match=r"many\.csv has 4 rows; this demo runs the model on at most 3 rows"):
        DataChoice(SOURCES[1], upload=Upload(content.encode())).load(bundle("ours"))
    three = content.rsplit("film 3", 1)[0].encode()
    assert len(DataChoice(SOURCES[1], upload=Upload(three)).load(bundle("ours"))) == 3


def test_a_demo_takes_no_parquet_upload(tmp_path, monkeypatch, bundle):
    """795 bytes of Parquet (one 250 KB string stored once, 2,000 rows naming it) passed a 1 MB upload limit and were
    read as 500 MB of text; the limit counts the bytes sent. The uploader does not offer Parquet either."""
    from explainer.data.labelled import DatasetError
    from explainer.ui.labelled import DataChoice

    config = tmp_path / "uploads.toml"
    config.write_text('[limits]\nmax_upload_mb = 1\n[[models]]\nname = "sst2-baseline"\n')
    monkeypatch.setenv("EXPLAINER_DEMO", str(config))

    class Upload:  # reading it would fail the test
        name, size, file_id = "small.PARQUET", 795, "id"

        def getvalue(self):
            raise AssertionError("a Parquet upload must not be read in a demo")

    with pytest.raises(DatasetError, match=r"small\.PARQUET: this demo takes no Parquet upload"):
        DataChoice(SOURCES[1], upload=Upload()).load(bundle("ours"))
    app = AppTest.from_function(_uploader, default_timeout=30).run()
    assert not app.exception, app.exception
    (box,) = app.get("file_uploader")
    assert "parquet" not in {t.lstrip(".") for t in box.proto.type} and "Parquet" not in box.proto.label


def _uploader() -> None:
    from explainer.ui.labelled import uploader

    uploader("probe")


def test_work_that_runs_each_row_many_times_gets_that_many_times_fewer_upload_rows(tmp_path, monkeypatch, bundle):
    """The marker dictionary runs a row 1 + layers x K times (97 on the default model), the tau sweep once per tau:
    2,000 uploaded rows of the dictionary were 20 minutes of both cores."""
    from explainer.data.labelled import DatasetError, read_dataset
    from explainer.thought_beacon.marker_dictionary import passes_per_text
    from explainer.ui.labelled import check_upload_rows

    config = tmp_path / "uploads.toml"
    config.write_text('[limits]\nmax_upload_mb = 1\nmax_upload_rows = 200\n[[models]]\nname = "sst2-baseline"\n')
    monkeypatch.setenv("EXPLAINER_DEMO", str(config))
    config_ = bundle("ours").model.config
    passes = passes_per_text(bundle("ours"))
    assert passes == 1 + config_.num_hidden_layers * config_.num_thought_markers > 2  # forced runs, the plain pass
    allowed = 200 // passes
    rows = "text,label\n" + "".join(f"film {i},{'pos' if i % 2 else 'neg'}\n" for i in range(allowed + 1))
    data = read_dataset(rows.encode(), filename="rows.csv")
    with pytest.raises(DatasetError, match=rf"at most {allowed} rows of an upload here \(the dictionary runs the "
                                            rf"model {passes} times per row, and the demo allows 200 row runs\)"):
        check_upload_rows(data, passes, "the dictionary")
    assert len(check_upload_rows(data, 1)) == allowed + 1  # one pass a row: the whole limit
    fewer = read_dataset(rows.rsplit(f"film {allowed}", 1)[0].encode(), filename="rows.csv")
    assert len(check_upload_rows(fewer, passes, "the dictionary")) == allowed
    # a limit smaller than one row's runs lets no row through (it let one, "at most 1 rows", 65 runs against 30)
    tight = tmp_path / "tight.toml"
    tight.write_text(f'[limits]\nmax_upload_mb = 1\nmax_upload_rows = {passes - 1}\n'
                     '[[models]]\nname = "sst2-baseline"\n')
    monkeypatch.setenv("EXPLAINER_DEMO", str(tight))
    one = read_dataset(b"text,label\nfilm,pos\n", filename="one.csv")
    with pytest.raises(DatasetError, match=rf"runs the model on no upload here \(the dictionary runs the model "
                                            rf"{passes} times per row, and the demo allows {passes - 1} row runs\)"):
        check_upload_rows(one, passes, "the dictionary")
    assert len(check_upload_rows(one, 1)) == 1


def test_every_page_offers_the_report_in_the_sidebar(demo):
    for page in (None, "app_pages/attention.py", "app_pages/errors.py"):
        app = run({"text": "a fine film"}, page=page)
        buttons = [b for b in app.sidebar.get("download_button") if b.proto.label == "Download report"]
        assert len(buttons) == 1 and not buttons[0].proto.disabled, page
    empty = run({"text": ""})  # a file that only said "No report: The text is empty" was offered
    button = next(b for b in empty.sidebar.get("download_button") if b.proto.label == "Download report")
    assert button.proto.disabled and button.proto.help.startswith("Type a text first")


def test_the_causal_page_keeps_to_the_patching_limit(demo):
    app = run({"text": "a fine film with a big heart and a plot that holds"}, page="app_pages/causal.py")
    said = [i.value for i in app.info]
    # said before asking for a corrupted text, which could not make it patchable ("Type a corrupted text" first)
    assert any("patching for texts of at most 8 tokens; the sidebar text has" in i for i in said), said
    assert not any("Type a corrupted text" in i for i in said)
    assert any("head ablation for texts of at most 8 tokens; this one has" in i for i in said), said
    assert not app.get("plotly_chart")


def test_causal_s_two_texts_keep_to_the_demo_s_limits_and_say_which_is_too_long(demo):
    """The pair boxes kept 20,000 characters (the sidebar's keeps max_text_chars) and the refusal gave the count
    the model reads (its max length), not the text's, without saying which box; a long sidebar text also hid the
    pair boxes, whose patching does not read it."""
    long = "a fine film " * 1700  # 20,400 characters; the demo keeps 300
    app = run({"text": "a fine film with a big heart and a plot that holds", "source": "pair",
               "clean": "a fine film", "corrupted": long}, page="app_pages/causal.py")
    assert len(app.text_area(key="causal_corrupted").value) == 300
    assert any("the first 300 are kept" in w.value for w in app.warning)
    said = [i.value for i in app.info]
    # the text's own count (past the model's 64), as the other pages give it
    assert any("at most 8 tokens; the corrupted text has 150 (the model reads 64 of them)" in i for i in said), said
    assert any("Shorten the corrupted text" in i for i in said)
    short = run({"text": "a fine film with a big heart and a plot that holds", "source": "pair",
                 "clean": "a fine film", "corrupted": "a dull film"}, page="app_pages/causal.py")
    assert short.get("plotly_chart")  # the pair's patching is drawn; only head ablation reads the sidebar text
    assert any("head ablation for texts of at most 8 tokens" in i.value for i in short.info)


def test_what_if_says_which_of_its_texts_is_over_the_attribution_limit(demo):
    # "...this one has 12. Shorten the text": the sidebar text was short, the edited copy was not
    app = run({"text": "a fine film", "edited": "a fine film with a big heart and a plot"}, page="app_pages/whatif.py")
    said = [i.value for i in app.info]
    assert any("attributions for texts of at most 8 tokens; the edited text has" in i for i in said), said
    assert any("Shorten the edited text to see it." in i for i in said)


def test_causal_s_counterfactual_finder_says_the_clean_text_is_over_the_limit(demo):
    app = run({"text": "a fine film", "source": "pair", "clean": "a fine film with a big heart and a plot that holds",
               "corrupted": "a dull film"}, page="app_pages/causal.py")
    app.button(key="causal_find").click().run()
    said = [i.value for i in app.info]
    assert any("counterfactual searches for texts of at most 8 tokens; the clean text has" in i for i in said), said


def test_errors_page_calls_a_listed_data_set_by_its_offered_name(demo):
    app = run({"data": "rows/rows.csv", "label_column": "missing"}, page="app_pages/errors.py")
    folder = str(demo.parent / "data")
    assert any("rows/rows.csv: no label column" in e.value for e in app.error)  # the name, not the server path
    app = run({"data": "rows/rows.csv"}, page="app_pages/errors.py")
    assert not app.error and any("tiny on rows/rows.csv: 2 examples" in c.value for c in app.caption)
    assert folder not in shown(app)


def test_a_model_folder_the_demo_offers_is_shown_by_its_offered_name(demo, checkpoint):
    folder = str(checkpoint("ours"))
    named = {None: "tiny · 8 tokens", "app_pages/errors.py": "tiny on rows/rows.csv",
             "app_pages/compare.py": "A: tiny "}
    for page, said in named.items():
        app = run({"text": "a fine film", "data": "rows/rows.csv"}, page=page)
        assert not app.error, page
        assert said in shown(app), page  # named, not only unnamed
        assert folder not in shown(app) and folder not in str(dict(app.query_params)), page


@pytest.mark.parametrize("model_b", ["{secret}", "/etc", "bert-base-uncased", "tiny"])
def test_compare_offers_model_b_from_the_list_only(demo, model_b):
    app = run({"text": "a fine film", "model_b": model_b.format(secret=demo.parent)}, page="app_pages/compare.py")
    picker = app.selectbox(key="compare_model_b")
    assert picker.options == ["tiny", "tiny-bert"]
    assert picker.value == ("tiny" if model_b == "tiny" else "tiny-bert")  # anything else: the other offered model
    assert not [t for t in app.text_input if t.key == "compare_model_b"]  # no box to type a folder or hub id into
    assert str(demo.parent) not in shown(app) and "not found" not in shown(app)
    assert app.get("plotly_chart")  # both models compared
    told = [t.value for t in app.toast if "model_b" in t.value]
    if model_b == "tiny":
        assert not told
    else:  # said, not swapped silently; the visitor's own text is all it repeats
        assert len(told) == 1 and told[0].endswith("is not offered here; `tiny-bert` is used.")


def test_compare_keeps_to_the_attribution_limit(demo):
    # the demo allows attributions of 8 tokens: Compare drew both models' attributions of any text
    app = run({"text": "a fine film with a big heart", "model_b": "tiny-bert"}, page="app_pages/compare.py")
    assert "Attention, heads matched by pattern" in [h.value for h in app.subheader]  # the rest of the page ran
    assert any("This demo computes attributions for texts of at most 8 tokens" in i.value for i in app.info)
    assert not [m for m in app.metric if "Spearman" in m.label]
    short = run({"text": "a film", "model_b": "tiny-bert"}, page="app_pages/compare.py")
    assert [m for m in short.metric if "Spearman" in m.label]


def test_no_page_loads_a_model_the_demo_does_not_offer(demo, tmp_path):
    from explainer.serving.paths import PathRefused
    from explainer.ui import caches

    assert caches.get_bundle("tiny").model is caches.get_bundle(caches.get_bundle("tiny").name).model
    for name in ("/etc", str(tmp_path), "bert-base-uncased", "sst2-baseline"):  # shipped, but not offered here
        with pytest.raises(PathRefused, match="not offered here"):
            caches.get_bundle(name)


def test_markers_and_beacons_call_a_listed_data_set_by_its_offered_name(demo):
    folder = str(demo.parent / "data")
    for page in ("app_pages/markers.py", "app_pages/beacons.py"):
        app = run({"text": "a fine film", "data": "rows/rows.csv"}, page=page)
        captions = " ".join(c.value for c in app.caption)
        assert "2 texts from rows/rows.csv" in captions, page  # the name, not the server path
        assert folder not in shown(app), page


def test_markers_and_beacons_offer_a_switch_to_a_model_the_demo_offers(demo):
    """They offered "Switch to sst2-minilm-thought-beacon", a shipped model this demo does not offer; a click
    then landed, silently, on the first offered model."""
    for page in ("app_pages/markers.py", "app_pages/beacons.py"):
        app = run({"model": "tiny-bert", "text": "a fine film"}, page=page)
        switch = next(b for b in app.button if b.key == "switch_to_thought_beacon")
        assert switch.label == "Switch to tiny", page  # the demo's ThoughtBeacon model, by its offered name
        switch.click().run()
        assert not app.exception and app.selectbox(key="model_choice").value == "tiny", page


def test_markers_and_beacons_keep_the_offered_data_set_in_the_link_and_tell_an_unoffered_one(demo):
    for page, prefix in (("app_pages/markers.py", "markers_data"), ("app_pages/beacons.py", "beacons_data")):
        app = run({"text": "a fine film", "data": "rows/rows.csv"}, page=page)
        assert app.selectbox(key=f"{prefix}_listed").value == "rows/rows.csv"
        assert app.query_params["data"] in ("rows/rows.csv", ["rows/rows.csv"]), page
        refused = run({"text": "a fine film", "data": str(demo)}, page=page)  # a server path: not offered
        assert any("does not offer" in w.value for w in refused.warning), page  # as Errors and Map say it
        assert any("does not offer" in w.value for w in refused.run().warning), page  # and keep saying it
        assert str(demo) not in shown(refused) and refused.query_params["data"] in ("rows/rows.csv", ["rows/rows.csv"])


def test_what_ifs_edited_copy_from_a_link_keeps_the_limit_and_says_so(demo):
    app = run({"text": "a fine film", "edited": "a dull film " * 40}, page="app_pages/whatif.py")  # 480 > 300
    assert app.text_area(key="whatif_edited").value == ("a dull film " * 40)[:300]
    assert any("480 characters; the first 300 are kept" in w.value for w in app.warning)
    app.button(key="whatif_reset").click().run()
    assert app.text_area(key="whatif_edited").value == "a fine film"
    assert not any("characters; the first" in w.value for w in app.warning)


def test_a_broken_config_stops_the_app_without_naming_server_paths(tmp_path, monkeypatch, caplog):
    """Its reason names the config's and the missing file's paths: the server's log gets it, a visitor does not."""
    from explainer.serving.demo import _load_cached
    from explainer.ui.demo import NOT_CONFIGURED

    config = tmp_path / "broken.toml"
    config.write_text(f'[[models]]\nname = "sst2-baseline"\n[[data]]\nname = "d"\npath = "{tmp_path}/gone.csv"\n')
    monkeypatch.setenv("EXPLAINER_DEMO", str(config))
    _load_cached.cache_clear()
    uploads = streamlit_config.get_option("server.maxUploadSize")
    try:
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
        assert not app.exception
        assert [e.value for e in app.error] == [NOT_CONFIGURED] and str(tmp_path) not in shown(app)
        assert not app.get("plotly_chart") and st.get_option("client.showErrorDetails") == "none"
        assert "gone.csv" in caplog.text and "does not exist" in caplog.text  # the operator still learns why
        # Streamlit's upload endpoint takes files for a live session whatever the page shows: it took 200 MB ones
        assert streamlit_config.get_option("server.maxUploadSize") == 0
        # mended (the folder mounted, the edit saved): the demo's own limit again, not 0 until a restart
        config.write_text('[limits]\nmax_upload_mb = 2\n[[models]]\nname = "sst2-baseline"\n')
        _load_cached.cache_clear()
        AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
        assert streamlit_config.get_option("server.maxUploadSize") == 2
    finally:
        st.set_option("client.showErrorDetails", "full")
        streamlit_config.set_option("server.maxUploadSize", uploads)


def test_a_missing_bertviz_install_is_said_without_the_install_path(demo, monkeypatch, tmp_path):
    from explainer.views import bertviz as bertviz_views

    monkeypatch.setattr(bertviz_views, "FRONTEND_DIR", tmp_path / "frontend")
    bertviz_views.vendor_javascript.cache_clear()
    try:
        app = run({"text": "a film no other test of this module opens"}, page="app_pages/attention.py")
    finally:
        bertviz_views.vendor_javascript.cache_clear()
    assert "bertviz's views are not installed on this server." in [e.value for e in app.error]
    assert "frontend" not in shown(app) and "install.sh" not in shown(app)
    assert app.get("plotly_chart")  # the page's own figures still drawn


@pytest.mark.parametrize("content, capped", [('[limits]\nmax_upload_mb = 3\n[[models]]\nname = "sst2-baseline"\n', 3),
                                             ("this is not TOML [", 0)])  # broken: no uploads, not Streamlit's 200 MB
def test_the_server_start_caps_uploads_before_any_session(tmp_path, monkeypatch, content, capped):
    from explainer.serving.demo import _load_cached
    from explainer.ui.startup import cap_demo_uploads

    config = tmp_path / "uploads.toml"
    config.write_text(content)
    monkeypatch.setenv("EXPLAINER_DEMO", str(config))
    _load_cached.cache_clear()
    before = streamlit_config.get_option("server.maxUploadSize")
    try:
        cap_demo_uploads()  # what serve.py's lifespan calls as the server comes up
        assert streamlit_config.get_option("server.maxUploadSize") == capped
    finally:
        streamlit_config.set_option("server.maxUploadSize", before)


def test_a_linked_data_source_the_demo_lacks_is_told_and_causals_is_quiet(demo):
    app = run({"source": "Path on this machine"}, page="app_pages/errors.py")
    assert app.session_state["errors_source"] == LISTED
    assert any("source=`Path on this machine` is not offered here" in t.value for t in app.toast)
    quiet = run({"source": "pair"}, page="app_pages/errors.py")  # Causal's source: no error here
    assert not any("source=" in t.value for t in quiet.toast)


def test_a_demo_without_uploads_offers_no_slice_file_on_the_map(demo):
    app = run({"data": "rows/rows.csv"}, page="app_pages/map.py")
    assert "Likely mislabelled" in [h.value for h in app.subheader]  # the whole page is drawn
    assert "Load slices from a definitions file" not in [e.label for e in app.expander]


def test_a_demo_without_data_sets_says_so_on_every_data_page(demo, tmp_path, monkeypatch, checkpoint):
    # A hand-written config may list models only: the data pages said "That data set is not offered here;
    # choose one from the list" over an empty list, a dead end with no reason.
    config = tmp_path / "models-only.toml"
    config.write_text(f'[limits]\nmax_upload_mb = 0\n[[models]]\nname = "tiny"\npath = "{checkpoint("ours")}"\n')
    monkeypatch.setenv("EXPLAINER_DEMO", str(config))
    for page in ("app_pages/errors.py", "app_pages/map.py", "app_pages/markers.py", "app_pages/beacons.py"):
        for query in ({"text": "a fine film"}, {"text": "a fine film", "data": "rows.csv"}):  # a link naming one
            app = run(query, page=page)
            said = shown(app)
            assert "This demo offers no data sets; the pages on a typed text work." in said, page
            assert "not offered here" not in said and "choose one from the list" not in said, page
            assert not [t.value for t in app.toast if "data=" in t.value], page


def test_counterfactual_searches_keep_to_the_demo_s_limits(demo):
    """A visitor's search ran on a 383-token text that the demo's attribution and patching limits refuse: 17 s of
    both cores per click, and on Causal for a corrupted text that could never be patched (a demo walk)."""
    long = "a fine film with a big heart and a plot that holds"
    whatif = run({"text": long}, page="app_pages/whatif.py")
    whatif.run()  # the progressive rest: the counterfactual section
    assert any("counterfactual searches for texts of at most 8 tokens" in i.value for i in whatif.info)
    assert all(button.key != "whatif_find" for button in whatif.button)
    causal = run({"text": long}, page="app_pages/causal.py")
    causal.button(key="causal_find").click().run()
    assert not causal.exception, causal.exception
    assert any("counterfactual searches for texts of at most 8 tokens" in i.value for i in causal.info)
    assert not causal.text_area(key="causal_corrupted").value
    short = run({"text": "a fine film"}, page="app_pages/whatif.py")
    short.run()
    assert any(button.key == "whatif_find" for button in short.button)


def test_a_map_whose_vectors_cannot_be_stored_names_no_server_folder(demo, monkeypatch, tmp_path, caplog):
    """The Map page said 'under /srv/.../results/embeddings, which cannot be written; set EXPLAINER_CACHE ...' to
    a visitor (a full or read-only disk, say); the operator's log still gets it."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "results").write_text("a file where the cache's folders go")
    monkeypatch.setenv("EXPLAINER_CACHE", str(cache))
    app = run({"data": "rows/rows.csv"}, page="app_pages/map.py")
    said = [e.value for e in app.error]
    assert any("the server's cache folder cannot be written: its log says where" in e for e in said), said
    assert str(tmp_path) not in shown(app) and "EXPLAINER_CACHE" not in shown(app)
    assert str(cache) in caplog.text and "cannot be written" in caplog.text


def test_a_demo_of_uploads_and_no_listed_data_opens_on_the_uploader(tmp_path, monkeypatch):
    # every data page opened on "A data set offered here" with an empty list and "This demo offers no data sets"
    from explainer.ui import labelled

    config = tmp_path / "uploads.toml"
    config.write_text('[limits]\nmax_upload_mb = 1\n[[models]]\nname = "sst2-baseline"\n')
    monkeypatch.setenv("EXPLAINER_DEMO", str(config))
    assert labelled.sources() == (SOURCES[1],)
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.run()
    app.switch_page("app_pages/errors.py").run()
    said = [e.value for e in app.info]  # a prompt: it was a red error box before any file was chosen
    assert not app.exception and not app.error and "Choose a CSV, TSV or JSONL file to upload." in said, said
    closed = tmp_path / "closed.toml"  # nothing to offer: the list, which says the demo offers no data sets
    closed.write_text('[limits]\nmax_upload_mb = 0\n[[models]]\nname = "sst2-baseline"\n')
    monkeypatch.setenv("EXPLAINER_DEMO", str(closed))
    assert labelled.sources() == (labelled.LISTED,)


def test_markers_and_beacons_never_read_a_typed_path_in_a_demo(demo, tmp_path, monkeypatch, checkpoint):
    """With nothing listed, a link's data= seeded the source "Path on this machine", which a demo does not offer
    (Streamlit reset the radio), and the picker's path branch had no demo guard of its own."""
    from explainer.ui import labelled

    config = tmp_path / "uploads-only.toml"
    config.write_text(f'[limits]\nmax_upload_mb = 1\n[[models]]\nname = "tiny"\npath = "{checkpoint("ours")}"\n')
    monkeypatch.setenv("EXPLAINER_DEMO", str(config))
    for page, prefix in (("app_pages/markers.py", "markers_data"), ("app_pages/beacons.py", "beacons_data")):
        app = run({"text": "a fine film", "data": str(demo)}, page=page)
        assert app.session_state[f"{prefix}_source"] == labelled.SOURCES[1], page  # uploads, the one source
        assert SECRET not in shown(app) and str(demo) not in shown(app), page
        # a source the demo does not offer reaching the picker (as if a radio kept a stale value): refused
        monkeypatch.setattr(labelled, "sources", lambda results=False: [*labelled.SOURCES])
        forced = run({"text": "a fine film"}, page=page)
        forced.radio(key=f"{prefix}_source").set_value(labelled.SOURCES[2]).run()
        assert not [t for t in forced.text_input if t.key == f"{prefix}_path"], page
        assert "Choose a data set from the list." in shown(forced), page
        monkeypatch.undo()
        monkeypatch.setenv("EXPLAINER_DEMO", str(config))
    # a data folder that offers nothing, and uploads: the uploader, as with nothing listed (it opened on an empty
    # list, "This demo offers no data sets"), and a linked path seeds no path source
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("not offered: a .txt is offered only when named")
    listed = tmp_path / "empty-folder.toml"
    listed.write_text(f'[limits]\nmax_upload_mb = 1\n[[models]]\nname = "tiny"\npath = "{checkpoint("ours")}"\n'
                      '[[data]]\nname = "none"\npath = "empty"\n')
    monkeypatch.setenv("EXPLAINER_DEMO", str(listed))
    assert labelled.sources() == (labelled.SOURCES[1],)
    app = run({"text": "a fine film", "data": str(demo)}, page="app_pages/markers.py")
    assert app.session_state["markers_data_source"] == labelled.SOURCES[1] and str(demo) not in shown(app)


def test_a_demo_says_before_an_upload_that_no_upload_fits_the_work(demo, tmp_path, monkeypatch, checkpoint):
    """An upload whose runs per row exceed the row limit was read in full, then refused, pointing to a list the
    demo did not have."""
    config = tmp_path / "tight.toml"
    config.write_text(f'[limits]\nmax_upload_mb = 1\nmax_upload_rows = 3\n[[models]]\nname = "tiny"\n'
                      f'path = "{checkpoint("ours")}"\n')
    monkeypatch.setenv("EXPLAINER_DEMO", str(config))
    app = run({"text": "a fine film"}, page="app_pages/markers.py")
    said = [i.value for i in app.info if "runs the model on no upload here" in i.value]
    assert len(said) == 1 and "row runs)" in said[0] and "choose a data set" not in said[0]
    assert not [u for u in app.get("file_uploader")]


def test_a_model_that_cannot_be_loaded_is_said_to_the_visitor_plainly_and_to_the_operator_in_full(
        demo, tmp_path, monkeypatch, checkpoint, caplog):
    """The visitor read 'copy cannot be loaded.' and the server's log held nothing: the operator could not learn
    why (weights truncated on disk, say)."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(checkpoint("ours"), copy)
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    config = tmp_path / "broken.toml"
    config.write_text(f'[[models]]\nname = "copy"\npath = "{copy}"\n')
    monkeypatch.setenv("EXPLAINER_DEMO", str(config))
    app = run({"text": "a fine film"}, page="app_pages/overview.py")
    assert not app.exception, app.exception
    assert "copy cannot be loaded." in shown(app) and str(copy) not in shown(app)
    assert "model copy" in caplog.text and str(copy) in caplog.text and "corrupt" in caplog.text, caplog.text


def test_a_linked_results_folder_is_told_as_not_offered(demo, tmp_path):
    """A link's results= (a source no demo offers) was dropped unsaid: the page opened the first offered set and
    rewrote the link, where a data= it does not offer gets a warning."""
    for page in ("app_pages/errors.py", "app_pages/map.py", "app_pages/markers.py"):
        app = run({"text": "a fine film", "results": str(tmp_path / "results")}, page=page)
        said = shown(app)
        assert "The link names a data set this demo does not offer; choose one from the list." in said, page
        assert str(tmp_path) not in said, page


def test_back_from_the_uploader_returns_to_the_data_set_chosen_before(tmp_path, monkeypatch):
    """The source was read from the link (source=) but never written to it: Back from "Upload a file" restored
    data= and the app rewrote the address without it, the uploader still shown (and Forward lost)."""
    from explainer.serving.demo import _load_cached
    from tests.app.test_link_history_app import back_to

    config = tmp_path / "uploads.toml"
    config.write_text('[limits]\nmax_upload_mb = 1\n[[models]]\nname = "sst2-baseline"\n'
                      f'[[data]]\nname = "challenge"\npath = "{ROOT / "assets" / "challenge_set.csv"}"\n')
    monkeypatch.setenv("EXPLAINER_DEMO", str(config))
    _load_cached.cache_clear()
    uploads = streamlit_config.get_option("server.maxUploadSize")
    try:
        app = run({"source": "Path on this machine"}, page="app_pages/errors.py")
        assert "source" not in app.query_params  # told once and left: no toast again on every reopening
        entry = dict(app.query_params)
        assert entry["data"] == "challenge"
        app.radio(key="errors_source").set_value(SOURCES[1]).run()
        assert app.query_params["source"] == SOURCES[1] and "data" not in app.query_params
        back_to(app, entry, monkeypatch)
        assert app.session_state["errors_source"] == LISTED
        assert dict(app.query_params) == entry
    finally:
        st.set_option("client.showErrorDetails", "full")
        streamlit_config.set_option("server.maxUploadSize", uploads)


def _an_upload_s_cache_key():
    import streamlit as st

    from explainer import load_model
    from explainer.data.disk_cache import input_key
    from explainer.data.labelled import read_dataset
    from explainer.ui.labelled import private_to_session

    data = read_dataset(b"text,label\na fine film,pos\na dull film,neg\n", filename="mine.csv")
    bundle = load_model("sst2-baseline")
    private = private_to_session(data)
    assert private.content_hash == data.content_hash  # the file's: the Map's slices of picked rows are tied to it
    st.markdown(str(input_key(bundle, private)))
    st.markdown(str(input_key(bundle, data)))


def test_an_upload_in_demo_mode_is_cached_for_its_session_alone(demo, monkeypatch):  # noqa: F811
    """The cache is the server's: an upload another visitor had sent was read from it ("predictions read from the
    cache", a sweep shown at once), telling this visitor that someone had sent the same file before."""
    first = AppTest.from_function(_an_upload_s_cache_key, default_timeout=60).run()
    other = AppTest.from_function(_an_upload_s_cache_key, default_timeout=60).run()
    salted, raw = (m.value for m in first.markdown)
    assert salted != raw and other.markdown[1].value == raw and other.markdown[0].value != salted
    assert first.run().markdown[0].value == salted  # the same file again in this session: its own entry, kept
    monkeypatch.delenv("EXPLAINER_DEMO")  # local mode: the operator's own cache, shared as before
    local = AppTest.from_function(_an_upload_s_cache_key, default_timeout=60).run()
    assert local.markdown[0].value == local.markdown[1].value == raw


def test_the_upload_cap_is_never_above_the_server_s_own_limit():
    """The cap remembered the first limit it saw: an operator's lower server.maxUploadSize, read again by Streamlit
    later, was raised back to that first value on the next run."""
    from explainer.ui.demo import cap_uploads

    before = streamlit_config.get_option("server.maxUploadSize")
    try:
        streamlit_config.set_option("server.maxUploadSize", 200, "the operator's config.toml")
        cap_uploads(3)
        assert streamlit_config.get_option("server.maxUploadSize") == 3
        streamlit_config.set_option("server.maxUploadSize", 1, "the operator's config.toml")  # read again, lowered
        cap_uploads(2)
        assert streamlit_config.get_option("server.maxUploadSize") == 1
        cap_uploads(0)  # a broken spell of the demo config
        assert streamlit_config.get_option("server.maxUploadSize") == 0
        cap_uploads(2)  # mended: the server's own 1 again, not Streamlit's 200 nor the demo's 2
        assert streamlit_config.get_option("server.maxUploadSize") == 1
    finally:
        streamlit_config.set_option("server.maxUploadSize", before)
