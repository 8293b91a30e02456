"""The Table Schema checks, by the Frictionless framework (the standard's own implementation).

The tables as read (:mod:`.read`: stripped cells, one record per row, rows with the wrong number of cells left
as they are) are written to a temporary package with the contract's schemas and validated with
``frictionless``: required and allowed values, patterns, ranges, uniqueness, primary and foreign keys. Each error
becomes a :class:`~livingreview.dataset.violations.Violation` with the file, line and column the reader knows,
in the words of the rest of the validator; an error that only follows from a problem the reader already reported
(a cell it could not parse, a row with the wrong number of cells, a table it could not read) is not repeated.
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
from pathlib import Path

from livingreview.dataset.read import Table, did_you_mean
from livingreview.dataset.violations import Violation, show

_CONSTRAINT = re.compile(r'constraint "(\w+)" is "(.*)"', re.S)


def _rule(table: Table, column: str, constraint: str, limit: str) -> str:
    f = table.resource.field(column)
    return {"required": "value required", "enum": "allowed values", "pattern": f"matches {f.pattern}",
            "minimum": f"{column} >= {limit}", "maximum": f"{column} <= {limit}", "unique": f"unique {column}",
            "minLength": f"{column} not empty", "maxLength": f"{column} at most {limit} characters"}.get(
        constraint, f"{constraint} {limit}")


def standard_violations(tables: dict[str, Table]) -> list[Violation]:
    """Every Table Schema violation of the readable tables (see the module docstring)."""
    from frictionless import Package, system

    readable = {name: t for name, t in tables.items() if t.readable}
    with tempfile.TemporaryDirectory(prefix="lrfl-") as tmp:
        resources = []
        for name, t in readable.items():
            with open(Path(tmp) / t.resource.path, "w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh, lineterminator="\n")
                for _, cells in t.records:
                    writer.writerow(cells or [])
            resources.append({"name": name, "path": t.resource.path, "profile": "tabular-data-resource",
                              "format": "csv", "encoding": "utf-8", "schema": _readable_schema(t, readable)})
        with system.use_context(trusted=True):
            report = Package({"name": "check", "resources": resources}, basepath=tmp).validate()
    out = []
    for task in report.tasks:
        table = readable[task.name]
        for err in task.errors:
            out.extend(_violations(table, err, readable))
    return out


def _readable_schema(table: Table, readable: dict[str, Table]) -> dict:
    """The table's schema without foreign keys into tables that could not be read (already reported)."""
    schema = json.loads(json.dumps(table.resource.schema))
    schema["foreignKeys"] = [fk for fk in schema.get("foreignKeys", [])
                             if (fk["reference"]["resource"] or table.resource.name) in readable]
    return schema


def _line(table: Table, row_number: int | None) -> int | None:
    if row_number is None or not 0 < row_number <= len(table.records):
        return None
    return table.records[row_number - 1][0]


def _violations(table: Table, err, readable: dict[str, Table]) -> list[Violation]:
    kind = err.type
    line = _line(table, getattr(err, "row_number", None))
    column = getattr(err, "field_name", None) or None
    cell = getattr(err, "cell", None)
    if kind in ("extra-cell", "missing-cell", "blank-row") or line in table.rejected:
        return []  # the reader reported the row (or it is a blank line, which is allowed)
    if kind in ("extra-label", "missing-label", "duplicate-label", "blank-label", "incorrect-label"):
        return []  # the reader checked the header
    if kind == "type-error" or (line, column) in table.flagged:
        return []  # the reader parses every cell strictly and reported those it could not
    if kind == "primary-key":
        key = table.resource.primary_key
        cells = table.records[err.row_number - 1][1] or []
        if not any(cells):
            return []
        values = [cells[table.header.index(k)] if k in table.header else "" for k in key]
        m = re.search(r"position (\d+)", err.note)
        first = f" already on line {_line(table, int(m.group(1)))}" if m else ""
        shown = ", ".join(show(v) for v in values)
        rule = f"unique ({', '.join(key)})" if len(key) > 1 else f"unique {key[0]}"
        return [Violation(table.file, line, ", ".join(key), rule, tuple(values) if len(key) > 1 else values[0],
                          f"value {shown}{first}")]
    if kind == "foreign-key":
        fk = next((fk for fk in table.resource.foreign_keys if f'"{", ".join(fk[0])}"' in err.note
                   or f'"{fk[0][0]}"' in err.note), None)
        if fk is None:
            return [Violation(table.file, line, None, "reference defined", None, err.note)]
        fields, target, target_fields = fk
        cells = table.records[err.row_number - 1][1] or []
        values = [cells[table.header.index(f)] for f in fields if f in table.header]
        other = readable[target]
        if any(v in sum((c or [] for ln, c in other.records if ln in other.rejected), []) for v in values):
            return []  # the referenced row exists but was rejected (reported there)
        target_file = other.resource.path
        return [Violation(table.file, line, fields[0], f"{fields[0]} defined in {target_file}",
                          values[0] if values else None, f"value {show(values[0] if values else None)} not found in "
                                                         f"{target_file} ({', '.join(target_fields)})")]
    if kind in ("constraint-error", "unique-error"):
        m = _CONSTRAINT.search(err.note or "")
        constraint, limit = (m.group(1), m.group(2)) if m else ("unique", "")
        if constraint == "required":
            return [Violation(table.file, line, column, "value required", None, "empty")]
        f = table.resource.field(column)
        if constraint == "enum":
            return [Violation(table.file, line, column, "allowed values", cell,
                              f"value {show(cell)} not one of: {', '.join(f.enum)}{did_you_mean(str(cell), f.enum)}")]
        if constraint == "unique" or kind == "unique-error":
            if table.resource.primary_key == (column,):
                return []  # the primary-key error says it better: "already on line N"
            return [Violation(table.file, line, column, f"unique {column}", cell, f"value {show(cell)} is used twice")]
        return [Violation(table.file, line, column, _rule(table, column, constraint, limit), cell,
                          f"value {show(cell)} breaks {constraint} {limit}")]
    return [Violation(table.file, line, column, kind, cell, err.note or err.message)]


__all__ = ["standard_violations"]
