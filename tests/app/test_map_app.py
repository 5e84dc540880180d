"""Streamlit AppTest of the Data-set map page on a tiny model (no JavaScript: the browser test lassos and clicks)."""

from __future__ import annotations

import json
import urllib.parse

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explainer.dataset_map import slices as slicing
from explainer.ui import dataset_map as map_ui
from explainer.ui import links
from explainer.views.text import markdown_literal
from tests.conftest import CORPUS, ROOT
from tests.unit.dataset_map.conftest import unlisted_folder  # noqa: F401  (a fixture)


@pytest.fixture(autouse=True)
def scratch_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path_factory.getbasetemp() / "map-app-cache"))


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("map-data") / "reviews.csv"
    rows = [
        f'"{text}",{"neg" if i % 2 else "pos"},{"short" if len(text) < 40 else "long"}' for i, text in enumerate(CORPUS)
    ]
    path.write_text("text,label,capability\n" + "\n".join(rows) + '\n"<b>bold</b> & <script>x</script>",pos,long\n')
    return path


def open_map(query: dict[str, str]) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in query.items():
        app.query_params[key] = value
    app.run()
    app.switch_page("app_pages/map.py").run()
    assert not app.exception, app.exception
    return app


def metrics_table(app: AppTest):
    return next(d for d in app.dataframe if list(d.value.columns) == list(slicing.METRIC_COLUMNS))


def metrics(app: AppTest):
    return metrics_table(app).value


def test_map_renders_with_neighbours_mislabels_and_a_filter_slice(checkpoint, data_file):
    app = open_map({"model": str(checkpoint("bert")), "data": str(data_file)})
    assert len(app.get("plotly_chart")) == 1
    assert any(f"{len(CORPUS) + 1} examples, after layer 1 (hidden state 2 of 0-2)" in c.value for c in app.caption)
    neighbours = next(d.value for d in app.dataframe if "rank" in d.value.columns)
    assert list(neighbours["rank"]) == list(range(1, 11)) and neighbours["distance"].is_monotonic_increasing
    assert 0 not in set(neighbours["row"])  # row 0's own neighbours, itself excluded
    whole = metrics(app)
    assert list(whole["slice"]) == [slicing.WHOLE_SET] and whole["n"].iloc[0] == len(CORPUS) + 1
    assert any("Draw a box or lasso" in c.value for c in app.caption)  # no selection yet: nothing to add
    assert not any(b.key == "map_add_selection" for b in app.button)
    assert "Load slices from a definitions file" in [e.label for e in app.expander]  # the JSON export's way back

    app.text_input(key="map_filter_text").set_value("film").run()
    app.button(key="map_add_filter").click().run()
    assert not app.exception, app.exception
    table_ = metrics(app)
    assert list(table_["slice"]) == [slicing.WHOLE_SET, "filter"]
    assert table_["n"].iloc[1] == sum("film" in text.lower() for text in CORPUS)
    link = json.loads(
        app.query_params["slices"] if isinstance(app.query_params["slices"], str) else app.query_params["slices"][0]
    )
    assert link == [{"name": "filter", "kind": "filter", "rule": {"text": "film"}}]

    app.text_input(key="map_filter_text").set_value("no review says this").run()
    app.button(key="map_add_filter").click().run()
    assert list(metrics(app)["slice"]) == [slicing.WHOLE_SET, "filter", "filter 2"]  # the first one is kept
    empty = metrics(app).iloc[-1]  # a slice with no rows has no metrics: missing numbers (the column stays numbers)
    assert empty["n"] == 0 and all(np.isnan(empty[c]) for c in ("accuracy", "macro_f1", "ece"))
    assert metrics_table(app).proto.placeholder == "–"  # drawn as a dash, not Streamlit's grey "None"

    app.text_input(key="map_filter_name").set_value("Whole set").run()  # the table's first row is not a slice
    app.button(key="map_add_filter").click().run()
    assert list(metrics(app)["slice"]) == [slicing.WHOLE_SET, "filter", "filter 2"]
    assert any("names the table's first row" in t.value for t in app.toast)
    assert app.text_input(key="map_filter_name").value == "Whole set"  # kept, to be edited


