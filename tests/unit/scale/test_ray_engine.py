"""The Ray engine on a real local Ray (started here): the same rows and numbers as the local engine, the same
marker dictionary and data-set map, and a run that survives an actor killed mid-run."""

from __future__ import annotations

import importlib
import io
import logging
import os
import signal
import threading
import time
import warnings

import numpy as np
import psutil
import pytest

from explainer.data.labelled import DatasetError
from explainer.dataset_map.embeddings import embed_dataset
from explainer.dataset_map.maps import MapOptions, build_map
from explainer.evaluation.error_report import analyse, load_labelled
from explainer.scale import engine as scale_engine
from explainer.scale.engine import EngineError, RayOptions, connect, run_job
from explainer.scale.inputs import resolve_inputs
from explainer.scale.manifest import PARTIAL
from explainer.scale.results import marker_dictionary, open_results, seed_caches
from explainer.scale.work import JobOptions
from explainer.thought_beacon.marker_dictionary import DictionaryOptions, build_dictionary
from tests.unit.scale.conftest import concatenated, write_shards

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")
WORKERS = RayOptions(workers=2)


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=3, include_dashboard=False, log_to_driver=False, configure_logging=False)
    importlib.import_module("ray.data")  # its console log handlers keep the stderr they are made with: not a test's
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def reference(shards, tmp_path_factory, bundle):
    ours = bundle("ours")
    return load_labelled(ours, concatenated(shards, tmp_path_factory.mktemp("ref") / "all.csv", ours.label_names))


