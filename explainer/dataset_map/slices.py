"""Named slices of a mapped data set and their metrics.

A slice is a filter (text contains, token range, true and predicted labels, tags such as capability,
confidence range, correct or wrong), a set of rows picked on the map (a box or lasso selection), or a list (the
likely-mislabelled rows). Filters travel in a page's link; every kind exports as JSON definitions and as a CSV
of its rows. Metrics per slice: n, accuracy, macro-F1 over the labels present, expected calibration error,
with the whole set as the first row.

Works on the map's table (maps.MapResult.frame): row, text, label, predicted, confidence, correct, tokens and
the tag column, labels as names.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from explainer.capture.validation import label_key
from explainer.data.labelled import whole_number
from explainer.data.spreadsheet import spreadsheet_csv
from explainer.evaluation.error_report import calibration, text_matches
from explainer.views.text import marker_name

KINDS = ("filter", "selection", "list")
CORRECTNESS = ("all", "correct", "wrong")
JSON_VERSION = 1
WHOLE_SET = "whole set"
MAX_SLICES = 100  # slices a session keeps: each is a metrics row, and a definitions file of 15,000 took hours
METRIC_COLUMNS = ("slice", "kind", "n", "accuracy", "macro_f1", "ece")


def _alike(values: pd.Series, names: Sequence[str]) -> np.ndarray:  # [N] bool
    """Which of `values` (label names) are one of `names`, case and surrounding spaces set aside."""
    keys = {label_key(str(name)) for name in names}
    return values.astype(str).map(label_key).isin(keys).to_numpy()


@dataclass(frozen=True)
class SliceRule:
    """A filter; every field left at its default keeps every row."""

    text: str = ""  # case-insensitive substring
    min_tokens: int | None = None
    max_tokens: int | None = None
    labels: tuple[str, ...] = ()  # true labels; empty: all
    predicted: tuple[str, ...] = ()  # predicted labels; empty: all
    tags: tuple[str, ...] = ()  # values of the tag column (e.g. capability); empty: all
    min_confidence: float | None = None
    max_confidence: float | None = None
    correct: Literal["all", "correct", "wrong"] = "all"

    def mask(self, frame: pd.DataFrame, tag_column: str | None = None) -> np.ndarray:  # [N] bool
        keep = np.ones(len(frame), dtype=bool)
        if self.text.strip():
            keep &= text_matches(frame["text"], self.text)
        if self.min_tokens is not None:
            keep &= frame["tokens"].to_numpy() >= self.min_tokens
        if self.max_tokens is not None:
            keep &= frame["tokens"].to_numpy() <= self.max_tokens
        if self.labels:  # as data files match labels: case and spaces aside ("negative" is the label "Negative ")
            keep &= _alike(frame["label"], self.labels)
        if self.predicted:
            keep &= _alike(frame["predicted"], self.predicted)
        if self.tags:
            keep &= frame[tag_column].isin(self.tags).to_numpy() if tag_column in frame else False
        if self.min_confidence is not None:
            keep &= frame["confidence"].to_numpy() >= self.min_confidence
        if self.max_confidence is not None:
            keep &= frame["confidence"].to_numpy() <= self.max_confidence
        if self.correct != "all":
            correct = frame["correct"].to_numpy(dtype=bool)
            keep &= correct if self.correct == "correct" else ~correct
        return keep


@dataclass(frozen=True)
class Slice:
    name: str
    kind: Literal["filter", "selection", "list"] = "filter"
    rule: SliceRule | None = None  # for filters
    rows: tuple[int, ...] = field(default=())  # for selections and lists: data rows (from 0, file order)
    # the data set those rows number (maps.MapResult.data_id); "" for filters, which fit any data set, and for rows
    # read from a definition, which the reader vouches for
    data: str = ""

    def fits(self, data_id: str) -> bool:
        """Whether this slice means something on the data set `data_id`: a filter always; rows picked on another
        data set name other examples there."""
        return self.kind == "filter" or not self.data or self.data == data_id

    def mask(self, frame: pd.DataFrame, tag_column: str | None = None) -> np.ndarray:  # [N] bool
        if self.kind == "filter":
            return (self.rule or SliceRule()).mask(frame, tag_column)
        keep = np.zeros(len(frame), dtype=bool)
        rows = np.asarray([r for r in self.rows if 0 <= r < len(frame)], dtype=np.int64)
        keep[rows] = True
        return keep


def from_filter(name: str, rule: SliceRule) -> Slice:
    return Slice(name=name, kind="filter", rule=rule)


def from_rows(
    name: str, rows: Sequence[int], kind: Literal["selection", "list"] = "selection", data: str = ""
) -> Slice:
    return Slice(name=name, kind=kind, rows=tuple(sorted({int(r) for r in rows})), data=data)


def check_name(name: Any) -> str:
    """`name` stripped, or ValueError: a slice needs a name (text), and not the whole set's (the table's first
    row)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("every slice needs a name")
    name = name.strip()
    if name.casefold() == WHOLE_SET:
        raise ValueError(f"{WHOLE_SET!r} names the table's first row; give the slice another name")
    return name


