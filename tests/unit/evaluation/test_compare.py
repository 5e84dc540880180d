"""Head matching, attribution agreement and data-set comparison of two models; the batch bench."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from explainer import load_model
from explainer.attention.head_matching import head_similarity, match_heads
from explainer.bench.batch import run as run_batch_bench
from explainer.bench.common import BenchOptions
from explainer.capture.tracing import trace
from explainer.evaluation.compare import (
    CompareError,
    compare_data,
    compare_text,
    input_x_gradient,
    pool_attention,
    rank_agreement,
    word_membership,
)
from explainer.evaluation.error_report import load_labelled
from explainer.models.tokenization_wordpiece import whole_word_wordpiece
from explainer.views.evaluation import matching_notes
from tests.conftest import CORPUS, HEADS, HIDDEN, LAYERS, build_model, save_checkpoint, with_unembeddable_word

TEXT = "The film is a quiet triumph, warm and funny from the first scene to the last."
PERMUTATIONS = [[2, 0, 3, 1], [1, 3, 0, 2]]  # per layer: new head i is old head PERMUTATIONS[layer][i]


def permute_bert_heads(model, permutations) -> None:
    """Reorder the heads of every layer of a BertForSequenceClassification in place: Q, K, V output rows and the
    attention output's input columns move together, so the function computed is unchanged."""
    size = HIDDEN // HEADS
    with torch.no_grad():
        for layer, order in zip(model.bert.encoder.layer, permutations):
            index = torch.cat([torch.arange(h * size, (h + 1) * size) for h in order])
            for linear in (layer.attention.self.query, layer.attention.self.key, layer.attention.self.value):
                linear.weight.copy_(linear.weight[index])
                linear.bias.copy_(linear.bias[index])
            dense = layer.attention.output.dense
            dense.weight.copy_(dense.weight[:, index])


@pytest.fixture(scope="module")
def permuted_bert(tmp_path_factory, tokenizer):
    model = build_model("bert")
    permute_bert_heads(model, PERMUTATIONS)
    return load_model(save_checkpoint(model, tokenizer, tmp_path_factory.mktemp("permuted") / "bert"), device="cpu")


def test_permuted_heads_leave_the_output_unchanged_and_are_matched_back(bert_bundle, permuted_bert):
    original, permuted = trace(bert_bundle, TEXT), trace(permuted_bert, TEXT)
    np.testing.assert_allclose(permuted.logits, original.logits, atol=1e-5)
    for layer, order in enumerate(PERMUTATIONS):
        np.testing.assert_allclose(permuted.attentions[layer], original.attentions[layer][order], atol=1e-5)
        assert not np.allclose(permuted.attentions[layer], original.attentions[layer], atol=1e-3)  # order differs
    for by_layer in (False, True):
        matching = match_heads(original.attentions, permuted.attentions, by_layer=by_layer)
        assert len(matching.pairs) == LAYERS * HEADS
        found = {(p.layer_a, p.head_a): (p.layer_b, p.head_b) for p in matching.pairs}
        truth = {(layer, old): (layer, new) for layer, order in enumerate(PERMUTATIONS)
                 for new, old in enumerate(order)}
        assert found == truth
        assert all(p.similarity == pytest.approx(1.0, abs=1e-5) for p in matching.pairs)
    index_pairs = sum(found[(layer, head)] == (layer, head) for layer in range(LAYERS) for head in range(HEADS))
    assert index_pairs < LAYERS * HEADS  # matching by index alone would have been wrong


def test_matching_across_layers_and_with_different_head_counts():
    rng = np.random.default_rng(0)
    attention = rng.dirichlet(np.ones(6), size=(3, 4, 6))  # [3 layers, 4 heads, 6, 6]
    flat = attention.reshape(12, 6, 6)
    order = rng.permutation(12)
    shuffled = flat[order].reshape(3, 4, 6, 6)  # heads moved across layers too
    matching = match_heads(attention, shuffled)
    for pair in matching.pairs:
        assert order[pair.layer_b * 4 + pair.head_b] == pair.layer_a * 4 + pair.head_a
    fewer = match_heads(attention, flat[order[:5]].reshape(1, 5, 6, 6))  # B has 5 heads: 5 pairs
    assert len(fewer.pairs) == 5
    assert all(order[p.head_b] == p.layer_a * 4 + p.head_a for p in fewer.pairs)
    similarity = head_similarity(attention, shuffled)
    expected = np.corrcoef(flat.reshape(12, -1), shuffled.reshape(12, -1))[:12, 12:]
    np.testing.assert_allclose(similarity, expected, atol=1e-12)


