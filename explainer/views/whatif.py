"""What-if figures: the word-level diff of an edited text, the change of every head's attention between two
texts (one number per head, a layers x heads map), and the table of counterfactuals. Pure functions of plain data
and Traces; user text is escaped everywhere. Words are those of explainer/counterfactual/words.py."""

from __future__ import annotations

import difflib
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Collection, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from explainer.counterfactual.words import Word, split_words
from explainer.views.attention import head_picker
from explainer.views.attribution import depends_on_target, legend_sentence
from explainer.views.text import html_text

if TYPE_CHECKING:
    from explainer.capture.tracing import Trace
    from explainer.counterfactual.result import Counterfactual, CounterfactualSearch, Edit

REMOVED = "background:#fbd5d5;text-decoration:line-through;padding:1px 3px;border-radius:3px"
ADDED = "background:#d3f3d9;padding:1px 3px;border-radius:3px;text-decoration:none"


def attribution_key(method: str, label: str) -> str:
    """How to read What-if's two attributions: both towards the original's label (`label`, as it is to be shown),
    shaded on one scale, so the same colour means the same score on both sides."""
    scale = "Both texts are shaded on one scale: the darkest token is the strongest of either. "
    if not depends_on_target(method):
        return scale + legend_sentence(method, label)
    return (f"Both texts are attributed towards {label}, the original's prediction, and shaded on one scale (the "
            "darkest token is the strongest of either), so their colours compare. " + legend_sentence(method, label))


def _opcodes(a: list[Word], b: list[Word]) -> list[tuple[str, int, int, int, int]]:
    # Words compared as typed: "good" -> "Good" is an edit, since a cased tokenizer reads another input (it was
    # folded away, so an edit could move the prediction while the diff showed nothing changed).
    return _word_opcodes(tuple(w.text for w in a), tuple(w.text for w in b))


@lru_cache(maxsize=16)  # the page diffs the same pair three times a run (marks, changed words, head change)
def _word_opcodes(a: tuple[str, ...], b: tuple[str, ...]) -> list[tuple[str, int, int, int, int]]:
    """SequenceMatcher's opcodes, the shared start and end taken as equal first: it is quadratic at worst (two
    15,000-word texts took 50 s, on every rerun), and an edit leaves most of a long text as it was."""
    shortest = min(len(a), len(b))
    start = next((i for i in range(shortest) if a[i] != b[i]), shortest)
    end = next((i for i in range(shortest - start) if a[-1 - i] != b[-1 - i]), shortest - start)
    middle = difflib.SequenceMatcher(None, a[start : len(a) - end], b[start : len(b) - end], autojunk=False)
    opcodes = [("equal", 0, start, 0, start)] if start else []
    opcodes += [(tag, a0 + start, a1 + start, b0 + start, b1 + start) for tag, a0, a1, b0, b1 in middle.get_opcodes()]
    if end:
        opcodes.append(("equal", len(a) - end, len(a), len(b) - end, len(b)))
    return opcodes


def diff_html(original: str, edited: str) -> str:
    """The edited text word by word: removed words struck through in red, new ones in green, the rest as typed,
    with each text's own spacing ("movie," stays one piece). A run of changed words is one mark, spacing inside
    as typed: a mark per word padded "<b>bold</b>" into "< b > bold < / b >". Everything is escaped."""
    a, b = split_words(original), split_words(edited)

    def gap(text: str, words: list[Word], i: int) -> str:  # what the text has between word i - 1 and word i
        return html_text(text[words[i - 1].end : words[i].start]) if i > 0 else ""

    def run(text: str, words: list[Word], first: int, last: int) -> str:  # words first..last - 1 as typed
        return "".join((gap(text, words, i) if i > first else "") + html_text(words[i].text)
                       for i in range(first, last))

    out = ""

    def before(i: int) -> str:  # the edited text's gap before its word i, less a space `out` already ends with
        separator = gap(edited, b, i)
        return separator[1:] if out.endswith(" ") and separator[:1].isspace() else separator

    for tag, a0, a1, b0, b1 in _opcodes(a, b):
        if tag == "equal":
            for i in range(b0, b1):
                out += before(i) + html_text(b[i].text)
            continue
        if a1 > a0:
            removed = run(original, a, a0, a1)
            out += gap(original, a, a0) + f"<del class='whatif-removed' style='{REMOVED}'>{removed}</del>"
            if original[a[a1 - 1].end : a[a1 - 1].end + 1].isspace() or b1 > b0:
                out += " "  # the space after the removed words (or before their replacement: never "[-good-]{+bad+}")
        if b1 > b0:
            out += before(b0) + f"<ins class='whatif-added' style='{ADDED}'>{run(edited, b, b0, b1)}</ins>"
    style = "line-height:2;font-size:1.05rem;white-space:pre-wrap"  # line breaks as typed (html_text)
    return f"<div class='whatif-diff' style='{style}'>" + out.strip() + "</div>"


