"""Model cards: the card says which rule chose tau (the `model-card` command is in tests/cli/test_model_card.py)."""

from __future__ import annotations

from explainer.training.model_card import _tau_choice


def test_the_card_says_which_rule_picked_tau():
    default = {"tau_tolerance": 0.005, "tau_rule": "largest tau within 0.005 of the dense accuracy"}
    assert "largest threshold whose accuracy stays within 0.005" in _tau_choice(default)
    assert _tau_choice(default) == _tau_choice({"tau_tolerance": 0.005})  # older metrics.json without the rule
    floor = {"tau_tolerance": 0.005, "tau_rule": "smallest tau skipping at least 50% of MLP evaluations"}
    assert _tau_choice(floor).startswith(" The shipped tau was chosen on dev as the smallest tau skipping at least 50%")
