"""WordPiece tokenizers with Hugging Face `tokenizers`, wrapped as fast tokenizers: trained, or whole-word and
deterministic (for tests)."""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # [PAD] first: pad id 0


def _bert_style_pipeline(model: models.WordPiece) -> Tokenizer:
    """Lower-casing BERT normaliser and pre-tokeniser around `model`."""
    tokenizer = Tokenizer(model)
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=None, clean_text=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    return tokenizer


def _framed(tokenizer: Tokenizer, model_max_length: int) -> PreTrainedTokenizerFast:
    """[CLS] text [SEP] framing, wrapped as a fast tokenizer that `save_pretrained` / `from_pretrained` keep."""
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=model_max_length,
        model_input_names=["input_ids", "attention_mask"],
    )


def train_wordpiece(texts: Iterable[str], vocab_size: int, model_max_length: int = 512) -> PreTrainedTokenizerFast:
    """A lower-casing BERT-style WordPiece tokenizer that frames inputs as [CLS] text [SEP].

    `AutoTokenizer.from_pretrained` reloads what `save_pretrained` writes. The trainer breaks ties between
    equally frequent merges in hash order, so ids differ between processes: see whole_word_wordpiece."""
    tokenizer = _bert_style_pipeline(models.WordPiece(unk_token="[UNK]"))
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=list(string.ascii_lowercase + string.digits + string.punctuation),
        min_frequency=2,
        show_progress=False,  # its progress went to stdout (blank lines before a command's JSON when not a tty)
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return _framed(tokenizer, model_max_length)


def whole_word_wordpiece(texts: Iterable[str], vocab_size: int, model_max_length: int = 512) -> PreTrainedTokenizerFast:
    """The same pipeline with a vocabulary built without a trainer, so the same texts give the same ids in
    every process (tests rely on that): special tokens, every lower-case letter, digit, ASCII punctuation mark
    and character of the texts alone, every character that continues a word as "##" + it, then whole words by
    frequency, ties alphabetical, up to `vocab_size`. Words left out are spelled in characters."""
    texts = list(texts)
    splitter = _bert_style_pipeline(models.WordPiece(vocab={"[UNK]": 0}, unk_token="[UNK]"))
    counts: Counter[str] = Counter()
    for text in texts:
        normalized = splitter.normalizer.normalize_str(text)
        counts.update(word for word, _ in splitter.pre_tokenizer.pre_tokenize_str(normalized))
    alone = sorted(set(string.ascii_lowercase + string.digits + string.punctuation).union(*counts))
    continuing = sorted({char for word in counts for char in word[1:]})
    vocab = SPECIAL_TOKENS + alone + [f"##{char}" for char in continuing]
    if len(vocab) > vocab_size:
        raise ValueError(f"vocab_size {vocab_size} is below the {len(vocab)} special tokens and characters")
    words = sorted((word for word in counts if len(word) > 1), key=lambda word: (-counts[word], word))
    vocab += words[: vocab_size - len(vocab)]
    model = models.WordPiece(vocab={token: index for index, token in enumerate(vocab)}, unk_token="[UNK]")
    return _framed(_bert_style_pipeline(model), model_max_length)
