"""``python -m livingreview diff``: what moved since the accepted baseline — numbers first, then the data rows.

* Pooled estimates: the book's primary analysis computed from the working data, against the estimates accepted
  with the baseline (``tests/pins/pooled_estimates.csv``, written by ``build --accept``).
* Data rows: the working ``data/`` (or another data directory) against the committed ``data/`` (``git show
  HEAD:data/…``), field by field on parsed values, with the file and line of each change.

A failing ``python -m pytest`` prints this summary above nbval's cell diffs (``conftest.py``).
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from livingreview.config import DATA_DIR, ROOT

PINNED_ESTIMATES = ROOT / "tests" / "pins" / "pooled_estimates.csv"


@dataclass
class Changes:
    estimates: list = field(default_factory=list)  # EstimateChange
    rows: list = field(default_factory=list)  # RowChange
    notes: list = field(default_factory=list)  # why a part could not be compared

    def lines(self, limit: int = 40) -> list[str]:
        out = []
        if self.estimates:
            out.append(f"Pooled estimates that moved ({len(self.estimates)}; accepted → now):")
            out += [f"  {c}" for c in self.estimates[:limit]]
            if len(self.estimates) > limit:
                out.append(f"  … and {len(self.estimates) - limit} more")
        else:
            out.append("No pooled estimate moved.")
        if self.rows:
            out.append(f"Data rows that changed ({len(self.rows)}; committed → working tree):")
            out += [f"  {c}" for c in self.rows[:limit]]
            if len(self.rows) > limit:
                out.append(f"  … and {len(self.rows) - limit} more")
        elif not self.notes:
            out.append("No data row changed since the last commit.")
        return out + self.notes


def estimates_table(dataset):
    from livingreview.config import PRIMARY
    from livingreview.review.outcomes import results_table

    return results_table(dataset, PRIMARY)


def write_pinned_estimates(dataset) -> Path:
    """The accepted estimates, beside the accepted notebooks (``build --accept``)."""
    PINNED_ESTIMATES.parent.mkdir(parents=True, exist_ok=True)
    estimates_table(dataset).to_csv(PINNED_ESTIMATES, index=False, float_format="%.10g", lineterminator="\n")
    return PINNED_ESTIMATES


def committed_data(target: Path) -> Path | None:
    """The committed copy of the repository's ``data/`` (``git show HEAD:data/…``) in ``target``; None outside git.
    A table not committed yet is absent from the copy (its rows show as added)."""
    from livingreview.dataset.package import resources

    try:
        if subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=ROOT, capture_output=True).returncode:
            return None
    except OSError:  # no git
        return None
    target.mkdir(parents=True, exist_ok=True)
    for table in resources().values():
        proc = subprocess.run(["git", "show", f"HEAD:data/{table.path}"], cwd=ROOT, capture_output=True)
        if proc.returncode == 0:
            (target / table.path).write_bytes(proc.stdout)
    return target


def changes(data_dir: Path = DATA_DIR) -> Changes:
    import pandas as pd

    from livingreview.dataset import DataValidationError, load_dataset
    from livingreview.dataset.compare import row_changes
    from livingreview.review.changes import estimate_changes

    result = Changes()
    try:
        current = estimates_table(load_dataset(data_dir))
    except DataValidationError as err:
        result.notes.append(f"The working data are invalid, so no estimate can be compared:\n{err}")
        current = None
    if current is not None:
        if PINNED_ESTIMATES.is_file():
            result.estimates = estimate_changes(pd.read_csv(PINNED_ESTIMATES, keep_default_na=False,
                                                            na_values=[""]), current)
        else:
            result.notes.append(f"No accepted estimates ({PINNED_ESTIMATES.relative_to(ROOT)}): run "
                                f"`python -m livingreview build --accept`.")
    with tempfile.TemporaryDirectory(prefix="lrdiff-") as tmp:
        committed = committed_data(Path(tmp))
        if committed is None:
            result.notes.append("Data rows: not compared (not a git checkout with data/ committed).")
        else:
            result.rows = row_changes(committed, Path(data_dir))
    return result


__all__ = ["Changes", "PINNED_ESTIMATES", "changes", "committed_data", "write_pinned_estimates"]
