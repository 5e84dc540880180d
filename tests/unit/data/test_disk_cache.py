"""The on-disk result cache: keys, misses, damaged files, and invalidation when a checkpoint changes."""

from __future__ import annotations

import json
import os

from explainer.data import disk_cache


def test_store_load_and_miss(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    assert disk_cache.load("ns", "a", 1) is None
    disk_cache.store("ns", {"x": [1, 2]}, "a", 1)
    assert disk_cache.load("ns", "a", 1) == {"x": [1, 2]}
    assert disk_cache.load("ns", "a", 2) is None  # another key
    calls = []
    value, hit = disk_cache.cached("ns", ("b",), lambda: calls.append(1) or {"y": 3})
    assert (value, hit, calls) == ({"y": 3}, False, [1])
    value, hit = disk_cache.cached("ns", ("b",), lambda: calls.append(1) or {"y": 4})
    assert (value, hit, calls) == ({"y": 3}, True, [1])


def test_a_cache_that_cannot_be_written_keeps_nothing_and_says_so_once(tmp_path, monkeypatch, caplog):
    # EXPLAINER_CACHE naming a file: evaluate computed every prediction, then ended in a NotADirectoryError
    import logging

    (tmp_path / "a-file").write_text("x")
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "a-file"))
    monkeypatch.setattr(disk_cache, "_unwritable_said", set())
    with caplog.at_level(logging.WARNING, logger=disk_cache.__name__):
        value, hit = disk_cache.cached("ns", ("b",), lambda: {"y": 3})
        disk_cache.store("ns", [1], "k")
    assert (value, hit) == ({"y": 3}, False) and disk_cache.load("ns", "b") is None
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 1 and "a-file cannot be written (Not a directory)" in said[0]


