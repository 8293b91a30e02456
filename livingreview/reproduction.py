"""Reproduction audit: every pooled number the paper prints, recomputed from the dataset and judged.

The paper (Lao, Wen & Wen 2025) prints about two hundred pooled numbers (``data/published.csv``). For each of
them this module

1. recomputes the value from the paper's set of studies (data version 1) under several specifications
   (:data:`SPECIFICATIONS`: S1 paper-likely, S2 as described, S3 logit/REML, S5 GLMM);
2. gives it a status by the first matching rule of :data:`STATUS_RULES` (one table; the tolerances are the
   constants below) — *reproduced*, *close*, *not reproduced*, or *not reproducible with the data available*;
3. checks the published numbers against each other (:func:`findings`): intervals outside 0–100%, prediction
   intervals that cannot come from the model, the scale on which each interval is symmetric, the number of
   studies that each I²/p pair implies, the studies the paper cites for an outcome, and the patient totals;
4. names, outcome by outcome, the specification that best explains the published numbers
   (:func:`best_specifications`).

Pure functions and frozen dataclasses; nothing here formats HTML. ``python -m livingreview.reproduction
--write-pins`` rewrites the pinned statuses of ``tests/pins/`` on purpose.
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import logit as _logit

from livingreview.config import ROOT, SUBGROUP_LEVELS, Spec

# --- tolerances and fixed choices (stated once; the chapter prints them from here) -------------------------------

#: The data version that holds the paper's set of studies: every number is recomputed against it.
REFERENCE_VERSION = 1
#: Estimates and CI/PI bounds: *reproduced* if ours rounds to the printed value (at its printed decimals, at
#: least one); *close* if within this many percentage points.
CLOSE_PP = 0.5
#: I²: *reproduced* if within this many percentage points.
I2_TOLERANCE = 0.1
#: Heterogeneity and Egger p printed to three decimals: *reproduced* if within this.
P_TOLERANCE = 0.001
#: The paper's FT rule: Freeman–Tukey "for outcomes demonstrating substantial heterogeneity (I² > 50%)".
FT_RULE_I2 = 50.0
#: Largest df searched when asking which numbers of studies an I²/p pair is consistent with.
MAX_IMPLIED_DF = 60

STATUSES = ("reproduced", "close", "not reproduced", "not reproducible")
_RANK = {s: i for i, s in enumerate(STATUSES)}
PERCENT_STATS = ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")
STATISTIC_LABELS = {"estimate": "estimate", "ci_low": "CI lower", "ci_high": "CI upper", "pi_low": "PI lower",
                    "pi_high": "PI upper", "i2": "I²", "het_p": "heterogeneity p", "k": "studies (k)",
                    "egger_p": "Egger p"}
_STAT_ORDER = {s: i for i, s in enumerate(STATISTIC_LABELS)}


# --- specifications ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Specification:
    """One way the paper's numbers may have been computed. ``kind``: "rma" (``spec``), "ft-rule" (PFT with
    DL when the outcome's I² > :data:`FT_RULE_I2`, else raw proportions with DL) or "glmm"."""

    key: str
    name: str
    description: str
    kind: str
    spec: Spec | None = None
    i2: str = "tau2"  # "q": Q-based I² (R meta, Stata metan/metaprop); "tau2": τ²-based (metafor, Stata meta)


SPECIFICATIONS = (
    Specification("S1", "paper-likely", "raw proportions (PR), DerSimonian–Laird, Wald z CI, Q-based I², "
                  "PI with t(k−2)", "rma", Spec("PR", "DL", "z", "t2"), "q"),
    Specification("S2", "as described", "Freeman–Tukey double arcsine (PFT, halved, harmonic-mean inverse) with "
                  f"DerSimonian–Laird for outcomes whose printed I² > {FT_RULE_I2:.0f}%, raw proportions (PR) with "
                  "DerSimonian–Laird otherwise; Wald z CI, Q-based I², PI with t(k−2)", "ft-rule",
                  Spec("PFT", "DL", "z", "t2"), "q"),
    Specification("S3", "logit/REML", "logit (PLO), REML τ², Wald z CI, τ²-based I², PI with t(k−2) "
                  "(Stata 18 meta defaults, on the logit scale)", "rma", Spec("PLO", "REML", "z", "t2"), "tau2"),
    Specification("S5", "GLMM", "binomial–normal GLMM on the logit scale (ML, 7-point adaptive Gauss–Hermite), "
                  "Wald z CI, τ²-based I², likelihood-ratio heterogeneity test, PI with z", "glmm", None, "tau2"),
)
SPEC_KEYS = tuple(s.key for s in SPECIFICATIONS)
_SPECS = {s.key: s for s in SPECIFICATIONS}