def test_a_constant_map_is_like_another_constant_map_and_unlike_one_that_varies():
    """A constant map has no correlation: it counted 0 against everything, so a model matched with itself paired
    its evenly spreading head with any leftover head, and at 0 where it does exactly what its twin does."""
    uniform = np.full((1, 2, 3, 3), 1 / 3)
    assert np.all(head_similarity(uniform, uniform) == 1)
    rng = np.random.default_rng(0)
    attention = rng.dirichlet(np.ones(3), size=(2, 3, 3))  # [2, 3, 3, 3]
    attention[1, 2] = 1 / 3  # one head spreads evenly
    similarity = head_similarity(attention, attention)
    assert similarity[5, 5] == 1 and np.all(similarity[5, :5] == 0) and np.all(similarity[:5, 5] == 0)
    matching = match_heads(attention, attention)
    assert all((p.layer_a, p.head_a) == (p.layer_b, p.head_b) for p in matching.pairs)
    assert matching.mean_similarity == pytest.approx(1.0) and (matching.constant_a, matching.constant_b) == (1, 1)
    assert (matching.unpaired_a, matching.unpaired_b) == (0, 0)
    fewer = match_heads(attention, attention[:1])
    assert (fewer.unpaired_a, fewer.unpaired_b) == (3, 0)
    assert matching_notes(fewer, "word") == (
        "3 of A's 6 heads have no partner. 1 of A's and 0 of B's heads spread their attention evenly over every "
        "word of this text: such a flat map counts 1 against another flat map and 0 against one that varies.")
    assert matching_notes(match_heads(attention[:1], attention[:1]), "token") == ""
    assert matching_notes(match_heads(attention[:1], attention[:1, :2]), "token") == "1 of A's 3 heads has no partner."


@pytest.mark.parametrize("family", ["bert", "ours"])
def test_input_x_gradient_equals_autograd(bundle, family):
    """ThoughtBeacon: attributed dense (tau 0), every MLP run, as explainer.attribution does."""
    bert_bundle = bundle(family)
    scores = input_x_gradient(bert_bundle, TEXT, target=1)
    model, tokenizer = bert_bundle.model, bert_bundle.tokenizer
    dense = {"beacon_threshold": 0.0} if family == "ours" else {}
    inputs = tokenizer(TEXT, return_tensors="pt")
    kept = {}

    def keep(module, args, output):
        output.retain_grad()
        kept["embeddings"] = output

    handle = model.get_input_embeddings().register_forward_hook(keep)
    try:
        model(**inputs, **dense).logits[0, 1].backward()
    finally:
        handle.remove()
        model.zero_grad()
    embeddings = kept["embeddings"]
    expected = (embeddings.grad * embeddings).sum(-1)[0].detach().numpy()
    assert scores.shape == (len(trace(bert_bundle, TEXT).tokens),)
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-6)


def test_rank_agreement_against_scipy():
    a = np.array([0.5, -0.2, 0.9, 0.0, -1.3, 0.4])
    b = np.array([0.4, -0.1, 1.0, 0.1, -0.2, 0.3])
    result = rank_agreement(a, b, k=3)
    assert result.spearman == pytest.approx(stats.spearmanr(a, b).statistic)
    assert result.kendall == pytest.approx(stats.kendalltau(a, b).statistic)
    assert result.top_k_overlap == pytest.approx(2 / 3)  # top |a|: 4, 2, 0; top |b|: 2, 0, 5
    assert rank_agreement(a, a).spearman == pytest.approx(1.0)
    assert rank_agreement(a, -a).spearman == pytest.approx(-1.0)


