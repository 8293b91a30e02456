"""The extraction dataset in ``data/``: one loader, one declarative schema per table, all violations at once.

``load_dataset(data_dir)`` reads every CSV table, checks it against its schema (below, one ``Table`` per file)
and against the other tables (study ids, outcome ids and data versions must be defined), and returns a frozen
``Dataset``. If anything is wrong it raises ``DataValidationError`` listing *every* violation, each as

    data/outcomes.csv, line 17, column 'events': rule 'events <= total' broken (value 40 > total 31)

where the line is the 1-based line of the file, header included (a data row's index + 2).

The checks are written here rather than with pandera so that each message can name the file, the line, the
column, the rule and the offending value in words a review author understands; the schemas stay declarative:
a ``Table`` is a list of ``Column`` specs (type, required, allowed values, range, pattern, uniqueness, foreign key)
plus a few row rules that relate two columns. Table meanings and allowed values: ``data/README.md``.
"""

from __future__ import annotations

import csv
import fnmatch
import re
import sys
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Callable

import pandas as pd

from livingreview.dataset.reads import RESOURCES, Read, UndeclaredRead, parse_read
from livingreview.dataset.vocabulary import (COMPARATORS, DERIVATIONS, DESIGNS, DISEASE_STATUSES, IDENTIFICATIONS,
                                             KINDS, PUBLICATION_TYPES, PUBLISHED_SUBGROUPS, QUALITY_BANDS,
                                             QUALITY_ITEMS, REGIMENS, SEARCH_STATUSES, STATISTICS, SUBGROUP_COLUMNS,
                                             SUBGROUP_LEVELS,
                                             TOTAL_ITEM)

ID = r"[a-z0-9_]+"

# --- schema vocabulary -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column: its type (text|int|float|date), whether every row needs a value, and what values are valid."""

    name: str
    type: str = "text"
    required: bool = False
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    unique: bool = False
    references: tuple[str, str] | None = None  # (file, column) that must define every non-empty value


@dataclass(frozen=True)
class Rule:
    """A rule relating columns of one row. ``broken(row)`` returns what is wrong (text) or None.

    The first of ``columns`` is the one named in the message; the rule is skipped when any of them is absent
    from the file or holds an unparseable value (that is reported once, by the column check)."""

    name: str
    columns: tuple[str, ...]
    broken: Callable[[dict], str | None]


@dataclass(frozen=True)
class Table:
    file: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    rules: tuple[Rule, ...] = ()
    table_checks: tuple[Callable[[list], list], ...] = ()  # (rows) -> [(line, column, rule, value, detail)]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


# --- row rules ---------------------------------------------------------------------------------------------------


def _fmt(v) -> str:
    if v is None:
        return "empty"
    if isinstance(v, str):
        return f"'{v}'"
    if isinstance(v, float) and v.is_integer():
        return str(int(v)) if abs(v) < 1e15 else str(v)
    return str(v)


def _events_le_total(r):
    e, t = r["events"], r["total"]
    if e is not None and t is not None and e > t:
        return f"value {e} > total {t}"


def _empty_iff_missing(column):
    def broken(r):
        if r["derivation"] is None:
            return None  # reported as 'value required'
        empty, missing = r[column] is None, r["derivation"] == "missing"
        if empty and not missing:
            return f"{column} empty but derivation {_fmt(r['derivation'])}"
        if missing and not empty:
            return f"value {r[column]} but derivation 'missing'"
    return broken


def _note_when_missing(r):
    if r["derivation"] == "missing" and r["note"] is None:
        return "derivation 'missing' but no note saying why"


def _publication_type_given(r):
    if r["publication_type"] is None and r["identification"] not in (None, "not identified"):
        return f"empty, but identification is {_fmt(r['identification'])}"


def _subgroups_valid(r):
    value = r["subgroups"]
    if value is None:
        return None
    parts = [p.strip() for p in value.split(";")]
    bad = [p for p in parts if p not in SUBGROUP_COLUMNS]
    if bad or len(set(parts)) != len(parts):
        return f"value {_fmt(value)}; use a ';'-separated subset of {';'.join(SUBGROUP_COLUMNS)}"