#: The scales an interval can be symmetric on, and the specifications that produce intervals on that scale.
SCALES = {
    "raw": "raw proportion (S1; S2 where I² ≤ 50%)",
    "arcsine": "arcsine ≈ Freeman–Tukey (S2 where I² > 50%)",
    "logit": "logit (S3, S5)",
}


# --- the published numbers ---------------------------------------------------------------------------------------


def _decimals(value: float) -> int:
    for d in range(6):
        if abs(round(value, d) - value) < 1e-9:
            return d
    return 6


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
        d = _decimals(self.value)
        return max(d, 1) if self.statistic in PERCENT_STATS + ("i2",) else d


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


# --- scale fingerprint of an interval ----------------------------------------------------------------------------


def _to_scale(scale: str, p: float) -> float:
    if scale == "raw":
        return p
    if not 0 < p < 1:
        return math.nan
    return float(np.arcsin(np.sqrt(p))) if scale == "arcsine" else float(_logit(p))


def rounding_units(*values: float) -> tuple[float, ...]:
    """The printing unit (pp) of each of a set of values printed together: 0.1 for a value printed to one
    decimal (the usual case; '89.0' counts as one decimal), 0.01 for two ('−0.02'), and 1 for all of them when
    every value is a whole number — the paper prints some grade ≥3 rates as '2.0 (1.0–4.0)', i.e. to whole
    percents, so a triple of whole numbers is read conservatively at that precision."""
    if all(abs(v - round(v)) < 1e-9 for v in values):
        return tuple(1.0 for _ in values)
    return tuple(10.0 ** -max(_decimals(v), 1) for v in values)


def symmetric_on(scale: str, estimate: float, low: float, high: float, units=(0.1, 0.1, 0.1)) -> bool:
    """Can an interval printed as ``estimate (low–high)`` (percent, each rounded to its unit in ``units``) be
    symmetric about the estimate on ``scale``? The asymmetry g(high) + g(low) − 2·g(estimate) is monotone in each
    value, so the corners of the rounding box bound it; the interval is consistent with the scale if 0 lies
    between them. A bound outside (0, 100) is consistent with the raw scale only (a back-transformed interval
    cannot leave it)."""
    if isinstance(units, (int, float)):
        units = (float(units),) * 3
    corners = []
    for de in (-units[0] / 2, units[0] / 2):
        for dl in (-units[1] / 2, units[1] / 2):
            for dh in (-units[2] / 2, units[2] / 2):
                e, lo, hi = [(x + d) / 100 for x, d in ((estimate, de), (low, dl), (high, dh))]
                g = [_to_scale(scale, x) for x in (hi, lo, e)]
                if any(math.isnan(x) for x in g):
                    return False
                corners.append(g[0] + g[1] - 2 * g[2])
    return min(corners) <= 0 <= max(corners)


def predicted_asymmetry(scale: str, estimate: float, low: float, high: float) -> float:
    """(high − e) − (e − low) in pp that an interval of the printed width, symmetric on ``scale`` about the
    printed estimate, would show once back-transformed (0 on the raw scale; NaN where undefined)."""
    if scale == "raw":
        return 0.0
    e, width = estimate / 100, (high - low) / 100
    if not 0 < e < 1 or width <= 0:
        return math.nan
    inv = (lambda t: float(np.sin(np.clip(t, 0, np.pi / 2)) ** 2)) if scale == "arcsine" else \
        (lambda t: float(1 / (1 + np.exp(-t))))
    centre = _to_scale(scale, e)

    def gap(c):
        return inv(centre + c) - inv(centre - c) - width

    hi_c = 1.0
    while gap(hi_c) < 0:
        hi_c *= 2
        if hi_c > 64:
            return math.nan
    from scipy.optimize import brentq
    c = brentq(gap, 1e-12, hi_c, xtol=1e-12)
    lo_p, hi_p = inv(centre - c), inv(centre + c)
    return 100 * ((hi_p - e) - (e - lo_p))


@dataclass(frozen=True)
class IntervalCheck:
    """The scale fingerprint of one printed interval (CI or PI)."""

    outcome: str
    subgroup: str
    level: str
    kind: str  # "CI" or "PI"
    estimate: float
    low: float
    high: float
    units: tuple[float, float, float]  # printing unit of estimate, low, high (pp)
    asymmetry: float  # (high − estimate) − (estimate − low), pp
    predicted: dict  # scale -> asymmetry predicted for an interval of this width symmetric on that scale
    consistent: tuple[str, ...]  # scales the printed interval is symmetric on, within rounding

    @property
    def discriminating(self) -> bool:
        """True when the scales disagree by more than rounding: the interval tells them apart."""
        return len(self.consistent) < len(SCALES)


