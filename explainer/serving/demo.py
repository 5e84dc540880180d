"""Demo mode: a TOML file names everything a visitor may choose, and the limits of one request.

    streamlit run app.py -- --demo demo.toml        (or EXPLAINER_DEMO=demo.toml streamlit run app.py)

In demo mode the app offers no free-text model box and no free-text path: models and data sets are picked from
these lists by name (links carry the names), hub ids are never fetched, and tracebacks are hidden. The shipped
demo.toml at the repository root serves the shipped models and the challenge set. Format:

    [limits]
    max_text_chars = 2000      # longest text a visitor may analyse
    max_upload_mb = 0          # 0: no uploads
    max_upload_rows = 2000     # most rows of an upload a data-set page runs the model on (each upload is a new pass)
    attribution_tokens = 128   # longest input (tokens) the attribution methods and counterfactual searches run on
    graph_tokens = 64          # ... the attribution graph
    patching_tokens = 64       # ... head ablation, activation patching and the searches for a pair to patch
    max_cache_mb = 4096        # most the cached results (explainer/data/disk_cache.py) may take on disk, least
                               # recently used removed first; 0: no limit

    [[models]]
    name = "sst2-minilm-thought-beacon"     # a shipped model
    [[models]]
    name = "my-classifier"                  # a folder (relative to this file)
    path = "models/my-classifier"

    [[data]]
    name = "challenge"                      # a file: offered as "challenge"
    path = "assets/challenge_set.csv"
    [[data]]
    name = "reviews"                        # a folder: every data file inside (serving.paths.DATA_SUFFIXES:
                                            # CSV, TSV, JSONL, Parquet), subfolders too, as "reviews/<file>"
    path = "data/reviews"
"""

from __future__ import annotations

import logging
import os
import sys
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from explainer.data import disk_cache
from explainer.serving.paths import DATA_SUFFIXES, PathRefused, data_files, resolve_inside

ENV = "EXPLAINER_DEMO"
FLAG = "--demo"


class DemoConfigError(ValueError):
    """The demo config cannot be used; the message names the file and the entry. `paths`: the resolved server
    paths it names besides the config's own (a model's or a data set's), for a caller that must not show them."""

    def __init__(self, message: str, paths: tuple[Path, ...] = ()) -> None:
        super().__init__(message)
        self.paths = paths


@dataclass(frozen=True)
class Limits:
    max_text_chars: int = 2000
    max_upload_mb: int = 0  # 0: no uploads
    max_upload_rows: int = 2000  # 1 MB of short lines is ~100,000 rows: a minute of both cores per upload
    attribution_tokens: int = 128
    graph_tokens: int = 64
    patching_tokens: int = 64
    max_cache_mb: int = 4096  # every upload is a new pass whose predictions and vectors are kept on disk; 0: no limit


@dataclass(frozen=True)
class DemoModel:
    name: str  # what the picker and the link show
    target: str  # what load_model gets: a shipped name or a resolved folder


@dataclass(frozen=True)
class DemoConfig:
    source: Path  # the config file
    models: tuple[DemoModel, ...]
    data_roots: tuple[tuple[str, Path], ...]  # (name, resolved file or folder)
    limits: Limits = field(default_factory=Limits)

    @property
    def model_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.models)

    def model_target(self, name: str) -> str:
        """load_model's argument for the model offered as `name`; PathRefused for any other name."""
        for model in self.models:
            if model.name == name:
                return model.target
        raise PathRefused("That model is not offered here; choose one from the list.")

    def offered(self, name: str) -> DemoModel:
        """The offered model `name` names, by its offered name or by its target (what a bundle loaded from it is
        called before the demo renames it); PathRefused for anything else (a path, a hub id)."""
        by_name = next((model for model in self.models if name == model.name), None)
        found = by_name or next((model for model in self.models if name == model.target), None)
        if found is None:
            raise PathRefused("That model is not offered here; choose one from the list.")
        return found

    def data_choices(self) -> dict[str, Path]:
        """{name offered: file} of every data set a visitor may open (folders listed file by file, each file
        checked to resolve inside its folder, so a symlink pointing out is never offered)."""
        choices: dict[str, Path] = {}
        roots = [root for _, root in self.data_roots]
        for name, root in self.data_roots:
            if root.is_file():
                choices[name] = root
                continue
            for file in data_files(root):
                try:
                    choices[f"{name}/{file.relative_to(root).as_posix()}"] = resolve_inside(file, roots)
                except (PathRefused, ValueError):
                    continue
        return choices

    def data_path(self, name: str) -> Path:
        """The file offered as `name`, resolved again now (it may have changed since it was listed)."""
        file = self.data_choices().get(name)
        if file is None:
            raise PathRefused("That data set is not offered here; choose one from the list.")
        try:
            return resolve_inside(file, [root for _, root in self.data_roots])
        except PathRefused:  # renamed, removed or re-pointed since the listing: its message quoted the server path
            raise PathRefused(f"The data set {name} is not available now; choose one from the list.") from None


