"""What changed between two copies of the dataset, row by row and field by field, on parsed values."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from livingreview.dataset.contract import read_rows
from livingreview.dataset.package import resources


@dataclass(frozen=True)
class RowChange:
    """One changed field of a row (``field`` empty for a row added or removed)."""

    file: str
    line: int | None  # in the new copy (in the old one for a removed row)
    key: tuple
    field: str
    old: object
    new: object

    def __str__(self) -> str:
        where = f"{self.file}, line {self.line}" if self.line else self.file
        key = ", ".join(str(k) for k in self.key)
        if not self.field:
            return f"{where} ({key}): row {'added' if self.old is None else 'removed'}"
        return f"{where} ({key}), {self.field}: {_show(self.old)} → {_show(self.new)}"


def _show(value) -> str:
    if value is None:
        return "empty"
    if not isinstance(value, str):
        return str(value)
    return repr(value if len(value) <= 60 else value[:57] + "…")


def row_changes(old_dir: Path, new_dir: Path) -> list[RowChange]:
    """Every row added, removed or changed (field by field) between ``old_dir`` and ``new_dir``, table by table."""
    out = []
    for name, table in resources().items():
        key_columns, old_rows = read_rows(old_dir, name)
        _, new_rows = read_rows(new_dir, name)
        old = {tuple(r.get(k) for k in key_columns): (line, r) for line, r in old_rows}
        new = {tuple(r.get(k) for k in key_columns): (line, r) for line, r in new_rows}
        for key, (line, row) in new.items():
            if key not in old:
                out.append(RowChange(table.path, line, key, "", None, "added"))
                continue
            before = old[key][1]
            for column in table.names:
                if before.get(column) != row.get(column):
                    out.append(RowChange(table.path, line, key, column, before.get(column), row.get(column)))
        for key, (line, _) in old.items():
            if key not in new:
                out.append(RowChange(table.path, line, key, "", "removed", None))
    return out


__all__ = ["RowChange", "row_changes"]