def interval_checks(numbers) -> tuple[IntervalCheck, ...]:
    out = []
    analyses = list(dict.fromkeys(n.analysis for n in numbers))
    for analysis in analyses:
        est = published_value(numbers, analysis, "estimate")
        if est is None:
            continue
        for kind, (lo_s, hi_s) in (("CI", ("ci_low", "ci_high")), ("PI", ("pi_low", "pi_high"))):
            lo, hi = published_value(numbers, analysis, lo_s), published_value(numbers, analysis, hi_s)
            if lo is None or hi is None:
                continue
            units = rounding_units(est.value, lo.value, hi.value)
            consistent = tuple(s for s in SCALES if symmetric_on(s, est.value, lo.value, hi.value, units))
            predicted = {s: predicted_asymmetry(s, est.value, lo.value, hi.value) for s in SCALES}
            out.append(IntervalCheck(*analysis, kind, est.value, lo.value, hi.value, units,
                                     (hi.value - est.value) - (est.value - lo.value), predicted, consistent))
    return tuple(out)


# --- what an I²/p pair says about the number of studies ----------------------------------------------------------


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
            return PaperK(dfs[0] + 1, dfs[0] + 1, f"implied by I² = {i2.value:.1f}% and {_p_text(p)}: "
                                                   f"Q-based I² fits only df = {dfs[0]}")
        if dfs:
            return PaperK(None, dfs[0] + 1, f"I² = {i2.value:.1f}% with {_p_text(p)} needs df ≥ {dfs[0]}")
    if i2 is not None and i2.value > 0:
        return PaperK(None, 2, "an I² above 0 needs at least 2 studies")
    return PaperK(None, 0, "not printed")


def _p_text(n: PublishedNumber) -> str:
    return f"p {n.comparator} {n.value:.3f}"


# --- recomputation under each specification ----------------------------------------------------------------------


@dataclass(frozen=True)
class Fit:
    """One analysis (outcome × overall/subgroup level) under one specification; percentages 0–100."""

    spec: str
    outcome: str
    subgroup: str
    level: str
    k: int
    measure: str
    estimate: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    pi_low: float = math.nan
    pi_high: float = math.nan
    i2: float = math.nan
    het_p: float = math.nan
    egger_p: float = math.nan
    notes: tuple[str, ...] = ()

    def value(self, statistic: str) -> float:
        return float(self.k) if statistic == "k" else float(getattr(self, statistic))


def ft_rule_measure(numbers, outcome: str, fallback_i2: float | None = None) -> str:
    """The paper's rule (S2): PFT when the outcome's printed overall I² exceeds 50%, raw proportions otherwise.
    Where the paper prints no overall I², our own S1 I² (``fallback_i2``) decides."""
    i2 = published_value(numbers, (outcome, "overall", ""), "i2")
    value = i2.value if i2 is not None else fallback_i2
    return "PFT" if value is not None and value > FT_RULE_I2 else "PR"


def _rma_fit(key, outcome, subgroup, level, res, i2_kind, egger=False) -> Fit:
    from livingreview.engine.bias import egger_test
    p = res.proportion()
    eg = math.nan
    if egger and res.k >= 3:
        e = egger_test(res, force=True)
        eg = e.pval if e.applicable else math.nan
    return Fit(key, outcome, subgroup, level, res.k, res.es.measure, 100 * p.estimate, 100 * p.ci_low,
               100 * p.ci_high, 100 * p.pi_low, 100 * p.pi_high, res.i2_q if i2_kind == "q" else res.i2,
               res.q_p if res.k > 1 else math.nan, eg, res.notes)


def _glmm_fit(outcome, subgroup, level, rows: pd.DataFrame) -> Fit:
    from livingreview.engine.glmm import rma_glmm
    g = rma_glmm(rows["events"].to_numpy(), rows["total"].to_numpy(), labels=tuple(rows["display_label"]))
    p = g.proportion()
    return Fit("S5", outcome, subgroup, level, g.k, "GLMM", 100 * p.estimate, 100 * p.ci_low, 100 * p.ci_high,
               100 * p.pi_low, 100 * p.pi_high, g.i2 if g.k > 1 else math.nan,
               g.qe_p_lrt if g.k > 1 else math.nan, math.nan, tuple(g.notes))


