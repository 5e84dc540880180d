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


def test_a_label_named_like_a_number_is_taken_by_its_name(bundle):
    """A model labelled "-1", "0", "1": the pages pass the picked name, and "0" must mean the label "0" (index 1),
    not index 0; "-1" was refused as an index out of range."""
    import dataclasses

    from explainer.capture.validation import label_index
    from explainer.causal.results import label_index as causal_label_index

    names = ("-1", "0", "1")
    assert [label_index(names, name) for name in names] == [0, 1, 2]
    assert label_index(names, 2) == 2 and label_index(("neg", "pos"), "1") == 1
    tiny = dataclasses.replace(bundle("bert"), label_names=("-1", "0"))
    assert attribute(tiny, "a fine film", "saliency", target="0").target == 1
    assert causal_label_index(tiny, "-1", default=1) == 0


def test_a_target_label_is_matched_as_data_files_match_labels():
    """--target Neutral was refused for a model labelled "neutral", while a data file's labels match ignoring case
    and spaces around; two labels differing only in case stay apart."""
    from explainer.capture.validation import InputError, label_index

    names = ("negative", "neutral", "<b>mixed</b> & odd")
    assert label_index(names, "Neutral") == 1 and label_index(names, " NEGATIVE ") == 0
    assert label_index(names, "<B>mixed</B> & odd") == 2
    assert label_index(("pos", "Pos"), "Pos") == 1
    with pytest.raises(InputError, match="Unknown label 'POS'"):
        label_index(("pos", "Pos"), "POS")


def test_a_target_that_is_no_whole_ascii_number_is_refused():
    """"²" and "①" pass str.isdigit() but not int(): a traceback; 1.9 was quietly label 1."""
    from explainer.capture.validation import InputError, label_index

    for target in ("²", "①", "١"):
        with pytest.raises(InputError, match="Unknown label"):
            label_index(("neg", "pos"), target)
    for target in (1.9, 0.5, True):
        with pytest.raises(InputError, match="whole index"):
            label_index(("neg", "pos"), target)
    assert label_index(("neg", "pos"), 1.0) == 1 and label_index(("neg", "pos"), " 1 ") == 1


def test_a_model_whose_position_numbering_is_a_module_function_is_numbered_too(tokenizer, tmp_path):
    """MPNet (like ESM, I-BERT, LUKE, Longformer) keeps create_position_ids_from_input_ids outside its embeddings
    class: found there as well, so a typed pad id (here [UNK], MPNet's padding_idx 1) is explained as trace() ran."""
    from transformers import MPNetConfig, MPNetForSequenceClassification

    from explainer import load_model
    from tests.conftest import VOCAB, save_checkpoint

    config = MPNetConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, pad_token_id=1, max_position_embeddings=130)
    torch.manual_seed(0)
    folder = save_checkpoint(MPNetForSequenceClassification(config).eval(), tokenizer, tmp_path / "mpnet")
    loaded = load_model(folder, device="cpu")
    text = f"the film {tokenizer.convert_ids_to_tokens(1)} is warm"
    assert "position_ids" in prepare(loaded, text).extra
    np.testing.assert_allclose(attribute(loaded, text, "saliency").logits, trace(loaded, text).logits, atol=1e-5)
