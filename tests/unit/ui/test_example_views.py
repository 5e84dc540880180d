"""The views a data-set row opens in: Thought markers only where a model that may open the row has markers
(Compare's rows open with model A or B)."""

from __future__ import annotations

from types import SimpleNamespace

from explainer.ui.labelled import available_views
from tests.conftest import tiny_config


def bundle_of(family: str) -> SimpleNamespace:
    return SimpleNamespace(model=SimpleNamespace(config=tiny_config(family)))


def test_thought_markers_are_offered_where_a_model_has_markers():
    assert list(available_views()) == ["Attribution", "Attention", "Thought markers"]  # a request already offered
    assert list(available_views(bundle_of("ours"))) == ["Attribution", "Attention", "Thought markers"]
    assert list(available_views(bundle_of("baseline"), bundle_of("ours"))) == [
        "Attribution", "Attention", "Thought markers"]
    assert list(available_views(bundle_of("baseline"))) == ["Attribution", "Attention"]
    assert list(available_views(bundle_of("bert"), bundle_of("baseline"))) == ["Attribution", "Attention"]