def fit_outcome(dataset, outcome: str, key: str, data_version: int = REFERENCE_VERSION,
                numbers=None) -> dict[tuple[str, str, str], Fit]:
    """Every analysis of an outcome (overall, each subgroup level with data) under specification ``key``."""
    from livingreview.results import analyse_outcome
    numbers = published_numbers(dataset) if numbers is None else numbers
    spec = _SPECS[key]
    if spec.kind == "glmm":
        a = analyse_outcome(dataset, outcome, _SPECS["S3"].spec, data_version=data_version)
        if a.overall is None:
            return {}
        fits = {(outcome, "overall", ""): _glmm_fit(outcome, "overall", "", a.studies)}
        for column in a.subgroups:
            for level in _levels(column, a.studies[column]):
                rows = a.studies[a.studies[column] == level]
                fits[(outcome, column, level)] = _glmm_fit(outcome, column, level, rows)
        return fits
    s = spec.spec
    if spec.kind == "ft-rule":
        fallback = None
        if published_value(numbers, (outcome, "overall", ""), "i2") is None:
            s1 = analyse_outcome(dataset, outcome, _SPECS["S1"].spec, data_version=data_version).overall
            fallback = None if s1 is None else s1.i2_q
        s = s.with_(measure=ft_rule_measure(numbers, outcome, fallback))
    a = analyse_outcome(dataset, outcome, s, data_version=data_version)
    if a.overall is None:
        return {}
    fits = {(outcome, "overall", ""): _rma_fit(key, outcome, "overall", "", a.overall, spec.i2, egger=True)}
    for column, sub in a.subgroups.items():
        for level in _levels(column, sub.levels):
            fits[(outcome, column, level)] = _rma_fit(key, outcome, column, level, sub.levels[level], spec.i2)
    return fits


def _levels(column, present) -> list[str]:
    present = [p for p in dict.fromkeys(present) if isinstance(p, str) and p]
    known = [lv for lv in SUBGROUP_LEVELS.get(column, ()) if lv in present]
    return known + [lv for lv in present if lv not in known]


# --- status rules --------------------------------------------------------------------------------------------------


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


# --- the audit ---------------------------------------------------------------------------------------------------


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
                                    _STAT_ORDER[c.number.statistic]))
    return Audit(tuple(comparisons), fits, data_version)


def _analysis_order(n: PublishedNumber) -> tuple:
    if n.subgroup == "overall":
        return (0, 0)
    levels = SUBGROUP_LEVELS.get(n.subgroup, ())
    return (1 if n.subgroup == "regimen" else 2, levels.index(n.level) if n.level in levels else 99)


# --- the paper's internal inconsistencies ------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One check of the published numbers against each other or against the dataset."""

    check: str
    outcome: str
    analysis: str
    verdict: str  # "inconsistent", "consistent", "unverifiable"
    evidence: str


CHECKS = {
    "interval outside 0–100%": "a proportion's CI or PI bound below 0% or above 100%: only an untransformed "
                               "(raw-proportion) Wald interval can do that",
    "PI excludes its estimate": "a prediction interval must contain the pooled estimate it is centred on",
    "PI not wider than CI": "a prediction interval on the same scale and centre is wider than the CI at both ends",
    "interval scale": "the scales on which a printed interval is symmetric about its estimate, within rounding",
    "FT rule not applied": f"I² > {FT_RULE_I2:.0f}% (the paper's rule: Freeman–Tukey) but the CIs are symmetric "
                           "on the raw scale and not on the arcsine (≈ Freeman–Tukey) scale",
    "I²/p implies df": "the df = k − 1 for which the printed I² (as (Q − df)/Q) and heterogeneity p agree",
    "k vs cited studies": "the number of references the paper cites for an outcome against its printed k, and "
                          "what the identified reports of the cited studies contain",
    "subgroup arithmetic": "studies of known disease status among those cited, against the subgroup k implied by "
                           "the I²/p pair",
    "patient totals": "the totals of §3.1 against each other and against studies.csv",
    "Egger rule": "Egger's test reported only with k ≥ 10 (the paper's rule)",
}


def _analysis_name(subgroup: str, level: str) -> str:
    return "overall" if subgroup == "overall" else level


def _fmt(x: float, d: int = 1) -> str:
    text = f"{x:.{d}f}"
    return (text[1:] if text.startswith("-") and float(text) == 0 else text).replace("-", "−")


def _pct(x: float) -> str:
    """A printed percentage at its printed decimals (at least one)."""
    return _fmt(x, max(_decimals(x), 1))


def interval_findings(numbers) -> list[Finding]:
    out = []
    checks = interval_checks(numbers)
    for c in checks:
        name = _analysis_name(c.subgroup, c.level)
        printed = f"{_pct(c.estimate)} ({_pct(c.low)}–{_pct(c.high)})"
        if c.low < 0 or c.high > 100:
            out.append(Finding("interval outside 0–100%", c.outcome, name, "inconsistent",
                               f"{c.kind} {printed}: bound {'below 0' if c.low < 0 else 'above 100'}%"))
        if c.kind == "PI":
            if not c.low <= c.estimate <= c.high:
                out.append(Finding("PI excludes its estimate", c.outcome, name, "inconsistent",
                                   f"estimate {_fmt(c.estimate)}% outside its PI {_fmt(c.low)}–{_fmt(c.high)}%"))
            ci = next((x for x in checks if x.kind == "CI" and (x.outcome, x.subgroup, x.level)
                       == (c.outcome, c.subgroup, c.level)), None)
            if ci is not None and (c.low >= ci.low or c.high <= ci.high):
                end = "lower" if c.low >= ci.low else "upper"
                out.append(Finding("PI not wider than CI", c.outcome, name, "inconsistent",
                                   f"PI {_fmt(c.low)}–{_fmt(c.high)}% vs CI {_fmt(ci.low)}–{_fmt(ci.high)}%: "
                                   f"the PI's "
                                   f"{end} bound is not outside the CI's"))
        out.append(Finding("interval scale", c.outcome, name, *_scale_evidence(c, printed, checks)))
    return out


