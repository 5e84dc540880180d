"""Activation patching on tiny models of every family: the exactness checks (the whole residual stream at the
last layer's readout restores 1, nothing patched restores 0), the cue head, batching, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explainer.capture.encoding import InputError
from explainer.causal import CausalUnsupported, patch
from explainer.causal.alignment import Alignment, tokenized
from explainer.causal.hooks import forward_extra
from explainer.loading.bundle import ModelBundle
from tests.conftest import (
    FAMILIES,
    MORE_FAMILIES,  # families beyond FAMILIES in the shared fixtures
)
from tests.unit.causal.conftest import CUE_HEAD, CUE_LAYER, CUE_WORD, OTHER_WORD

CLEAN = "The film is a quiet triumph, warm and funny."
CORRUPTED = "The film is a dull mess, warm and funny."  # other token counts for the changed words


def hooks(model) -> list[int]:
    """How many forward hooks each module holds (transformers installs some of its own: compare, do not expect 0)."""
    return [len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()]


@pytest.fixture(params=[*FAMILIES, "retrofit", *MORE_FAMILIES, "albert-groups"])
def any_bundle(request, bundle, retrofit_bundle) -> ModelBundle:
    return retrofit_bundle if request.param == "retrofit" else bundle(request.param)


def test_exactness_on_every_family(any_bundle):
    before = {k: v.clone() for k, v in any_bundle.model.state_dict().items()}
    hooks_before = hooks(any_bundle.model)
    result = patch(any_bundle, CLEAN, CORRUPTED)
    layers = result.attention.shape[0]
    length = len(result.corrupted_tokens)
    assert result.residual.shape == (layers + 1, length) and result.heads.shape[0] == layers
    assert result.residual[layers, result.readout] == pytest.approx(1.0, abs=1e-4)
    # The 1 above is measured against the clean and corrupted logits of patch()'s own hooked runs: they must be the
    # model's plain logits (recording hooks that changed the clean run would still give exactly 1).
    extra = forward_extra(any_bundle)
    for text, logits in ((CLEAN, result.clean_logits), (CORRUPTED, result.corrupted_logits)):
        with torch.no_grad():
            plain = any_bundle.model(**any_bundle.tokenizer(text, return_tensors="pt"), **extra).logits[0]
        np.testing.assert_allclose(logits, plain.numpy(), atol=1e-5)
    assert result.nothing_patched == pytest.approx(0.0, abs=1e-4)
    # The changed words have other token counts: their tokens are unpartnered, NaN, and reported.
    assert result.unpartnered_corrupted and np.isnan(result.residual[:, list(result.unpartnered_corrupted)]).all()
    paired = result.partners >= 0
    assert np.isfinite(result.residual[:, paired]).all() and np.isfinite(result.heads).all()
    assert result.partners[0] == 0 and result.partners[-1] == len(result.clean_tokens) - 1
    assert hooks(any_bundle.model) == hooks_before and any_bundle.lock.acquire(blocking=False)
    any_bundle.lock.release()
    assert all(torch.equal(before[k], v) for k, v in any_bundle.model.state_dict().items())


def test_patching_the_cue_head_restores_the_difference(cue_bundle):
    clean, corrupted = f"the film is {CUE_WORD} .", f"the film is {OTHER_WORD} ."
    result = patch(cue_bundle, clean, corrupted)
    assert result.label_names[result.target] == "pos" and result.label_names[result.foil] == "neg"
    assert result.logit_difference_clean - result.logit_difference_corrupted > 1.0
    assert result.heads[CUE_LAYER, CUE_HEAD] > 0.9
    others = np.delete(result.heads.ravel(), CUE_LAYER * result.heads.shape[1] + CUE_HEAD)
    assert others.max() < 0.2  # no other head restores the cue (some push further away through the norms)
    assert result.top_heads(1)[0][:2] == (CUE_LAYER, CUE_HEAD)
    # only heads that restore some of it: a negative share was listed among the "top" restoring heads
    assert all(share > 0 for _, _, share in result.top_heads(result.heads.size))
    assert len(result.top_heads(result.heads.size)) == int((result.heads > 0).sum()) < result.heads.size
    # The cue's own position carries it in the residual stream until the head has moved it (layer 1's input).
    cue = result.corrupted_tokens.index(OTHER_WORD)
    assert result.residual[CUE_LAYER, cue] > 0.9 and result.residual[CUE_LAYER + 1, cue] < 0.1


def test_batched_rows_equal_one_row_per_pass(bundle):
    gpt2 = bundle("gpt2")
    together = patch(gpt2, CLEAN, CORRUPTED)
    alone = patch(gpt2, CLEAN, CORRUPTED, batch_rows=1)
    assert alone.forward_passes > together.forward_passes
    for name in ("residual", "attention", "mlp", "heads"):
        np.testing.assert_allclose(getattr(together, name), getattr(alone, name), atol=1e-4)


def test_explicit_alignment_and_edits(bundle):
    bert = bundle("bert")
    # Same words, one replaced by a word of one token: the edit aligns every other word.
    clean, corrupted = "the film is funny .", "the film is warm ."
    by_words = patch(bert, clean, corrupted)
    assert (by_words.partners == np.arange(len(by_words.corrupted_tokens))).all()

    class Edit:  # the counterfactual search's edit: word 3 of the original replaced
        position, old, new = 3, "funny", "warm"

    by_edits = patch(bert, clean, corrupted, alignment=[Edit()])
    np.testing.assert_allclose(by_edits.residual, by_words.residual, atol=1e-6)
    only_ends = patch(bert, clean, corrupted, alignment=[(0, 0), (6, 6)])
    assert np.isnan(only_ends.residual[:, 1:6]).all() and np.isfinite(only_ends.residual[:, [0, 6]]).all()
    with pytest.raises(InputError, match="do not turn"):

        class Wrong:
            position, old, new = 1, "film", "movie"

        patch(bert, clean, corrupted, alignment=[Wrong()])
    with pytest.raises(InputError, match="outside"):
        patch(bert, clean, corrupted, alignment=Alignment(((0, 9),), 7, 7))


def test_bad_input_says_why(bundle):
    bert = bundle("bert")
    with pytest.raises(InputError, match="nothing to patch"):
        patch(bert, "the film is funny.", "the film  is funny.")
    long = " ".join(["the film is funny ."] * 40)
    result = patch(bert, long, long.replace("funny", "warm", 1))
    assert result.truncated == (True, True)
    assert any("only the beginning was analysed" in note and "That is its first" in note for note in result.notes)
    # a change past the cut reads the same too: said as such, not "change a word" to someone who just did
    cut = "The model reads only the first 64 tokens, and the texts differ only after that"
    with pytest.raises(InputError, match=cut):
        patch(bert, long, long[: long.rindex("funny")] + "warm .")
    read = tokenized(bert, long).used_part()  # all the model reads of `long`: not cut itself
    assert not tokenized(bert, read).truncated
    with pytest.raises(InputError, match=cut):  # the clean text whole, only the corrupted one cut: said too
        patch(bert, read, long)
    with pytest.raises(InputError, match="Unknown label"):
        patch(bert, "the film is funny .", "the film is warm .", target="maybe")
    # which of the two texts is refused (the Causal page has two boxes; the message said "The text")
    with pytest.raises(InputError, match="^The corrupted text has nothing the model can read"):
        patch(bert, "the film is funny .", "\u200b\u200b")
    with pytest.raises(InputError, match="^The clean text is empty"):
        patch(bert, "", "the film is warm .")
    # a negative batch_rows returned never-filled logits as patching results; a negative limit_rows cut the last rows
    for name in ("batch_rows", "limit_rows"):
        for rows in (-2, 0):
            with pytest.raises(InputError, match=f"^{name} must be a whole number of rows, 1 or more"):
                patch(bert, "the film is funny .", "the film is warm .", **{name: rows})


def test_unknown_family_names_the_supported_ones(checkpoint, tokenizer):
    from explainer.loading.bundle import load_model

    private = load_model(checkpoint("bert"), device="cpu")
    private.model.config.model_type = "mystery"  # a private copy: no shared model is touched
    with pytest.raises(CausalUnsupported, match="mystery is not one. Supported: .*bert.*gpt2"):
        patch(private, "the film is funny .", "the film is warm .")
    private.model.config.model_type = "gptj"  # in the table by its readout position only
    with pytest.raises(CausalUnsupported, match="gptj is known there by its readout position only"):
        patch(private, "the film is funny .", "the film is warm .")


def test_the_unpartnered_note_names_tokens_as_the_axis_shows_them_and_says_why_the_last_word_lost_its_partner(bundle):
    from types import SimpleNamespace

    from explainer.causal.patching import _unpartnered_note

    # a last-token classifier: "film" is in both texts but last in only one
    clean = SimpleNamespace(tokens=["A", "Ġgentle", "Ġfilm"], readout=2)
    corrupted = SimpleNamespace(tokens=["A", "Ġgentle", "Ġfilm", "Ġindeed"], readout=3)
    aligned = SimpleNamespace(unpartnered_corrupted=(2,), unpartnered_clean=())
    note = _unpartnered_note(clean, corrupted, aligned)
    # as the heatmap's axis writes them ("2 film"); str.capitalize() once made it "ġfilm"
    assert note.startswith("Corrupted tokens") and "film (2)" in note and "Ġ" not in note
    assert "always paired with each other" in note
    first = SimpleNamespace(tokens=["[CLS]", "Paris", "[SEP]"], readout=0)
    assert "[CLS] (0)" in _unpartnered_note(first, first, SimpleNamespace(unpartnered_corrupted=(0,),
                                                                          unpartnered_clean=()))
    assert "always paired" not in _unpartnered_note(first, first, aligned)


def test_a_model_that_reads_no_single_position_is_patched_with_a_note(tokenizer, tmp_path, bundle):
    """A mean-pooling ModernBERT: the last layer's residual at one position cannot restore the prediction."""
    from explainer.causal.patching import NO_SINGLE_READOUT_NOTE
    from explainer.loading.bundle import load_model
    from tests.conftest import build_model, save_checkpoint

    pooled = load_model(
        save_checkpoint(build_model("modernbert", classifier_pooling="mean"), tokenizer, tmp_path / "mean"),
        device="cpu",
    )
    result = patch(pooled, CLEAN, CORRUPTED)
    assert NO_SINGLE_READOUT_NOTE in result.notes
    assert NO_SINGLE_READOUT_NOTE not in patch(bundle("modernbert"), CLEAN, CORRUPTED).notes  # it reads [CLS]


