"""`python -m explainer attribute` prints JSON for every method and the graph, and fails clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from explainer.loading.bundle import load_model
from tests.cli.test_patch import run
from tests.conftest import ROOT

TEXT = "The film is a quiet <b>triumph</b>."


def run_cli(*args: str, cache) -> subprocess.CompletedProcess:
    env = {**os.environ, "EXPLAINER_CACHE": str(cache)}
    return subprocess.run(
        [sys.executable, "-m", "explainer", "attribute", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300,
    )


@pytest.mark.parametrize("method", ["integrated_gradients", "layer_conductance"])
def test_cli_prints_tokens_attributions_target_and_delta(checkpoint, tmp_path, method):
    done = run_cli("--model", str(checkpoint("bert")), "--text", TEXT, "--method", method, "--json", cache=tmp_path)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    tokens = payload["tokens"]
    assert tokens[0] == "[CLS]" and payload["target_label"] in ("neg", "pos")
    if method == "layer_conductance":
        assert len(payload["attributions"]) == 3 and all(len(row) == len(tokens) for row in payload["attributions"])
    else:
        assert len(payload["attributions"]) == len(tokens)
    gap = payload["target_logit"] - payload["baseline_logit"]
    row = payload["attributions"][-1] if method == "layer_conductance" else payload["attributions"]
    assert abs(sum(row) - gap) <= abs(payload["convergence_delta"]) + 1e-4
    # The gap is the model's own, from plain forward passes: the text, and the baseline of every text token at the
    # pad token (special tokens stay).
    bundle = load_model(checkpoint("bert"))
    ids = bundle.tokenizer(TEXT, return_tensors="pt")["input_ids"]
    special = torch.tensor(bundle.tokenizer.get_special_tokens_mask(ids[0].tolist(), already_has_special_tokens=True))
    padded = torch.where(special.bool(), ids[0], bundle.tokenizer.pad_token_id)[None]
    target = bundle.label_names.index(payload["target_label"])
    with torch.no_grad():
        text_logit, baseline_logit = (bundle.model(input_ids=x).logits[0, target].item() for x in (ids, padded))
    assert payload["target_logit"] == pytest.approx(text_logit, abs=1e-5)
    assert payload["baseline_logit"] == pytest.approx(baseline_logit, abs=1e-5)


def test_a_method_that_reads_no_baseline_names_none(checkpoint, capsys):
    # saliency's JSON said "baseline": "pad", as if its scores depended on one
    from explainer.cli.attribute import main

    for method, baseline in (("saliency", None), ("occlusion", "mask")):
        main(["--model", str(checkpoint("bert")), "--text", TEXT, "--method", method, "--baseline", "mask"])
        assert json.loads(capsys.readouterr().out)["baseline"] == baseline


def test_cli_graph_prints_nodes_and_edges(checkpoint, tmp_path):
    done = run_cli(
        "--model", str(checkpoint("gpt2")), "--text", TEXT, "--method", "graph", "--threshold", "0", cache=tmp_path
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["nodes"] and payload["edges"]
    assert set(payload["edges"][0]) >= {"source", "target", "weight", "heads"}
    assert payload["prediction"] == f"2:{len(payload['tokens']) - 1}"  # GPT-2 reads its last token
    # each layer's delta over its gap, checkable against the tolerance (no note: every layer converged)
    from explainer.attribution.graph import DEFAULT_TOLERANCE

    assert len(payload["relative_delta"]) == len(payload["convergence_delta"]) == 2
    assert "notes" in payload or all(share <= DEFAULT_TOLERANCE for share in payload["relative_error_bound"])
    assert all(d <= b + 1e-5 for d, b in zip(payload["relative_delta"], payload["relative_error_bound"]))


def test_cli_reports_bad_input(checkpoint, tmp_path, capsys, monkeypatch):
    # In this process (the commands above run `python -m explainer` itself): each case fails before any work.
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    bert = str(checkpoint("bert"))
    code, _, err = run(capsys, "attribute", "--model", bert, "--text", " ", "--method", "saliency")
    assert code == 2 and "empty" in err
    code, _, err = run(capsys, "attribute", "--text", "hi", "--method", "magic")
    assert code == 2 and "invalid choice" in err
    code, _, err = run(capsys, "attribute", "--model", bert, "--text", "hi", "--method", "saliency", "--target", "x")
    assert code == 2 and "Unknown label" in err
    code, _, err = run(capsys, "attribute", "--text", "hi", "--method", "integrated_gradients", "--steps", "0")
    assert code == 2 and "at least 1" in err  # once ignored: 0 fell back to the default


def test_a_cut_text_is_said_in_the_notes_of_trace_and_attribute(checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    bert, long = str(checkpoint("bert")), "good film " * 400
    code, payload, err = run(capsys, "trace", "--model", bert, "--text", long)
    assert code == 0 and payload["truncated"] is True, err
    assert any("only the beginning was analysed" in note for note in payload["notes"])
    for method in ("saliency", "graph"):  # the graph's JSON said nothing of it (it had no "truncated")
        code, payload, err = run(capsys, "attribute", "--model", bert, "--text", long, "--method", method)
        assert code == 0 and payload["truncated"] is True, (method, err)
        assert any("only the beginning was analysed" in note for note in payload["notes"]), method
    code, payload, err = run(capsys, "trace", "--model", bert, "--text", "good film")
    assert code == 0 and payload["notes"] == []  # nothing cut, nothing said


def test_without_method_the_cli_attributes_as_the_page_does(checkpoint, tmp_path, capsys, monkeypatch):
    """`attribute --text ...` stopped at "the following arguments are required: --method"; the Attribution page
    opens on integrated gradients, and so does the command now."""
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    code, payload, err = run(capsys, "attribute", "--model", str(checkpoint("bert")), "--text", "a fine film")
    assert code == 0, err
    assert payload["method"] == "integrated_gradients" and "convergence_delta" in payload
