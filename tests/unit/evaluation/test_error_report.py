"""Errors library: metrics against scikit-learn, calibration by hand, the disk cache, bad files, filters, batching."""

from __future__ import annotations

import dataclasses
import io
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from explainer.capture.tracing import trace
from explainer.data import disk_cache
from explainer.data.labelled import DatasetError
from explainer.evaluation import error_report as errors
from explainer.evaluation import prediction_cache
from explainer.evaluation.error_report import ExampleFilter, analyse, calibration, filter_examples, load_labelled
from explainer.evaluation.predict import classification_metrics
from explainer.loading.bundle import load_model
from tests.conftest import build_model, save_checkpoint

ROWS = [
    ("the film is good", "pos", "plain"),
    ("a dull and boring plot that never ends", "neg", "plain"),
    ("great", "pos", "short"),
    ("not bad at all, the acting is fine", "pos", "negation"),
    ("terrible", "neg", "short"),
    ("the ending is wonderful but the middle drags on for far too long", "pos", "contrast"),
    ("not good", "neg", "negation"),
    ("I fell asleep twice", "neg", "plain"),
]


def csv_bytes(rows=ROWS) -> bytes:
    return pd.DataFrame(rows, columns=["text", "label", "capability"]).to_csv(index=False).encode()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=200)
    predicted = np.where(rng.random(200) < 0.6, labels, rng.integers(0, 3, size=200))  # class 3 never predicted
    ours = classification_metrics(labels, predicted, 4)
    precision, recall, f1, _ = precision_recall_fscore_support(labels, predicted, labels=range(4), zero_division=0)
    assert ours["accuracy"] == pytest.approx(accuracy_score(labels, predicted))
    assert ours["macro_f1"] == pytest.approx(f1_score(labels, predicted, labels=range(4), average="macro",
                                                      zero_division=0))
    np.testing.assert_allclose(ours["precision"], precision)
    np.testing.assert_allclose(ours["recall"], recall)
    np.testing.assert_allclose(ours["f1"], f1)
    assert ours["confusion"] == confusion_matrix(labels, predicted, labels=range(4)).tolist()