def test_top_k_is_at_most_half_the_units_so_the_overlap_can_fall():
    a = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.5])
    opposite = rank_agreement(a, a[::-1].copy())  # top-5 of 6 would share 4 whatever the rankings
    assert opposite.k == 3 and opposite.units == 6 and opposite.top_k_overlap == 0.0
    assert opposite.chance_overlap == pytest.approx(0.5)
    assert rank_agreement(a[:2], a[:2]).k == 1


def test_the_agreement_leaves_special_tokens_out(bundle):
    result = compare_text(bundle("ours"), bundle("bert"), TEXT)
    content = ~result.trace_a.special_tokens
    assert result.agreement.units == int(content.sum()) < len(result.units)
    expected = rank_agreement(result.attribution_a[content], result.attribution_b[content])
    assert result.agreement == expected


def test_attributions_over_the_token_limit_are_left_out_not_computed(bundle, monkeypatch):
    whole = compare_text(bundle("ours"), bundle("bert"), TEXT)
    tokens = len(whole.trace_a.tokens)
    within = compare_text(bundle("ours"), bundle("bert"), TEXT, attribution_tokens=tokens)
    assert within.agreement == whole.agreement and np.array_equal(within.attribution_a, whole.attribution_a)
    import explainer.evaluation.compare as compare_module

    monkeypatch.setattr(compare_module, "input_x_gradient", lambda *a, **k: pytest.fail("attributed over the limit"))
    over = compare_text(bundle("ours"), bundle("bert"), TEXT, attribution_tokens=tokens - 1)
    assert over.attribution_a is None and over.attribution_b is None and over.agreement is None
    assert over.matching.pairs == whole.matching.pairs  # the rest of the comparison is whole


def test_same_tokens_compare_on_tokens(bundle):
    result = compare_text(bundle("ours"), bundle("bert"), TEXT)
    assert result.level == "token" and result.units == result.trace_a.tokens
    assert result.attention_a.shape[-1] == len(result.units) == result.attribution_b.shape[0]


def test_b_without_a_s_label_says_which_label_its_attribution_is_towards(tmp_path, tokenizer, ours_bundle):
    """B's labels are other words: its attribution goes to the same id, and the result says so (it once passed
    silently for attribution towards A's label); of another number of labels, B's own prediction (id 1 of two
    labels, 'pos', went to id 1 of five, 'negative', and the rank agreement read -1)."""
    other = build_model("bert", id2label={0: "cold", 1: "warm"}, label2id={"cold": 0, "warm": 1})
    b = load_model(save_checkpoint(other, tokenizer, tmp_path / "other-labels"), device="cpu")
    result = compare_text(ours_bundle, b, TEXT, target=1)
    assert result.target == result.target_b == 1 and result.target_names == ("pos", "warm")
    assert result.notes == ("B has no label 'pos': B's attribution is towards its label 'warm', the same id (1).",)
    np.testing.assert_allclose(result.attribution_b, input_x_gradient(b, TEXT, 1), rtol=1e-6)
    same = compare_text(ours_bundle, ours_bundle, TEXT, target=0)
    assert same.target_b == 0 and same.notes == () and same.target_names == ("neg", "neg")
    three = build_model("bert", id2label={0: "a", 1: "b", 2: "c"}, label2id={"a": 0, "b": 1, "c": 2})
    c = load_model(save_checkpoint(three, tokenizer, tmp_path / "three-labels"), device="cpu")
    beyond = compare_text(c, ours_bundle, TEXT, target=2)
    assert beyond.target_b == beyond.trace_b.predicted
    assert beyond.notes == (f"B has no label 'c' (its 2 labels are not A's 3): B's attribution is towards its own "
                            f"prediction, '{beyond.trace_b.predicted_label}'.",)
    fewer = compare_text(ours_bundle, c, TEXT, target=1)  # id 1 exists in B, but of three labels: not the same
    assert fewer.target_b == fewer.trace_b.predicted and "its 3 labels are not A's 2" in fewer.notes[0]


