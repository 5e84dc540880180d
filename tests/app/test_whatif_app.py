"""AppTest of the What-if page (no JavaScript) on the default model: both predictions, the escaped diff, the link,
counterfactuals on request; and the Errors page's "Find the smallest flip" opening What-if with the result."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from explainer import load_model
from tests.conftest import ROOT, as_read

pytestmark = pytest.mark.slow
PAGE = str(ROOT / "app_pages" / "whatif.py")
ORIGINAL = "A dull, <b>lifeless</b> script."
EDITED = "A brilliant, <b>lively</b> script."


@pytest.fixture(autouse=True)
def scratch_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path_factory.getbasetemp() / "whatif-app-cache"))


def run_page(query: dict[str, str]) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=300)
    for key, value in query.items():
        app.query_params[key] = value
    return app.run()


def test_page_shows_both_predictions_the_diff_and_keeps_the_link():
    app = run_page({"text": ORIGINAL, "edited": EDITED, "cf_method": "removal", "method": "saliency"})
    assert not app.exception, app.exception
    assert app.text_area(key="whatif_edited").value == EDITED
    metrics = {m.label: m.value for m in app.metric}
    assert metrics == {"Original prediction": "negative", "Edited prediction": "positive"}
    markdown = " ".join(m.value for m in app.markdown)
    assert "&lt;b&gt;" in markdown and "<b>" not in markdown  # the user's markup stays text
    assert ">dull</del>" in markdown and ">brilliant</ins>" in markdown
    assert any("2 words changed" in c.value and "**flips**" in c.value for c in app.caption)
    assert len(app.get("plotly_chart")) == 1  # the layers x heads map
    assert app.query_params["edited"] == EDITED and app.query_params["cf_method"] == "removal"
    assert app.selectbox(key="whatif_cf_method").value == "removal"
    assert app.selectbox(key="whatif_attribution").value == "saliency"
    # The edited text (predicted positive) is attributed towards the original's negative, as the key says: blue
    # had meant "supports negative" on the left and "supports positive" on the right.
    captions = [c.value for c in app.caption]
    assert any(c.startswith("Edited · ") and "attributing **negative**" in c for c in captions), captions
    key = "Both texts are attributed towards **negative**, the original's prediction, and shaded on one scale"
    assert any(c.startswith(key) for c in captions)
    # ... on one scale: only the text holding the strongest score of either is drawn at the full shade (0.85)
    shades = [[float(a) for a in re.findall(r"rgba\([^)]*, ([0-9.]+)\)", m.value)]
              for m in app.markdown if "attribution-token" in m.value]
    assert len(shades) == 2 and sorted(max(side) == 0.85 for side in shades) == [False, True], shades

    app.text_area(key="whatif_edited").set_value("A dull script.").run()
    assert not app.exception and app.query_params["edited"] == "A dull script."
    assert {m.label: m.value for m in app.metric}["Edited prediction"] == "negative"


def test_an_edit_that_keeps_the_prediction_attributes_both_texts_as_the_attribution_page_does(monkeypatch):
    # towards the same label by name, the copy of the original was attributed again under another cache key
    from explainer.ui import caches

    calls = []
    attribute = caches.attribute
    monkeypatch.setattr(caches, "attribute", lambda bundle, text, method, target=None, **kw: (
        calls.append((text, method, target)), attribute(bundle, text, method, target=target, **kw))[1])
    app = run_page({"text": "A quietly moving film.", "method": "saliency"})
    assert not app.exception, app.exception
    assert calls == [("A quietly moving film.", "saliency", None)]


def test_find_counterfactuals_lists_real_flips():
    app = run_page({"text": ORIGINAL, "cf_method": "all", "method": "saliency"})
    assert not app.exception
    assert app.text_area(key="whatif_edited").value == ORIGINAL  # no edited= in the link: a copy of the original
    assert not app.dataframe
    app.button(key="whatif_find").click().run()
    assert not app.exception, app.exception
    table = app.dataframe[0].value
    assert len(table) >= 1 and (table["label"] == "positive").all()
    assert table["edits"].is_monotonic_increasing and table["edits"].iloc[0] <= 3
    bundle = load_model(device="cpu")
    from explainer.counterfactual.scoring import Scorer

    probabilities = Scorer(bundle, 0, None).probabilities(table["text"].tolist())
    assert [bundle.label_names[i] for i in probabilities.argmax(1)] == table["label"].tolist()
    # "15 flips found in 7 forward passes" beside "every one re-run" read as a contradiction: the passes are batched
    assert any("batched forward passes (up to 64 candidate texts each)" in c.value for c in app.caption)
    fewer = any("a flip with fewer edits may exist" in c.value for c in app.caption)
    assert fewer == (table["edits"].iloc[0] > 1)


def test_a_swap_the_model_cannot_read_is_said_not_tried(checkpoint, tmp_path):
    """The search skips an edit the model cannot embed (context.readable): such a swap was reported "tried, but in
    none of the flips found"."""
    from tests.conftest import with_unembeddable_word

    folder = str(with_unembeddable_word(checkpoint("bert"), tmp_path / "model"))
    app = run_page({"model": folder, "text": "a fine film with a big heart", "cf_method": "lexicon",
                    "swaps": "fine->zebra, big->small"})
    app.button(key="whatif_find").click().run()
    assert not app.exception, app.exception
    said = [as_read(c.value) for c in app.caption if "Your swaps" in c.value]
    assert said and said[0].startswith("Your swaps: fine->zebra: not tried: the model cannot read the text it makes; "
                                       "big->small: "), said
    assert "big->small: not tried" not in said[0]