def test_a_corruption_that_hardly_moves_or_raises_the_difference_is_said():
    from explainer.causal.patching import _gap_notes

    names = ("neg", "pos")
    assert _gap_notes(names, 1, 0, clean=2.0, corrupted=-1.0) == []  # the usual case: nothing to say
    small = _gap_notes(names, 1, 0, clean=0.686, corrupted=0.672)
    assert len(small) == 1 and "only 0.014 apart" in small[0] and "pos - neg" in small[0]
    inverted = _gap_notes(names, 1, 0, clean=0.445, corrupted=0.582)
    assert len(inverted) == 1 and "favours pos more than the clean one" in inverted[0]
    # a tiny gap the wrong way round is as magnified as one the usual way: both notes (it once got only the first,
    # with both values shown as +1.000)
    tiny = _gap_notes(names, 1, 0, clean=1.0, corrupted=1.00001)
    assert len(tiny) == 2 and "clean +1, corrupted +1.00001" in tiny[0] and "only 1e-05 apart" in tiny[1]


def test_token_pairs_always_pair_the_readouts(bundle):
    """Pairs given by hand get the readout pair every alignment made here has, so patching everything still
    restores the clean logit (a list without it left the last layer's readout cell NaN); none at all is the
    readouts alone (an empty list made a float index tensor)."""
    bert = bundle("bert")
    clean, corrupted = "the film is funny .", "the film is warm ."
    for pairs in ([(3, 3)], [], Alignment(((3, 3),), 7, 7)):  # an Alignment made by hand too
        result = patch(bert, clean, corrupted, alignment=pairs)
        layers = result.attention.shape[0]
        assert result.residual[layers, result.readout] == pytest.approx(1.0, abs=1e-4), pairs
        assert result.partners[result.readout] == 0 and np.isfinite(result.heads).all()