def _scale_evidence(c: IntervalCheck, printed: str, checks) -> tuple[str, str]:
    """Verdict and evidence of the interval-scale check for one printed interval."""
    lopsided = (f"{c.kind} {printed}: {_fmt(c.estimate - c.low, 1)} pp below the estimate, "
                f"{_fmt(c.high - c.estimate, 1)} above")
    if c.kind == "PI":
        if not c.consistent:
            return "inconsistent", (f"{lopsided}; not symmetric about the estimate on the raw, arcsine or logit "
                                    "scale: not a prediction interval centred on this estimate")
        if "raw" not in c.consistent and ci_raw_only(checks, c):
            return "inconsistent", (f"{lopsided}; symmetric on the {' and '.join(c.consistent)} scale only, while "
                                    "the CI is symmetric on the raw scale only: PI and CI come from different models")
        return "consistent", f"{lopsided}; symmetric on: {', '.join(c.consistent)}"
    expected = "; ".join(f"{s} {_fmt(v, 1)}" for s, v in c.predicted.items() if not math.isnan(v))
    whole = " (all three whole numbers: read as whole percents)" if c.units[0] == 1 else ""
    if not c.consistent:
        return "inconsistent", (f"{lopsided}{whole}; a CI of this width symmetric on each scale would give: "
                                f"{expected}; symmetric on no scale — probable typo")
    return "consistent", (f"{lopsided}{whole}; symmetric on each scale would give: {expected}; consistent with: "
                          f"{', '.join(c.consistent)}")


def ci_raw_only(checks, pi: IntervalCheck) -> bool:
    ci = next((x for x in checks if x.kind == "CI" and (x.outcome, x.subgroup, x.level)
               == (pi.outcome, pi.subgroup, pi.level)), None)
    return ci is not None and ci.consistent == ("raw",)


def ft_rule_findings(numbers) -> list[Finding]:
    out = []
    checks = interval_checks(numbers)
    for outcome in dict.fromkeys(n.outcome for n in numbers):
        if ft_rule_measure(numbers, outcome) != "PFT":
            continue
        cis = [c for c in checks if c.outcome == outcome and c.kind == "CI"]
        against = [c for c in cis if "raw" in c.consistent and "arcsine" not in c.consistent]
        i2 = published_value(numbers, (outcome, "overall", ""), "i2").value
        if against:
            out.append(Finding("FT rule not applied", outcome, "overall", "inconsistent",
                               f"I² = {_fmt(i2)}% > {FT_RULE_I2:.0f}%, yet {len(against)} of the outcome's {len(cis)} "
                               f"CI(s) are symmetric on the raw scale and not on the Freeman–Tukey scale"))
    return out


def df_findings(numbers, definitions) -> list[Finding]:
    out = []
    for analysis in dict.fromkeys(n.analysis for n in numbers):
        i2 = published_value(numbers, analysis, "i2")
        p = published_value(numbers, analysis, "het_p")
        if i2 is None or p is None:
            continue
        dfs = implied_df(i2.value, p.value, p.comparator)
        pk = paper_k(numbers, analysis, definitions)
        printed_k = published_value(numbers, analysis, "k")
        listed = _df_list(dfs)
        name = _analysis_name(analysis[1], analysis[2])
        base = f"I² = {_fmt(i2.value)}%, {_p_text(p)}: consistent with df ∈ {listed}"
        if printed_k is not None:
            ok = int(printed_k.value) - 1 in dfs
            out.append(Finding("I²/p implies df", analysis[0], name, "consistent" if ok else "inconsistent",
                               f"{base}; printed k = {int(printed_k.value)} → df = {int(printed_k.value) - 1} "
                               f"{'fits' if ok else 'does not fit'}"))
        elif not dfs:
            out.append(Finding("I²/p implies df", analysis[0], name, "inconsistent",
                               f"I² = {_fmt(i2.value)}% and {_p_text(p)} fit no df ≤ {MAX_IMPLIED_DF}"))
        else:
            extra = f" → k = {pk.exact} studies" if pk.exact else f" → k ≥ {pk.minimum}"
            out.append(Finding("I²/p implies df", analysis[0], name, "consistent", base + extra))
    return out


