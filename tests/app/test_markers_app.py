"""AppTest (no JavaScript) of the Thought markers page: shipped model, a tiny model for the dictionary, a
model without markers."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from explainer.loading import shipped
from explainer.ui import links
from explainer.ui.thought_beacon import shipped_thought_beacon
from tests.conftest import FROM_SCRATCH, ROOT, from_scratch_model

pytestmark = pytest.mark.slow
PAGE = str(ROOT / "app_pages" / "markers.py")
FLIPS = "Not a single moment of this story rings true."  # the shipped model: m2 forced at layer 0 flips it


@pytest.fixture(autouse=True)
def scratch_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))


def open_page(query: dict[str, str]) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=300)
    for key, value in query.items():
        app.query_params[key] = value
    return app.run()


def shipped_or_skip() -> str:
    name = from_scratch_model()
    if name is None or name == shipped.UNTRAINED_NAME:
        pytest.skip(f"needs the shipped {FROM_SCRATCH} model")
    return name


def markdown(app: AppTest) -> str:
    return "\n".join(m.value for m in app.markdown)


def test_shipped_model_map_path_and_force_flip():
    name = shipped_or_skip()
    app = open_page({"model": name, "text": FLIPS})
    assert not app.exception
    assert [h.value for h in app.subheader] == ["Marker per layer and token", "Reasoning path", "Force a marker",
                                                "Marker dictionary"]
    assert len(app.get("plotly_chart")) == 2  # marker map, Sankey
    assert "thought markers" in markdown(app)  # the plain-words definition on top
    assert "Choose at least one layer" in " ".join(c.value for c in app.caption)
    app.selectbox(key="markers_path_token").set_value(3).run()
    assert not app.exception and app.query_params["path"] == "3"
    app.multiselect(key="markers_force_layers").set_value([0]).run()
    app.selectbox(key="markers_force_marker").set_value(2).run()
    assert not app.exception
    text = markdown(app)
    assert "Prediction: **negative**" in text and "after forcing m2: **positive**" in text and "flipped" in text
    assert len(app.get("plotly_chart")) == 4  # + before/after bars, forced marker map
    assert app.query_params["force_layers"] == "0" and app.query_params["force_marker"] == "2"
    # only at the last token ([SEP]): the forced map outlines just that slot, and the prediction is shown again
    last = len(app.multiselect(key="markers_force_positions").options) - 1
    app.multiselect(key="markers_force_positions").set_value([last]).run()
    assert not app.exception and "after forcing m2" in markdown(app)
    assert app.query_params["force_pos"] == str(last)


def test_link_reproduces_the_forced_view():
    name = shipped_or_skip()
    app = open_page({"model": name, "text": FLIPS, "force_layers": "0", "force_marker": "2", "path": "all"})
    assert not app.exception
    assert app.multiselect(key="markers_force_layers").value == [0]
    assert "after forcing m2: **positive**" in markdown(app)
    bad = open_page({"model": name, "text": FLIPS, "force_layers": "x", "force_marker": "99", "path": "500",
                     "force_pos": "1,500"})
    assert not bad.exception and bad.selectbox(key="markers_force_marker").value == 0
    assert bad.multiselect(key="markers_force_positions").value == [1]
    told = " | ".join(t.value for t in bad.toast)  # each value not used as written is named, none replaced silently
    for said in ("force_layers=`x` could not be read", "force_marker=`99` is not offered here",
                 "path=`500` is not offered here (all, 0, 1,", "force_pos=`1,500` names values outside"):
        assert said in told, said


def test_a_links_repeated_values_are_one_choice_each(checkpoint):
    """force_layers=0,0,1: the multiselect held layer 0 twice (two chips), and the link kept it so."""
    app = open_page({"model": str(checkpoint("ours")), "text": "a fine film", "force_layers": "0,0,1",
                     "force_pos": "2,2,1"})
    assert not app.exception
    assert app.multiselect(key="markers_force_layers").value == [0, 1]
    assert app.multiselect(key="markers_force_positions").value == [2, 1]
    assert app.query_params["force_layers"] == "0,1" and app.query_params["force_pos"] == "2,1"
    assert not [t.value for t in app.toast if "force_" in t.value]  # nothing left out: no toast


@pytest.mark.parametrize("page, prefix, params", [
    (PAGE, "markers_force", ("force_layers", "force_pos")),
    (str(ROOT / "app_pages" / "beacons.py"), "beacons_pin", ("pin_layers", "pin_pos")),
])
def test_a_one_token_choice_the_text_lacks_never_becomes_every_token(checkpoint, page, prefix, params):
    """No token chosen means every token: a shorter text dropped the one chosen token and forced (or pinned) every
    token instead, the toast saying only that the position was left out. The layers are cleared with it now."""
    layers, positions = params
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)  # with the sidebar's text box
    app.query_params.update({"model": str(checkpoint("ours")), layers: "0",
                             "text": "the acting was superb but the ending dragged on forever", positions: "7"})
    app.run()
    app.switch_page(page).run()
    assert not app.exception and app.multiselect(key=f"{prefix}_layers").value == [0]
    assert app.multiselect(key=f"{prefix}_positions").value == [7]
    app.text_area(key="text").set_value("a film").run()  # 4 tokens with the tiny tokenizer
    assert not app.exception
    assert app.multiselect(key=f"{prefix}_layers").value == []  # nothing forced, not everything
    assert app.multiselect(key=f"{prefix}_positions").value == []
    told = " | ".join(t.value for t in app.toast)
    assert f"{positions}=7 is outside" in told and "off until layers are chosen again" in told, told
    assert any("Choose at least one layer" in c.value for c in app.caption)
    linked = AppTest.from_file(page, default_timeout=300)  # a link's only position past the text's end: the same
    linked.query_params.update({"model": str(checkpoint("ours")), layers: "0", "text": "a film", positions: "40"})
    linked.run()
    assert not linked.exception and linked.multiselect(key=f"{prefix}_layers").value == []
    assert "off until layers are chosen again" in " | ".join(t.value for t in linked.toast)
    unread = AppTest.from_file(page, default_timeout=300)  # positions that cannot be read: every token, as said
    unread.query_params.update({"model": str(checkpoint("ours")), layers: "0", "text": "a film", positions: "x"})
    unread.run()
    assert not unread.exception and unread.multiselect(key=f"{prefix}_layers").value == [0]
    assert f"{positions}=`x` could not be read here; the default is used" in " | ".join(t.value for t in unread.toast)


def test_dictionary_builds_with_progress_then_comes_from_disk(checkpoint, monkeypatch):
    folder = str(checkpoint("ours"))
    app = open_page({"model": folder, "text": "A gentle film with a big heart."})
    assert not app.exception
    assert "Not built yet" in " ".join(c.value for c in app.caption)
    app.button(key="markers_build").click().run()
    assert not app.exception
    assert not app.get("progress")  # the finished bar gives way to the results
    assert not any(b.key == "markers_build" for b in app.button)  # and so does the button
    table = app.dataframe[0].value
    assert len(table) == 2 * 5 and {"layer", "marker", "top_tokens", "examples"} <= set(table.columns)
    assert len(app.get("plotly_chart")) == 4  # map, Sankey, share, forced effect
    # A fresh session (no Streamlit cache of the run) finds it on disk: nothing is recomputed.
    import explainer.thought_beacon.marker_dictionary as md

    def recomputed(*args, **kwargs):  # an AssertionError reaches app.exception (pytest.fail's ended the run unseen)
        raise AssertionError("the dictionary was recomputed")

    monkeypatch.setattr(md, "build_dictionary", recomputed)
    again = open_page({"model": folder, "text": "Another text."})
    assert not again.exception and len(again.dataframe[0].value) == 10
    assert any("Layer 0, marker m0" in m.value for m in again.markdown)  # the marker card


def test_dictionary_of_a_file_shows_its_text_escaped(checkpoint, tmp_path):
    rows = [f"Review {i}: a <b>bold</b> <img src=x onerror=alert(1)> claim that it is good." for i in range(6)]
    (tmp_path / "mine.csv").write_text("text,label\n" + "".join(f'"{r}",{i % 2}\n' for i, r in enumerate(rows)))
    app = open_page({"model": str(checkpoint("ours"))})
    app.radio(key="markers_data_source").set_value("Path on this machine").run()
    app.text_input(key="markers_data_path").set_value(str(tmp_path / "mine.csv")).run()
    assert "6 texts from" in " ".join(c.value for c in app.caption)
    app.button(key="markers_build").click().run()
    assert not app.exception
    card = next(m.value for m in app.markdown if "marker-card" in m.value)
    assert "&lt;b&gt;" in card or "&lt;img" in card  # the contexts hold the markup, escaped
    assert "<b>bold" not in card and "<img" not in card


@pytest.mark.parametrize(
    "page, prefix", [(PAGE, "markers_data"), (str(ROOT / "app_pages" / "beacons.py"), "beacons_data")]
)
def test_the_data_set_travels_in_the_link(checkpoint, tmp_path, page, prefix):
    # the choice was the session's only: a reload or a shared link went back to the challenge set
    (tmp_path / "mine.csv").write_text("text,label\n" + "".join(f"review {i},{i % 2}\n" for i in range(6)))
    app = AppTest.from_file(page, default_timeout=300)
    app.query_params.update({"model": str(checkpoint("ours")), "data": str(tmp_path / "mine.csv")})
    app.run()
    assert not app.exception
    assert app.radio(key=f"{prefix}_source").value == "Path on this machine"
    assert app.text_input(key=f"{prefix}_path").value == str(tmp_path / "mine.csv")
    assert "6 texts from" in " ".join(c.value for c in app.caption)
    app.radio(key=f"{prefix}_source").set_value("Challenge set (shipped)").run()
    assert "data" not in app.query_params  # the shipped set is the default: no data= for it
    (tmp_path / "one.csv").write_text("text,label\na fine film,1\n,0\n")  # one text, one row skipped: no plurals
    app.radio(key=f"{prefix}_source").set_value("Path on this machine").run()
    app.text_input(key=f"{prefix}_path").set_value(str(tmp_path / "one.csv")).run()
    assert "1 text from" in " ".join(c.value for c in app.caption)
    assert "(1 row skipped, first at line 3: empty text)" in " ".join(c.value for c in app.caption)
    assert "1 texts" not in " ".join(c.value for c in app.caption)  # nor in what a run would cost
    app.text_input(key=f"{prefix}_path").set_value(str(tmp_path / "mine.csv")).run()
    app.radio(key=f"{prefix}_source").set_value("Path on this machine").run()
    assert app.query_params["data"] in (str(tmp_path / "mine.csv"), [str(tmp_path / "mine.csv")])


@pytest.mark.parametrize("page, prefix, button", [(PAGE, "markers_data", "markers_build"),
                                                   (str(ROOT / "app_pages" / "beacons.py"), "beacons_data",
                                                    "beacons_sweep")])
def test_a_row_the_model_cannot_embed_is_a_message_naming_its_line(checkpoint, tmp_path, page, prefix, button):
    """A tokenizer knowing a word the model has no embedding for: the button's run ended in an exception box."""
    from tests.conftest import with_unembeddable_word

    folder = with_unembeddable_word(checkpoint("ours"), tmp_path / "added")
    (tmp_path / "zoo.csv").write_text("text,label\na good film,1\n,0\nthe zebra was dull,0\n")
    app = AppTest.from_file(page, default_timeout=300)
    app.query_params.update({"model": str(folder), "data": str(tmp_path / "zoo.csv")})
    app.run()
    app.button(key=button).click().run()
    assert not app.exception, app.exception
    message = " ".join(e.value for e in app.error)
    assert "Line 4 of" in message and "zebra" in message and "no embedding for" in message, message
    assert any(b.key == button for b in app.button)  # still there: fix the file and run again


