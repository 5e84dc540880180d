"""The bench harness: shipped and CLI, alternating timing, the report shape of docs/architecture.md, and the capture
bench run quickly on tiny models (the BERT-base-sized run is marked slow)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from explainer.bench import BENCHES, BenchOptions, UnknownBench, run_bench
from explainer.bench import capture as capture_bench
from explainer.bench.common import (
    RESULT_KEYS,
    format_table,
    machine,
    measure_alternating,
    random_bert,
    ratio_at_most,
    report,
    result,
    text_with_tokens,
)
from explainer.cli.bench import main
from explainer.loading import shipped

ROOT = Path(__file__).resolve().parents[2]
TINY_BERT = {
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "hidden_size": 32,
    "intermediate_size": 64,
    "max_position_embeddings": 32,
}


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    """The untrained placeholder builds into a temporary folder, never the user's cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EXPLAINER_CACHE", str(tmp_path_factory.mktemp("explainer-cache")))
        yield


@pytest.fixture(scope="module")
def tiny_bert():
    return random_bert(**TINY_BERT)


def check_report(data: dict, bench: str) -> None:
    assert list(data) == ["bench", "machine", "results"]
    assert data["bench"] == bench
    assert isinstance(data["machine"], str) and data["machine"]
    assert data["results"]
    for row in data["results"]:
        assert tuple(row) == RESULT_KEYS
        assert isinstance(row["case"], str) and row["case"]
        assert isinstance(row["metric"], str) and isinstance(row["target"], str)
        assert isinstance(row["reference_name"], str) and row["reference_name"]
        assert isinstance(row["ours"], float) and row["ours"] > 0
        assert isinstance(row["reference"], float) and row["reference"] > 0
        assert row["ratio"] == pytest.approx(row["ours"] / row["reference"], rel=1e-12)
        assert isinstance(row["meets"], bool)


def check_capture_rows(data: dict) -> None:
    for row in data["results"]:
        assert row["metric"] == "seconds per input"
        assert row["reference_name"] == "plain forward (tokenize + model(**inputs))"
        assert row["target"] == "ratio <= 1.15"
        assert row["meets"] == (row["ratio"] <= 1.15)


# ------------------------------------------------------------------------------------------ helpers


def test_machine_names_cpu_threads_and_torch():
    import torch

    line = machine()
    assert "cores" in line and f"torch {torch.__version__}" in line
    assert f"{torch.get_num_threads()} threads" in line


def test_measure_alternating_runs_ours_and_reference_in_turn():
    calls: list[str] = []
    timing = measure_alternating(lambda: calls.append("A"), lambda: calls.append("B"), repeats=4, warmup=2)
    assert calls == ["A", "B"] * 6  # 2 warm-up rounds, then 4 timed ones, always alternating
    assert len(timing.ours_samples) == len(timing.reference_samples) == 4
    ours, reference = timing  # unpacks as the two medians
    assert ours == timing.ours >= 0 and reference == timing.reference >= 0
    with pytest.raises(ValueError):
        measure_alternating(lambda: None, lambda: None, repeats=0)


def test_measure_alternating_reports_medians():
    import time

    timing = measure_alternating(lambda: time.sleep(0.004), lambda: None, repeats=3, warmup=0)
    assert timing.ours >= 0.004 > timing.reference
    assert sorted(timing.ours_samples)[1] == timing.ours


