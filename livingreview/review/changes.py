"""Which pooled estimates moved between two results tables (``livingreview.review.outcomes.results_table``)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from livingreview import format as fmt

KEY = ("outcome", "subgroup", "level")


@dataclass(frozen=True)
class EstimateChange:
    """One analysis (outcome × overall or subgroup level) whose shown numbers differ; old or new None if absent."""

    outcome: str
    subgroup: str
    level: str
    old: dict | None
    new: dict | None

    def __str__(self) -> str:
        where = f"{self.outcome} ({'overall' if self.subgroup == 'overall' else self.level})"
        return f"{where}: {_summary(self.old)} → {_summary(self.new)}"


def _summary(row: dict | None) -> str:
    if row is None:
        return "no estimate"
    return (f"{fmt.pct(row['estimate'])} ({fmt.interval(row['ci_low'], row['ci_high'])}), k {int(row['k'])}, "
            f"{fmt.i2_text(row['i2'])}")


def _shown(row: dict) -> tuple:
    """What the book shows of an estimate: k, and the numbers as printed."""
    return (int(row["k"]), int(row["events"]), int(row["total"]), fmt.pct(row["estimate"]),
            fmt.interval(row["ci_low"], row["ci_high"]), fmt.interval(row["pi_low"], row["pi_high"]),
            fmt.i2_text(row["i2"]))


def estimate_changes(old: pd.DataFrame, new: pd.DataFrame) -> list[EstimateChange]:
    """Every analysis whose shown numbers (k, counts, estimate, CI, PI, I² as printed) differ, in ``new``'s order."""
    before = {tuple("" if pd.isna(r[k]) else r[k] for k in KEY): r for r in old.to_dict("records")}
    after = {tuple("" if pd.isna(r[k]) else r[k] for k in KEY): r for r in new.to_dict("records")}
    out = []
    for key in list(after) + [k for k in before if k not in after]:
        a, b = before.get(key), after.get(key)
        if a is None or b is None or _shown(a) != _shown(b):
            out.append(EstimateChange(*key, a, b))
    return out


__all__ = ["EstimateChange", "estimate_changes"]
