"""Freeze the update in progress: give every search run that has no ``data_version`` the version being published.

The PRISMA counts of a version (``livingreview.review.flow``) are those of its runs, so a run belongs to exactly one
version once frozen; later runs (the next update) start without one. ``python -m livingreview freeze`` does this
and writes the version's data snapshot (``livingreview.build.snapshots``).
"""

from __future__ import annotations

from pathlib import Path

from livingreview.surveillance import tables


def assign_data_version(data_dir: Path | str | None, data_version: int) -> int:
    """Freeze the update in progress: set ``data_version`` on every run that has none. Returns how many."""
    from livingreview.config import DATA_DIR
    from livingreview.surveillance.errors import DataError
    from livingreview.surveillance.store import Staging
    from livingreview.surveillance.validate import validate_tables

    data_dir = Path(data_dir) if data_dir is not None else DATA_DIR
    header, runs = tables.read_rows(tables.table_path(data_dir, "search_runs"))
    n = 0
    for r in runs:
        if not r.get("data_version"):
            r["data_version"] = str(int(data_version))
            n += 1
    if n:
        problems = validate_tables(data_dir, {"search_runs": runs}, {"search_runs": header}, check_files=False)
        if problems:
            raise DataError(problems)
        st = Staging()
        st.put(tables.table_path(data_dir, "search_runs"), tables.to_csv_bytes(header, runs))
        st.commit()
    return n