@pytest.mark.parametrize("page", [PAGE, str(ROOT / "app_pages" / "beacons.py")])
def test_unknown_labels_are_said_beside_the_model_s(checkpoint, tmp_path, page):
    """The Errors page says which labels the model takes beside a file's unknown ones; these pages did not."""
    (tmp_path / "odd.csv").write_text("text,label\na fine film,sarcastic\n")
    app = AppTest.from_file(page, default_timeout=300)
    app.query_params.update({"model": str(checkpoint("ours")), "data": str(tmp_path / "odd.csv")})
    app.run()
    assert not app.exception, app.exception
    assert any(e.value.startswith("This model takes its label names or ids 0-1.") and "unknown label" in e.value
               for e in app.error), [e.value for e in app.error]


def test_bad_data_path_is_a_clear_message(checkpoint):
    app = open_page({"model": str(checkpoint("ours"))})
    app.radio(key="markers_data_source").set_value("Path on this machine").run()
    app.text_input(key="markers_data_path").set_value("/no/such/file.csv").run()
    assert not app.exception
    assert any("no such file" in e.value for e in app.error)


def test_model_without_markers_offers_the_shipped_one(checkpoint):
    app = open_page({"model": str(checkpoint("baseline"))})
    assert not app.exception
    assert any("not a ThoughtBeacon model" in i.value and "force a marker" in i.value for i in app.info)
    assert not app.get("plotly_chart")
    target = shipped_thought_beacon("num_thought_markers")
    app.button(key="switch_to_thought_beacon").click().run()
    assert not app.exception
    assert app.session_state["model_choice"] == target
    assert app.get("plotly_chart")  # the page now shows the marker map of the shipped model