def test_report_metrics_match_scikit_learn_and_single_traces(ours_bundle):
    data = load_labelled(ours_bundle, csv_bytes(), filename="rows.csv")
    report = analyse(ours_bundle, data)
    truth = [["neg", "pos"].index(label) for _, label, _ in ROWS]
    singles = [trace(ours_bundle, text) for text, _, _ in ROWS]
    predicted = [t.predicted for t in singles]
    assert report.frame["predicted"].tolist() == [ours_bundle.label_names[p] for p in predicted]
    np.testing.assert_allclose(report.frame["confidence"], [t.probabilities.max() for t in singles], atol=1e-5)
    assert report.frame["tokens"].tolist() == [len(t.tokens) for t in singles]
    assert report.metrics["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    assert report.metrics["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro", zero_division=0))
    assert report.metrics["confusion"] == confusion_matrix(truth, predicted, labels=[0, 1]).tolist()
    assert report.tag_column == "capability" and report.frame["line"].tolist() == list(range(2, 10))


def test_calibration_by_hand():
    confidence = np.array([0.55, 0.58, 0.62, 0.95, 0.99, 1.0, 0.0, 0.7])
    correct = np.array([1, 0, 1, 1, 1, 0, 0, 1], dtype=bool)
    result = calibration(confidence, correct, bins=10)
    assert result.counts.tolist() == [1, 0, 0, 0, 0, 2, 2, 0, 0, 3]  # 0.0 in the first bin, 0.7 in (0.6, 0.7]
    np.testing.assert_allclose(result.confidence[5], (0.55 + 0.58) / 2)
    np.testing.assert_allclose(result.accuracy[9], 2 / 3)
    assert np.isnan(result.accuracy[1])
    by_hand = (1 * abs(0 - 0.0) + 2 * abs(0.5 - 0.565) + 2 * abs(1 - 0.66)
               + 3 * abs(2 / 3 - (0.95 + 0.99 + 1.0) / 3)) / 8
    assert result.ece == pytest.approx(by_hand)
    assert calibration(np.array([0.8, 0.8]), np.array([True, False])).ece == pytest.approx(0.3)
    with_nan = calibration(np.append(confidence, np.nan), np.append(correct, True), bins=10)
    assert with_nan.counts.tolist() == result.counts.tolist() and with_nan.ece == pytest.approx(by_hand)


def test_reopening_reads_the_cache_and_new_data_or_weights_miss_it(tmp_path, tokenizer, monkeypatch):
    folder = save_checkpoint(build_model("ours"), tokenizer, tmp_path / "model")
    bundle = load_model(folder, device="cpu")
    data = load_labelled(bundle, csv_bytes(), filename="rows.csv")
    first = analyse(bundle, data)
    assert not first.cached
    fingerprint = disk_cache.model_fingerprint(bundle)

    def no_prediction(*args, **kwargs):
        raise AssertionError("predicted again although cached")

    with monkeypatch.context() as patch:
        patch.setattr(prediction_cache, "predict", no_prediction)
        again = analyse(bundle, load_labelled(bundle, csv_bytes(), filename="copy.csv"))
    assert again.cached
    pd.testing.assert_frame_equal(first.frame, again.frame)
    assert again.metrics["confusion"] == first.metrics["confusion"]

    changed = load_labelled(bundle, csv_bytes(ROWS[:-1] + [("not good at all", "neg", "negation")]), filename="x.csv")
    assert changed.content_hash != data.content_hash
    assert not analyse(bundle, changed).cached

    model = build_model("ours")
    with torch.no_grad():
        model.classifier.weight.mul_(-1.0)  # flips the decision: a retrained model in the same folder
    shutil.rmtree(folder)
    save_checkpoint(model, tokenizer, folder)
    retrained = load_model(folder, device="cpu")
    assert disk_cache.model_fingerprint(retrained) != fingerprint
    fresh = analyse(retrained, load_labelled(retrained, csv_bytes(), filename="rows.csv"))
    assert not fresh.cached
    assert not np.allclose(fresh.frame["p(pos)"], first.frame["p(pos)"])


def test_malformed_rows_are_reported_with_line_numbers(ours_bundle):
    raw = b'text,label\n"fine film",pos\n"broken,row,extra",pos,9\n,neg\n"no label",\n"good",pos\n'
    data = load_labelled(ours_bundle, raw, filename="bad.csv")
    report = analyse(ours_bundle, data)
    assert len(report.frame) == 2
    assert [line for line, _ in report.problems] == [3, 4, 5]
    reasons = dict(report.problems)
    assert "expected 2 fields, found 3" in reasons[3] and "empty text" in reasons[4] and "missing label" in reasons[5]


def test_a_guessed_text_column_is_named_in_the_report(ours_bundle):
    guessed = analyse(ours_bundle, load_labelled(ours_bundle, b"id,body,label\n1,a fine film,pos\n", filename="g.csv"))
    assert "from column 'body'" in guessed.column_note
    known = analyse(ours_bundle, load_labelled(ours_bundle, b"text,label\na fine film,pos\n", filename="k.csv"))
    assert known.column_note is None


def test_non_utf8_oversized_and_unknown_labels_are_refused_with_clear_messages(ours_bundle, monkeypatch):
    with pytest.raises(DatasetError, match="not UTF-8.*line 3"):
        load_labelled(ours_bundle, "text,label\ngood,pos\ncaf\xe9,neg\n".encode("latin-1"), filename="x.csv")
    monkeypatch.setattr(errors, "MAX_UPLOAD_BYTES", 100)
    with pytest.raises(DatasetError, match=r"big\.csv is 291 bytes; uploads are limited to 0 MB \(100 bytes\)"):
        load_labelled(ours_bundle, b"text,label\n" + b"good film,pos\n" * 20, filename="big.csv")
    monkeypatch.undo()
    with pytest.raises(DatasetError) as refused:
        load_labelled(ours_bundle, b"text,label\ngood,happy\nbad,sad\n", filename="moods.csv")
    message = str(refused.value)
    assert "['neg', 'pos']" in message and "'happy'" in message and "'sad'" in message


def test_labels_match_by_name_case_insensitively_or_by_id(ours_bundle):
    by_name = load_labelled(ours_bundle, b"text,label\ngood,POS\nbad,Neg\n", filename="a.csv")
    by_id = load_labelled(ours_bundle, b"text,label\ngood,1\nbad,0\n", filename="b.csv")
    assert by_name.labels == by_id.labels == (1, 0)


def test_filters_and_order(ours_bundle):
    report = analyse(ours_bundle, load_labelled(ours_bundle, csv_bytes(), filename="rows.csv"))
    frame = report.frame
    everything = filter_examples(frame, ExampleFilter(errors_only=False))
    assert len(everything) == len(frame)
    assert everything["confidence"].is_monotonic_decreasing
    errors_only = filter_examples(frame, ExampleFilter())
    assert set(errors_only.index) == set(frame.index[~frame["correct"]])
    negation = filter_examples(frame, ExampleFilter(errors_only=False, tags=("negation",)))
    assert set(negation["text"]) == {"not bad at all, the acting is fine", "not good"}
    text = filter_examples(frame, ExampleFilter(errors_only=False, text="NOT"))
    assert set(text["text"]) == {"not bad at all, the acting is fine", "not good"}
    lengths = {text: len(ours_bundle.tokenizer(text)["input_ids"]) for text, _, _ in ROWS}
    cut = sorted(lengths.values())[2]
    short = filter_examples(frame, ExampleFilter(errors_only=False, max_tokens=cut))
    assert set(short["text"]) == {text for text, n in lengths.items() if n <= cut}
    long = filter_examples(frame, ExampleFilter(errors_only=False, min_tokens=10))
    assert (long["tokens"] >= 10).all() and len(long) >= 1
    labelled = filter_examples(frame, ExampleFilter(errors_only=False, true_labels=("neg",), predicted_labels=("pos",)))
    assert ((labelled["label"] == "neg") & (labelled["predicted"] == "pos")).all()
    assert len(labelled) == report.metrics["confusion"][0][1]
    csv = errors.predictions_csv(frame).decode()
    assert pd.read_csv(__import__("io").StringIO(csv))["text"].tolist() == frame["text"].tolist()


def test_predict_tokenises_in_bounded_chunks(ours_bundle, monkeypatch):
    """Memory does not grow with the file: at most LENGTH_CHUNK texts are tokenised at once, and a forward pass
    sees at most batch_size texts."""
    from explainer.evaluation import predict as evaluation

    monkeypatch.setattr(evaluation, "LENGTH_CHUNK", 7)
    sizes: list[int] = []
    tokenizer = ours_bundle.tokenizer
    original = type(tokenizer).__call__
    monkeypatch.setattr(type(tokenizer), "__call__", lambda self, texts, **kw: sizes.append(len(texts)) or
                        original(self, texts, **kw))
    texts = [text for text, _, _ in ROWS] * 5
    progress: list[int] = []
    result = evaluation.predict(ours_bundle, texts, batch_size=4, progress=lambda done, total: progress.append(done))
    assert max(sizes) <= 7 and result.probabilities.shape == (40, 2)
    single = [trace(ours_bundle, text).probabilities for text in texts]
    np.testing.assert_allclose(result.probabilities, single, atol=1e-5)
    assert progress == sorted(progress) and progress[-1] == 40 and len(progress) == 10


@pytest.mark.slow
def test_a_100000_row_file_streams_with_progress(tmp_path, ours_bundle):
    texts = [text for text, _, _ in ROWS]
    rows = [(texts[i % len(texts)] + f" {i}", ROWS[i % len(ROWS)][1], ROWS[i % len(ROWS)][2]) for i in range(100_000)]
    path = tmp_path / "big.csv"
    pd.DataFrame(rows, columns=["text", "label", "capability"]).to_csv(path, index=False)
    with path.open("a") as f:
        f.write('"a row with too many",pos,x,y\n')
    data = load_labelled(ours_bundle, path)
    assert len(data) == 100_000 and data.problems == ((100_002, "expected 3 fields, found 4"),)
    # The model pass over the first 12,000 rows (all 100,000 cost CI five minutes for the same code path; the
    # bench `batch` and `scale` run the full size): it streams in batches with progress after each.
    part = dataclasses.replace(
        data, texts=data.texts[:12_000], labels=data.labels[:12_000], lines=data.lines[:12_000],
        extra={name: values[:12_000] for name, values in data.extra.items()}, content_hash=data.content_hash + "-12k",
    )
    seen: list[int] = []
    report = analyse(ours_bundle, part, batch_size=256, progress=lambda done, total: seen.append(done))
    assert len(report.frame) == 12_000 and seen[-1] == 12_000 and len(seen) == 47
    assert sum(sum(row) for row in report.metrics["confusion"]) == 12_000


def test_predict_refuses_a_batch_size_below_one(ours_bundle):
    from explainer.evaluation.predict import predict

    with pytest.raises(ValueError, match="at least 1"):
        predict(ours_bundle, ["good"], batch_size=0)


def test_macro_f1_leaves_out_a_label_the_data_never_shows_nor_gets_as_the_slice_table_does():
    from explainer.dataset_map.slices import macro_f1

    labels, predicted = np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, 1, 0])  # a 3-label model; label 2 unseen
    ours = classification_metrics(labels, predicted, 3)["macro_f1"]
    assert ours == pytest.approx(f1_score(labels, predicted, average="macro")) and ours > 0.5
    assert ours == pytest.approx(macro_f1(labels, predicted))  # the map's whole-set row agrees with Errors


