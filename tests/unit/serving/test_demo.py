"""The demo config: read and checked with clear errors, its lists offered by name, and the shipped demo.toml."""

from __future__ import annotations

import pytest

from explainer.serving.demo import DemoConfigError, Limits, load_demo_config, requested_config
from explainer.serving.paths import PathRefused
from tests.conftest import ROOT

SECRET = "root:x:0:0:secret-line"


def write(tmp_path, body: str):
    path = tmp_path / "demo.toml"
    path.write_text(body)
    return path


def test_the_shipped_demo_config_serves_the_shipped_models_and_the_challenge_set():
    config = load_demo_config(ROOT / "demo.toml")
    assert "sst2-minilm-thought-beacon" in config.model_names
    assert config.data_choices() == {"challenge": (ROOT / "assets" / "challenge_set.csv").resolve()}
    assert config.limits.max_upload_mb == 0  # no uploads in the shipped demo
    assert config.model_target("sst2-baseline") == "sst2-baseline"


def test_folders_are_offered_file_by_file_and_symlinks_out_are_not(tmp_path):
    data = tmp_path / "data"
    (data / "deep").mkdir(parents=True)
    (data / "a.csv").write_text("text,label\nx,positive\n")
    (data / "deep" / "b.jsonl").write_text('{"text": "y", "label": "negative"}\n')
    (data / "c.parquet").write_bytes(b"PAR1")  # a folder of Parquet shards offered nothing
    (data / "notes.md").write_text("not data")
    (data / "readme.txt").write_text("the operator's notes")  # offered as a data set before
    secret = tmp_path / "secret.csv"
    secret.write_text(SECRET)
    (data / "leak.csv").symlink_to(secret)
    config = load_demo_config(write(tmp_path, '[[models]]\nname = "sst2-baseline"\n'
                                              '[[data]]\nname = "reviews"\npath = "data"\n'))
    choices = config.data_choices()
    assert sorted(choices) == ["reviews/a.csv", "reviews/c.parquet", "reviews/deep/b.jsonl"]
    assert config.data_path("reviews/a.csv") == (data / "a.csv").resolve()
    for name in ("reviews/leak.csv", "reviews/../secret.csv", "/etc/passwd", "reviews", "other/a.csv"):
        with pytest.raises(PathRefused) as refused:
            config.data_path(name)
        assert SECRET not in str(refused.value)


def test_a_results_folder_inside_a_data_root_offers_none_of_its_files(tmp_path):
    """Its manifest.json, rows/*.parquet shards and exports were offered as data sets (manifest.json then read as
    JSONL: "needs one whole object per line")."""
    data = tmp_path / "data"
    (data / "ev" / "rows").mkdir(parents=True)
    (data / "a.csv").write_text("text,label\nx,positive\n")
    (data / "ev" / "manifest.json").write_text('{"kind": "map", "format": "explainer-results"}')
    (data / "ev" / "rows" / "part-00000.parquet").write_bytes(b"PAR1")
    (data / "ev" / "likely_mislabelled.csv").write_text("row,score\n")
    (data / "export").mkdir()  # a data export's own manifest.json makes no results folder
    (data / "export" / "manifest.json").write_text('{"files": []}')
    (data / "export" / "b.csv").write_text("text,label\ny,negative\n")
    config = load_demo_config(write(tmp_path, '[[models]]\nname = "sst2-baseline"\n'
                                              '[[data]]\nname = "reviews"\npath = "data"\n'))
    assert sorted(config.data_choices()) == ["reviews/a.csv", "reviews/export/b.csv", "reviews/export/manifest.json"]
    from explainer.scale.manifest import FORMAT, MANIFEST
    from explainer.serving.paths import RESULTS_FORMAT, RESULTS_MARK

    assert (RESULTS_FORMAT, RESULTS_MARK) == (FORMAT, MANIFEST)  # the scale package's, spelled out below it


def test_a_data_folder_offering_nothing_is_logged_for_the_operator(tmp_path, caplog):
    """A folder of .txt data sets offered nothing once .txt was left out of folder listings, and nothing said so."""
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "rows.txt").write_text("text\tlabel\nx\tpositive\n")
    with caplog.at_level("WARNING", logger="explainer.demo"):
        config = load_demo_config(write(tmp_path, '[[models]]\nname = "sst2-baseline"\n'
                                                  '[[data]]\nname = "notes"\npath = "notes"\n'))
    assert config.data_choices() == {}
    assert "data 'notes'" in caplog.text and "offers no data file" in caplog.text and ".parquet" in caplog.text


def test_a_data_folder_offers_every_extension_the_reader_takes():
    from explainer.data.labelled import EXTENSIONS
    from explainer.serving.paths import DATA_SUFFIXES

    assert set(EXTENSIONS) <= set(DATA_SUFFIXES)


