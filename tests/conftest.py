"""Shared fixtures: tiny classifiers of every supported family, built from configs and saved locally.

Nothing is downloaded: every model is made from a config (vocab 128, hidden 32, 2 layers, 4 heads,
intermediate 37) with a fixed seed, saved with `save_pretrained` (safetensors) next to a WordPiece
tokenizer trained here on the sentences below, and loaded back through `explainer.load_model`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

# Everything here loads from local folders, which never touches the network. HF_HUB_OFFLINE is left
# alone on purpose: load_model takes a different path for hub ids when it is set, and tests/test_hub.py
# checks the path where it is not. Tests that pass a hub id set it themselves (monkeypatch).

ROOT = Path(__file__).resolve().parent.parent


def as_read(markdown: str) -> str:
    """What a reader sees of a message the app escaped for markdown (views.text.markdown_literal): the text
    without its backslash escapes, a directive's colon (&#58;) read as the colon it shows."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("&#58;", ":")


if str(ROOT) not in sys.path:  # `pytest` run from elsewhere than `python -m pytest` in the repo root
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import (  # noqa: E402
    AlbertConfig,
    AlbertForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
    DebertaConfig,
    DebertaForSequenceClassification,
    DebertaV2Config,
    DebertaV2ForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    ElectraConfig,
    ElectraForSequenceClassification,
    Gemma2Config,
    Gemma2ForSequenceClassification,
    GemmaConfig,
    GemmaForSequenceClassification,
    GPT2Config,
    GPT2ForSequenceClassification,
    LlamaConfig,
    LlamaForSequenceClassification,
    MistralConfig,
    MistralForSequenceClassification,
    ModernBertConfig,
    ModernBertForSequenceClassification,
    MPNetConfig,
    MPNetForSequenceClassification,
    Phi3Config,
    Phi3ForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForSequenceClassification,
    Qwen3Config,
    Qwen3ForSequenceClassification,
    RobertaConfig,
    RobertaForSequenceClassification,
    XLMRobertaConfig,
    XLMRobertaForSequenceClassification,
)

from explainer.loading.bundle import ModelBundle, load_model  # noqa: E402
from explainer.models import ThoughtBeaconConfig, ThoughtBeaconForSequenceClassification  # noqa: E402
from explainer.models.tokenization_wordpiece import whole_word_wordpiece  # noqa: E402

VOCAB = 128  # 5 special tokens, ~70 characters alone, ~27 as '##' continuations, whole words
HIDDEN = 32
LAYERS = 2
HEADS = 4
INTERMEDIATE = 37
MARKERS = 5
MAX_POSITIONS = 64  # small, so truncation tests stay fast; RoBERTa gets 2 more (see below)
SEED = 0
ID2LABEL = {0: "neg", 1: "pos"}
LABEL2ID = {"neg": 0, "pos": 1}

FAMILIES = ("ours", "baseline", "bert", "distilbert", "roberta", "gpt2")
HF_FAMILIES = ("bert", "distilbert", "roberta", "gpt2")
# The other families of the per-architecture table (explainer/families.py). Kept out of FAMILIES, which many
# tests run over, so each is exercised by the table's own suite (tests/unit/test_families.py).
MORE_FAMILIES = (
    "electra", "xlm-roberta", "deberta-v2", "modernbert", "albert", "llama", "qwen2", "mistral", "qwen3",
    "gemma", "gemma2", "phi3", "mpnet", "deberta",
)
GQA_KV_HEADS = 2  # decoders get grouped-query attention: 4 query heads share 2 key/value heads