def test_a_search_that_found_only_longer_flips_says_fewer_may_exist():
    # HotFlip's first-order ranking puts "dull" 16,217th for "gentle" on the MiniLM baseline: it lists two-word
    # flips only, though "A dull film with a big heart." flips it. The page had read as "no one-word flip exists".
    app = run_page({"model": "sst2-minilm-baseline", "text": "A gentle film with a big heart.", "cf_method": "hotflip"})
    app.button(key="whatif_find").click().run()
    assert not app.exception, app.exception
    table = app.dataframe[0].value
    assert (table["edits"] == 2).all()
    assert any("a flip with fewer edits may exist (edit the copy above to try one)" in c.value for c in app.caption)


def test_the_users_swaps_feed_the_lexicon_and_travel_in_the_link():
    app = run_page({"text": "A dull script.", "cf_method": "lexicon"})
    app.text_input(key="whatif_swaps").set_value("dull->splendid").run()
    app.button(key="whatif_find").click().run()
    assert not app.exception, app.exception
    table = app.dataframe[0].value
    assert "A splendid script." in table["text"].tolist() and app.query_params["swaps"] == "dull->splendid"
    assert "Your swaps: dull->splendid: in a flip below." in [as_read(c.value) for c in app.caption]
    # a swap that flips nothing was simply missing from the table: said, as one whose word is not in the text
    app.text_input(key="whatif_swaps").set_value("script->scripts, zebra->horse").run()
    app.button(key="whatif_find").click().run()
    assert ("Your swaps: script->scripts: tried, but in none of the flips found; zebra->horse: its word is not in "
            "the text." in [as_read(c.value) for c in app.caption])
    app.text_input(key="whatif_swaps").set_value("dull").run()
    app.button(key="whatif_find").click().run()
    assert not app.exception and any("has no '->'" in as_read(i.value) for i in app.info)
    assert run_page({"text": "A dull script.", "cf_method": "removal"}).get("text_input") == []  # lexicon only


def test_empty_edit_gets_a_message_and_keeps_the_original_and_its_flips():
    app = run_page({"text": ORIGINAL, "edited": "   ", "cf_method": "removal"})
    assert not app.exception and app.info
    assert app.info[0].value.startswith("The edited copy is empty: ")  # not "The edited copy: The text is empty"
    # the page went blank below the message: the original's prediction and the way to load a flip stay
    assert [m.label for m in app.metric] == ["Original prediction"]
    app.button(key="whatif_find").click().run()
    assert not app.exception, app.exception
    assert len(app.dataframe[0].value) >= 1 and (app.dataframe[0].value["label"] == "positive").all()


