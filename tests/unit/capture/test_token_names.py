"""Byte-level BPE tokens past ASCII are named by their text on every view (not "Ã©" for "é"); split characters
read "<0xF0>"; ASCII tokens and other tokenizers' tokens keep their names."""

from __future__ import annotations

import pytest
from tokenizers import ByteLevelBPETokenizer
from tokenizers.pre_tokenizers import ByteLevel
from transformers import PreTrainedTokenizerFast

from explainer import load_model, trace
from explainer.attribution import attribute
from explainer.capture.token_names import _byte_of, is_byte_level, readable_token, readable_tokens
from explainer.views import attention as attention_figures
from tests.conftest import CORPUS, build_model, save_checkpoint

TEXT = "café 😀 שלום film"


def test_the_alphabet_is_the_tokenizers_library_s():
    assert set(_byte_of()) == set(ByteLevel.alphabet()) and sorted(_byte_of().values()) == list(range(256))


@pytest.mark.parametrize(
    ("token", "named"),
    [
        ("cafÃ©", "café"),
        ("ĠðŁĺĢ", "Ġ😀"),
        ("Ġ×©×ľ×ķ×Ŀ", "Ġשלום"),
        ("Ġfilm", "Ġfilm"),  # ASCII: as the tokenizer names it
        ("ĊĠ", "ĊĠ"),  # only marks
        ("ð", "<0xF0>"),  # the first byte of a 4-byte character
        ("ŁĺĢ", "<0x9F><0x98><0x80>"),  # its other three
        ("Ã©ð", "é<0xF0>"),
        ("▁film", "▁film"),  # SentencePiece: not in the byte alphabet
        ("日本", "日本"),
        ("Ã©č", "é<0x0D>"),  # a carriage return decoded: shown as its byte, not as a raw control character
        ("Âł", "<0xC2><0xA0>"),  # a no-break space alone: as itself it labelled the token with nothing
        ("ÂħÃ©", "<0xC2><0x85>é"),  # NEL, a line break in some renderers
        ("čĊ", "<0x0D>Ċ"),  # a carriage return alone too: its stand-in č read as the Czech letter on every axis
        ("ċ", "<0x0B>"),  # a vertical tab
        ("ĠĊĉ", "ĠĊĉ"),  # a space, a newline and a tab keep the marks the views read
    ],
)
def test_a_byte_level_token_is_named_by_its_text(token, named):
    assert readable_token(token) == named


@pytest.fixture(scope="module")
def byte_level_gpt2(tmp_path_factory):
    trained = ByteLevelBPETokenizer()
    trained.train_from_iterator([*CORPUS, "café 😀 שלום"], vocab_size=1000, min_frequency=1,
                                special_tokens=["<pad>", "<unk>", "<s>", "</s>"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=trained._tokenizer, pad_token="<pad>", unk_token="<unk>",
                                        bos_token="<s>", eos_token="</s>")
    folder = save_checkpoint(build_model("gpt2", vocab_size=1024), tokenizer, tmp_path_factory.mktemp("bytes") / "m")
    return load_model(folder, device="cpu")


def test_traces_and_attributions_name_byte_level_tokens_by_their_text(byte_level_gpt2):
    tokenizer = byte_level_gpt2.tokenizer
    assert is_byte_level(tokenizer)
    result = trace(byte_level_gpt2, TEXT)
    ids = tokenizer(TEXT)["input_ids"]
    raw = tokenizer.convert_ids_to_tokens(ids)
    assert any("Ã" in token or "ð" in token for token in raw)  # the byte alphabet, as the tokenizer names them
    assert result.tokens == tuple(readable_token(token) for token in raw)
    assert not any(mark in "".join(result.tokens) for mark in ("Ã", "×", "ð", "Ł"))
    # Every byte is there: the names, marks and <0x..> read back, give the text.
    spelled = bytearray()
    for token in result.tokens:
        for piece in token.replace("<0x", "\0").split("\0"):
            if piece[:2] and piece[2:3] == ">" and all(c in "0123456789ABCDEF" for c in piece[:2]):
                spelled.append(int(piece[:2], 16))
                piece = piece[3:]
            spelled.extend(piece.replace("Ġ", " ").encode())
    assert spelled.decode() == TEXT
    axis = attention_figures.attention_heatmap(result, 0, 0).data[0].x
    assert "0 café" in axis and "3 film" in axis
    assert attribute(byte_level_gpt2, TEXT, "saliency").tokens == result.tokens


def test_other_tokenizers_keep_their_names(bundle):
    bert = bundle("bert")
    assert not is_byte_level(bert.tokenizer)
    ids = bert.tokenizer("café film")["input_ids"]
    assert readable_tokens(bert.tokenizer, ids) == tuple(bert.tokenizer.convert_ids_to_tokens(ids))

    class WordPieceNamedLikeBytes:  # a vocabulary may hold "Ã©" as text: only a byte-level one is decoded
        backend_tokenizer = bert.tokenizer.backend_tokenizer

        def convert_ids_to_tokens(self, ids):
            return ["Ã©", "naïve"][: len(ids)]

    assert readable_tokens(WordPieceNamedLikeBytes(), [0, 1]) == ("Ã©", "naïve")


def test_added_tokens_keep_their_names(byte_level_gpt2):
    # Added tokens are stored as written, not in the byte alphabet: "café" read as bytes was "caf<0xE9>".
    import copy

    tokenizer = copy.deepcopy(byte_level_gpt2.tokenizer)
    tokenizer.add_tokens(["café", "naïve"])
    ids = tokenizer("a café and a naïve film")["input_ids"]
    names = readable_tokens(tokenizer, ids)
    assert "café" in names and "naïve" in names and not any("<0x" in name for name in names)