def _df_list(dfs) -> str:
    if not dfs:
        return "{}"
    runs, start = [], dfs[0]
    for a, b in zip(dfs, dfs[1:] + (None,)):
        if b != a + 1:
            runs.append(f"{start}" if start == a else f"{start}–{a if a < MAX_IMPLIED_DF else '…'}")
            start = b
    return "{" + ", ".join(runs) + "}"


NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen".split())}


def cited_refs(printed: str) -> tuple[int, ...]:
    """Reference numbers in a printed fragment such as 'eight included studies (19–21, 23–25, 27, 28)'."""
    m = re.search(r"\(([\d\s,–-]+)\)", printed)
    if not m:
        return ()
    refs = []
    for part in m.group(1).split(","):
        part = part.strip()
        if not part:
            continue
        bounds = re.split(r"[–-]", part)
        if len(bounds) == 2:
            refs.extend(range(int(bounds[0]), int(bounds[1]) + 1))
        else:
            refs.append(int(part))
    return tuple(refs)


def cited_findings(dataset, numbers) -> list[Finding]:
    out = []
    studies = dataset.studies[dataset.studies["data_version"] <= REFERENCE_VERSION]
    by_ref = {int(r): s for r, s in zip(studies["ref_no"], studies["study_id"]) if pd.notna(r)}
    ident = studies.set_index("study_id")
    rows = dataset.outcomes.set_index(["study_id", "outcome"])
    for n in numbers:
        if n.statistic != "k":
            continue
        refs = cited_refs(n.printed)
        if not refs:
            continue
        ok = len(refs) == int(n.value)
        out.append(Finding("k vs cited studies", n.outcome, "overall", "consistent" if ok else "inconsistent",
                           f"“{n.printed}”: {len(refs)} references cited for k = {int(n.value)}"))
        for ref in refs:
            sid = by_ref.get(ref)
            if sid is None:
                continue
            status = ident.loc[sid, "identification"]
            if status == "not identified":
                continue
            key = (sid, n.outcome)
            if key in rows.index and rows.loc[key, "derivation"] == "missing":
                note = str(rows.loc[key, "note"])
                out.append(Finding("k vs cited studies", n.outcome, "overall", "unverifiable",
                                   f"ref {ref} ({ident.loc[sid, 'label']}, {status}) is cited, but its identified "
                                   f"report does not give the figure: {note.split(';')[0].rstrip('.')}"))
    return out


def subgroup_arithmetic(dataset, numbers) -> list[Finding]:
    """For outcomes whose cited references are listed: the cited studies of known disease status against the
    number of newly diagnosed studies the I²/p pair implies."""
    out = []
    studies = dataset.studies[dataset.studies["data_version"] <= REFERENCE_VERSION]
    status_of = {int(r): d for r, d in zip(studies["ref_no"], studies["disease_status"]) if pd.notna(r)}
    for n in numbers:
        if n.statistic != "k" or not cited_refs(n.printed):
            continue
        refs = cited_refs(n.printed)
        for level in SUBGROUP_LEVELS["disease_status"]:
            pk = paper_k(numbers, (n.outcome, "disease_status", level), dataset.definitions)
            if pk.exact is None:
                continue
            known = [r for r in refs if status_of.get(r) == level]
            other = [r for r in refs if isinstance(status_of.get(r), str) and status_of.get(r) != level]
            unknown = [r for r in refs if not isinstance(status_of.get(r), str)]
            ok = len(known) <= pk.exact <= len(known) + len(unknown)
            need = pk.exact - len(known)
            out.append(Finding(
                "subgroup arithmetic", n.outcome, level, "consistent" if ok else "inconsistent",
                f"I²/p implies {pk.exact} {level} studies; cited refs of known status: {level} "
                f"{_refs(known)}, other {_refs(other)}; unknown {_refs(unknown)}"
                + (f" → {need} of the unknown must be {level}" if ok and need > 0 and unknown else "")))
    return out


def _refs(refs) -> str:
    return "[" + ", ".join(str(r) for r in refs) + "]" if refs else "none"


