"""`python -m explainer counterfactual` as a user runs it: one text, a labelled file's mistakes, bad input."""

from __future__ import annotations

import json

import pytest

from explainer.cli import COMMANDS
from explainer.cli.counterfactual import main
from tests.unit.counterfactual.conftest import cue_bundle  # noqa: F401  (fixture: the cue-word model)

TEXT = "the film and plot this story"
TEXTS = (
    "the film clever and plot",
    "the story and the cast",
    "clever scene with this script",
    "the plot too",
    "every actors will film",
    "the clever acting",
)


def run(capsys, *argv: str) -> dict:
    main(list(argv))
    return json.loads(capsys.readouterr().out)


def test_one_text_prints_the_original_and_every_flip(capsys, cue_bundle):  # noqa: F811
    model = cue_bundle.name
    data = run(capsys, "--model", model, "--text", TEXT, "--max-edits", "2", "--json")
    assert list(data) == ["original", "target", "methods", "searched_words", "counterfactuals", "forward_passes"]
    assert data["target"] is None and data["methods"] and data["searched_words"] == len(TEXT.split())
    assert data["original"]["text"] == TEXT and data["original"]["label"] in ("neg", "pos")
    assert sum(data["original"]["probabilities"].values()) == pytest.approx(1.0)
    assert data["forward_passes"] >= 2 and data["counterfactuals"]
    for flip in data["counterfactuals"]:
        assert list(flip) == ["text", "label", "probabilities", "edits", "edit_count", "method"]
        assert flip["label"] != data["original"]["label"] and flip["edit_count"] == len(flip["edits"]) <= 2
        assert all(list(edit) == ["position", "old", "new"] for edit in flip["edits"])
    # one method and a target: only that generator's flips, to the target (the cue's removal, on a "pos" text)
    data = run(capsys, "--model", model, "--text", TEXTS[0], "--method", "removal", "--target", "neg", "--json")
    assert data["original"]["label"] == "pos" and data["counterfactuals"]
    assert data["target"] == "neg" and data["methods"] == ["removal"]  # what was searched, saved with the flips
    assert {flip["method"] for flip in data["counterfactuals"]} == {"removal"}
    assert all(flip["label"] == "neg" for flip in data["counterfactuals"])
    assert data["counterfactuals"][0]["edits"] == [{"position": 2, "old": "clever", "new": ""}]
    # the user's swaps reach the lexicon generator: "story" becomes the cue (beside the shipped polar words' flips)
    data = run(capsys, "--model", model, "--text", TEXT, "--method", "lexicon", "--swaps", "story->clever", "--json")
    assert data["original"]["label"] == "neg"
    assert [{"position": 5, "old": "story", "new": "clever"}] in [flip["edits"] for flip in data["counterfactuals"]]


def test_a_search_that_finds_no_flip_says_what_to_try(capsys, cue_bundle):  # noqa: F811
    # "counterfactuals": [] with no word of why: removing words never adds the cue this "neg" text lacks
    main(["--model", cue_bundle.name, "--text", TEXT, "--method", "removal", "--max-edits", "2"])
    captured = capsys.readouterr()
    assert json.loads(captured.out)["counterfactuals"] == []
    assert "note: no edit of at most 2 words flipped the prediction in " in captured.err
    assert "--max-edits or --max-candidates (default 300)" in captured.err