def _level_matches_subgroup(r):
    sub, level = r["subgroup"], r["level"]
    if sub not in PUBLISHED_SUBGROUPS:
        return None
    if sub == "overall":
        return None if level is None else f"value {_fmt(level)} but subgroup is 'overall' (leave level empty)"
    allowed = SUBGROUP_LEVELS.get(sub, ())
    if level not in allowed:
        return f"value {_fmt(level)} is not a {sub} level ({', '.join(allowed)})"


def _count_empty_when_not_reported(r):
    if r["status"] == "not reported" and r["count"] is not None:
        return f"value {r['count']} but status 'not reported'"


def _item_of_scale(r):
    items = QUALITY_ITEMS.get(r["scale"])
    if items is not None and r["item"] not in items and r["item"] != TOTAL_ITEM:
        return f"value {_fmt(r['item'])} is not a {r['scale']} item ({', '.join(items)}, {TOTAL_ITEM})"


def _item_max(scale, item):
    items = QUALITY_ITEMS.get(scale, {})
    if item == TOTAL_ITEM:
        return sum(m for _, m in items.values())
    return items[item][1] if item in items else None


def _score_in_range(r):
    if r["scale"] not in QUALITY_ITEMS:
        return None
    top = _item_max(r["scale"], r["item"])
    if top is not None and r["score"] is not None and r["score"] > top:
        return f"value {r['score']} > maximum {top} for {r['scale']} item {r['item']}"


def _quality_complete_and_totals(rows):
    """Every study has each item of its scale and a printed total equal to the sum of its item scores."""
    out, groups = [], {}
    for line, r in rows:
        if r["study_id"] and r["scale"] in QUALITY_ITEMS:
            groups.setdefault((r["study_id"], r["scale"]), []).append((line, r))
    for (study, scale), members in groups.items():
        items = {r["item"]: (line, r["score"]) for line, r in members}
        lacking = [i for i in list(QUALITY_ITEMS[scale]) + [TOTAL_ITEM] if i not in items]
        if lacking:
            out.append((members[0][0], "item", "every item of the scale present", study,
                        f"{study} lacks {scale} item(s) {', '.join(lacking)}"))
            continue
        scores = [items[i][1] for i in QUALITY_ITEMS[scale]]
        printed_line, printed = items[TOTAL_ITEM]
        if printed is _BAD or any(s is _BAD or s is None for s in scores) or printed is None:
            continue
        if sum(scores) != printed:
            out.append((printed_line, "score", "printed total = sum of item scores", printed,
                        f"{study}: printed total {printed}, items sum to {sum(scores)}"))
    return out


# --- the schemas -------------------------------------------------------------------------------------------------

STUDIES = Table(
    "studies.csv",
    key=("study_id",),
    columns=(
        Column("study_id", required=True, pattern=ID),
        Column("label", required=True),
        Column("ref_no", "int", min=1, unique=True),
        Column("citation", required=True),
        Column("doi", pattern=r"10\.\S+/\S+"),
        Column("pmid", pattern=r"\d+"),
        Column("url", pattern=r"https?://\S+"),
        Column("design", required=True, allowed=DESIGNS),
        Column("publication_type", allowed=PUBLICATION_TYPES),
        Column("regimen", allowed=REGIMENS),
        Column("disease_status", allowed=DISEASE_STATUSES),
        Column("backbone"),
        Column("ph_status"),
        Column("age"),
        Column("n_treated", "int", min=1),
        Column("follow_up"),
        Column("identification", required=True, allowed=IDENTIFICATIONS),
        Column("identification_note"),
        Column("overlap_note"),
        Column("data_version", "int", required=True, min=1, references=("versions.csv", "data_version")),
    ),
    rules=(Rule("publication_type given unless identification = not identified",
                ("publication_type", "identification"), _publication_type_given),),
)