def patient_findings(dataset) -> list[Finding]:
    s = dataset.search[dataset.search["data_version"] == REFERENCE_VERSION].set_index("stage")["count"]
    get = lambda name: int(s[name]) if name in s.index and pd.notna(s[name]) else None  # noqa: E731
    studies = dataset.studies[dataset.studies["data_version"] <= REFERENCE_VERSION]
    out = []
    total, nd, rr = get("patients"), get("patients_newly_diagnosed"), get("patients_relapsed_refractory")
    if None not in (total, nd, rr):
        out.append(Finding("patient totals", "", "§3.1", "consistent" if nd + rr == total else "inconsistent",
                           f"{nd} newly diagnosed + {rr} R/R = {nd + rr:,} against {total:,} patients printed"))
    k = get("studies_included")
    parts = [get(x) for x in ("studies_rct", "studies_single_arm", "studies_registered_trial")]
    if k is not None and None not in parts:
        out.append(Finding("patient totals", "", "§3.1", "consistent" if sum(parts) == k else "inconsistent",
                           f"{parts[0]} RCT + {parts[1]} single-arm + {parts[2]} registered trial = {sum(parts)} "
                           f"against {k} studies printed; studies.csv holds {len(studies)} version-1 studies"))
    full, abstract = get("studies_single_arm_full_text"), get("studies_single_arm_abstract")
    if None not in (full, abstract, parts[1]):
        ok = full + abstract == parts[1]
        out.append(Finding("patient totals", "", "§3.1", "consistent" if ok else "inconsistent",
                           f"{full} full papers + {abstract} abstracts = {full + abstract} against "
                           f"{parts[1]} single-arm studies"))
    if total is not None:
        known = studies[studies["n_treated"].notna()]
        n_known = int(known["n_treated"].sum())
        rest = len(studies) - len(known)
        verdict = "consistent" if n_known <= total else "inconsistent"
        text = (f"the {len(known)} studies with n_treated in studies.csv treated {n_known:,}; "
                f"{total - n_known:,} patients are left for the other {rest} studies"
                + (f" ({(total - n_known) / rest:.0f} each on average)" if rest else ""))
        for level, printed in (("newly diagnosed", nd), ("relapsed/refractory", rr)):
            if printed is None:
                continue
            sub = known[known["disease_status"] == level]
            n_sub = int(sub["n_treated"].sum())
            text += f"; {level}: {n_sub:,} of {printed:,} in {len(sub)} known studies"
            if n_sub > printed:
                verdict = "inconsistent"
        out.append(Finding("patient totals", "", "§3.1 vs studies.csv", verdict, text))
    return out


def egger_findings(numbers) -> list[Finding]:
    out = []
    for n in numbers:
        if n.statistic != "egger_p":
            continue
        k = published_value(numbers, n.analysis, "k")
        if k is None:
            continue
        ok = k.value >= 10
        out.append(Finding("Egger rule", n.outcome, "overall", "consistent" if ok else "inconsistent",
                           f"Egger p = {n.value:.3f} reported with k = {int(k.value)}"
                           + ("" if ok else " < 10")))
    return out


def findings(dataset) -> tuple[Finding, ...]:
    """Every check of :data:`CHECKS`, on the real published numbers and the dataset."""
    numbers = published_numbers(dataset)
    out = (interval_findings(numbers) + ft_rule_findings(numbers) + df_findings(numbers, dataset.definitions)
           + cited_findings(dataset, numbers) + subgroup_arithmetic(dataset, numbers) + patient_findings(dataset)
           + egger_findings(numbers))
    order = {o: i for i, o in enumerate(dataset.definitions.sort_values("display_order")["outcome"])}
    checks = list(CHECKS)
    return tuple(sorted(out, key=lambda f: (checks.index(f.check), order.get(f.outcome, -1))))


# --- which specification explains the paper ----------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomeExplanation:
    outcome: str
    best_spec: str  # e.g. "S1", "S1 = S2", "undetermined"
    ci_scales: tuple[str, ...]  # scales consistent with every CI of the outcome that fits any scale
    cis: int  # printed CIs
    discriminating: int  # CIs that tell the scales apart
    typos: int  # CIs symmetric on no scale
    q_based_pairs: str  # "k of n" I²/p pairs consistent with a Q-based I² at an integer df
    numeric: str  # the specification closest to the printed numbers where the data allow a comparison
    evidence: str