def change_caption(original: str, edited: str, flipped: bool) -> str:
    """The line under the diff: the words changed and whether the prediction flips. A copy differing in spacing
    alone ("heart.   ") read "0 words changed" while its probability moved: it says so instead."""
    changed = changed_words(original, edited)
    outcome = "the prediction " + ("**flips**" if flipped else "stays the same")
    if changed == 0 and original != edited:
        return f"Only the spacing changed (some tokenizers read spaces as tokens) · {outcome}"
    return f"{changed} word{'s' if changed != 1 else ''} changed · {outcome}"


def changed_words(original: str, edited: str) -> int:
    """Words changed between the texts, as a reader counts them: pieces between spaces ("apart." -> "apart!!!" is
    one, "halfway" -> "half-way" one; counted by the diff's words, punctuation apart, they were three). A replaced,
    removed or inserted piece counts once (n pieces replaced by m count max(n, m)); a piece touched twice, once."""
    a, b = split_words(original), split_words(edited)
    pieces_a, pieces_b = _pieces(original, a), _pieces(edited, b)
    seen_a: set[int] = set()
    seen_b: set[int] = set()
    count = 0
    for tag, a0, a1, b0, b1 in _opcodes(a, b):
        if tag != "equal":
            new_a = {pieces_a[i] for i in range(a0, a1)} - seen_a
            new_b = {pieces_b[i] for i in range(b0, b1)} - seen_b
            count += max(len(new_a), len(new_b))
            seen_a |= new_a
            seen_b |= new_b
    return count


def _pieces(text: str, words: list[Word]) -> list[int]:
    """For each word, the index of the space-separated piece of `text` it lies in."""
    starts = [match.start() for match in re.finditer(r"\S+", text)]
    return [bisect_right(starts, word.start) - 1 for word in words]


def swap_outcomes(text: str, swaps: Sequence[tuple[str, str]], search: CounterfactualSearch,
                  unreadable: Collection[tuple[str, str]] = ()) -> str:
    """What became of each of the user's swaps ("" for none): in a listed flip, tried without being in one, not
    tried (`unreadable`: the model cannot read the text it makes, lexicon.unreadable_swaps), or not applicable (its
    word is not in the text). A swap that moved nothing was simply missing from the table."""
    words = {word.text.lower() for word in split_words(text)}
    used = {(edit.old.lower(), edit.new.lower()) for flip in search.counterfactuals for edit in flip.edits}
    said = []
    for old, new in swaps:
        outcome = ("its word is not in the text" if old not in words else "in a flip below"
                   if (old, new.lower()) in used else "not tried: the model cannot read the text it makes"
                   if (old, new) in unreadable else "tried, but in none of the flips found")
        said.append(f"{old}->{new}: {outcome}")
    return ("Your swaps: " + "; ".join(said) + ".") if said else ""


def _slots(trace: Trace, words: list[Word]) -> list[object]:
    """The word (or special token) each token of `trace` belongs to, as an index into `words` or ("special", k). A
    token of no span that is not special (RoBERTa's lone "Ġ", trimmed to an empty span) belongs to the word after
    it, as a space token does: numbered among the special tokens, it was paired with the other text's "</s>"."""
    starts = [w.start for w in words]
    slots: list[object] = []
    specials = 0
    for index in range(len(trace.tokens)):
        start, end = (int(v) for v in trace.offsets[index])
        if trace.special_tokens[index]:
            slots.append(("special", specials))
            specials += 1
            continue
        word = bisect_right(starts, start) - 1
        if word < 0 or start >= words[word].end:  # a token in the space before a word belongs to that word
            word += 1
        slots.append(min(max(word, 0), len(words) - 1) if words else ("special", -1))
    return slots