def replace_by_name(kept: Sequence[Slice], new: Slice) -> list[Slice]:
    """`kept` with `new` last: a name used again replaces the earlier slice of that name."""
    return [*(each for each in kept if each.name != new.name), new]


# ---- metrics ---------------------------------------------------------------------------------------------------


def macro_f1(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Mean F1 over the labels that occur as truth or prediction (as scikit-learn's average="macro")."""
    present = np.union1d(labels, predicted)
    if len(present) == 0:
        return float("nan")
    scores = []
    for label in present:
        true_positive = np.sum((labels == label) & (predicted == label))
        denominator = np.sum(labels == label) + np.sum(predicted == label)
        scores.append(2.0 * true_positive / denominator if denominator else 0.0)
    return float(np.mean(scores))


def metrics_of(frame: pd.DataFrame) -> dict[str, float]:
    """n, accuracy, macro-F1 and ECE of the rows of `frame` (nan for an empty slice)."""
    n = len(frame)
    if n == 0:
        return {"n": 0, "accuracy": float("nan"), "macro_f1": float("nan"), "ece": float("nan")}
    correct = frame["correct"].to_numpy(dtype=bool)
    labels = frame["label"].astype(str).to_numpy()
    predicted = frame["predicted"].astype(str).to_numpy()
    return {
        "n": n,
        "accuracy": float(correct.mean()),
        "macro_f1": macro_f1(labels, predicted),
        "ece": calibration(frame["confidence"].to_numpy(), correct).ece,
    }


def metrics_table(frame: pd.DataFrame, slices: Sequence[Slice], tag_column: str | None = None) -> pd.DataFrame:
    """One row per slice (METRIC_COLUMNS), the whole set first."""
    rows = [{"slice": WHOLE_SET, "kind": "", **metrics_of(frame)}]
    for each in slices:
        rows.append({"slice": each.name, "kind": each.kind, **metrics_of(frame[each.mask(frame, tag_column)])})
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))


# ---- export and link -------------------------------------------------------------------------------------------


def rows_csv(frame: pd.DataFrame, slices: Sequence[Slice], tag_column: str | None = None) -> bytes:
    """Every slice's rows, a `slice` column first (a row in two slices appears twice), as UTF-8 CSV."""
    columns = [
        c
        for c in ("row", "line", "text", "label", "predicted", "confidence", "correct", "tokens", tag_column, "marker")
        if c and c in frame.columns
    ]
    if "marker" in columns and not (frame["marker"] >= 0).any():
        columns.remove("marker")  # a model without markers: a column of -1 said nothing
    parts = [frame.loc[each.mask(frame, tag_column), columns].assign(slice=each.name) for each in slices]
    table = pd.concat(parts) if parts else pd.DataFrame(columns=columns + ["slice"])
    if "marker" in columns:  # named as the map's legend names them ("m6"; the CSV had said 6), none left blank
        table["marker"] = [marker_name(m) if m >= 0 else "" for m in table["marker"]]
    return spreadsheet_csv(table[["slice", *columns]], free_text=("slice", "text", tag_column))


def _definition(each: Slice) -> dict[str, Any]:
    out: dict[str, Any] = {"name": each.name, "kind": each.kind}
    if each.kind == "filter":
        rule = asdict(each.rule or SliceRule())
        out["rule"] = {k: list(v) if isinstance(v, tuple) else v for k, v in rule.items() if v != _DEFAULTS[k]}
    else:
        out["rows"] = list(each.rows)
        if each.data:
            out["data"] = each.data  # the data set the rows number, so a file loaded on another one says so
    return out


_DEFAULTS = asdict(SliceRule())


