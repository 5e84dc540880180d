"""AppTest of the pages that follow the position a classifier reads, on a family the per-architecture table lacks
(OPT: its classifier reads the last token, which the table does not know): each says why in its own terms and
keeps the rest of the page."""

from __future__ import annotations

import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def opt_folder(tmp_path_factory, tokenizer) -> str:
    from transformers import OPTConfig, OPTForSequenceClassification

    from tests.conftest import save_checkpoint

    config = OPTConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       ffn_dim=64, word_embed_proj_dim=32, max_position_embeddings=130, num_labels=2, pad_token_id=0)
    torch.manual_seed(0)
    model = OPTForSequenceClassification(config).eval()
    return str(save_checkpoint(model, tokenizer, tmp_path_factory.mktemp("unknown") / "opt"))


@pytest.fixture(autouse=True)
def scratch_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path_factory.getbasetemp() / "app-cache"))


def run_page(page: str, query: dict[str, str]) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app_pages" / f"{page}.py"), default_timeout=300)
    for key, value in query.items():
        app.query_params[key] = value
    return app.run()


def test_attribution_offers_only_the_methods_that_can_attribute_it(opt_folder):
    """A linked (or chosen) attention rollout showed only its refusal: every method, faithfulness and agreement
    were gone from the page, though they are drawn for every other method of the same model."""
    from explainer.attribution import METHODS
    from explainer.attribution.registry import title

    app = run_page("attribution", {"model": opt_folder, "text": "a fine film", "method": "rollout"})
    assert not app.exception, app.exception
    box = app.selectbox(key="attribution_method")
    assert box.value == "integrated_gradients"
    assert {title(m) for m in METHODS} - set(box.options) == {"Attention rollout", "Gradient × attention"}
    assert any(c.value.startswith("Not offered: Attention rollout, Gradient × attention.") for c in app.caption)
    assert "Every method" in [h.value for h in app.subheader]  # the rest of the page stays
    # said, as for any other value a link holds that this page cannot use (rollout passed silently as another
    # page's value of method=, as the map's pca does)
    toasts = [t.value for t in app.toast]
    assert any(t.startswith("The link's method=`rollout` is not offered here (") and
               t.endswith("; Integrated gradients is used.") for t in toasts), toasts
    mapped = run_page("attribution", {"model": opt_folder, "text": "a fine film", "method": "umap"})
    assert mapped.selectbox(key="attribution_method").value == "integrated_gradients" and not mapped.toast


def test_what_if_offers_only_the_methods_that_can_attribute_it(opt_folder, monkeypatch):
    """A linked or chosen attention rollout raised MethodUnsupported on What-if: a traceback where the two
    attributions belong."""
    from explainer.ui import progressive

    monkeypatch.setattr(progressive, "rest_may_follow", lambda key: True)  # the browser has drawn the heads
    query = {"model": opt_folder, "text": "a fine film", "edited": "a dull film", "method": "rollout"}
    app = run_page("whatif", query)
    assert not app.exception, app.exception
    box = app.selectbox(key="whatif_attribution")
    assert box.value == "integrated_gradients" and "Attention rollout" not in box.options
    assert any("method=`rollout` is not offered here" in t.value for t in app.toast)
    assert sum(": attributing **" in c.value for c in app.caption) == 2  # the original and the edited copy


def test_what_if_and_beacons_say_why_a_section_is_missing_in_their_own_terms(opt_folder):
    query = {"model": opt_folder, "text": "a fine film"}
    whatif = run_page("whatif", {**query, "edited": "a dull film"})
    assert not whatif.exception, whatif.exception
    notes = [i.value for i in whatif.info]
    # the readout's note, without the attribution methods it advises (nothing in this section to switch to)
    assert any(n.startswith("The change per head follows") and "not in the per" in n for n in notes), notes
    assert not any("gradient method" in n for n in notes), notes
    beacons = run_page("beacons", query)
    assert not beacons.exception, beacons.exception
    assert any("MLP update ratio need" in i.value for i in beacons.info), [i.value for i in beacons.info]


def test_attribution_says_why_a_mean_pooling_classifier_has_no_graph(tmp_path, tokenizer):
    """The page checked only the family for the graph: a ModernBERT that mean-pools (no prediction node to trace
    back from) reached attention_attribution, whose refusal showed as a traceback under the other sections."""
    from tests.conftest import build_model, save_checkpoint

    mean = save_checkpoint(build_model("modernbert", classifier_pooling="mean"), tokenizer, tmp_path / "mean")
    app = run_page("attribution", {"model": str(mean), "text": "a fine film"})
    assert not app.exception, app.exception
    headers = [h.value for h in app.subheader]
    assert "Attribution graph" in headers and "Every method" in headers
    assert any("mean-pools every position" in i.value for i in app.info), [i.value for i in app.info]
