"""Streamlit glue of the Errors and Compare pages: choosing a labelled data set, running it with a progress bar
(the report kept per session, the predictions on disk), and opening one example in another view."""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, Any

import streamlit as st

from explainer.data.challenge import DEFAULT_PATH
from explainer.data.disk_cache import file_version
from explainer.data.labelled import DatasetError, LabelledData
from explainer.evaluation.error_report import MAX_UPLOAD_BYTES, MEGABYTE, ErrorReport, check_upload_size, load_labelled
from explainer.loading.bundle import ModelBundle
from explainer.scale.manifest import run_kind
from explainer.serving.paths import PathRefused
from explainer.ui import demo as demo_mode
from explainer.ui import export, links, navigation, text_box
from explainer.ui.problems import show_problem
from explainer.ui.widget_state import browser_holds, resend
from explainer.views import evaluation as evaluation_views
from explainer.views.text import markdown_literal

if TYPE_CHECKING:
    import pandas as pd

    from explainer.dataset_map.maps import MapResult  # the map page's result: its problems and label note

SOURCES = ("Challenge set (shipped)", "Upload a file", "Path on this machine")
# what read_dataset reads; every uploader
UPLOAD_TYPES = ("csv", "tsv", "tab", "jsonl", "ndjson", "json", "txt", "parquet", "pq")
# A demo takes no Parquet upload: a few hundred bytes of it unpack to gigabytes (one string stored once, read once
# per row: 795 bytes were 500 MB of text), past the upload limit, which counts the bytes sent
PARQUET_TYPES = ("parquet", "pq")
LISTED = "A data set offered here"  # demo mode's only server-side source: the config's list, by name
RESULTS = "Results folder"  # a folder a run's `--out` wrote (either engine): read back, the model not run
PREDICTION_KINDS = ("evaluate", "map")  # results folders that hold predictions
# The command that writes each kind of results folder (any engine; --engine ray for a cluster).
RUN_COMMANDS = {"evaluate": "python -m explainer evaluate --data ... --out DIR",
                "map": "python -m explainer map --data ... --out DIR",
                "markers": "python -m explainer markers --data FOLDER --out DIR",  # one file writes no results
                "sweep": "python -m explainer evaluate --sweep-tau --data ... --out DIR"}
# The per-example views, in the order they are offered; only those present in this checkout are listed.
OPEN_KEY = "_open_example"  # (page, text) set by a table's callback, acted on by the next run


class NothingChosen(DatasetError):
    """No file chosen yet (the uploader empty, the path box blank): a prompt, shown as such, not as an error."""


