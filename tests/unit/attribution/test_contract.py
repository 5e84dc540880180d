"""One contract every registered attribution method (and the attribution graph) keeps, captum's
test_hook_removal in spirit: one finite score per token, signs as registered, and the model left as found
(no hook, no gradient, the bundle's lock free), after success and after a failure inside the method."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from explainer.attribution import REGISTRY, AttributionOptions, attribute
from explainer.attribution.graph import attention_attribution

TEXT = "The film is a quiet triumph, warm and funny."
OPTIONS = AttributionOptions(samples=20, conductance_steps=4)
CASES = (*REGISTRY, "graph")


def run(loaded, case: str):
    if case == "graph":
        return attention_attribution(loaded, TEXT, steps=4)
    return attribute(loaded, TEXT, case, options=OPTIONS)


def hook_counts(model) -> list[int]:
    return [len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules()]


def lock_is_free(loaded) -> bool:
    """Another thread (another browser session) can take the bundle's lock at once."""
    taken: list[bool] = []

    def take() -> None:
        acquired = loaded.lock.acquire(timeout=2)
        taken.append(acquired)
        if acquired:
            loaded.lock.release()

    thread = threading.Thread(target=take)
    thread.start()
    thread.join()
    return taken == [True]


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("case", CASES)
def test_method_contract(bundle, case):
    loaded = bundle("bert")
    before = hook_counts(loaded.model)

    result = run(loaded, case)
    tokens = len(loaded.tokenizer(TEXT)["input_ids"])
    scores = result.scores
    if case == "graph":
        assert scores.shape[-2:] == (tokens, tokens)
    else:
        assert scores.shape == (tokens,) and len(result.tokens) == tokens
        assert result.title == REGISTRY[case].title and result.signed == REGISTRY[case].signed
        if not REGISTRY[case].signed:  # magnitudes and shares
            assert (scores >= 0).all(), case
    assert np.isfinite(scores).all()
    assert hook_counts(loaded.model) == before and lock_is_free(loaded)

    calls: list[int] = []

    def explode(module, args):
        calls.append(1)
        if len(calls) > 1:  # let the prediction pass, fail inside the method
            raise Boom("mid-forward failure")

    handle = loaded.model.bert.encoder.layer[1].register_forward_pre_hook(explode)
    try:
        with pytest.raises(Boom):
            run(loaded, case)
    finally:
        handle.remove()
    assert hook_counts(loaded.model) == before, case
    assert lock_is_free(loaded)
    assert all(p.grad is None for p in loaded.model.parameters())
    assert run(loaded, case).scores.shape == scores.shape  # and it still works afterwards


def test_registry_entries_are_complete():
    for name, method in REGISTRY.items():
        assert method.name == name and method.title and callable(method.function())


def test_options_of_another_type_are_a_type_error_naming_the_class(bundle):
    # a dict of options failed inside a method with "'dict' object has no attribute 'baseline'"
    with pytest.raises(TypeError, match="options must be an AttributionOptions.*not dict"):
        attribute(bundle("bert"), "a fine film", "saliency", options={"steps": 16})


@pytest.mark.parametrize("field, value", [("seed", "x"), ("seed", -1), ("seed", 1.5), ("seed", True),
                                          ("steps", True), ("samples", 0)])
def test_every_option_is_checked_when_built(field, value):
    """seed="x" was taken, then failed inside torch.manual_seed once LIME ran; steps=True passed as 1."""
    from explainer.capture.encoding import InputError

    with pytest.raises(InputError, match=f"{field} must be"):
        AttributionOptions(**{field: value})
    assert AttributionOptions(seed=7).seed == 7
