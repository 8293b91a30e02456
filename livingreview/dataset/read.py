"""Reading one table strictly: what the Table Schema standard does not catch, and typed values for the loader.

The standard's checks (required and allowed values, patterns, ranges, keys) run on the table as read here
(:mod:`.standard`). Before that, this reader rejects with a line number what a lenient CSV reader would let
through or stop on: bytes that are not UTF-8 (each line reported, the other problems still found), NUL bytes,
a file separated by ';' or tabs, a row with the wrong number of cells (an unquoted comma), a cell over
:data:`MAX_CELL` characters, and numbers a reader would misread — digits of another script (``٣``), underscores
(``8_9``), thousands separators. Cells are stripped of surrounding spaces: the values checked, hashed by the build
and read by every page are the same.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from livingreview.dataset.package import Resource
from livingreview.dataset.violations import Violation, show

#: Longest cell accepted (a quote is a sentence or a table cell, not a document).
MAX_CELL = 10_000
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2})")
_TYPE_WORDS = {"integer": "whole number", "number": "number", "date": "date YYYY-MM-DD",
               "datetime": "date-time YYYY-MM-DDThh:mm:ssZ", "boolean": "true or false"}
BAD = object()  # a cell that could not be parsed (already reported)


@dataclass
class Table:
    """A table as read: every logical record with its first line (header first; ``None`` cells for a blank row),
    the typed rows of the well-formed records, and what was wrong."""

    resource: Resource
    file: str  # as shown in messages
    path: Path | None = None  # where it was read from
    header: list[str] | None = None
    records: list[tuple[int, list[str] | None]] = field(default_factory=list)
    rows: list[tuple[int, dict]] = field(default_factory=list)
    rejected: set[int] = field(default_factory=set)  # lines of records with the wrong number of cells
    flagged: set[tuple[int, str]] = field(default_factory=set)  # (line, column) already reported
    problems: list[Violation] = field(default_factory=list)
    readable: bool = True  # False: the file could not be read as a table at all

    def bad(self, line, column, rule, value=None, detail=""):
        self.problems.append(Violation(self.file, line, column, rule, value, detail))
        if line is not None and column is not None:
            self.flagged.add((line, column))


def did_you_mean(value: str, choices) -> str:
    """' — did you mean 'InO monotherapy'?' for a near miss (case, spacing or a typo), else ''."""
    choices = [str(c) for c in choices]
    folded = {" ".join(c.casefold().split()): c for c in choices}
    key = " ".join(value.casefold().split())
    match = folded.get(key) or next(iter(difflib.get_close_matches(value, choices, n=1, cutoff=0.75)), None)
    return f" — did you mean {show(match)}?" if match and match != value else ""


def parse(type_: str, text: str):
    """A stripped, non-empty cell as its type, or (BAD, rule, detail)."""
    if type_ == "integer":
        if _INTEGER.fullmatch(text):
            return int(text)
    elif type_ == "number":
        if _NUMBER.fullmatch(text) and math.isfinite(float(text)):
            return float(text)
    elif type_ == "date":
        if _DATE.fullmatch(text):
            try:
                date.fromisoformat(text)
                return text
            except ValueError:
                pass
    elif type_ == "datetime":
        if _DATETIME.fullmatch(text):
            try:
                datetime.fromisoformat(text.replace("Z", "+00:00"))
                return text
            except ValueError:
                pass
    elif type_ == "boolean":
        if text in ("true", "false"):
            return text == "true"
    else:
        return text
    word = _TYPE_WORDS[type_]
    hint = ""
    if type_ in ("integer", "number") and any(ch.isdigit() and not "0" <= ch <= "9" for ch in text):
        hint = " (digits must be 0–9)"
    elif type_ in ("integer", "number") and ("_" in text or re.search(r"[0-9],[0-9]{3}", text)):
        hint = " (no separators between digits)"
    return BAD, word, f"value {show(text)} is not a {word}{hint}"


def _decode(raw: bytes, table: Table) -> str:
    """UTF-8 text, each line that is not UTF-8 reported (with a guess) and read with replacement characters."""
    lines = raw.split(b"\n")
    out = []
    for i, line in enumerate(lines, start=1):
        nul = line.count(b"\x00")
        if nul:
            table.bad(i, None, "no NUL bytes", None, f"{nul} NUL byte(s) in the line (the file is not plain text, "
                                                     f"or was saved as UTF-16)")
            line = line.replace(b"\x00", b"")
        try:
            out.append(line.decode("utf-8"))
        except UnicodeDecodeError as err:
            bad = line[err.start:err.end]
            guess = bad.decode("cp1252", errors="replace")
            table.bad(i, None, "file is UTF-8", None, f"byte(s) {bad.hex(' ')} at character {err.start + 1} are not "
                                                      f"UTF-8 (as Latin-1/Windows-1252 they would be {guess!r}: save "
                                                      f"the file as UTF-8)")
            out.append(line.decode("utf-8", errors="replace"))
    return "\n".join(out)


def read_table(path: Path, resource: Resource, shown: str) -> Table:
    table = Table(resource, shown, Path(path))
    if path.is_dir():
        table.bad(None, None, "file exists", None, "is a directory, not a file")
    elif not path.exists():
        table.bad(None, None, "file exists", None, "no such file")
    if table.problems:
        table.readable = False
        return table
    try:
        raw = path.read_bytes()
    except OSError as err:
        table.bad(None, None, "file is readable", None, err.strerror or str(err))
        table.readable = False
        return table
    text = _decode(raw.removeprefix(b"\xef\xbb\xbf"), table)
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    start = 1
    try:
        for cells in reader:
            table.records.append((start, [c.strip() for c in cells] if any(c.strip() for c in cells) else None))
            start = reader.line_num + 1
    except csv.Error as err:
        table.bad(start, None, "file is readable CSV", None, str(err))
    if not table.records or table.records[0][1] is None:
        table.bad(1, None, "header row present", None, "the file is empty" if not table.records else "blank header")
        table.readable = False
        return table
    header = table.header = table.records[0][1]
    if len(header) == 1 and len(resource.fields) > 1 and any(sep in header[0] for sep in ";\t"):
        sep = "';'" if ";" in header[0] else "tab"
        table.bad(1, None, "file is comma-separated", header[0],
                  f"the header is one cell {show(header[0])}: the file seems to be {sep}-separated; save it as "
                  f"comma-separated CSV")
        table.readable = False
        return table
    for name in sorted({h for h in header if header.count(h) > 1}):
        table.bad(1, name, "column names unique", name, f"column '{name}' appears {header.count(name)} times")
    for name in resource.names:
        if name not in header:
            table.bad(1, name, "column present", None, f"header has: {', '.join(header)}")
    for name in header:
        if name not in resource.names:
            table.bad(1, name, "column known", name, f"not a column of {resource.path}; expected: "
                                                     f"{', '.join(resource.names)}{did_you_mean(name, resource.names)}")
    position = {n: header.index(n) for n in resource.names if n in header}
    for line, cells in table.records[1:]:
        if cells is None:
            continue
        if len(cells) != len(header):
            table.rejected.add(line)
            hint = " (a comma in an unquoted cell? quote cells that contain commas)" if len(cells) > len(header) else ""
            table.bad(line, None, "row has one cell per column", None,
                      f"{len(cells)} cells, header has {len(header)}{hint}")
            continue
        row = {}
        for f in resource.fields:
            if f.name not in position:
                continue
            text = cells[position[f.name]]
            if text == "":
                row[f.name] = None
                continue
            if len(text) > MAX_CELL:
                table.bad(line, f.name, f"cell at most {MAX_CELL:,} characters", text,
                          f"{len(text):,} characters: {show(text)}")
                row[f.name] = BAD
                continue
            value = parse(f.type, text)
            if isinstance(value, tuple) and value and value[0] is BAD:
                table.bad(line, f.name, value[1], text, value[2])
                row[f.name] = BAD
            else:
                row[f.name] = value
        table.rows.append((line, row))
    return table


__all__ = ["BAD", "MAX_CELL", "Table", "did_you_mean", "parse", "read_table"]
