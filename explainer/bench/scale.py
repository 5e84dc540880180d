"""The `scale` bench: the Ray engine against the local engine on one machine, and the Ray driver's memory.

One `evaluate` job (explainer.scale.engine.run_job) over the same CSV shards with `engine="local"` (this machine's
one process, torch's default threads) and with `engine="ray"` (a local Ray started for the job: 2 actors of one
torch thread each, plus one CPU for the read tasks), at 20,000 and 100,000 rows (`--quick`: 400 and 2,000), in
the same run. Each configuration runs once (a 100,000-row pass takes minutes), in a fresh Python process, so that
its peak resident memory is its own: the larger of the driver's `VmHWM` (Linux's high-water mark of the process's
RSS, read by the driver as it ends) and its RSS polled every 50 ms by the bench. For Ray that is the driver alone,
not its workers or Ray's own processes (the polled peak of the whole process tree is reported beside it). Local
and Ray alternate at each size, so load on the machine falls on both.

Time: from resolving the inputs to the written results folder, Ray's start included (what a user waits for once
the model is loaded); the engine's own seconds without Ray's start (the manifest's `seconds`) and the whole
process's wall time are reported beside it. Targets: at the largest size the Ray run takes at most 1.25 x the
local run's seconds (Ray's overhead on one machine at most 25 %), and the Ray driver's peak RSS at the largest
size is at most 1.2 x its peak at the smallest (flat in the row count).

Data: SST-2 train sentences with their labels (explainer.bench.map.bench_rows: distinct rows, shuffled, past
SST-2's 66,978 distinct sentences copies with one word replaced, so every size holds the same mix; else generated
from the demo texts),
written as 4 CSV shards to a temporary folder. Model: the shipped default model.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from explainer.bench.common import BenchOptions, report, result

NAME = "scale"
ROOT = Path(__file__).resolve().parents[2]
SIZES = (20_000, 100_000)
QUICK_SIZES = (400, 2_000)
SHARDS = 4
WORKERS = 2
ACTOR_THREADS = 1
BATCH_SIZE = 32
TARGET_RATIO = 1.25  # ray seconds / local seconds at the largest size
MEMORY_RATIO = 1.2  # Ray driver's peak RSS at the largest size / at the smallest
POLL_SECONDS = 0.05  # how often the bench samples the driver's RSS (Linux updates VmHWM lazily)
TREE_EVERY = 10  # polls between samples of the whole process tree (Ray's workers and its own processes)
REFERENCE_NAME = "local engine (engine='local', one process), same shards, same run"
# Ray starts its workers at niceness 15, so on a machine busy with other work they get a fraction of the CPU the
# local engine (niceness 0) gets: the bench runs them at 0, to measure Ray's overhead rather than that priority.
RAY_WORKER_NICENESS = 0

# The driver: a fresh process per configuration, so that its peak RSS is this configuration's alone. It imports
# only what the job needs and writes its measurements to a file (Ray may write to stdout).
DRIVER = """
import json, resource, sys, time
settings = json.loads(sys.argv[1])
import torch
if settings["threads"]:
    torch.set_num_threads(settings["threads"])
from explainer import load_model
from explainer.scale.engine import RayOptions, run_job
from explainer.scale.inputs import resolve_inputs
from explainer.scale.work import JobOptions

