"""`evaluate --engine ray` on a Ray cluster of several nodes started on this machine (Ray's test cluster utilities):
the work runs on both nodes and the results equal the local engine's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as pa_dataset
import pytest

from explainer.scale.engine import run_job
from explainer.scale.inputs import resolve_inputs
from explainer.scale.results import open_results
from explainer.scale.work import JobOptions
from tests.unit.scale.conftest import write_shards
from tests.unit.scale.test_ray_engine import _same_rows

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def two_nodes():
    """A head and two more nodes of one CPU each, shared by this module's tests (a cluster takes about 9 s to
    start on a 2-core machine; each test's driver disconnects when it is done). Two actors of one CPU each then sit
    on two different nodes, and the read tasks run on the third, so no block is sent to an actor for locality: each
    goes to the least busy one."""
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, connect=False, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()


def test_evaluate_runs_on_both_nodes_and_matches_the_local_engine(two_nodes, tmp_path, ours_bundle, checkpoint):
    # Four files of 1,024 rows (BLOCK_ROWS; the first has two skipped rows more, so a small second block): a block
    # keeps an actor busy far longer than the next file takes to read, so the second block finds the first actor
    # busy and goes to the other node. With 300-row files a fast machine finished each block before the next
    # arrived, and one actor took all four (1 run in 3).
    shards = write_shards(tmp_path / "in", ours_bundle.label_names, rows_per_shard=1024, shards=4)
    out = tmp_path / "cluster"
    command = [
        sys.executable,
        "-m",
        "explainer",
        "evaluate",
        "--model",
        str(checkpoint("ours")),
        "--data",
        str(shards),
        "--engine",
        "ray",
        "--ray-address",
        two_nodes.address,
        "--workers",
        "2",
        "--out",
        str(out),
    ]
    env = {**os.environ, "EXPLAINER_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["results"]["engine"] == "ray" and summary["results"]["rows"] == 4096
    assert summary["skipped_rows"] == 2 and summary["n"] == 4096
    nodes = set(
        pa_dataset.dataset(str(out / "rows"), format="parquet").to_table(columns=["node"]).column("node").to_pylist()
    )
    assert len(nodes) == 2 and summary["results"]["nodes"] == 2  # both nodes ran blocks
    run_job(ours_bundle, resolve_inputs(shards), JobOptions("evaluate"), tmp_path / "local")
    _same_rows(open_results(out), open_results(tmp_path / "local"))


def test_a_cluster_too_small_for_the_workers_fails_with_a_message(
    two_nodes, shards, tmp_path, ours_bundle, monkeypatch
):
    from explainer.scale import engine

    # the fourth actor can never start (three CPUs in the cluster): any wait shows the message
    monkeypatch.setattr(engine, "ACTOR_START_SECONDS", 8)
    said: list[str] = []  # not capsys: Ray's loggers keep the stream they first met, and a closed one broke later tests
    monkeypatch.setattr(engine, "say", said.append)
    options = engine.RayOptions(address=two_nodes.address, workers=4, threads=1)
    try:
        with pytest.raises(engine.EngineError, match=r"could not start 4 workers within 8 s: each needs one CPU "
                           r"\(the cluster had 3 in all at the start") as raised:
            run_job(
                ours_bundle,
                resolve_inputs(shards),
                JobOptions("evaluate"),
                tmp_path / "out",
                engine="ray",
                ray_options=options,
            )
    finally:
        ray.shutdown()
    assert "--workers" in str(raised.value)
    assert not (tmp_path / "out" / "manifest.json").exists()  # nothing is left that looks like results
    # the wait was said as it began (it was silent for ACTOR_START_SECONDS, 600 s by default)
    assert any("note: the Ray cluster has 3 CPUs in all and --workers 4 needs one each" in line for line in said)