CORPUS = [
    "The film is a quiet triumph, warm and funny from the first scene to the last.",
    "I wanted to love this movie, but the plot falls apart halfway through.",
    "A dull, lifeless script that wastes a talented cast.",
    "The performances are wonderful, even if the ending feels rushed.",
    "Not a single moment of this story rings true.",
    "What a delight: clever, tender and beautifully shot.",
    "The jokes land, the music soars, and the cast clearly had fun.",
    "It is too long, too loud and far too pleased with itself.",
    "A gentle, honest little film that stays with you.",
    "The dialogue is stiff and the pacing is painfully slow.",
    "Brilliant acting lifts a fairly simple story.",
    "I laughed, I cried, and I would watch it again tomorrow.",
    "The sequel repeats every mistake of the original.",
    "Sharp writing and a great lead make this one worth seeing.",
    "Nothing happens for two hours, and then it just ends.",
    "The visual effects are stunning but the characters are thin.",
    "An instant classic with a big heart.",
    "The plot makes no sense and the actors seem bored.",
    "Warm, witty and wise, it is the best film of the year.",
    "I fell asleep twice and regret buying the ticket.",
    "The director keeps the tension high until the final frame.",
    "A mess of ideas that never come together.",
    "Every scene is crafted with care and real affection.",
    "The story is predictable, but the cast is charming.",
    "Bad sound, bad lighting, bad everything.",
    "This movie made my whole family smile.",
    "A tired remake with nothing new to say.",
    "Fresh, bold and surprisingly moving.",
    "The second half drags and the twist is obvious.",
    "It is a small film, but a very good one.",
    "The critics loved it; I found it cold and empty.",
    "Funny, fast and full of life.",
    "The worst movie I have seen in years.",
    "A lovely score and a clever script.",
    "Overlong, confused and badly edited.",
    "The kids will love it and the parents will too.",
]


