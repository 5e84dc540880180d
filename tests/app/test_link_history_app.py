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


def test_an_address_the_app_did_not_publish_is_followed_like_a_link():
    app = open_app({"text": "Alpha film, warm."})
    app.switch_page("app_pages/attention.py").run()
    app.text_area(key="text").set_value("Bravo film, dull.").run()
    app.number_input(key="attention_layer").set_value(3).run()
    assert (app.query_params["text"], app.query_params["layer"]) == ("Bravo film, dull.", "3")
    # what Back does: the browser's address changes under the session
    app.query_params["text"] = "Alpha film, warm."
    app.query_params["layer"] = "1"
    app.run()
    assert not app.exception
    assert app.text_area(key="text").value == "Alpha film, warm."
    assert app.number_input(key="attention_layer").value == 1
    assert (app.query_params["text"], app.query_params["layer"]) == ("Alpha film, warm.", "1")
    # and a run the app published itself changes nothing
    app.number_input(key="attention_head").set_value(2).run()
    assert app.text_area(key="text").value == "Alpha film, warm."
    assert app.number_input(key="attention_layer").value == 1 and app.query_params["head"] == "2"