began = time.perf_counter()
bundle = load_model(settings["model"]) if settings["model"] else load_model()
loaded = time.perf_counter()
inputs = resolve_inputs(settings["data"])  # hashes the files: part of the job, as in the CLI
ray_started = time.perf_counter()
if settings["engine"] == "ray":
    import ray
    # "local": a new Ray for this job, never a cluster another process left in /tmp/ray/ray_current_cluster
    ray.init(address="local", num_cpus=settings["workers"] + 1, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
started = time.perf_counter()
manifest, reused = run_job(bundle, inputs, JobOptions("evaluate", batch_size=settings["batch_size"]),
                           settings["out"], engine=settings["engine"],
                           ray_options=RayOptions(workers=settings["workers"], threads=settings["actor_threads"]))
finished = time.perf_counter()

def high_water_mb():
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

if settings["engine"] == "ray":
    import ray
    ray.shutdown()
peak = high_water_mb()  # last: the process's peak over its whole life
with open(settings["result"], "w", encoding="utf-8") as out:
    json.dump({"rows": manifest.rows, "skipped": manifest.skipped, "reused": reused, "engine": manifest.engine,
               "workers": manifest.workers, "nodes": manifest.nodes, "seconds": finished - loaded,
               "ray_start_seconds": started - ray_started, "run_seconds": manifest.seconds,
               "model_load_seconds": loaded - began, "driver_vmhwm_mb": peak,
               "driver_torch_threads": torch.get_num_threads(), "model": bundle.name}, out)
"""


def write_shards(folder: Path, pairs: list[tuple[str, int]], shards: int) -> Path:
    """`pairs` (text, label id) as `shards` CSV files (sentence, label id as SST-2 has it) of near-equal size;
    the folder. The reader maps ids in range to the model's labels, so the bench needs no model to write them."""
    folder.mkdir(parents=True, exist_ok=True)
    shards = max(1, min(shards, len(pairs)))  # an empty shard would be a file with no usable rows
    for shard in range(shards):
        with (folder / f"part-{shard:02d}.csv").open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["sentence", "label"])
            for text, label in pairs[shard * len(pairs) // shards : (shard + 1) * len(pairs) // shards]:
                writer.writerow([" ".join(text.split()), label])
    return folder


def _rss_mb(process) -> float:
    try:
        return process.memory_info().rss / 2**20
    except Exception:  # psutil.NoSuchProcess / AccessDenied: the process ended between listing and reading
        return 0.0


def measure(
    engine: str, data: Path, out: Path, scratch: Path, *, model: str | None, threads: int | None
) -> dict[str, Any]:
    """Run one configuration in a fresh driver process; its measurements, with the polled peaks of the driver and
    of its whole process tree (driver, Ray's processes and workers). RuntimeError when the driver fails."""
    import psutil

    result_file = scratch / f"{out.name}.json"
    log = scratch / f"{out.name}.log"
    settings = {
        "engine": engine,
        "data": str(data),
        "out": str(out),
        "model": model,
        "threads": threads if engine == "local" else None,
        "workers": WORKERS,
        "actor_threads": ACTOR_THREADS,
        "batch_size": BATCH_SIZE,
        "result": str(result_file),
    }
    env = dict(os.environ)
    if engine == "ray":
        env["RAY_worker_niceness"] = str(RAY_WORKER_NICENESS)  # read by the raylet this driver starts
    driver_peak = tree_peak = 0.0
    polls = 0
    begin = time.perf_counter()
    with log.open("w", encoding="utf-8") as log_file:
        child = subprocess.Popen(
            [sys.executable, "-c", DRIVER, json.dumps(settings)],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        process = psutil.Process(child.pid)
        try:
            while child.poll() is None:
                driver_peak = max(driver_peak, _rss_mb(process))
                if polls % TREE_EVERY == 0:
                    try:
                        tree = [process, *process.children(recursive=True)]
                    except psutil.Error:
                        tree = []
                    tree_peak = max(tree_peak, sum(_rss_mb(p) for p in tree))
                polls += 1
                time.sleep(POLL_SECONDS)
        finally:
            if child.poll() is None:  # the bench was interrupted: its driver (and the Ray it started) go too
                child.terminate()
                child.wait()
    wall = time.perf_counter() - begin
    if child.returncode != 0 or not result_file.is_file():
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
        raise RuntimeError(f"the {engine} driver failed (exit code {child.returncode}):\n" + "\n".join(tail))
    measured = json.loads(result_file.read_text(encoding="utf-8"))
    return {
        **measured,
        # Linux updates VmHWM lazily (on unmapping), so a poll can see more than it: the peak is the larger.
        "driver_peak_rss_mb": max(measured["driver_vmhwm_mb"], driver_peak),
        "driver_peak_rss_polled_mb": driver_peak,
        "tree_peak_rss_polled_mb": tree_peak,
        "process_seconds": wall,
    }


def _rounded(run: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in run.items()}


def _no_target(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "target": None, "meets": None}  # a row shown beside the others, with no goal of its own


def run(
    options: BenchOptions = BenchOptions(),
    *,
    model: str | Path | None = None,
    data: Path | None = None,
    sizes: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    """Time the local and the Ray engine at each size (default SIZES, `--quick` QUICK_SIZES) and report the
    rows above. `model`: a model name or folder (default: the shipped default); `data`: a labelled file for the
    sentences (default: SST-2 train, see explainer.bench.map.bench_rows)."""
    from explainer.bench.map import bench_rows

    sizes = tuple(sorted(sizes or (QUICK_SIZES if options.quick else SIZES)))
    model_name = str(model) if model is not None else None
    scratch = Path(tempfile.mkdtemp(prefix="explainer-bench-scale-"))
    runs: dict[int, dict[str, dict[str, Any]]] = {}
    try:
        pairs, data_name = bench_rows(max(sizes), data)
        for size in sizes:
            shards = write_shards(scratch / f"in-{size}", pairs[:size], SHARDS)
            runs[size] = {}
            for engine in ("local", "ray"):
                measured = measure(
                    engine, shards, scratch / f"out-{engine}-{size}", scratch, model=model_name, threads=options.threads
                )
                if measured["rows"] != size or measured["skipped"] or measured["reused"]:
                    raise AssertionError(
                        f"the {engine} engine wrote {measured['rows']} rows ({measured['skipped']} skipped, reused "
                        f"{measured['reused']}) of {size}: the bench's rows were not all processed"
                    )
                runs[size][engine] = measured
                print(  # a full run takes long: say what each configuration measured as it ends
                    f"scale bench: {engine}, {size:,} rows: {measured['seconds']:.1f} s "
                    f"({size / measured['seconds']:.1f} rows/s; without Ray's start {measured['run_seconds']:.1f} s), "
                    f"driver peak RSS {measured['driver_peak_rss_mb']:.0f} MB",
                    file=sys.stderr,
                    flush=True,
                )
            shutil.rmtree(shards, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    local_threads = runs[sizes[0]]["local"]["driver_torch_threads"]
    threads = {
        "local": f"one process, torch {local_threads} threads" + ("" if options.threads else " (torch's default)"),
        "ray": f"{WORKERS} actors x {ACTOR_THREADS} torch thread, Ray given {WORKERS + 1} CPUs "
        f"(one for the read tasks), workers at niceness {RAY_WORKER_NICENESS}",
    }
    rows: list[dict[str, Any]] = []
    for size in sizes:
        local, ray = runs[size]["local"], runs[size]["ray"]
        largest = size == sizes[-1]
        case = (
            f"evaluate, {local['model']}, {size:,} rows in {SHARDS} CSV shards of {data_name}: "
            f"ray ({threads['ray']}) vs local ({threads['local']})"
        )
        extra = {
            "rows": size,
            "rows_per_second": {
                "ray": round(size / ray["seconds"], 2),
                "local": round(size / local["seconds"], 2),
            },
            "runs": {"ray": _rounded(ray), "local": _rounded(local)},
            "threads": threads,
        }
        timed = result(
            case=case,
            metric="seconds, Ray's start included",
            ours=ray["seconds"],
            reference=local["seconds"],
            reference_name=REFERENCE_NAME,
            target=f"ratio <= {TARGET_RATIO:g}",
            meets=lambda ratio: ratio <= TARGET_RATIO,
        )
        rows.append({**(timed if largest else _no_target(timed)), **extra})
        rows.append(
            {
                **_no_target(
                    result(
                        case=case,
                        metric="seconds without Ray's start (the manifest's seconds)",
                        ours=ray["run_seconds"],
                        reference=local["run_seconds"],
                        reference_name=REFERENCE_NAME,
                        target="",
                        meets=True,
                    )
                ),
                "rows": size,
            }
        )
    small, large = sizes[0], sizes[-1]
    for engine in ("ray", "local"):
        memory = result(
            case=(
                f"peak RSS of the {engine} engine's driver process (VmHWM"
                + ("; Ray's workers and processes not counted" if engine == "ray" else "")
                + f"): {large:,} rows vs {small:,} rows"
            ),
            metric="MB",
            ours=runs[large][engine]["driver_peak_rss_mb"],
            reference=runs[small][engine]["driver_peak_rss_mb"],
            reference_name=f"the same driver at {small:,} rows, same run",
            target=f"ratio <= {MEMORY_RATIO:g}",
            meets=lambda ratio: ratio <= MEMORY_RATIO,
        )
        extra = {
            "rows": large,
            "tree_peak_rss_polled_mb": {
                f"{size}": round(runs[size][engine]["tree_peak_rss_polled_mb"], 1) for size in sizes
            },
        }
        rows.append({**(memory if engine == "ray" else _no_target(memory)), **extra})
    return report(NAME, rows)