OUTCOMES = Table(
    "outcomes.csv",
    key=("study_id", "outcome"),
    columns=(
        Column("study_id", required=True, references=("studies.csv", "study_id")),
        Column("outcome", required=True, references=("outcome_definitions.csv", "outcome")),
        Column("events", "int", min=0),
        Column("total", "int", min=1),
        Column("reported_value"),
        Column("derivation", required=True, allowed=DERIVATIONS),
        Column("source", required=True),
        Column("quote"),
        Column("note"),
    ),
    rules=(
        Rule("events <= total", ("events", "total"), _events_le_total),
        Rule("events empty iff derivation = missing", ("events", "derivation"), _empty_iff_missing("events")),
        Rule("total empty iff derivation = missing", ("total", "derivation"), _empty_iff_missing("total")),
        Rule("note says why when derivation = missing", ("note", "derivation"), _note_when_missing),
    ),
)

DEFINITIONS = Table(
    "outcome_definitions.csv",
    key=("outcome",),
    columns=(
        Column("outcome", required=True, pattern=ID),
        Column("label", required=True),
        Column("section", required=True),
        Column("kind", required=True, allowed=KINDS),
        Column("definition", required=True),
        Column("subgroups"),
        Column("paper_k", "int", min=1),
        Column("display_order", "int", required=True, min=1, unique=True),
    ),
    rules=(Rule("subgroups is a subset of regimen;disease_status", ("subgroups",), _subgroups_valid),),
)

QUALITY = Table(
    "quality.csv",
    key=("study_id", "scale", "item"),
    columns=(
        Column("study_id", required=True, references=("studies.csv", "study_id")),
        Column("scale", required=True, allowed=tuple(QUALITY_ITEMS)),
        Column("item", required=True),
        Column("item_label", required=True),
        Column("score", "int", required=True, min=0),
        Column("location", required=True),
    ),
    rules=(
        Rule("item belongs to the scale", ("item", "scale"), _item_of_scale),
        Rule("score within the item's range", ("score", "scale", "item"), _score_in_range),
    ),
    table_checks=(_quality_complete_and_totals,),
)

PUBLISHED = Table(
    "published.csv",
    key=("outcome", "subgroup", "level", "statistic"),
    columns=(
        Column("outcome", required=True, references=("outcome_definitions.csv", "outcome")),
        Column("subgroup", required=True, allowed=PUBLISHED_SUBGROUPS),
        Column("level"),
        Column("statistic", required=True, allowed=STATISTICS),
        Column("value", "float", required=True),
        Column("comparator", required=True, allowed=COMPARATORS),
        Column("printed", required=True),
        Column("location", required=True),
        Column("note"),
    ),
    rules=(Rule("level matches subgroup", ("level", "subgroup"), _level_matches_subgroup),),
)

SEARCH = Table(
    "search.csv",
    key=("data_version", "stage"),
    columns=(
        Column("stage", required=True, pattern=ID),
        Column("count", "int", min=0),
        Column("status", required=True, allowed=SEARCH_STATUSES),
        Column("note"),
        Column("data_version", "int", required=True, min=1, references=("versions.csv", "data_version")),
    ),
    rules=(Rule("count empty when status = not reported", ("count", "status"), _count_empty_when_not_reported),),
)

VERSIONS = Table(
    "versions.csv",
    key=("data_version",),
    columns=(
        Column("data_version", "int", required=True, min=1),
        Column("date", "date", required=True),
        Column("search_date", "date", required=True),
        Column("description", required=True),
    ),
)

#: Dataset attribute → schema, in the order tables are checked and reported.
TABLES = {
    "studies": STUDIES,
    "outcomes": OUTCOMES,
    "definitions": DEFINITIONS,
    "quality": QUALITY,
    "published": PUBLISHED,
    "search": SEARCH,
    "versions": VERSIONS,
}

# --- violations --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    file: str
    line: int | None
    column: str | None
    rule: str
    value: object = None
    detail: str = ""

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", line {self.line}"
        if self.column is not None:
            where += f", column '{self.column}'"
        return f"{where}: rule '{self.rule}' broken ({self.detail or 'value ' + _fmt(self.value)})"