def load_demo_config(path: str | Path) -> DemoConfig:
    """Read and check a demo config; DemoConfigError says what is wrong (a missing model folder, an unknown
    shipped name, a data path that does not exist, a limit out of range: the upload size may be 0, the others
    must be positive)."""
    from explainer.loading import shipped  # light: names and folders only

    source = Path(path).expanduser()
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as error:
        raise DemoConfigError(f"Cannot read the demo config {source}: {error.strerror or error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise DemoConfigError(f"The demo config {source} is not valid TOML: {error}") from None
    base = source.resolve().parent
    unknown = sorted(set(raw) - {"models", "data", "limits"})
    if unknown:  # a [limit] table was read as no limits at all, and the operator never told
        raise DemoConfigError(f"{source}: unknown keys or tables {unknown}; known: [[models]], [[data]], [limits]")
    limits = _limits(raw.get("limits", {}), source)
    shipped_names = {m.name for m in shipped.SHIPPED} | {shipped.UNTRAINED_NAME}
    models: list[DemoModel] = []
    for entry in _entries(raw, "models", source):
        name = entry["name"]
        if "path" in entry:
            folder = (base / str(entry["path"])).resolve()
            if not (folder / "config.json").is_file():
                raise DemoConfigError(f"{source}: model {name!r}: {folder} is not a model folder (no config.json)",
                                      (folder,))
            models.append(DemoModel(name, str(folder)))
        elif name in shipped_names:
            models.append(DemoModel(name, name))
        else:
            raise DemoConfigError(
                f"{source}: model {name!r} is not a shipped model ({', '.join(sorted(shipped_names))}); "
                "give a `path` for a model folder"
            )
    if not models:
        raise DemoConfigError(f"{source}: name at least one model under [[models]]")
    roots: list[tuple[str, Path]] = []
    for entry in _entries(raw, "data", source):
        if "path" not in entry:
            raise DemoConfigError(f"{source}: data {entry['name']!r} needs a `path`")
        target = (base / str(entry["path"])).resolve()
        if not target.exists():
            raise DemoConfigError(f"{source}: data {entry['name']!r}: {target} does not exist", (target,))
        if target.is_dir() and not data_files(target):  # the operator's mistake, said where the operator looks
            logging.getLogger("explainer.demo").warning(
                "%s: data %r: the folder %s offers no data file (%s; name any other file itself)", source,
                entry["name"], target, ", ".join(DATA_SUFFIXES))
        roots.append((entry["name"], target))
    return DemoConfig(source=source.resolve(), models=tuple(models), data_roots=tuple(roots), limits=limits)


def _entries(raw: dict[str, Any], key: str, source: Path) -> list[dict[str, Any]]:
    entries = raw.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("name"), str)
                                                and e["name"].strip() for e in entries):
        raise DemoConfigError(f"{source}: each [[{key}]] entry needs a `name` (text)")
    for entry in entries:
        if unknown := sorted(set(entry) - {"name", "path"}):  # `folder = ...` was ignored: a shipped name looked up
            raise DemoConfigError(f"{source}: {key} {entry['name']!r}: unknown keys {unknown}; known: name, path")
        if "path" in entry and not (isinstance(entry["path"], str) and entry["path"].strip()):
            raise DemoConfigError(f"{source}: {key} {entry['name']!r}: `path` must be text, not {entry['path']!r}")
        if key == "data" and ("/" in entry["name"] or "\\" in entry["name"]):  # a folder's files are "name/file": one
            # named "d/small40.csv" stood in for the folder d's own file of that name
            raise DemoConfigError(f"{source}: {key} {entry['name']!r}: a name holds no / or \\ (a folder's files are "
                                  "offered as name/file)")
    names = [e["name"] for e in entries]
    if len(set(names)) != len(names):
        raise DemoConfigError(f"{source}: repeated {key} names {sorted({n for n in names if names.count(n) > 1})}")
    return entries


def _limits(raw: Any, source: Path) -> Limits:
    if not isinstance(raw, dict):
        raise DemoConfigError(f"{source}: [limits] must be a table")
    known = Limits.__dataclass_fields__
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise DemoConfigError(f"{source}: unknown limits {unknown}; known: {sorted(known)}")
    for key, value in raw.items():
        minimum = 0 if key in ("max_upload_mb", "max_cache_mb") else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise DemoConfigError(f"{source}: limits.{key} must be an integer >= {minimum}, not {value!r}")
    return Limits(**raw)


_arguments_name_demo = True  # False in the command line, whose arguments are the user's (a text may read "--demo=x")


def environment_only() -> None:
    """Take the demo config from EXPLAINER_DEMO only, never from this process's arguments: the command line's are
    the user's own (`ablate --text "--demo=a.toml"` must not swap the operator's config, nor a `--demo` flag quote
    a file before argparse refuses it)."""
    global _arguments_name_demo
    _arguments_name_demo = False


def requested_config(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> str | None:
    """The demo config named by `--demo PATH` (or `--demo=PATH`) in the script's arguments (the app's: `streamlit
    run app.py -- --demo PATH`; not the command line's, see environment_only), else EXPLAINER_DEMO."""
    args = (sys.argv[1:] if _arguments_name_demo else []) if argv is None else argv
    for i, arg in enumerate(args):
        if arg == FLAG and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(FLAG + "="):
            return arg.split("=", 1)[1]
    value = (os.environ if environ is None else environ).get(ENV, "").strip()
    return value or None


def active_demo() -> DemoConfig | None:
    """The demo config this process serves, or None in local mode. DemoConfigError when one is named but
    unusable: a demo deployment must never fall back to the open local mode."""
    requested = requested_config()
    if requested is None:
        return None
    demo = _load_cached(requested)
    disk_cache.limit_size(demo.limits.max_cache_mb * 2**20 or None)  # the app's and the CLI's results alike
    return demo


@lru_cache(maxsize=4)
def _load_cached(path: str) -> DemoConfig:
    return load_demo_config(path)