def test_result_row_shape_ratio_and_meets():
    target, meets = ratio_at_most(1.15)
    assert target == "ratio <= 1.15"
    row = result(case="c", metric="seconds", ours=1.2, reference=1.0, reference_name="r", target=target, meets=meets)
    assert tuple(row) == RESULT_KEYS
    assert row["ratio"] == pytest.approx(1.2) and row["meets"] is False
    row = result(case="c", metric="seconds", ours=0.5, reference=1.0, reference_name="r", target="t", meets=True)
    assert row["ratio"] == 0.5 and row["meets"] is True
    data = report("demo", [row])
    check_report(data, "demo")
    json.loads(json.dumps(data))
    table = format_table(data)
    assert "demo" in table and "0.500" in table and "yes" in table
    counted = result(case="c", metric="bytes", ours=1088002, reference=53533845, reference_name="r", target="t",
                     meets=True)  # whole counts as they are: 1088002 read 1088000.0 beside its exact count
    assert (counted["ours"], counted["reference"]) == (1088002.0, 53533845.0)
    assert result(case="c", metric="s", ours=1.23456789, reference=1, reference_name="r", target="t",
                  meets=True)["ours"] == 1.23457


def test_a_side_not_measured_is_null_and_meets_nothing():
    """A visit that never drew its figure (inf) printed "ours": Infinity, which is no JSON, and a reference of 0
    gave an infinite ratio that met "ratio <= 1"... or a bad-visits row of 0 of 0 that did."""
    target, meets = ratio_at_most(2.0)
    for ours, reference in ((float("inf"), 1.5), (1.0, 0.0), (float("nan"), 1.0), (1.0, float("inf"))):
        row = result(case="c", metric="s", ours=ours, reference=reference, reference_name="r", target=target,
                     meets=meets)
        assert row["ratio"] is None and row["meets"] is False
        data = report("demo", [row])
        assert json.loads(json.dumps(data, allow_nan=False)) == data
        assert "NO" in format_table(data)


@pytest.mark.parametrize("n", [3, 8, 17, 31])
def test_text_with_tokens_is_exact(tiny_bert, n):
    text = text_with_tokens(tiny_bert.tokenizer, n)
    assert len(tiny_bert.tokenizer(text)["input_ids"]) == n


def test_text_with_tokens_overflows_max_length(tiny_bert):
    assert tiny_bert.max_length == 32
    text = text_with_tokens(tiny_bert.tokenizer, 40, max_length=tiny_bert.max_length)
    assert len(tiny_bert.tokenizer(text, truncation=False)["input_ids"]) > tiny_bert.max_length


def test_random_bert_uses_the_real_loading_path(tiny_bert):
    assert tiny_bert.architecture == "bert"
    assert tiny_bert.label_names == ("negative", "positive")
    assert (Path(tiny_bert.name) / "model.safetensors").is_file()
    assert random_bert(**TINY_BERT).name == tiny_bert.name  # the folder is built once per process


# ------------------------------------------------------------------------------------------ capture bench


def test_capture_bench_on_tiny_models(tiny_bert):
    from explainer import load_model

    models = [("tiny bert", lambda: tiny_bert), ("default model", load_model)]
    data = capture_bench.run(BenchOptions(repeats=2, quick=True), models=models, lengths=(8, 32))
    check_report(data, "capture")
    check_capture_rows(data)
    cases = [row["case"] for row in data["results"]]
    assert len(cases) == 4
    assert cases[0] == "tiny bert 8 tokens"
    assert cases[1].startswith("tiny bert 32 tokens (text of") and cases[1].endswith("truncated)")
    assert cases[2] == f"default model {shipped.default_model_name()} 8 tokens"


