"""A results folder damaged after its run (a truncated shard, a garbled manifest): every reader, and a rerun into
the folder, says so in one line and what to do, instead of a pyarrow traceback or advice that leads back here."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from explainer.data.labelled import DatasetError
from explainer.scale.engine import run_job
from explainer.scale.inputs import resolve_inputs
from explainer.scale.manifest import MANIFEST, ROWS, VERSION, ResultsError, file_sha256, manifest_digest
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
    # A newer version that adds a field without a new version number: said as such, not "damaged (TypeError)"
    newer = {**manifest, "a_later_field": 1}
    (out / MANIFEST).write_text(json.dumps({**newer, "digest": manifest_digest(newer)}))
    with pytest.raises(ResultsError, match="a newer version of explainer .*does not know: a_later_field.*update"):
        open_results(out)
    newer = {**manifest, "files": [{**entry, "a_later_key": 1} for entry in manifest["files"]]}  # in a file entry
    (out / MANIFEST).write_text(json.dumps({**newer, "digest": manifest_digest(newer)}))
    with pytest.raises(ResultsError, match="a newer version of explainer .*does not know: files\\[\\].a_later_key"):
        open_results(out)


@pytest.mark.parametrize("edit, field", [
    ({"rows": "forty"}, "rows"), ({"skipped": None}, "skipped"), ({"shards": [5]}, "shards"),
    ({"seconds": "x"}, "seconds"), ({"workers": True}, "workers"), ({"label_names": []}, "no label names"),
    ({"label_names": "np"}, "label_names"),  # a text became the labels ('n', 'p')
])
def test_a_re_signed_manifest_with_fields_of_the_wrong_kind_is_damaged_not_a_traceback(shards, tmp_path, ours_bundle,
                                                                                         edit, field):
    """"rows": "forty" signed again (the digest is no key) ended in a TypeError traceback from the shard check."""
    out = tmp_path / "out"
    run_job(ours_bundle, resolve_inputs(shards), JobOptions("evaluate"), out)
    manifest = {**json.loads((out / MANIFEST).read_text()), **edit}
    _save(out, manifest, resign=True)
    with pytest.raises(ResultsError, match=f"is damaged \\((fields of the wrong kind: )?{field}"):
        open_results(out)


def test_every_manifest_field_has_its_kind_checked():
    """A field of a kind KINDS lacks would make every manifest read as damaged (KeyError)."""
    from dataclasses import fields

    from explainer.scale.manifest import KINDS, FileEntry, Manifest

    assert {str(f.type) for record in (Manifest, FileEntry) for f in fields(record)} <= set(KINDS)


def test_a_results_folder_given_as_data_is_named_as_one(shards, tmp_path, ours_bundle):
    """Its manifest was read as a JSONL shard: "JSONL needs one whole object per line"."""
    out = tmp_path / "out"
    run_job(ours_bundle, resolve_inputs(shards), JobOptions("evaluate"), out)
    with pytest.raises(DatasetError, match="is a results folder \\(it holds manifest.json\\), not a data set"):
        resolve_inputs(out)


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
    # the options of another kind hold its name: said once, first, not again as "other options: kind ..."
    sweep = JobOptions("sweep", taus=(0.5,)).keyed()
    said = differences(manifest, "sweep", *same[1:3], sweep)
    assert said.startswith("it ran evaluate, this is sweep; other options:") and "kind" not in said
    assert differences(manifest, *same[:1], "other", *same[2:], model="elsewhere/the-same-weights") == (
        f"another model name ({manifest.model} there, elsewhere/the-same-weights now; a model is known by its name, "
        "config and files together)")  # said "other model weights" of the same folder named by its path
    with pytest.raises(ResultsError, match="beacon_threshold None there, 0.5 now"):
        run_job(ours_bundle, inputs, JobOptions("evaluate", beacon_threshold=0.5), out)
    # another input altogether is not "a file was edited" (said of dev.tsv's folder run on the challenge set)
    with pytest.raises(ResultsError, match=rf"another input \({manifest.input_spec} there, .*part-1.csv now\)"):
        run_job(ours_bundle, resolve_inputs(shards / "part-1.csv"), JobOptions("evaluate"), out)


# Damage that leaves valid Parquet and a readable manifest: each must be refused on open and on a rerun (never read
# with wrong counts nor reused). The folder is a local run whose rows are split into two shards, as Ray writes
# several. "re-signed": the manifest's digest recomputed after the edit, so the checks behind it (run key, counts,
# row ids) are tested too.
Damage = Callable[[Path, dict[str, Any]], None]  # (folder, manifest as JSON) -> None, editing either in place


def _drop_second(folder: Path, manifest: dict[str, Any]) -> None:
    for name in ("shards", "shard_rows", "shard_sha256"):
        manifest[name] = manifest[name][:1]


def _delete_second(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / manifest["shards"][1]).unlink()
    _drop_second(folder, manifest)


def _halve_second(folder: Path, manifest: dict[str, Any]) -> None:
    table = pq.read_table(folder / manifest["shards"][1])
    pq.write_table(table.slice(0, table.num_rows // 2), folder / manifest["shards"][1])


def _list_first_twice(folder: Path, manifest: dict[str, Any]) -> None:
    for name in ("shards", "shard_rows", "shard_sha256"):
        manifest[name] = [*manifest[name], manifest[name][0]]


def _copy_first_and_list_it(folder: Path, manifest: dict[str, Any]) -> None:
    shutil.copy(folder / manifest["shards"][0], folder / ROWS / "extra.parquet")
    for name, value in (("shards", f"{ROWS}/extra.parquet"), ("shard_rows", None), ("shard_sha256", None)):
        manifest[name] = [*manifest[name], value if value else manifest[name][0]]


def _renumber_second(folder: Path, manifest: dict[str, Any]) -> None:  # as many rows, some ids wrong
    path = folder / manifest["shards"][1]
    table = pq.read_table(path)
    row = table.column("row").to_numpy()
    table = table.set_column(table.schema.get_field_index("row"), "row", pa.array(row + (row >= 0), pa.int64()))
    pq.write_table(table, path)
    manifest["shard_sha256"][1] = file_sha256(path)


def _edit(**fields: Any) -> Damage:
    def edit(folder: Path, manifest: dict[str, Any]) -> None:
        manifest.update(fields)
    return edit


def _edit_rows(folder: Path, manifest: dict[str, Any]) -> None:
    manifest["rows"] = 50
    manifest["files"][0]["rows"] = 50


def _reverse_labels(folder: Path, manifest: dict[str, Any]) -> None:
    manifest["label_names"] = manifest["label_names"][::-1]


def _edit_tau(folder: Path, manifest: dict[str, Any]) -> None:
    manifest["options"]["beacon_threshold"] = 0.5


def _write_shards(folder: Path, manifest: dict[str, Any], tables: list[pa.Table]) -> None:
    """Replace the folder's shards with `tables`, the manifest (re-signed) saying so."""
    for shard in manifest["shards"]:
        (folder / shard).unlink()
    manifest["shards"] = [f"{ROWS}/part-{index:05d}.parquet" for index in range(len(tables))]
    for shard, table in zip(manifest["shards"], tables, strict=True):
        pq.write_table(table, folder / shard)
    manifest["shard_rows"] = [table.num_rows for table in tables]
    manifest["shard_sha256"] = [file_sha256(folder / shard) for shard in manifest["shards"]]
    _save(folder, manifest, resign=True)


