"""Check the surveillance tables as they are, or as they would be written: with the dataset's own contract.

The four tables' Table Schemas are part of the data package (``data/datapackage.json``), and the rules a Table
Schema cannot state (a run's counts against its records, a duplicate pointing to an earlier record, append-only
screening decisions, …) are rules of the dataset (:mod:`livingreview.dataset.rules`), so ``python -m livingreview
validate`` and a search check the same things. Given tables (staged, not yet written) are checked in a scratch copy
of the data directory; messages name the data directory's own files::

    data/records.csv, line 3, column 'doi': rule 'matches 10\\.[^\\s]+' broken (…)
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from pathlib import Path

from livingreview.dataset.rules import DATE_FIELDS
from livingreview.surveillance.tables import RESPONSES_DIR, TABLES, columns

#: Rules about the stored raw responses, which staged tables (not yet written with their files) cannot meet.
FILE_RULES = ("response file exists", "SHA-256 of the response file")


def validate_tables(data_dir: Path | str, tables: dict[str, list[dict]] | None = None,
                    headers: dict[str, list[str]] | None = None, check_files: bool = True) -> list[str]:
    """Every problem of the surveillance tables of ``data_dir`` (empty list: all valid).

    ``tables``/``headers`` replace the files' contents (staged tables, checked before they are written). A table
    whose file does not exist and is not given is treated as empty. The other tables of the dataset (studies,
    versions: the targets of foreign keys) are read from ``data_dir`` when present."""
    from livingreview.dataset.contract import violations
    from livingreview.dataset.package import resources

    data_dir, tables, headers = Path(data_dir), dict(tables or {}), dict(headers or {})
    with tempfile.TemporaryDirectory(prefix="lrsv-") as tmp:
        scratch = Path(tmp)
        for name, resource in resources().items():
            source = data_dir / resource.path
            if name in tables:
                _write(scratch / resource.path, headers.get(name) or columns(data_dir, name), tables[name])
            elif source.is_file():
                shutil.copyfile(source, scratch / resource.path)
            elif name in TABLES:
                _write(scratch / resource.path, columns(data_dir, name), [])
        if check_files and (data_dir / RESPONSES_DIR).is_dir():
            os.symlink((data_dir / RESPONSES_DIR).resolve(), scratch / RESPONSES_DIR)
        _, found = violations(scratch, only=tuple(TABLES), shown=data_dir)
    return [str(v) for v in found if check_files or v.rule not in FILE_RULES]


def _write(path: Path, header: list[str], rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else str(row.get(k)) for k in header})


__all__ = ["DATE_FIELDS", "validate_tables"]