def test_the_predictions_csv_makes_every_text_column_inert_and_leaves_labels_exact():
    """A tag column is as free as the texts: "=HYPERLINK(...)" in it once reached the spreadsheet as a formula."""
    from explainer.evaluation.error_report import predictions_csv

    frame = pd.DataFrame({"text": ["=1+1"], "capability": ['=HYPERLINK("http://x","y")'], "label": ["-1"],
                          "predicted": ["+1"], "confidence": [0.9]})
    rows = pd.read_csv(io.BytesIO(predictions_csv(frame)), dtype=str)
    assert rows.loc[0, "text"] == "'=1+1" and rows.loc[0, "capability"].startswith("'=HYPERLINK")
    assert (rows.loc[0, "label"], rows.loc[0, "predicted"]) == ("-1", "+1")


def test_text_search_folds_case_as_casefold_does():
    from explainer.evaluation.error_report import ExampleFilter, filter_examples, text_matches

    texts = pd.Series(["Die STRASSE", "a ﬁne film", "nothing"])
    assert text_matches(texts, "straße").tolist() == [True, False, False]
    assert text_matches(texts, " FI ").tolist() == [False, True, False]  # the ends' spaces are not searched
    # however a character was composed or typed: a composed é finds e + U+0301 and the reverse, full-width too
    written = pd.Series(["un cafe\u0301 noir", "un caf\u00e9 noir", "ＣＡＦＥ", "cafe"])
    assert text_matches(written, "caf\u00e9").tolist() == [True, True, False, False]
    assert text_matches(written, "cafe\u0301").tolist() == [True, True, False, False]
    assert text_matches(written, "cafe").tolist() == [False, False, True, True]
    frame = pd.DataFrame({"text": texts, "correct": [False] * 3, "confidence": [0.5, 0.6, 0.7]})
    assert filter_examples(frame, ExampleFilter(text="Strasse")).index.tolist() == [0]