def test_an_emptied_copy_stays_empty_in_the_link_and_reopens_empty():
    """The link dropped edited= once the copy was emptied, and reopening it filled the copy with the text again."""
    app = run_page({"text": ORIGINAL})
    app.text_area(key="whatif_edited").set_value("").run()
    assert app.query_params["edited"] in ("", [""])
    again = run_page({key: value if isinstance(value, str) else value[0] for key, value in app.query_params.items()})
    assert again.text_area(key="whatif_edited").value == ""
    assert again.info[0].value.startswith("The edited copy is empty: ")


def test_reset_draws_the_flips_anew_so_the_loaded_one_loads_again():
    """The browser keeps a table's selected row: after Reset, a click on the flip loaded before only cleared it and
    nothing loaded. Reset gives the table a new identity, drawn with no row selected."""
    app = run_page({"text": ORIGINAL, "cf_method": "removal"})
    app.button(key="whatif_find").click().run()
    before = app.dataframe[0].proto.id
    app.button(key="whatif_reset").click().run()
    assert not app.exception and app.text_area(key="whatif_edited").value == ORIGINAL
    assert app.dataframe and app.dataframe[0].proto.id != before
    assert app.dataframe[0].value.equals(run_page({"text": ORIGINAL, "cf_method": "removal"}).button(
        key="whatif_find").click().run().dataframe[0].value)  # the same flips


def test_errors_page_finds_the_smallest_flip_and_opens_what_if():
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    app.run()
    app.switch_page("app_pages/errors.py").run()
    assert not app.exception, app.exception
    mistake = app.selectbox(key="errors_flip_text").options[0]
    app.button(key="errors_flip_button").click().run()
    assert not app.exception, app.exception
    assert [t.value for t in app.title] == ["What-if"]
    assert app.session_state["text"] == mistake
    edited = app.text_area(key="whatif_edited").value
    assert edited != mistake  # the best flip, loaded as the edited text
    assert app.query_params["edited"] == edited and app.query_params["cf_method"] == "all"
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Original prediction"] != metrics["Edited prediction"]
    assert app.dataframe and app.dataframe[0].value["text"].iloc[0] == edited  # the list of flips is shown


def test_the_mistake_picked_on_errors_is_still_picked_on_the_way_back():
    """Back from What-if drew "Mistake to flip" at the first mistake: "Patch the flip in Causal" then patched
    another example than the one just flipped (a browser walk caught it)."""
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    app.run()
    app.switch_page("app_pages/errors.py").run()
    mistake = app.selectbox(key="errors_flip_text").options[2]
    app.selectbox(key="errors_flip_text").set_value(mistake).run()
    app.button(key="errors_flip_button").click().run()
    assert [t.value for t in app.title] == ["What-if"] and app.session_state["text"] == mistake
    app.switch_page("app_pages/errors.py").run()
    assert not app.exception, app.exception
    assert app.selectbox(key="errors_flip_text").value == mistake
    other = app.selectbox(key="errors_flip_text").options[0]
    app.text_input(key="errors_filter_text").set_value(other).run()  # the picked mistake is filtered out
    picker = app.selectbox(key="errors_flip_text")
    # sent with the run: a browser keeps drawing its old value otherwise, and the flip ran on the hidden mistake
    assert not app.exception and picker.value == other and picker.proto.set_value


def test_a_copy_written_for_an_earlier_sidebar_text_says_so_until_reset_or_edited():
    app = run_page({"text": ORIGINAL})
    note = "written for an earlier sidebar text"
    app.text_area(key="whatif_edited").set_value(EDITED).run()
    assert not app.exception and not any(note in i.value for i in app.info)
    app.session_state["text"] = "A quiet film about a lighthouse keeper."  # the sidebar's box (app.py draws it)
    app.run()
    assert not app.exception and any(note in i.value for i in app.info)  # the two columns compare unrelated texts
    app.text_area(key="whatif_edited").set_value("A quiet film about a lighthouse.").run()
    assert not any(note in i.value for i in app.info)  # edited with this text in view: written for it
    app.session_state["text"] = ORIGINAL
    app.run()
    assert any(note in i.value for i in app.info)
    app.button(key="whatif_reset").click().run()
    assert app.text_area(key="whatif_edited").value == ORIGINAL and not any(note in i.value for i in app.info)


