"""The WordPiece tokenizer the training run and the untrained fallback build: trained quietly, framed as BERT's."""

from __future__ import annotations

from explainer.models.tokenization_wordpiece import train_wordpiece

TEXTS = ["a gentle film with a big heart", "a dull film with no heart at all", "the cast is warm and the plot thin"]


def test_training_writes_nothing_to_stdout_and_frames_the_text(capfd):
    # tokenizers' trainer printed its progress to stdout: blank lines before `bench` and `train` JSON off a tty
    tokenizer = train_wordpiece(TEXTS * 4, vocab_size=120)
    out, _ = capfd.readouterr()
    assert out == ""
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("A gentle film")["input_ids"])
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "gentle" in "".join(tokens).replace("##", "")