def test_a_selection_becomes_a_slice_and_the_link_restores_filters(checkpoint, data_file):
    linked = json.dumps([{"name": "wrong ones", "kind": "filter", "rule": {"correct": "wrong"}}])
    app = open_map(
        {"model": str(checkpoint("distilbert")), "data": str(data_file), "map_layer": "1", "pool": "mean",
         "slices": linked}
    )
    assert app.selectbox(key="map_layer").value == 1 and app.selectbox(key="map_pooling").value == "mean"
    assert list(metrics(app)["slice"]) == [slicing.WHOLE_SET, "wrong ones"]

    app.session_state[map_ui.PENDING_KEY] = [0, 2, 4]  # what the map's lasso callback leaves (browser test)
    app.run()
    assert any("3 points selected" in t.label for t in app.text_input)
    assert any("pick Zoom or Pan" in c.value for c in app.caption)  # a click clears a box until then (plotly)
    assert any(c.value.startswith("The ringed point is row 0,") for c in app.caption)
    drawn_on = app.get("plotly_chart")[0].proto.id
    app.button(key="map_add_selection").click().run()
    assert not app.exception, app.exception
    # a new chart: plotly kept the box drawn and the points outside it dimmed on the old one
    assert app.get("plotly_chart")[0].proto.id != drawn_on
    table_ = metrics(app)
    assert list(table_["slice"]) == [slicing.WHOLE_SET, "wrong ones", "selection"]
    assert table_["n"].iloc[2] == 3
    app.session_state[map_ui.PENDING_KEY] = [1, 3]
    app.run()
    assert app.text_input(key="map_selection_name").value == "selection 2"  # a new name, not the last one's
    app.button(key="map_add_selection").click().run()
    assert list(metrics(app)["slice"]) == [slicing.WHOLE_SET, "wrong ones", "selection", "selection 2"]
    # selections are row lists: in the exported JSON, not in the link, and the page says so (a browser walk
    # reopened the link and found them gone without a word)
    assert any(c.value.startswith("2 slices of picked rows") and "not in the link" in c.value for c in app.caption)
    assert "selection" not in (
        app.query_params["slices"] if isinstance(app.query_params["slices"], str) else app.query_params["slices"][0]
    )
    # Back to an address without the filter: links.begin_run drops the slices to re-seed them from it. The
    # selections, which no address carries, were lost with them ("Back deletes a hand-picked slice for good").
    del app.session_state[map_ui.SLICES_KEY]
    app.query_params["slices"] = "[]"
    app.session_state[links.LINK_KEY] = {**app.session_state[links.LINK_KEY], "slices": "[]"}
    app.run()
    assert not app.exception and list(metrics(app)["slice"]) == [slicing.WHOLE_SET, "selection", "selection 2"]


def test_a_layer_out_of_range_in_the_link_is_clamped_and_markup_stays_text(checkpoint, data_file):
    app = open_map({"model": str(checkpoint("ours")), "data": str(data_file), "map_layer": "99", "colour": "marker"})
    assert app.selectbox(key="map_layer").value == 2
    assert app.selectbox(key="map_colour").value == "marker"  # ThoughtBeacon: the dominant marker
    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    hovers = [text for trace in figure["data"] for text in trace.get("text", [])]
    assert any("&lt;script&gt;" in text for text in hovers) and not any("<script>" in text for text in hovers)


def test_another_pages_layer_in_the_link_leaves_the_map_on_its_last_layer(checkpoint, data_file):
    # Attention's layer=0 is the first block; on the map 0 would be the embeddings, where every readout is the same
    app = open_map({"model": str(checkpoint("bert")), "data": str(data_file), "layer": "0", "head": "1"})
    assert app.selectbox(key="map_layer").value == 2


def test_the_map_s_default_last_layer_follows_the_model(checkpoint, tokenizer, data_file, tmp_path):
    """As the Overview's: switching to a model of fewer layers toasted "The chosen map_layer=3 is outside…" though
    nothing was chosen, and switching back left the smaller model's last layer."""
    from tests.app.test_app import assert_the_default_last_layer_follows_the_model
    from tests.conftest import build_model, save_checkpoint

    deeper = str(save_checkpoint(build_model("bert", num_hidden_layers=3), tokenizer, tmp_path / "deeper"))
    app = open_map({"model": deeper, "data": str(data_file)})  # hidden states 0-3, then 0-2
    assert_the_default_last_layer_follows_the_model(app, lambda: app.selectbox(key="map_layer"), deeper,
                                                    str(checkpoint("bert")), 3, "map_layer")


