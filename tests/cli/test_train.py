"""`python -m explainer train`: writes a loadable model with its card and metrics, refuses bad settings up front."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from explainer import load_model
from explainer.cli.train import main as train_main
from explainer.evaluation.predict import evaluate
from tests.unit.training.test_loop import TINY, fixed_tokenizer, toy_data


def tiny_inputs(folder: Path) -> None:
    """train.tsv, dev.tsv and a tokenizer folder in `folder`: what a tiny training run reads."""
    for name, seed, n in (("train.tsv", 1, 64), ("dev.tsv", 2, 32)):
        texts, labels = toy_data(n, seed)
        (folder / name).write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in zip(texts, labels)))
    fixed_tokenizer().save_pretrained(folder / "tokenizer")


def tiny_run(inputs: Path, out: str, arch: str) -> list[str]:
    """train's arguments for one epoch of a tiny model on tiny_inputs(inputs) into `out`."""
    args = ["--data", str(inputs / "train.tsv"), "--eval", str(inputs / "dev.tsv"), "--out", out, "--arch", arch,
            "--epochs", "1", "--tokenizer", str(inputs / "tokenizer")]
    for key, value in TINY.items():
        args += ["--" + key.replace("_", "-"), str(value)]
    return args


def model_before(folder: Path) -> tuple[Path, dict[str, str]]:
    """A model folder `folder`/model of the kind train writes (its files' text), for a run to replace."""
    out = folder / "model"
    out.mkdir()
    before = {"config.json": '{"model_type": "thought_beacon", "before": true}', "model.safetensors": "old weights"}
    for name, text in before.items():
        (out / name).write_text(text)
    return out, before


def test_train_cli_writes_model_metrics_and_card(tmp_path):
    for name, seed, n in (("train.tsv", 1, 320), ("dev.tsv", 2, 64)):
        texts, labels = toy_data(n, seed)
        (tmp_path / name).write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in zip(texts, labels)))
    out = tmp_path / "model"
    fixed_tokenizer().save_pretrained(tmp_path / "tokenizer")
    args = ["--data", str(tmp_path / "train.tsv"), "--eval", str(tmp_path / "dev.tsv"), "--out", str(out),
            "--arch", "thought-beacon", "--epochs", "3", "--tokenizer", str(tmp_path / "tokenizer")]
    for key, value in TINY.items():
        args += ["--" + key.replace("_", "-"), str(value)]
    out.mkdir()  # a retrofit's folder was here: its adapter must not be read back beside the new weights
    (out / "config.json").write_text('{"model_type": "thought_beacon"}')
    (out / "adapter.safetensors").write_bytes(b"stale")
    (out / "metrics.json").write_text('{"stale": true}')
    (out / "notes.txt").write_text("mine")
    train_main(args)
    assert not (out / "adapter.safetensors").exists() and (out / "notes.txt").read_text() == "mine"
    metrics = json.loads((out / "metrics.json").read_text())
    card = (out / "README.md").read_text()
    assert metrics["dev"]["n"] == 64
    assert f"| accuracy | {metrics['dev']['accuracy']:.4f} |" in card
    assert f"| skip rate (MLP evaluations skipped) | {100 * metrics['dev']['skip_rate']:.1f}% |" in card
    assert set(metrics["challenge"]) >= {"negation", "contrast", "typo"}
    assert "Activation Beacon" in card and "unrelated" in card
    # the card names the tokenizer the model has: the one reused, with its size, not one trained on the text
    assert metrics["training"]["vocabulary"] == len(fixed_tokenizer()) and "| vocab_size |" not in card
    assert f"Tokenizer: reused from `tokenizer` (`--tokenizer`), {len(fixed_tokenizer())} ids" in card
    bundle = load_model(out)
    assert bundle.tokenizer.get_vocab() == fixed_tokenizer().get_vocab()  # --tokenizer was reused as given
    assert bundle.max_length == TINY["max_length"]  # the model reads what it was trained on, no more
    assert bundle.model.config.beacon_threshold == metrics["beacon_threshold"]
    assert bundle.label_names == ("negative", "positive")
    # The card's figures are the saved model's: re-run it on the dev file (toy_data's labels are 0/1 in that order).
    dev = evaluate(bundle, *toy_data(64, 2))
    assert metrics["dev"]["accuracy"] == pytest.approx(dev["accuracy"], abs=1e-9)
    assert metrics["dev"]["skip_rate"] == pytest.approx(dev["skip_rate"], abs=1e-9)


