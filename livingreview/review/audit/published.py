"""The paper's printed numbers (``data/published.csv``) and what they say about the number of studies behind them."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
from scipy import stats

from livingreview.format import decimals

#: The data version that holds the paper's set of studies: every number is recomputed against it.
REFERENCE_VERSION = 1
#: Largest df searched when asking which numbers of studies an I²/p pair is consistent with.
MAX_IMPLIED_DF = 60
PERCENT_STATS = ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")
STATISTIC_LABELS = {"estimate": "estimate", "ci_low": "CI lower", "ci_high": "CI upper", "pi_low": "PI lower",
                    "pi_high": "PI upper", "i2": "I²", "het_p": "heterogeneity p", "k": "studies (k)",
                    "egger_p": "Egger p"}
STAT_ORDER = {s: i for i, s in enumerate(STATISTIC_LABELS)}


@dataclass(frozen=True)
class PublishedNumber:
    """One row of ``data/published.csv``; ``value`` in percent for estimates, bounds and I²."""

    outcome: str
    subgroup: str
    level: str
    statistic: str
    value: float
    comparator: str
    printed: str
    location: str
    note: str = ""

    @property
    def analysis(self) -> tuple[str, str, str]:
        return (self.outcome, self.subgroup, self.level)

    @property
    def decimals(self) -> int:
        """Decimals as printed (at least one for percentages: '89.0' is printed to 0.1)."""
        d = decimals(self.value)
        return max(d, 1) if self.statistic in PERCENT_STATS + ("i2",) else d


def cited_refs(printed: str) -> tuple[int, ...]:
    """Reference numbers in a printed fragment such as 'eight included studies (19–21, 23–25, 27, 28)'."""
    m = re.search(r"\(([\d\s,–-]+)\)", printed or "")
    if not m:
        return ()
    refs = []
    for part in m.group(1).split(","):
        part = part.strip()
        if not part:
            continue
        bounds = re.split(r"[–-]", part)
        refs.extend(range(int(bounds[0]), int(bounds[1]) + 1) if len(bounds) == 2 else [int(part)])
    return tuple(refs)


def published_numbers(dataset) -> tuple[PublishedNumber, ...]:
    p = dataset.published
    out = []
    for _, r in p.iterrows():
        out.append(PublishedNumber(r["outcome"], r["subgroup"], "" if pd.isna(r["level"]) else r["level"],
                                   r["statistic"], float(r["value"]), r["comparator"], r["printed"], r["location"],
                                   "" if pd.isna(r["note"]) else r["note"]))
    return tuple(out)


def published_value(numbers, analysis, statistic) -> PublishedNumber | None:
    return next((n for n in numbers if n.analysis == analysis and n.statistic == statistic), None)


def implied_df(i2: float, p: float, comparator: str = "=", max_df: int = MAX_IMPLIED_DF,
               i2_unit: float = 0.1, p_unit: float = 0.001) -> tuple[int, ...]:
    """Degrees of freedom (k − 1) for which a Q-based I² = (Q − df)/Q printed as ``i2`` (±``i2_unit``/2) and a
    heterogeneity p = P(χ²_df > Q) printed as ``p`` (±``p_unit``/2; an upper bound for comparator "<") agree.
    Under DL the τ²-based I² equals this Q-based I²; under REML it generally does not."""
    out = []
    lo_i2, hi_i2 = max(i2 - i2_unit / 2, 0.0) / 100, min(i2 + i2_unit / 2, 99.99) / 100
    for df in range(1, max_df + 1):
        q_lo = df / (1 - lo_i2) if i2 > 0 else 0.0
        q_hi = df / (1 - hi_i2)
        p_lo, p_hi = float(stats.chi2.sf(q_hi, df)), float(stats.chi2.sf(q_lo, df))
        if comparator == "<":
            ok = p_lo < p
        elif comparator == ">":
            ok = p_hi > p
        else:
            ok = p_lo <= p + p_unit / 2 and p_hi >= p - p_unit / 2
        if ok:
            out.append(df)
    return tuple(out)


@dataclass(frozen=True)
class PaperK:
    """What the paper says, directly or by implication, about the number of studies behind an analysis."""

    exact: int | None  # printed, or the only value its I²/p pair allows
    minimum: int  # a lower bound (0 when nothing is known)
    source: str


def paper_k(numbers, analysis, definitions: pd.DataFrame | None = None) -> PaperK:
    outcome, subgroup, level = analysis
    k = published_value(numbers, analysis, "k")
    if k is not None:
        return PaperK(int(k.value), int(k.value), f"printed: “{k.printed}”")
    if subgroup == "overall" and definitions is not None:
        row = definitions.set_index("outcome").loc[outcome]
        if pd.notna(row.get("paper_k")):
            return PaperK(int(row["paper_k"]), int(row["paper_k"]), "outcome_definitions.csv paper_k")
    i2 = published_value(numbers, analysis, "i2")
    p = published_value(numbers, analysis, "het_p")
    if i2 is not None and p is not None:
        overall = paper_k(numbers, (outcome, "overall", ""), definitions) if subgroup != "overall" else None
        max_df = overall.exact - 1 if overall is not None and overall.exact else MAX_IMPLIED_DF
        dfs = implied_df(i2.value, p.value, p.comparator, max_df=max_df)
        if len(dfs) == 1:
            return PaperK(dfs[0] + 1, dfs[0] + 1, f"implied by I² = {i2.value:.1f}% and {p_text(p)}: "
                                                   f"Q-based I² fits only df = {dfs[0]}")
        if dfs:
            return PaperK(None, dfs[0] + 1, f"I² = {i2.value:.1f}% with {p_text(p)} needs df ≥ {dfs[0]}")
    if i2 is not None and i2.value > 0:
        return PaperK(None, 2, "an I² above 0 needs at least 2 studies")
    return PaperK(None, 0, "not printed")


def p_text(n: PublishedNumber) -> str:
    return f"p {n.comparator} {n.value:.3f}"
