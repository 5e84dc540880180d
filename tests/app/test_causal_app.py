"""AppTest of the Causal page (no JavaScript): patching maps and top heads for a linked clean/corrupted pair, head
ablation beside a head statistic with their rank correlation, options in the link, bad input said in words."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.test_demo_app import demo  # noqa: F401  (fixture)
from tests.app.test_demo_app import run as run_demo
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
PAGE = str(ROOT / "app_pages" / "causal.py")
PAGE_PATH = "app_pages/causal.py"
CLEAN = "A warm, <b>funny</b> film."
CORRUPTED = "A cold, <b>dull</b> film."


@pytest.fixture(autouse=True)
def scratch_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path_factory.getbasetemp() / "app-cache"))


def run_page(query: dict[str, str]) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=300)
    for key, value in query.items():
        app.query_params[key] = value
    return app.run()


def test_page_patches_and_ablates_from_the_link():
    app = run_page({"text": CLEAN, "corrupted": CORRUPTED, "mode": "zero", "stat": "self_share"})
    assert not app.exception, app.exception
    assert app.text_area(key="causal_corrupted").value == CORRUPTED
    assert app.radio(key="causal_mode").value == "zero"
    assert [h.value for h in app.subheader] == ["Activation patching", "Head ablation"]
    # residual, attention, MLP, heads (patching); ablation, statistic, per-layer effects
    assert len(app.get("plotly_chart")) == 7
    captions = " ".join(c.value for c in app.caption)
    assert "Logit difference" in captions and "Spearman's ρ" in captions and "self share" in captions
    # the shipped default has beacons: both headline numbers say they come from its dense run
    assert captions.count("with every MLP update run (dense)") == 2
    assert len(app.dataframe) == 2 and len(app.dataframe[0].value) == 5
    assert sum("in Attention" in b.label for b in app.button) == 10
    assert app.query_params["corrupted"] == CORRUPTED and app.query_params["mode"] == "zero"
    app.radio(key="causal_mode").set_value("mean").run()
    assert not app.exception and app.query_params["mode"] == "mean"


def test_identical_texts_and_no_corrupted_text_are_explained():
    app = run_page({"text": CLEAN, "corrupted": CLEAN})
    assert not app.exception
    assert any("nothing to patch" in info.value for info in app.info)
    empty = run_page({"text": CLEAN})
    assert not empty.exception
    assert any("Type a corrupted text" in info.value for info in empty.info)
    assert len(empty.get("plotly_chart")) == 3  # ablation still shown for the sidebar text


def test_an_unedited_whatif_copy_is_no_corrupted_text():
    """What-if's copy starts as the sidebar text: before it is edited it must not fill the corrupted box with the
    clean text ("nothing to patch"); once edited, it does."""
    unedited = run_page({"text": CLEAN, "edited": CLEAN})
    assert not unedited.exception and unedited.text_area(key="causal_corrupted").value == ""
    assert any("Type a corrupted text" in info.value for info in unedited.info)
    edited = run_page({"text": CLEAN, "edited": CORRUPTED})
    assert not edited.exception and edited.text_area(key="causal_corrupted").value == CORRUPTED


def test_a_whatif_copy_written_for_another_sidebar_text_is_no_corrupted_text():
    """Edit on What-if, change the sidebar text, open Causal: the copy is an edit of the old text (What-if says so);
    patching the new text against it measured nothing the user meant, unsaid. Written for this text, it is used."""
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    app.query_params["text"] = CLEAN
    app.run()
    app.switch_page("app_pages/whatif.py").run()
    app.text_area(key="whatif_edited").set_value(CORRUPTED).run()
    assert not app.exception, app.exception
    app.session_state["text"] = "A quiet film about a lighthouse keeper."  # the sidebar's box
    app.switch_page("app_pages/causal.py").run()
    assert not app.exception, app.exception
    assert [t.value for t in app.title] == ["Causal"] and app.text_area(key="causal_corrupted").value == ""
    assert any("Type a corrupted text" in info.value for info in app.info)
    back = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    back.query_params["text"] = CLEAN
    back.run()
    back.switch_page("app_pages/whatif.py").run()
    back.text_area(key="whatif_edited").set_value(CORRUPTED).run()
    back.switch_page("app_pages/causal.py").run()
    assert not back.exception and back.text_area(key="causal_corrupted").value == CORRUPTED


def test_two_texts_start_from_the_sidebar_text_as_it_is_now():
    app = run_page({"text": "An older text.", "corrupted": CORRUPTED})
    app.session_state["text"] = CLEAN  # the sidebar text changed since the page first ran
    app.run()
    app.radio(key="causal_source").set_value("pair").run()
    assert not app.exception and app.text_area(key="causal_clean").value == CLEAN  # not an empty box to fill
    assert app.query_params["clean"] == CLEAN and len(app.get("plotly_chart")) == 7


def test_errors_page_sends_a_mistake_and_its_flip():
    """The Errors page's "Patch the flip in Causal": the smallest flip arrives as the clean text, the mistake as
    the corrupted one (and the sidebar text), and the Causal page patches between them."""
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    app.run()
    app.switch_page("app_pages/errors.py").run()
    assert not app.exception, app.exception
    mistake = app.selectbox(key="errors_flip_text").options[0]
    app.button(key="errors_causal_button").click().run()
    assert not app.exception, app.exception
    assert [t.value for t in app.title] == ["Causal"]
    flip = app.text_area(key="causal_clean").value
    assert app.radio(key="causal_source").value == "pair" and flip and flip != mistake
    assert app.text_area(key="causal_corrupted").value == mistake and app.session_state["text"] == mistake
    assert app.query_params["clean"] == flip and app.query_params["corrupted"] == mistake
    assert app.query_params["source"] == "pair"
    captions = " ".join(c.value for c in app.caption)
    assert "Logit difference" in captions  # patching ran on the pair
    assert len(app.get("plotly_chart")) == 7
    # Back to the sidebar text as the clean one: the pair's options leave the link, the mistake is patched into
    # itself, which the page explains. (AppTest reruns the page it was told, not the one the script switched to.)
    app.switch_page("app_pages/causal.py")
    app.radio(key="causal_source").set_value("sidebar").run()
    assert not app.exception, app.exception
    assert "clean" not in app.query_params and "source" not in app.query_params
    assert not [area for area in app.text_area if area.key == "causal_clean"]  # one text box: the corrupted one
    assert any("nothing to patch" in info.value for info in app.info)


def test_demo_mode_keeps_a_linked_pair_to_the_patching_limit(demo):  # noqa: F811
    """The sidebar text is short, but the linked clean text is not: patching is refused with the limit named,
    and head ablation of the sidebar text is still shown."""
    long = "a fine film with a big heart and a plot that holds"
    app = run_demo({"text": "a fine film", "source": "pair", "clean": long, "corrupted": "a dull film"}, page=PAGE_PATH)
    assert any("patching for texts of at most 8 tokens" in info.value for info in app.info)
    assert not any("Logit difference" in caption.value for caption in app.caption)
    assert any("Spearman" in caption.value for caption in app.caption)


def test_a_long_text_quoted_in_a_note_stays_text():
    """The truncation note quotes the end of what the model read: markdown there (a link, bold) rendered in the
    page's own caption."""
    from explainer import load_model

    model, link = "sst2-thought-beacon", "**Expired** [log in](https://ev.il/x)"
    tokenizer = load_model(model).tokenizer
    room = tokenizer.model_max_length - 2 - len(tokenizer(link, add_special_tokens=False)["input_ids"])
    text = "a " * room + link + " " + "b " * 100  # the link ends exactly where the model stops reading
    app = run_page({"text": text, "model": model, "mode": "zero", "corrupted": text.replace("a a", "b a", 1)})
    assert not app.exception, app.exception
    quoted = [caption.value for caption in app.caption if "That is its first" in caption.value]
    assert len(quoted) >= 2 and all("[log in](" not in value and "\\*\\*Expired" in value for value in quoted)