def test_different_tokenisers_compare_on_words(tmp_path, ours_bundle):
    """B reads with a WordPiece vocabulary from other sentences, so it splits the words differently."""
    other = whole_word_wordpiece(CORPUS[12:20] * 2, vocab_size=110)
    b = load_model(save_checkpoint(build_model("bert"), other, tmp_path / "other-vocab"), device="cpu")
    text = "A quiet triumph, warm and funny."
    result = compare_text(ours_bundle, b, text)
    assert result.trace_a.tokens != result.trace_b.tokens
    assert result.level == "word" and result.units == ("A", "quiet", "triumph", ",", "warm", "and", "funny", ".")
    assert result.why_words == "the two tokenisers differ"
    assert result.attention_a.shape == (*result.trace_a.attentions.shape[:2], 8, 8)
    assert result.attention_b.shape == (*result.trace_b.attentions.shape[:2], 8, 8)
    words = [(m.start(), m.end()) for m in re.finditer(r"\w+|[^\w\s]", text)]
    membership = word_membership(result.trace_b, words)  # [8, T_b]: every word covered, specials in none
    assert (membership.sum(axis=1) >= 1).all() and membership[:, result.trace_b.special_tokens].sum() == 0
    target_b = list(b.label_names).index(ours_bundle.label_names[result.target])
    np.testing.assert_allclose(result.attribution_b, membership @ input_x_gradient(b, text, target_b), rtol=1e-6)
    assert len(result.matching.pairs) == LAYERS * HEADS


def test_a_text_cut_inside_its_first_word_says_so(tmp_path, ours_bundle):
    """"the two models share no word of this text to compare" gave no reason: model B (byte-level BPE, a long word
    in many pieces) read only the first pieces of the first word up to its token limit, so no word was read whole
    by both."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    trained = ByteLevelBPETokenizer()
    trained.train_from_iterator(CORPUS, vocab_size=300, min_frequency=1, special_tokens=["<pad>", "<unk>"])
    pieces = PreTrainedTokenizerFast(tokenizer_object=trained._tokenizer, pad_token="<pad>", unk_token="<unk>")
    b = load_model(save_checkpoint(build_model("gpt2", vocab_size=320), pieces, tmp_path / "bytes"), device="cpu")
    with pytest.raises(CompareError, match=r"^The two models share no whole word of this text to compare: model B "
                                           r"reads only the beginning of the text, up to its token limit, which ends "
                                           r"inside its first word\.$"):
        compare_text(ours_bundle, b, "x" * 300 + " film")


def test_words_keep_their_accents_and_joined_emoji_whole(tmp_path, ours_bundle):
    # Python's re split "été" typed with combining accents into e, ́, te, and a ZWJ family into 5 words
    other = whole_word_wordpiece(CORPUS[12:20] * 2, vocab_size=110)
    b = load_model(save_checkpoint(build_model("bert"), other, tmp_path / "other-vocab"), device="cpu")
    accented, family = "e\u0301te\u0301", "\U0001F468\u200d\U0001F469\u200d\U0001F467"
    result = compare_text(ours_bundle, b, f"A quiet {accented} {family}, warm.")
    assert result.level == "word" and result.units == ("A", "quiet", accented, family, ",", "warm", ".")


def test_pooling_with_one_token_per_word_is_the_identity_on_those_tokens():
    rng = np.random.default_rng(1)
    attention = rng.dirichlet(np.ones(5), size=(2, 3, 5))  # [2, 3, 5, 5]
    membership = np.zeros((3, 5))
    membership[[0, 1, 2], [1, 2, 3]] = 1.0  # tokens 0 and 4 are special
    np.testing.assert_allclose(pool_attention(attention, membership), attention[:, :, 1:4, 1:4])
    membership[1, 3] = 1.0  # word 1 spans tokens 2 and 3
    pooled = pool_attention(attention, membership)
    np.testing.assert_allclose(pooled[..., 1, 0], attention[..., 2:4, 1].mean(-1))
    np.testing.assert_allclose(pooled[..., 0, 1], attention[..., 1, 2:4].sum(-1))


def test_a_token_over_several_words_is_shared_among_them_not_counted_in_each():
    """One [UNK] over "great😀" (two words of the split) was counted whole in both: a pooled attention row summed
    to 2 and the token's attribution counted twice (ties in the rank agreement)."""
    from types import SimpleNamespace

    words = [(0, 2), (3, 8), (8, 9), (10, 12)]  # "so great😀 ok": so, great, 😀, ok
    offsets = np.array([[0, 0], [0, 2], [3, 9], [10, 12], [0, 0]])  # [CLS] so [UNK] ok [SEP]
    trace = SimpleNamespace(tokens=["[CLS]", "so", "[UNK]", "ok", "[SEP]"], offsets=offsets,
                            special_tokens=np.array([True, False, False, False, True]))
    membership = word_membership(trace, words)
    np.testing.assert_allclose(membership[:, 2], [0, 0.5, 0.5, 0])
    np.testing.assert_allclose(membership.sum(axis=0), [0, 1, 1, 1, 0])  # every text token shared out whole
    scores = np.array([0.0, 0.2, -0.6, 0.1, 0.0])
    assert (membership @ scores).sum() == pytest.approx(scores.sum())  # totals kept
    rng = np.random.default_rng(0)
    attention = rng.dirichlet(np.ones(5), size=(1, 2, 5))  # [1, 2, 5, 5], rows sum to 1
    pooled = pool_attention(attention, membership)
    assert pooled.sum(-1).max() <= 1 + 1e-12
    np.testing.assert_allclose(pooled[..., 1, :], pooled[..., 2, :])  # both words read with the token's row
    np.testing.assert_allclose(pooled[..., 1, 2], attention[..., 2, 2] / 2)