def test_the_default_starts_its_own_ray_even_where_another_cluster_is_named(tmp_path):
    # with a cluster named (by `ray start`, a dead one's /tmp/ray/ray_current_cluster, or RAY_ADDRESS), the default
    # joined it and failed: "When connecting to an existing cluster, num_cpus and num_gpus must not be provided"
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = ("import ray; from explainer.scale.engine import connect; connect(None, 1); "
            "print(int(ray.cluster_resources()['CPU'])); ray.shutdown()")
    env = {**os.environ, "RAY_ADDRESS": "127.0.0.1:9", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and done.stdout.split()[-1:] == ["2"], done.stderr[-2000:]


def _same_rows(ray_results, local_results) -> None:
    a, b = ray_results.labelled_data(), local_results.labelled_data()
    assert a.texts == b.texts and a.labels == b.labels and a.lines == b.lines and a.problems == b.problems
    pa, pb = ray_results.predictions(), local_results.predictions()
    np.testing.assert_allclose(pa.probabilities, pb.probabilities, atol=1e-5)
    assert (pa.predicted == pb.predicted).all() and (pa.lengths == pb.lengths).all()
    assert pa.slots == pb.slots and pa.skipped_slots == pb.skipped_slots
    np.testing.assert_array_equal(pa.marker_counts, pb.marker_counts)


def test_ray_gives_the_local_engines_rows_and_metrics(shards, tmp_path, ours_bundle, reference):
    inputs = resolve_inputs(shards)
    ray_manifest, _ = run_job(ours_bundle, inputs, JobOptions("evaluate"), tmp_path / "ray", engine="ray",
                              ray_options=WORKERS, block_rows=40)
    local_manifest, _ = run_job(ours_bundle, inputs, JobOptions("evaluate"), tmp_path / "local")
    assert ray_manifest.engine == "ray" and ray_manifest.workers == 2 and ray_manifest.run_key == local_manifest.run_key
    assert ray_manifest.files == local_manifest.files and len(ray_manifest.shards) > 1
    ray_results, local_results = open_results(tmp_path / "ray"), open_results(tmp_path / "local")
    _same_rows(ray_results, local_results)
    expected = analyse(ours_bundle, reference)  # today's evaluation of the same rows as one file
    found = analyse(ours_bundle, seed_caches(ours_bundle, ray_results))
    assert found.cached and found.metrics["confusion"] == expected.metrics["confusion"]
    for name in ("accuracy", "macro_f1", "marker_usage", "marker_mean_max_prob", "skip_rate"):
        assert found.metrics[name] == pytest.approx(expected.metrics[name], abs=1e-6), name


def test_ray_builds_the_same_marker_dictionary(shards, tmp_path, ours_bundle, reference):
    options = DictionaryOptions(batch_size=16, examples=2)
    job = JobOptions("markers", batch_size=16, dictionary=dict(options.__dict__))
    run_job(ours_bundle, resolve_inputs(shards), job, tmp_path / "ray", engine="ray", ray_options=WORKERS,
            block_rows=50)
    found = marker_dictionary(ours_bundle, open_results(tmp_path / "ray"))
    expected = build_dictionary(ours_bundle, reference.texts, options)
    assert found["texts"] == expected["texts"] == 180 and found["slots"] == expected["slots"]
    assert found["options"] == expected["options"]  # no batch size: the merged parts reported the default, 32
    for ours, theirs in zip(found["entries"], expected["entries"], strict=True):
        assert (ours["layer"], ours["marker"], ours["count"]) == (theirs["layer"], theirs["marker"], theirs["count"])
        assert ours["top_tokens"] == theirs["top_tokens"]
        assert [(e["text_index"], e["position"], e["token"]) for e in ours["examples"]] == [
            (e["text_index"], e["position"], e["token"]) for e in theirs["examples"]
        ]
        for kind in ("direct_effect", "forced_effect"):
            assert ours[kind] == pytest.approx(theirs[kind], abs=1e-5)
        assert ours["mean_prob"] == pytest.approx(theirs["mean_prob"], abs=1e-6)


def test_ray_runs_the_local_engines_blocks_spread_over_its_actors(shards, tmp_path, ours_bundle):
    """Ray's read merged each file into one block (up to 128 MiB): one actor ran a whole file whatever --workers
    said, and the markers' per-block parts (and batches) were not the local engine's. Its shards, named as blocks
    finished, read back (`--data OUT/rows`) in another order than the local engine's."""
    import pyarrow.dataset as pa_dataset
    import pyarrow.parquet as pq

    options = DictionaryOptions(batch_size=16, examples=2)
    job = JobOptions("markers", batch_size=16, dictionary=dict(options.__dict__))
    starts = {}
    for engine in ("ray", "local"):
        run_job(ours_bundle, resolve_inputs(shards), job, tmp_path / engine, engine=engine, ray_options=WORKERS,
                block_rows=40)
        rows = pa_dataset.dataset(str(tmp_path / engine / "rows"), format="parquet")
        table = rows.to_table(columns=["file", "row", "parts"]).to_pandas().sort_values(["file", "row"])
        starts[engine] = table[table["parts"].notna()][["file", "row"]].values.tolist()  # a block's first row
    assert starts["ray"] == starts["local"] and len(starts["ray"]) == 6, starts  # 88 and 90 rows read: 3 blocks each
    names = sorted(path.name for path in (tmp_path / "ray" / "rows").iterdir())
    assert names == [f"part-{i:05d}.parquet" for i in range(6)]
    in_order = [pq.read_table(tmp_path / "ray" / "rows" / name, columns=["file", "line"]).to_pylist() for name in names]
    read = [(row["file"], row["line"]) for shard in in_order for row in shard]
    assert read == sorted(read) and len(read) == 182  # the 2 skipped rows too, each at its line


def test_ray_map_gives_the_local_maps_vectors_and_projection(shards, tmp_path, ours_bundle, reference):
    run_job(ours_bundle, resolve_inputs(shards), JobOptions("map"), tmp_path / "ray", engine="ray",
            ray_options=WORKERS, block_rows=60)
    data = seed_caches(ours_bundle, open_results(tmp_path / "ray"))
    _, store, cached = embed_dataset(ours_bundle, data)
    assert cached  # the vectors came from the Ray run
    _, local_store, _ = embed_dataset(ours_bundle, reference)
    for layer in range(store.layers):
        np.testing.assert_allclose(store.layer(layer), local_store.layer(layer), atol=2e-3, rtol=2e-3)
    options = MapOptions(method="pca", neighbours=5)
    np.testing.assert_allclose(
        build_map(ours_bundle, data, options).frame[["x", "y"]].to_numpy(),
        build_map(ours_bundle, reference, options).frame[["x", "y"]].to_numpy(),
        atol=1e-2,
    )


def test_ray_map_vectors_equal_the_local_engines_bit_for_bit(shards, tmp_path, ours_bundle):
    """Both engines read the same blocks and batch the same texts, so every stored vector is the same to the bit: a
    UMAP layout (seeded, and reproducible on the same input) turned 17 last-bit float16 differences into another
    layout when Ray split its read blocks further, which changed the batches' padding."""
    vectors = {}
    for engine in ("local", "ray"):
        run_job(ours_bundle, resolve_inputs(shards), JobOptions("map"), tmp_path / engine, engine=engine,
                ray_options=WORKERS, block_rows=60)
        vectors[engine] = open_results(tmp_path / engine).used_rows(["readout", "mean"]).to_pydict()
    assert len(vectors["local"]["readout"]) > 60  # more than one block
    assert vectors["local"] == vectors["ray"]


def test_a_local_ray_starts_without_the_token_notice(monkeypatch):
    # Ray notes on stderr that it turned token authentication on, the first time it does so in a process (it then
    # sets RAY_AUTH_MODE=token, which the fixture's start did here). Ray's console handler writes to the stderr of
    # the moment it was made, so the notice is read from a handler of our own.
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    seen = io.StringIO()
    handler = logging.StreamHandler(seen)
    notices = logging.getLogger("ray._private.authentication.authentication_token_setup")
    notices.addHandler(handler)
    ray.shutdown()
    try:
        connect(None, 2)  # as the fixture: 3 CPUs, for the tests that follow
    finally:
        notices.removeHandler(handler)
    assert ray.is_initialized() and ray.cluster_resources()["CPU"] == 3
    assert "Token authentication" not in seen.getvalue(), seen.getvalue()


def _write(path, lines: list[str]) -> None:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def test_empty_shards_add_no_rows_on_ray_as_on_the_local_engine(tmp_path, ours_bundle):
    neg, pos = ours_bundle.label_names[:2]
    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder / "a.csv", ["text,label", f"a dull film,{neg}", f"a fine film,{pos}"])
    _write(folder / "b.csv", ["text,label"])
    (folder / "c.csv").write_bytes(b"")
    run_job(ours_bundle, resolve_inputs(folder), JobOptions("evaluate"), tmp_path / "ray", engine="ray",
            ray_options=WORKERS)
    run_job(ours_bundle, resolve_inputs(folder), JobOptions("evaluate"), tmp_path / "local")
    ray_results, local_results = open_results(tmp_path / "ray"), open_results(tmp_path / "local")
    assert [e.rows for e in ray_results.manifest.files] == [2, 0, 0]
    _same_rows(ray_results, local_results)


