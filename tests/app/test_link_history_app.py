"""The link over a session's life (explainer/ui/links.py): a page's options outlive a visit to another page, and
an address the app did not publish (Back, Forward, an edited address) is followed like a link."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def open_app(query: dict[str, str]) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    for key, value in query.items():
        app.query_params[key] = value
    return app.run()


def test_a_page_keeps_its_options_after_a_visit_to_another():
    app = open_app({"text": "A gentle film."})
    app.switch_page("app_pages/attention.py").run()
    app.number_input(key="attention_layer").set_value(2).run()
    assert app.query_params["layer"] == "2"
    app.switch_page("app_pages/overview.py").run()
    assert "attention_layer" not in app.session_state  # Streamlit forgot the widget of the page not shown
    app.switch_page("app_pages/attention.py").run()
    assert not app.exception
    assert app.number_input(key="attention_layer").value == 2 and app.query_params["layer"] == "2"


def test_a_widget_the_browser_sends_at_its_default_on_the_way_back_keeps_the_user_s_choice():
    """In the browser, the Attention page's statistic map (drawn after the first figure) arrived back at its
    default after a visit to Overview; the image format, which no link carries, was forgotten."""
    app = open_app({"text": "A gentle film."})
    app.switch_page("app_pages/attention.py").run()
    app.selectbox(key="attention_statistic").set_value("self_share").run()
    app.radio(key="attention_image_format").set_value("svg").run()
    app.switch_page("app_pages/overview.py").run()
    assert "attention_image_format" not in app.session_state
    app.session_state["attention_statistic"] = "entropy"  # what the browser sent with the page change
    app.switch_page("app_pages/attention.py").run()
    assert not app.exception and app.query_params["stat"] == "self_share"
    assert app.selectbox(key="attention_statistic").value == "self_share"
    assert app.radio(key="attention_image_format").value == "svg"


def back_to(app: AppTest, address: dict[str, str], monkeypatch) -> AppTest:
    """What Back does: the browser's address changes under the session, and Streamlit's rerun says it is history
    navigation (AppTest cannot, so the test says it for that one run)."""
    from explainer.ui import links

    for key in list(app.query_params):
        del app.query_params[key]
    for key, value in address.items():
        app.query_params[key] = value
    monkeypatch.setattr(links, "_history_navigation", lambda: True)
    app.run()
    monkeypatch.setattr(links, "_history_navigation", lambda: False)
    assert not app.exception
    return app


def test_back_and_forward_restore_the_text_and_the_options_of_that_entry(monkeypatch):
    app = open_app({"text": "Alpha film, warm."})
    app.switch_page("app_pages/attention.py").run()
    entry = dict(dict(app.query_params))  # the history entry Back returns to
    app.text_area(key="text").set_value("Bravo film, dull.").run()
    app.number_input(key="attention_layer").set_value(3).run()
    app.multiselect(key="bertviz_layers").set_value([1]).run()
    assert (app.query_params["text"], app.query_params["layer"], app.query_params["bv_layers"]) == (
        "Bravo film, dull.", "3", "1")
    back_to(app, entry, monkeypatch)
    assert app.text_area(key="text").value == "Alpha film, warm."
    assert app.number_input(key="attention_layer").value == 0
    assert app.multiselect(key="bertviz_layers").value == []  # at its default, so absent from that address
    assert dict(app.query_params) == entry
    # a run the app published itself is no navigation: the user's next change stands
    app.number_input(key="attention_head").set_value(2).run()
    assert app.text_area(key="text").value == "Alpha film, warm." and app.query_params["head"] == "2"


def test_back_on_one_page_leaves_another_page_s_option_of_the_same_name(monkeypatch):
    app = open_app({"text": "A gentle film."})
    app.number_input(key="overview_layer").set_value(1).run()  # the Overview's layer=
    app.switch_page("app_pages/attention.py").run()
    app.number_input(key="attention_layer").set_value(3).run()
    back_to(app, {**dict(app.query_params), "layer": "2"}, monkeypatch)
    assert app.number_input(key="attention_layer").value == 2
    app.switch_page("app_pages/overview.py").run()
    assert app.number_input(key="overview_layer").value == 1  # kept: Back was on the Attention page


def test_without_history_navigation_an_address_change_is_no_back(monkeypatch):
    # A rerun asked for before the browser had this run's address carries the older one: not a Back
    app = open_app({"text": "Alpha film, warm."})
    app.text_area(key="text").set_value("Bravo film, dull.").run()
    app.query_params["text"] = "Alpha film, warm."  # the stale address, with no history navigation
    app.run()
    assert app.text_area(key="text").value == "Bravo film, dull." and app.query_params["text"] == "Bravo film, dull."


def test_a_page_that_stops_early_still_sends_its_link_and_the_report_reads_it(tmp_path):
    # After st.stop() a run can send nothing: the Errors page stops when the path is no data set, and its link
    # must still name that path (links.stop sends it first), as must the address the sidebar report reads.
    from explainer.ui.labelled import SOURCES
    from explainer.ui.links import ADDRESS_KEY

    app = open_app({"text": "A gentle film."})
    app.switch_page("app_pages/errors.py").run()
    app.radio(key="errors_source").set_value(SOURCES[2]).run()
    missing = str(tmp_path / "nowhere.csv")
    app.text_input(key="errors_path").set_value(missing).run()
    assert not app.exception and app.error  # the page stopped with its message
    assert app.query_params["data"] == missing
    assert app.session_state[ADDRESS_KEY]["data"] == missing


def _a_click_arrives_as_the_run_sends_its_link():
    """A run that publishes its options; on its first run a rerun is asked (what a click does) while the app's last
    step sends the link, as Streamlit's server does when a request lands just as a run ends."""
    import streamlit as st
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    from streamlit.runtime.scriptrunner_utils.script_requests import RerunData

    from explainer.ui import links

    runs = st.session_state["runs"] = st.session_state.get("runs", 0) + 1
    address = links._address

    def click_meanwhile(options):
        get_script_run_ctx().script_requests.request_rerun(RerunData(query_string="layer=1"))
        return address(options)

    links.begin_run()
    try:
        links.publish_options({"layer": str(runs)})
        if runs == 1:
            links._address = click_meanwhile
    finally:
        try:
            links.end_run()
        finally:
            links._address = address
    st.markdown(f"run {runs}")