def test_the_neighbours_row_is_in_the_link_and_clamped_from_it(checkpoint, data_file):
    app = open_map({"model": str(checkpoint("bert")), "data": str(data_file)})
    assert app.number_input(key="map_row").value == 0 and "row" not in app.query_params  # row 0: the default
    app.number_input(key="map_row").set_value(3).run()
    assert not app.exception and app.query_params["row"] == "3"
    shared = open_map({"model": str(checkpoint("bert")), "data": str(data_file), "row": "3"})
    assert shared.number_input(key="map_row").value == 3
    neighbours = next(d.value for d in shared.dataframe if "rank" in d.value.columns)
    assert 3 not in set(neighbours["row"])  # row 3's own neighbours, itself excluded
    assert any(c.value.startswith("Row 3 (line 5)") for c in shared.caption)
    outside = open_map({"model": str(checkpoint("bert")), "data": str(data_file), "row": "999"})
    assert outside.number_input(key="map_row").value == len(CORPUS)  # the last row
    assert any("row=`999` is outside 0 to" in t.value for t in outside.toast)


def test_the_click_action_is_in_the_link(checkpoint, data_file):
    app = open_map({"model": str(checkpoint("bert")), "data": str(data_file)})
    choices = app.radio(key="map_click").options
    assert app.radio(key="map_click").value == choices[0] and "click" not in app.query_params  # the default
    app.radio(key="map_click").set_value(map_ui.SHOW_HERE).run()
    assert not app.exception and app.query_params["click"] == "neighbours"  # a word, not the radio's whole label
    app.radio(key="map_click").set_value("Open it in Attention").run()
    assert app.query_params["click"] == "attention"
    for value in ("neighbours", map_ui.SHOW_HERE):  # a link written before carried the whole label
        shared = open_map({"model": str(checkpoint("bert")), "data": str(data_file), "click": value})
        assert shared.radio(key="map_click").value == map_ui.SHOW_HERE and not shared.toast


def test_a_click_opens_thought_markers_only_on_a_model_with_markers(checkpoint, data_file):
    """A model without markers was offered "Open it in Thought markers", which only said it had none."""
    ours = open_map({"model": str(checkpoint("ours")), "data": str(data_file)})
    assert "Open it in Thought markers" in ours.radio(key="map_click").options
    for value in ("markers", "Open it in Thought markers"):
        link = {"model": str(checkpoint("baseline")), "data": str(data_file), "click": value}
        plain = open_map(link)
        picker = plain.radio(key="map_click")
        assert "Open it in Thought markers" not in picker.options and picker.value == picker.options[0]
        assert any("is not offered here" in toast.value for toast in plain.toast)
    marked = open_map({"model": str(checkpoint("ours")), "data": str(data_file), "click": "markers"})
    assert marked.radio(key="map_click").value == "Open it in Thought markers"


def test_a_hand_edited_slice_in_the_link_is_dropped_with_a_toast_not_a_failed_page(checkpoint, data_file):
    linked = json.dumps([
        {"name": "x", "rule": {"text": 5}},
        {"name": "dup", "rule": {"text": "film"}},
        {"name": "dup", "rule": {"text": "good"}},  # a name used again replaces the slice, as in the form
        {"name": "whole set"},
    ])
    app = open_map({"model": str(checkpoint("bert")), "data": str(data_file), "slices": linked})
    assert not app.exception, app.exception
    table_ = metrics(app)
    assert list(table_["slice"]) == [slicing.WHOLE_SET, "dup"]
    assert table_["n"].iloc[1] == sum("good" in text.lower() for text in CORPUS)
    assert any("slices=" in t.value and "was not read whole" in t.value and "whole set" in t.value for t in app.toast)
    assert app.multiselect(key="map_remove").options == ["dup"]


def test_a_link_s_picked_rows_and_unknown_labels_are_said_not_applied_silently(checkpoint, data_file):
    """A hand-edited link's picked rows named rows of whatever data set came next (and a row past the end was
    dropped unsaid); a filter naming a label the model lacks showed n=0 with no word why."""
    linked = json.dumps([
        {"name": "picked", "kind": "selection", "rows": [1, 2, 3, 999]},
        {"name": "neu", "rule": {"labels": ["neutral"], "tags": ["short", "huge"]}},
    ])
    app = open_map({"model": str(checkpoint("bert")), "data": str(data_file), "slices": linked})
    assert not app.exception, app.exception
    assert list(metrics(app)["slice"]) == [slicing.WHOLE_SET, "neu"] and metrics(app)["n"].iloc[1] == 0
    assert any("'picked'" in t.value and "not in a link" in t.value for t in app.toast)
    assert any(c.value == markdown_literal("Slice 'neu' names what no row here has (neutral, huge), so it keeps "
                                           "no row.") for c in app.caption)