def _save(folder: Path, manifest: dict[str, Any], resign: bool) -> None:
    if resign:
        manifest["digest"] = manifest_digest(manifest)
    (folder / MANIFEST).write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def two_runs(shards, tmp_path_factory, ours_bundle) -> tuple[Path, Path]:
    """(this data set's folder with two shards, another data set's folder): local runs."""
    base = tmp_path_factory.mktemp("damage")
    run_job(ours_bundle, resolve_inputs(shards), JobOptions("evaluate"), base / "intact")
    manifest = json.loads((base / "intact" / MANIFEST).read_text())
    table = pq.read_table(base / "intact" / manifest["shards"][0])
    _write_shards(base / "intact", manifest, [table.slice(0, 100), table.slice(100)])
    run_job(ours_bundle, resolve_inputs(shards / "part-1.csv"), JobOptions("evaluate"), base / "other")
    return base / "intact", base / "other"


def _swap_in_other(other: Path) -> Damage:
    def swap(folder: Path, manifest: dict[str, Any]) -> None:
        theirs = json.loads((other / MANIFEST).read_text())
        shutil.copy(other / theirs["shards"][0], folder / manifest["shards"][1])
    return swap


def _loop_second(folder: Path, manifest: dict[str, Any]) -> None:
    """The second shard replaced by a symlink to itself: resolving it raised RuntimeError, a traceback."""
    (folder / manifest["shards"][1]).unlink()
    (folder / manifest["shards"][1]).symlink_to(folder / manifest["shards"][1])


DAMAGE: dict[str, Damage | None] = {
    "shard unlisted, file kept": _drop_second,
    "shard unlisted and deleted": _delete_second,
    "shard rewritten with half its rows": _halve_second,
    "shard listed twice": _list_first_twice,
    "shard copied and listed": _copy_first_and_list_it,
    "shard of another data set": None,
    "row ids renumbered": _renumber_second,  # needs the other run: _swap_in_other
    "rows edited": _edit_rows,
    "input_hash edited": _edit(input_hash="0" * 64),
    "kind edited": _edit(kind="map"),
    "label_names reversed": _reverse_labels,
    "beacon_threshold edited": _edit_tau,
    "shard a symlink loop": _loop_second,
}
RESIGNED = ("shard unlisted, file kept", "shard unlisted and deleted", "shard listed twice", "shard copied and listed",
            "row ids renumbered", "rows edited", "input_hash edited", "kind edited", "beacon_threshold edited")