def test_a_file_of_one_block_runs_without_ray_s_warning_to_split_it(tmp_path, ours_bundle, monkeypatch):
    """A file under BLOCK_ROWS rows feeds one of two actors: Ray warned to raise `override_num_blocks`, advice
    for Ray's own pipelines that a user of this command cannot take (the README says why one actor works).
    The run's seconds (examples_per_s) start once the cluster is up, as a local run's do: they counted Ray's
    start, seconds on a machine that runs a small file in one."""
    neg, pos = ours_bundle.label_names[:2]
    path = tmp_path / "small.csv"
    _write(path, ["text,label", f"a dull film,{neg}", f"a fine film,{pos}"])
    up: list[float] = []

    def slow_start(address, workers):  # a cluster that takes 3 s to start (later calls find it up)
        connect(address, workers)
        if not up:
            time.sleep(3)
        up.append(time.perf_counter())

    monkeypatch.setattr(scale_engine, "connect", slow_start)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        run_job(ours_bundle, resolve_inputs(path), JobOptions("evaluate"), tmp_path / "ray", engine="ray",
                ray_options=WORKERS)
    ended = time.perf_counter()
    manifest = open_results(tmp_path / "ray").manifest
    assert manifest.files[0].rows == 2 and up and manifest.seconds <= ended - up[0]
    assert not [w for w in seen if "concurrent actors" in str(w.message)], [str(w.message) for w in seen]


