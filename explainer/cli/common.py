"""Shared pieces of the `python -m explainer <command>` entry points: JSON output, argparse types, one-line errors."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from explainer.capture.validation import CUT_LEFT_ELSEWHERE, InputError, validate_text  # light: no torch
from explainer.data.folders import missing_folders, not_a_folder, remove_made  # light: pathlib only

if TYPE_CHECKING:  # only for annotations: the commands import torch and the loaders when they run
    from explainer.capture.encoding import Encoded
    from explainer.data.labelled import LabelledData
    from explainer.loading.bundle import ModelBundle


def to_jsonable(value: Any) -> Any:
    """Plain JSON values: arrays as lists, numpy scalars as Python's, and a NaN or infinity as null (JSON has
    neither: json.dumps would write `NaN`, which JSON parsers refuse)."""
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


# --target's rule, said in every command's help: a label named "1" is that label, not the label of id 1.
NAME_FIRST = "a name first: a label named like an index is that label"


# True when this process is `python -m explainer` (explainer/__main__.py): only then does a command take stdout over
# for the rest of the process (stdout_for_json_only); a command called in-process (a notebook, a test) leaves
# sys.stdout as it is.
RUN_AS_PROGRAM = False
_json_swap: tuple[Any, Any] | None = None  # (where print_json writes, what stdout_for_json_only put in stdout's place)


class Terminated(SystemExit):
    """SIGTERM, raised in the main thread by explainer/__main__.py: the command unwinds as for Ctrl+C (its cleanup
    runs) and says so in one line (a Ray run printed Ray's crash dump; a local one ended without a word)."""


SIGTERM_SEEN = False  # set by explainer/__main__.py's SIGTERM handler, before it raises Terminated
SIGINT_SEEN = False  # set by its SIGINT handler, before it raises KeyboardInterrupt


def print_json(payload: dict[str, Any]) -> None:
    out = sys.stdout
    if _json_swap is not None and sys.stdout is _json_swap[1]:  # stdout still swapped: the saved stream
        out = _json_swap[0]
    # under EXPLAINER_DEMO, a model folder or data root named in the output is called by its offered name: in
    # each string, before JSON escapes it (an offered name with a quote would break the text; a path with one leak)
    print(json.dumps(_renamed(to_jsonable(payload), _renamer()), indent=2, ensure_ascii=False), file=out)
    out.flush()  # now, inside the command: a reader gone (`| head`) is a BrokenPipeError main() answers, not a
    # traceback printed at the interpreter's exit


# Fields that hold what the model read (the user's text, a data file's, their tokens and edits): printed as they
# are, never renamed, or "I loved /srv/data.csv" would print as a text the model never ran. A server path the user
# typed is theirs already; one that a message names (a note, an error) is still renamed.
TEXT_FIELDS = frozenset({"text", "texts", "tokens", "token", "top_tokens", "old", "new", "left", "right", "examples",
                         "clean_text", "corrupted_text", "clean_tokens", "corrupted_tokens"})


def _renamed(value: Any, rename: Callable[[str], str], as_read: bool = False) -> Any:
    """`value` with `rename` applied to every string except within TEXT_FIELDS (`as_read`: inside one)."""
    if isinstance(value, str):
        return value if as_read else rename(value)
    if isinstance(value, dict):
        return {key if as_read else rename(key): _renamed(item, rename, as_read or key in TEXT_FIELDS)
                for key, item in value.items()}
    if isinstance(value, list):
        return [_renamed(item, rename, as_read) for item in value]
    return value


def stdout_for_json_only() -> None:
    """From now on only print_json writes to stdout; anything else printed goes to stderr. Ray prints from its own
    threads whenever something happens in the cluster ("(raylet) A worker died or was killed ...", even with
    log_to_driver off), at any moment, so a command's JSON on stdout would no longer parse; redirecting only
    around the job would miss what arrives after it. For the rest of the process, unless someone else sets
    sys.stdout again (a test harness between tests, say): print_json then writes to that, as before."""
    global _json_swap
    if _json_swap is not None and sys.stdout is _json_swap[1]:
        return
    _json_swap = (sys.stdout, sys.stderr)
    sys.stdout = sys.stderr


MODEL_HELP = (
    "a shipped model's name (assets/models), a local model folder or a Hugging Face hub id (the local cache when "
    "offline); default: the app's, the first shipped model present (sst2-minilm-thought-beacon; with none on disk, "
    "untrained-thought-beacon, whose random weights show the machinery but predict nothing)"
)


def describe(doc: str | None) -> str:
    """A command's --help description from its module docstring: the first paragraph that is not the usage line
    (argparse prints the usage itself), whole, where its first line alone stopped mid-sentence."""
    paragraphs = [" ".join(p.split()) for p in (doc or "").split("\n\n") if p.strip()]
    if not paragraphs:
        return ""
    first = paragraphs[0]
    if first.startswith("`python -m"):  # "`usage`: what it does" keeps what it does; a bare usage line goes
        usage_end = first.find("`", 1)
        first = first[usage_end + 1 :].lstrip(": ") if usage_end > 0 else ""
    if first:
        return first[0].upper() + first[1:]
    return paragraphs[1] if len(paragraphs) > 1 else ""


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """--data, --text-column and --label-column, the same in every command that reads a labelled file."""
    parser.add_argument(
        "--data", required=True, type=offered_data_name,
        help="labelled CSV, TSV, JSONL or Parquet file; with --out, also a folder or a quoted glob of such shards "
        "(under EXPLAINER_DEMO: an offered data set's name)",
    )
    add_column_arguments(parser)


def add_column_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--text-column", default=None,
        help="the column of texts (default: found by name: text, sentence, review, ..., else the column of words)",
    )
    parser.add_argument(
        "--label-column", default=None,
        help="the column of true labels, as names or ids (default: found by name: label, target, class, ...)",
    )