def head_change(original: Trace, edited: Trace, readout_original: int, readout_edited: int) -> np.ndarray:
    """[layers, heads] how much each head's attention from the readout position (the token the classifier reads)
    moved between the texts: total variation distance (0 to 1) between its attention over words, the words the
    edit kept matched to each other, removed and added words each on their own, special tokens matched in order."""
    words_a, words_b = split_words(original.text), split_words(edited.text)
    key_a: dict[int, object] = {}
    key_b: dict[int, object] = {}
    for tag, a0, a1, b0, b1 in _opcodes(words_a, words_b):
        for i in range(a0, a1):
            key_a[i] = ("word", i) if tag == "equal" else ("removed", i)
        for j in range(b0, b1):
            key_b[j] = ("word", a0 + j - b0) if tag == "equal" else ("added", j)

    def spread(trace: Trace, words: list[Word], keys: dict[int, object], readout: int) -> dict[object, np.ndarray]:
        rows = trace.attentions[:, :, readout, :]  # [layers, heads, T]
        out: dict[object, np.ndarray] = {}
        for token, slot in enumerate(_slots(trace, words)):
            key = keys.get(slot, slot) if isinstance(slot, int) else slot
            out[key] = out.get(key, 0.0) + rows[:, :, token]
        return out

    a = spread(original, words_a, key_a, readout_original)
    b = spread(edited, words_b, key_b, readout_edited)
    shape = original.attentions.shape[:2]
    if edited.attentions.shape[:2] != shape:
        raise ValueError("the two Traces come from models of different sizes")
    zero = np.zeros(shape)
    return 0.5 * sum((np.abs(a.get(k, zero) - b.get(k, zero)) for k in {*a, *b}), np.zeros(shape))


MIN_SCALE = 0.01  # the colour scale's top is never below this total variation distance


def head_change_figure(change: np.ndarray) -> go.Figure:
    """The layers x heads map of head_change; click a head to open it (an invisible point per head takes the
    click: Streamlit selects points, not heatmap cells)."""
    layers, heads = change.shape
    layer_index, head_index = np.meshgrid(np.arange(layers), np.arange(heads), indexing="ij")
    figure = go.Figure(
        go.Heatmap(
            z=change,
            x=list(range(heads)),
            y=list(range(layers)),
            colorscale="Reds",
            zmin=0.0,
            # at least 0.01: float noise between identical texts (~1e-7) would otherwise fill the scale
            zmax=max(float(change.max()), MIN_SCALE),
            colorbar={"title": "change"},
            hoverinfo="skip",
        )
    )
    hover = [
        f"layer {lay}, head {hd}<br>attention moved: {change[lay, hd]:.3f}" for lay, hd in np.ndindex(layers, heads)
    ]
    head_picker(figure, layers, heads, head_index, layer_index, hover, None)
    figure.update_layout(
        title="Change in each head's attention from the readout token (click a head to open it)",
        xaxis={"title": "head", "dtick": 1},
        yaxis={"title": "layer", "dtick": 1, "autorange": "reversed"},
        height=max(260, 40 * layers + 140),
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
    )
    return figure


def describe_edits(edits: tuple[Edit, ...], repeated: Collection[str] = ()) -> str:
    """ "bad → good; removed 'not'" (plain text, for a table cell). A word the text holds more than once
    (`repeated`) says which it is ("'is' (word 12) → 'is not'"): two flips of different "is" read as one."""
    def old(e: Edit) -> str:
        return f"'{e.old}'" + (f" (word {e.position + 1})" if e.old in repeated else "")

    return "; ".join(f"removed {old(e)}" if e.is_removal else f"{old(e)} → '{e.new}'" for e in edits)


def counterfactual_table(search: CounterfactualSearch) -> pd.DataFrame:
    """One row per flip, in the search's order (fewest edits first)."""
    watched = search.target or search.original.label
    words = Counter(word.text for word in split_words(search.original.text))
    repeated = {word for word, count in words.items() if count > 1}

    def row(c: Counterfactual) -> dict[str, object]:
        return {
            "edits": c.edit_count,
            "label": c.label,
            f"P({watched})": round(c.probabilities[watched], 4),
            "method": c.method,
            "change": describe_edits(c.edits, repeated),
            "text": c.text,
        }

    columns = ["edits", "label", f"P({watched})", "method", "change", "text"]
    return pd.DataFrame([row(c) for c in search.counterfactuals], columns=columns)