def to_json(slices: Sequence[Slice]) -> str:
    """The definitions of `slices` (filters as rules, the others as row lists)."""
    return json.dumps({"version": JSON_VERSION, "slices": [_definition(each) for each in slices]}, indent=2)


def _rule(value: dict[str, Any]) -> SliceRule:
    """A SliceRule from a definition (a link or a JSON file: hand-edited, so every field is checked here, where a
    bad one is a ValueError the caller reports, not an error later while filtering)."""
    unknown = [str(k) for k in value if k not in _DEFAULTS]
    if unknown:  # a mistyped field ("tokens") was dropped, and the slice kept more rows than meant, unsaid
        raise ValueError(f"a slice's rule has no field {', '.join(map(repr, unknown))}; its fields are "
                         + ", ".join(_DEFAULTS))
    known = dict(value)
    if not isinstance(known.get("text", ""), str):
        raise ValueError("a slice's text must be a string")
    for key in ("labels", "predicted", "tags"):
        if key in known:
            if not isinstance(known[key], list | tuple):
                raise ValueError(f"a slice's {key} must be a list")
            known[key] = tuple(str(v) for v in known[key])
    try:
        for key in ("min_tokens", "max_tokens"):
            if known.get(key) is not None:
                value = known[key]
                whole = whole_number(value)
                if whole is None:  # int() would cut 2.5, and says "invalid literal for int() with base 10" of "abc"
                    raise ValueError(f"a slice's {key} must be a whole number, not {value!r}")
                known[key] = whole
        for key in ("min_confidence", "max_confidence"):
            if known.get(key) is not None:
                try:
                    known[key] = float(known[key])
                except ValueError:  # "abc": float() says "could not convert string to float"
                    raise ValueError(f"a slice's {key} must be a number, not {known[key]!r}") from None
                if not 0 <= known[key] <= 1:  # a probability: 2 or 95 (a percentage) would keep no row, unsaid
                    raise ValueError(f"a slice's {key} must be a number from 0 to 1, not {known[key]!r}")
    except (TypeError, OverflowError) as error:  # int([1]), int(float("inf")): as bad as int("x")
        raise ValueError(f"a slice's token or confidence limit is not a number: {error}") from None
    for low, high in (("min_tokens", "max_tokens"), ("min_confidence", "max_confidence")):
        if known.get(low) is not None and known.get(high) is not None and known[low] > known[high]:
            # the page's sliders cannot make one; a hand-edited link did, and its slice kept no row, unsaid
            raise ValueError(f"a slice's {low} {known[low]} is above its {high} {known[high]}, so it would keep "
                             "no row")
    if known.get("correct", "all") not in CORRECTNESS:
        raise ValueError(f"correct must be one of {', '.join(CORRECTNESS)}")
    return SliceRule(**known)


def _definitions(text: str) -> list[Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"slice definitions are not JSON: {error.msg}") from None
    except RecursionError:  # [[[[...]]]] thousands deep: json's parser recurses once per level
        raise ValueError("slice definitions are nested too deeply to read") from None
    items = value.get("slices") if isinstance(value, dict) else value
    if not isinstance(items, list):
        raise ValueError("slice definitions: expected a list of slices")
    if len(items) > MAX_SLICES:
        raise ValueError(f"slice definitions hold {len(items):,} slices; at most {MAX_SLICES} are kept")
    return items


