"""A results folder damaged after its run (a truncated shard, a garbled manifest): every reader, and a rerun into
the folder, says so in one line and what to do, instead of a pyarrow traceback or advice that leads back here."""

from __future__ import annotations

import json

import pytest

from explainer.scale.engine import run_job
from explainer.scale.inputs import resolve_inputs
from explainer.scale.manifest import MANIFEST, VERSION, ResultsError
from explainer.scale.results import open_results
from explainer.scale.work import JobOptions


def test_a_truncated_shard_is_named_with_what_to_do_on_open_and_on_rerun(shards, tmp_path, ours_bundle):
    out = tmp_path / "out"
    inputs = resolve_inputs(shards)
    manifest, _ = run_job(ours_bundle, inputs, JobOptions("evaluate"), out)
    shard = out / manifest.shards[0]
    shard.write_bytes(shard.read_bytes()[:300])
    for attempt in (lambda: open_results(out), lambda: run_job(ours_bundle, inputs, JobOptions("evaluate"), out)):
        with pytest.raises(ResultsError) as refused:
            attempt()
        message = str(refused.value)
        assert f"{shard} is damaged" in message and f"remove {out}" in message and "\n" not in message


def test_a_garbled_manifest_says_to_remove_the_folder_not_only_to_rerun(shards, tmp_path, ours_bundle):
    out = tmp_path / "out"
    inputs = resolve_inputs(shards)
    run_job(ours_bundle, inputs, JobOptions("evaluate"), out)
    manifest = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).write_text(json.dumps({"format": "explainer-results", "version": VERSION, "files": "oops"}))
    with pytest.raises(ResultsError, match=f"damaged .*: remove {out}"):
        run_job(ours_bundle, inputs, JobOptions("evaluate"), out)
    (out / MANIFEST).write_text(json.dumps({**manifest, "version": VERSION - 1}))  # numbers of an older version
    with pytest.raises(ResultsError, match="another version of explainer .* run the job again into a new folder"):
        run_job(ours_bundle, inputs, JobOptions("evaluate"), out)


def test_another_run_is_refused_saying_what_differs(shards, tmp_path, ours_bundle):
    from explainer.scale.manifest import differences, read_manifest

    out = tmp_path / "out"
    inputs = resolve_inputs(shards)
    run_job(ours_bundle, inputs, JobOptions("evaluate"), out)
    manifest = read_manifest(out)
    same = (manifest.kind, manifest.model_fingerprint, manifest.input_hash, JobOptions("evaluate").keyed())
    assert differences(manifest, *same) == ""
    tau = differences(manifest, *same[:3], JobOptions("evaluate", beacon_threshold=0.5).keyed())
    assert tau == "other options: beacon_threshold None there, 0.5 now"
    assert differences(manifest, "sweep", "other", "bytes", same[3]) == (
        "it ran evaluate, this is sweep; other model weights (it ran "
        f"{manifest.model}); other input bytes (a file was edited, added or removed)")
    with pytest.raises(ResultsError, match="beacon_threshold None there, 0.5 now"):
        run_job(ours_bundle, inputs, JobOptions("evaluate", beacon_threshold=0.5), out)