def add_batch_size(parser: argparse.ArgumentParser, default: int = 32) -> None:
    parser.add_argument(
        "--batch-size", type=at_least_one, default=default,
        help=f"texts per forward pass (default {default}); larger is faster until memory runs short",
    )


def at_least_one(text: str) -> int:
    """argparse type: a whole number >= 1 (batch sizes, step and sample counts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


MAX_THREADS = 256  # past it torch overflowed (a traceback) or ran thousands of threads on a few cores


def thread_count(text: str) -> int:
    """argparse type of every --threads: a whole number from 1 to MAX_THREADS."""
    value = at_least_one(text)
    if value > MAX_THREADS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_THREADS}, got {value} (this machine has "
                                         f"{os.cpu_count() or 1} cores)")
    return value


def random_seed(text: str) -> int:
    """argparse type of a random seed: a whole number from 0 to 2**32 - 1, what numpy's generators (UMAP's) take;
    another failed with a traceback after the whole model pass."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to 4294967295, got {value}")
    return value


def text_argument(text: str) -> str:
    """argparse type of --text, --clean, --corrupted: a text a tokenizer can read (a shell passes bytes that are
    not UTF-8 as unpaired surrogates, which every tokenizer and the HTML report fail on)."""
    limits = demo_limits()
    if limits is not None and len(text) > limits.max_text_chars:  # the app keeps the beginning and says so; a
        # command has no page to say it on, and an analysis of a cut text must not pass for the whole text's. One
        # line, as every demo refusal (argparse's error printed its usage block above it)
        fail(f"this demo reads texts of at most {limits.max_text_chars:,} characters; this one has {len(text):,}")
    try:
        return validate_text(text) if text.strip() else text  # empty texts get each command's own message
    except InputError as error:
        if limits is not None:  # one line under a demo, as its other refusals
            fail(str(error))
        raise argparse.ArgumentTypeError(str(error)) from None