@pytest.mark.parametrize(
    "extra, complaint",
    [(["--batch-size", "0"], "--batch-size must be at least 1"), (["--epochs", "0"], "--epochs must be at least 1"),
     (["--evals-per-epoch", "0"], "--evals-per-epoch must be at least 1"),
     (["--learning-rate", "-1"], "--learning-rate must be a positive number"),
     (["--hidden-size", "16", "--num-heads", "3"], "--hidden-size 16 must be a multiple of --num-heads 3"),
     (["--min-skip-rate", "2"], "from 0 to 1"),
     (["--arch", "baseline", "--min-skip-rate", "0.5"], "--arch baseline has no beacons"),
     (["--seed", "-1"], "--seed must be from 0"), (["--seed", str(2**32)], "--seed must be from 0"),
     (["--threads", "99999999999999999999"], "--threads: must be at most 256"),  # torch's overflow traceback
     (["--vocab-size", "1000000000000"], "--vocab-size must be at most 1,000,000"),  # the trainer's abort, rc 134
     (["--out-is-a-file"], "is a file"), (["--one-label"], "has only the label 'positive' in the rows trained on"),
     (["--one-label-dev"], "has only the label 'positive': the dev file picks the checkpoint"),
     (["--max-length", "2"], "--max-length must be at least 3"),  # nothing cut, while the model said it read 2
     (["--max-steps", "-1"], "--max-steps must be zero or more, not -1"),  # said "max_steps and num_markers ..."
     (["--backbone", "base", "--tokenizer", "tok"], "--tokenizer is for training from scratch"),  # recorded, unused
     (["--lora-rank", "99"], "--lora-rank is for a --backbone retrofit"),  # listed on the card, unused
     (["--backbone-sha256", "ab", "--lora-alpha", "2"], "--backbone-sha256 and --lora-alpha are for a --backbone")],
)
def test_train_cli_refuses_bad_settings_before_any_work(tmp_path, capsys, extra, complaint):
    (tmp_path / "train.tsv").write_text("sentence\tlabel\ngood\t1\n")
    out = tmp_path / "model"
    if extra == ["--out-is-a-file"]:
        out.write_text("a file")
        extra = []
    if extra == ["--one-label"]:
        (tmp_path / "train.tsv").write_text("sentence\tlabel\ngood\t1\nfine\t1\n")
        extra = []
    dev = tmp_path / "train.tsv"
    if extra == ["--one-label-dev"]:
        (tmp_path / "train.tsv").write_text("sentence\tlabel\ngood\t1\nbad\t0\n")
        (dev := tmp_path / "dev.tsv").write_text("sentence\tlabel\ngood\t1\nfine\t1\n")
        extra = []
    with pytest.raises(SystemExit) as exit_info:
        train_main(["--data", str(tmp_path / "train.tsv"), "--eval", str(dev), "--out", str(out), *extra])
    assert exit_info.value.code == 2 and complaint in capsys.readouterr().err
    assert not out.is_dir()  # nothing was created