@dataclass(frozen=True)
class DataChoice:
    """What the data widgets chose; `load(bundle)` reads it (DatasetError with the reason when it cannot)."""

    kind: str
    upload: object | None = None  # a Streamlit UploadedFile
    path: str = ""  # SOURCES[2]: a path typed in local mode; LISTED: the name of a data set the demo offers
    text_column: str | None = None
    label_column: str | None = None
    results_kinds: tuple[str, ...] = PREDICTION_KINDS  # RESULTS: the runs this page can show

    @property
    def identity(self) -> tuple:
        """Changes whenever the data would: which file, its file_version, which columns."""
        if self.kind == RESULTS:
            manifest = Path(self.path.strip()).expanduser() / "manifest.json"
            stat = _stat(manifest)
            return ("results", str(manifest), file_version(stat) if stat else 0)
        if self.kind == SOURCES[1]:  # none yet: no file's identity (it was the challenge set's, whose kept report
            # the page then showed under "Upload a file")
            ident: tuple = ("upload", self.upload.file_id, self.upload.size) if self.upload is not None else ("upload",)
        elif self.kind == LISTED:
            try:
                path = listed_path(self.path)
            except DatasetError:
                return ("listed", self.path, self.text_column, self.label_column)
            stat = _stat(path)
            ident = ("path", str(path), file_version(stat) if stat else 0)
        else:
            path = Path(self.path if self.kind == SOURCES[2] else DEFAULT_PATH).expanduser()
            stat = _stat(path)
            ident = ("path", str(path), file_version(stat) if stat else 0)
        return (*ident, self.text_column, self.label_column)

    def load(self, bundle: ModelBundle) -> LabelledData:
        columns = {"text_column": self.text_column, "label_column": self.label_column}
        if self.kind == SOURCES[1]:
            if self.upload is None:
                raise NothingChosen(f"Choose a {upload_kinds()} file to upload.")
            check_upload(self.upload)
            data = load_labelled(bundle, self.upload, filename=self.upload.name, upload_limit=upload_limit(),
                                 **columns)
            return private_to_session(check_upload_rows(data))
        if self.kind == LISTED:
            # Called by its offered name in every message and caption, never by its path on the server.
            return load_labelled(bundle, listed_path(self.path), filename=self.path, quote_contents=False,
                                 **columns)
        if self.kind == RESULTS and demo_mode.config() is None:
            return results_data(bundle, self.path, self.results_kinds)
        if self.kind == SOURCES[2] and demo_mode.config() is None:
            if not self.path.strip():
                raise NothingChosen("Enter the path of a CSV, TSV, JSONL or Parquet file on this machine.")
            # A server file: its contents stay out of error messages (whoever reaches the port may type any path).
            return load_labelled(bundle, Path(self.path.strip()).expanduser(), quote_contents=False, **columns)
        if self.kind == SOURCES[0] and demo_mode.config() is None:  # called by its file name, as in the picker
            return load_labelled(bundle, DEFAULT_PATH, filename=DEFAULT_PATH.name, **columns)
        raise DatasetError("Choose a data set from the list.")  # demo mode: no other source exists


def _stat(path: Path) -> os.stat_result | None:
    """A file's stat, or None when it is not a file or is gone by now (checked, then deleted: the stat after an
    is_file() raised, a traceback on the page); the read that follows says what is wrong."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat if S_ISREG(stat.st_mode) else None


def sources(results: bool = False) -> tuple[str, ...]:
    """The data sources offered: in demo mode the config's list (and uploads when it allows them), else all
    (with `results`, also a results folder: pages that read predictions or vectors back)."""
    demo = demo_mode.config()
    if demo is None:
        return (*SOURCES, RESULTS) if results else SOURCES
    uploads = (SOURCES[1],) if demo.limits.max_upload_mb > 0 else ()
    if uploads and not demo.data_choices():  # nothing offered (none listed, or folders holding no data file):
        return uploads  # "a data set offered here" opened on an empty list
    return (LISTED, *uploads)


def results_data(bundle: ModelBundle, folder: str, kinds: tuple[str, ...] = PREDICTION_KINDS) -> LabelledData:
    """The rows of a results folder, its predictions (and a map run's vectors) put in the caches this page reads,
    so nothing is recomputed. ValueError (shown as is) for a folder that is not results, another model's results
    or a run this page cannot show."""
    return results_run(bundle, folder, kinds)[0]


def results_run(
    bundle: ModelBundle, folder: str, kinds: tuple[str, ...] = PREDICTION_KINDS
) -> tuple[LabelledData, dict[str, Any]]:
    """results_data and the options of the run (a dictionary's options, a sweep's taus: the cache keys its results
    are found under)."""
    from explainer.scale.results import open_results, seed_caches

    if not folder.strip():
        raise NothingChosen("Enter the path of a results folder (the --out folder of a run with either engine).")
    results = open_results(folder.strip())
    _refuse_other_kinds(folder, results.manifest.kind, kinds, f"this page shows {' or '.join(kinds)} runs")
    return seed_caches(bundle, results), dict(results.manifest.options)


def _refuse_other_kinds(folder: str, kind: str, kinds: Sequence[str], wanted: str) -> None:
    """DatasetError (shown as is) for a folder whose run is not of `kinds`: what it holds, `wanted`, and the
    commands that write what is wanted."""
    if kind not in kinds:
        raise DatasetError(f"{folder.strip()} holds {'an' if kind[0] in 'aeiou' else 'a'} {kind} run; {wanted} "
                           f"({'; '.join(RUN_COMMANDS[k] for k in kinds)})")


def seed_second_results(bundle: ModelBundle, folder: str, data: LabelledData) -> LabelledData:
    """Compare: put model B's results (same input as A's folder, a run whose predictions it holds) in B's
    prediction cache; `data` unchanged."""
    if folder.strip():
        from explainer.scale.results import open_results, seed_caches

        results = open_results(folder.strip())
        if results.manifest.input_hash != data.content_hash:
            raise DatasetError(f"{folder.strip()} holds results of another input ({results.manifest.input_spec})")
        # a markers run or a sweep holds no predictions: B ran in silence
        _refuse_other_kinds(folder, results.manifest.kind, PREDICTION_KINDS, "model B's folder must hold predictions")
        seed_caches(bundle, results)
    return data


def results_tau(folder: str) -> float | None:
    """The tau a results folder's run used (None: the model's own, or no such folder): the pages read its
    predictions under that tau, where they had looked under the model's own and ran the model again, showing
    numbers of another tau under the folder's name. Read from the manifest that opening the folder checked."""
    from explainer.scale.manifest import manifest_fields

    fields = manifest_fields(Path(folder.strip()).expanduser()) if folder.strip() else None
    options = fields.get("options") if fields is not None else None
    tau = options.get("beacon_threshold") if isinstance(options, dict) else None
    return float(tau) if isinstance(tau, int | float) and not isinstance(tau, bool) else None