def test_a_lone_space_token_of_an_empty_span_belongs_to_the_word_after_it():
    """RoBERTa trims a lone "Ġ" (before "—", an emoji, a second space) to an empty span: it was skipped, so its
    attention and attribution were dropped from the word-level comparison (pooled rows summed to 0.7-0.8)."""
    from explainer.counterfactual.words import split_words
    from tests.conftest import roberta_tokens

    tokens = roberta_tokens("good — fine  film")
    words = [(w.start, w.end) for w in split_words(tokens.text)]
    membership = word_membership(tokens, words)
    text_tokens = ~tokens.special_tokens
    assert any(start == end for (start, end), keep in zip(tokens.offsets.tolist(), text_tokens) if keep)
    np.testing.assert_allclose(membership.sum(axis=0), text_tokens.astype(float))  # every text token shared out
    for index, (start, end) in enumerate(tokens.offsets.tolist()):
        if start == end and text_tokens[index]:  # with the word whose first letter follows it
            letter = start + len(tokens.text[start:]) - len(tokens.text[start:].lstrip())
            assert membership[[s <= letter < e for s, e in words], index].tolist() == [1.0]
    rng = np.random.default_rng(0)
    attention = rng.dirichlet(np.ones(len(tokens.tokens)), size=(1, 2, len(tokens.tokens)))
    attention[..., tokens.special_tokens] = 0.0
    attention /= attention.sum(-1, keepdims=True)  # rows spread over the text tokens only
    np.testing.assert_allclose(pool_attention(attention, membership).sum(-1), 1.0)


def test_a_token_of_spaces_only_belongs_to_the_word_after_it():
    """Byte-level BPE reads "thin  but" as 'thin', 'Ġ', 'Ġbut': the lone 'Ġ' overlapped no word, so its attention
    and attribution were dropped from the word-level comparison (totals not kept)."""
    from types import SimpleNamespace

    words = [(0, 4), (6, 9)]  # "thin  but "
    offsets = np.array([[0, 4], [4, 5], [5, 9], [9, 10]])  # thin, Ġ, Ġbut (its space in it), a trailing Ġ
    trace = SimpleNamespace(tokens=["thin", "Ġ", "Ġbut", "Ġ"], offsets=offsets, special_tokens=np.zeros(4, bool))
    membership = word_membership(trace, words)
    np.testing.assert_allclose(membership, [[1, 0, 0, 0], [0, 1, 1, 1]])  # the trailing one: the last word's
    scores = np.array([0.3, 0.05, -0.2, 0.01])
    assert (membership @ scores).sum() == pytest.approx(scores.sum())


