"""The paper's printed pooled results, one row per analysis, to be shown beside ours (never as ours).

``data/published.csv`` holds every number the paper prints, one per row; the book's tables need them per analysis
(outcome × overall or subgroup level): the estimate, its CI and PI, I² and the number of studies. The number of
studies is the one the paper prints for that analysis, else — for an outcome overall — ``paper_k`` of
``outcome_definitions.csv``; a number of studies the paper only implies is not shown as printed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from livingreview import format as fmt
from livingreview.review.audit import published_numbers

#: The paper, as the book names it beside its numbers.
PAPER = "Lao et al. 2025"
STATS = ("estimate", "ci_low", "ci_high", "pi_low", "pi_high", "i2")
COLUMNS = ["outcome", "subgroup", "level", *STATS, "k"]


def paper_results(dataset, outcomes=None) -> pd.DataFrame:
    """One row per analysis the paper reports (of ``outcomes``; all when None): percentages as printed (never
    rescaled, so that they are shown at the paper's own decimals); NaN where the paper prints nothing. Reads
    published and outcome_definitions."""
    numbers = [n for n in published_numbers(dataset) if outcomes is None or n.outcome in set(outcomes)]
    paper_k = dataset.definitions.set_index("outcome")["paper_k"]
    rows: dict[tuple, dict] = {}
    for n in numbers:
        row = rows.setdefault(n.analysis, {"outcome": n.outcome, "subgroup": n.subgroup, "level": n.level})
        if n.statistic in STATS:
            row[n.statistic] = n.value
        elif n.statistic == "k":
            row["k"] = int(n.value)
    for (outcome, subgroup, _), row in rows.items():
        if "k" not in row and subgroup == "overall" and outcome in paper_k.index and pd.notna(paper_k[outcome]):
            row["k"] = int(paper_k[outcome])
    frame = pd.DataFrame(list(rows.values()), columns=COLUMNS)
    frame["k"] = frame["k"].astype("Int64")
    return frame


def paper_row(frame: pd.DataFrame, outcome: str, subgroup: str = "overall", level: str = ""):
    """The paper's row of one analysis (a Series), or None when the paper does not report it."""
    hit = frame[(frame["outcome"] == outcome) & (frame["subgroup"] == subgroup) & (frame["level"] == (level or ""))]
    return None if hit.empty else hit.iloc[0]


def percent(value, missing: str = "not printed") -> str:
    """A percentage of the paper at its own decimals: '6.2%', '−0.02%'."""
    return missing if pd.isna(value) else f"{fmt.printed(value)}%"


def interval(low, high, missing: str = "not printed") -> str:
    return missing if pd.isna(low) or pd.isna(high) else f"{percent(low)}–{percent(high)}"


def paper_text(row) -> str:
    """'6.2% (95% CI 3.8%–8.6%)' from a paper row; the CI only where the paper prints one."""
    ci = interval(row["ci_low"], row["ci_high"], missing="")
    return percent(row["estimate"]) + (f" (95% CI {ci})" if ci else "")




@dataclass(frozen=True)
class Coverage:
    """How much of the paper's evidence this dataset holds: its studies identified, the study–outcome results it
    pooled that the dataset traces to a source (the paper's set, version 1), studies added since, and the audit's
    statuses of the paper's printed numbers."""

    paper_studies: int
    identification: dict  # identified / probable / not identified → studies of version 1
    added_studies: int  # studies of later data versions (up to the version shown)
    paper_pairs: int  # Σ paper_k over the outcomes whose k the paper states
    traced_pairs: int  # version-1 rows with exact counts for those outcomes
    outcomes_with_k: int
    audit_counts: dict  # status → printed numbers


def coverage(dataset, data_version: int | None = None) -> Coverage:
    """Reads studies, outcomes, outcome_definitions, published and versions (the audit's reads)."""
    from livingreview.review.audit import REFERENCE_VERSION, STATUSES, audit

    studies = dataset.studies
    v1 = studies[studies["data_version"] == REFERENCE_VERSION]
    later = studies[studies["data_version"] > REFERENCE_VERSION]
    if data_version is not None:
        later = later[later["data_version"] <= data_version]
    stated = dataset.definitions.dropna(subset=["paper_k"])
    traced = sum(len(dataset.pooling_table(o, data_version=REFERENCE_VERSION)) for o in stated["outcome"])
    counts = audit(dataset).counts()
    return Coverage(len(v1), {s: int((v1["identification"] == s).sum()) for s in ("identified", "probable",
                                                                                  "not identified")},
                    len(later), int(stated["paper_k"].sum()), traced, len(stated),
                    {s: counts.get(s, 0) for s in STATUSES})


__all__ = ["PAPER", "Coverage", "coverage", "interval", "paper_results", "paper_row", "paper_text", "percent"]