def test_rows_the_model_overflowed_on_are_named_and_no_calibration_is_not_perfect_calibration(ours_bundle):
    """NaN probabilities (a model's overflow) read as the first label through argmax: the summary counts them and
    the page says what that does to the figures; with no finite confidence at all the ECE is undefined, not 0.000
    (shown as perfectly calibrated), and the CLI's JSON says null, not NaN (which JSON parsers refuse)."""
    import json

    from explainer.cli.common import to_jsonable
    from explainer.evaluation.predict import Predictions, summarise
    from explainer.views.evaluation import ece_text, non_finite_note

    probabilities = np.array([[0.2, 0.8], [np.nan, np.nan], [0.9, 0.1], [np.inf, np.nan]])
    predictions = Predictions(probabilities, 1.0, 0, 0, 4, 0.0, None)
    metrics = summarise(ours_bundle, np.array([1, 0, 0, 1]), predictions)
    assert metrics["non_finite"] == 2
    note = non_finite_note(metrics, ("neg", "pos"))
    assert note is not None and note.startswith("On 2 rows the model's output is not a number") and "'neg'" in note
    assert non_finite_note({**metrics, "non_finite": 0}, ("neg", "pos")) is None
    nothing = calibration(np.array([np.nan, np.nan]), np.array([True, False]))
    assert np.isnan(nothing.ece) and ece_text(nothing.ece) == "–" and ece_text(0.1234) == "0.123"
    assert json.loads(json.dumps(to_jsonable({"ece": nothing.ece, "a": np.array([1.0, np.nan])}))) == {
        "ece": None, "a": [1.0, None]}