def test_compare_data_counts_and_reordered_labels(tmp_path, tokenizer, ours_bundle):
    """B is A with its label ids swapped (and the classifier rows with them): the same model under other ids."""
    model = build_model("ours")
    with torch.no_grad():
        model.classifier.weight.copy_(model.classifier.weight.flip(0))
        model.classifier.bias.copy_(model.classifier.bias.flip(0))
    model.config.id2label, model.config.label2id = {0: "pos", 1: "neg"}, {"pos": 0, "neg": 1}
    swapped = load_model(save_checkpoint(model, tokenizer, tmp_path / "swapped"), device="cpu")
    rows = pd.DataFrame({"text": [TEXT, "A dull, lifeless script.", "Funny, fast and full of life.", "Bad."],
                         "label": ["pos", "neg", "pos", "neg"]})
    data = load_labelled(ours_bundle, rows.to_csv(index=False).encode(), filename="rows.csv")
    result = compare_data(ours_bundle, swapped, data)
    assert result.counts["only_a_right"] == result.counts["only_b_right"] == result.counts["different_predictions"] == 0
    assert result.report_a.metrics["accuracy"] == result.report_b.metrics["accuracy"]
    assert result.report_b.frame["predicted"].tolist() == result.report_a.frame["predicted"].tolist()
    assert result.disagreements.empty
    # side by side, both matrices in A's label order: B's own order put "pos" first, so one cell meant two things
    (confusion_a, names_a), (confusion_b, names_b) = result.confusions()
    assert names_a == names_b == ("neg", "pos") and confusion_a == confusion_b
    assert result.report_b.label_names == ("pos", "neg")  # its report keeps its own numbering


def test_labels_alike_but_for_spaces_and_case_are_one_label(tmp_path, tokenizer, ours_bundle):
    """B named its labels "Neg " and "POS": refused as other labels on a data set, and "B has no label 'neg'" on a
    text, though a data file's labels and a model's own are matched with spaces and case set aside."""
    model = build_model("ours")
    model.config.id2label, model.config.label2id = {0: "Neg ", 1: "POS"}, {"Neg ": 0, "POS": 1}
    spaced = load_model(save_checkpoint(model, tokenizer, tmp_path / "spaced"), device="cpu")
    data = load_labelled(ours_bundle, b"text,label\ngood,pos\nbad,neg\n", filename="rows.csv")
    result = compare_data(ours_bundle, spaced, data)
    assert result.report_b.metrics["n"] == 2 and result.counts["n"] == 2
    text = compare_text(ours_bundle, spaced, TEXT, target=0)
    assert text.notes == () and text.target_names == ("neg", "Neg ")


def test_compare_data_lists_the_disagreements(bundle, ours_bundle):
    rows = pd.DataFrame({"text": [TEXT, "A dull, lifeless script.", "Funny, fast and full of life.", "Bad.",
                                  "The worst movie I have seen in years.", "An instant classic with a big heart."],
                         "label": ["pos", "neg", "pos", "neg", "neg", "pos"]})
    data = load_labelled(ours_bundle, rows.to_csv(index=False).encode(), filename="rows.csv")
    result = compare_data(ours_bundle, bundle("bert"), data)
    a, b = result.report_a.frame["correct"], result.report_b.frame["correct"]
    assert set(result.disagreements["text"]) == set(rows["text"][a != b])
    assert result.counts["only_a_right"] == int((a & ~b).sum())
    by_text = dict(zip(result.disagreements["text"], result.disagreements["right"]))
    assert by_text == {text: "A" if right else "B" for text, right in zip(rows["text"][a != b], a[a != b])}