def named_path(text: str) -> str:
    """argparse type of a path option: an empty one is refused. Path("") is the current folder: `--out "$OUT"` with
    OUT unset wrote a trained model, or a map, into whatever folder the command ran in."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give a path")
    return text


def named_folder(text: str) -> Path:
    """named_path, as a Path."""
    return Path(named_path(text))


def unit_interval(text: str) -> float:
    """argparse type: a number from 0 to 1 (thresholds)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text}")
    return value


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error for the user and exit non-zero (on a line of its own when a progress bar is
    drawn: tqdm.write clears the bar first)."""
    from tqdm import tqdm

    tqdm.write(f"error: {as_offered(message)}", file=sys.stderr)
    raise SystemExit(code)


def as_offered(message: str) -> str:
    """Under EXPLAINER_DEMO, `message` with each configured model folder and data file or folder called by its
    offered name, as the app calls them (a message from deep inside, a Ray worker's say, names the resolved path);
    else `message` unchanged."""
    return _renamer()(message)


# What `python -m explainer` was given (cli.main sets it for the command it runs; None in-process: a test or a
# notebook calling a command's main). Under EXPLAINER_DEMO a message keeps the absolute paths the visitor gave as a
# path option and calls any other one SERVER_PATH: a results folder's manifest records whoever made it's input, a
# shard list names any file, an error deep inside names a resolved cache or package folder, none of them the
# visitor's to see.
TYPED: tuple[str, ...] | None = None
PATH_OPTIONS = ("--out", "--data", "--predictions-out", "--model")  # a --text is words, not a path to keep
SERVER_PATH = "[a path on the server]"
_PATH_CHARACTERS = r"[\w.+@%~=,-]"
# An absolute POSIX path (a file:// URI's too), not a piece of one (the part after a relative path's slash, a URL's
# host) nor a ratio ("1/2", "tokens/s"). A path holding a space is cut there: its end may show.
_ABSOLUTE = re.compile(rf"(?:(?<=file://)|(?<![\w./~-])){'/'}{_PATH_CHARACTERS}+(?:/{_PATH_CHARACTERS}*)*")
_BOUNDARY = r"(?<![\w./~-])"  # a path renamed starts here: not inside a longer one, nor one renamed before


def _typed_paths(typed: Sequence[str]) -> list[str]:
    """The values the visitor gave PATH_OPTIONS (`--out X` or `--out=X`), as typed."""
    values = []
    for index, token in enumerate(typed):
        option, equals, value = token.partition("=")
        if option in PATH_OPTIONS:
            if equals:
                values.append(value)
            elif index + 1 < len(typed):
                values.append(typed[index + 1])
    return [value for value in values if value and "\n" not in value]


def _renamer() -> Callable[[str], str]:
    """as_offered's renaming, the demo config read once (print_json renames every string of an output)."""
    from explainer.loading.shipped import SHIPPED

    demo = _active_demo_or_none()
    if demo is None:
        return lambda message: message
    named = [(str(root), name) for name, root in demo.data_roots]
    named += [(model.target, model.name) for model in demo.models if Path(model.target).is_absolute()]
    targets = {model.target: model.name for model in demo.models}
    named += [(str(model.folder), targets[model.name]) for model in SHIPPED if model.name in targets]
    typed = TYPED
    kept: set[str] = set()
    for value in _typed_paths(typed or ()):
        if os.path.isabs(value):
            kept.add(value.rstrip("/") or "/")
        else:  # relative (or ~): printed resolved, called as typed; not a folder as short as /usr ("../../../usr")
            forms = {os.path.abspath(os.path.expanduser(value)), os.path.realpath(os.path.expanduser(value))}
            named += [(form, value) for form in forms if len(Path(form).parts) >= 3]
    named.sort(key=lambda pair: -len(pair[0]))  # a root inside another: the longer first
    # not /data in /data2 or /data.csv; a full stop ending the sentence after the path is no part of it
    patterns = [(re.compile(_BOUNDARY + re.escape(path) + r"(?![\w-]|\.[\w-])"), name) for path, name in named]
    # what lies in a folder the visitor gave (--out /tmp/run: its manifest.json), but not in "/"
    folders = tuple(path + "/" for path in kept if path != "/")

    def unless_typed(match: re.Match[str]) -> str:
        path = match.group(0)
        bare = path.rstrip(".,;:=")  # the sentence's punctuation stays
        if bare.rstrip("/") in kept or bare.startswith(folders):
            return path
        return SERVER_PATH + path[len(bare):]

    def rename(message: str) -> str:
        for pattern, name in patterns:
            message = pattern.sub(lambda _, name=name: name, message)
        return message if typed is None else _ABSOLUTE.sub(unless_typed, message)

    return rename


@contextmanager
def typed_by_visitor(argv: Sequence[str]) -> Iterator[None]:
    """`with typed_by_visitor(argv):` the command `argv` is for runs with TYPED set and, under EXPLAINER_DEMO, with
    stderr renamed as fail() renames its line: every note, progress bar, log line and warning (a results folder's
    note printed its shard's path; Ray's lines land there too)."""
    global TYPED
    TYPED, before = tuple(argv), TYPED
    original = sys.stderr
    renamed = _Renaming(original, _renamer()) if _active_demo_or_none() is not None else original
    sys.stderr = renamed
    try:
        yield
    finally:
        TYPED = before
        if sys.stderr is renamed:
            sys.stderr = original


def _active_demo_or_none():
    from explainer.serving.demo import DemoConfigError, active_demo

    try:
        return active_demo()
    except DemoConfigError:  # fail() is how a broken config is said (_demo): no second lookup of it here
        return None


class _Renaming:
    """A text stream writing through `rename` (a line is written whole by print and tqdm: no path is cut in two)."""

    def __init__(self, stream: Any, rename: Callable[[str], str]) -> None:
        self._stream = stream
        self._rename = rename

    def write(self, text: str) -> int:
        self._stream.write(self._rename(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:  # the stream's own would write them unrenamed
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, encoding, fileno: the stream's own
        return getattr(self._stream, name)


@contextmanager
def writing_to(path: str | Path) -> Iterator[None]:
    """`with writing_to(path):` an OSError while writing `path` (a folder in the way, no permission, a full disk)
    becomes one line for the user instead of a traceback."""
    try:
        yield
    except OSError as error:
        in_the_way = _file_above(Path(path)) if isinstance(error, (FileExistsError, NotADirectoryError)) else None
        if in_the_way is not None:  # mkdir's own words were "File exists", of a folder the user never named
            fail(f"cannot write to {path}: {in_the_way} is a file, not a folder")
        fail(f"cannot write to {path}: {error.strerror or error}")


def _file_above(path: Path) -> Path | None:
    """The nearest folder above `path` (or `path`'s parent itself) that is a file instead, if one is."""
    for above in path.parents:
        if above.is_file():
            return above
    return None


def refuse_foreign_files(folder: str | Path, kind: str, outputs: Sequence[str]) -> None:
    """Stop a local run that writes `outputs` into --out `folder` where they would land among other files: it may
    be new, empty, hold only `outputs` (an earlier run's, replaced) or be a results folder of the same `kind` (an
    engine run's, beside whose results they are written). Anything else is the user's or another run's: refused,
    as a results folder refuses it (map replaced a points.parquet it had not written, and wrote into evaluate's
    results)."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    from explainer.data.folders import is_unfinished_output
    from explainer.scale.manifest import MANIFEST, PARTIAL, ResultsError, partial_owner, read_manifest

    names = {entry.name for entry in folder.iterdir()}
    if PARTIAL in names and (running := partial_owner(folder)) is not None:  # an engine run's, going: not junk
        fail(f"another run ({running}) is writing into --out {folder}: wait for it to finish, or give another folder "
             f"(if no run is going, remove {folder / PARTIAL})")
    if MANIFEST in names:
        try:
            held = read_manifest(folder).kind
        except ResultsError as error:
            fail(str(error))
        if held == kind:
            return
        fail(f"--out {folder} holds the results of a run of '{held}': give another folder, or remove this one "
             f"(the {kind} files would be written among them)")
    if foreign := {name for name in names - set(outputs) if not is_unfinished_output(name, outputs)}:
        # beside this command's own files: said so ("holds no map results" of a folder holding them and notes.txt)
        held = f"holds files that {kind} did not write" if names & set(outputs) else (
            f"is not empty and holds no {kind} results")
        fail(f"--out {folder} {held} ({', '.join(sorted(foreign)[:5])}): give an empty or new folder")


def refuse_other_results(folder: str | Path, bundle: ModelBundle, data: LabelledData) -> None:
    """A local run on one file into a results folder of its own kind (refuse_foreign_files lets it in) writes its
    files beside the engine's results only when those are of this model and these bytes: another model's or file's
    were replaced in silence, the manifest and rows still describing the engine's run (a map of 50 rows of one
    model beside a manifest of 200 rows of another)."""
    from explainer.data.disk_cache import model_fingerprint
    from explainer.scale.manifest import MANIFEST, manifest_fields

    path = Path(folder) / MANIFEST
    if not path.is_file():
        return
    manifest = manifest_fields(folder)  # not read_manifest's check of every shard (refuse_foreign_files made it)
    try:
        kind, model, spec = manifest["kind"], manifest["model"], manifest["input_spec"]
        hashes = [entry["sha256"] for entry in manifest["files"]]
        same_model = manifest["model_fingerprint"] == model_fingerprint(bundle)
    except (KeyError, TypeError) as error:
        fail(f"{path} cannot be read as a results manifest ({error}): give another folder, or remove this one")
    if not same_model:
        other = (f"{model} as it was when they were written (its files have changed since)" if model == bundle.name
                 else f"another model, {model}")
    elif hashes != [data.content_hash]:
        other = f"another input, {spec}"
    else:
        return
    fail(f"--out {folder} holds the {kind} results of {other}: this run's files would be written among them; give "
         "another folder, or remove this one")


def refuse_unwritable_cache(out: str | Path) -> None:
    """Stop, before any pass, a run into `out` whose results are read back through the cache when the cache folder
    cannot be written (evaluate's report, map's projection): the pass ran to the end and then failed (evaluate
    with a traceback)."""
    from explainer.scale.results import cache_refusal

    if (refusal := cache_refusal(out)) is not None:
        fail(refusal)


class _BarProgress:
    """A library progress callback (explainer/progress.py) drawn as a tqdm bar: progress(done, total) moves it,
    stage(text) names an uncounted step (UMAP's layout, the neighbour search) beside it. The bar is drawn from the
    first of either: a map read from a results folder counts no texts, and drew an empty "map: 0text" at once."""

    def __init__(self, desc: str, unit: str) -> None:
        self.desc, self.unit = desc, unit
        self.bar: Any = None

    def _drawn(self, total: int | None = None, bar_format: str | None = None) -> Any:
        if self.bar is None:  # with its total (or a stage's format), else tqdm draws "0text" first
            from tqdm.auto import tqdm

            self.bar = tqdm(desc=self.desc, unit=self.unit, total=total, file=sys.stderr, bar_format=bar_format)
        return self.bar

    def __call__(self, done: int, total: int) -> None:
        bar = self._drawn(total)
        bar.bar_format = None  # counts again, after a stage drawn before any (see stage)
        bar.total = total
        bar.update(done - bar.n)

    def stage(self, text: str) -> None:
        bar = self._drawn(bar_format="{desc}")  # drawn first: the step's name alone, not "0text [...]"
        bar.set_description_str(f"{self.desc}: {text}")


@contextmanager
def progress_bar(desc: str, unit: str) -> Iterator[_BarProgress]:
    """`with progress_bar("map", "text") as progress:` a bar on stderr for a long library call."""
    progress = _BarProgress(desc, unit)
    try:
        yield progress
    finally:
        if progress.bar is not None:
            progress.bar.close()


def check_output_folder(path: str | Path) -> Path:
    """The --out folder, proven writable before any work (a folder that cannot be written fails in a second, not
    after minutes of computation): a probe file is written and removed, and so are the folders made for it."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        fail(f"--out {folder} is {not_a_folder(folder)}: give a folder")
    refuse_demo_output(folder)
    _prove_writable(folder, folder)
    return folder


def check_output_file(path: str | Path, data: str | Path | None = None) -> Path:
    """An output file's folder, proven writable before any work (as check_output_folder); never the --data file
    the command reads (`data`), which it would replace with its results, nor a name ending in a slash (a folder)."""
    if not str(path).strip():  # Path("") is "." ("--out . is a folder")
        fail("an output file name is empty: give a file name")
    file = Path(path)
    if file.is_dir():
        fail(f"{file} is a folder: give a file name")
    if names_folder(path):
        fail(f"{path} names a folder (it ends with /): give a file name")
    refuse_demo_output(file)
    # a demo's offered name: the file it stands for; "~" as load_cli_data reads it (a quoted '~/d.csv' was read
    # from home while this check looked for ./~/d.csv, and the output replaced the data set)
    data = None if data is None else Path(data_argument(data)).expanduser()
    try:
        same = data is not None and file.is_file() and Path(data).is_file() and file.samefile(data)
    except OSError:  # unreadable: not known to be the same (reading --data says why, if it cannot be read)
        same = False
    if same:
        fail(f"{file} is the --data file: writing it would replace the data set; give another file name")
    if file.parent.exists() and not file.parent.is_dir():
        fail(f"cannot write to {file}: {file.parent} is a file")
    from explainer.data.folders import is_output_stream, names_standard_stream

    if file.is_file() and is_output_stream(file) and not names_standard_stream(file):  # `--out p.csv > p.csv`:
        # renamed over the shell's file, the JSON printed after it went to one no longer there (/dev/stdout is
        # written through, a device such as /dev/null in place)
        fail(f"{file} is where this command prints (its stdout or stderr is redirected there): give another file "
             "name")
    if file.exists() and not file.is_file():  # a device, pipe or socket (/dev/stdout piped): opened and written as
        return file  # it is, no folder of its own to prove (its link led to /proc/PID/fd, "No such file")
    # a link is written through (its target's folder holds the new file renamed over it): that folder is proven
    _prove_writable(Path(os.path.realpath(file)).parent if file.is_symlink() else file.parent, file)
    return file


def names_folder(raw: str | Path) -> bool:
    """Whether an output named `raw`, as typed, ends in a slash: Path() drops it, and "out/new/" wrote a file "new"."""
    return str(raw).endswith(("/", os.sep))


def refuse_unrelated_file(out: Path, flag: str, ours: Callable[[Path], bool], what: str) -> None:
    """Fail when `out` is a file that `ours` does not take for this command's own earlier output or an empty file:
    a user's file given as the output was replaced in silence (report, challenge, counterfactual --out, evaluate
    --predictions-out). `what` says what it is not ("not a predictions file")."""
    if out.is_file() and not ours(out):
        fail(f"{flag} {out} exists and is {what}, or cannot be read: give another file name, or remove it first")


def first_line_passes(path: Path, check: Callable[[bytes], bool]) -> bool:
    """refuse_unrelated_file's `ours` for a file known by its first line (a header; a JSON line, its text repeated:
    read up to 64 MB): an empty file passes, one that cannot be read does not (the rename that replaces it needs no
    read permission)."""
    try:
        with path.open("rb") as file:
            first = file.readline(1 << 26)
    except OSError:
        return False
    return not first or check(first)


def json_object(line: bytes) -> dict | None:
    """A JSON line parsed: an object, else None."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def refuse_special_file(out: Path, hint: str = "give a file name") -> None:
    """Fail when `out` exists and is no regular file (a device, pipe or socket): an output written whole renames a
    file over it (--out /dev/full became one, run as root). Said before any work; write_whole refuses it too. Nor
    the command's own stdout or stderr (`--out /dev/stdout > r.html`: renamed over, the summary printed after it
    went to a file no longer there)."""
    from explainer.data.folders import is_output_stream

    if is_output_stream(out):
        fail(f"--out {out} is where this command prints (its stdout or stderr): the file is written whole and "
             f"renamed into place; {hint}")
    if out.exists() and not out.is_file():
        fail(f"--out {out} is not a regular file (a device, pipe or socket): {hint}")


def refuse_demo_output(out: Path) -> None:
    """Under EXPLAINER_DEMO, fail when `out` lies where a visitor's output would change what the server serves or
    runs: inside a data root or beside an offered file (an offered data set was replaced by `evaluate
    --predictions-out`, its numbers wrong for every visitor after), inside an offered model's folder
    (`counterfactual --out MODEL/config.json` left the model unloadable), the app's own folder, its cache or its
    Python environment."""
    demo = _demo()
    if demo is None:
        return
    from explainer.data.disk_cache import cache_dir
    from explainer.loading.shipped import SHIPPED

    # links followed, also where the output does not exist yet; "~" as written: outputs are written where named
    # (a quoted '~/x.html' run in the cache wrote the cache's ~/x.html while home was checked)
    where = Path(os.path.realpath(out))
    shipped = {model.name: model.folder for model in SHIPPED}
    guarded = [(root, "this demo's data") for _, root in demo.data_roots]
    guarded += [(Path(model.target) if Path(model.target).is_absolute() else shipped.get(model.target),
                 "an offered model's folder") for model in demo.models]
    guarded += [(Path(__file__).parents[2], "the app's own folder"), (cache_dir(), "the app's cache"),
                (Path(sys.prefix), "the app's Python environment")]
    inside = [(os.path.realpath(folder), what) for folder, what in guarded
              if folder is not None and where.is_relative_to(os.path.realpath(folder))]
    if inside:  # named by the innermost (a checkout's .venv: the Python environment)
        fail(f"{out} is inside {max(inside, key=lambda pair: len(pair[0]))[1]}: write the output elsewhere")
    # beside an offered file: in its folder (not that folder's subfolders: an offered /tmp/reviews.csv kept all of
    # /tmp)
    if any(where.parent == Path(os.path.realpath(root)).parent for _, root in demo.data_roots if not root.is_dir()):
        fail(f"{out} is beside a data file this demo offers: write the output elsewhere")


def refuse_link_to_nothing(folder: Path, named: Path) -> None:
    """Fail when `folder` or a folder above it is a link to nothing or a link loop: mkdir through it said only "File
    exists", and resolve() raised RuntimeError on a loop."""
    for part in (folder, *folder.parents):
        if part.is_symlink() and not part.exists():
            try:
                part.stat()
            except OSError as error:
                fail(f"cannot write to {named}: {part} is a link that leads nowhere ({error.strerror or error})")


def _prove_writable(folder: Path, named: Path) -> None:
    """Write and remove a probe file in `folder`, creating it for the probe only: folders it had to create are
    removed again, so a command refused later (a model or a file it cannot read) leaves nothing behind; the
    writers create them. Failing, say so of `named`."""
    refuse_link_to_nothing(folder, named)
    missing = missing_folders(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as error:
        fail(f"cannot write to {named}: {error.strerror or error}")
    finally:
        remove_made(missing)


# ---- demo mode (EXPLAINER_DEMO): the CLI takes only what the demo config offers, like the app ------------------


def _demo():
    from explainer.serving.demo import DemoConfigError, active_demo, requested_config

    try:
        return active_demo()
    except DemoConfigError as error:
        # its reason names the config's, a model's or a data set's resolved path: the entry and the reason are said,
        # the server's paths are not (the app says less still: its visitor reads a fixed line, the log the rest).
        # The paths it names are replaced whole first: the pattern's stops at a space ("/srv/my demo/x" showed
        # "demo/x")
        said = str(error)
        named = [str(path) for path in error.paths] + [str(Path(requested_config() or "").expanduser())]
        for path in sorted(named, key=len, reverse=True):
            if os.path.isabs(path):
                said = said.replace(path, SERVER_PATH)
        fail(_ABSOLUTE.sub(SERVER_PATH, said))


def demo_limits():
    """The demo config's Limits under EXPLAINER_DEMO (serving.demo.Limits), else None."""
    demo = _demo()
    return None if demo is None else demo.limits


def encoded_text(bundle: ModelBundle, text: str) -> Encoded | None:
    """`text` as the model reads it (its tokens counted with the special ones, as the pages count them); None
    when the model cannot read it (the command then says why)."""
    from explainer.capture.encoding import encode

    try:
        return encode(bundle, text)
    except InputError:
        return None


def within_demo_tokens(bundle: ModelBundle, text: str, what: str, limit_name: str) -> None:
    """Under EXPLAINER_DEMO, refuse `text` when the model reads more tokens of it than the config's `limit_name`
    (a field of serving.demo.Limits) allows for `what`, counted as the app's pages count them (special tokens
    too); outside demo mode, nothing."""
    excess = demo_token_excess(bundle, text, what, limit_name)
    if excess is not None:
        fail(excess)


def demo_token_excess(bundle: ModelBundle, text: str, what: str, limit_name: str) -> str | None:
    """Why this demo will not compute `what` for `text` (more tokens than its `limit_name` allows); None when it
    will, when the model cannot read the text (the command says why) and outside demo mode."""
    limits = demo_limits()
    if limits is None or not text.strip():
        return None
    encoded = encoded_text(bundle, text)
    if encoded is None:
        return None
    tokens, limit = len(encoded.special), int(getattr(limits, limit_name))
    if tokens <= limit:
        return None
    has = f"{tokens:,}" if not encoded.truncated else f"{encoded.num_text_tokens:,} (the model reads {tokens:,})"
    return f"this demo computes {what} for texts of at most {limit:,} tokens; this one has {has}"


def model_argument(name: str | None) -> str | None:
    """--model as load_model takes it. Under EXPLAINER_DEMO only an offered name (its shipped name or folder);
    anything else, a path or a hub id included, is refused before anything is read or fetched."""
    demo = _demo()
    if demo is None:
        return name
    if name is None:
        return demo.models[0].target
    if name not in demo.model_names:
        # a path is not repeated: fail() would call an offered folder by its name ("'x' is not offered; offered: x")
        from explainer.loading.bundle import looks_like_path

        said = "a model path" if looks_like_path(name) else f"model {name!r}"
        fail(f"{said} is not offered by this demo (--model takes an offered name); offered: "
             f"{', '.join(demo.model_names)}")
    return demo.model_target(name)


def offered_model(name: str | None) -> str | None:
    """Under EXPLAINER_DEMO, the offered name --model stands for (the first one offered when none is given): what
    a report shows and links to in place of its folder, as the app does. None outside demo mode."""
    demo = _demo()
    if demo is None:
        return None
    return name if name is not None else demo.models[0].name


def note_unused_tau(bundle: ModelBundle, tau: float | None, flag: str, shown: str | None = None) -> None:
    """Say on stderr that a tau given for a model without activation beacons (a baseline twin, any other family)
    changes nothing: it was ignored in silence, with the output reading as if it had been applied."""
    from explainer.models import uses_beacons

    if tau is not None and not uses_beacons(bundle.model.config):
        print(f"note: {shown or bundle.name} has no activation beacons; {flag} changes nothing", file=sys.stderr)


def data_argument(raw: str | Path) -> str:
    """--data as a path to read. Under EXPLAINER_DEMO: an offered data set's name, or a path that resolves
    (symlinks followed) inside one of the config's data roots; anything else is refused without reading it."""
    demo = _demo()
    if demo is None:
        return str(raw)
    from explainer.serving.paths import PathRefused

    offered = demo.data_choices()
    if str(raw) in offered:
        return str(demo.data_path(str(raw)))
    try:
        path = _inside_data_roots(demo, raw)
    except PathRefused as refused:
        fail(f"{refused} Offered data sets: {_listed(offered)}")
    if path not in set(offered.values()):  # inside a root, yet no data set it offers: notes.txt was read and its
        # rows printed (a folder offers its CSV, TSV, JSONL and Parquet files, a .txt only when named itself)
        fail(f"{raw} is not a data set this demo offers. Offered data sets: {_listed(offered)}")
    return str(path)


def _listed(offered: Mapping[str, Path], shown: int = 20) -> str:
    """The offered names, the first `shown` of them: a folder of thousands listed every one in each refusal."""
    names = list(offered)
    return (", ".join(names[:shown]) + (f" and {len(names) - shown:,} more" if len(names) > shown else "")) or "none"


def _inside_data_roots(demo, raw: str | Path) -> Path:
    """`raw` resolved (symlinks followed, relative to the demo config's folder); PathRefused unless it lies inside
    one of the config's data roots."""
    from explainer.serving.paths import resolve_inside

    return resolve_inside(raw, [root for _, root in demo.data_roots], base=demo.source.parent)


def offered_data_name(raw: str) -> str:
    """--data as parsed. Under EXPLAINER_DEMO a path to a file the demo offers becomes the name it is offered by,
    so outputs and messages call it as the app does (a relative path was printed as typed, the absolute one renamed);
    anything else stays as given, for data_argument to take or refuse."""
    named_path(raw)  # "" read the current folder, "is a folder"
    demo = _demo()
    if demo is None:
        return raw
    offered = demo.data_choices()
    if raw in offered:
        return raw
    from explainer.serving.paths import PathRefused

    try:
        path = _inside_data_roots(demo, raw)
    except (PathRefused, ValueError, OSError):
        return raw
    return next((name for name, file in offered.items() if file == path), raw)


def data_name(raw: str | Path) -> str | None:
    """What messages call --data: under EXPLAINER_DEMO the name given (an offered name, or a path as typed),
    never the resolved path on the server; else None (the path itself)."""
    return None if _demo() is None else str(raw)


def quote_contents() -> bool:
    """Whether error messages may quote a data file's contents: not under EXPLAINER_DEMO."""
    return _demo() is None


# ---- loading, the same way in every command -----------------------------------------------------------------


def add_allow_pickle(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-pickle", action="store_true",
        help="load pickle weights (pytorch_model.bin) when a folder has no safetensors: only for files you trust",
    )


def load_cli_model(name: str | None, allow_pickle: bool = False) -> ModelBundle:
    """--model loaded as every command loads it: under EXPLAINER_DEMO only an offered one (model_argument), and
    a model that cannot be loaded is a one-line error."""
    from explainer.loading.bundle import ModelLoadError, load_model, out_of_memory

    if name is not None and not name.strip():  # "" read as the current folder ("." has no config.json)
        fail("--model is empty: give a shipped model's name, a model folder or a hub id, or leave --model out for "
             "the default model")
    target = model_argument(name)
    try:
        return load_model(target, allow_pickle=allow_pickle)
    except (ModelLoadError, OSError) as error:
        offered = offered_model(name)
        # under EXPLAINER_DEMO as the app says it: the reason quotes the folder's files (its config, a base path)
        fail(str(error) if offered is None else f"{offered} cannot be loaded (EXPLAINER_DEMO hides why)")
    except (RuntimeError, MemoryError) as error:  # torch.OutOfMemoryError is a RuntimeError
        if not out_of_memory(error):
            raise
        # the machine, not the model: a later try may fit
        said = str(error).splitlines()[0] if str(error) else type(error).__name__
        fail(f"out of memory while loading {name or 'the default model'}: {said}; free memory, or load a smaller "
             "model")


def names_shards(raw: str | Path) -> bool:
    """Whether --data names a folder of labelled files or a glob of them (not one file): the engine reads those."""
    path = Path(str(raw)).expanduser()
    return path.is_dir() or (any(mark in str(raw) for mark in "*?[") and not path.exists())


def load_cli_data(
    bundle: ModelBundle, raw: str | Path, text_column: str | None = None, label_column: str | None = None
) -> LabelledData:
    """--data read as every command reads it: under EXPLAINER_DEMO only an offered file (data_argument) and no
    contents quoted in errors; a file that is not a labelled data set is a one-line error. Skipped rows are
    listed on stderr (the first 20)."""
    from explainer.data.labelled import DatasetError
    from explainer.evaluation.error_report import load_labelled

    path = Path(data_argument(raw)).expanduser()
    if not path.exists() and any(mark in str(raw) for mark in "*?["):
        fail(f"{raw}: no such file (a glob of shards is read by evaluate, map and markers with --out DIR)")
    if path.is_dir():  # said here, not by the library: `train` and the app read no folder at all
        fail(f"{raw} is a folder: give the path of a CSV, TSV, JSONL or Parquet file (a folder of shards is read "
             "by evaluate, map and markers with --out DIR)")
    try:
        data = load_labelled(bundle, path, filename=data_name(raw), text_column=text_column,
                             label_column=label_column, quote_contents=quote_contents())
    except DatasetError as error:
        fail(str(error))
    except OSError as error:
        fail(f"cannot read {raw}: {error.strerror or error}")
    report_skipped(data.problems)
    from explainer.data.labelled import data_notes

    for note in data_notes(data):
        print(f"note: {note}", file=sys.stderr)
    return data


def note_long_rows(bundle: ModelBundle, data: LabelledData, lengths: np.ndarray | None = None) -> int:
    """Say on stderr how many rows hold more tokens than `bundle` reads (their beginning alone is judged, and their
    token counts stop at the limit: cut unsaid, a long review read as judged whole), with the first one's line (and
    file, of several); returns that count (0: none). `lengths` [N]: the tokens each row was read with, when a pass
    gave them (only rows read at the limit are tokenised again)."""
    from explainer.evaluation.predict import longer_than_read

    longer = np.flatnonzero(longer_than_read(bundle, data.texts, lengths))
    if len(longer):
        first = int(longer[0])
        where = f"line {data.lines[first]}" if first < len(data.lines) else f"row {first}"
        if first < len(data.row_files):  # lines count per file: of several, the file too
            where += f" of {data.row_files[first]}"
        rows, judged = ("1 row holds", "its beginning") if len(longer) == 1 else (
            f"{len(longer):,} rows hold", "the beginning of each")
        print(f"note: {rows} more tokens than {as_offered(bundle.name)} reads ({bundle.max_length:,} with special "
              f"tokens; first on {where}): only {judged} is judged"
              + ("." + CUT_LEFT_ELSEWHERE) * bundle.cuts_left_elsewhere, file=sys.stderr)
    return len(longer)


def report_skipped(problems: Sequence[tuple[int, str]]) -> None:
    """The first 20 skipped rows of a data file, on stderr, and how many more."""
    for line, reason in problems[:20]:
        print(f"skipped line {line}: {reason}", file=sys.stderr)
    if len(problems) > 20:
        print(f"... and {len(problems) - 20} more skipped lines", file=sys.stderr)