def test_one_batched_pass_is_singular():
    app = run_page({"text": "A gentle film.", "model": "sst2-baseline", "mode": "zero", "corrupted": "A dull film."})
    assert not app.exception, app.exception
    passes = [caption.value for caption in app.caption if "batched forward pass" in caption.value]
    assert passes and not any(" 1 batched forward passes" in value for value in passes)


def test_a_source_no_page_reads_is_told_and_one_another_page_reads_is_quiet():
    told = run_page({"text": CLEAN, "corrupted": CORRUPTED, "source": "<b>both</b>"})
    assert not told.exception, told.exception
    assert told.radio(key="causal_source").value == "sidebar"
    assert [t.value for t in told.toast] == [
        "The link's source=`<b>both</b>` is not offered here (sidebar, pair); sidebar is used."]
    quiet = run_page({"text": CLEAN, "corrupted": CORRUPTED, "source": "Upload a file"})  # a demo data page's
    assert not quiet.exception and not quiet.toast and quiet.radio(key="causal_source").value == "sidebar"


def test_find_a_counterfactual_clicked_with_a_new_sidebar_text_edits_that_text():
    """A sidebar text typed and not sent arrives with the click: the button's callback found a flip of the text
    drawn beside it, the old one, and put it beside the new clean text (a pair that differs everywhere)."""
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    app.query_params.update({"text": "A warm and funny film."})
    app.run().switch_page(PAGE_PATH).run()
    new = "A dull, tedious and lifeless script."
    app.text_area(key="text").input(new)
    app.button(key="causal_find").click().run()
    assert not app.exception, app.exception
    corrupted = app.text_area(key="causal_corrupted").value
    assert corrupted and corrupted != new and "script" in corrupted and "film" not in corrupted