def test_ids_in_a_file_are_refused_when_the_two_models_number_labels_differently(tmp_path, tokenizer, ours_bundle):
    """A file of 0/1 labels was read with A's ids and mapped onto B by name: B's accuracy then depended on which
    model was A (0.6 against 0.4 alone), with no note."""
    model = build_model("ours")
    model.config.id2label, model.config.label2id = {0: "pos", 1: "neg"}, {"pos": 0, "neg": 1}
    swapped = load_model(save_checkpoint(model, tokenizer, tmp_path / "swapped"), device="cpu")
    by_id = load_labelled(ours_bundle, b"text,label\ngood,1\nbad,0\n", filename="rows.csv")
    assert by_id.labels_by_id
    with pytest.raises(CompareError, match=r"^The data set's labels are ids, and the two models number their "
                                           r"labels differently \(A: 0 neg, 1 pos; B: 0 pos, 1 neg\)"):
        compare_data(ours_bundle, swapped, by_id)
    by_name = load_labelled(ours_bundle, b"text,label\ngood,pos\nbad,neg\n", filename="rows.csv")
    assert compare_data(ours_bundle, swapped, by_name).counts["n"] == 2  # names are one truth for both
    assert compare_data(ours_bundle, ours_bundle, by_id).counts["n"] == 2  # the same numbering: ids are too


def test_models_with_other_labels_are_refused_on_a_data_set(tmp_path, tokenizer, ours_bundle):
    model = build_model("ours")
    model.config.id2label, model.config.label2id = {0: "sad", 1: "happy"}, {"sad": 0, "happy": 1}
    moods = load_model(save_checkpoint(model, tokenizer, tmp_path / "moods"), device="cpu")
    data = load_labelled(ours_bundle, b"text,label\ngood,pos\n", filename="rows.csv")
    with pytest.raises(CompareError, match=r"^The two models have different labels \(A: neg, pos; B: sad, happy\)"):
        compare_data(ours_bundle, moods, data)


def test_batch_bench_on_a_tiny_model(tmp_path, ours_bundle):
    import logging

    from transformers.utils import logging as hf_logging

    dev = tmp_path / "dev.tsv"
    texts = [TEXT, "A dull, lifeless script.", "Funny, fast and full of life.", "Bad."] * 10
    dev.write_text("sentence\tlabel\n" + "".join(f"{t}\t{i % 2}\n" for i, t in enumerate(texts)))
    verbosity, said = hf_logging.get_verbosity(), []
    handler = logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())
    hf_logging.get_logger("transformers").addHandler(handler)  # transformers' own handlers do not propagate
    import copy
    import dataclasses

    model = copy.deepcopy(ours_bundle.model)
    model.__class__ = type("UnlistedForSequenceClassification", (type(model),), {})  # as the shipped retrofit's is
    unlisted = dataclasses.replace(ours_bundle, model=model)
    try:
        data = run_batch_bench(BenchOptions(repeats=1, quick=True), bundle=unlisted, data=dev)
    finally:
        hf_logging.get_logger("transformers").removeHandler(handler)
    # the pipeline logged 4.8 KB of model types as an error, ours not among them; the level is left as it was
    assert not [line for line in said if "is not supported for" in line] and hf_logging.get_verbosity() == verbosity
    assert data["bench"] == "batch" and len(data["results"]) == 2
    for row in data["results"]:
        assert row["metric"] == "examples per second" and "pipeline" in row["reference_name"]
        assert row["ratio"] == pytest.approx(row["ours"] / row["reference"])
        assert row["meets"] == (row["ratio"] >= 1.5)


def test_batch_bench_without_the_data_says_so(tmp_path, ours_bundle):
    data = run_batch_bench(BenchOptions(repeats=1), bundle=ours_bundle, data=tmp_path / "absent.tsv")
    assert data["results"] == [] and "not found" in data["skipped"][0]


def test_words_are_said_to_come_from_different_lengths_read_not_from_different_tokenisers(bundle):
    import dataclasses

    short = dataclasses.replace(bundle("bert"), max_length=8)  # the same tokenizer, reading less of the text
    result = compare_text(bundle("bert"), short, TEXT)
    assert result.level == "word"
    assert result.why_words.startswith("the two models read different lengths of the text (")