def test_models_are_offered_by_name_only(tmp_path):
    config = load_demo_config(write(tmp_path, '[[models]]\nname = "sst2-baseline"\n'))
    for name in ("/etc", "bert-base-uncased", "org/model", "../assets/models/sst2-baseline", ""):
        with pytest.raises(PathRefused):
            config.model_target(name)


@pytest.mark.parametrize(
    "body, message",
    [
        ("this is = not [toml", "not valid TOML"),
        ("", "at least one model"),
        ('[[models]]\nname = "no-such-shipped"\n', "not a shipped model"),
        ('[[models]]\nname = "m"\npath = "missing-folder"\n', "not a model folder"),
        ('[[models]]\nname = "sst2-baseline"\n[[models]]\nname = "sst2-baseline"\n', "repeated models names"),
        ('[[models]]\nname = "sst2-baseline"\n[[data]]\nname = "d"\npath = "nowhere.csv"\n', "does not exist"),
        ('[[models]]\nname = "sst2-baseline"\n[limits]\nmax_text_chars = 0\n', "limits.max_text_chars"),
        ('[[models]]\nname = "sst2-baseline"\n[limits]\nmax_text = 5\n', "unknown limits"),
        ('[[models]]\nnombre = "x"\n', "needs a `name`"),
        # typos were read as nothing: [limit] left the default limits on without a word, `folder =` a shipped name
        ('[[models]]\nname = "sst2-baseline"\n[limit]\nmax_text_chars = 10\n', "unknown keys or tables \\['limit'\\]"),
        ('[[models]]\nname = "m"\nfolder = "x"\n', "model.*unknown keys \\['folder'\\]|models 'm': unknown keys"),
        ('[[models]]\nname = "m"\npath = 5\n', "`path` must be text, not 5"),
        ('[[models]]\nname = "sst2-baseline"\n[[data]]\nname = "d/a.csv"\npath = "x.csv"\n', "a name holds no /"),
    ],
)
def test_bad_configs_say_what_is_wrong(tmp_path, body, message):
    with pytest.raises(DemoConfigError, match=message):
        load_demo_config(write(tmp_path, body))


def test_a_missing_config_is_a_clear_error(tmp_path):
    with pytest.raises(DemoConfigError, match="Cannot read the demo config"):
        load_demo_config(tmp_path / "nope.toml")


def test_the_config_is_named_by_flag_or_environment():
    assert requested_config(["--demo", "a.toml"], {}) == "a.toml"
    assert requested_config(["--demo=b.toml"], {"EXPLAINER_DEMO": "c.toml"}) == "b.toml"
    assert requested_config([], {"EXPLAINER_DEMO": "c.toml"}) == "c.toml"
    assert requested_config(["--other"], {}) is None


def test_limits_default_to_safe_values():
    assert Limits().max_upload_mb == 0 and Limits().max_text_chars <= 10_000


@pytest.mark.parametrize(("line", "limit"),
                         [("", 4096 * 2**20), ("max_cache_mb = 1\n", 2**20), ("max_cache_mb = 0\n", None)])
def test_a_demo_holds_its_cached_results_to_its_size_limit(tmp_path, monkeypatch, line, limit):
    """Every upload a visitor sent kept its predictions and vectors on disk: a demo with uploads filled the disk."""
    from explainer.data import disk_cache
    from explainer.serving import demo

    monkeypatch.setattr(disk_cache, "_LIMIT", [None])
    monkeypatch.setenv("EXPLAINER_DEMO", str(write(tmp_path, f'[limits]\n{line}[[models]]\nname = "sst2-baseline"\n')))
    monkeypatch.setattr(demo, "_arguments_name_demo", False)
    demo._load_cached.cache_clear()
    assert demo.active_demo() is not None and disk_cache._LIMIT == [limit]
    monkeypatch.delenv("EXPLAINER_DEMO")
    demo._load_cached.cache_clear()


def test_a_data_set_gone_between_the_listing_and_the_recheck_is_refused_without_the_server_path(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("text,label\nx,positive\n")
    config = load_demo_config(write(tmp_path, '[[models]]\nname = "sst2-baseline"\n'
                                              '[[data]]\nname = "reviews"\npath = "data"\n'))
    listed = config.data_choices()
    (data / "a.csv").unlink()  # the operator rotates the files while a visitor's choice is on its way
    monkeypatch.setattr(type(config), "data_choices", lambda self: listed)
    with pytest.raises(PathRefused) as refused:
        config.data_path("reviews/a.csv")
    assert str(tmp_path) not in str(refused.value) and "reviews/a.csv" in str(refused.value)
