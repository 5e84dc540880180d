"""A checkpoint's tokenizer as it was saved. transformers 5 builds the tokenizer class its model type maps to, and
that class can rebuild tokenizer.json's pipeline (normalizer, pre-tokenizer, model) with its own defaults: the text
is then cut into other ids than the model was trained on, silently. Reported upstream for Granite, OLMo-2, Yi and
DeepSeek-R1-Distill-Llama (transformers issues 45812 and 45920); a Qwen2 checkpoint saved with a WordPiece
tokenizer comes back splitting every word into letters. Here the loaded tokenizer is checked against the saved
tokenizer.json on a few probe texts, and loaded as saved (transformers 4's behaviour) where they differ."""

from __future__ import annotations

import logging
from pathlib import Path

from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast

logger = logging.getLogger(__name__)

# Words, digits, case, accents, punctuation, spacing and scripts that normalizers and pre-tokenizers treat
# differently: two pipelines that agree on all of these are taken to be the same.
PROBES = (
    "A quiet film, warm and funny: 2023 was its year (650841823 tickets).",
    "  Naïve café-goers DON'T say   'meh'\t— they rave!\nÜber-cool 日本語 🙂",
)


def saved_file(source: str, local_files_only: bool) -> Path | None:
    """tokenizer.json of a model folder, or of a hub id in the local Hugging Face cache; None when there is none."""
    folder = Path(source)
    if folder.is_dir():
        path = folder / "tokenizer.json"
        return path if path.is_file() else None
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(source, "tokenizer.json")
    except Exception:  # an id the cache cannot even look up: nothing saved to compare with
        return None
    return Path(cached) if isinstance(cached, str) else None


def differs(tokenizer: PreTrainedTokenizerFast, saved: Tokenizer) -> bool:
    """Whether `tokenizer` cuts the probe texts into other ids than the saved pipeline (special tokens aside)."""
    return any(
        tokenizer(text, add_special_tokens=False)["input_ids"] != saved.encode(text, add_special_tokens=False).ids
        for text in PROBES
    )


def as_saved(tokenizer: PreTrainedTokenizerFast, source: str, local_files_only: bool) -> PreTrainedTokenizerFast:
    """`tokenizer`, or the checkpoint's tokenizer.json loaded as it is when `tokenizer` tokenizes otherwise."""
    path = saved_file(source, local_files_only)
    if path is None:
        return tokenizer
    try:
        saved = Tokenizer.from_file(str(path))
    except Exception:  # a tokenizer.json the tokenizers library cannot read: transformers' own reading stands
        return tokenizer
    # Compare the cutting only: a tokenizer.json that pads to a fixed length (the MiniLM base pads to 128) padded
    # the probes with [PAD], which read as a different tokenizer
    saved.no_padding()
    saved.no_truncation()
    if not differs(tokenizer, saved):
        return tokenizer
    rebuilt = PreTrainedTokenizerFast.from_pretrained(
        source, trust_remote_code=False, local_files_only=local_files_only or not Path(source).is_dir()
    )
    logger.warning(
        "%s: transformers' %s tokenizes otherwise than the saved tokenizer.json; using tokenizer.json as saved",
        source, type(tokenizer).__name__,
    )
    return rebuilt
