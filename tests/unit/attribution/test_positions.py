"""Attribution feeds the model embeddings, not token ids; RoBERTa and its kin number positions from the ids (a pad
id in the text keeps the padding position and is not counted), but number every token when given embeddings. The
function every method explains must be the one trace() ran, whatever the text holds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explainer import trace
from explainer.attribution import attribute
from explainer.attribution.graph import attention_attribution
from explainer.attribution.inputs import positions_from_ids, prepare
from explainer.counterfactual.scoring import Scorer
from explainer.counterfactual.words import split_words

TEXTS = ("[PAD] the film is warm", "the film [PAD] is warm and funny", "the film is warm")


@pytest.mark.parametrize("family", ["roberta", "xlm-roberta", "bert", "gpt2", "ours"])
@pytest.mark.parametrize("text", TEXTS)
def test_attribution_explains_the_logits_trace_shows(bundle, family, text):
    tiny = bundle(family)
    shown = trace(tiny, text).logits
    np.testing.assert_allclose(attribute(tiny, text, "saliency").logits, shown, atol=1e-5)
    np.testing.assert_allclose(attention_attribution(tiny, text, steps=2).logits, shown, atol=1e-5)
    scorer = Scorer(tiny, int(shown.argmax()), None)  # the counterfactual search's gradient pass
    objective = scorer.objective(torch.as_tensor(shown, dtype=torch.float32))
    assert scorer.gradient(text, split_words(text)).objective == pytest.approx(float(objective), abs=1e-5)


def test_only_models_that_number_positions_from_ids_get_them(bundle):
    roberta = prepare(bundle("roberta"), "[PAD] the film is warm")
    # RoBERTa's numbering: <s> at padding_idx + 1, the typed pad at padding_idx, the words counted on after it
    padding_idx = bundle("roberta").model.base_model.embeddings.padding_idx
    positions = roberta.extra["position_ids"][0].tolist()
    assert positions[1] == padding_idx and positions[2] == positions[0] + 1
    for family in ("bert", "gpt2", "ours"):
        prepared = prepare(bundle(family), "[PAD] the film is warm")
        assert positions_from_ids(bundle(family), prepared.input_ids) == {} and "position_ids" not in prepared.extra