def test_a_word_a_model_was_cut_inside_is_not_compared_as_read(bundle):
    """Cut after "q" of "quiet", the model was compared on "quiet" with the piece it read (the caption says
    "only what both read")."""
    import dataclasses

    text = "a quiet triumph"  # "quiet" is q ##u ##i ##e ##t in the tiny vocabulary
    for length, read in ((4, ("a",)), (8, ("a", "quiet")), (9, ("a", "quiet"))):
        short = dataclasses.replace(bundle("bert"), max_length=length)
        result = compare_text(bundle("bert"), short, text)
        assert result.trace_b.truncated and result.units == read, (length, result.trace_b.tokens)


def test_a_text_only_one_model_cannot_embed_names_that_model_and_its_line(checkpoint, tmp_path):
    """'which this model has no embedding for' of two models did not say which."""
    from explainer.capture.encoding import UnembeddableToken

    folder = with_unembeddable_word(checkpoint("ours"), tmp_path / "added")
    path = tmp_path / "zoo.csv"
    path.write_text("text,label\na good film,pos\nthe zebra was dull,neg\n")
    plain, added = load_model(checkpoint("ours"), device="cpu"), load_model(folder, device="cpu")
    data = load_labelled(plain, path)
    with pytest.raises(UnembeddableToken) as caught:
        compare_data(plain, added, data)
    assert data.located(caught.value).startswith(f"Line 3 of {path}: Model B: The text holds the token 'zebra'")
    with pytest.raises(UnembeddableToken, match="^Model A: The text holds the token 'zebra'"):  # a typed text too
        compare_text(added, plain, "the zebra was dull")
    with pytest.raises(UnembeddableToken, match="^Model B: The text holds the token 'zebra'"):
        compare_text(plain, added, "the zebra was dull")


def test_a_target_is_one_of_a_s_labels_by_name_or_id(bundle):
    """target=5 on two labels was an IndexError deep in target_in_b, and target="pos" a ValueError of int()."""
    from explainer.capture.encoding import InputError

    a, b = bundle("ours"), bundle("bert")
    for bad, said in ((5, "index 5 is out of range"), ("neutral", "Unknown target label 'neutral'"), (1.5, "whole")):
        with pytest.raises(InputError, match=said):
            compare_text(a, b, TEXT, target=bad)
    named = compare_text(a, b, TEXT, target=a.label_names[1])
    assert named.target == 1 and named.target_names[0] == a.label_names[1]
    assert compare_text(a, b, TEXT, target=1).agreement.spearman == pytest.approx(named.agreement.spearman)


def test_each_model_runs_at_the_tau_it_is_given(ours_bundle):
    """A results folder's tau for A and another (or the model's own) for B: one tau for both by default, as the CLI's
    --beacon-threshold applies to both."""
    from explainer.evaluation.error_report import analyse

    texts = [f"{word} film and a {other} plot" for word in ("good", "bad", "fine", "dull") for other in ("slow", "fun")]
    rows = pd.DataFrame({"text": texts, "label": ["pos", "neg"] * 4})
    data = load_labelled(ours_bundle, rows.to_csv(index=False).encode(), filename="rows.csv")
    at = {tau: analyse(ours_bundle, data, beacon_threshold=tau).frame["confidence"].to_numpy() for tau in (0.9, None)}
    assert not np.allclose(at[0.9], at[None])  # the two taus tell apart here
    both = compare_data(ours_bundle, ours_bundle, data, beacon_threshold=0.9)
    apart = compare_data(ours_bundle, ours_bundle, data, beacon_threshold=0.9, beacon_threshold_b=None)
    np.testing.assert_allclose(both.report_b.frame["confidence"].to_numpy(), at[0.9])
    np.testing.assert_allclose(apart.report_a.frame["confidence"].to_numpy(), at[0.9])
    np.testing.assert_allclose(apart.report_b.frame["confidence"].to_numpy(), at[None])
