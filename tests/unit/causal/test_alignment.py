"""Word alignment of two texts for patching: equal words pair, replaced words pair when their token counts match,
everything else is reported without a partner; the readouts always pair."""

from __future__ import annotations

from explainer.causal.alignment import align_words, tokenized


def positions(item, word: str) -> set[int]:
    """Token positions of the first occurrence of `word` in the item's text."""
    start = item.text.index(word)
    return {p for p, (a, b) in enumerate(item.offsets) if not item.special[p] and start <= a < start + len(word)}


def test_word_alignment_pairs_words_and_reports_the_rest(bundle):
    bert = bundle("bert")
    clean = tokenized(bert, "the film is funny , warm and wise .")
    corrupted = tokenized(bert, "the film is not funny , warm .")
    aligned = align_words(clean, corrupted)
    partners = dict((r, c) for c, r in aligned.pairs)
    assert partners[0] == 0 and partners[corrupted.length - 1] == clean.length - 1  # [CLS], [SEP]
    # "not" was inserted: no partner; "funny" still pairs with "funny" one position earlier.
    assert positions(corrupted, "not") and positions(corrupted, "not") <= set(aligned.unpartnered_corrupted)
    assert [partners[p] for p in sorted(positions(corrupted, "funny"))] == sorted(positions(clean, "funny"))
    # "and wise" were removed: their clean tokens have no partner.
    assert positions(clean, "and wise") and positions(clean, "and wise") <= set(aligned.unpartnered_clean)


def test_gpt2_readout_is_the_last_token_of_each_text(bundle):
    gpt2 = bundle("gpt2")
    clean = tokenized(gpt2, "the film is funny .")
    corrupted = tokenized(gpt2, "the film is very very funny .")
    aligned = align_words(clean, corrupted)
    assert (clean.length - 1, corrupted.length - 1) in aligned.pairs


def test_a_decoder_whose_tokenizer_appends_its_pad_keeps_word_alignment(tokenizer, tmp_path):
    """encode() leaves a decoder's trailing pad id out (what transformers' classifier reads); the word ids must
    follow, not fall back to one word per token (which left "fine" = f ##i ##n ##e as four unpaired words)."""
    from explainer import load_model
    from tests.conftest import build_model, save_checkpoint

    folder = save_checkpoint(build_model("llama", pad_token_id=tokenizer.sep_token_id), tokenizer, tmp_path / "l")
    item = tokenized(load_model(folder, device="cpu"), "a fine film")
    words = [w for w in item.word_ids if w is not None]
    assert item.tokens[-1] != tokenizer.sep_token and len(words) > len(set(words))  # "fine"'s pieces share a word
    clean, corrupted = item, tokenized(load_model(folder, device="cpu"), "a fine plot")
    pairs = align_words(clean, corrupted).pairs
    assert len(pairs) == len(clean.tokens)  # "film" -> "plot" has one token each: paired, with the rest


def test_words_that_read_alike_pair_whatever_their_case(bundle):
    """The tiny tokenizer lowercases, as the shipped ones do: "The" and "the" are one token id. As text they were
    a replaced word, and beside the inserted "dull" that replacement had no partner, so it was never patched."""
    bert = bundle("bert")
    clean = tokenized(bert, "The film is funny")
    corrupted = tokenized(bert, "the dull film is FUNNY")
    assert clean.inputs["input_ids"][1] == corrupted.inputs["input_ids"][1]  # the model reads them alike
    aligned = align_words(clean, corrupted)
    partners = dict((r, c) for c, r in aligned.pairs)
    assert partners[1] == 1  # "the" <- "The"
    assert [partners[p] for p in sorted(positions(corrupted, "FUNNY"))] == sorted(positions(clean, "funny"))
    assert set(aligned.unpartnered_corrupted) == positions(corrupted, "dull") and not aligned.unpartnered_clean


