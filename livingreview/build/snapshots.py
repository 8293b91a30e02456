"""``freeze``: write a data version's snapshot — the copy of its tables as published — and record it.

For version N: the dataset must be valid and N in ``versions.csv`` and not frozen yet; each table of
:data:`livingreview.review.history.SNAPSHOT_TABLES` is copied byte for byte to ``data/snapshots/vN/<table>.csv`` and
gets a row in ``snapshots.csv`` (its SHA-256, the date, an optional note). The copies are written first, the index
last (each by an atomic rename), and the dataset is validated again; on any failure the new files are removed and
``snapshots.csv`` is left as it was. A frozen version is never re-frozen: a correction goes into the current tables
and shows as a correction in the next version's "What's new".

``python -m livingreview freeze --version N`` also gives the update's search runs their ``data_version`` (the
surveillance layer's part) before writing the snapshot.
"""

from __future__ import annotations

import csv
import io
import os
from datetime import date
from pathlib import Path


class FreezeError(RuntimeError):
    """The version cannot be frozen; nothing was changed. The message says why."""


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def freeze(data_dir, version: int, on: str | None = None, note: str = "") -> list[Path]:
    """Write the snapshot of ``version``; returns the files written (the copies, then ``snapshots.csv``)."""
    from livingreview.dataset import DataValidationError, load_dataset
    from livingreview.dataset.package import resources
    from livingreview.review.history import SNAPSHOT_TABLES, sha256_file

    data_dir = Path(data_dir)
    on = on or date.today().isoformat()
    try:
        ds = load_dataset(data_dir)
    except DataValidationError as err:
        raise FreezeError(f"freeze: the dataset is invalid; fix it first (nothing was changed)\n{err}") from None
    known = sorted(int(v) for v in ds.versions["data_version"])
    if version not in known:
        raise FreezeError(f"freeze: version {version} is not in versions.csv (known: {known}); add its row first")
    if (ds.snapshots["data_version"] == version).any():
        raise FreezeError(f"freeze: version {version} is frozen already (snapshots.csv); a correction goes into the "
                          f"current tables and shows in the next version")
    res = resources()
    index = data_dir / res["snapshots"].path
    before = index.read_bytes()
    written: list[Path] = []
    rows = []
    try:
        for table in SNAPSHOT_TABLES:
            source = data_dir / res[table].path
            rel = f"snapshots/v{version}/{table}.csv"
            target = data_dir / rel
            _atomic_write(target, source.read_bytes())
            written.append(target)
            rows.append([str(version), table, rel, sha256_file(target), on, note])
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        text = before.decode("utf-8")
        _atomic_write(index, (text if text.endswith("\n") else text + "\n").encode() + buf.getvalue().encode())
        written.append(index)
        load_dataset(data_dir)
    except BaseException as err:
        _atomic_write(index, before)
        for p in written:
            if p != index:
                p.unlink(missing_ok=True)
        folder = data_dir / "snapshots" / f"v{version}"
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        if isinstance(err, DataValidationError):
            raise FreezeError(f"freeze: the snapshot would make the dataset invalid; nothing was changed\n{err}") \
                from None
        raise
    return written


__all__ = ["FreezeError", "freeze"]