def test_a_bad_shard_fails_in_one_line_without_ray_tracebacks(tmp_path, ours_bundle, capfd):
    neg, pos = ours_bundle.label_names[:2]
    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder / "a.csv", ["text,label", f"a dull film,{neg}", f"a fine film,{pos}"])
    # The reader checks labels in its first 1000 rows when it opens a file; this one is found mid-run.
    _write(folder / "b.csv", ["text,label", *[f"row {i},{neg}" for i in range(1001)], "late row,neutral"])
    expected = (f"The model {ours_bundle.name} takes its label names or ids 0-{len(ours_bundle.label_names) - 1}. "
                f"{folder / 'b.csv'}: line 1003: unknown label 'neutral'")
    # Ray Data's console handlers keep the stderr they were made with (pytest's): read them here, and the rest of
    # stderr (Ray's C++ lines) from the file descriptor.
    console = io.StringIO()
    handlers = [h for h in logging.getLogger("ray.data").handlers  # Ray's own, not pytest's log capture
                if type(h).__module__.startswith("ray.") and isinstance(h, logging.StreamHandler)]
    assert handlers
    streams = [h.stream for h in handlers]
    capfd.readouterr()
    try:
        for handler in handlers:
            handler.setStream(console)
        with pytest.raises(EngineError) as caught:
            run_job(ours_bundle, resolve_inputs(folder), JobOptions("evaluate"), tmp_path / "ray", engine="ray",
                    ray_options=WORKERS)
    finally:
        for handler, stream in zip(handlers, streams, strict=True):
            handler.setStream(stream)
    assert str(caught.value).startswith(expected)
    err = console.getvalue() + capfd.readouterr().err
    assert "Traceback" not in err and "\tERROR " not in err and len(err.splitlines()) <= 6, err


def test_a_model_folder_named_relatively_or_with_a_slash_runs_on_ray(tmp_path, ours_bundle, checkpoint, monkeypatch):
    """A worker loads the folder by its absolute path; the driver's fingerprint held the name as typed (and so
    did the config's _name_or_path), so a relative folder ("models/x") or one with a trailing slash was refused
    as "not the driver's model"."""
    from explainer.data.disk_cache import model_fingerprint
    from explainer.loading.bundle import load_model

    folder = checkpoint("ours")
    monkeypatch.chdir(folder.parent.parent)
    relative = load_model(f"{folder.parent.name}/{folder.name}/", device="cpu")
    assert model_fingerprint(relative) == model_fingerprint(ours_bundle)  # one folder, one fingerprint
    neg, pos = ours_bundle.label_names[:2]
    _write(tmp_path / "a.csv", ["text,label", f"a dull film,{neg}", f"a fine film,{pos}", f"the film,{neg}"])
    inputs = resolve_inputs(tmp_path / "a.csv")
    run_job(relative, inputs, JobOptions("evaluate"), tmp_path / "ray", engine="ray", ray_options=WORKERS)
    run_job(ours_bundle, inputs, JobOptions("evaluate"), tmp_path / "local")
    _same_rows(open_results(tmp_path / "ray"), open_results(tmp_path / "local"))


def test_a_node_with_other_weights_is_refused_in_one_line_without_ray_tracebacks(tmp_path, ours_bundle, capfd,
                                                                                   monkeypatch):
    """The refusal was raised in the actor's constructor, which Ray retries and reports with tracebacks on stderr
    (66 lines); it now comes with the first block, as a bad row does."""
    monkeypatch.setattr(scale_engine, "model_fingerprint", lambda bundle: "0" * 32)  # the driver's, not the actors'
    neg, pos = ours_bundle.label_names[:2]
    _write(tmp_path / "a.csv", ["text,label", f"a dull film,{neg}", f"a fine film,{pos}"])
    capfd.readouterr()
    with pytest.raises(EngineError) as caught:
        run_job(ours_bundle, resolve_inputs(tmp_path / "a.csv"), JobOptions("evaluate"), tmp_path / "ray",
                engine="ray", ray_options=WORKERS)
    assert "is not the driver's (fingerprint " in str(caught.value) and "0" * 32 in str(caught.value)
    err = capfd.readouterr().err
    assert "Traceback" not in err, err


def test_ray_refuses_shards_with_other_columns(tmp_path, ours_bundle):
    neg, pos = ours_bundle.label_names[:2]
    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder / "a.csv", ["text,label,capability", f"a dull film,{neg},x", f"a fine film,{pos},y"])
    _write(folder / "b.csv", ["label,text,source,capability", f"{neg},slow,web,x", f"{pos},great,web,y"])
    with pytest.raises(DatasetError, match=r"b\.csv has other columns .*'source'.* than \S+a\.csv"):
        run_job(ours_bundle, resolve_inputs(folder), JobOptions("evaluate"), tmp_path / "ray", engine="ray",
                ray_options=WORKERS)


def _actors() -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any("BlockWorker" in part for part in process.info["cmdline"] or ()):
            found.append(process)
    return found


