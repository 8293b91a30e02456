"""The status of each printed number: recomputed under every specification and judged by one ordered rule table."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from livingreview.config import SUBGROUP_LEVELS
from livingreview.review.audit.published import (
    PERCENT_STATS,
    REFERENCE_VERSION,
    STAT_ORDER,
    PaperK,
    PublishedNumber,
    paper_k,
    published_numbers,
)
from livingreview.review.audit.specifications import SPEC_KEYS, fit_outcome

#: Estimates and CI/PI bounds: *reproduced* if ours rounds to the printed value (at its printed decimals, at
#: least one); *close* if within this many percentage points.
CLOSE_PP = 0.5
#: I²: *reproduced* if within this many percentage points.
I2_TOLERANCE = 0.1
#: Heterogeneity and Egger p printed to three decimals: *reproduced* if within this.
P_TOLERANCE = 0.001
STATUSES = ("reproduced", "close", "not reproduced", "not reproducible")
_RANK = {s: i for i, s in enumerate(STATUSES)}


@dataclass(frozen=True)
class Case:
    """Everything a status rule looks at, for one published number under one specification."""

    statistic: str
    comparator: str
    paper: float
    ours: float  # NaN when not computable
    decimals: int
    our_k: int
    paper_k: PaperK
    outcome_short: bool  # the outcome's overall analysis has fewer studies than the paper's
    subgroup: bool


@dataclass(frozen=True)
class StatusRule:
    rule: str
    applies_to: str
    condition: str
    status: str
    test: Callable[[Case], bool] = field(repr=False, compare=False)
    data_rule: bool = False  # decided by the data alone, the same for every specification


def _round_equal(c: Case) -> bool:
    return abs(round(c.ours, c.decimals) - c.paper) < 10 ** -(c.decimals + 3)


STATUS_RULES = (
    StatusRule("no-data", "every number", "no study in the dataset reports this analysis (our k = 0)",
               "not reproducible", lambda c: c.our_k == 0, True),
    StatusRule("missing-studies", "every number",
               "the paper's k (printed, or implied by its I²/p pair) is larger than ours: studies are missing",
               "not reproducible", lambda c: c.our_k < c.paper_k.minimum, True),
    StatusRule("outcome-incomplete", "subgroup levels",
               "the paper does not say how many studies the level has, and the outcome misses studies whose level "
               "is unknown", "not reproducible",
               lambda c: c.subgroup and c.paper_k.exact is None and c.outcome_short, True),
    StatusRule("not-computable", "every number",
               "the specification gives no value (e.g. a t(k−2) PI with k ≤ 2, Egger with k < 3)", "not reproduced",
               lambda c: math.isnan(c.ours)),
    StatusRule("k-equal", "k", "our number of studies equals the paper's", "reproduced",
               lambda c: c.statistic == "k" and round(c.ours) == round(c.paper)),
    StatusRule("exact", "estimates, CI and PI bounds",
               "ours, rounded to the printed decimals (at least 0.1 pp), equals the printed value", "reproduced",
               lambda c: c.statistic in PERCENT_STATS and _round_equal(c)),
    StatusRule("close", "estimates, CI and PI bounds", f"|ours − printed| ≤ {CLOSE_PP} pp", "close",
               lambda c: c.statistic in PERCENT_STATS and abs(c.ours - c.paper) <= CLOSE_PP + 1e-9),
    StatusRule("i2", "I²", f"|ours − printed| ≤ {I2_TOLERANCE} points", "reproduced",
               lambda c: c.statistic == "i2" and abs(c.ours - c.paper) <= I2_TOLERANCE + 1e-9),
    StatusRule("p-equal", "p values printed as p = x", f"|ours − printed| ≤ {P_TOLERANCE}", "reproduced",
               lambda c: c.statistic in ("het_p", "egger_p") and c.comparator == "="
               and abs(c.ours - c.paper) <= P_TOLERANCE + 1e-9),
    StatusRule("p-below", "p values printed as p<0.001", "ours < 0.001 (an inequality, not a value)", "reproduced",
               lambda c: c.statistic in ("het_p", "egger_p") and c.comparator == "<" and c.ours < c.paper),
    StatusRule("p-above", "p values printed as p>x", "ours > x", "reproduced",
               lambda c: c.statistic in ("het_p", "egger_p") and c.comparator == ">" and c.ours > c.paper),
    StatusRule("otherwise", "every number", "none of the above", "not reproduced", lambda c: True),
)


@dataclass(frozen=True)
class Verdict:
    status: str
    rule: str


def judge(case: Case) -> Verdict:
    """The first rule of :data:`STATUS_RULES` that matches."""
    for rule in STATUS_RULES:
        if rule.test(case):
            return Verdict(rule.status, rule.rule)
    raise AssertionError("the last rule always matches")


@dataclass(frozen=True)
class Comparison:
    """One published number against our recomputations."""

    number: PublishedNumber
    our_k: int
    paper_k: PaperK
    values: dict  # spec key -> our value (NaN when not computable or no data)
    verdicts: dict  # spec key -> Verdict
    status: str
    rule: str
    best_spec: str  # the spec reaching the best status (closest value among them); "" when none has a value
    difference: float  # ours (best_spec) − printed; NaN when no value

    @property
    def reason(self) -> str:
        k = self.paper_k
        if self.rule == "no-data":
            return "no study in the dataset reports this analysis"
        if self.rule == "missing-studies":
            return (f"the paper has {'≥ ' if k.exact is None else ''}{k.minimum} studies ({k.source}); "
                    f"the dataset {self.our_k}")
        if self.rule == "outcome-incomplete":
            return (f"k for this level not printed; the outcome misses studies of unknown level "
                    f"(dataset: {self.our_k} here)")
        if self.rule == "not-computable":
            return "not computable under any specification"
        rule = next(r for r in STATUS_RULES if r.rule == self.rule)
        return f"{rule.condition} ({self.best_spec})" if self.best_spec else rule.condition


def _case(n: PublishedNumber, ours: float, our_k: int, pk: PaperK, short: bool) -> Case:
    return Case(n.statistic, n.comparator, n.value, ours, n.decimals, our_k, pk, short, n.subgroup != "overall")


def compare(n: PublishedNumber, fits: dict, pk: PaperK, short: bool) -> Comparison:
    """Judge one number against its fits (spec key -> Fit or None)."""
    values = {key: (fits[key].value(n.statistic) if fits.get(key) is not None else math.nan) for key in SPEC_KEYS}
    our_k = max((f.k for f in fits.values() if f is not None), default=0)
    verdicts = {key: judge(_case(n, values[key], our_k, pk, short)) for key in SPEC_KEYS}
    best = min(_RANK[v.status] for v in verdicts.values())
    candidates = [key for key in SPEC_KEYS if _RANK[verdicts[key].status] == best and not math.isnan(values[key])]

    def distance(key):
        if n.comparator != "=":
            return 0.0 if verdicts[key].status == "reproduced" else abs(values[key] - n.value)
        return abs(values[key] - n.value)

    if candidates:
        best_spec = min(candidates, key=lambda k: (distance(k), SPEC_KEYS.index(k)))
        verdict = verdicts[best_spec]
    else:
        best_spec, verdict = "", next(v for v in verdicts.values() if _RANK[v.status] == best)
    diff = values[best_spec] - n.value if best_spec else math.nan
    return Comparison(n, our_k, pk, values, verdicts, verdict.status, verdict.rule, best_spec, diff)


@dataclass(frozen=True)
class Audit:
    comparisons: tuple[Comparison, ...]
    fits: dict  # (outcome, subgroup, level) -> {spec key: Fit}
    data_version: int

    def counts(self, outcome: str | None = None) -> dict:
        rows = [c for c in self.comparisons if outcome is None or c.number.outcome == outcome]
        return {s: sum(c.status == s for c in rows) for s in STATUSES}

    def outcomes(self) -> list[str]:
        return list(dict.fromkeys(c.number.outcome for c in self.comparisons))

    def frame(self) -> pd.DataFrame:
        rows = []
        for c in self.comparisons:
            n = c.number
            row = {"outcome": n.outcome, "subgroup": n.subgroup, "level": n.level, "statistic": n.statistic,
                   "comparator": n.comparator, "paper": n.value, "printed": n.printed, "our_k": c.our_k,
                   "paper_k": c.paper_k.exact, "paper_k_min": c.paper_k.minimum}
            row.update({key: c.values[key] for key in SPEC_KEYS})
            row.update({"best_spec": c.best_spec, "difference": c.difference, "status": c.status, "rule": c.rule,
                        "reason": c.reason})
            rows.append(row)
        return pd.DataFrame(rows)


def audit(dataset, data_version: int = REFERENCE_VERSION, outcomes=None) -> Audit:
    """Every published number (of ``outcomes``; all when None) against the dataset's studies of ``data_version``
    (default: the paper's set)."""
    numbers = published_numbers(dataset)
    if outcomes is not None:
        numbers = tuple(n for n in numbers if n.outcome in set(outcomes))
    defs = dataset.definitions
    fits: dict = {}
    for outcome in dict.fromkeys(n.outcome for n in numbers):
        for key in SPEC_KEYS:
            for analysis, fit in fit_outcome(dataset, outcome, key, data_version, numbers).items():
                fits.setdefault(analysis, {})[key] = fit
    comparisons = []
    order = {o: i for i, o in enumerate(defs.sort_values("display_order")["outcome"])}
    shortfall = {}
    for n in numbers:
        if n.outcome not in shortfall:
            pk = paper_k(numbers, (n.outcome, "overall", ""), defs)
            ours = max((f.k for f in fits.get((n.outcome, "overall", ""), {}).values()), default=0)
            shortfall[n.outcome] = ours < pk.minimum
        pk = paper_k(numbers, n.analysis, defs)
        comparisons.append(compare(n, fits.get(n.analysis, {}), pk, shortfall[n.outcome]))
    comparisons.sort(key=lambda c: (order.get(c.number.outcome, 999), _analysis_order(c.number),
                                    STAT_ORDER[c.number.statistic]))
    return Audit(tuple(comparisons), fits, data_version)


def _analysis_order(n: PublishedNumber) -> tuple:
    if n.subgroup == "overall":
        return (0, 0)
    levels = SUBGROUP_LEVELS.get(n.subgroup, ())
    return (1 if n.subgroup == "regimen" else 2, levels.index(n.level) if n.level in levels else 99)