def test_a_copy_never_edited_follows_a_new_sidebar_text():
    """Kept as it was, the untouched copy of the old text was compared with the new one: "13 words changed · the
    prediction flips", a flip no one had made."""
    app = run_page({"text": ORIGINAL})
    assert app.text_area(key="whatif_edited").value == ORIGINAL
    new_text = "A quiet film about a lighthouse keeper."
    app.session_state["text"] = new_text  # the sidebar's box (app.py draws it)
    app.run()
    assert not app.exception
    assert app.text_area(key="whatif_edited").value == new_text
    assert not any("written for an earlier sidebar text" in info.value for info in app.info)
    app.text_area(key="whatif_edited").set_value(EDITED).run()  # edited now: it stays when the sidebar changes
    app.session_state["text"] = ORIGINAL
    app.run()
    assert app.text_area(key="whatif_edited").value == EDITED


def test_a_model_reading_no_known_position_gets_a_note_not_a_head_map(tmp_path, tokenizer):
    """GPT-NeoX is not in the per-architecture table: the head map read the first token's attention, which a
    decoder's classifier does not read (every head showed 0 change). It now says why it shows none."""
    from tests.unit.views.test_attention_page import unknown_decoder

    folder = unknown_decoder(tmp_path, tokenizer).folder
    app = run_page({"model": str(folder), "text": "the film is good", "edited": "the film is bad"})
    assert not app.exception, app.exception
    assert not app.get("plotly_chart")
    assert any("not in the per-architecture table" in info.value for info in app.info)
    assert not any("Total variation distance" in caption.value for caption in app.caption)  # no map to read it on


def test_find_clicked_with_a_new_sidebar_text_searches_that_text():
    """A text typed in the sidebar and not sent arrives with the click; the button's callback asked for the old
    text's flips, so the click did nothing (seen in a browser, 2 of 2)."""
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    app.query_params.update({"text": ORIGINAL, "cf_method": "removal"})
    app.run().switch_page("app_pages/whatif.py").run()
    app.text_area(key="text").input("A dull, tedious script.")
    app.button(key="whatif_find").click().run()
    for _ in range(3):  # the progressive rest, as the browser asks for it
        if app.dataframe:
            break
        app.run()
    assert not app.exception, app.exception
    flips = app.dataframe[0].value if app.dataframe else None
    assert flips is not None and len(flips) and (flips["label"] == "positive").all()  # flips of the new text
    assert not flips["text"].str.contains("lifeless|<b>").any(), list(flips["text"])  # none of the old text's


def test_reset_with_a_new_sidebar_text_copies_that_text():
    """Reset copied the sidebar text drawn beside the button, not the one typed and sent with the click."""
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    app.query_params.update({"text": ORIGINAL, "edited": EDITED})
    app.run().switch_page("app_pages/whatif.py").run()
    app.text_area(key="text").input("A dull, tedious script.")
    app.button(key="whatif_reset").click().run()
    assert not app.exception and app.text_area(key="whatif_edited").value == "A dull, tedious script."
    assert not any("written for an earlier sidebar text" in i.value for i in app.info)


@pytest.fixture(scope="module")
def three_labels(tmp_path_factory, tokenizer) -> tuple[str, str]:
    """A tiny 3-label model (it predicts "positive" everywhere) and a file where it mistakes one text whose edits
    reach both other labels."""
    from tests.conftest import CORPUS, build_model, save_checkpoint

    names = {0: "negative", 1: "neutral", 2: "positive"}
    model = build_model("bert", id2label=names, label2id={name: i for i, name in names.items()})
    folder = save_checkpoint(model, tokenizer, tmp_path_factory.mktemp("three") / "model")
    data = folder.parent / "rows.csv"
    mistake = next(text for text in CORPUS if text.startswith("I laughed, I cried"))
    data.write_text(f'text,label\n"{mistake}",negative\n"{CORPUS[0]}",positive\n"{CORPUS[5]}",positive\n')
    return str(folder), str(data)