class DataValidationError(ValueError):
    """The dataset breaks its schema. ``violations`` lists every problem found (``Violation`` records)."""

    def __init__(self, violations: list[Violation]):
        self.violations = list(violations)
        n = len(self.violations)
        super().__init__(f"{n} data violation{'s' if n != 1 else ''}:\n" + "\n".join(str(v) for v in self.violations))


# --- reading and checking one table ------------------------------------------------------------------------------

_BAD = object()  # an unparseable cell (already reported)


def _parse(col: Column, text: str):
    """Return (value, None) or (_BAD, (rule, detail))."""
    if col.type == "int":
        if not re.fullmatch(r"[+-]?\d+", text):
            return _BAD, ("whole number", f"value '{text}' is not a whole number")
        return int(text), None
    if col.type == "float":
        try:
            v = float(text)
        except ValueError:
            return _BAD, ("number", f"value '{text}' is not a number")
        if v != v or v in (float("inf"), float("-inf")):
            return _BAD, ("number", f"value '{text}' is not a finite number")
        return v, None
    if col.type == "date":
        try:
            date.fromisoformat(text)
        except ValueError:
            return _BAD, ("date YYYY-MM-DD", f"value '{text}' is not a date YYYY-MM-DD")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return _BAD, ("date YYYY-MM-DD", f"value '{text}' is not a date YYYY-MM-DD")
        return text, None
    return text, None


def _read_table(path: Path, table: Table, shown: str):
    """Parse one file. Returns (header, rows, violations); rows = [(line, {column: value|None|_BAD})]."""
    problems: list[Violation] = []

    def bad(line, column, rule, value, detail):
        problems.append(Violation(shown, line, column, rule, value, detail))

    if path.is_dir():
        bad(None, None, "file exists", None, "is a directory, not a file")
        return None, [], problems
    if not path.is_file():
        bad(None, None, "file exists", None, "no such file")
        return None, [], problems
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            records, start = [], 1
            for cells in reader:
                records.append((start, cells))
                start = reader.line_num + 1
    except UnicodeDecodeError as exc:
        bad(None, None, "file is UTF-8", None, f"cannot decode: {exc}")
        return None, [], problems
    except (OSError, csv.Error) as exc:
        bad(None, None, "file is readable CSV", None, str(exc))
        return None, [], problems
    if not records:
        bad(None, None, "header row present", None, "the file is empty")
        return None, [], problems

    header = [h.strip() for h in records[0][1]]
    for name in sorted({h for h in header if header.count(h) > 1}):
        bad(1, name, "column names unique", name, f"column '{name}' appears {header.count(name)} times")
    for name in table.names:
        if name not in header:
            bad(1, name, "column present", None, f"header has: {', '.join(header)}")
    for name in header:
        if name not in table.names:
            bad(1, name, "column known", name, f"not a column of {table.file}; expected: {', '.join(table.names)}")

    present = [c for c in table.columns if c.name in header]
    position = {name: header.index(name) for name in table.names if name in header}
    rows = []
    for line, cells in records[1:]:
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue  # blank line
        if len(cells) != len(header):
            bad(line, None, "row has one cell per column", None, f"{len(cells)} cells, header has {len(header)}")
            continue
        row = {}
        for col in present:
            text = cells[position[col.name]]
            if text == "":
                row[col.name] = None
                if col.required:
                    bad(line, col.name, "value required", None, "empty")
                continue
            value, error = _parse(col, text)
            row[col.name] = value
            if error:
                bad(line, col.name, error[0], text, error[1])
                continue
            if col.allowed is not None and value not in col.allowed:
                bad(line, col.name, "allowed values", value, f"value {_fmt(value)} not one of: {', '.join(col.allowed)}")
            if col.pattern is not None and not re.fullmatch(col.pattern, value):
                bad(line, col.name, f"matches {col.pattern}", value, f"value {_fmt(value)} does not match {col.pattern}")
            if col.min is not None and value < col.min:
                bad(line, col.name, f"{col.name} >= {_fmt(col.min)}", value, f"value {_fmt(value)} < {_fmt(col.min)}")
            if col.max is not None and value > col.max:
                bad(line, col.name, f"{col.name} <= {_fmt(col.max)}", value, f"value {_fmt(value)} > {_fmt(col.max)}")
        rows.append((line, row))

    for rule in table.rules:
        if any(c not in position for c in rule.columns):
            continue
        for line, row in rows:
            if any(row[c] is _BAD for c in rule.columns):
                continue
            detail = rule.broken(row)
            if detail:
                bad(line, rule.columns[0], rule.name, row[rule.columns[0]], detail)

    def check_unique(columns, rule):
        seen = {}
        for line, row in rows:
            value = tuple(row[c] for c in columns)
            if any(v is _BAD for v in value) or (len(columns) == 1 and value[0] is None):
                continue
            if value in seen:
                shown_value = ", ".join(_fmt(v) for v in value)
                bad(line, ", ".join(columns), rule, value if len(value) > 1 else value[0],
                    f"value {shown_value} already on line {seen[value]}")
            else:
                seen[value] = line

    if all(c in position for c in table.key):
        check_unique(table.key, f"unique ({', '.join(table.key)})" if len(table.key) > 1 else f"unique {table.key[0]}")
    for col in present:
        if col.unique and (col.name,) != table.key:
            check_unique((col.name,), f"unique {col.name}")

    if all(c in position for c in table.names):
        for check in table.table_checks:
            for line, column, rule, value, detail in check(rows):
                bad(line, column, rule, value, detail)
    return header, rows, problems