def _byte_level_gpt2(folder):
    """A tiny GPT-2 on a byte-level BPE tokenizer trained here (GPT-2's kind: a word's first token holds the
    space before it)."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    from explainer import load_model
    from tests.conftest import CORPUS, build_model, save_checkpoint

    trained = ByteLevelBPETokenizer()
    trained.train_from_iterator([*CORPUS, "film is good", "The film is good"], vocab_size=1000, min_frequency=1,
                                special_tokens=["<pad>", "<unk>", "<s>", "</s>"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=trained._tokenizer, pad_token="<pad>", unk_token="<unk>",
                                        bos_token="<s>", eos_token="</s>")
    return load_model(save_checkpoint(build_model("gpt2", vocab_size=1024), tokenizer, folder), device="cpu")


def test_a_byte_level_word_pairs_with_or_without_a_space_before_it(tmp_path):
    """Byte-level BPE names a text's first word "film" and the same word after a space "Ġfilm": two ids. Compared
    by id, "film" lost its partner when a word was inserted before it, and was never patched."""
    model = _byte_level_gpt2(tmp_path / "m")
    clean, corrupted = tokenized(model, "film is good"), tokenized(model, "The film is good")
    assert clean.tokens[0] == "film" and corrupted.tokens[1] == "Ġfilm"  # the two names of one word
    assert align_words(clean, corrupted).pairs == ((0, 1), (1, 2), (2, 3))
    assert align_words(corrupted, clean).pairs == ((1, 0), (2, 1), (3, 2))


def test_a_counterfactual_s_edits_pair_byte_level_words_whole(tmp_path):
    """A word's first byte-level token starts at the space before it ("Ġfilm" spans " film"): counted from its
    offset it belonged to no word, so the edits paired only the first word and the readout, and the rest of each
    word ("ri", "u" of "Ġtriumph") was paired without its first token."""
    from explainer.causal.alignment import align_edits
    from explainer.counterfactual.result import Edit

    model = _byte_level_gpt2(tmp_path / "m")
    clean = tokenized(model, "The film is a quiet triumph and warm")
    corrupted = tokenized(model, "The film is a qwzxv triumph and warm")  # a word of pieces the corpus lacks
    by_edits = align_edits(clean, corrupted, [Edit(4, "quiet", "qwzxv")])
    assert by_edits.pairs == align_words(clean, corrupted).pairs
    start = corrupted.text.index(" qwzxv")
    replaced = {p for p, (a, b) in enumerate(corrupted.offsets) if start <= a < start + len(" qwzxv")}
    assert len(replaced) > 1 and clean.tokens[4] == "Ġquiet"  # 1 token for several: no partner guessed
    assert {c for _, c in by_edits.pairs} == set(range(corrupted.length)) - replaced  # every other word, whole


def test_an_edit_whose_new_text_holds_punctuation_aligns(bundle):
    """A swap is tried as typed ("great->so-so", "awful!"): the edit's new text was counted in whitespace words,
    one, while the search's words of the edited text are three, so no split fitted and patching by the flip's
    edits refused it."""
    from explainer.causal.alignment import align_edits
    from explainer.counterfactual.result import Edit

    bert = bundle("bert")
    clean = tokenized(bert, "the film was great , really .")
    for new in ("so-so", "awful!", "so - so"):
        corrupted = tokenized(bert, f"the film was {new} , really .")
        aligned = align_edits(clean, corrupted, [Edit(3, "great", new)])
        start = corrupted.text.index(new)
        replaced = {p for p, (a, b) in enumerate(corrupted.offsets) if start <= a < start + len(new)}
        assert set(aligned.unpartnered_corrupted) == replaced, new  # only the new words go unpaired


def test_a_sentencepiece_tokenizer_that_does_not_split_words_still_aligns_word_by_word(tmp_path):
    """Llama's and Mistral's Metaspace pre-tokenizer does not split at spaces: every token is word 0. Taken as one
    word per text, texts of as many tokens paired every token by place ("quiet" with "dull") and texts of other
    counts paired none, not even the words they share."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from explainer import load_model
    from tests.conftest import CORPUS, build_model, save_checkpoint

    trained = Tokenizer(models.BPE(unk_token="<unk>"))
    trained.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    trained.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=200, special_tokens=["<unk>", "<s>", "</s>"]))
    # trained on words, as SentencePiece trains; read unsplit, as Llama's tokenizer.json reads
    trained.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=trained, unk_token="<unk>", bos_token="<s>",
                                        eos_token="</s>", pad_token="</s>")
    model = load_model(save_checkpoint(build_model("llama", vocab_size=200, pad_token_id=2), tokenizer,
                                       tmp_path / "m"), device="cpu")
    clean = tokenized(model, "the film is a quiet triumph and warm")
    assert set(w for w in clean.word_ids if w is not None) == {0}  # the tokenizer's one "word"
    for other in ("the film is a dull one and warm", "the film is a very dull mess and warm"):
        corrupted = tokenized(model, other)
        partners = dict((r, c) for c, r in align_words(clean, corrupted).pairs)
        for word in ("the film is a", "and warm"):  # shared words pair, token for token
            assert [partners.get(p) for p in sorted(positions(corrupted, word))] == sorted(positions(clean, word))
        assert not any(p in partners for p in positions(corrupted, other.split(" a ")[1].split(" and")[0]))