def test_data_file_summarises_the_mistakes_and_writes_one_line_each(capsys, cue_bundle, tmp_path):  # noqa: F811
    model = cue_bundle.name
    bundle = cue_bundle
    from explainer.evaluation.predict import predict

    texts = list(TEXTS[:5])
    predicted = predict(bundle, texts).predicted
    data = tmp_path / "mistakes.csv"
    # Every row labelled against the model's prediction, so every row is a mistake; one more row it gets right.
    rows = [f'"{t}",{bundle.label_names[1 - p]}' for t, p in zip(texts, predicted)]
    rows.insert(0, f'"{TEXTS[5]}",{bundle.label_names[predict(bundle, [TEXTS[5]]).predicted[0]]}')
    data.write_text("text,label\n" + "\n".join(rows) + "\n")
    out = tmp_path / "flips.jsonl"
    summary = run(
        capsys,
        "--model",
        model,
        "--data",
        str(data),
        "--out",
        str(out),
        "--max-edits",
        "2",
        "--max-candidates",
        "60",
        "--json",
    )
    assert summary["examples"] == 5 and summary["refused"] == 0 and summary["out"] == str(out)
    assert summary["found_share"] == 1.0 and summary["median_edit_count"] == 1  # the cue in or out flips each
    assert summary["median_forward_passes"] >= 2
    # floats whatever the count: statistics.median gave 1 for five rows and 1.0 for four
    assert type(summary["median_edit_count"]) is float and type(summary["median_forward_passes"]) is float
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["text"] for line in lines] == texts
    assert [line["line"] for line in lines] == [3, 4, 5, 6, 7]  # the file's lines (header 1, a right row 2)
    found = sum(1 for line in lines if line["counterfactuals"])
    assert summary["found_share"] == pytest.approx(found / 5)
    for line in lines:  # the target is the true label: a flip makes the model right
        assert all(flip["label"] == line["label"] for flip in line["counterfactuals"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--text", "   "], "empty"),
        (["--text", TEXT, "--target", "maybe"], "the model's labels are neg, pos"),
        (["--text", TEXT, "--swaps", "good->bad, awful"], "Swap 'awful' has no '->'"),
        (["--text", TEXT, "--method", "removal", "--swaps", "good->bad"], "--swaps feed the lexicon generator"),
        (["--data", "any.csv", "--method", "hotflip", "--swaps", "good->bad"], "add --method lexicon"),
        (["--text", TEXT, "--out", "x.jsonl"], "--out goes with --data"),
        (["--text", TEXT, "--text-column", "x"], "--text-column goes with --data (a file's columns)"),
        (["--text", TEXT, "--text-column", "x", "--label-column", "y"], "--text-column and --label-column go with"),
        (["--data", "/no/such/file.csv"], "/no/such/file.csv"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, cue_bundle, argv, message):  # noqa: F811
    with pytest.raises(SystemExit) as done:
        main(["--model", cue_bundle.name, *argv])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("error: ") and "Traceback" not in err


@pytest.mark.parametrize("source", [["--text", TEXT], ["--data", "any.csv"]])
def test_max_edits_past_the_search_s_limit_is_refused_at_parse_time(capsys, source):
    # a file's run took 11, ran its whole model pass, then refused every row with exit 0 (replacing the last --out)
    with pytest.raises(SystemExit) as done:
        main([*source, "--max-edits", "11"])
    assert done.value.code == 2
    assert "error: argument --max-edits: must be at most 10, got 11" in capsys.readouterr().err


def test_registered_and_an_unknown_method_is_refused(capsys):
    assert COMMANDS["counterfactual"][0] == "counterfactual"
    with pytest.raises(SystemExit) as done:
        main(["--text", TEXT, "--method", "magic"])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "invalid choice: 'magic'" in err and "Traceback" not in err


def test_a_row_the_search_refuses_is_counted_apart_not_as_a_failed_search(cue_bundle):  # noqa: F811
    """A text with nothing to read (a zero-width space) passes the reader but not the search: it is "refused", and
    the share with a flip is over the rows searched (it once read 0.0 when nothing had been searched at all)."""
    from explainer.counterfactual.dataset import search_each, summary

    examples = list(search_each(cue_bundle, [("the film clever and plot", "neg"), ("\u200b", "pos")]))
    assert examples[1].search is None and examples[1].error
    result = summary(examples)
    assert (result["examples"], result["refused"]) == (2, 1) and result["found_share"] == 1.0


def test_a_data_set_of_only_refused_rows_has_no_share(cue_bundle):  # noqa: F811
    from explainer.counterfactual.dataset import search_each, summary

    result = summary(list(search_each(cue_bundle, [("\u200b", "pos")])))
    assert (result["refused"], result["found_share"], result["median_forward_passes"]) == (1, None, None)


def test_out_replaces_only_its_own_earlier_file_and_only_once_the_run_ends(capsys, cue_bundle, tmp_path,  # noqa: F811
                                                                           monkeypatch):
    """--out existing.txt replaced the user's notes in silence, and a run stopped midway left a cut file where the
    old one had been."""
    from explainer.cli import counterfactual
    from explainer.counterfactual import dataset

    data = tmp_path / "rows.csv"
    data.write_text("text,label\n" + "".join(f'"{t}",{cue_bundle.label_names[i % 2]}\n'
                                             for i, t in enumerate(TEXTS[:4])))
    notes = tmp_path / "notes.txt"
    notes.write_text("precious")
    argv = ["--model", cue_bundle.name, "--data", str(data), "--max-candidates", "20"]
    with pytest.raises(SystemExit) as exit_:
        counterfactual.main([*argv, "--out", str(notes)])
    assert exit_.value.code == 2 and notes.read_text() == "precious"
    assert "exists and is not a counterfactual --out file" in capsys.readouterr().err
    out = tmp_path / "flips.jsonl"
    for _ in range(2):  # an earlier --out file is replaced
        counterfactual.main([*argv, "--out", str(out)])
        capsys.readouterr()
    written = out.read_bytes()
    real = dataset.search_each

    def stopped(*args, **kwargs):  # one row searched, then Ctrl+C
        searches = real(*args, **kwargs)
        yield next(searches)
        raise KeyboardInterrupt

    monkeypatch.setattr(dataset, "search_each", stopped)
    with pytest.raises(KeyboardInterrupt):
        counterfactual.main([*argv, "--out", str(out)])
    assert out.read_bytes() == written and sorted(p.name for p in tmp_path.iterdir()) == [
        "flips.jsonl", "notes.txt", "rows.csv"]