@pytest.mark.parametrize(("text", "beside"), [(FLIPS, 2), (" ".join([FLIPS] * 3), 1)])
def test_the_forced_map_sits_beside_the_bars_for_a_short_text_and_under_them_for_a_long_one(text, beside):
    # a long text's map in a third of the page squeezed its "m3" cells: it takes the page's width instead
    name = shipped_or_skip()
    app = open_page({"model": name, "text": text, "force_layers": "1", "force_pos": "3"})
    assert not app.exception and len(app.get("plotly_chart")) == 4
    assert sum(len(column.get("plotly_chart")) for column in app.columns) == beside


def test_a_path_token_the_new_text_lacks_is_reset_with_a_toast():
    """The reasoning path of token 12, then a one-word text: the selector fell back to every token silently."""
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    app.query_params["text"] = "A gentle film with a big heart and a quiet triumph of an ending that I loved."
    app.query_params["model"] = shipped_or_skip()
    app.run()
    app.switch_page("app_pages/markers.py").run()
    app.selectbox(key="markers_path_token").set_value(12).run()
    app.text_area(key="text").set_value("terrible").run()
    assert not app.exception, app.exception
    assert app.selectbox(key="markers_path_token").value == -1
    assert any("path=12 is not offered here; all is used" in toast.value for toast in app.toast)