def test_a_box_over_empty_space_is_said(checkpoint, data_file):
    app = open_map({"model": str(checkpoint("bert")), "data": str(data_file)})
    app.session_state[map_ui.PENDING_KEY] = []  # what the map's box callback leaves for a box holding no point
    app.session_state[map_ui.PENDING_DATA_KEY] = map_ui.layout_id(app.session_state["_map_result"][1])
    app.session_state[map_ui.AREA_KEY] = '[[{"x": [0, 1]}], []]'
    app.run()
    assert any(c.value.startswith("The box or lasso drawn holds no point") for c in app.caption)
    assert not any(c.value.startswith("Draw a box or lasso") for c in app.caption)


def test_a_link_too_long_for_every_filter_carries_the_first_and_says_so(checkpoint, data_file):
    # as many filters as a session keeps, each long enough that the link holds only some
    many = [{"name": f"slice number {i}", "rule": {"text": f"a longer phrase {i}"}} for i in range(slicing.MAX_SLICES)]
    app = open_map({"model": str(checkpoint("bert")), "data": str(data_file), "slices": json.dumps(many)})
    assert not app.exception, app.exception
    assert len(metrics(app)) == slicing.MAX_SLICES + 1  # every filter is the session's, with the whole set first
    published = app.query_params["slices"]
    published = published if isinstance(published, str) else published[0]
    carried = json.loads(published)
    assert len(urllib.parse.quote_plus(published)) <= slicing.LINK_CHARS and len(carried) < slicing.MAX_SLICES
    assert [(each["name"], each["rule"]) for each in carried] == [
        (each["name"], each["rule"]) for each in many[: len(carried)]
    ]
    assert any(f"{slicing.MAX_SLICES - len(carried):,} more would make it too long" in c.value for c in app.caption)


def test_rows_picked_on_one_data_set_stay_with_it(checkpoint, data_file, tmp_path):
    other = tmp_path / "others.csv"
    other.write_text("text,label\n" + "\n".join(f'"{text}",pos' for text in CORPUS[:5]) + "\n")
    app = open_map({"model": str(checkpoint("bert")), "data": str(data_file)})
    layout = map_ui.layout_id(app.session_state["_map_result"][1])  # the map's (identity, result), kept for reruns
    app.session_state[map_ui.PENDING_KEY] = [0, 2, 4]  # what the map's lasso callback leaves (browser test)
    app.session_state[map_ui.PENDING_DATA_KEY] = layout
    app.run()
    app.button(key="map_add_selection").click().run()
    app.session_state[map_ui.PENDING_KEY] = [1, 3]  # a second selection, not yet a slice
    app.session_state[map_ui.PENDING_DATA_KEY] = layout
    app.run()
    assert list(metrics(app)["slice"]) == [slicing.WHOLE_SET, "selection"]

    app.text_input(key="map_path").set_value(str(other)).run()
    assert not app.exception, app.exception
    assert list(metrics(app)["slice"]) == [slicing.WHOLE_SET]  # rows 0, 2, 4 of the first file are not these
    assert any("1 slice of rows picked on another data set is kept for it" in c.value for c in app.caption)
    assert not any("selected: slice name" in t.label for t in app.text_input)  # nor is the pending selection
    assert any("Draw a box or lasso" in c.value for c in app.caption)
    assert not any(b.key == "map_add_selection" for b in app.button)
    app.text_input(key="map_filter_text").set_value("film").run()
    app.button(key="map_add_filter").click().run()
    assert list(metrics(app)["slice"]) == [slicing.WHOLE_SET, "filter"]

    app.text_input(key="map_path").set_value(str(data_file)).run()
    table_ = metrics(app)
    assert list(table_["slice"]) == [slicing.WHOLE_SET, "selection", "filter"]  # back on its data set
    assert table_["n"].iloc[1] == 3
    assert any("2 points selected" in t.label for t in app.text_input)

    # a filter is shown on every data set: one added on the other file under the selection's name replaces it
    app.text_input(key="map_path").set_value(str(other)).run()
    app.text_input(key="map_filter_name").set_value("selection").run()
    app.button(key="map_add_filter").click().run()
    app.text_input(key="map_path").set_value(str(data_file)).run()
    assert [tuple(r) for r in metrics(app)[["slice", "kind"]].itertuples(index=False)] == [
        (slicing.WHOLE_SET, ""), ("filter", "filter"), ("selection", "filter")
    ]