def _check_references(parsed: dict, shown: dict) -> list[Violation]:
    """Every value of a referencing column must be defined in the referenced table's column."""
    by_file = {t.file: name for name, t in TABLES.items()}
    out = []
    for name, table in TABLES.items():
        header, rows, _ = parsed[name]
        for col in table.columns:
            if col.references is None or header is None or col.name not in header:
                continue
            target_file, target_col = col.references
            t_header, t_rows, _ = parsed[by_file[target_file]]
            if t_header is None or target_col not in t_header:
                continue  # the referenced table's own problem is already reported
            defined = {r[target_col] for _, r in t_rows if r[target_col] not in (None, _BAD)}
            for line, row in rows:
                value = row[col.name]
                if value not in (None, _BAD) and value not in defined:
                    out.append(Violation(shown[name], line, col.name, f"{col.name} defined in {target_file}", value,
                                         f"value {_fmt(value)} not found in {target_file}"))
    return out


def _frame(table: Table, rows: list) -> pd.DataFrame:
    data = {}
    for col in table.columns:
        values = [row[col.name] for _, row in rows]
        if col.type == "int":
            data[col.name] = pd.array(values, dtype="Int64")
        elif col.type == "float":
            data[col.name] = pd.array([float("nan") if v is None else v for v in values], dtype="float64")
        else:
            data[col.name] = pd.Series(values, dtype="str")
    return pd.DataFrame(data)


# --- the dataset -------------------------------------------------------------------------------------------------


class Undeclared:
    """Stands in for a table a page did not declare: any use of it raises :class:`UndeclaredRead`."""

    def __init__(self, table: str, reader: str):
        self._message = (f"{reader} reads the table {table!r} but does not declare it in READS: add it there, so "
                         f"that the page is executed again when {table!r} changes")

    def __getattr__(self, name):
        raise UndeclaredRead(self._message)

    def __getitem__(self, key):
        raise UndeclaredRead(self._message)

    def __len__(self):
        raise UndeclaredRead(self._message)

    def __iter__(self):
        raise UndeclaredRead(self._message)


