"""Every text box a link or the session fills sends its value with a run whose request lacked it (the browser had
not loaded the box's code: it would come back empty, see explainer/ui/widget_state.py), and never with a run whose
request carried it (the box may hold a half-typed text that the sent value would overwrite). AppTest runs no
JavaScript, so the request's contents are set by patching widget_state.browser_holds; what a run sends is the
element's `set_value`."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from explainer.data.challenge import DEFAULT_PATH
from explainer.ui import widget_state
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

TEXT = "A gentle film with a big heart."
PAGES = {  # page -> the link that fills its text boxes
    "app_pages/errors.py": {"data": str(DEFAULT_PATH), "text_column": "text", "label_column": "label", "q": "film"},
    "app_pages/map.py": {"data": str(DEFAULT_PATH), "text_column": "text", "label_column": "label"},
    "app_pages/compare.py": {"model_b": "sst2-thought-beacon"},
    "app_pages/causal.py": {"source": "pair", "clean": TEXT, "corrupted": "A cold film with a big heart."},
    "app_pages/whatif.py": {"edited": "A dull film with a big heart."},
}


@pytest.fixture(autouse=True)
def scratch_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path_factory.getbasetemp() / "text-boxes-app-cache"))


def filled_boxes(app: AppTest) -> dict[str, bool]:
    """Each text box holding a value: its key -> whether this run sent the value."""
    boxes = [*app.text_input, *app.text_area]
    return {box.key: box.proto.set_value for box in boxes if box.key and box.value}


@pytest.mark.parametrize("page", list(PAGES))
def test_a_filled_box_is_sent_exactly_when_the_request_lacked_it(page, monkeypatch):
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    for key, value in {"model": "sst2-baseline", "text": TEXT, **PAGES[page]}.items():
        app.query_params[key] = value
    app.run()
    app.switch_page(page).run()
    assert not app.exception, app.exception
    app.run()  # the request carries every box (AppTest sends each drawn widget's value, as a browser does)
    held = filled_boxes(app)
    assert "text" in held and len(held) >= 2, held  # the sidebar's and the page's own
    assert not any(held.values()), held  # nothing typed would be overwritten
    monkeypatch.setattr(widget_state, "browser_holds", lambda key: False)
    app.run()  # a request that lacked every box (their code had not loaded)
    lacked = filled_boxes(app)
    assert not app.exception, app.exception
    assert lacked.keys() == held.keys() and all(lacked.values()), lacked