def test_the_filter_form_is_drawn_open_once_used(checkpoint, data_file):
    """A map option seen for the first time ends the run at the map (the browser draws it first): the rerun that
    brought the form back drew it closed over the values typed in it (browser: 4 of 4 option changes)."""
    app = open_map({"model": str(checkpoint("bert")), "data": str(data_file)})

    def form_open() -> bool:
        return next(e for e in app.expander if e.label == "New slice from a filter").proto.expanded

    assert not form_open()
    app.run()  # the page's second run: the name box now holds its fresh name, which is no use of the form
    assert not form_open()
    app.text_input(key="map_filter_name").set_value("long reviews").run()
    assert form_open()
    app = open_map({"model": str(checkpoint("bert")), "data": str(data_file)})
    app.session_state[map_ui.PENDING_KEY] = [0, 2, 4]  # a lasso's rows, made a slice named as the filter box's name
    app.session_state[map_ui.PENDING_DATA_KEY] = map_ui.layout_id(app.session_state["_map_result"][1])
    app.run()
    app.text_input(key=map_ui.SELECTION_NAME_KEY).set_value("filter").run()
    app.button(key="map_add_selection").click().run()
    assert "filter" in list(metrics(app)["slice"]) and app.text_input(key="map_filter_name").value == "filter"
    app.run()
    assert not form_open()  # the box still holds the name it was given, though that name is taken now
    app.text_input(key="map_filter_text").set_value("film").run()
    assert form_open()
    app.text_input(key="map_filter_text").set_value("").run()
    assert form_open()  # emptied, it stays open: it does not close under the user's hands


def test_a_pending_selection_belongs_to_the_layout_it_was_drawn_on(checkpoint, data_file):
    """It stayed pending ("91 points selected", Add as slice) on another layer's map, which draws no box."""
    app = open_map({"model": str(checkpoint("bert")), "data": str(data_file)})
    app.session_state[map_ui.PENDING_KEY] = [0, 2, 4]  # what the map's lasso callback leaves (browser test)
    app.session_state[map_ui.PENDING_DATA_KEY] = map_ui.layout_id(app.session_state["_map_result"][1])
    app.run()
    assert any("3 points selected" in t.label for t in app.text_input)
    app.selectbox(key="map_layer").set_value(1).run()  # another layer: the box's points lie elsewhere
    assert not app.exception and not any("points selected" in t.label for t in app.text_input)
    assert any("Draw a box or lasso" in c.value for c in app.caption)


def test_map_options_a_link_garbles_are_named_in_toasts(checkpoint, data_file):
    app = open_map({"model": str(checkpoint("bert")), "data": str(data_file), "colour": "marker", "k": "7",
                    "pool": "zz", "click": "nope"})
    assert not app.exception
    assert app.selectbox(key="map_colour").value == "label"  # a baseline has no markers to colour by
    assert app.selectbox(key="map_k").value == 10 and app.selectbox(key="map_pooling").value == "readout"
    told = " | ".join(t.value for t in app.toast)
    for option in ("colour=`marker`", "k=`7`", "pool=`zz`", "click=`nope`"):
        assert f"The link's {option} is not offered here" in told, option


def test_a_family_without_a_known_readout_is_mapped_by_its_mean_vectors(unlisted_folder, data_file):  # noqa: F811
    app = open_map({"model": str(unlisted_folder), "data": str(data_file), "pool": "readout"})
    assert app.selectbox(key="map_pooling").options == [map_ui.POOLING_TITLES["mean"]]
    assert [t.value for t in app.toast] and not app.error  # the link's readout is not offered, and said so
    assert len(app.get("plotly_chart")) == 1 and any("mean vectors" in c.value for c in app.caption)