def _matching(frame: pd.DataFrame, read: Read) -> pd.DataFrame:
    if read.column is None:
        return frame
    if read.column not in frame.columns:
        raise ValueError(f"read {read}: the table has no column {read.column!r}")
    values = frame[read.column].astype("string").fillna("")
    keep = [fnmatch.fnmatchcase(v, read.pattern) for v in values]
    return frame[keep].reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class Dataset:
    """All tables of ``data/`` as DataFrames, validated. Empty text cells are NaN; int columns are ``Int64``.

    A *view* (:meth:`view`) holds only what a page declared it reads; the other tables raise on any use."""

    studies: pd.DataFrame
    outcomes: pd.DataFrame
    definitions: pd.DataFrame
    quality: pd.DataFrame
    published: pd.DataFrame
    search: pd.DataFrame
    versions: pd.DataFrame
    data_dir: str = field(default="data")
    reader: str = field(default="")  # who holds this view ("" for the whole dataset)
    row_filters: tuple = field(default=())  # (Read, ...) of the tables filtered by rows

    def view(self, reads, reader: str) -> "Dataset":
        """Only the declared ``reads`` (``"studies"``, ``"outcomes[outcome=vod]"``…): undeclared tables raise
        :class:`UndeclaredRead`, and row-filtered tables hold only the matching rows."""
        parsed = [r if isinstance(r, Read) else parse_read(r) for r in reads]
        tables = {}
        for attr in RESOURCES.values():
            mine = [r for r in parsed if r.attribute == attr]
            if not mine:
                tables[attr] = Undeclared(next(t for t, a in RESOURCES.items() if a == attr), reader)
            elif any(r.column is None for r in mine):
                tables[attr] = getattr(self, attr)
            else:
                frame = getattr(self, attr)
                tables[attr] = pd.concat([_matching(frame, r) for r in mine]).drop_duplicates().reset_index(drop=True)
        filters = tuple(r for r in parsed if r.column is not None
                        and not any(o.column is None and o.attribute == r.attribute for o in parsed))
        return replace(self, **tables, reader=reader, row_filters=filters)

    def read_bytes(self, read) -> bytes:
        """The parsed values a read covers, canonically serialised: what the build hashes to decide whether a
        page must be executed again (the values the page reads, never a second reading of the raw text)."""
        r = read if isinstance(read, Read) else parse_read(read)
        frame = _matching(getattr(self, r.attribute), r)
        return f"{r}\n".encode() + frame.to_csv(index=False, lineterminator="\n").encode()

    @property
    def latest_version(self) -> int:
        return int(self.versions["data_version"].max())

    def _studies_upto(self, data_version: int | None) -> pd.DataFrame:
        if data_version is None:
            return self.studies
        if data_version not in set(self.versions["data_version"].astype(int)):
            raise ValueError(f"data_version {data_version} is not defined in versions.csv "
                             f"(defined: {', '.join(str(v) for v in self.versions['data_version'])})")
        return self.studies[self.studies["data_version"] <= data_version]

    def _check_outcome(self, outcome: str) -> None:
        for r in self.row_filters:
            if r.attribute == "outcomes" and r.column == "outcome" and not fnmatch.fnmatchcase(outcome, r.pattern):
                raise UndeclaredRead(f"{self.reader} reads the rows of outcome {outcome!r} but declares only "
                                     f"{r} in READS")
        if outcome not in set(self.definitions["outcome"]):
            raise KeyError(f"outcome {outcome!r} is not defined in outcome_definitions.csv")

    def pooling_table(self, outcome: str, data_version: int | None = None) -> pd.DataFrame:
        """Rows with counts for ``outcome`` (studies of data versions ≤ ``data_version``; all when None),
        joined to the study's label, ref_no, regimen, disease_status and data_version, in studies.csv order."""
        self._check_outcome(outcome)
        studies = self._studies_upto(data_version)
        rows = self.outcomes[(self.outcomes["outcome"] == outcome) & (self.outcomes["derivation"] != "missing")]
        keep = ["study_id", "label", "ref_no", "regimen", "disease_status", "data_version"]
        out = studies[keep].merge(rows[["study_id", "events", "total", "derivation", "source", "note"]],
                                  on="study_id", how="inner")
        out["events"] = out["events"].astype("int64")
        out["total"] = out["total"].astype("int64")
        return out[["study_id", "label", "ref_no", "events", "total", "regimen", "disease_status", "data_version",
                    "derivation", "source", "note"]].reset_index(drop=True)

    def excluded(self, outcome: str, data_version: int | None = None) -> pd.DataFrame:
        """Studies (of data versions ≤ ``data_version``) with no counts for ``outcome``, and why."""
        self._check_outcome(outcome)
        studies = self._studies_upto(data_version)
        rows = self.outcomes[self.outcomes["outcome"] == outcome].set_index("study_id")
        out = []
        for _, s in studies.iterrows():
            sid = s["study_id"]
            if sid in rows.index and rows.loc[sid, "derivation"] != "missing":
                continue
            if sid in rows.index:
                reason = rows.loc[sid, "note"]
            elif s["identification"] == "not identified":
                reason = f"study not identified: {s['identification_note']}"
            else:
                reason = "not reported (no row in outcomes.csv)"
            out.append({"study_id": sid, "label": s["label"], "ref_no": s["ref_no"], "reason": reason})
        return pd.DataFrame(out, columns=["study_id", "label", "ref_no", "reason"])

    def quality_totals(self) -> pd.DataFrame:
        """Per study and scale: recomputed total, printed total, maximum and the paper's §2.4 quality band."""
        return quality_totals(self.quality)