def test_an_actor_killed_mid_run_is_replaced_and_the_output_is_complete(tmp_path, ours_bundle):
    big = write_shards(tmp_path / "big", ours_bundle.label_names, rows_per_shard=800)
    inputs = resolve_inputs(big)
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["manifest"] = run_job(ours_bundle, inputs, JobOptions("evaluate"), tmp_path / "ray",
                                          engine="ray", ray_options=WORKERS, block_rows=100)[0]
        except BaseException as error:  # reported by the assertion below
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    killed = None
    deadline = time.monotonic() + 240
    while killed is None and thread.is_alive() and time.monotonic() < deadline:
        written = list((tmp_path / "ray" / PARTIAL / "rows").glob("*.parquet"))
        actors = _actors()
        if written and actors:  # blocks done and more in flight: kill one actor now
            killed = actors[0].pid
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    thread.join(timeout=300)
    assert killed is not None, "no actor was seen while blocks were being written"
    assert "error" not in outcome, outcome.get("error")
    manifest = outcome["manifest"]
    assert manifest.rows == 1600 and manifest.skipped == 2  # every row once: checked by the engine, counted here
    run_job(ours_bundle, inputs, JobOptions("evaluate"), tmp_path / "local")
    _same_rows(open_results(tmp_path / "ray"), open_results(tmp_path / "local"))


STDOUT_SCRIPT = """
import os, sys, time
import ray
from explainer.cli.common import print_json, stdout_for_json_only

printed = []
real_stderr = sys.stderr


class Recording:  # stderr, noted so the script knows when Ray has spoken
    def write(self, text):
        printed.append(text)
        return real_stderr.write(text)

    def __getattr__(self, name):  # fileno, flush, isatty, ...: the real stderr's (Ray asks for its fileno)
        return getattr(real_stderr, name)


sys.stderr = Recording()
stdout_for_json_only()  # what the commands do before a Ray job (cli/engine_options.run_engine_job)
ray.init(address=sys.argv[1], include_dashboard=False, log_to_driver=False, configure_logging=False)


@ray.remote(max_retries=0)
def crash():
    os._exit(1)


try:
    ray.get(crash.remote())
except ray.exceptions.WorkerCrashedError:
    pass
deadline = time.monotonic() + 60
while "(raylet)" not in "".join(printed) and time.monotonic() < deadline:  # Ray reports the death a moment later
    time.sleep(0.1)
print_json({"rows": 180, "raylet_spoke": "(raylet)" in "".join(printed)})
"""


def test_ray_s_own_messages_go_to_stderr_and_the_json_stays_alone_on_stdout(tmp_path):
    """Seen under load: '(raylet) A worker died or was killed ...' printed by Ray's threads into stdout, before a
    command's JSON, which then did not parse (even with log_to_driver off)."""
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    address = ray.get_runtime_context().gcs_address
    done = subprocess.run([sys.executable, "-c", STDOUT_SCRIPT, address], cwd=ROOT, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout) == {"rows": 180, "raylet_spoke": True}
    assert "A worker died" in done.stderr


def test_map_command_on_ray_writes_points_beside_the_results(shards, tmp_path, checkpoint):
    import json
    import subprocess
    import sys

    import pandas as pd

    from tests.conftest import ROOT

    out = tmp_path / "map"
    command = [
        sys.executable, "-m", "explainer", "map", "--model", str(checkpoint("ours")), "--data", str(shards),
        "--engine", "ray", "--ray-address", ray.get_runtime_context().gcs_address, "--neighbours", "4",
        "--out", str(out),
    ]
    env = {**os.environ, "EXPLAINER_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["rows"] == 180 and summary["skipped_rows"] == 2 and summary["results"]["engine"] == "ray"
    points = pd.read_parquet(out / "points.parquet")
    assert list(points["row"]) == list(range(180)) and open_results(out).manifest.kind == "map"


def test_starting_ray_keeps_the_commands_sigterm_handler():
    """Ray's core worker installs a SIGTERM handler that prints a stack dump and kills the process: a Ray run
    stopped with `kill` printed Ray's crash dump, not the command's one line, and skipped its cleanup."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = (
        "import os, signal, time\n"
        "import ray\n"
        "from explainer.scale.engine import connect\n"
        "def mine(signum, frame):\n"
        "    raise SystemExit(128 + signum)\n"
        "signal.signal(signal.SIGTERM, mine)\n"
        "connect(None, 1)\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    time.sleep(30)\n"
        "except SystemExit:\n"
        "    print('handled', flush=True)\n"
        "finally:\n"
        "    ray.shutdown()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stdout.strip()) == (0, "handled"), done.stderr[-2000:]
