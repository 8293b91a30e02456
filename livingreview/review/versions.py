"""The living update: what each data version changed, computed from ``data/versions.csv`` and ``studies.csv``.

A study belongs to every data version from its ``data_version`` on, so version v pools the studies of versions
≤ v (:meth:`livingreview.dataset.Dataset.pooling_table`). This module compares the pooled results of two versions
outcome by outcome (:func:`compare_versions`) and names the studies responsible for each shift. The full update
history — versions as published, corrections, every moved estimate, triggers — is :mod:`livingreview.review.history`.

Pure functions and frozen dataclasses; the pages that show them are in :mod:`livingreview.book`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from livingreview.config import PRIMARY, Spec
from livingreview.review.outcomes import analyse_outcome, display_labels

#: An overall estimate "moved" between versions when its number of studies changed or it shifted by at least
#: this many percentage points (the book shows estimates to 0.1 pp, so a smaller shift would not be visible).
MOVED_PP = 0.05


@dataclass(frozen=True)
class VersionInfo:
    version: int
    date: str
    search_date: str
    description: str


def version_info(dataset) -> tuple[VersionInfo, ...]:
    v = dataset.versions.sort_values("data_version")
    return tuple(VersionInfo(int(r["data_version"]), str(r["date"]), str(r["search_date"]), str(r["description"]))
                 for _, r in v.iterrows())


def previous_version(dataset, version: int) -> int | None:
    """The version before ``version`` in versions.csv (None for the first)."""
    earlier = [v.version for v in version_info(dataset) if v.version < version]
    return max(earlier) if earlier else None


def studies_added(dataset, version: int) -> pd.DataFrame:
    """The studies that version ``version`` added (their ``data_version`` equals it), with display labels."""
    s = dataset.studies[dataset.studies["data_version"] == version].copy()
    s["display_label"] = display_labels(s, dataset.latest_version)
    return s.reset_index(drop=True)


@dataclass(frozen=True)
class Pooled:
    """An outcome's overall pooled result in one data version (proportions 0–1); k = 0 when nothing to pool."""

    k: int
    estimate: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    i2: float = math.nan
    studies: tuple[str, ...] = ()  # study_ids pooled


def pooled(dataset, outcome: str, version: int, spec: Spec = PRIMARY) -> Pooled:
    a = analyse_outcome(dataset, outcome, spec, data_version=version)
    if a.overall is None:
        return Pooled(0)
    p = a.overall.proportion()
    return Pooled(a.k, p.estimate, p.ci_low, p.ci_high, a.overall.i2, tuple(a.studies["study_id"]))


@dataclass(frozen=True)
class Shift:
    """One outcome, version ``old`` against version ``new``."""

    outcome: str
    label: str
    old: Pooled
    new: Pooled
    new_studies: tuple[str, ...]  # study_ids pooled in ``new`` but not in ``old``
    new_labels: tuple[str, ...]  # their display labels (as in the forest plots)

    @property
    def shift_pp(self) -> float:
        """New minus old estimate, in percentage points (NaN when either version has nothing to pool)."""
        return 100 * (self.new.estimate - self.old.estimate)

    @property
    def moved(self) -> bool:
        if self.old.k != self.new.k:
            return True
        return not math.isnan(self.shift_pp) and abs(self.shift_pp) >= MOVED_PP


def compare_versions(dataset, old: int, new: int, spec: Spec = PRIMARY, outcomes=None) -> tuple[Shift, ...]:
    """Every outcome's overall estimate in version ``old`` and ``new`` (book order), with the studies that
    ``new`` adds to its pool."""
    defs = dataset.definitions.sort_values("display_order")
    labels = dict(zip(defs["outcome"], defs["label"]))
    studies = dataset.studies.set_index("study_id")
    disp = dict(zip(dataset.studies["study_id"], display_labels(dataset.studies, new)))
    out = []
    for outcome in (defs["outcome"] if outcomes is None else outcomes):
        a, b = pooled(dataset, outcome, old, spec), pooled(dataset, outcome, new, spec)
        added = tuple(s for s in b.studies if s not in set(a.studies))
        out.append(Shift(outcome, labels[outcome], a, b, added, tuple(disp[s] for s in added)))
        assert all(int(studies.loc[s, "data_version"]) > old for s in added)
    return tuple(out)


def shift_frame(shifts) -> pd.DataFrame:
    """Machine-readable side-by-side table (proportions 0–1, shift in pp)."""
    rows = []
    for s in shifts:
        rows.append({"outcome": s.outcome, "label": s.label,
                     "k_old": s.old.k, "estimate_old": s.old.estimate, "ci_low_old": s.old.ci_low,
                     "ci_high_old": s.old.ci_high, "i2_old": s.old.i2,
                     "k_new": s.new.k, "estimate_new": s.new.estimate, "ci_low_new": s.new.ci_low,
                     "ci_high_new": s.new.ci_high, "i2_new": s.new.i2,
                     "shift_pp": s.shift_pp, "moved": s.moved, "new_studies": ";".join(s.new_studies)})
    return pd.DataFrame(rows)


__all__ = ["MOVED_PP", "VersionInfo", "version_info", "previous_version", "studies_added", "Pooled", "pooled",
           "Shift", "compare_versions", "shift_frame"]