def quality_totals(quality: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (study, scale), g in quality.groupby(["study_id", "scale"], sort=False):
        items = g[g["item"] != TOTAL_ITEM]
        printed = g.loc[g["item"] == TOTAL_ITEM, "score"]
        total = int(items["score"].sum())
        band = next(b for top, b in QUALITY_BANDS[scale] if total <= top)
        out.append({"study_id": study, "scale": scale, "total": total,
                    "printed_total": int(printed.iloc[0]) if len(printed) else pd.NA,
                    "max_total": _item_max(scale, TOTAL_ITEM), "quality": band})
    return pd.DataFrame(out, columns=["study_id", "scale", "total", "printed_total", "max_total", "quality"])


def load_dataset(data_dir="data") -> Dataset:
    """Read and validate every table in ``data_dir``; raise ``DataValidationError`` listing all violations."""
    data_dir = Path(data_dir)
    shown = {name: str(data_dir / t.file) for name, t in TABLES.items()}
    parsed = {name: _read_table(data_dir / t.file, t, shown[name]) for name, t in TABLES.items()}
    violations = [v for _, _, problems in parsed.values() for v in problems]
    violations += _check_references(parsed, shown)
    if violations:
        order = list(shown.values())
        violations.sort(key=lambda v: (order.index(v.file), v.line or 0))
        raise DataValidationError(violations)
    frames = {name: _frame(t, parsed[name][1]) for name, t in TABLES.items()}
    return Dataset(**frames, data_dir=str(data_dir))


def validate_cli(data_dir="data") -> int:
    """``python -m livingreview validate``: print a summary (exit 0) or every violation to stderr (exit 1)."""
    try:
        ds = load_dataset(data_dir)
    except DataValidationError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    counted = int((ds.outcomes["derivation"] != "missing").sum())
    per_version = ", ".join(f"v{v}: {n}" for v, n in ds.studies["data_version"].value_counts().sort_index().items())
    print(f"OK: {data_dir} — {len(ds.studies)} studies ({per_version}), {len(ds.outcomes)} outcome rows "
          f"({counted} with counts, {len(ds.outcomes) - counted} missing), {len(ds.definitions)} outcome definitions, "
          f"{len(ds.quality)} quality rows, {len(ds.published)} published numbers, {len(ds.search)} search rows, "
          f"{len(ds.versions)} data versions")
    return 0


__all__ = ["Dataset", "DataValidationError", "UndeclaredRead", "Violation", "load_dataset", "validate_cli", "quality_totals",
           "TABLES", "REGIMENS", "DISEASE_STATUSES", "DERIVATIONS", "QUALITY_ITEMS"]


def read_rows(data_dir, name: str) -> tuple[tuple, list[tuple[int, dict]]]:
    """The parsed rows of one table (``name``: a ``TABLES`` key) with their line numbers, and its key columns;
    rows that break the schema are left out (``validate`` reports them)."""
    table = TABLES[name]
    _, rows, _ = _read_table(Path(data_dir) / table.file, table, table.file)
    return table.key, [(line, {k: v for k, v in row.items() if v is not _BAD}) for line, row in rows]