def test_a_mistake_of_a_three_label_model_is_flipped_to_its_true_label(three_labels, monkeypatch):
    """"Find the smallest flip" took any flip: of a 3-label model's mistake, mostly to the third label, further
    from the truth (11 of 15 mistakes on a 5-label model). It now asks for the true label, and What-if says so."""
    from explainer.ui import progressive

    monkeypatch.setattr(progressive, "rest_may_follow", lambda key: True)
    folder, data = three_labels
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    app.query_params.update({"model": folder, "data": data})
    app.run()
    app.switch_page("app_pages/errors.py").run()
    assert not app.exception, app.exception
    assert app.selectbox(key="errors_flip_text").options == [app.selectbox(key="errors_flip_text").value]
    app.button(key="errors_flip_button").click().run()
    assert not app.exception, app.exception
    assert [t.value for t in app.title] == ["What-if"] and app.query_params["flip_to"] in ("negative", ["negative"])
    assert app.selectbox(key="whatif_flip_to").value == "negative"
    assert {m.label: m.value for m in app.metric}["Edited prediction"] == "negative"
    flips = app.dataframe[0].value
    assert len(flips) and set(flips["label"]) == {"negative"}
    assert any(" to **negative** found in " in c.value for c in app.caption)
    app.switch_page("app_pages/whatif.py").run()  # AppTest runs its own page next, not the one switched to
    assert app.selectbox(key="whatif_flip_to").value == "negative"  # from the link
    app.selectbox(key="whatif_flip_to").set_value("any other label").run()  # any flip again, on request
    app.button(key="whatif_find").click().run()
    assert not app.exception and "neutral" in set(app.dataframe[0].value["label"])
    assert "flip_to" not in app.query_params


@pytest.mark.parametrize("button", ["errors_flip_button", "errors_causal_button"])
def test_a_mistake_the_model_gets_right_when_run_alone_is_said_not_a_traceback(three_labels, button):
    """The mistakes table can come from another run (a results folder, a batch): where the model run on the text
    alone already predicts its true label, the search for a flip to it raised InputError, a traceback."""
    from explainer.ui import whatif as whatif_ui

    folder, data = three_labels
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    app.query_params.update({"model": folder, "data": data})
    app.run()
    app.switch_page("app_pages/errors.py").run()
    mistake = app.selectbox(key="errors_flip_text").value
    app.session_state[whatif_ui.FLIP_TARGETS_KEY] = {mistake: "positive"}  # what the model predicts run alone
    app.button(key=button).click().run()
    assert not app.exception, app.exception
    assert [t.value for t in app.title] == ["Errors"]
    assert any("predicts its true label, positive, already" in i.value for i in app.info)


