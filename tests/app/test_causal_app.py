"""AppTest of the Causal page (no JavaScript): patching maps and top heads for a linked clean/corrupted pair, head
ablation beside a head statistic with their rank correlation, options in the link, bad input said in words."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow
PAGE = str(ROOT / "app_pages" / "causal.py")
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