def test_ids_read_by_a_model_with_more_labels_are_said_on_the_map(tokenizer, tmp_path):
    from tests.conftest import build_model, save_checkpoint

    names = {0: "negative", 1: "neutral", 2: "positive"}
    model = build_model("bert", num_labels=3, id2label=names, label2id={v: k for k, v in names.items()})
    folder = save_checkpoint(model, tokenizer, tmp_path / "three")
    app = open_map({"model": str(folder)})  # the shipped challenge set: labels 0 and 1
    assert "1 as 'neutral'" in " ".join(w.value for w in app.warning)


def test_a_one_row_file_is_one_example(checkpoint, tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("text,label\na fine film,pos\n")
    app = open_map({"model": str(checkpoint("ours")), "data": str(path)})
    assert any(": 1 example, " in c.value for c in app.caption), [c.value for c in app.caption]  # "1 examples"


def _overflowing_slices_script():
    import streamlit as st

    from explainer.dataset_map import slices as slicing
    from explainer.ui import dataset_map as map_ui
    from explainer.ui import links

    if "address" not in st.session_state:
        many = [slicing.from_filter(f"filter {i}", slicing.SliceRule(text="x" * 300 + str(i))) for i in range(20)]
        map_ui.store_slices([*many, slicing.Slice("picked", "selection", rows=(0, 2), data="d")])
        st.session_state.address = slicing.link_value(map_ui.session_slices())
    else:  # Back or Forward to that address: links.begin_run drops the slices, re-seeded from slices=
        st.session_state.pop(map_ui.SLICES_KEY, None)
        st.session_state[links.LINK_KEY] = {"slices": st.session_state.address}
    st.write(" | ".join(each.name for each in map_ui.session_slices()))


def test_filters_past_the_link_s_size_survive_back_and_forward():
    """Filters that do not fit in slices= are carried by no address, like selections: Back lost them for good."""
    app = AppTest.from_function(_overflowing_slices_script, default_timeout=60).run()
    before = app.markdown[0].value.split(" | ")
    assert before == [*(f"filter {i}" for i in range(20)), "picked"]
    assert 0 < len(json.loads(app.session_state["address"])) < 20  # some filters are past the link's size
    app.run()
    assert not app.exception and sorted(app.markdown[0].value.split(" | ")) == sorted(before)


def test_a_row_of_several_files_is_named_by_its_file_and_line(checkpoint, tmp_path, monkeypatch):
    """Each shard numbers its own lines: the neighbours' caption said "line 2" of a row of a folder of shards."""
    from explainer.cli.map import main as map_main

    folder = tmp_path / "shards"
    folder.mkdir()
    (folder / "part-0.csv").write_text("text,label\na fine film,pos\na dull film,neg\n")
    (folder / "part-1.csv").write_text("text,label\na warm film,pos\nthe plot falls apart,neg\nfunny,pos\n")
    map_main(["--model", str(checkpoint("bert")), "--data", str(folder), "--out", str(tmp_path / "results"),
              "--method", "pca", "--neighbours", "2"])
    app = open_map({"model": str(checkpoint("bert")), "results": str(tmp_path / "results"), "row": "3"})
    assert any(c.value.startswith("Row 3 (part-1.csv, line 3), true") for c in app.caption)
    assert list(app.dataframe[1].value.columns[2:5]) == ["row", "file", "line"]  # the neighbours


def test_a_one_row_data_set_says_it_has_no_neighbours_and_offers_no_empty_list(checkpoint, tmp_path):
    # it read "0 rows whose label disagrees with most of their 0 nearest neighbours' labels" under a note that began
    # in lower case, and the empty list's CSV download was offered
    path = tmp_path / "one.csv"
    path.write_text("text,label\na fine film,pos\n")
    app = open_map({"model": str(checkpoint("bert")), "data": str(path)})
    assert "The data set has 1 row, so each has 0 neighbours, not the 10 asked for." in [i.value for i in app.info]
    assert "No row has a neighbour to compare its label with: none is listed." in [c.value for c in app.caption]
    captions = [c.value for c in app.caption]  # not "whose nearest neighbours are listed below" over an empty table
    assert "The ringed point is the data set's one row, which has no neighbours." in captions
    assert not any("listed below" in caption for caption in captions)
    (download,) = [d for d in app.get("download_button") if d.proto.label == "Likely mislabelled (CSV)"]
    assert download.proto.disabled