def test_a_two_label_mistake_the_model_gets_right_alone_and_an_unreadable_one_are_said(checkpoint, tmp_path):
    """With two labels the search took any flip: of a text the model gets right when run alone, a flip away from
    the truth, without a word. A row too long for the model to read alone gave a traceback."""
    from explainer.capture.encoding import MAX_TEXT_CHARS
    from explainer.ui import whatif as whatif_ui

    long_text = "a fine film " * (MAX_TEXT_CHARS // 12 + 1)
    data = tmp_path / "rows.csv"
    data.write_text(f"text,label\na fine film,neg\na fine film,pos\n{long_text},neg\n{long_text},pos\n")
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    app.query_params.update({"model": str(checkpoint("bert")), "data": str(data)})
    app.run()
    app.switch_page("app_pages/errors.py").run()
    mistakes = app.selectbox(key="errors_flip_text").options
    short = next(text for text in mistakes if text.startswith("a fine film") and len(text) < 20)
    predicted = load_model(str(checkpoint("bert"))).label_names
    alone = whatif_ui.caches.get_trace(str(checkpoint("bert")), short).predicted_label
    assert alone in predicted
    app.selectbox(key="errors_flip_text").set_value(short).run()
    app.session_state[whatif_ui.FLIP_TARGETS_KEY] = {short: alone}  # the table's prediction came from elsewhere
    app.button(key="errors_flip_button").click().run()
    assert not app.exception and [t.value for t in app.title] == ["Errors"]
    assert any(f"predicts its true label, {alone}, already" in i.value for i in app.info)
    long_shown = next(text for text in mistakes if len(text) > 1000)
    app.selectbox(key="errors_flip_text").set_value(long_shown).run()
    app.button(key="errors_flip_button").click().run()
    assert not app.exception, app.exception
    assert [t.value for t in app.title] == ["Errors"] and any("characters" in e.value for e in app.error)


def test_patch_the_flip_of_a_three_label_model_s_mistake_patches_from_its_true_label(three_labels):
    """"Patch the flip in Causal" runs the same search: its clean text is a flip to the mistake's true label."""
    from explainer import trace

    folder, data = three_labels
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    app.query_params.update({"model": folder, "data": data})
    app.run()
    app.switch_page("app_pages/errors.py").run()
    app.button(key="errors_causal_button").click().run()
    assert not app.exception, app.exception
    assert [t.value for t in app.title] == ["Causal"]
    clean = app.query_params["clean"]
    clean = clean[0] if isinstance(clean, list) else clean
    bundle = load_model(folder)
    assert bundle.label_names[trace(bundle, clean).predicted] == "negative"  # the true label, not "neutral"


def test_a_search_asked_before_shows_again_when_its_options_come_back(three_labels, monkeypatch):
    """Flips to the true label, then to any label; Back brought flip_to= of the first search, and its list was gone
    until "Find counterfactuals" was clicked again (a browser walk caught it)."""
    from explainer.ui import progressive

    monkeypatch.setattr(progressive, "rest_may_follow", lambda key: True)
    folder, _ = three_labels
    mistake = "I laughed, I cried, and I would watch it again tomorrow."
    app = run_page({"model": folder, "text": mistake, "flip_to": "negative"})
    assert not app.dataframe  # nothing asked yet
    app.button(key="whatif_find").click().run()
    assert set(app.dataframe[0].value["label"]) == {"negative"}
    app.selectbox(key="whatif_flip_to").set_value("any other label").run()
    assert not app.dataframe  # not asked for these options
    app.button(key="whatif_find").click().run()
    assert "neutral" in set(app.dataframe[0].value["label"])
    app.selectbox(key="whatif_flip_to").set_value("negative").run()  # as Back sets it from the link
    assert not app.exception and set(app.dataframe[0].value["label"]) == {"negative"}


def test_a_linked_label_is_matched_ignoring_case_as_the_command_line_does(three_labels):
    """--target Negative names the label "negative"; flip_to=Negative in a link gave a "not offered" toast."""
    folder, _ = three_labels
    app = run_page({"model": folder, "text": "a fine film", "flip_to": " Negative"})
    assert not app.exception, app.exception
    assert app.selectbox(key="whatif_flip_to").value == "negative"
    assert not [toast.value for toast in app.toast if "flip_to" in toast.value]
    app = run_page({"model": folder, "text": "a fine film", "flip_to": "Negativ"})  # a typo is still said
    assert app.selectbox(key="whatif_flip_to").value == "any other label"
    assert [toast.value for toast in app.toast if "flip_to" in toast.value]



def test_a_linked_label_index_is_read_as_the_command_lines_target(three_labels):
    """--target 1 names the label of index 1; flip_to=1 was "not offered here"."""
    folder, _ = three_labels
    app = run_page({"model": folder, "text": "a fine film", "flip_to": "1"})
    assert not app.exception and app.selectbox(key="whatif_flip_to").value == "neutral"
    assert not [t.value for t in app.toast if "flip_to" in t.value]


def test_a_linked_label_named_by_digits_is_that_label_spaces_aside(tmp_path, tokenizer):
    """Labels named "2", "0", "1": flip_to=" 2" is the label named "2", as target= reads it; it was read as index 2
    (the label named "1"), unsaid."""
    from tests.conftest import build_model, save_checkpoint

    names = {0: "2", 1: "0", 2: "1"}
    model = build_model("bert", id2label=names, label2id={name: i for i, name in names.items()})
    folder = str(save_checkpoint(model, tokenizer, tmp_path / "model"))
    for raw in (" 2", "2 ", "2"):
        app = run_page({"model": folder, "text": "a fine film", "flip_to": raw})
        assert not app.exception and app.selectbox(key="whatif_flip_to").value == "2", raw
        assert not [t.value for t in app.toast if "flip_to" in t.value], raw


def test_flip_to_does_not_offer_the_label_the_model_already_predicts(three_labels):
    """It was offered, and refused only once the search was asked for ("The model already predicts ...")."""
    folder, _ = three_labels
    app = run_page({"model": folder, "text": "a fine film", "flip_to": "positive"})  # the model predicts positive
    assert not app.exception, app.exception
    assert app.selectbox(key="whatif_flip_to").options == ["any other label", "negative", "neutral"]
    assert app.selectbox(key="whatif_flip_to").value == "any other label"
    assert [t.value for t in app.toast if "flip_to" in t.value] == [
        "The link's flip_to=`positive` is not offered here (any other label, negative, neutral); any other label "
        "is used."]


def test_a_head_opened_for_the_edited_copy_offers_the_way_back_to_the_comparison():
    """A click on the head-change map opens the head on Attention for the edited copy, which becomes the sidebar
    text; coming back by the sidebar, What-if compared the copy with itself and the original was gone (a browser
    walk). Attention and What-if now offer a button back."""
    from explainer.ui.whatif import RETURN_KEY

    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    app.query_params.update({"text": EDITED, "layer": "1", "head": "2"})  # where open_head's switch lands
    app.session_state[RETURN_KEY] = (load_model(device="cpu").name, ORIGINAL, EDITED)  # what open_head leaves
    app.run().switch_page("app_pages/attention.py").run()
    assert not app.exception, app.exception
    back = app.button(key="whatif_back")
    assert "Back to What-if" in back.label and "lifeless" in back.label
    app.switch_page("app_pages/whatif.py").run()  # by the sidebar: the copy is the sidebar text
    assert [m.value for m in app.metric] == ["positive", "positive"]  # the copy against itself
    app.button(key="whatif_back").click().run()  # where it leads: tests/browser/test_whatif.py (AppTest keeps the
    assert not app.exception and RETURN_KEY not in app.session_state  # sidebar's text over a switch's address)


def test_the_way_back_goes_once_the_sidebar_text_moves_on():
    from explainer.ui.whatif import RETURN_KEY

    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    app.query_params.update({"text": EDITED})
    app.session_state[RETURN_KEY] = (load_model(device="cpu").name, ORIGINAL, EDITED)
    app.run().switch_page("app_pages/attention.py").run()
    assert any(button.key == "whatif_back" for button in app.button)
    app.text_area(key="text").input("Another text altogether.").run()
    assert not app.exception and all(button.key != "whatif_back" for button in app.button)
    assert RETURN_KEY not in app.session_state


@pytest.mark.parametrize("flip_to", ["positive", "2", ""])
def test_a_links_flip_to_on_a_model_of_two_labels_is_said_to_not_apply(flip_to):
    """flip_to= left the link of a two-label model without a word (there is no "Flip to" there to take it)."""
    app = run_page({"text": "A gentle film with a big heart.", "flip_to": flip_to})
    assert not app.exception and "flip_to" not in app.query_params
    told = [t.value for t in app.toast]
    assert told == ([f"The link's flip_to=`{flip_to}` does not apply to a model of two labels (a flip reaches the "
                     "other); the default is used."] if flip_to else [])
    assert not app.run().toast  # once