def test_two_texts_chosen_with_a_new_sidebar_text_starts_from_that_text():
    """The radio's callback filled the clean box from the sidebar text drawn beside it, not the one typed and sent
    with the choice."""
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    app.query_params.update({"text": "A warm and funny film."})
    app.run().switch_page(PAGE_PATH).run()
    app.text_area(key="text").input("A dull, tedious and lifeless script.")
    app.radio(key="causal_source").set_value("pair").run()
    assert not app.exception and app.text_area(key="causal_clean").value == "A dull, tedious and lifeless script."


def test_a_corrupted_text_written_for_an_earlier_sidebar_text_is_not_patched_against_the_new_one():
    """A browser walk found a flip of a 126-token review, then typed "Great." in the sidebar: the page patched
    "Great." against the old flip (123 tokens without a partner, maps almost empty) without a word."""
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    app.query_params.update({"text": CLEAN, "corrupted": CORRUPTED})
    app.run().switch_page(PAGE_PATH).run()
    assert not app.exception and len(app.get("plotly_chart")) == 7  # patched: the pair came together
    app.text_area(key="text").input("Great.").run()
    assert not app.exception, app.exception
    assert any("written for another clean text" in info.value for info in app.info)
    assert len(app.get("plotly_chart")) == 3  # ablation of the new text only
    # ... and its link patches nothing either: opened afresh, it had patched "Great." against the old flip
    assert "corrupted" not in app.query_params and app.text_area(key="causal_corrupted").value == CORRUPTED
    app.text_area(key="causal_corrupted").input("Awful.").run()  # edited: written for this text
    assert not app.exception and not any("another clean text" in info.value for info in app.info)
    assert app.query_params["corrupted"] in ("Awful.", ["Awful."])  # patched, and linked again
    assert len(app.get("plotly_chart")) == 7
    app.session_state["causal_corrupted"] = CORRUPTED  # as Back restores it beside "Great." (no edit: a review)
    app.run()
    assert any("another clean text" in info.value for info in app.info) and len(app.get("plotly_chart")) == 3
    app.text_area(key="causal_corrupted").input("Dull.").run()
    app.text_area(key="causal_corrupted").input(CORRUPTED).run()  # typed again beside "Great.": meant for it
    assert not any("another clean text" in info.value for info in app.info) and len(app.get("plotly_chart")) == 7
    app.radio(key="causal_source").set_value("pair").run()  # two boxes: the clean one's edits are deliberate
    app.text_area(key="causal_clean").input("Superb.").run()
    assert not any("another clean text" in info.value for info in app.info) and len(app.get("plotly_chart")) == 7


