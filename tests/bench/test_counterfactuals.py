"""The counterfactuals bench on a tiny model and tiny files: registered, the report shape of docs/architecture.md
("Benchmarks"), three rows per data set, and the SST-2 rows skipped with a note when the file is absent."""

from __future__ import annotations

import json

import pytest

from explainer.bench import BENCHES, BenchOptions
from explainer.bench import counterfactuals as counterfactuals_bench
from explainer.bench.common import RESULT_KEYS
from explainer.evaluation.predict import predict
from tests.unit.counterfactual.conftest import cue_bundle  # noqa: F401  (fixture: the cue-word model)

TEXTS = (
    "the film clever and plot",
    "the story and the cast",
    "clever scene with this script",
    "the plot too",
    "every actors will film",
    "the clever acting",
    "one scene again",
)


@pytest.fixture
def files(cue_bundle, tmp_path):  # noqa: F811
    tiny = cue_bundle
    texts = TEXTS[:4]
    predicted = predict(tiny, texts).predicted
    challenge = tmp_path / "challenge.csv"  # every row labelled against the model: four mistakes
    challenge.write_text(
        "text,label\n" + "".join(f'"{t}",{tiny.label_names[1 - p]}\n' for t, p in zip(texts, predicted))
    )
    sst2 = tmp_path / "dev.tsv"
    sst2.write_text("sentence\tlabel\n" + "".join(f"{t}\t1\n" for t in TEXTS[4:7]))
    return tiny, challenge, sst2


def test_rows_for_both_data_sets(files):
    tiny, challenge, sst2 = files
    assert BENCHES["counterfactuals"] is counterfactuals_bench.run
    data = counterfactuals_bench.run(BenchOptions(repeats=1, quick=True), bundle=tiny, challenge=challenge, sst2=sst2)
    assert list(data) == ["bench", "machine", "results"] and data["bench"] == "counterfactuals"
    rows = data["results"]
    assert len(rows) == 6
    for row in rows:
        assert tuple(row)[: len(RESULT_KEYS)] == RESULT_KEYS
        assert row["reference_name"] == counterfactuals_bench.REFERENCE_NAME
        assert (
            row["ours"] > 0 and row["reference"] > 0 and row["ratio"] == pytest.approx(row["ours"] / row["reference"])
        )
    assert "4 misclassified rows" in rows[0]["case"] and "3 SST-2 dev sentences" in rows[3]["case"]
    for share, passes, seconds, goal in ((*rows[:3], 0.80), (*rows[3:], 0.85)):
        assert share["metric"].startswith("share with a flip") and share["target"] == f"ours >= {goal:.0%}"
        assert share["meets"] == (share["ours"] >= goal)
        assert passes["metric"] == "forward passes per text (median)" and seconds["metric"] == "seconds for all texts"
        assert passes["meets"] is None and passes["target"] is None and seconds["meets"] is None  # reported only
        assert share["examples"] in (3, 4)
    # The plain reference runs one pass for the original and one per word
    assert rows[1]["reference"] >= 1 + 3  # every text has at least 3 words
    assert rows[0]["ours"] == 1.0  # the cue model's mistakes: one word (the cue) in or out flips each
    json.loads(json.dumps(data))


def test_exhaustive_removal_reference_counts_a_pass_per_word(cue_bundle):  # noqa: F811
    found, passes = counterfactuals_bench.exhaustive_removal(cue_bundle, "the film , clever plot", None)
    assert passes == 1 + 4 and found  # the original, then each of the four words (the comma is punctuation)
    assert counterfactuals_bench.exhaustive_removal(cue_bundle, "the film , and plot", None) == (False, 5)


def test_missing_sst2_is_skipped_with_a_note(files, tmp_path):
    tiny, challenge, _ = files
    data = counterfactuals_bench.run(
        BenchOptions(repeats=1, quick=True), bundle=tiny, challenge=challenge, sst2=tmp_path / "absent.tsv"
    )
    assert len(data["results"]) == 3 and "absent.tsv" in data["skipped"][0]


def test_a_reference_that_found_no_flip_is_zero_with_no_ratio_and_ours_still_meets():
    """The reference's share 0 was clamped to 1e-09: "reference": 1e-09, "ratio": 999999999.99."""
    measured = {"examples": 2, "median_edit_count": 1, "methods_found": {}, "found_share": 1.0,
                "reference_found_share": 0.0, "median_forward_passes": 7, "reference_median_forward_passes": 5,
                "ours_seconds": 0.5, "reference_seconds": 0.25}
    share, passes, seconds = counterfactuals_bench.rows_for("case", measured, 0.8)
    assert share["reference"] == 0.0 and share["ratio"] is None and share["meets"] is True
    assert passes["ratio"] == pytest.approx(7 / 5) and seconds["ratio"] == pytest.approx(2.0)
    refused = counterfactuals_bench.rows_for("case", {**measured, "found_share": None}, 0.8)[0]
    assert refused["ours"] is None and refused["meets"] is False  # every row refused: not measured, not met