def test_damaged_file_is_a_miss(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    path = disk_cache.store("ns", [1], "k")
    path.write_text("{not json", encoding="utf-8")
    assert disk_cache.load("ns", "k") is None
    assert not list(path.parent.glob("*.tmp"))


def test_fingerprint_follows_the_checkpoint_as_loaded(tmp_path, checkpoint):
    import shutil

    from explainer import load_model

    folder = shutil.copytree(checkpoint("bert"), tmp_path / "model")

    loaded = load_model(str(folder))
    first = disk_cache.model_fingerprint(loaded)
    assert first == disk_cache.model_fingerprint(loaded) == disk_cache.model_fingerprint(load_model(str(folder)))
    weights = folder / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    # The model in memory is still the one loaded: its results keep their key, not the new file's.
    assert disk_cache.model_fingerprint(loaded) == first
    reloaded = load_model(str(folder))
    assert disk_cache.model_fingerprint(reloaded) != first
    # The tokenizer is part of the checkpoint too: another vocabulary gives other predictions.
    tokenizer_file = folder / "tokenizer.json"
    assert tokenizer_file.is_file()
    tokenizer_file.write_text(tokenizer_file.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert disk_cache.model_fingerprint(load_model(str(folder))) != disk_cache.model_fingerprint(reloaded)


def test_weights_of_one_size_put_in_place_under_the_old_time_get_a_new_fingerprint(tmp_path, checkpoint, tokenizer):
    """Another fine-tune of the same architecture copied over the weights with `cp -p` (same size, same time): the
    stamp of paths, sizes and times stayed, and its predictions and map were read from the cache as the old ones."""
    import shutil

    from explainer import load_model
    from tests.conftest import build_model, rewrite_under_old_times, save_checkpoint

    folder = shutil.copytree(checkpoint("bert"), tmp_path / "model")
    other = save_checkpoint(build_model("bert", seed=7), tokenizer, tmp_path / "other") / "model.safetensors"
    weights = folder / "model.safetensors"
    assert other.stat().st_size == weights.stat().st_size and other.read_bytes() != weights.read_bytes()
    first = disk_cache.model_fingerprint(load_model(str(folder)))
    before = weights.stat()
    rewrite_under_old_times(weights, other.read_bytes())
    assert (weights.stat().st_size, weights.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert disk_cache.model_fingerprint(load_model(str(folder))) != first


def test_the_sampled_digest_reads_a_large_file_in_blocks_and_follows_its_bytes(tmp_path):
    import hashlib

    from tests.conftest import rewrite_under_old_times

    small, large = tmp_path / "small", tmp_path / "large"
    small.write_bytes(b"x" * 1000)
    assert disk_cache.sampled_digest(small, small.stat()) == hashlib.sha256(b"x" * 1000).hexdigest()[:16]
    data = bytearray(os.urandom(disk_cache.SAMPLE_BLOCK * disk_cache.SAMPLE_BLOCKS * 3))
    large.write_bytes(data)
    first = disk_cache.sampled_digest(large, large.stat())
    data[-1] ^= 0xFF  # the last byte is in the last block
    rewrite_under_old_times(large, bytes(data))  # its change time moves: read again
    assert disk_cache.sampled_digest(large, large.stat()) != first


def test_a_safetensors_file_whose_small_tensors_alone_changed_gets_another_digest(tmp_path):
    """A fine-tune of the biases or the head alone (BitFit, a new classifier) changed no block spread over the
    file: put in place under the old time, its results were read from the cache as the old weights'."""
    import torch
    from safetensors.torch import save_file

    from tests.conftest import rewrite_under_old_times

    generator = torch.Generator().manual_seed(0)
    tensors = {f"layer{i}.weight": torch.randn(512, 512, generator=generator) for i in range(4)}  # 4 MiB
    tensors |= {f"layer{i}.bias": torch.randn(512, generator=generator) for i in range(4)}
    weights = tmp_path / "model.safetensors"
    save_file(tensors, weights)
    first = disk_cache.sampled_digest(weights, weights.stat())
    staged = tmp_path / "staged.safetensors"
    save_file({**tensors, "layer2.bias": -tensors["layer2.bias"]}, staged)
    assert staged.stat().st_size == weights.stat().st_size
    rewrite_under_old_times(weights, staged.read_bytes())
    assert disk_cache.sampled_digest(weights, weights.stat()) != first
    weights.write_bytes(b"\xff" * (8 << 20))  # a header that does not parse: the spread blocks alone, no error
    assert disk_cache.sampled_digest(weights, weights.stat())
    # a header that parses but whose offsets are strings, backwards or past the end (a TypeError, or a read of the
    # rest of the file, escaped the digest and broke load_model's own message)
    for offsets in (["0", "10"], [11, 10], [0, 1 << 40], [0, 1, 2]):
        header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": offsets}}).encode()
        weights.write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * (4 << 20))
        assert disk_cache.sampled_digest(weights, weights.stat()), offsets


def test_a_hub_model_s_fingerprint_follows_its_revision(tmp_path, checkpoint):
    """A hub id has no folder to stamp: name and config alone gave new weights pushed under the same config the
    old predictions, maps and sweeps. The revision's commit, which the config keeps in memory, tells them apart."""
    from dataclasses import replace

    from explainer import load_model

    hub = replace(load_model(str(checkpoint("bert"))), name="org/model", folder_stamp=None)
    hub.model.config._commit_hash = "a" * 40
    first = disk_cache.model_fingerprint(hub)
    assert disk_cache.model_fingerprint(hub) == first
    hub.model.config._commit_hash = "b" * 40
    assert disk_cache.model_fingerprint(hub) != first


def test_a_size_limit_removes_the_least_recently_used_results_first(tmp_path, monkeypatch):
    """Without a limit every upload a demo visitor sent kept its predictions and vectors on disk for good."""
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    monkeypatch.setattr(disk_cache, "RECENT_S", 0.0)
    monkeypatch.setattr(disk_cache, "_LIMIT", [None])
    store = disk_cache.cache_path("embeddings", "a store").with_suffix("")
    store.mkdir(parents=True)
    (store / "readout.npy").write_bytes(b"v" * 3000)  # a folder entry: its files' bytes count
    paths = [disk_cache.store("predictions", "x" * 1000, "k", i) for i in range(4)]  # 1,002 bytes and a digest line
    entry = paths[0].stat().st_size
    mine = tmp_path / "results" / "predictions" / "notes.txt"  # not a name the cache writes: never removed
    mine.write_text("x" * 5000)
    for age, path in enumerate([*paths, store]):  # oldest first: 0, 1, 2, 3, the store
        os.utime(path, (1000 + age, 1000 + age))
    assert disk_cache.load("predictions", "k", 0) is not None  # used now: last in line
    disk_cache.limit_size(3000 + 2 * entry + 100)  # room for the store and two entries
    removed = disk_cache.prune()
    assert removed == [paths[1], paths[2]] and store.exists() and paths[0].exists() and paths[3].exists()
    assert mine.exists()
    disk_cache.store("predictions", "y" * 1000, "k", 9)  # a write prunes: the oldest goes
    assert not paths[3].exists() and store.exists() and disk_cache.load("predictions", "k", 9) is not None
    disk_cache.limit_size(None)
    disk_cache.store("predictions", "z" * 1000, "k", 10)
    assert disk_cache.prune() == [] and len(list((tmp_path / "results" / "predictions").glob("*.json"))) == 3


def test_a_result_used_a_moment_ago_is_never_removed(tmp_path, monkeypatch):
    """A page may be reading it: the limit is passed for RECENT_S seconds instead."""
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    monkeypatch.setattr(disk_cache, "_LIMIT", [10])
    path = disk_cache.store("predictions", "x" * 1000, "k")
    assert path.exists() and disk_cache.prune() == []


def test_an_entry_whose_name_a_folder_took_is_written_again_without_calling_the_cache_unwritable(
        tmp_path, monkeypatch, caplog):
    """Every later run recomputed (right) and warned 'the cache folder ... cannot be written (Is a directory)',
    though only that entry was blocked, and it was never repaired."""
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    monkeypatch.setattr(disk_cache, "_unwritable_said", set())
    disk_cache.store("tau_sweep", {"points": [1]}, "key")
    entry = disk_cache.cache_path("tau_sweep", "key")
    entry.unlink()
    (entry / "inside").mkdir(parents=True)
    assert disk_cache.load("tau_sweep", "key") is None  # a miss
    disk_cache.store("tau_sweep", {"points": [2]}, "key")
    assert disk_cache.load("tau_sweep", "key") == {"points": [2]} and "cannot be written" not in caplog.text


def test_entries_get_the_mode_open_gives_and_prune_removes_a_killed_runs_partial_store(tmp_path, monkeypatch):
    # keep_file's entries were 0600 (tempfile's): a cache shared by a server and an operator's CLI missed every
    # entry of the other user; a map killed mid-pass left <key>.partial-<pid> that the size limit never removed
    import socket
    import stat
    import subprocess
    import sys

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    monkeypatch.setattr(disk_cache, "_LIMIT", [None])
    umask = os.umask(0o027)  # not the usual 0o022: the mode follows the process's umask
    try:
        path = disk_cache.store("predictions", [1, 2], "k")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    store = disk_cache.cache_path("embeddings", "a store").with_suffix("")
    gone = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)
    here = socket.gethostname()
    dead, live, elsewhere, odd = (store.with_name(f"{store.name}.partial-{name}") for name in (
        f"{here}-{gone}", f"{here}-{os.getppid()}", f"another-host-{gone}", f"{here}-99999999999999999999"))
    tokened = store.with_name(f"{store.name}.partial-{here}-{gone}.0a1b2c3d")  # as partial_folder names it
    for partial in (dead, live, elsewhere, odd, tokened):
        partial.mkdir(parents=True)
        (partial / "mean.npy").write_bytes(b"v" * 100)
    disk_cache.limit_size(10**9)
    assert disk_cache.prune() == [] and not dead.exists() and live.exists() and path.exists()
    assert not tokened.exists()  # the token after the process id does not hide a killed run's folder
    assert elsewhere.exists() and odd.exists()  # another host's process cannot be looked up here
    for old in (elsewhere, elsewhere / "mean.npy"):  # untouched for two days: abandoned, whoever wrote it
        os.utime(old, (1_000_000, 1_000_000))
    disk_cache.prune()
    assert not elsewhere.exists() and odd.exists()
    disk_cache.limit_size(None)


def test_write_whole_writes_through_a_link_keeps_a_replaced_files_mode_and_replaces_none_past_a_folder(tmp_path):
    import stat

    import pytest

    from explainer.data.folders import write_whole

    real, link = tmp_path / "real.html", tmp_path / "link.html"
    real.write_text("old")
    real.chmod(0o600)
    link.symlink_to(real)
    write_whole({link: lambda out: out.write(b"new")})
    assert link.is_symlink() and real.read_text() == "new" and stat.S_IMODE(real.stat().st_mode) == 0o600
    (tmp_path / "in-the-way").mkdir()
    with pytest.raises(IsADirectoryError):
        write_whole({real: lambda out: out.write(b"newer"), tmp_path / "in-the-way": lambda out: out.write(b"x")})
    assert real.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["in-the-way", "link.html",
                                                                                         "real.html"]
    with pytest.raises(ValueError, match="are one file"):
        write_whole({link: lambda out: out.write(b"a"), real: lambda out: out.write(b"b")})
    killed, going = tmp_path / ".real.html.0a0a.partial", tmp_path / ".real.html.0b0b.partial"
    for left in (killed, going):
        left.write_bytes(b"half")
    os.utime(killed, (1_000_000, 1_000_000))  # a killed run's, long ago: removed by the next whole write
    write_whole({real: lambda out: out.write(b"newest")})
    assert not killed.exists() and going.exists() and real.read_text() == "newest"


def test_write_whole_never_replaces_a_device_pipe_or_socket(tmp_path):
    """`report --out /dev/full` exited 0 and left /dev/full a regular file (the rename replaced the device)."""
    import stat

    import pytest

    from explainer.data.folders import write_whole

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(OSError, match="not a regular file"):
        write_whole({pipe: lambda out: out.write(b"report")})
    assert stat.S_ISFIFO(pipe.lstat().st_mode) and [p.name for p in tmp_path.iterdir()] == ["pipe"]