def tiny_config(family: str, **overrides) -> PretrainedConfig:
    """The tiny config of one family: 2 labels (neg, pos), pad id 0 like the tokenizer's [PAD]."""
    if family == "albert-groups":  # ALBERT whose one layer runs a group of two: LAYERS attention layers in all
        return tiny_config("albert", **{"num_hidden_layers": LAYERS // 2, "inner_group_num": 2, **overrides})
    labels = {"id2label": dict(ID2LABEL), "label2id": dict(LABEL2ID)}
    # A larger init than the default 0.02 makes logits, lens rows and updates far from zero, so
    # closeness checks at 1e-5 can tell right from wrong.
    init = 0.2
    if family in ("ours", "baseline"):
        kwargs = dict(
            vocab_size=VOCAB,
            hidden_size=HIDDEN,
            num_hidden_layers=LAYERS,
            num_attention_heads=HEADS,
            intermediate_size=INTERMEDIATE,
            max_position_embeddings=MAX_POSITIONS,
            initializer_range=init,
            num_thought_markers=MARKERS if family == "ours" else 0,
            use_beacons=family == "ours",
            pad_token_id=0,
            **labels,
        )
        kwargs.update(overrides)
        return ThoughtBeaconConfig(**kwargs)
    if family == "bert":
        kwargs = dict(
            vocab_size=VOCAB,
            hidden_size=HIDDEN,
            num_hidden_layers=LAYERS,
            num_attention_heads=HEADS,
            intermediate_size=INTERMEDIATE,
            max_position_embeddings=MAX_POSITIONS,
            initializer_range=init,
            pad_token_id=0,
            **labels,
        )
        kwargs.update(overrides)
        return BertConfig(**kwargs)
    if family == "distilbert":
        kwargs = dict(
            vocab_size=VOCAB,
            dim=HIDDEN,
            n_layers=LAYERS,
            n_heads=HEADS,
            hidden_dim=INTERMEDIATE,
            max_position_embeddings=MAX_POSITIONS,
            initializer_range=init,
            pad_token_id=0,
            **labels,
        )
        kwargs.update(overrides)
        return DistilBertConfig(**kwargs)
    if family == "roberta":
        # RoBERTa position ids start after the padding index: max_length = positions - pad_token_id - 1.
        kwargs = dict(
            vocab_size=VOCAB,
            hidden_size=HIDDEN,
            num_hidden_layers=LAYERS,
            num_attention_heads=HEADS,
            intermediate_size=INTERMEDIATE,
            max_position_embeddings=MAX_POSITIONS + 2,
            initializer_range=init,
            pad_token_id=0,
            bos_token_id=2,
            eos_token_id=3,
            **labels,
        )
        kwargs.update(overrides)
        return RobertaConfig(**kwargs)
    if family == "gpt2":
        kwargs = dict(
            vocab_size=VOCAB,
            n_embd=HIDDEN,
            n_layer=LAYERS,
            n_head=HEADS,
            n_inner=INTERMEDIATE,
            n_positions=MAX_POSITIONS,
            initializer_range=init,
            pad_token_id=0,
            bos_token_id=2,
            eos_token_id=3,
            **labels,
        )
        kwargs.update(overrides)
        return GPT2Config(**kwargs)
    if family in MORE_FAMILIES:
        return _more_config(family, init, labels, overrides)
    raise KeyError(family)


def _more_config(family: str, init: float, labels: dict, overrides: dict) -> PretrainedConfig:
    """Tiny configs of the families beyond the first six, each shaped like its published checkpoints where
    that changes the code path (DeBERTa-v3's relative-only positions, ModernBERT's local layers, ALBERT's one
    shared layer, the decoders' grouped-query attention)."""
    common = dict(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=INTERMEDIATE,
        max_position_embeddings=MAX_POSITIONS,
        initializer_range=init,
        pad_token_id=0,
        **labels,
    )
    specific: dict = {
        # ELECTRA and ALBERT embed in a smaller size and project up to the hidden size.
        "electra": dict(embedding_size=16),
        "xlm-roberta": dict(max_position_embeddings=MAX_POSITIONS + 2, bos_token_id=2, eos_token_id=3),
        # DeBERTa-v3: no absolute positions, disentangled (content <-> relative position) attention, shared keys.
        "deberta-v2": dict(
            relative_attention=True,
            position_biased_input=False,
            pos_att_type=["p2c", "c2p"],
            max_relative_positions=-1,
            position_buckets=16,
            norm_rel_ebd="layer_norm",
            share_att_key=True,
            type_vocab_size=0,
            pooler_hidden_size=HIDDEN,
        ),
        # Layer 0 global, layer 1 local: a window of 4 (2 each side), narrower than the test texts.
        "modernbert": dict(
            global_attn_every_n_layers=2,
            local_attention=4,
            classifier_pooling="cls",
            bos_token_id=2,
            eos_token_id=3,
            cls_token_id=2,
            sep_token_id=3,
        ),
        # One layer group holding one layer, run LAYERS times (the published ALBERT layout).
        "albert": dict(embedding_size=16, num_hidden_groups=1, inner_group_num=1, bos_token_id=2, eos_token_id=3),
        "llama": dict(num_key_value_heads=GQA_KV_HEADS, bos_token_id=2, eos_token_id=3),
        "qwen2": dict(num_key_value_heads=GQA_KV_HEADS, bos_token_id=2, eos_token_id=3),
        "mistral": dict(num_key_value_heads=GQA_KV_HEADS, bos_token_id=2, eos_token_id=3),
        # Heads wider than hidden / heads, as Qwen3-0.6B (16 x 128 on 1024) and Gemma-7B (16 x 256 on 3072) have
        # them: the attention output projection reads 2 x HIDDEN features.
        "qwen3": dict(num_key_value_heads=GQA_KV_HEADS, head_dim=2 * HIDDEN // HEADS, bos_token_id=2, eos_token_id=3),
        "gemma": dict(num_key_value_heads=GQA_KV_HEADS, head_dim=2 * HIDDEN // HEADS, bos_token_id=2, eos_token_id=3),
        # Gemma 2 as published: sliding-window and global layers in turn, attention logits soft-capped.
        "gemma2": dict(
            num_key_value_heads=GQA_KV_HEADS,
            head_dim=HIDDEN // HEADS,
            sliding_window=4,
            attn_logit_softcapping=5.0,
            query_pre_attn_scalar=HIDDEN // HEADS,
            bos_token_id=2,
            eos_token_id=3,
        ),
        "phi3": dict(num_key_value_heads=GQA_KV_HEADS, bos_token_id=2, eos_token_id=3),
        "mpnet": dict(max_position_embeddings=MAX_POSITIONS + 2, bos_token_id=2, eos_token_id=3),
        "deberta": dict(relative_attention=True, pos_att_type=["p2c", "c2p"], max_relative_positions=-1),
    }
    config_classes: dict[str, type[PretrainedConfig]] = {
        "electra": ElectraConfig,
        "xlm-roberta": XLMRobertaConfig,
        "deberta-v2": DebertaV2Config,
        "modernbert": ModernBertConfig,
        "albert": AlbertConfig,
        "llama": LlamaConfig,
        "qwen2": Qwen2Config,
        "mistral": MistralConfig,
        "qwen3": Qwen3Config,
        "gemma": GemmaConfig,
        "gemma2": Gemma2Config,
        "phi3": Phi3Config,
        "mpnet": MPNetConfig,
        "deberta": DebertaConfig,
    }
    kwargs = {**common, **specific[family], **overrides}
    return config_classes[family](**kwargs)


MODEL_CLASSES: dict[str, type[PreTrainedModel]] = {
    "ours": ThoughtBeaconForSequenceClassification,
    "baseline": ThoughtBeaconForSequenceClassification,
    "bert": BertForSequenceClassification,
    "distilbert": DistilBertForSequenceClassification,
    "roberta": RobertaForSequenceClassification,
    "gpt2": GPT2ForSequenceClassification,
    "electra": ElectraForSequenceClassification,
    "xlm-roberta": XLMRobertaForSequenceClassification,
    "deberta-v2": DebertaV2ForSequenceClassification,
    "modernbert": ModernBertForSequenceClassification,
    "albert": AlbertForSequenceClassification,
    "albert-groups": AlbertForSequenceClassification,
    "llama": LlamaForSequenceClassification,
    "qwen2": Qwen2ForSequenceClassification,
    "mistral": MistralForSequenceClassification,
    "qwen3": Qwen3ForSequenceClassification,
    "gemma": GemmaForSequenceClassification,
    "gemma2": Gemma2ForSequenceClassification,
    "phi3": Phi3ForSequenceClassification,
    "mpnet": MPNetForSequenceClassification,
    "deberta": DebertaForSequenceClassification,
}


def build_model(family: str, seed: int = SEED, **overrides) -> PreTrainedModel:
    """A freshly initialised tiny classifier of `family`, seeded, in eval mode.

    LayerNorm scales and shifts are moved off their (1, 0) init, as training would: with the identity
    affine, LN(LN(x)) == LN(x) and a logit lens that normalised twice would go unnoticed. RMSNorm scales
    (Llama, Qwen, Mistral: no shift) are moved the same way; bias-free LayerNorms (ModernBERT) keep no bias.
    DeBERTa's own LayerNorm class and its separate query and value biases move too."""
    torch.manual_seed(seed)
    model = MODEL_CLASSES[family](tiny_config(family, **overrides)).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm) or type(module).__name__ == "DebertaLayerNorm":
                if module.weight is not None:
                    module.weight.copy_(1.0 + 0.3 * torch.randn_like(module.weight))
                if module.bias is not None:
                    module.bias.copy_(0.1 * torch.randn_like(module.bias))
            elif type(module).__name__.endswith("RMSNorm"):
                module.weight.copy_(1.0 + 0.3 * torch.randn_like(module.weight))
        for name, parameter in model.named_parameters():  # DeBERTa (v1) starts its q and v biases at zero
            if name.endswith(("q_bias", "v_bias")):
                parameter.copy_(0.1 * torch.randn_like(parameter))
        if family.startswith("gemma"):
            # A pad row left at its zero init makes the pad baseline a zero input, where Gemma 2's norms of norms
            # put the whole integral at alpha ~ 0 (test_every_family checks that attribution then says it has
            # not converged); a trained checkpoint's pad row is whatever training left it.
            model.get_input_embeddings().weight[model.config.pad_token_id].normal_(0.0, 0.2)
    return model


def save_checkpoint(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)  # safetensors in transformers 5
    tokenizer.save_pretrained(folder)
    return folder


def xlnet_folder(tokenizer: PreTrainedTokenizerFast, tmp_path: Path) -> Path:
    """A tiny XLNet classifier, a family outside the table: no position limit (max_position_embeddings -1), its
    prediction read off the last column whatever the mask says, its hidden_states copies off the logits' path."""
    from transformers import XLNetConfig, XLNetForSequenceClassification

    torch.manual_seed(0)
    config = XLNetConfig(vocab_size=VOCAB, d_model=32, n_layer=2, n_head=2, d_inner=37, num_labels=3,
                         pad_token_id=0, id2label={0: "neg", 1: "neutral", 2: "pos"})
    return save_checkpoint(XLNetForSequenceClassification(config).eval(), tokenizer, tmp_path / "xlnet")


def with_unembeddable_word(folder: Path, copy: Path, word: str = "zebra") -> Path:
    """A copy of checkpoint `folder` at `copy` whose tokenizer knows `word` and the model has no embedding for it
    (a token added without resizing the embeddings): a text holding it cannot be run."""
    import shutil

    from transformers import AutoTokenizer

    shutil.copytree(folder, copy)
    tokenizer = AutoTokenizer.from_pretrained(copy)
    tokenizer.add_tokens([word])
    tokenizer.save_pretrained(copy)
    return copy


@pytest.fixture(scope="session", autouse=True)
def explainer_cache(tmp_path_factory) -> Path:
    """Models built on demand (the untrained placeholder) go to a temporary folder, not ~/.cache."""
    cache = tmp_path_factory.mktemp("explainer-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EXPLAINER_CACHE", str(cache))
        yield cache


def roberta_tokens(text: str) -> SimpleNamespace:
    """`text` as RoBERTa's kind of tokenizer reads it (byte-level BPE trained on CORPUS, offsets trimmed by
    RobertaProcessing): tokens, offsets [T, 2] and special_tokens [T], the fields of a Trace the word pooling reads.
    A lone "Ġ" (two spaces, a piece the vocabulary lacks) gets an empty span there, not the space's."""
    from tokenizers import ByteLevelBPETokenizer, processors

    trained = ByteLevelBPETokenizer(add_prefix_space=True)
    trained.train_from_iterator(CORPUS, vocab_size=300, min_frequency=1, special_tokens=["<s>", "<pad>", "</s>"])
    trained._tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True)
    encoding = trained.encode(text)
    return SimpleNamespace(text=text, tokens=list(encoding.tokens), offsets=np.array(encoding.offsets),
                           special_tokens=np.array(encoding.special_tokens_mask, dtype=bool))


@pytest.fixture(scope="session")
def tokenizer() -> PreTrainedTokenizerFast:
    tok = whole_word_wordpiece(CORPUS * 2, vocab_size=VOCAB)  # same ids in every run (the trainer's are not)
    assert len(tok) <= VOCAB, f"tokenizer has {len(tok)} ids, the tiny models embed only {VOCAB}"
    assert tok.pad_token_id == 0
    return tok


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory, tokenizer) -> Callable[[str], Path]:
    """checkpoint(family) -> folder holding config.json, model.safetensors and the tokenizer (built once)."""
    root = tmp_path_factory.mktemp("checkpoints")
    folders: dict[str, Path] = {}

    def get(family: str) -> Path:
        if family not in folders:
            folders[family] = save_checkpoint(build_model(family), tokenizer, root / family)
        return folders[family]

    return get


@pytest.fixture(scope="session")
def bundle(checkpoint) -> Callable[[str], ModelBundle]:
    """bundle(family) -> the ModelBundle `load_model` makes of that family's folder (loaded once, shared)."""
    bundles: dict[str, ModelBundle] = {}

    def get(family: str) -> ModelBundle:
        if family not in bundles:
            bundles[family] = load_model(checkpoint(family), device="cpu")
        return bundles[family]

    return get


@pytest.fixture(scope="session")
def ours_bundle(bundle) -> ModelBundle:
    return bundle("ours")


@pytest.fixture(scope="session")
def bert_bundle(bundle) -> ModelBundle:
    return bundle("bert")


@pytest.fixture
def ours_model() -> ThoughtBeaconForSequenceClassification:
    """A private, mutable ThoughtBeacon model (K=5, beacons on) for tests that change its weights."""
    return build_model("ours")


@pytest.fixture
def encode(tokenizer):
    """encode(text or texts) -> model inputs (input_ids, attention_mask) as tensors, padded for batches."""

    def run(texts):
        return dict(tokenizer(texts, return_tensors="pt", padding=True))

    return run


TIERS = ("unit", "app", "browser", "cli", "bench")  # tests/<tier>/...: each test carries its tier's marker


def pytest_configure(config) -> None:
    # pytest.ini declares these; registering again is harmless and keeps `--strict-markers` happy without it.
    registered = " ".join(config.getini("markers"))
    for name in ("slow", *TIERS):
        if f"{name}:" not in registered:
            config.addinivalue_line("markers", f"{name}: see pytest.ini")


def pytest_collection_modifyitems(config, items) -> None:
    """Mark every test with its tier (the folder under tests/), so `-m "not browser"` runs the fast tiers."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        if len(parts) > 1 and parts[0] in TIERS:
            item.add_marker(parts[0])


# Tests that check facts of the from-scratch shipped model (which marker flips which text, its near-total MLP
# skipping) name it rather than take the app's default.
FROM_SCRATCH = "sst2-thought-beacon"


def from_scratch_model() -> str | None:
    from explainer.loading import shipped

    return FROM_SCRATCH if FROM_SCRATCH in {m.name for m in shipped.available()} else None


def rewrite_under_old_times(path, content: bytes) -> None:
    """Write `content` into `path` and set its modification time back, as `cp -p` or `rsync -t` do, waiting until
    the change time has moved: kernels before 6.13 tick file times every few milliseconds, so an edit made at once
    could keep the old change time and the test would pass or fail by chance."""
    import os
    import time

    before = os.stat(path)
    path.write_bytes(content)
    while os.stat(path).st_ctime_ns == before.st_ctime_ns:
        time.sleep(0.005)
        os.chmod(path, before.st_mode)  # a metadata change: sets the change time again
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def disk_fills_on(monkeypatch, nth: int) -> None:
    """Make explainer.data.folders.write_whole's `nth` file (1: the first) fail half-way, as a full disk does."""
    import os as real_os

    from explainer.data import folders

    opened = []

    class HalfWritten:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def __getattr__(self, name):  # closed, tell, flush... as the file's
            return getattr(self.handle, name)

        def write(self, data):
            self.handle.write(bytes(data)[: len(data) // 2])
            raise OSError(28, "No space left on device")

    def fdopen(fd, mode="r", *args, **kwargs):
        opened.append(fd)
        handle = real_os.fdopen(fd, mode, *args, **kwargs)
        return HalfWritten(handle) if len(opened) == nth else handle

    class OsButFdopen:  # the os module, its fdopen replaced, for folders alone
        def __getattr__(self, name):
            return fdopen if name == "fdopen" else getattr(real_os, name)

    monkeypatch.setattr(folders, "os", OsButFdopen())
