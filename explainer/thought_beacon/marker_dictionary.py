"""The marker dictionary: what each thought marker stands for, read off a data set.

For every layer l and marker k, over every token slot of every text (special tokens included):
- `count` / `share`: slots whose routing argmax at layer l is k (share of that layer's slots);
- `mean_prob`: the mean routing probability p[l,i,k] over those slots (how confidently they chose k);
- `top_tokens`: the tokens most often routed to k at layer l;
- `examples`: the contexts with the highest p[l,i,k], the token cut out with the text either side;
- `direct_effect`: per label, the mean change of that label's logit when marker k's write at layer l,
  W_m,l M_k, is added straight to the final [CLS] residual stream (later layers skipped; the classifier head
  is evaluated at each text's own final residual, so its non-linearity is respected). In the pre-LayerNorm
  from-scratch model this is direct logit attribution: with CLS pooling, only the [CLS] slot has a direct path to
  the classifier. The post-LayerNorm retrofit has no such path (a write passes through two LayerNorms in every
  later layer): there it is the effect of the same vector added to the final state, whose mean size per layer was
  1.4 to 10 times the write's effect along the residual path on the shipped retrofit, signs mostly agreeing (the
  page says so: `direct_effect_note`);
- `forced_effect` (when `DictionaryOptions.forced_effect`): per label, the mean change of that label's logit
  when marker k is forced at layer l on every token (the causal, total effect through all later layers).
  It costs one extra pass over the data per (layer, marker).

The result is plain JSON (a dict) so it is cached on disk (`cached_dictionary`) and written by the CLI
(`python -m explainer markers`) as JSON and CSV.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from explainer.capture.encoding import texts_from, tokenize
from explainer.capture.token_names import readable_tokens
from explainer.data import disk_cache
from explainer.data.folders import write_whole
from explainer.data.labelled import LabelledData
from explainer.data.spreadsheet import spreadsheet_csv
from explainer.loading.bundle import ModelBundle
from explainer.models import MarkerForce, is_thought_beacon, uses_markers
from explainer.progress import Progress
from explainer.thought_beacon.dictionary_options import OUTPUT_FILES, DictionaryOptions

VERSION = 10  # bump when the result's meaning or layout changes: old cache entries then miss (3: ties in file order,
# 4: byte-level tokens past ASCII named by their text, 5: and added tokens by their own names, blanks by their bytes,
# 6: examples one per text whenever there are texts enough, 7: a [SEP]'s left context ends where the model's reading
# of the text ends, not at the text's end, 8: examples say whether their token is special, set apart when shown,
# 9: copies of one text are one text, and a context is listed once, 10: and so when the candidates are kept: a copy
# took a text's place there, and a worse example was shown).
# Not bumped for examples' "cut" (where a context stops short of its text): read with a default, both sides, since
# a dictionary with the forced effect takes minutes to build again.


class NoMarkersError(ValueError):
    """The model has no thought markers, so it has no marker dictionary."""


def has_markers(bundle: ModelBundle) -> bool:
    return uses_markers(bundle.model.config)



def _rank(item: tuple) -> tuple[float, int, int]:
    """An example's place among a marker's best (probability, text key, position, ...): the highest probability
    first and, on equal probabilities, the earlier text and position, as every other list here orders ties."""
    return item[0], -item[1], -item[2]

@dataclass
class DictionaryParts:
    """The dictionary's sums over some of the texts. Parts of disjoint texts merge into the parts of their union
    with the same result in any order or split (a Ray actor builds parts of its blocks; the driver merges them).

    Texts are identified by a key that orders them as the data set does (the row index, or the file and row of a
    sharded input): the top examples are chosen by (probability, key, position), a total order, so the choice
    does not depend on how the texts were batched."""

    counts: np.ndarray  # [layers, K] int64: slots whose routing argmax is k
    prob_sums: np.ndarray  # [layers, K] float64: sum of p[l,i,k] over those slots
    token_counts: np.ndarray  # [layers, K, vocab] int64
    best: list[list[list[tuple]]]  # [layers][K]: top (prob, key, position, start, end, special, token id)
    texts: dict[int, str]  # key -> text of every text a kept candidate comes from
    direct_sums: np.ndarray  # [layers, K, labels] float64: sums over texts of the direct effect
    forced_sums: np.ndarray  # [layers, K, labels] float64: sums over texts of the forced effect
    slots: int = 0
    n_texts: int = 0

    @classmethod
    def empty(cls, bundle: ModelBundle) -> DictionaryParts:
        config = bundle.model.config
        layers, k, labels = config.num_hidden_layers, config.num_thought_markers, config.num_labels
        vocab = max(len(bundle.tokenizer), config.vocab_size)
        return cls(
            counts=np.zeros((layers, k), dtype=np.int64),
            prob_sums=np.zeros((layers, k), dtype=np.float64),
            token_counts=np.zeros((layers, k, vocab), dtype=np.int64),
            best=[[[] for _ in range(k)] for _ in range(layers)],
            texts={},
            direct_sums=np.zeros((layers, k, labels), dtype=np.float64),
            forced_sums=np.zeros((layers, k, labels), dtype=np.float64),
        )

    def merge(self, other: DictionaryParts, options: DictionaryOptions) -> None:
        """Add `other` (parts of other texts) into these."""
        self.counts += other.counts
        self.prob_sums += other.prob_sums
        self.token_counts += other.token_counts
        self.direct_sums += other.direct_sums
        self.forced_sums += other.forced_sums
        self.slots += other.slots
        self.n_texts += other.n_texts
        self.texts.update(other.texts)  # first: _kept tells texts apart by their words
        for layer, row in enumerate(other.best):
            for marker, items in enumerate(row):
                self.best[layer][marker] = _kept(self.best[layer][marker] + items, options.examples, self.texts)
        self._prune()

    def _prune(self) -> None:
        used = {item[1] for row in self.best for items in row for item in items}
        self.texts = {key: text for key, text in self.texts.items() if key in used}

    def to_payload(self) -> dict[str, Any]:
        """Plain JSON values to send between processes or store (never pickle: a stored file must not run code).
        Token counts are sparse: most (marker, token) pairs never occur."""
        nonzero = np.nonzero(self.token_counts)
        return {
            "counts": self.counts.tolist(), "prob_sums": self.prob_sums.tolist(),
            "direct_sums": self.direct_sums.tolist(), "forced_sums": self.forced_sums.tolist(),
            "slots": self.slots, "n_texts": self.n_texts,
            "token_index": np.stack(nonzero).tolist(), "token_values": self.token_counts[nonzero].tolist(),
            "best": self.best, "texts": [[key, text] for key, text in self.texts.items()],
        }

    @classmethod
    def from_payload(cls, bundle: ModelBundle, payload: dict[str, Any]) -> DictionaryParts:
        parts = cls.empty(bundle)
        parts.counts = np.asarray(payload["counts"], dtype=np.int64).reshape(parts.counts.shape)
        parts.prob_sums = np.asarray(payload["prob_sums"], dtype=np.float64).reshape(parts.prob_sums.shape)
        parts.direct_sums = np.asarray(payload["direct_sums"], dtype=np.float64).reshape(parts.direct_sums.shape)
        parts.forced_sums = np.asarray(payload["forced_sums"], dtype=np.float64).reshape(parts.forced_sums.shape)
        parts.slots, parts.n_texts = int(payload["slots"]), int(payload["n_texts"])
        index = np.asarray(payload["token_index"], dtype=np.int64).reshape(3, -1)
        parts.token_counts[tuple(index)] = np.asarray(payload["token_values"], dtype=np.int64)
        parts.best = [[[tuple(item) for item in items] for items in row] for row in payload["best"]]
        parts.texts = {int(key): text for key, text in payload["texts"]}
        return parts


def _kept(items: list[tuple], examples: int, texts: Mapping[int, str]) -> list[tuple]:
    """The candidates a marker keeps, best first: the slots of the `examples` texts whose best slots rank highest,
    at most `examples` of each. Exactly what `_examples` can pick (one per text while there are texts enough, the
    rest from the same texts): a fixed number of the best slots could all be one long text's, since probabilities
    tie at 1.0 and ties go to the earlier text. Texts are told apart by their words (`texts`: each key's), as
    `_examples` tells them apart: a copy of a text took a text's place here and was dropped there, leaving a worse
    example in place of a better one. A context (text, position) is kept once: a copy's took its text's places."""
    chosen: list[tuple] = []
    per_text: dict[str, int] = {}
    contexts: set[tuple[str, int]] = set()  # a copy's slot is the same context: it would take a place of its own
    for item in sorted(items, key=_rank, reverse=True):
        key = texts[item[1]]
        if (key, item[2]) in contexts:
            continue
        if key not in per_text and len(per_text) == examples:
            continue
        if per_text.get(key, 0) < examples:
            per_text[key] = per_text.get(key, 0) + 1
            contexts.add((key, item[2]))
            chosen.append(item)
    return chosen


def _batch_candidates(order: np.ndarray, slot_keys: np.ndarray, examples: int) -> np.ndarray:
    """`_kept` on one batch's slots in rank order (`order` indexes slots, best first): the indices kept.
    `slot_keys`: each slot's text, as one number for each distinct text."""
    ranked_keys = slot_keys[order]
    keys, first = np.unique(ranked_keys, return_index=True)
    top = keys[np.argsort(first, kind="stable")[:examples]]  # the texts whose best slots rank highest
    kept = [np.nonzero(ranked_keys == key)[0][:examples] for key in top]
    return order[np.sort(np.concatenate(kept))] if kept else order[:0]


def accumulate(
    bundle: ModelBundle,
    parts: DictionaryParts,
    texts: Sequence[str],
    keys: Sequence[int],
    options: DictionaryOptions,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Run one batch of texts (keys: their order keys) and add it into `parts`. `progress(passes)` is called
    after the plain pass and after each layer's forced passes with the text passes done in this batch."""
    model = bundle.model
    layers, k = model.config.num_hidden_layers, model.config.num_thought_markers
    encoded = tokenize(
        bundle,
        list(texts),
        padding=True,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
        return_tensors="pt",
    )
    offsets = encoded.pop("offset_mapping").numpy()  # [batch, T, 2]
    special = encoded.pop("special_tokens_mask").numpy().astype(bool)  # [batch, T]
    inputs = {key: value.to(bundle.device) for key, value in encoded.items()}
    with bundle.lock, torch.inference_mode():
        out = model(**inputs, output_hidden_states=True)
    done = len(texts)
    if progress:  # reported per layer of forced passes too: a batch of them takes minutes on a CPU
        progress(done)
    if options.forced_effect:
        free = out.logits.double()
        for layer in range(layers):
            for marker in range(k):
                # the lock per pass, not per batch: other sessions' traces can run in between
                with bundle.lock, torch.inference_mode():
                    forced = model(**inputs, forced_markers=[MarkerForce(layer, None, marker)]).logits
                parts.forced_sums[layer, marker] += (forced.double() - free).sum(dim=0).cpu().numpy()
            done += len(texts) * k
            if progress:
                progress(done)
    mask = inputs["attention_mask"].bool().cpu().numpy()  # [batch, T]
    routing = torch.stack(out.thought_markers).float().cpu().numpy()  # [layers, batch, T, K]
    with bundle.lock:  # model modules run: serialised like every other use of the shared model
        parts.direct_sums += _direct_sums(model, out.hidden_states[-1][:, 0, :].float())
    ids = inputs["input_ids"].cpu().numpy()  # [batch, T]
    # where the text read so far ends, per slot: a special token's own offsets are (0, 0), and a [SEP] after a
    # truncated text must show the words it follows, not the text's unread end
    read_end = np.maximum.accumulate(offsets[:, :, 1], axis=1)  # [batch, T]
    rows, positions = np.nonzero(mask)
    slot_keys = np.asarray(keys, dtype=np.int64)[rows]  # [slots]
    first_copy = {text: row for row, text in reversed(list(enumerate(texts)))}  # a batch's copies of a text: one
    slot_texts = np.asarray([first_copy[text] for text in texts], dtype=np.int64)[rows]  # [slots] text, as a row
    from_first = slot_texts == rows  # [slots] a slot of its text's first copy in the batch: the copies' are the same
    for key, text in zip(keys, texts, strict=True):  # before _kept, which tells texts apart by their words
        parts.texts[int(key)] = text
    parts.slots += len(rows)
    parts.n_texts += len(texts)
    for layer in range(layers):
        probs = routing[layer, rows, positions]  # [slots, K]
        chosen = probs.argmax(-1)  # [slots]
        np.add.at(parts.counts[layer], chosen, 1)
        np.add.at(parts.prob_sums[layer], chosen, probs[np.arange(len(chosen)), chosen])
        np.add.at(parts.token_counts[layer], (chosen, ids[rows, positions]), 1)
        for marker in range(k):
            column = probs[:, marker]
            order = np.lexsort((positions, slot_keys, -column))
            top = _batch_candidates(order[from_first[order]], slot_texts, options.examples)
            items = []
            for index in top:
                row, position = int(rows[index]), int(positions[index])
                start, end = (int(v) for v in offsets[row, position])
                if special[row, position] and position > 0:  # no span of its own: the end of what was read
                    start = end = int(read_end[row, position - 1])
                items.append(
                    (float(column[index]), int(slot_keys[index]), position, start, end,
                     bool(special[row, position]), int(ids[row, position]))
                )
            parts.best[layer][marker] = _kept(parts.best[layer][marker] + items, options.examples, parts.texts)
    parts._prune()


def finish(
    bundle: ModelBundle,
    parts: DictionaryParts,
    options: DictionaryOptions,
    text_index: Callable[[int], int] | None = None,
) -> dict[str, Any]:
    """The dictionary from the parts of every text; `text_index` maps a text key to the row shown (identity)."""
    model, tokenizer = bundle.model, bundle.tokenizer
    layers, k = model.config.num_hidden_layers, model.config.num_thought_markers
    n = max(parts.n_texts, 1)
    effects = parts.direct_sums / n  # [layers, K, labels]
    layer_slots = parts.counts.sum(axis=1, keepdims=True)
    entries = []
    for layer in range(layers):
        for marker in range(k):
            count = int(parts.counts[layer, marker])
            tokens = parts.token_counts[layer, marker]
            top_ids = np.argsort(-tokens, kind="stable")[: options.top_tokens]
            entries.append(
                {
                    "layer": layer,
                    "marker": marker,
                    "count": count,
                    "share": count / int(layer_slots[layer, 0]) if layer_slots[layer, 0] else 0.0,
                    "mean_prob": float(parts.prob_sums[layer, marker] / count) if count else 0.0,
                    "top_tokens": [
                        {"token": readable_tokens(tokenizer, [int(i)])[0], "count": int(tokens[i])}
                        for i in top_ids
                        if tokens[i] > 0
                    ],
                    "examples": _examples(parts.best[layer][marker], parts.texts, tokenizer, options, text_index),
                    "direct_effect": dict(zip(bundle.label_names, effects[layer, marker].tolist(), strict=True)),
                    "forced_effect": dict(
                        zip(bundle.label_names, (parts.forced_sums[layer, marker] / n).tolist(), strict=True)
                    )
                    if options.forced_effect
                    else None,
                }
            )
    return {
        "version": VERSION,
        "model": bundle.name,
        "texts": parts.n_texts,
        "slots": parts.slots,
        "layers": layers,
        "markers": k,
        "label_names": list(bundle.label_names),
        "beacon_threshold": float(model.config.beacon_threshold) if model.config.use_beacons else None,
        # what shaped the numbers: not the batch size (a Ray run's merged parts do not know the one its workers used,
        # and reported the default)
        "options": {name: value for name, value in asdict(options).items() if name != "batch_size"},
        "entries": entries,
    }


def no_markers_said(bundle: ModelBundle) -> str:
    """Why a model without thought markers has no dictionary: a ThoughtBeacon model built with none is still one
    (it read 'needs a ThoughtBeacon model' to a user holding one)."""
    why = ("it was built with none" if is_thought_beacon(bundle.model.config)
           else "a marker dictionary needs a ThoughtBeacon model")
    return f"{bundle.name} has no thought markers: {why}"


def check_markers(bundle: ModelBundle) -> None:
    if not has_markers(bundle):
        raise NoMarkersError(no_markers_said(bundle))


def passes_per_text(bundle: ModelBundle, options: DictionaryOptions = DictionaryOptions()) -> int:
    """How many times build_dictionary runs each text: the plain pass, and one per layer and marker forced."""
    config = bundle.model.config
    return 1 + (config.num_hidden_layers * config.num_thought_markers if options.forced_effect else 0)


def build_dictionary(
    bundle: ModelBundle,
    texts: Sequence[str],
    options: DictionaryOptions = DictionaryOptions(),
    *,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The dictionary of `bundle`'s markers over `texts`, at the model's own tau. See the module docstring."""
    check_markers(bundle)
    if not texts:
        raise ValueError("No texts to build a marker dictionary from")
    work = len(texts) * passes_per_text(bundle, options)  # text passes, for progress
    parts = DictionaryParts.empty(bundle)
    for first in range(0, len(texts), options.batch_size):
        batch = list(texts[first : first + options.batch_size])
        step = (lambda done, first=first: progress(first * (work // len(texts)) + done, work)) if progress else None
        with texts_from(first):  # an unembeddable token is named by its text's index in all texts
            accumulate(bundle, parts, batch, range(first, first + len(batch)), options, step)
    return finish(bundle, parts, options)


def _examples(
    heap: list[tuple],
    texts: dict[int, str],
    tokenizer,
    options: DictionaryOptions,
    text_index: Callable[[int], int] | None = None,
) -> list[dict]:
    """The highest-probability contexts, one per text where there are enough distinct texts. Texts are told apart
    by their words, not their rows, and a context is shown once: a file's copies of one text listed the same context
    three times."""
    ranked = sorted(heap, key=_rank, reverse=True)
    picked, seen, shown = [], set(), set()
    for item in ranked:  # distinct texts first...
        if texts[item[1]] not in seen and len(picked) < options.examples:
            picked.append(item)
            seen.add(texts[item[1]])
            shown.add((texts[item[1]], item[2]))
    for item in ranked:  # ...then fill up with the rest, never a context already shown (a copy's)
        if len(picked) >= options.examples:
            break
        if (texts[item[1]], item[2]) not in shown:
            picked.append(item)
            shown.add((texts[item[1]], item[2]))
    result = []
    for prob, key, position, start, end, special, token_id in sorted(picked, key=_rank, reverse=True):
        text = texts[key]
        width = options.context_chars
        if special or end <= start:  # [CLS]/[SEP]: no span in the text; show where the text starts, or where what
            # the model read of it ends (`end`: a truncated text's [SEP] follows its last read word, not its end)
            token = readable_tokens(tokenizer, [token_id])[0]
            if position == 0:
                first, last = 0, _word_end(text, 0, width)
            else:
                first, last = _word_start(text, end - width, end), end
            left, middle, right = ("", token, text[:last]) if position == 0 else (text[first:end], token, "")
        else:
            first, last = _word_start(text, start - width, start), _word_end(text, end, end + width)
            left, middle, right = text[first:start], text[start:end], text[end:last]
        # cut where text is left out beyond the characters shown (SST-2's sentences end in a space: not cut)
        cut = (bool(text[:first].strip()), bool(text[last:].strip()))
        result.append(
            {
                "text_index": key if text_index is None else text_index(key), "position": position, "prob": prob,
                "left": left, "token": middle, "right": right,
                "cut": list(cut),  # (left, right): the context stops short of the text's start, its end
                "special": bool(special or end <= start),  # a token of no span: shown apart from the text
            }
        )
    return result


def _word_start(text: str, first: int, limit: int) -> int:
    """`first` (clamped to 0), moved past a word it would cut in two ("tched it with..."), if a space before
    `limit` allows: a context starts at a word."""
    first = max(0, first)
    if first == 0 or first >= limit or text[first - 1].isspace() or text[first].isspace():
        return first
    space = next((i for i in range(first, limit) if text[i].isspace()), None)
    return first if space is None else space + 1


def _word_end(text: str, limit: int, last: int) -> int:
    """`last`, moved back before a word it would cut in two ("...ssive."), if a space after `limit` allows."""
    if last >= len(text) or last <= limit or text[last].isspace() or text[last - 1].isspace():
        return last
    space = next((i for i in range(last - 1, limit - 1, -1) if text[i].isspace()), None)
    return last if space is None else space


def direct_effect_note(model) -> str | None:
    """What a reader must know about `direct_effect` on this model: None where the write's path to the classifier
    is direct (the pre-LayerNorm from-scratch model), else why its size is not the write's effect."""
    if not hasattr(model, "retrofit"):
        return None
    return ("In this post-LayerNorm model no write reaches the classifier directly: a marker's write passes through "
            "two LayerNorms in every later layer. The direct effect adds the write to the final [CLS] state instead; "
            "read its sign, not its size (on the shipped retrofit its mean size is 1.4 to 10 times the write's effect "
            "along the residual path, by layer). The forced effect is the causal one.")


def _marker_layers(model) -> list:
    """The per-layer modules holding W_m,l: the from-scratch model's layers, or the retrofit's extra layers."""
    return list(model.retrofit) if hasattr(model, "retrofit") else list(model.layers)


@torch.inference_mode()
def _direct_sums(model, final_cls: torch.Tensor, chunk: int = 4096) -> np.ndarray:
    """[layers, K, labels]: sum over texts of head(x + W_m,l M_k) - head(x), x = each text's final [CLS] residual."""
    device = next(model.parameters()).device
    x = final_cls.to(device)  # [N, d]
    writes = torch.stack([layer.marker_proj(model.markers) for layer in _marker_layers(model)])
    writes = writes.float()  # [layers, K, d]
    layers, k, d = writes.shape
    flat = writes.reshape(-1, d)  # [layers*K, d]
    totals = torch.zeros(layers * k, model.config.num_labels, dtype=torch.float64, device=device)
    step = max(1, chunk // max(1, len(flat)))
    for first in range(0, len(x), step):
        part = x[first : first + step]  # [n, d]
        base = model.classify(part[:, None, :]).double()  # [n, labels]
        shifted = model.classify(part[None, :, None, :] + flat[:, None, None, :])  # [layers*K, n, labels]
        totals += (shifted.double() - base[None]).sum(dim=1)
    return totals.reshape(layers, k, -1).cpu().numpy()


def example_context(example: dict[str, Any], mark: str = "[{}]", escape: Callable[[str], str] = str,
                    ellipsis: bool = False) -> str:
    """An example's left + marked token + right, each part through `escape` (HTML: html_text) and the token into
    `mark` (a token already in square brackets, [CLS], is not bracketed again); a token of no span ([CLS], [SEP])
    set apart from the words by a space, where it ran into them.
    `ellipsis`: "…" on a side where the context stops short of the text (a dictionary cached before that was
    noted: both sides)."""
    gap = " " if example.get("special") else ""
    left = escape(example["left"]) + gap if example["left"] else ""
    right = gap + escape(example["right"]) if example["right"] else ""
    if ellipsis:
        cut_left, cut_right = example.get("cut", (True, True))
        left, right = ("…" if cut_left else "") + left, right + ("…" if cut_right else "")
    token = example["token"]
    if mark == "[{}]" and example.get("special") and token.startswith("[") and token.endswith("]"):  # "[[CLS]]"
        mark = "{}"
    return left + mark.format(escape(token)) + right


def to_frame(dictionary: dict[str, Any]) -> pd.DataFrame:
    """One row per (layer, marker): the CSV layout, also what the page shows as a table."""
    rows = []
    for entry in dictionary["entries"]:
        row = {
            "layer": entry["layer"],
            "marker": entry["marker"],
            "count": entry["count"],
            "share": entry["share"],
            "mean_prob": entry["mean_prob"],
            "top_tokens": ", ".join(f"{t['token']} ({t['count']})" for t in entry["top_tokens"]),
            # with each its routing probability, as the page shows it: a rarely chosen marker's best contexts may
            # be barely routed to it, and read as if they were
            "examples": " | ".join(f"{example_context(e)} (p {e['prob']:.3g})" for e in entry["examples"]),
        }
        for label, value in entry["direct_effect"].items():
            row[f"direct_effect_{label}"] = value
        for label, value in (entry.get("forced_effect") or {}).items():
            row[f"forced_effect_{label}"] = value
        rows.append(row)
    return pd.DataFrame(rows)


def effect_matrix(dictionary: dict[str, Any], label: str, kind: str = "direct_effect") -> np.ndarray | None:
    """[layers, K] of one label's `direct_effect` or `forced_effect`; None when the dictionary lacks that kind."""
    result = np.zeros((dictionary["layers"], dictionary["markers"]))
    for entry in dictionary["entries"]:
        if not entry.get(kind):
            return None
        result[entry["layer"], entry["marker"]] = entry[kind][label]
    return result


def shown_effect(dictionary: dict[str, Any], label: str) -> tuple[np.ndarray, str]:
    """([layers, K] effect on `label`'s logit, "Forced" or "Direct"): the forced effect, or the direct one for a
    dictionary built without it (`markers --no-forced-effect`, opened from its results folder)."""
    forced = effect_matrix(dictionary, label, "forced_effect")
    if forced is not None:
        return forced, "Forced"
    direct = effect_matrix(dictionary, label, "direct_effect")
    assert direct is not None  # every entry has a direct effect
    return direct, "Direct"


def share_matrix(dictionary: dict[str, Any]) -> np.ndarray:  # [layers, K]
    result = np.zeros((dictionary["layers"], dictionary["markers"]))
    for entry in dictionary["entries"]:
        result[entry["layer"], entry["marker"]] = entry["share"]
    return result


def cached_dictionary(
    bundle: ModelBundle,
    data: LabelledData,
    options: DictionaryOptions = DictionaryOptions(),
    *,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], bool]:
    """(dictionary, was_cached): from the disk cache when this model, file content and options were seen."""
    key = _key(bundle, data, options)

    def compute() -> dict[str, Any]:
        return {**build_dictionary(bundle, data.texts, options, progress=progress), "data": data.source}

    return disk_cache.cached("marker_dictionary", key, compute, valid=whole_dictionary)


def load_cached_dictionary(
    bundle: ModelBundle, data: LabelledData, options: DictionaryOptions = DictionaryOptions()
) -> dict[str, Any] | None:
    """The cached dictionary, or None when it has not been computed (never computes)."""
    if not has_markers(bundle):
        return None
    return disk_cache.load("marker_dictionary", *_key(bundle, data, options), valid=whole_dictionary)


ENTRY_FIELDS = ("layer", "marker", "count", "share", "mean_prob", "top_tokens", "examples", "direct_effect",
                "forced_effect")


def whole_dictionary(value: Any) -> bool:
    """Whether a cached value is a dictionary as `finish` writes it (an entry per layer and marker): a damaged
    entry is a miss ('{}' crashed the Markers page and the command with KeyError on every later run)."""
    if not isinstance(value, dict) or not all(isinstance(value.get(name), int) for name in ("layers", "markers")):
        return False
    entries = value.get("entries")
    return (isinstance(entries, list) and len(entries) == value["layers"] * value["markers"]
            and all(isinstance(entry, dict) and all(name in entry for name in ENTRY_FIELDS) for entry in entries))


def remember_dictionary(
    bundle: ModelBundle, data: LabelledData, dictionary: dict[str, Any], options: DictionaryOptions
) -> None:
    """Put a dictionary built elsewhere (a results folder of `markers --out`) where cached_dictionary and the
    Markers page find it for this model, data and the options that built it (two folders of one input built with
    other options must not share an entry: the page showed the other one's)."""
    disk_cache.store("marker_dictionary", dictionary, *_key(bundle, data, options))


def _key(bundle: ModelBundle, data: LabelledData, options: DictionaryOptions) -> tuple:
    # not batch_size, which shapes no number (a CLI run with --batch-size was never found by the page)
    shaping = {name: value for name, value in asdict(options).items() if name != "batch_size"}
    return (VERSION, *disk_cache.input_key(bundle, data), shaping)


def dictionary_csv(dictionary: dict[str, Any]) -> bytes:
    """to_frame as a CSV for people: the data set's words (top tokens, example contexts) made inert where they
    open like a formula ("=HYPERLINK(...)", a token "="), as every CSV download is (data/spreadsheet.py)."""
    return spreadsheet_csv(to_frame(dictionary), free_text=("top_tokens", "examples"))


def write_outputs(dictionary: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write marker_dictionary.json and marker_dictionary.csv into `out_dir`; returns their paths."""
    import json

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = (folder / name for name in OUTPUT_FILES)
    write_whole({json_path: lambda out: out.write(json.dumps(dictionary, indent=2, ensure_ascii=False).encode("utf-8")),
                 csv_path: lambda out: out.write(dictionary_csv(dictionary))})  # both, or the old ones kept
    return json_path, csv_path