@pytest.mark.parametrize(
    ("name", "resign"), [(name, False) for name in DAMAGE] + [(name, True) for name in RESIGNED]
)
def test_damage_is_refused_on_open_and_on_rerun(name, resign, two_runs, shards, tmp_path, ours_bundle):
    intact, other = two_runs
    out = tmp_path / "out"
    shutil.copytree(intact, out)
    manifest = json.loads((out / MANIFEST).read_text())
    (DAMAGE[name] or _swap_in_other(other))(out, manifest)
    _save(out, manifest, resign)
    for attempt in (lambda: open_results(out), lambda: run_job(ours_bundle, resolve_inputs(shards),
                                                               JobOptions("evaluate"), out)):
        with pytest.raises(ResultsError) as refused:
            attempt()
        message = str(refused.value)
        assert "is damaged" in message or "missing" in message, message
        assert f"remove {out} (or give another --out)" in message and "\n" not in message


def test_the_intact_two_shard_folder_opens_and_is_reused(two_runs, shards, ours_bundle):
    intact, _ = two_runs
    results = open_results(intact)
    assert len(results.manifest.shards) == 2 and len(results.labelled_data()) == results.manifest.rows == 180
    assert run_job(ours_bundle, resolve_inputs(shards), JobOptions("evaluate"), intact)[1]


def test_a_shard_changed_after_opening_is_not_read_with_the_wrong_rows(two_runs, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(two_runs[0], out)
    results = open_results(out)
    _halve_second(out, json.loads((out / MANIFEST).read_text()))
    read = r"\(1[0-9]{2} used rows read, the manifest says 180\)"
    with pytest.raises(ResultsError, match=f"{out / ROWS} is damaged {read}: remove {out}"):
        results.labelled_data()


def test_a_shard_copied_over_with_its_old_times_is_hashed_again(tmp_path):
    """Shards are hashed once per process while unchanged (a map run's are large); a file replaced with the same
    size and modification time (shutil.copy2 keeps the source's) must still be hashed afresh."""
    import os
    import shutil

    from explainer.scale.manifest import file_sha256

    shard, other = tmp_path / "a.parquet", tmp_path / "b.parquet"
    shard.write_bytes(b"x" * 100)
    other.write_bytes(b"y" * 100)
    times = os.stat(shard)
    os.utime(other, ns=(times.st_atime_ns, times.st_mtime_ns))
    before = file_sha256(shard)
    shutil.copy2(other, shard)
    assert os.stat(shard).st_mtime_ns == times.st_mtime_ns and os.stat(shard).st_size == 100
    assert file_sha256(shard) != before


def test_a_bad_tau_is_refused_before_a_folder_is_claimed_and_a_numpy_one_is_a_number(shards, tmp_path, ours_bundle):
    """tau 1.5 failed every row in the workers after the folder was claimed; np.float32(0.25) was a TypeError of
    json.dumps writing the manifest."""
    import numpy as np

    from explainer.capture.validation import InputError

    inputs = resolve_inputs(shards)
    for bad in (JobOptions("evaluate", beacon_threshold=1.5), JobOptions("sweep", taus=(0.0, float("nan")))):
        with pytest.raises(InputError, match="beacon threshold must be a number from 0 to 1"):
            run_job(ours_bundle, inputs, bad, tmp_path / "bad")
        assert not (tmp_path / "bad").exists()
    manifest, reused = run_job(ours_bundle, inputs, JobOptions("evaluate", beacon_threshold=np.float32(0.25)),
                               tmp_path / "numpy")
    assert not reused and manifest.rows > 0
    assert run_job(ours_bundle, inputs, JobOptions("evaluate", beacon_threshold=0.25), tmp_path / "numpy")[1]


def test_naming_the_columns_a_run_found_itself_reuses_its_results(shards, tmp_path, ours_bundle):
    """`--text-column text` on a folder whose run found "text" itself was "another run (text_column None there,
    'text' now)": the same rows read, so the same results. Other columns are still another run."""
    out = tmp_path / "out"
    inputs = resolve_inputs(shards)
    first, reused = run_job(ours_bundle, inputs, JobOptions("evaluate"), out)
    assert not reused
    for named in (JobOptions("evaluate", text_column="text"), JobOptions("evaluate", label_column="label"),
                  JobOptions("evaluate", text_column="text", label_column="label")):
        again, reused = run_job(ours_bundle, inputs, named, out)
        assert reused and again.run_key == first.run_key
    with pytest.raises(ResultsError, match="text_column None there, 'capability' now"):
        run_job(ours_bundle, inputs, JobOptions("evaluate", text_column="capability"), out)
    # and the other way round: a run that named its columns is reused by one that leaves them to be found
    named_out = tmp_path / "named"
    run_job(ours_bundle, inputs, JobOptions("evaluate", text_column="text", label_column="label"), named_out)
    assert run_job(ours_bundle, inputs, JobOptions("evaluate"), named_out)[1]
    other_out = tmp_path / "other"  # a run that read another column as its texts is not one that finds "text"
    run_job(ours_bundle, inputs, JobOptions("evaluate", text_column="capability"), other_out)
    with pytest.raises(ResultsError, match="text_column 'capability' there, None now"):
        run_job(ours_bundle, inputs, JobOptions("evaluate"), other_out)