def test_a_rerun_asked_while_the_link_is_sent_is_not_lost():
    """Streamlit hands a pending rerun to the run once, as the exception a yield point raises: end_run caught it
    while sending the link, so the click that asked for it did nothing (a second click was needed)."""
    app = AppTest.from_function(_a_click_arrives_as_the_run_sends_its_link, default_timeout=60).run()
    assert not app.exception, app.exception
    assert app.session_state["runs"] == 2 and [m.value for m in app.markdown] == ["run 2"]
    assert app.query_params["layer"] == "2"


def test_back_to_an_edited_what_if_copy_keeps_it_though_the_last_copy_was_never_edited(monkeypatch):
    """An untouched copy follows a new sidebar text; Back to an entry whose copy had been edited followed it too
    (the copy then equal to the text it was last written for), replacing the copy the address restores."""
    app = open_app({"text": "Yankee film, warm."})
    app.switch_page("app_pages/whatif.py").run()
    app.text_area(key="whatif_edited").set_value("X-ray film, dull.").run()
    entry = dict(dict(app.query_params))  # text=Yankee…, edited=X-ray…
    app.text_area(key="text").set_value("X-ray film, dull.").run()  # the sidebar now holds the copy's text
    app.text_area(key="whatif_edited").set_value("Whiskey film.").run()
    app.text_area(key="whatif_edited").set_value("X-ray film, dull.").run()  # written for this sidebar text
    back_to(app, entry, monkeypatch)
    assert app.text_area(key="whatif_edited").value == "X-ray film, dull."
    assert app.query_params["edited"] == "X-ray film, dull." and app.query_params["text"] == "Yankee film, warm."


def test_the_what_if_earlier_text_notice_follows_the_history_entry_shown(monkeypatch):
    """"The edited copy was written for an earlier sidebar text" came from the session's last run: Back to the entry
    where the text had changed showed no notice, Back to the first entry (copy written for its text) showed it."""
    from explainer.ui import whatif as whatif_ui

    notice = "written for an earlier sidebar text"

    def said(app: AppTest) -> bool:
        return any(notice in info.value for info in app.info)

    app = open_app({"text": "A gentle film with a big heart.", "edited": "A dull film with a big heart."})
    app.switch_page("app_pages/whatif.py").run()
    first = dict(dict(app.query_params))
    assert not said(app) and "edited_for" not in first
    app.text_area(key="text").set_value("A wonderful, moving story.").run()
    changed = dict(dict(app.query_params))
    # the text it was written for, by its digest: not a second copy of a long text
    assert said(app) and changed["edited_for"] == whatif_ui.text_digest("A gentle film with a big heart.")
    app.button(key="whatif_reset").click().run()
    app.text_area(key="whatif_edited").set_value("A boring, lifeless story.").run()
    assert not said(app)
    assert said(back_to(app, changed, monkeypatch))
    assert not said(back_to(app, first, monkeypatch))
    assert said(back_to(app, changed, monkeypatch))  # Forward


def test_an_untouched_what_if_copy_follows_a_text_typed_on_another_page():
    """The copy kept while Overview was shown (Streamlit forgets the undrawn widget) follows the new text too."""
    app = open_app({"text": "Yankee film, warm."})
    app.switch_page("app_pages/whatif.py").run()
    app.switch_page("app_pages/overview.py").run()
    app.text_area(key="text").set_value("A wonderful, moving film.").run()
    app.switch_page("app_pages/whatif.py").run()
    assert not app.exception
    assert app.text_area(key="whatif_edited").value == "A wonderful, moving film."


def test_a_parameter_given_twice_is_said_to_be_read_once():
    """/errors?tags=typo&tags=negation kept negation alone, unsaid."""
    app = open_app({"text": "A gentle film.", "layer": ["1", "2"]})
    told = [t.value for t in app.toast]
    assert told == ["The link's layer=`2` is the last of 2 layer= in the link and the only one read (a list takes "
                    "its values in one, separated by commas)."], told
    assert not app.run().toast  # once: the address the app wrote has one