def _slice(item: Any) -> Slice:
    """One slice from its definition (ValueError naming what is wrong with it)."""
    if not isinstance(item, dict):
        raise ValueError("every slice is an object with a name")
    name = check_name(item.get("name", ""))
    kind = item.get("kind", "filter")
    if kind not in KINDS:
        raise ValueError(f"slice {name!r}: unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    if kind == "filter":
        rule = item.get("rule") or {}
        if not isinstance(rule, dict):
            raise ValueError(f"slice {name!r}: its rule must be an object")
        try:
            return from_filter(name, _rule(rule))
        except ValueError as error:
            raise ValueError(f"slice {name!r}: {error}") from None
    rows, data = item.get("rows", []), item.get("data", "")
    # a string is iterable too: "123" must not become rows 1, 2 and 3
    if not isinstance(rows, list) or not all(isinstance(r, int) and not isinstance(r, bool) and r >= 0 for r in rows):
        raise ValueError(f"slice {name!r}: its rows must be a list of whole numbers from 0")
    if not isinstance(data, str):
        raise ValueError(f"slice {name!r}: its data set must be text")
    return from_rows(name, rows, kind, data)


def from_json(text: str) -> list[Slice]:
    """Slices from to_json's text, or from a bare list of definitions (ValueError at the first bad one). A name
    used again replaces the earlier slice, as it does in the page's form."""
    slices, problems = read_slices(text)
    if problems:
        raise ValueError(problems[0])
    return slices


def read_slices(text: str) -> tuple[list[Slice], list[str]]:
    """from_json for a hand-edited link: the good slices, and what is wrong with each bad one (ValueError only
    when the text is not a list of definitions at all)."""
    out: list[Slice] = []
    problems: list[str] = []
    for item in _definitions(text):
        try:
            out = replace_by_name(out, _slice(item))
        except ValueError as error:
            problems.append(str(error))
    return out, problems


def read_link(text: str) -> tuple[list[Slice], list[str]]:
    """read_slices for a link's slices=: its filters. A link carries no picked rows (link_value writes filters
    only), and a hand-written one would name rows of no data set in particular, so every data set's rows."""
    slices, problems = read_slices(text)
    for each in slices:
        if each.kind != "filter":
            problems.append(f"slice {each.name!r}: picked rows travel in the definitions file, not in a link")
    return [each for each in slices if each.kind == "filter"], problems


def unknown_values(slices: Sequence[Slice], label_names: Sequence[str], tags: Sequence[str]) -> list[str]:
    """What the filters among `slices` name that no row can have: labels the model lacks (true or predicted,
    matched as SliceRule.mask matches them) and tags the tag column lacks; one sentence per slice. Such a filter
    keeps no row, and a hand-edited link or file should not leave that unsaid."""
    known = {label_key(str(name)) for name in label_names}
    said = []
    for each in slices:
        if each.kind != "filter" or each.rule is None:
            continue
        rule = each.rule
        unknown = [name for name in (*rule.labels, *rule.predicted) if label_key(name) not in known]
        unknown += [tag for tag in rule.tags if tag not in set(tags)]
        if unknown:
            names = ", ".join(dict.fromkeys(unknown))
            said.append(f"Slice {each.name!r} names what no row here has ({names}), so it keeps no row.")
    return said


def read_file(text: str, data_id: str, size: int) -> tuple[list[Slice], list[str]]:
    """read_slices for a definitions file loaded on the data set `data_id` of `size` rows: rows that name no data
    set of their own (a hand-written file) number this one, and a slice whose rows lie beyond it is refused.
    Rows picked on another data set keep it (Slice.fits)."""
    slices, problems = read_slices(text)
    kept: list[Slice] = []
    for each in slices:
        if each.kind != "filter" and not each.data:
            if each.rows and each.rows[-1] >= size:
                problems.append(f"slice {each.name!r}: row {each.rows[-1]} is beyond this data set's {size:,} rows")
                continue
            each = from_rows(each.name, each.rows, each.kind, data_id)
        kept.append(each)
    return kept, problems


# The most characters of slices= a link carries, as written in the address (URL-encoded: a quote or brace takes
# three): a longer address is refused by servers (HTTP 431; nginx's request line holds 8 kB) and cut by the tools
# people paste links into, so the link would not open at all; the exported JSON carries any number.
LINK_CHARS = 4000


def link_value(slices: Sequence[Slice]) -> str:
    """The filters among `slices`, compact, for a link ("" when there are none: the option leaves the link).
    Selections and lists are row lists: they travel in the exported JSON, not in the link."""
    return linked_filters(slices)[0]


def linked_filters(slices: Sequence[Slice], limit: int = LINK_CHARS) -> tuple[str, int]:
    """link_value's text: as many filters, first first, as fit in `limit` characters of the address (URL-encoded);
    and how many did not fit."""
    from urllib.parse import quote_plus

    filters = [_definition(each) for each in slices if each.kind == "filter"]
    kept, size = [], len(quote_plus("[]"))
    for each in filters:  # encoded character by character: the pieces' lengths add up to the whole's
        size += len(quote_plus(json.dumps(each, separators=(",", ":")))) + (len(quote_plus(",")) if kept else 0)
        if size > limit:
            break
        kept.append(each)
    return (json.dumps(kept, separators=(",", ":")) if kept else ""), len(filters) - len(kept)