def test_cli_quick_json(capsys):
    import torch

    threads = torch.get_num_threads()
    try:
        assert main(["capture", "--json", "--quick", "--repeats", "1", "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
    data = json.loads(capsys.readouterr().out)
    check_report(data, "capture")
    check_capture_rows(data)
    assert "with 1 threads" in data["machine"]


def test_registry_lists_capture_and_rejects_unknown_names():
    assert "capture" in BENCHES and callable(BENCHES["capture"])
    with pytest.raises(UnknownBench, match="Known benches: .*capture"):
        run_bench("nosuch")


def test_cli_unknown_bench_exits_2_with_the_known_names():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "explainer", "bench", "nosuch"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "nosuch" in done.stderr and "capture" in done.stderr
    assert done.stdout == ""


@pytest.mark.slow
def test_capture_bench_bert_base_once():
    """The BERT-base-sized model really is BERT-base-sized and its 512-token case runs (one repeat)."""
    bundle = random_bert()
    config = bundle.model.config
    assert (config.num_hidden_layers, config.num_attention_heads, config.hidden_size) == (12, 12, 768)
    assert bundle.max_length == 512
    data = capture_bench.run(BenchOptions(repeats=1), models=[("bert-base", lambda: bundle)], lengths=(512,))
    check_report(data, "capture")
    check_capture_rows(data)
    assert not math.isnan(data["results"][0]["ratio"])


@pytest.mark.parametrize("value, said", [("x", "expected a whole number, got 'x'"), ("0", "must be at least 1")])
def test_a_bad_repeat_count_is_named(capsys, value, said):
    with pytest.raises(SystemExit) as stop:  # "x" said "invalid _positive value"
        main(["capture", "--repeats", value])
    assert stop.value.code == 2 and f"--repeats: {said}" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["4096", "99999999999999999999"])
def test_a_thread_count_past_the_limit_is_refused(capsys, value):
    """99999999999999999999 ended in torch's "Overflow when unpacking long long" traceback; 4096 ran for minutes."""
    with pytest.raises(SystemExit) as stop:
        main(["capture", "--threads", value])
    assert stop.value.code == 2 and "--threads: must be at most 256" in capsys.readouterr().err


def test_an_unreadable_data_file_named_by_the_environment_is_one_line(capsys, tmp_path, monkeypatch):
    """EXPLAINER_SST2_DEV naming an empty file ended in a DatasetError traceback."""
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    monkeypatch.setenv("EXPLAINER_SST2_DEV", str(empty))
    assert main(["batch", "--quick"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and err.count("\n") == 1, err


@pytest.mark.parametrize("variable, bench", [("EXPLAINER_SST2_DEV", "batch"), ("EXPLAINER_SST2_DEV", "counterfactuals"),
                                             ("EXPLAINER_SST2_TRAIN", "map")])
def test_a_data_path_the_environment_names_that_is_no_file_is_refused(capsys, tmp_path, monkeypatch, variable, bench):
    """Named on purpose and missing (or a folder), it was taken as unset: the batch bench measured nothing with
    exit 0, the map bench ran on generated sentences."""
    for given in (tmp_path / "missing.tsv", tmp_path):
        monkeypatch.setenv(variable, str(given))
        assert main([bench, "--quick"]) == 2
        err = capsys.readouterr().err
        assert err == f"error: {variable} names {given}, which is not a file: name the file, or unset it\n", err


def test_a_data_file_too_small_for_the_map_bench_is_one_line(capsys, tmp_path, monkeypatch):
    """Three sentences cannot make the bench's distinct rows: a ValueError traceback."""
    rows = tmp_path / "three.csv"
    rows.write_text("text,label\na fine film,1\na dull film,0\nan odd film,1\n")
    monkeypatch.setenv("EXPLAINER_SST2_TRAIN", str(rows))
    assert main(["map", "--quick"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "3 distinct sentences cannot make" in err and err.count("\n") == 1, err


def test_the_app_servers_a_bench_starts_get_its_thread_count():
    """--threads reached the bench's own torch alone: pages and serve measured servers with torch's default."""
    import contextlib

    from explainer.bench import app_driver, pages, serve
    from explainer.bench.common import BenchOptions

    assert BenchOptions(threads=1).server_env == {"OMP_NUM_THREADS": "1"} and BenchOptions().server_env == {}
    seen = []

    class Started(Exception):
        pass

    @contextlib.contextmanager
    def app_server(cache_dir, env=None, *args, **kwargs):  # records what the bench starts a server with, then stops
        seen.append(dict(env or {}))
        raise Started
        yield

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(app_driver, "app_server", app_server)
        for bench in (pages, serve):
            with pytest.raises(Started):
                bench.run(BenchOptions(threads=1, quick=True))
    assert seen == [{"OMP_NUM_THREADS": "1"}] * 2