def best_specifications(dataset, result: Audit | None = None) -> tuple[OutcomeExplanation, ...]:
    """Outcome by outcome, the specification that best explains the printed numbers.

    Numeric evidence (statuses *reproduced*/*close*) counts first; where the data cannot reproduce anything, the
    printed intervals decide: the scales on which every CI is symmetric within rounding, mapped to the
    specifications that produce them (raw → S1, and S2 where the paper's I² ≤ 50%; arcsine ≈ FT → S2 where
    I² > 50%; logit → S3/S5). The I²/p pairs tell a Q-based I² (S1/S2, DL) from τ²-based REML (S3).
    """
    numbers = published_numbers(dataset)
    result = audit(dataset) if result is None else result
    checks = interval_checks(numbers)
    out = []
    for outcome in result.outcomes():
        cis = [c for c in checks if c.outcome == outcome and c.kind == "CI"]
        fitting = [c for c in cis if c.consistent]
        scales = tuple(s for s in SCALES if all(s in c.consistent for c in fitting)) if fitting else ()
        disc = sum(c.discriminating for c in fitting)
        typos = len(cis) - len(fitting)
        ft = ft_rule_measure(numbers, outcome) == "PFT"
        specs = []
        for s in scales:
            if s == "raw":
                specs.append("S1" if ft else "S1 = S2")
            elif s == "arcsine" and ft:
                specs.append("S2")
            elif s == "logit":
                specs.append("S3/S5")
        pairs = [(a, published_value(numbers, a, "i2"), published_value(numbers, a, "het_p"))
                 for a in dict.fromkeys(n.analysis for n in numbers if n.outcome == outcome)]
        pairs = [(a, i, p) for a, i, p in pairs if i is not None and p is not None]
        q_ok = sum(bool(implied_df(i.value, p.value, p.comparator)) and
                   (paper_k(numbers, a, dataset.definitions).exact is None or
                    paper_k(numbers, a, dataset.definitions).exact - 1 in implied_df(i.value, p.value, p.comparator))
                   for a, i, p in pairs)
        mine = [c for c in result.comparisons if c.number.outcome == outcome and c.status in ("reproduced", "close")]
        numeric = ""
        if mine:
            tally = pd.Series([c.best_spec for c in mine]).value_counts()
            numeric = f"{tally.index[0]} ({int(tally.iloc[0])} of {len(mine)} matched numbers)"
        if numeric:
            best = numeric.split(" ")[0]
        elif not fitting:
            best = "undetermined"
        elif disc == 0 or len(specs) > 1 and len(scales) == len(SCALES):
            best = "undetermined (CIs do not discriminate)"
        else:
            best = " or ".join(specs) if specs else "none"
        ev = []
        if fitting:
            ev.append(f"{len(fitting)} of {len(cis)} CI(s) fit a scale; all of them are symmetric on: "
                      f"{', '.join(scales) or 'no common scale'} ({disc} discriminating)")
        if typos:
            ev.append(f"{typos} CI(s) symmetric on no scale (probable typos)")
        if pairs:
            ev.append(f"{q_ok} of {len(pairs)} I²/p pair(s) fit a Q-based I² at an integer df")
        ev.append(f"numeric: {numeric}" if numeric else "numeric: nothing reproducible with the studies available")
        out.append(OutcomeExplanation(outcome, best, scales, len(cis), disc, typos, f"{q_ok} of {len(pairs)}",
                                      numeric, "; ".join(ev)))
    return tuple(out)


# --- pins -----------------------------------------------------------------------------------------------------------

PIN_DIR = ROOT / "tests" / "pins"
STATUS_PIN = PIN_DIR / "reproduction_status.csv"
OUTCOME_PIN = PIN_DIR / "reproduction_outcomes.csv"
STATUS_PIN_COLUMNS = ["outcome", "subgroup", "level", "statistic", "paper", "status", "rule", "best_spec"]
OUTCOME_PIN_COLUMNS = ["outcome", "best_spec", "ci_scales", "cis", "discriminating", "typos", "q_based_pairs"]


def status_pin_frame(result: Audit) -> pd.DataFrame:
    return result.frame()[STATUS_PIN_COLUMNS].astype({"paper": str})


def outcome_pin_frame(explanations) -> pd.DataFrame:
    return pd.DataFrame([{"outcome": e.outcome, "best_spec": e.best_spec, "ci_scales": ";".join(e.ci_scales),
                          "cis": e.cis, "discriminating": e.discriminating, "typos": e.typos,
                          "q_based_pairs": e.q_based_pairs} for e in explanations], columns=OUTCOME_PIN_COLUMNS)


def write_pins(data_dir: Path | str = ROOT / "data") -> tuple[Path, Path]:
    from livingreview.dataset import load_dataset
    ds = load_dataset(data_dir)
    result = audit(ds)
    PIN_DIR.mkdir(parents=True, exist_ok=True)
    status_pin_frame(result).to_csv(STATUS_PIN, index=False, lineterminator="\n")
    outcome_pin_frame(best_specifications(ds, result)).to_csv(OUTCOME_PIN, index=False, lineterminator="\n")
    return STATUS_PIN, OUTCOME_PIN


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m livingreview.reproduction",
                                     description="Reproduction audit of the paper's published numbers.")
    parser.add_argument("--data", default=str(ROOT / "data"))
    parser.add_argument("--write-pins", action="store_true",
                        help="rewrite tests/pins/reproduction_*.csv from a fresh computation (on purpose)")
    args = parser.parse_args(argv)
    if args.write_pins:
        for path in write_pins(args.data):
            print(f"wrote {path.relative_to(ROOT)}")
        return 0
    from livingreview.dataset import load_dataset
    result = audit(load_dataset(args.data))
    print(", ".join(f"{n} {s}" for s, n in result.counts().items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["SPECIFICATIONS", "STATUS_RULES", "STATUSES", "CLOSE_PP", "I2_TOLERANCE", "P_TOLERANCE",
           "REFERENCE_VERSION", "audit", "judge", "Case", "PaperK", "paper_k", "implied_df", "interval_checks",
           "symmetric_on", "findings", "best_specifications", "cited_refs", "write_pins"]
