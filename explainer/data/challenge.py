"""A CheckList-style labelled challenge set (Ribeiro et al. 2020), generated from templates written here.

    python -m explainer challenge --out assets/challenge_set.csv   (explainer/cli/challenge.py)

It gives the Errors view labelled data on a fresh machine and probes skills a sentiment classifier
should have: each row is tagged with its capability (negation, contrast with "but", intensifiers,
diminishers, neutral filler, typos, long sentences). Labels: 0 negative, 1 positive, and every template
was written so that a reader has no doubt about the label. Picks and typos come from sha256 of
(seed, text) rather than `random`, so the same seed gives the same bytes on any Python version.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import product
from pathlib import Path

CAPABILITIES = ("negation", "contrast", "intensifier", "diminisher", "neutral_filler", "typo", "long")
LABEL_NAMES = ("negative", "positive")
COLUMNS = ("text", "label", "capability")
SEED = 2024
PER_CAPABILITY = 60  # rows per capability, half of each label
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "assets" / "challenge_set.csv"

# (noun phrase, present "to be", past "to be"): parts of a film a review talks about.
PARTS = (
    ("the acting", "is", "was"), ("the plot", "is", "was"), ("the script", "is", "was"),
    ("the ending", "is", "was"), ("the soundtrack", "is", "was"), ("the dialogue", "is", "was"),
    ("the characters", "are", "were"), ("the performances", "are", "were"),
)
FILMS = ("film", "movie")
SUBJECTS = PARTS + tuple((f"the {f}", "is", "was") for f in FILMS)
POSITIVE = ("good", "great", "wonderful", "brilliant", "excellent", "superb", "fantastic", "lovely", "moving",
            "impressive")
NEGATIVE = ("bad", "awful", "dull", "boring", "terrible", "weak", "dreadful", "poor", "tedious", "disappointing")
BY_LABEL = {0: NEGATIVE, 1: POSITIVE}
# Negating these reads as praise ("not boring at all"); "not terrible" would only be faint praise.
NEGATABLE = ("bad", "boring", "dull", "tedious", "disappointing")
INTENSIFIERS = ("very", "extremely", "really", "incredibly", "truly", "so")
# Gradable words only: "very good" is English, "very brilliant" is not.
GRADABLE = {0: ("bad", "dull", "boring", "weak", "poor", "tedious", "disappointing", "clumsy"),
            1: ("good", "enjoyable", "moving", "impressive", "entertaining", "charming", "clever", "beautiful")}
# Diminishers weaken but do not flip: pairs chosen so the sentence still reads clearly one way.
MILD = {
    0: (("slightly", "a little", "a bit", "somewhat", "rather"),
        ("boring", "dull", "disappointing", "weak", "tedious", "predictable", "forgettable", "clumsy")),
    1: (("fairly", "reasonably", "pretty", "rather"),
        ("good", "enjoyable", "entertaining", "charming", "pleasant", "likeable", "interesting")),
}
FILLERS = (
    "I saw it on a Tuesday.", "We went to the evening showing.", "I watched it with my brother.",
    "The cinema was about half full.", "I bought popcorn before it started.", "It came out last spring.",
    "It runs for about two hours.", "I watched it at home on my laptop.", "My friend picked the seats.",
    "We took the bus to get there.", "I read about it in a magazine last week.", "It was my first film of the year.",
)
# Typos go into longer words only: a swap or drop in "bad" or "good" can make another word or none.
TYPO_WORDS = {0: ("awful", "terrible", "dreadful", "tedious", "disappointing", "horrible", "boring"),
              1: ("great", "wonderful", "brilliant", "excellent", "superb", "fantastic", "lovely", "moving")}
NOT_TYPOS = frozenset({"bring", "boing", "greta", "super", "lovey"})  # real words a typo could make


@dataclass(frozen=True)
class Example:
    text: str
    label: int  # 0 negative, 1 positive
    capability: str


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def _an(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _key(seed: int, *parts: str) -> bytes:
    return hashlib.sha256("\x1f".join((str(seed), *parts)).encode()).digest()


def _pick(groups: Iterable[Iterable[str]], n: int, seed: int, salt: str) -> list[str]:
    """n distinct texts, taken round-robin from the templates' shuffled pools so every template shows up (the
    caller has checked the groups hold n distinct texts)."""
    pools = [sorted(set(group), key=lambda t: _key(seed, salt, t)) for group in groups]
    picked: dict[str, None] = {}
    while len(picked) < n and any(pools):
        for pool in pools:
            if pool and len(picked) < n:
                picked.setdefault(pool.pop(0))
    return list(picked)


# ---- one generator per capability: label -> groups of candidate texts (one group per template) -------------


def _negation(label: int) -> list[list[str]]:
    if label == 0:
        return [
            [f"{_cap(s)} {v} not {a}." for (s, v, _), a in product(SUBJECTS, POSITIVE)],
            [f"I did not think {s} {was} {a}." for (s, _, was), a in product(SUBJECTS, POSITIVE)],
            [f"I would not call {s} {a}." for (s, _, _), a in product(SUBJECTS, POSITIVE)],
            [f"There is nothing {a} about {s}." for (s, _, _), a in product(SUBJECTS, POSITIVE)],
            [f"I did not enjoy {s} at all." for s, _, _ in SUBJECTS],
        ]
    return [
        [f"{_cap(s)} {v} not {a} at all." for (s, v, _), a in product(SUBJECTS, NEGATABLE)],
        [f"{_cap(s)} {v} never {a}." for (s, v, _), a in product(SUBJECTS, ("boring", "dull", "tedious"))],
        [f"I was not disappointed by {s}." for s, _, _ in SUBJECTS],
        [f"There is nothing {a} about {s}." for (s, _, _), a in product(SUBJECTS, ("boring", "dull", "tedious"))],
        [f"It is not {_an(a)} {f} at all." for a, f in product(NEGATABLE, FILMS)],
    ]


def _contrast(label: int) -> list[list[str]]:
    # The clause after "but" is about the whole film and carries the label; the first says the opposite.
    before, after = BY_LABEL[1 - label], BY_LABEL[label]
    pairs = list(product(before, after))
    return [
        [f"I expected the {f} to be {a}, but it was {b}." for f, (a, b) in product(FILMS, pairs)],
        [f"{_cap(s)} {v} {a}, but overall the {f} is {b}." for (s, v, _), f, (a, b) in product(PARTS, FILMS, pairs)],
        [f"Everyone told me the {f} was {a}, but I found it {b}." for f, (a, b) in product(FILMS, pairs)],
        [f"The trailer looked {a}, but the {f} itself is {b}." for f, (a, b) in product(FILMS, pairs)],
    ]


def _intensifier(label: int) -> list[list[str]]:
    words = GRADABLE[label]
    return [
        [f"{_cap(s)} {v} {i} {a}." for (s, v, _), i, a in product(SUBJECTS, INTENSIFIERS, words)],
        [f"This is {_an(i)} {a} {f}." for i, a, f in product(INTENSIFIERS[:5], words, FILMS)],
        [f"I found {s} {i} {a}." for (s, _, _), i, a in product(SUBJECTS, INTENSIFIERS, words)],
    ]


def _diminisher(label: int) -> list[list[str]]:
    mild, words = MILD[label]
    return [
        [f"{_cap(s)} {v} {d} {a}." for (s, v, _), d, a in product(SUBJECTS, mild, words)],
        [f"I found {s} {d} {a}." for (s, _, _), d, a in product(SUBJECTS, mild, words)],
    ]


def _statements(label: int) -> list[str]:
    words = BY_LABEL[label]
    return [f"{_cap(s)} {v} {a}." for (s, v, _), a in product(SUBJECTS, words)] + [
        f"I thought {s} {was} {a}." for (s, _, was), a in product(SUBJECTS, words)
    ]


def _neutral_filler(label: int) -> list[list[str]]:
    said = _statements(label)
    return [
        [f"{f} {t}" for f, t in product(FILLERS, said)],
        [f"{t} {f}" for t, f in product(said, FILLERS)],
        [f"{f} {t} {g}" for f, t, g in product(FILLERS[:6], said, FILLERS[6:])],
    ]


def _typo(word: str, key: bytes) -> str:
    """One swap of neighbours or one dropped letter, never the first letter, so a reader still sees the word."""
    options = [word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(1, len(word) - 1)]
    options += [word[:i] + word[i + 1:] for i in range(1, len(word))]
    options = sorted({o for o in options if o != word and o not in NOT_TYPOS})
    return options[int.from_bytes(key[:4], "big") % len(options)]


def _typos(label: int, seed: int) -> list[list[str]]:
    templates = (
        lambda s, v, was, w: f"{_cap(s)} {v} {w}.",
        lambda s, v, was, w: f"I thought {s} {was} {w}.",
        lambda s, v, was, w: f"{_cap(s)} {v} really {w}.",
    )
    groups = []
    for number, template in enumerate(templates):
        group = []
        for (s, v, was), word in product(SUBJECTS, TYPO_WORDS[label]):
            group.append(template(s, v, was, _typo(word, _key(seed, "typo", str(number), s, word))))
        groups.append(group)
    return groups


LONG_OPENINGS = (
    "I went to see this {f} with two friends on a quiet Sunday afternoon after reading a few reviews online",
    "My sister picked this {f} for our weekly movie night, and we watched the whole thing with the lights off",
    "I finally caught up with this {f} on a long train journey last month, after it had sat on my list for ages",
    "We chose this {f} almost at random at the local cinema, mostly because the showing time suited all of us",
)
LONG_MIDDLES = (
    "and by the end I felt that",
    "and honestly I thought that",
    "and when the credits rolled we agreed that",
)
LONG_CODAS = {
    0: ("so I would not recommend it to anyone.", "and I wish I had spent those two hours on something else.",
        "and I would not watch it again even for free."),
    1: ("so I would happily recommend it to anyone.", "and I am already looking forward to watching it again.",
        "and it was worth every minute."),
}


def _long(label: int) -> list[list[str]]:
    words = BY_LABEL[label]
    parts = [(p, q) for p, q in product(PARTS, PARTS) if p != q]
    pairs = [(a, b) for a, b in product(words, words) if a != b]
    groups = []
    for opening in LONG_OPENINGS:
        group = []
        for n, (((s1, _, w1), (s2, _, w2)), (a, b)) in enumerate(product(parts, pairs)):
            # Film, middle and coda cycle with the index rather than multiply the pool a hundredfold.
            f, middle, coda = FILMS[n % 2], LONG_MIDDLES[n % 3], LONG_CODAS[label][n // 3 % 3]
            group.append(f"{opening.format(f=f)}, {middle} {s1} {w1} {a} and {s2} {w2} {b}, {coda}")
        groups.append(group)
    return groups


def generate(seed: int = SEED, per_capability: int = PER_CAPABILITY) -> list[Example]:
    """The challenge set: per_capability rows for each capability, labels balanced, no text twice."""
    if per_capability % 2:
        raise ValueError("per_capability must be even: half negative, half positive")
    makers = {
        "negation": _negation, "contrast": _contrast, "intensifier": _intensifier, "diminisher": _diminisher,
        "neutral_filler": _neutral_filler, "typo": lambda label: _typos(label, seed), "long": _long,
    }
    groups = {(capability, label): [list(group) for group in makers[capability](label)]
              for capability in CAPABILITIES for label in (0, 1)}  # each capability's templates, per label
    made = {key: len(set().union(*map(set, pool))) for key, pool in groups.items()}  # distinct texts of each
    (capability, label), fewest = min(made.items(), key=lambda item: item[1])
    if per_capability // 2 > fewest:  # said with the largest size that works, not only the first that fails
        raise ValueError(f"the templates make at most {2 * fewest} rows per capability ({capability}: {fewest} "
                         f"texts of label {label}); {per_capability} asked")
    examples: list[Example] = []
    for capability in CAPABILITIES:
        picks = {label: _pick(groups[capability, label], per_capability // 2, seed, f"{capability}:{label}")
                 for label in (0, 1)}
        for negative, positive in zip(picks[0], picks[1]):  # alternate labels: any prefix stays balanced
            examples += [Example(negative, 0, capability), Example(positive, 1, capability)]
    repeated = [t for t, n in Counter(e.text for e in examples).items() if n > 1]
    if repeated:
        raise AssertionError(f"templates of two capabilities made the same text: {repeated[:3]}")
    return examples


def to_csv(examples: Iterable[Example]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")  # "\n" on every OS, so the shipped file is reproducible
    writer.writerow(COLUMNS)
    writer.writerows((e.text, e.label, e.capability) for e in examples)
    return buffer.getvalue()


def counts(examples: Iterable[Example]) -> Iterator[tuple[str, int, int]]:
    """(capability, negatives, positives) in CAPABILITIES order."""
    tally = Counter((e.capability, e.label) for e in examples)
    for capability in CAPABILITIES:
        yield capability, tally[capability, 0], tally[capability, 1]
