"""`python -m explainer trace` prints JSON describing one trace, and fails clearly on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from explainer.loading import shipped
from tests.cli.test_patch import run
from tests.conftest import ROOT


def run_cli(*args: str, cache) -> subprocess.CompletedProcess:
    env = {**os.environ, "EXPLAINER_CACHE": str(cache)}
    return subprocess.run(
        [sys.executable, "-m", "explainer", "trace", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300,
    )


def test_trace_cli_on_default_model(tmp_path):
    done = run_cli("--text", "A quiet <b>triumph</b>.", "--json", cache=tmp_path)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["model"] == shipped.default_model_name()
    assert payload["untrained"] is (payload["model"] == shipped.UNTRAINED_NAME)
    assert payload["tokens"][0] == "[CLS]" and "triumph" in "".join(payload["tokens"]).replace("##", "")
    assert payload["label"] in payload["probabilities"]
    assert abs(sum(payload["probabilities"].values()) - 1) < 1e-5
    assert payload["truncated"] is False
    shapes = payload["shapes"]
    layers, heads, t, t2 = shapes["attentions"]
    assert t == t2 == len(payload["tokens"])
    assert shapes["hidden_states"][:2] == [layers + 1, t]
    assert shapes["thought_markers"][:2] == [layers, t] and shapes["beacon_gates"] == [layers, t]


def test_trace_cli_reports_bad_input_and_missing_model(tmp_path, capsys, monkeypatch):
    # In this process (the test above runs `python -m explainer` itself): each case fails before any work.
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    code, _, err = run(capsys, "trace", "--text", "", "--json")
    assert code == 2 and "empty" in err
    code, _, err = run(capsys, "trace", "--model", str(tmp_path / "nope"), "--text", "hi")
    assert code == 2 and "not found" in err


def test_trace_cli_says_a_typed_special_token(tmp_path, capsys, monkeypatch):
    from explainer.capture.encoding import typed_special_sentence

    # in this process: test_trace_cli_on_default_model runs `python -m explainer trace` itself
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    code, payload, err = run(capsys, "trace", "--text", "a fine [SEP] film [SEP]", "--json")
    assert code == 0, err
    assert typed_special_sentence(["[SEP]"]) in payload["notes"]
    code, plain, err = run(capsys, "trace", "--text", "a fine film", "--json")
    assert code == 0 and not any("which the tokenizer reads as" in note for note in plain["notes"])


def test_attribute_ablate_and_patch_say_a_typed_special_token_too(checkpoint, tmp_path, capsys, monkeypatch):
    from explainer.capture.encoding import typed_special_sentence

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    folder = str(checkpoint("bert"))
    said = typed_special_sentence(["[SEP]"])
    for command in (["attribute", "--method", "saliency", "--text"], ["attribute", "--method", "graph", "--text"],
                    ["ablate", "--mode", "zero", "--text"]):
        code, payload, err = run(capsys, *command[:-1], "--model", folder, command[-1], "a fine [SEP] film")
        assert code == 0, err
        assert said in payload["notes"], command
        code, plain, err = run(capsys, *command[:-1], "--model", folder, command[-1], "a fine film")
        assert code == 0 and said not in plain.get("notes", []), command
    code, payload, err = run(capsys, "patch", "--model", folder, "--clean", "a fine film",
                             "--corrupted", "a dull [SEP] film")
    assert code == 0, err
    assert typed_special_sentence(["[SEP]"], "The corrupted text") in payload["notes"]  # as the Causal page says it
    assert not any(note.startswith("The clean text holds") for note in payload["notes"])