def choice_tau(choice: DataChoice) -> float | None:
    """The tau the chosen data's predictions were made at: a results folder's run's, else None (the model's own)."""
    return results_tau(choice.path) if choice.kind == RESULTS else None


UPLOAD_SALT_KEY = "_upload_cache_salt"  # this session's: its uploads' cache entries are its own (private_to_session)


def private_to_session(data: LabelledData) -> LabelledData:
    """In demo mode, an upload whose disk-cache entries are this session's alone (its cache_scope, a salt kept in
    the session): the cache is the server's, and a hit (a caption saying the predictions were read from it, a
    sweep or dictionary shown at once) told a visitor that someone had sent the same file before. Its content
    hash stays the file's (the Map's slices of picked rows are tied to it). Unchanged in local mode."""
    if demo_mode.config() is None:
        return data
    return replace(data, cache_scope=st.session_state.setdefault(UPLOAD_SALT_KEY, secrets.token_hex(16)))


def tau_said(bundle: ModelBundle, tau: float | None, who: str = "the folder's") -> str:
    """", at the folder's tau 0.5" for a caption, when a folder's run set a tau that `bundle` reads (a model without
    beacons ignores it, as the command that wrote the folder said); "" otherwise."""
    from explainer.models import uses_beacons

    return f", at {who} tau {tau:g}" if tau is not None and uses_beacons(bundle.model.config) else ""


def check_upload(upload) -> None:
    """Before an upload is read: its size against the limit, and in a demo no Parquet (a few hundred bytes of it
    unpack to gigabytes, past a limit that counts the bytes sent)."""
    check_upload_size(upload.size, upload.name, upload_limit())
    if demo_mode.config() is not None and Path(upload.name).suffix.lower().lstrip(".") in PARQUET_TYPES:
        raise DatasetError(f"{upload.name}: this demo takes no Parquet upload (a few bytes of Parquet can unpack to "
                           "gigabytes); upload it as CSV, TSV or JSONL")


def upload_kinds() -> str:
    """The formats an upload may be in, as the uploader's label says them."""
    return "CSV, TSV or JSONL" if demo_mode.config() is not None else "CSV, TSV, JSONL or Parquet"