def test_a_flip_the_finder_gives_again_for_another_text_is_written_for_that_text(monkeypatch):
    """The same flip ("Horrible.") found for "Excellent." and later for "Wonderful." was refused as written for
    "Excellent.", and the page's advice (find a counterfactual) gave it again: a dead end (a review)."""
    from explainer.ui import causal as causal_ui

    monkeypatch.setattr(causal_ui, "find_counterfactual", lambda model_name, text: "Horrible.")
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    app.query_params.update({"text": "Excellent."})
    app.run().switch_page(PAGE_PATH).run()
    app.button(key="causal_find").click().run()
    assert app.text_area(key="causal_corrupted").value == "Horrible." and len(app.get("plotly_chart")) == 7
    app.text_area(key="text").input("Wonderful.").run()
    assert any("another clean text" in info.value for info in app.info)
    app.button(key="causal_find").click().run()
    assert not app.exception, app.exception
    assert not any("another clean text" in info.value for info in app.info) and len(app.get("plotly_chart")) == 7
    app.text_area(key="text").input("Excellent.").run()  # back to the first pairing, which the user made too
    assert not any("another clean text" in info.value for info in app.info) and len(app.get("plotly_chart")) == 7


def test_where_no_head_qualifies_the_page_says_so_instead_of_a_table(monkeypatch):
    """The tables listed the five lowest changes (highest shares) whatever their sign: heads that work against the
    target stood as its top heads, each with a button. With none that qualifies, a sentence says so."""
    from explainer.causal.results import Ablation, Patching

    monkeypatch.setattr(Ablation, "top_heads", lambda self, count=10: [])
    monkeypatch.setattr(Patching, "top_heads", lambda self, count=10: [])
    app = run_page({"text": CLEAN, "corrupted": CORRUPTED, "mode": "zero"})
    assert not app.exception, app.exception
    captions = [c.value for c in app.caption]
    assert "No head restores any of the logit difference on its own." in captions
    assert "No head's removal lowers the target logit: none supports it on its own." in captions
    assert not app.dataframe and not [b for b in app.button if "in Attention" in b.label]


def _in_order(node) -> list:
    """The page's elements in the order drawn (blocks opened depth-first)."""
    children = getattr(node, "children", None)
    return [node] if not children else [leaf for child in children.values() for leaf in _in_order(child)]


def test_the_finder_says_it_found_nothing_below_the_texts_not_above_the_title(monkeypatch):
    """The search ran in the button's callback, whose message Streamlit draws first: "found no edit" stood above
    the page's title, far from the button (a probe in a browser). It runs in the page now, below the text boxes."""
    import explainer.counterfactual as counterfactual

    monkeypatch.setattr(counterfactual, "find_counterfactuals", lambda *_, **__: SimpleNamespace(counterfactuals=[]))
    app = run_page({"text": CLEAN, "corrupted": CORRUPTED})
    app.button(key="causal_find").click().run()
    assert not app.exception, app.exception
    drawn = _in_order(app.main)
    said = [i for i, e in enumerate(drawn) if e.type == "info" and "found no edit" in str(e.value)]
    title = next(i for i, e in enumerate(drawn) if e.type == "title")
    box = next(i for i, e in enumerate(drawn) if getattr(e, "key", None) == "causal_corrupted")
    assert len(said) == 1 and title < box < said[0]
    assert app.text_area(key="causal_corrupted").value == CORRUPTED  # nothing found: the box keeps its text


def test_a_clean_text_the_model_cannot_read_is_named_once_not_asked_for_a_corrupted_one():
    """A clean text of only a zero-width space: "The text has nothing ..." from the finder, beside "Type a corrupted
    text (or find a counterfactual)" from the page, which pointed to the finder that had just failed."""
    app = run_page({"text": "a fine film", "source": "pair", "clean": " \u200b ", "mode": "zero"})
    app.button(key="causal_find").click().run()
    assert not app.exception, app.exception
    infos = [i.value for i in app.info]
    assert [i for i in infos if "nothing the model can read" in i] == [
        "The clean text has nothing the model can read (only spaces, control or invisible characters)."], infos
    assert not [i for i in infos if "Type a" in i], infos
