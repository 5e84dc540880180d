"""bertviz's views made offline: no remote address, inlined libraries, escaped tokens, bounded size."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from explainer import trace
from explainer.views import bertviz as bertviz_views
from explainer.views.bertviz import _PARAMS_MARK, head_view_html, model_view_html, window_size

HOSTILE = ("[CLS]", "</script><script>alert(1)</script>", "<img src=x onerror=alert(1)>", "a&b", "[SEP]")


def params_of(html: str) -> dict:
    """The parameter JSON bertviz's script reads (after our escaping it must still parse to the same data)."""
    at = html.index(_PARAMS_MARK) + len(_PARAMS_MARK)
    return json.JSONDecoder().raw_decode(html, at)[0]


@pytest.fixture(scope="module")
def small_trace(bundle):
    return trace(bundle("bert"), "the movie was not good at all , but the acting was fine")


def test_views_reference_nothing_remote_and_inline_their_libraries(small_trace):
    for view in (head_view_html(small_trace), model_view_html(small_trace)):
        assert "cdnjs" not in view.html
        assert "https://" not in view.html.split("define('jquery'", 1)[1]  # bertviz's part loads nothing remote
        assert "<script src" not in view.html  # every script is inline
        assert "define('d3'" in view.html and "requirejs(['jquery', 'd3']" in view.html
        assert view.html.count(_PARAMS_MARK) == 1
        assert "// HACK: {" not in view.html  # bertviz's second, commented copy of the data is gone


def test_tokens_that_are_markup_are_escaped_and_survive_exactly(small_trace):
    tokens = HOSTILE + small_trace.tokens[len(HOSTILE) :]
    hostile = dataclasses.replace(small_trace, tokens=tokens)
    for view in (head_view_html(hostile), model_view_html(hostile)):
        script = view.html.split("define('jquery'", 1)[1]  # bertviz's part, after the vendored libraries
        assert "</script><script>alert" not in script and "<img" not in script
        assert "\\u003c/script\\u003e" in script
        shown = params_of(view.html)["attention"][0]["left_text"]
        assert shown[: len(HOSTILE)] == list(HOSTILE)


def test_head_view_carries_the_chosen_layer_rounded(small_trace):
    view = head_view_html(small_trace, layers=(1,))
    params = params_of(view.html)
    assert params["include_layers"] == [1] and view.layers == (1,)
    (data,) = params["attention"]
    sent = np.array(data["attn"])  # [layers, heads, T, T]
    assert sent.shape == (1, small_trace.num_heads, len(small_trace.tokens), len(small_trace.tokens))
    np.testing.assert_allclose(sent[0], small_trace.attentions[1], atol=5e-4 + 1e-9)
    assert not view.limited


def test_model_view_labels_real_layer_and_head_numbers(small_trace):
    view = model_view_html(small_trace, layers=(1,), heads=(1,))
    params = params_of(view.html)
    assert params["include_layers"] == [1] and params["include_heads"] == [1]
    sent = np.array(params["attention"][0]["attn"])
    assert sent.shape[:2] == (1, 1)
    np.testing.assert_allclose(sent[0, 0], small_trace.attentions[1, 1], atol=5e-4 + 1e-9)


def test_budget_cuts_a_token_window_and_says_so(small_trace):
    count = len(small_trace.tokens)
    budget = small_trace.num_heads * 5 * 5  # room for a 5-token window of one layer
    view = head_view_html(small_trace, layers=(0,), window_start=3, budget=budget)
    assert (view.token_start, view.token_end) == (3, 8) and view.limited and view.num_tokens == count
    params = params_of(view.html)
    assert params["attention"][0]["left_text"] == list(small_trace.tokens[3:8])
    np.testing.assert_allclose(
        np.array(params["attention"][0]["attn"])[0], small_trace.attentions[0, :, 3:8, 3:8], atol=5e-4 + 1e-9
    )
    # a window asked to start past the end slides back so it stays full
    late = head_view_html(small_trace, layers=(0,), window_start=count + 10, budget=budget)
    assert (late.token_start, late.token_end) == (count - 5, count)


def test_window_size_fits_the_budget():
    assert window_size(12, 12, 512, budget=250_000) == 41
    assert window_size(1, 12, 512, budget=250_000) == 144
    assert window_size(1, 1, 10, budget=250_000) == 10  # never more than the input
    assert window_size(12, 12, 512, budget=1) == 1


def test_missing_frontend_is_a_clear_error(small_trace, monkeypatch, tmp_path):
    monkeypatch.setattr(bertviz_views, "FRONTEND_DIR", tmp_path)
    bertviz_views.vendor_javascript.cache_clear()
    try:
        with pytest.raises(bertviz_views.FrontendMissingError, match="install.sh"):
            head_view_html(small_trace)
    finally:
        bertviz_views.vendor_javascript.cache_clear()