def upload_limit() -> int:
    """Largest upload in bytes: the demo config's, else the library's."""
    demo = demo_mode.config()
    return MAX_UPLOAD_BYTES if demo is None else demo.limits.max_upload_mb * MEGABYTE


def check_upload_rows(data: LabelledData, passes_per_row: int = 1, work: str = "") -> LabelledData:
    """Demo mode: an upload of more rows than the config allows is refused before the model runs on it (the byte
    limit alone let ~100,000 short rows through: a minute of the server's CPU per upload, uploads cached by none).
    Work that runs each row `passes_per_row` times (the marker dictionary's forced runs, the tau sweep; `work`
    names it) gets that many times fewer rows: 2,000 rows of the dictionary had taken 20 minutes of both cores."""
    demo = demo_mode.config()
    if demo is None:
        return data
    allowed = demo.limits.max_upload_rows // max(1, passes_per_row)  # 0: not one row fits (it let one through)
    if len(data) > allowed:
        if not allowed:
            raise DatasetError(no_upload_fits(passes_per_row, work))
        raise DatasetError(f"{data.source} has {len(data):,} rows; this demo runs the model on at most "
                           f"{allowed:,} row{'s' if allowed != 1 else ''} of an upload here"
                           f"{_runs_per_row(passes_per_row, work)}. Upload a sample of it.")
    return data


def _runs_per_row(passes_per_row: int, work: str) -> str:
    demo = demo_mode.config()
    if demo is None or passes_per_row <= 1:
        return ""
    return (f" ({work} runs the model {passes_per_row:,} times per row, and the demo allows "
            f"{demo.limits.max_upload_rows:,} row runs)")


def no_upload_fits(passes_per_row: int, work: str = "") -> str | None:
    """In demo mode, why no upload can run `work` (None when one row fits, or outside demo mode): its runs per
    row exceed the demo's upload row limit."""
    demo = demo_mode.config()
    if demo is None or demo.limits.max_upload_rows // max(1, passes_per_row):
        return None
    listed = "; choose a data set from the list" if demo.data_choices() else ""
    return f"This demo runs the model on no upload here{_runs_per_row(passes_per_row, work)}{listed}."