def test_a_folder_as_data_is_refused_without_other_commands_advice(tmp_path, capsys):
    """It said "evaluate, map and markers read a folder of shards ... --out DIR", which train does not."""
    with pytest.raises(SystemExit) as exit_info:
        train_main(["--data", str(tmp_path), "--eval", str(tmp_path), "--out", str(tmp_path / "model")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "is a folder: give the path of a CSV" in err and "evaluate" not in err


@pytest.mark.parametrize(
    "extra, complaint",
    [(["--tokenizer", "no-such-folder"], "--tokenizer no-such-folder: no tokenizer could be read there"),
     (["--tokenizer", "."], "--tokenizer .: no tokenizer could be read there (none of tokenizer.json, vocab.txt"),
     (["--max-length", "513"], "--max-length 513 is more than the model can read: it has 512 positions"),
     (["--backbone", "no-such-folder"], "Base model 'no-such-folder' not found: not a local folder"),
     (["--device", "cuda:7"], "--device cuda:7: not a device this machine has"),  # emptied --out, then failed
     (["--device", "foo"], "--device foo: not a device this machine has (no device type of that name: use cpu,"),
     (["--device", "meta"], "--device meta: not a device this machine has"),  # holds no numbers: failed later
     (["--device", "mps"], "--device mps: not a device this machine has"),  # torch's error: 55 lines, cut to 1
     # a tokenizer_config.json alone: every word [UNK], trained to the end, then refused as it was loaded back
     (["--tokenizer", "config-only"], "--tokenizer config-only: its tokenizer has no words beyond its special tokens"),
     # "No SHA-256 recorded ... cannot verify its weights" named no option; a mistyped digest blamed the base
     (["--backbone", "bare-base"], "bare-base/model.safetensors with --backbone-sha256: a base is used only once"),
     (["--backbone", "bare-base", "--backbone-sha256", "ab" * 32], f"--backbone-sha256 {'ab' * 32} is not the SHA")],
)
def test_a_run_that_cannot_start_leaves_the_model_in_out_alone(tmp_path, capsys, extra, complaint, monkeypatch):
    """These once emptied --out first, then ended in a traceback."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.tsv").write_text("sentence\tlabel\ngood\t1\nbad\t0\n")
    (tmp_path / "config-only").mkdir()
    (tmp_path / "config-only" / "tokenizer_config.json").write_text('{"tokenizer_class": "BertTokenizerFast"}')
    (tmp_path / "bare-base").mkdir()
    (tmp_path / "bare-base" / "model.safetensors").write_bytes(b"weights")
    out = tmp_path / "model"
    out.mkdir()
    for name in ("config.json", "model.safetensors", "metrics.json", "README.md"):
        (out / name).write_text("the model trained before")
    with pytest.raises(SystemExit) as exit_info:
        train_main(["--data", "train.tsv", "--eval", "train.tsv", "--out", str(out), *extra])
    err = capsys.readouterr().err
    assert exit_info.value.code != 0 and complaint in err and len(err.strip().splitlines()) == 1, err
    assert all((out / name).read_text() == "the model trained before"
               for name in ("config.json", "model.safetensors", "metrics.json", "README.md"))


@pytest.mark.parametrize("files", [{"config.json": '{"my_app_setting": 1}', "notes.txt": "mine"},
                                   {"README.md": "# my notes"}, {"tokenizer.json": '{"my": "precious tokenizer"}'},
                                   {"config.json": '{"model_type": "bert"}', "model.safetensors": "a download"}])
def test_a_folder_holding_no_model_is_not_written_over(tmp_path, capsys, files):
    """A config.json of the user's was removed as a model's, and a README.md overwritten by the card."""
    (tmp_path / "train.tsv").write_text("sentence\tlabel\ngood\t1\nbad\t0\n")
    out = tmp_path / "mine"
    out.mkdir()
    for name, text in files.items():
        (out / name).write_text(text)
    with pytest.raises(SystemExit):
        train_main(["--data", str(tmp_path / "train.tsv"), "--eval", str(tmp_path / "train.tsv"), "--out", str(out)])
    assert "choose another folder" in capsys.readouterr().err
    assert {p.name: p.read_text() for p in out.iterdir()} == files


def test_a_run_that_fails_after_training_leaves_the_model_before_it(tmp_path, monkeypatch):
    """The checkpoint was saved straight into --out: a run killed or failing midway left a half-trained model
    (no tau chosen, no card) that loaded as finished, in place of the model there before."""
    import explainer.training.finalize as finalize

    tiny_inputs(tmp_path)
    out, before = model_before(tmp_path)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(finalize, "finalize", killed)
    args = tiny_run(tmp_path, str(out), "thought-beacon")
    with pytest.raises(KeyboardInterrupt):
        train_main(args)
    assert {p.name: p.read_text() for p in out.iterdir()} == before  # and no stage left in it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev.tsv", "model", "tokenizer", "train.tsv"]


def test_out_as_the_current_folder_is_named_by_that_folder(tmp_path, monkeypatch):
    """'--out .' has no name of its own: the card is titled by the folder's, not the stage's. The stage sits
    inside --out (one file system, so the finished files are renamed in: a sibling failed on a mount point)."""
    tiny_inputs(tmp_path)
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    args = tiny_run(Path(".."), ".", "baseline")
    train_main(args)
    assert load_model(tmp_path / "here").label_names == ("negative", "positive")
    assert not [p.name for p in (tmp_path / "here").iterdir() if p.name.startswith(".")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev.tsv", "here", "tokenizer", "train.tsv"]
    assert (tmp_path / "here" / "README.md").read_text().startswith("# here")
    with pytest.raises(SystemExit):  # the tokenizer's own folder as --out: it would be replaced
        train_main([*args[:4], "--out", "../tokenizer", *args[6:]])


def test_a_finished_model_that_cannot_be_moved_in_is_kept_and_named(tmp_path, monkeypatch, capsys):
    """The old model was removed first and the stage deleted on failure: a failed move lost both models."""
    import os

    import explainer.training.finalize as finalize

    tiny_inputs(tmp_path)
    out, before = model_before(tmp_path)

    replace = os.replace

    def cross_device(source, target):  # a move out of the stage; a file written in place there is renamed as ever
        if Path(source).parent != Path(target).parent:
            raise OSError(18, "Invalid cross-device link")
        replace(source, target)

    monkeypatch.setattr(finalize.os, "replace", cross_device)
    args = tiny_run(tmp_path, str(out), "baseline")
    with pytest.raises(SystemExit):
        train_main(args)
    assert "cannot move the trained model from" in capsys.readouterr().err
    assert {name: (out / name).read_text() for name in before} == before
    monkeypatch.setattr(finalize.os, "replace", os.replace)
    assert load_model(out / ".training").label_names == ("negative", "positive")  # the new one, complete
    weights = (out / ".training" / "model.safetensors").read_bytes()
    with pytest.raises(SystemExit):  # the next run removed it unsaid, though the message had pointed to it
        train_main(args)
    assert "holds a trained model an earlier run could not move into --out" in capsys.readouterr().err
    assert (out / ".training" / "model.safetensors").read_bytes() == weights


def test_the_base_model_s_folder_is_never_trained_into(tmp_path, capsys):
    """--backbone names the base (all-MiniLM-L6-v2), whose folder is found elsewhere: as --out it is refused
    before any work, and left as it was."""
    from explainer.loading import backbone as backbones

    base = backbones.resolve("sentence-transformers/all-MiniLM-L6-v2")
    files = {path.name: path.stat().st_mtime_ns for path in base.iterdir()}
    tiny_inputs(tmp_path)
    with pytest.raises(SystemExit):
        train_main(["--data", str(tmp_path / "train.tsv"), "--eval", str(tmp_path / "dev.tsv"), "--out", str(base),
                    "--backbone", "sentence-transformers/all-MiniLM-L6-v2", "--arch", "thought-beacon"])
    assert "choose another" in capsys.readouterr().err
    assert {path.name: path.stat().st_mtime_ns for path in base.iterdir()} == files


def test_a_move_that_fails_midway_leaves_the_old_model_whole(tmp_path, monkeypatch, capsys):
    """Each new file was renamed over its old self: a rename failing midway left the new config beside the old
    weights (a model that loads as neither). Now every file moves back: the old model in --out, the new in the
    stage."""
    import os

    import explainer.training.finalize as finalize

    tiny_inputs(tmp_path)
    out, before = model_before(tmp_path)
    replace = os.replace

    def weights_stuck(source, target):
        if Path(source).parent.name == ".training" and Path(source).name == "model.safetensors":
            raise OSError(1, "Operation not permitted")
        replace(source, target)

    monkeypatch.setattr(finalize.os, "replace", weights_stuck)
    with pytest.raises(SystemExit):
        train_main(tiny_run(tmp_path, str(out), "baseline"))
    assert "Operation not permitted; the trained model is in" in capsys.readouterr().err
    assert {p.name: p.read_text() for p in out.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [".training"]
    monkeypatch.setattr(finalize.os, "replace", replace)
    assert load_model(out / ".training").label_names == ("negative", "positive")


def test_the_trained_files_get_the_umask_s_modes(tmp_path, capsys):
    """safetensors writes its weights 0600: a model trained for others to read was readable by its owner only."""
    tiny_inputs(tmp_path)
    out = tmp_path / "model"
    train_main(tiny_run(tmp_path, str(out), "baseline") + ["--limit", "48"])
    assert "`train.tsv` (the first 48 of its 64 texts, --limit)" in (out / "README.md").read_text()  # "(48 texts)"
    said = capsys.readouterr().out.splitlines()  # plain lines on stdout, as the README says (a dict on stderr)
    assert said[0] == f"wrote {out}: {', '.join(sorted(p.name for p in out.iterdir()))}"
    assert said[1].startswith("dev: accuracy ") and said[1].endswith(" (32 rows)") and len(said) == 2
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
    umask = os.umask(0o022)
    os.umask(umask)
    assert modes["model.safetensors"] == 0o666 & ~umask and set(modes.values()) == {0o666 & ~umask}, modes


@pytest.mark.slow
def test_a_run_stopped_with_sigterm_cleans_up_as_ctrl_c_does(tmp_path):
    """`kill` (SIGTERM) ended Python at once: the stage folder was left inside --out."""
    import signal
    import subprocess
    import sys
    import time

    tiny_inputs(tmp_path)
    out, before = model_before(tmp_path)
    args = tiny_run(tmp_path, str(out), "baseline")
    args[args.index("--epochs") + 1] = "50"  # long enough to be stopped while training
    run = subprocess.Popen([sys.executable, "-m", "explainer", "train", *args], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / ".training").exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 128 + signal.SIGTERM and err.rstrip().endswith("terminated"), err
    assert {p.name: p.read_text() for p in out.iterdir()} == before  # no stage left, the old model as it was


def test_a_diverged_run_is_refused_not_shipped(tmp_path, capsys):
    """--learning-rate 1e10: every weight NaN, yet saved as a finished model (exit 0) over the one before, its card
    quoting an accuracy and its metrics.json holding bare NaN. Into a new folder, none is left behind."""
    tiny_inputs(tmp_path)
    out, before = model_before(tmp_path)
    args = tiny_run(tmp_path, str(out), "thought-beacon") + ["--learning-rate", "1e10"]
    with pytest.raises(SystemExit) as exit_info:
        train_main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "training diverged at step" in err and "lower --learning-rate" in err, err
    assert f"the model in {out} is unchanged" in err
    assert {p.name: p.read_text() for p in out.iterdir()} == before  # no stage left either
    new = tmp_path / "new"
    with pytest.raises(SystemExit):
        train_main(tiny_run(tmp_path, str(new), "baseline") + ["--learning-rate", "1e10"])
    assert not new.exists()  # no empty folder where none was
    with pytest.raises(SystemExit):  # nor the parents --out needed: new/a/ was left behind
        train_main(tiny_run(tmp_path, str(new / "a" / "b"), "baseline") + ["--learning-rate", "1e10"])
    assert not new.exists()


@pytest.mark.parametrize("kind", ["link", "file"])
@pytest.mark.parametrize("name", [".training", ".replaced"])
def test_a_working_folders_name_held_by_a_link_or_file_is_refused_and_nothing_moves(tmp_path, capsys, kind, name):
    """--out/.training a link to another folder: training went through the link, and all that folder held was
    moved into --out."""
    tiny_inputs(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "sub").mkdir(parents=True)
    (elsewhere / "notes.txt").write_text("mine")
    out = tmp_path / "out"
    out.mkdir()
    if kind == "link":
        (out / name).symlink_to(elsewhere)
    else:
        (out / name).write_text("a file")
    with pytest.raises(SystemExit) as exit_info:
        train_main(tiny_run(tmp_path, str(out), "baseline"))
    err = capsys.readouterr().err
    said = "a link" if kind == "link" else "a file"
    assert exit_info.value.code == 2 and f"holds {name}, the name of a run's working folder, as {said}" in err, err
    assert sorted(p.name for p in elsewhere.iterdir()) == ["notes.txt", "sub"] and sorted(os.listdir(out)) == [name]


def test_a_model_too_big_for_memory_is_one_line(tmp_path, capsys, monkeypatch):
    """--hidden-size 1099511627776: torch's "can't allocate memory" traceback, exit 1."""
    import explainer.cli.train as train_cli

    tiny_inputs(tmp_path)

    def too_big(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 4398046511104 bytes. Error code 12 (Cannot allocate memory)")

    monkeypatch.setattr(train_cli, "_train_into", too_big)
    out = tmp_path / "new" / "model"
    with pytest.raises(SystemExit) as exit_info:
        train_main(tiny_run(tmp_path, str(out), "baseline"))
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.splitlines()[-1].startswith("error: the model does not fit in memory")
    assert "Traceback" not in err and not (tmp_path / "new").exists()


def test_a_second_run_into_the_same_folder_is_refused(tmp_path, capsys):
    """The second run removed the first's stage: the first trained to its end, then failed in a traceback."""
    import subprocess
    import sys

    tiny_inputs(tmp_path)
    out, before = model_before(tmp_path)
    (out / ".training").mkdir()
    first = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # a live process's claim
    try:
        (out / ".training" / "owner.json").write_text(json.dumps({"host": __import__("socket").gethostname(),
                                                                  "pid": first.pid}))
        with pytest.raises(SystemExit):
            train_main(tiny_run(tmp_path, str(out), "baseline"))
        assert f"another run (process {first.pid}) is training into --out {out}" in capsys.readouterr().err
        assert (out / ".training" / "owner.json").is_file()  # its stage left alone
    finally:
        first.kill()
        first.wait()
    train_main(tiny_run(tmp_path, str(out), "baseline"))  # that run has ended: its leftover stage is cleared
    assert json.loads((out / "config.json").read_text())["model_type"] == "thought_beacon"
    assert not (out / ".training").exists() and not (out / "owner.json").exists()


def test_a_relative_backbone_folder_is_recorded_as_absolute(tmp_path, monkeypatch):
    """`--backbone bb` was written into the model's config as "bb": it loaded only from the training folder."""
    from explainer.cli.train import parse_args

    monkeypatch.chdir(tmp_path)
    (tmp_path / "bb").mkdir()
    _, settings = parse_args(["--data", "t.tsv", "--eval", "d.tsv", "--out", "m", "--backbone", "bb"])
    assert settings.backbone == str(tmp_path.resolve() / "bb")
    _, settings = parse_args(["--data", "t.tsv", "--eval", "d.tsv", "--out", "m", "--backbone", "org/name"])
    assert settings.backbone == "org/name"  # a hub id stays one
    minilm = "sentence-transformers/all-MiniLM-L6-v2"
    (tmp_path / minilm).mkdir(parents=True)  # a local copy at its name's path (hf download --local-dir)
    _, settings = parse_args(["--data", "t.tsv", "--eval", "d.tsv", "--out", "m", "--backbone", minilm])
    assert settings.backbone == minilm  # a known base stays a name: its published SHA-256 is found by it


def test_the_old_model_s_files_left_by_a_killed_move_are_not_deleted(tmp_path, capsys):
    """A SIGKILL during the renames leaves the old model's files in .replaced: the next run removed that folder,
    which could hold their only copy."""
    tiny_inputs(tmp_path)
    out, before = model_before(tmp_path)
    (out / ".replaced").mkdir()
    (out / ".replaced" / "model.safetensors").write_text("the only copy")
    with pytest.raises(SystemExit):
        train_main(tiny_run(tmp_path, str(out), "baseline"))
    assert "holds files of the model that was in --out" in capsys.readouterr().err
    assert (out / ".replaced" / "model.safetensors").read_text() == "the only copy"


def test_a_base_that_is_no_bert_or_is_damaged_is_refused_in_one_line(tmp_path, capsys, checkpoint, monkeypatch):
    """--backbone of a from-scratch ThoughtBeacon (TypeError) or of truncated weights (SafetensorError) ended in a
    traceback from inside training; the model in --out stays as it was."""
    import shutil

    from explainer.loading.backbone import sha256_of

    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.tsv").write_text("sentence\tlabel\ngood\t1\nbad\t0\n")
    out, before = model_before(tmp_path)
    truncated = tmp_path / "truncated"
    shutil.copytree(checkpoint("bert"), truncated)
    (truncated / "model.safetensors").write_bytes((truncated / "model.safetensors").read_bytes()[:-1000])
    for base, said in ((checkpoint("ours"), "names a 'thought_beacon' model: a retrofit's base is a BERT encoder"),
                       (truncated, "cannot be read as safetensors")):
        with pytest.raises(SystemExit) as exit_info:
            train_main(["--data", "train.tsv", "--eval", "train.tsv", "--out", str(out), "--backbone", str(base),
                        "--backbone-sha256", sha256_of(base / "model.safetensors"), "--max-length", "16"])
        err = capsys.readouterr().err
        assert exit_info.value.code != 0 and said in err and "Traceback" not in err, err
        assert {path.name: path.read_text() for path in out.iterdir()} == before


def test_skipped_rows_are_named_by_line_as_evaluate_names_them(tmp_path, capsys):
    """'dev: skipped 2 rows, first: ((5, 'empty text'), (7, ...))': a Python tuple, where evaluate says
    'skipped line 4: empty text'."""
    tiny_inputs(tmp_path)
    with (tmp_path / "dev.tsv").open("a") as dev:
        dev.write(" \t1\ngood film\t\n")  # lines 34 and 35: an empty text, a missing label
    train_main(tiny_run(tmp_path, str(tmp_path / "model"), "baseline"))
    err = capsys.readouterr().err
    assert "dev: skipped 2 rows, first: line 34: empty text; line 35: missing label" in err, err


def test_a_file_system_without_modes_still_gets_the_model(tmp_path, monkeypatch, capsys):
    """chmod raises on vfat and some network shares: the run said the model could not be moved in (naming an empty
    stage as where it was) although every file was in place."""
    from explainer.training import finalize

    tiny_inputs(tmp_path)
    out = tmp_path / "model"

    def chmod(path, mode):
        raise PermissionError(1, "Operation not permitted", str(path))

    monkeypatch.setattr(finalize.os, "chmod", chmod)
    train_main(tiny_run(tmp_path, str(out), "baseline"))
    assert capsys.readouterr().out.startswith(f"wrote {out}: ")
    assert not (out / ".training").exists()
    assert load_model(out).label_names == ("negative", "positive")


def test_finite_weights_whose_outputs_are_not_finite_are_a_diverged_run(tmp_path, capsys):
    """--learning-rate 1e6 in one step: weights of about 1e6, all finite, and every dev output NaN. It was saved as
    finished, its card quoting accuracy 0.5 (every text read as the first label) and `trace` printing null
    probabilities."""
    tiny_inputs(tmp_path)
    out = tmp_path / "model"
    args = tiny_run(tmp_path, str(out), "thought-beacon") + ["--learning-rate", "1e6", "--batch-size", "64"]
    with pytest.raises(SystemExit) as exit_info:
        train_main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert "training diverged at step 1: the model's outputs on the dev texts are no longer finite" in err, err
    assert not out.exists()


def test_an_out_folder_that_is_a_link_loop_is_refused_in_one_line(tmp_path, capsys):
    """`--out loop` ended in resolve()'s RuntimeError "Symlink loop" traceback."""
    from explainer.cli.train import parse_args

    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(SystemExit):
        parse_args(["--data", "t.tsv", "--eval", "d.tsv", "--out", str(tmp_path / "loop")])
    assert "loop is a link that leads nowhere (Too many levels of symbolic links)" in capsys.readouterr().err


@pytest.mark.parametrize("out, complaint", [
    ("", "argument --out: is empty: give a path"),  # Path("") is ".": `--out "$OUT"`, OUT unset, wrote into the cwd
    ("m/.training", "is or lies in {m}/.training, a training run's working folder inside a model folder"),
    ("m/.replaced/x", "is or lies in {m}/.replaced, a training run's"),  # the two runs moved each other's files
    ("link/x", "is or lies in {m}/.training, a training run's"),  # a link into one
    ("claimed/.training", "is or lies in {tmp}/claimed/.training, a training run's"),  # a run's claim in it
])
def test_an_empty_out_or_one_inside_a_run_s_working_folder_is_refused(tmp_path, capsys, monkeypatch, out, complaint):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m" / ".training").mkdir(parents=True)
    (tmp_path / "m" / "config.json").write_text('{"model_type": "thought_beacon"}')
    (tmp_path / "link").symlink_to(tmp_path / "m" / ".training")
    (tmp_path / "claimed" / ".training").mkdir(parents=True)
    (tmp_path / "claimed" / ".training" / "owner.json").write_text("{}")
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(SystemExit) as exit_info:
        train_main(["--data", "t.tsv", "--eval", "d.tsv", "--out", out])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and complaint.format(m=tmp_path.resolve() / "m", tmp=tmp_path.resolve()) in err
    assert sorted(tmp_path.rglob("*")) == before


def test_a_user_s_own_folder_named_like_a_run_s_working_folder_is_no_run_s(tmp_path, monkeypatch):
    """Any ".training" in the path was refused as a run's, and "m/.training/.." (which is m) too."""
    from explainer.cli.train import parse_args

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".training" / "proj").mkdir(parents=True)
    (tmp_path / "m" / ".training").mkdir(parents=True)
    (tmp_path / "m" / "config.json").write_text('{"model_type": "thought_beacon"}')
    for out in (".training/proj/model", "m/.training/../n"):
        args, _ = parse_args(["--data", "t.tsv", "--eval", "d.tsv", "--out", out])
        assert args.out == Path(out)


def test_settings_that_shape_nothing_in_the_run_are_said(capsys, tmp_path, monkeypatch):
    """--arch baseline --num-markers 32 (twins trained with one command line), --vocab-size with --tokenizer and a
    retrofit's --hidden-size were taken without a word, and metrics.json recorded them as if used."""
    from explainer.cli.train import parse_args

    monkeypatch.chdir(tmp_path)

    parse_args(["--data", "t.tsv", "--eval", "d.tsv", "--out", "m", "--arch", "baseline", "--num-markers", "32",
                "--beacon-sparsity", "0.5", "--tokenizer", "tok", "--vocab-size", "50"])
    err = capsys.readouterr().err
    assert "note: --num-markers and --beacon-sparsity shape nothing in this run (a baseline has no thought" in err
    assert "note: --vocab-size shapes nothing in this run (--tokenizer reuses a tokenizer" in err
    parse_args(["--data", "t.tsv", "--eval", "d.tsv", "--out", "m", "--backbone", "org/base", "--hidden-size", "32"])
    assert "--hidden-size shapes nothing in this run (a --backbone retrofit has its base's" in capsys.readouterr().err
    parse_args(["--data", "t.tsv", "--eval", "d.tsv", "--out", "m", "--num-markers", "0", "--marker-temperature", "2"])
    assert "note: --marker-temperature shapes nothing in this run (--num-markers 0: the model has no thought " \
           "markers): the card leaves it out" in capsys.readouterr().err
    parse_args(["--data", "t.tsv", "--eval", "d.tsv", "--out", "m", "--num-markers", "32", "--beacon-sparsity", "0.5"])
    parse_args(["--data", "t.tsv", "--eval", "d.tsv", "--out", "m", "--arch", "baseline", "--num-markers", "16"])
    assert capsys.readouterr().err == ""  # a ThoughtBeacon from scratch reads them; a default given is no change
    with pytest.raises(SystemExit):  # a refusal comes alone, not after a note on a run that will not happen
        parse_args(["--data", "t.tsv", "--eval", "d.tsv", "--out", "m", "--backbone", "org/b", "--hidden-size", "64",
                    "--tokenizer", "tok"])
    assert "note:" not in capsys.readouterr().err


def test_a_tokenizer_folder_s_own_code_is_never_run(tmp_path, capsys, monkeypatch):
    """An auto_map in --tokenizer's config made transformers ask "run the custom code? [y/N]", and a "y" on stdin
    ran the folder's code."""
    import io

    monkeypatch.chdir(tmp_path)
    tiny_inputs(tmp_path)
    remote = tmp_path / "remote"
    fixed_tokenizer().save_pretrained(remote)
    config = json.loads((remote / "tokenizer_config.json").read_text())
    config.update(auto_map={"AutoTokenizer": [None, "tok.RemoteTokenizer"]}, tokenizer_class="RemoteTokenizer")
    (remote / "tokenizer_config.json").write_text(json.dumps(config))
    (remote / "tok.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w').write('ran')\n"
                                   "from transformers import PreTrainedTokenizerFast as RemoteTokenizer\n")
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n" * 10))
    args = tiny_run(tmp_path, str(tmp_path / "model"), "baseline")
    args[args.index("--tokenizer") + 1] = str(remote)
    with pytest.raises(SystemExit):
        train_main(args)
    assert not (tmp_path / "ran").exists() and not (tmp_path / "model").exists()
    assert "tokenizer code of its own (auto_map), which this tool never runs" in capsys.readouterr().err


def test_a_quoted_tilde_out_is_written_and_read_back_where_it_was_made(tmp_path, monkeypatch, capsys):
    """`--out '~/y'`: the model was trained into ./~/y/.training, then loaded back from $HOME/y/.training (load_model
    reads "~" as home): a traceback after the whole run, and an empty ./~ left. Also: --eval naming the training
    file is said (its "dev" figures are training-set figures)."""
    tiny_inputs(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    args = tiny_run(Path("."), "~/y", "baseline")
    args[args.index("--eval") + 1] = "train.tsv"
    train_main(args)
    assert load_model(tmp_path / "~" / "y").label_names == ("negative", "positive")
    assert not (tmp_path / "home").exists()
    assert json.loads((tmp_path / "~" / "y" / "metrics.json").read_text())["training"]["device"] == "cpu"
    assert "note: --eval is the training file train.tsv: the checkpoint and tau are picked" in capsys.readouterr().err


def test_a_dev_file_with_the_training_files_bytes_is_the_training_file(tmp_path):
    """Only the same path was said: a copy of train.tsv as --eval gave dev figures of training rows unsaid."""
    from explainer.cli.train import _same_file

    train = tmp_path / "train.tsv"
    train.write_text("sentence\tlabel\ngood\t1\n")
    copy, other, longer = tmp_path / "copy.tsv", tmp_path / "other.tsv", tmp_path / "longer.tsv"
    copy.write_bytes(train.read_bytes())
    other.write_text("sentence\tlabel\nbad!\t0\n")  # as many bytes, others
    longer.write_text("sentence\tlabel\ngood\t1\nbad\t0\n")
    assert _same_file(train, train) and _same_file(train, copy)
    assert not _same_file(train, other) and not _same_file(train, longer) and not _same_file(train, tmp_path / "x")


def test_the_architectures_are_argparse_choices_shown_in_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_main(["--arch", "foo", "--data", "a", "--eval", "b", "--out", "c"])
    assert exit_info.value.code == 2 and "--arch: invalid choice: 'foo'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_main(["--help"])
    assert "--arch {thought-beacon,baseline}" in capsys.readouterr().out


def test_a_tokenizer_config_that_builds_no_tokenizer_is_one_line(tmp_path, capsys):
    """A lone tokenizer_config.json of {}: transformers' five lines, ending in advice to install sentencepiece or
    tiktoken, which would not help."""
    tiny_inputs(tmp_path)
    folder = tmp_path / "tok"
    folder.mkdir()
    (folder / "tokenizer_config.json").write_text("{}")
    args = tiny_run(tmp_path, str(tmp_path / "out"), "baseline")
    args[args.index("--tokenizer") + 1] = str(folder)
    with pytest.raises(SystemExit) as exit_info:
        train_main(args)
    last = capsys.readouterr().err.splitlines()[-1]
    assert exit_info.value.code == 2 and last == (
        f"error: --tokenizer {folder}: no tokenizer could be read there (its files build no tokenizer: it needs "
        "tokenizer.json, or vocab.txt and its tokenizer_class)"), last
    assert not (tmp_path / "out").exists()


def test_a_loss_that_is_not_finite_before_any_update_blames_no_learning_rate(tmp_path, capsys):
    """--marker-temperature 1e-300: "the loss is nan (try a lower --learning-rate than 0.0005)" at step 1, before
    the learning rate had moved anything."""
    tiny_inputs(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        train_main(tiny_run(tmp_path, str(tmp_path / "out"), "thought-beacon") + ["--marker-temperature", "1e-300"])
    last = capsys.readouterr().err.splitlines()[-1]
    assert exit_info.value.code == 2 and "training diverged at step 1" in last, last
    assert "not the learning rate: --marker-temperature 1e-300, say" in last and "lower --learning-rate" not in last
