"""The four surveillance tables as CSV: where they live, their columns (from the Table Schemas), reading, writing.

Column order comes from the Table Schema files ``data/schemas/<table>.json`` (one source of truth): the schema of
``<data_dir>/schemas/<table>.json`` if that file exists, else the repository's ``livingreview.config.DATA_DIR``'s.
Every value is read and written as text; an empty cell is missing (the dataset's convention, ``data/README.md``).
"""

from __future__ import annotations

import csv
import io
import json
from functools import lru_cache
from pathlib import Path

from livingreview.config import DATA_DIR

#: Table name -> file name in the data directory.
TABLES = {
    "search_strategies": "search_strategies.csv",
    "search_runs": "search_runs.csv",
    "records": "records.csv",
    "screening": "screening.csv",
}

#: Raw responses are stored under this folder of the data directory, one gzip JSON envelope per run.
RESPONSES_DIR = "search_responses"


def schema_path(data_dir: Path | str, table: str) -> Path:
    """The Table Schema file of ``table``: the data directory's own if present, else the repository's."""
    own = Path(data_dir) / "schemas" / f"{table}.json"
    return own if own.exists() else DATA_DIR / "schemas" / f"{table}.json"


@lru_cache(maxsize=None)
def _load_schema(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def schema(data_dir: Path | str, table: str) -> dict:
    return _load_schema(str(schema_path(data_dir, table)))


def columns(data_dir: Path | str, table: str) -> list[str]:
    return [f["name"] for f in schema(data_dir, table)["fields"]]


def table_path(data_dir: Path | str, table: str) -> Path:
    return Path(data_dir) / TABLES.get(table, f"{table}.csv")


def read_rows(path: Path) -> tuple[list[str], list[dict]]:
    """(header, rows) of a CSV file; ([], []) if it does not exist. Values are stripped strings."""
    if not path.exists():
        return [], []
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        rows = [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    return header, rows


def read_table(data_dir: Path | str, table: str) -> list[dict]:
    return read_rows(table_path(data_dir, table))[1]


def to_csv_bytes(header: list[str], rows: list[dict]) -> bytes:
    """UTF-8 CSV, header first, '\\n' line ends, minimal quoting; missing keys are written empty."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else str(row.get(k))) for k in header})
    return buf.getvalue().encode("utf-8")
