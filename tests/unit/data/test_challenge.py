"""The shipped challenge set: reproducible from its generator, balanced, and readable by read_dataset."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from explainer.data import challenge
from explainer.data.challenge import (
    CAPABILITIES,
    DEFAULT_PATH,
    LABEL_NAMES,
    generate,
    to_csv,
)
from explainer.data.labelled import read_dataset

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def examples() -> list[challenge.Example]:
    return generate()


def test_shipped_csv_equals_a_fresh_generation(examples):
    assert DEFAULT_PATH == ROOT / "assets" / "challenge_set.csv"
    assert DEFAULT_PATH.read_bytes() == to_csv(examples).encode("utf-8"), (
        "assets/challenge_set.csv is stale: run `python -m explainer challenge --out assets/challenge_set.csv`"
    )


def test_generation_is_deterministic_and_seeded(examples):
    assert generate() == examples
    assert generate(seed=7) != examples


def test_size_capabilities_and_balance(examples):
    assert len(examples) >= 300
    tally = Counter((e.capability, e.label) for e in examples)
    for capability in CAPABILITIES:
        assert tally[capability, 0] == tally[capability, 1] >= 25, capability
    assert {e.capability for e in examples} == set(CAPABILITIES)


def test_no_duplicate_texts(examples):
    repeated = [t for t, n in Counter(e.text for e in examples).items() if n > 1]
    assert repeated == []


def test_capabilities_hold_what_their_name_says(examples):
    by = {c: [e.text for e in examples if e.capability == c] for c in CAPABILITIES}
    assert all(re.search(r"\b(not|never|nothing)\b", t) for t in by["negation"])
    assert all(", but " in t for t in by["contrast"])
    assert all(len(t.split()) >= 30 for t in by["long"])
    assert all(any(f in t for f in challenge.FILLERS) for t in by["neutral_filler"])
    intact = {w for words in challenge.TYPO_WORDS.values() for w in words}
    assert all(not intact & set(re.findall(r"[a-z]+", t)) for t in by["typo"])  # the sentiment word is misspelt


def test_reads_back_with_the_capability_column(examples):
    data = read_dataset(DEFAULT_PATH, label_names=LABEL_NAMES)
    assert data.problems == () and len(data) == len(examples)
    assert data.texts == tuple(e.text for e in examples)
    assert data.labels == tuple(e.label for e in examples)
    assert data.extra["capability"] == tuple(e.capability for e in examples)
    assert data.label_names == LABEL_NAMES


def test_odd_size_is_refused():
    with pytest.raises(ValueError, match="even"):
        generate(per_capability=7)


def test_too_many_rows_asked_names_the_largest_size_that_works():
    """The refusal named the first capability and label that ran short (negation: 410 texts), not the size that
    works: the user could only guess down."""
    import re

    from explainer.data.challenge import generate

    with pytest.raises(ValueError, match=r"at most (\d+) rows per capability") as refused:
        generate(per_capability=100_000)
    largest = int(re.search(r"at most (\d+)", str(refused.value)).group(1))
    assert len(generate(per_capability=largest)) == largest * len(CAPABILITIES)  # every one, no text twice
    with pytest.raises(ValueError, match=f"at most {largest} rows"):
        generate(per_capability=largest + 2)