def test_a_shipped_baseline_is_offered_its_own_twin():
    """sst2-baseline was offered the first shipped ThoughtBeacon model (the pretrained MiniLM one), not
    sst2-thought-beacon, trained like it with markers and beacons: the comparison a reader wants."""
    from explainer.loading import shipped

    present = {m.name for m in shipped.available()}
    twins = [pair for pair in shipped.PAIRS if {pair.left, pair.right} <= present and "baseline" in pair.right
             and "thought-beacon" in pair.left]
    if not twins:
        pytest.skip("needs a shipped baseline and its ThoughtBeacon twin")
    for pair in twins:
        assert shipped_thought_beacon("num_thought_markers", pair.right) == pair.left
        assert shipped_thought_beacon("use_beacons", pair.right) == pair.left
    assert len({shipped_thought_beacon("use_beacons", pair.right) for pair in twins}) == len(twins)


def test_a_baseline_opened_by_its_folder_or_offered_under_another_name_is_offered_its_twin(tmp_path, monkeypatch):
    """The twin was looked up by the shipped name only: a shipped baseline opened through the Other box (its
    folder), or offered by a demo under its own name with path =, got the first ThoughtBeacon model."""
    from explainer.loading import shipped

    present = {m.name: m for m in shipped.available()}
    twins = [pair for pair in shipped.PAIRS if {pair.left, pair.right} <= set(present) and "baseline" in pair.right
             and "thought-beacon" in pair.left]
    if not twins:
        pytest.skip("needs a shipped baseline and its ThoughtBeacon twin")
    for pair in twins:
        assert shipped_thought_beacon("use_beacons", str(present[pair.right].folder)) == pair.left
    config = tmp_path / "demo.toml"
    entries = [(f"Model {i}", m) for i, m in enumerate(reversed(list(present.values())))]  # the twin is not first
    config.write_text("".join(f'[[models]]\nname = "{name}"\npath = "{m.folder}"\n' for name, m in entries))
    monkeypatch.setenv("EXPLAINER_DEMO", str(config))
    offered = {m.name: name for name, m in entries}
    for pair in twins:
        assert shipped_thought_beacon("use_beacons", offered[pair.right]) == offered[pair.left], pair


