"""What-if's advice when no flip is found names what is left to try: another generator, or, when every one ran,
an edit by hand or the user's own swaps (it said "try another generator" after all of them had run)."""

from __future__ import annotations

from explainer.counterfactual import METHODS
from explainer.ui.whatif import ALL, no_flip_advice


def test_after_every_generator_the_advice_is_not_another_generator():
    assert "another generator" not in no_flip_advice(ALL) and "by hand" in no_flip_advice(ALL)
    for method in METHODS:
        assert "try another generator" in no_flip_advice(method)


def test_the_model_is_called_sure_only_of_a_confident_prediction():
    # it said "the model may be sure of this text" of a prediction at 33.9% on a 3-label model
    assert "may be sure" not in no_flip_advice(ALL, 0.339) and "may be sure" not in no_flip_advice(ALL)
    assert "(the model may be sure of this text)." in no_flip_advice(ALL, 0.97)