def uploader(prefix: str):
    """The labelled-file uploader every page uses: the types read_dataset reads, and the size limit said in its
    label and enforced by the browser's drop zone (which would otherwise say Streamlit's 200 MB)."""
    limit_mb = max(upload_limit() // MEGABYTE, 1)
    key, kept_key, empty_key = f"{prefix}_upload", f"_{prefix}_upload_kept", f"_{prefix}_upload_shown_empty"
    held = browser_holds(key)  # False: the browser draws the box anew, empty (after a page switch, or a run that
    # stopped before it), and a file cannot be sent back to it: the session's copy is used, and said so
    demo = demo_mode.config() is not None
    upload = st.file_uploader(
        f"Labelled {upload_kinds()} (at most {limit_mb:,} MB; text as UTF-8)",
        type=[t for t in UPLOAD_TYPES if not (demo and t in PARQUET_TYPES)], key=key, max_upload_size=limit_mb,
    )
    if held and upload is not None:  # the file the box shows
        st.session_state[kept_key], st.session_state[empty_key] = upload, False
        return upload
    if held and not st.session_state.get(empty_key):  # the box showed a file and the visitor removed it
        st.session_state.pop(kept_key, None)
        return None
    # the box is empty because it was drawn anew (this run's value, if any, is the session's, not the box's)
    kept = upload if upload is not None else st.session_state.get(kept_key)
    if kept is None:
        return None
    st.session_state[kept_key], st.session_state[empty_key] = kept, True  # an empty box: nothing to remove there
    st.caption(f"Using {markdown_literal(kept.name)}, uploaded earlier in this session; upload another file to "
               "replace it.")
    return kept


def listed_path(name: str) -> Path:
    """The file the demo config offers as `name`, checked again now; DatasetError (safe to show) otherwise."""
    demo = demo_mode.config()
    if demo is None:
        raise DatasetError("Data sets are offered by name only in demo mode.")
    if not name and not demo.data_choices():  # a config without [[data]] (or with empty folders): no list to use
        other = "upload a file instead" if demo.limits.max_upload_mb > 0 else "the pages on a typed text work"
        raise DatasetError(f"This demo offers no data sets; {other}.")
    try:
        return demo.data_path(name)
    except PathRefused as refused:
        raise DatasetError(str(refused)) from None


def linked_results(kinds: Sequence[str]) -> bool:
    """Whether the link's results= folder is one of `kinds` of run, as its manifest says (a folder that cannot be
    read counts: the page then says what is wrong with it). The opening link seeds every page's first visit, and a
    markers run's folder left each other data page on an error ("holds a markers run; this page shows ...")."""
    folder = str(st.session_state.get(links.LINK_KEY, {}).get("results") or "").strip()
    if not folder:
        return False
    kind = run_kind(folder)
    return kind is None or kind in kinds


def seed_data_widgets(prefix: str, results_kinds: Sequence[str] = PREDICTION_KINDS) -> None:
    """First values of the data widgets from a shared link: data=PATH (a file on this machine; in demo mode the
    name of an offered data set), results=FOLDER where its run is of `results_kinds` (what the page shows),
    text_column, label_column. Call before data_widgets."""
    demo = demo_mode.config()
    if demo is not None:
        seed_listed(prefix, list(demo.data_choices()))
        links.seed_choice(f"{prefix}_source", "source", sources(), tell=True)
    else:
        links.seed_option(f"{prefix}_path", "data", str, "")
        links.seed_option(f"{prefix}_results", "results", str, "")  # after the first seed: the link is read
        if linked_results(results_kinds):
            links.seed_option(f"{prefix}_source", "results", lambda raw: RESULTS, SOURCES[0])
        else:
            links.seed_option(f"{prefix}_source", "data", lambda raw: SOURCES[2] if raw else SOURCES[0], SOURCES[0])
        resend(f"{prefix}_source")  # a radio, seeded here by seed_option, which does not resend
    links.seed_option(f"{prefix}_text_column", "text_column", str, "")
    links.seed_option(f"{prefix}_label_column", "label_column", str, "")


def data_link(choice: DataChoice) -> dict[str, str]:
    """The link options that reproduce `choice` (empty values leave the link: see links.publish_options). In demo
    mode the source is a link option of its own (seed_data_widgets reads source=): an upload chosen is said there,
    so Back to the data set chosen before leaves the uploader; the first source, and one the demo lacks, leave
    it (a stale source= from another link was told again on every reopening)."""
    demo = demo_mode.config() is not None
    return {
        "data": choice.path.strip() if choice.kind in (SOURCES[2], LISTED) else "",
        "results": choice.path.strip() if choice.kind == RESULTS else "",
        "text_column": choice.text_column or "",
        "label_column": choice.label_column or "",
        **({"source": choice.kind if choice.kind in sources()[1:] else ""} if demo else {}),
    }


def seed_listed(prefix: str, names: list[str]) -> None:
    """Demo mode: the offered data set box's first value from the link's data= (an offered name); any other
    value, or a results= folder (a source the demo never offers: dropped unsaid), opens the first offered set, and
    say_refused says so while that choice stands."""
    results = links.from_link(f"{prefix}_listed", "results")  # None when kept from an earlier visit
    linked = links.from_link(f"{prefix}_listed", "data")
    links.seed_choice(f"{prefix}_listed", "data", names or [""])
    if names and ((linked and linked not in names) or (results and not linked)):
        # with none offered, the page says so: "choose one from the list" would be a dead end
        st.session_state[f"{prefix}_refused"] = st.session_state[f"{prefix}_listed"]


def say_refused(prefix: str) -> None:
    """The warning for a linked data set the demo does not offer (seed_listed), one wording on every page; kept
    while the offered set opened instead stands: a page's second run (after its first figure) must not wipe it."""
    refused = st.session_state.get(f"{prefix}_refused")
    if refused is not None and st.session_state.get(f"{prefix}_listed") == refused:
        st.warning("The link names a data set this demo does not offer; choose one from the list.")
    elif refused is not None:
        del st.session_state[f"{prefix}_refused"]


def source_radio(prefix: str, choices: Sequence[str]) -> str:
    """The data source radio, or, where there is one source (a demo without uploads), that source with no radio: a
    lone "A data set offered here" sat above the list, also labelled "Data set"."""
    if len(choices) == 1:
        st.session_state[f"{prefix}_source"] = choices[0]  # read as the radio's value elsewhere
        return choices[0]
    return st.radio("Data set", choices, horizontal=True, key=f"{prefix}_source")


def results_caption(kinds: tuple[str, ...]) -> str:
    """Which runs' --out folders this page opens: the Map page said `evaluate`'s too, and then refused one."""
    said = {"evaluate": "`python -m explainer evaluate` (either engine)",
            "map": "`map` (on Ray, or on a folder or glob of files)",
            "markers": "`markers` (on Ray, or on a folder or glob of files)",
            "sweep": "`evaluate --sweep-tau` (either engine)"}
    runs = [said[kind] for kind in kinds if kind in said]
    listed = runs[0] if len(runs) == 1 else ", ".join(runs[:-1]) + f" or {runs[-1]}"
    return f"The --out folder of {listed}: shown as computed there, for the model that computed it."


def data_widgets(prefix: str, results_kinds: tuple[str, ...] = ()) -> DataChoice:
    """Source (challenge set, upload, path, and a results folder of `results_kinds` runs when given) and the
    optional column names."""
    say_refused(prefix)
    kind = source_radio(prefix, sources(bool(results_kinds)))
    # no link carries an upload: a report's live link would open this page on another data set (set each run once the
    # radio is drawn; the sidebar's report button, drawn first, keeps the last run's word on the same page only)
    links.report_inputs()["uploaded"] = kind == SOURCES[1]
    upload, path = None, ""
    if kind == LISTED:
        demo = demo_mode.config()
        path = st.selectbox("Data set", list(demo.data_choices()) if demo else [], key=f"{prefix}_listed") or ""
    elif kind == SOURCES[1]:
        upload = uploader(prefix)
        other = "a data set offered here" if demo_mode.config() else "a path on this machine"
        st.caption(f"An uploaded file does not travel in a shared link; {other} does.")
    elif kind == SOURCES[2]:
        path = text_box.text_input("Path", f"{prefix}_path", placeholder="/data/sst2/dev.tsv")
    elif kind == RESULTS:
        path = text_box.text_input("Results folder", f"{prefix}_results", placeholder="/data/results/sst2-eval")
        st.caption(results_caption(results_kinds))
        return DataChoice(kind, None, path, None, None, results_kinds)
    # open when a name is given (a link's text_column=): a wrong name's refusal then shows the box to clear
    named = any(str(st.session_state.get(f"{prefix}_{side}_column") or "").strip() for side in ("text", "label"))
    with st.expander("Columns (detected unless named here)", expanded=named):
        left, right = st.columns(2)
        text_column = text_box.text_input("Text column", f"{prefix}_text_column", left).strip() or None
        label_column = text_box.text_input("Label column", f"{prefix}_label_column", right).strip() or None
    return DataChoice(kind, upload, path, text_column, label_column)


class ProgressBar:
    """A data-set pass's bar: `bar(done, total)` counts examples, `bar.stage(text)` names a step with no count
    (explainer.progress.announce), so a long UMAP layout does not sit under "Predicted N of N"."""

    def __init__(self, text: str, label: str = "") -> None:
        self.label, self.fraction = label, 0.0
        self.bar = st.progress(0.0, text=text)

    def __call__(self, done: int, total: int) -> None:
        self.fraction = min(done / max(total, 1), 1.0)
        self.bar.progress(self.fraction, text=f"Predicted {done:,} of {total:,} examples{self.label}")

    def stage(self, text: str) -> None:
        self.bar.progress(self.fraction, text=text)

    def empty(self) -> None:
        self.bar.empty()


def run_report(
    bundle: ModelBundle, choice: DataChoice, analyse, key: str, label: str = "", also: tuple = ()
) -> object | None:
    """`analyse(data, progress)` on the chosen data with a progress bar; its result kept in this session for the
    same model and data (reruns from widgets are instant; `also` names anything else the result depends on).
    None after showing why there is no result."""
    identity = (bundle.name, id(bundle), choice.identity, also)
    kept = st.session_state.get(key)
    if kept is not None and kept[0] == identity:
        return kept[1]
    data = bar = None
    try:
        data = choice.load(bundle)
        bar = ProgressBar(f"Predicting {len(data):,} examples{label}…", label)
        result = analyse(data, bar)
    except (DatasetError, ValueError) as error:
        located = data.located(error) if data is not None else str(error)  # the row's line, when one is named
        kind = "info" if isinstance(error, NothingChosen) else "error"
        show_problem(error if located == str(error) else located, kind)
        return None
    finally:
        if bar is not None:  # a refusal too (Compare's models of other labels): no bar left over its message
            bar.empty()
    st.session_state[key] = (identity, result)
    return result


def show_problems(report: ErrorReport | MapResult) -> None:
    metrics = getattr(report, "metrics", None)
    if metrics and (overflow := evaluation_views.non_finite_note(metrics, report.label_names)):
        st.warning(markdown_literal(overflow))
    if report.column_note:  # no column named text: say which one was read
        st.info(markdown_literal(report.column_note))
    if report.label_note:  # a 0/1 file read by a 3-label model: 1 is its second label
        st.warning(markdown_literal(report.label_note))
    if report.problems:
        count = len(report.problems)
        title = f"{count:,} row{'s' if count != 1 else ''} of {markdown_literal(report.source)} skipped"
        with st.expander(title, icon=":material/warning:"):
            st.text("\n".join(f"line {line}: {reason}" for line, reason in report.problems[:500]))
            if len(report.problems) > 500:
                st.caption(f"… and {len(report.problems) - 500:,} more")


def note_long_texts(frame: pd.DataFrame, max_length: int) -> None:
    """Say how many texts reach the most tokens the model reads (the table's tokens stop there): their
    predictions read only the beginning, which the single-example pages warn about one text at a time."""
    if "tokens" not in frame:
        return
    long = frame["tokens"].to_numpy() >= max_length
    count = int(long.sum())
    if count:
        one = count == 1
        at = int(long.argmax())
        # of several files, whose lines restart in each: the file too (a name of the user's, shown as written)
        of = f" of {markdown_literal(str(frame['file'].iloc[at]))}" if "file" in frame else ""
        first = f" ({'' if one else 'the first '}on line {frame['line'].iloc[at]:,}{of})" if "line" in frame else ""
        # the table's counts stop at the limit: a text of exactly that many is counted too, hence "if longer"
        st.caption(f"{count:,} text{'' if one else 's'}{first} reach{'es' if one else ''} {max_length:,} tokens, the "
                   f"most this model reads: the prediction of a longer one reads only its beginning.")


def available_views(*bundles: ModelBundle) -> dict[str, str]:
    """{title: page} of the views a row opens in: Thought markers only where one of `bundles` has markers (every
    view when none is given, as for a request a picker already offered)."""
    from explainer.thought_beacon.marker_dictionary import has_markers

    views = navigation.example_views()
    if bundles and not any(has_markers(bundle) for bundle in bundles):
        views.pop(navigation.MARKERS_TITLE, None)
    return views


def view_picker(key: str, *bundles: ModelBundle) -> str:
    """The view a selected row opens in, of those `bundles` (the models a row may open with) can show."""
    views = list(available_views(*bundles))
    links.keep_choice(key)  # drawn after the page's progressive stop
    wanted = f"{key}_wanted"  # a view picked for a model with it, held while the page shows a model without it
    current = st.session_state.get(key, views[0])
    if current not in views:  # Thought markers, picked for another model
        st.session_state[wanted] = current
        links.set_kept(key, views[0])
    elif st.session_state.get(wanted) in views and current == views[0]:  # that model again (not re-picked since)
        links.set_kept(key, st.session_state.pop(wanted))
    return st.radio("Selecting a row opens it in", views, horizontal=True, key=key,
                    on_change=lambda: st.session_state.pop(wanted, None))


def open_selected(table_key: str, texts_key: str, view_key: str, model: str | None = None) -> None:
    """A table's on_select callback: open the text of its selected row (the table's texts kept in session state
    under `texts_key`) in the view picked in `view_key` (view_picker), with `model` when given (Compare's B)."""
    selected = st.session_state[table_key].selection.get("rows", [])
    if selected:
        request_open(st.session_state[view_key], st.session_state[texts_key][selected[0]], model)


def request_open(view: str, text: str, model: str | None = None) -> None:
    """From a callback: put `text` into the shared sidebar text (and `model` into its model picker, when given)
    and ask the next run to switch to `view`."""
    st.session_state["text"] = text
    if model is not None:
        links.choose_model(model)
    st.session_state[OPEN_KEY] = (available_views()[view], text)


def follow_open_request() -> None:
    """Call at the top of a page: switch to the view a table selection asked for, with model and text in the
    link (switch_page replaces the query parameters)."""
    request = st.session_state.pop(OPEN_KEY, None)
    if request is not None:
        page, text = request
        model = links.link_params().get("model", "")
        links.switch_page(page, {"model": model, "text": text} if model else {"text": text})


# ---- the Errors page's confusion matrix: the clicked cell, kept in the link ----

CELL_KEY = "errors_cell"  # "true,predicted" label ids of the clicked confusion cell; "" for none


def _cell_value(ids: list[int], labels: int) -> str:
    if len(ids) != 2 or not all(0 <= i < labels for i in ids):
        raise links.NotOffered(f"is not a cell of this model's {labels} x {labels} matrix")
    return links.joined(ids)


def seed_cell(labels: int) -> None:
    """The clicked cell from the link's cell= (ids of the true and predicted label), so that a shared link lists
    the same examples; a cell this model's labels lack falls back to none, with a toast. Checked on every run:
    the session keeps the cell across models, and one picked on a 3-label model is not a 2-label model's."""
    value = links.seed_option(CELL_KEY, "cell", lambda raw: _cell_value(links.parse_ints(raw), labels), "")
    if not value:
        return
    try:
        _cell_value(links.parse_ints(value), labels)
    except ValueError:
        links.tell_clamped("cell", value, f"is not a cell of this model's {labels} x {labels} matrix; none is shown")
        st.session_state[CELL_KEY] = ""
        links.keep(CELL_KEY, "cell")


def on_cell_click(chart_key: str, labels: int) -> None:
    """The matrix's on_select: a click on a cell picks it, a click on the picked cell (or beside the cells) clears
    it. The chart redrawn with the picked cell's frame forgets plotly's own selection, so a second click on that
    cell arrives as a pick of it again, not as plotly's deselection: it had taken three clicks to clear a cell."""
    cell = export.clicked_pair(st.session_state[chart_key])
    picked = "" if cell is None else _cell_value([int(cell[0]), int(cell[1])], labels)
    st.session_state[CELL_KEY] = "" if picked == st.session_state.get(CELL_KEY, "") else picked


def chosen_cell() -> tuple[int, int] | None:
    """(true, predicted) label ids of the picked cell, None for none."""
    ids = links.parse_ints(st.session_state.get(CELL_KEY, ""))
    return (ids[0], ids[1]) if len(ids) == 2 else None