def test_the_caption_counts_one_layer_as_one(tmp_path, tokenizer):
    """A one-layer model's caption read "· 1 layers ·"."""
    from tests.conftest import build_model, save_checkpoint

    folder = save_checkpoint(build_model("ours", num_hidden_layers=1), tokenizer, tmp_path / "one-layer")
    app = open_page({"model": str(folder), "text": "a fine film"})
    assert not app.exception, app.exception
    assert any(" · 1 layer · " in c.value and " tokens · " in c.value for c in app.caption), [
        c.value for c in app.caption]


def test_the_dictionary_s_choices_are_kept_while_another_page_is_shown(checkpoint):
    """Label, layer and marker of the dictionary were forgotten on every visit to another page (Streamlit drops a
    widget its run did not draw), and after a model switch, which hides the dictionary until it is rebuilt."""
    folder = str(checkpoint("ours"))
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    app.query_params.update({"model": folder, "text": "A gentle film with a big heart."})
    app.run()
    app.switch_page("app_pages/markers.py").run()
    app.button(key="markers_build").click().run()
    app.selectbox(key="markers_effect_label").select_index(1).run()
    app.selectbox(key="markers_card_layer").set_value(1).run()
    app.selectbox(key="markers_card_marker").set_value(3).run()
    assert any("Layer 1, marker m3" in m.value for m in app.markdown)
    app.switch_page("app_pages/attention.py").run()
    app.switch_page("app_pages/markers.py").run()
    assert not app.exception, app.exception
    assert app.selectbox(key="markers_effect_label").index == 1
    assert (app.selectbox(key="markers_card_layer").value, app.selectbox(key="markers_card_marker").value) == (1, 3)
    app.switch_page("app_pages/attention.py").run()
    app.session_state[links.KEPT_KEY]["markers_card_layer"] = 9  # kept from a model of more layers
    app.switch_page("app_pages/markers.py").run()
    assert not app.exception and app.selectbox(key="markers_card_layer").value == 0  # Streamlit's default


def test_one_marker_says_forcing_it_changes_nothing_and_counts_its_passes_in_the_singular(tokenizer, tmp_path):
    """K=1, one layer: "then 1 more times with one marker forced", and forcing the only marker (a no-op by
    construction) was shown as if it could move the prediction."""
    from tests.conftest import build_model, save_checkpoint

    folder = save_checkpoint(build_model("ours", num_thought_markers=1, num_hidden_layers=1), tokenizer,
                             tmp_path / "one-marker")
    (tmp_path / "mine.csv").write_text("text,label\na fine film,1\na dull plot,0\n")
    app = open_page({"model": str(folder), "text": "a fine film", "data": str(tmp_path / "mine.csv")})
    assert not app.exception, app.exception
    captions = " ".join(c.value for c in app.caption)
    assert "With one marker, every token already routes to it: forcing it changes nothing" in captions
    assert "then 1 more time with one marker forced" in captions and "more times" not in captions