def test_forward_passes_count_every_model_call(bundle, retrofit_bundle):
    """`forward_passes` is the number of model calls, the runs at a beacon model's own tau included."""
    for loaded in (bundle("bert"), retrofit_bundle):
        patch(loaded, CLEAN, CORRUPTED)  # once first: a model's layout is found once, by a probe pass of its own
        calls = []
        handle = loaded.model.register_forward_pre_hook(lambda *_, calls=calls: calls.append(1))
        try:
            result = patch(loaded, CLEAN, CORRUPTED)
        finally:
            handle.remove()
        assert result.forward_passes == len(calls), loaded.name


def test_a_token_without_an_embedding_is_said_of_the_text_that_holds_it(checkpoint, tmp_path):
    """Every other refusal names the clean or the corrupted text; this one said "The text holds the token ...",
    leaving the user to guess which."""
    from explainer import load_model
    from explainer.capture.encoding import UnembeddableToken
    from tests.conftest import with_unembeddable_word

    added = load_model(with_unembeddable_word(checkpoint("bert"), tmp_path / "added"))
    with pytest.raises(UnembeddableToken, match="^The clean text holds the token 'zebra'"):
        patch(added, "A gentle zebra.", "A dull film.")
    with pytest.raises(UnembeddableToken, match="^The corrupted text holds the token 'zebra'"):
        patch(added, "A gentle film.", "A dull zebra.")
