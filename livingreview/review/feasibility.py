"""Feasibility of the paper's printed numbers: what can still be known when the paper cannot be reproduced.

Seven of the paper's sixteen studies cannot be identified, so the reproduction audit calls every printed pooled
number "not reproducible". This module asks a weaker, forensic question in the spirit of GRIM-type tests: *could*
each printed number have come from the studies the paper describes — under its apparent model (raw proportions,
DerSimonian–Laird, Wald z, Q-based I²), with the identified studies' counts, the paper's k per analysis, each
study's regimen and disease status, and the patient budget of §3.1? The methods text for the book's audit page
is :data:`METHODS_TEXT`.

Layers (pure functions and frozen dataclasses; numbers in, verdicts out):

- the apparent model on batches of study sets: :func:`pr_effects`, :func:`dl_batch`; the certificate of every
  example is :func:`engine_values` (the engine's ``escalc`` + ``rma``);
- what a printed number allows: :class:`Target`, :func:`q_interval` (I² or p → Q on df), :func:`implied_dfs`;
- checks that need no missing data: :func:`check_i2_p`, :func:`check_q_floor`, :func:`check_ci_symmetry`,
  :func:`check_pi`, :func:`check_ci_width` (with :func:`implied_n`), :func:`nd_count_check` (across analyses);
- the search for missing studies: :class:`Slot`, :class:`Budget`, :class:`Scenario` → :func:`search`,
  :func:`attainable_range`;
- one analysis: :class:`AnalysisProblem` → :func:`judge_analysis` → :class:`AnalysisResult` of :class:`Verdict`;
- the dataset adapter: :func:`build_problems`, :func:`feasibility_table`; the verdict vocabulary shared with the
  audit (:data:`VERDICTS`): :func:`final_word`, :func:`final_verdicts`, :func:`verdict_counts`.

``python -m livingreview.review.feasibility`` prints the verdict counts per outcome; ``--write-pins`` rewrites
``tests/pins/feasibility_verdicts.csv`` on purpose. This module does not import ``livingreview.reproduction``.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, stats

from livingreview.config import ROOT
from livingreview.review.audit.published import REFERENCE_VERSION, STATISTIC_LABELS, cited_refs

# --- vocabulary and fixed choices ----------------------------------------------------------------------------------

#: The per-number verdict vocabulary shared by the audit summary and the outcome badges. The audit produces the
#: first three (it has the data); this module produces the last four.
VERDICTS = ("reproduced", "close", "not reproduced", "feasible", "infeasible", "feasible only if", "not checkable")
AUDIT_VERDICTS = VERDICTS[:3]
FEASIBILITY_VERDICTS = VERDICTS[3:]
#: The audit's status for numbers it cannot recompute (replaced by this module's verdict in the final word).
AUDIT_NOT_REPRODUCIBLE = "not reproducible"

ND, RR = "newly diagnosed", "relapsed/refractory"
STATUSES = (ND, RR)
MONOTHERAPY = "InO monotherapy"
Z95 = float(stats.norm.ppf(0.975))
#: Fixed seed of the multistart search (its random starts come after a fixed grid of starts).
SEED = 20251202
#: Random starts per search after the grid starts.
RANDOM_STARTS = 3
#: Heterogeneity p values are printed to three decimals.
P_UNIT = 0.001
#: The statistics whose printed values are checked together ("jointly") for one analysis.
JOINT_STATISTICS = ("estimate", "ci_low", "ci_high", "i2", "het_p")
SOLVED_STATISTICS = JOINT_STATISTICS + ("pi_low", "pi_high")
PERCENT_STATISTICS = ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")
_STAT_ORDER = {s: i for i, s in enumerate(STATISTIC_LABELS)}

#: Relaxations tried, in order, when the paper's own constraints admit no configuration. "budget": the missing
#: studies may have any size up to the paper's whole patient count (each); "counts": the level may hold more
#: unidentified studies than the paper's regimen counts and statuses allow (the outcome's k still binds).
RELAXATIONS = ("budget", "counts", "budget+counts")
RELAXATION_TEXT = {
    "budget": "the missing studies have more patients than the budget leaves (an identified one more than it "
              "treated)",
    "counts": "more studies belong to this level than the paper's regimen and status counts allow",
}

# --- facts the paper states in words (the numbers come from data/search.csv and data/studies.csv) -----------------

#: §3.1: "InO monotherapy (five studies), InO combined with chemotherapy (five studies), InO combined with
#: blinatumomab (one study), and InO combined with chemotherapy, with or without blinatumomab (five studies)".
PAPER_REGIMEN_STUDIES = (("InO monotherapy", 5), ("InO + chemotherapy", 5), ("InO + blinatumomab", 1),
                         ("InO + chemotherapy ± blinatumomab", 5))
#: Discussion: "the monotherapy subgroup in this meta-analysis consisted exclusively of R/R patients".
MONOTHERAPY_STATUS = RR
#: Discussion: "multiple new studies (20, 21, 27, 29, 30) have evaluated InO-based combination therapies".
COMBINATION_REFS = (20, 21, 27, 29, 30)
#: §3.7: "Other commonly reported AEs ... as detailed in Table 2 (18–24, 28)".
TABLE2_REFS = (18, 19, 20, 21, 22, 23, 24, 28)

METHODS_TEXT = """\
**What is checked.** Several of the paper's studies cannot be identified, so the audit cannot recompute most of
its pooled numbers. For every printed number (pooled estimate, CI and PI bounds, I², heterogeneity p, k) this
check asks a weaker question, in the spirit of GRIM-type consistency tests: *could* the number have come from the
studies the paper describes? It does not recompute the paper; it bounds what the paper could have computed.

**The paper's apparent model.** Raw proportions (metafor PR, 0.5 added to both cells of a study with 0 or all
events), DerSimonian–Laird τ², Wald z CI, Q-based I² = (Q − df)/Q, prediction interval μ̂ ± t(k−2)·√(SE² + τ²) —
the audit's specification S1, to which the printed numbers point (CIs symmetric about their estimates, bounds
outside 0–100%, I²/p pairs that satisfy I² = (Q − df)/Q at a whole number of df).

**What constrains the missing studies.** (1) The studies with counts in the dataset enter with those counts.
(2) The paper's k for the analysis — printed, in outcome_definitions.csv, or implied by its I²/p pair — fixes
the number of missing studies m = paper's k − ours; where the pair implies only a minimum, every admissible m is
tried. (3) Each missing study is one of the paper's studies without counts for the outcome (only those the paper
cites for it, where it lists them: survival, Table 2). An identified study keeps its regimen and disease status
and has at most its treated patients; where its report gives only a bound on the count (e.g. at least 4 of 72),
its proportion keeps that bound. An unidentified study draws on the patient budget — §3.1's newly diagnosed and
R/R patients minus the treated patients of the identified studies (the arithmetic is below), one patient kept for
each unidentified study outside the analysis — and may have any status its regimen allows: the paper's
monotherapy studies are all R/R (its Discussion), and the studies it cites as combination therapy are not. (4) A regimen
level holds at most the paper's number of studies of that regimen (§3.1). (5) A missing study may have any
proportion in [0, 1] and any whole number of patients within these bounds. Whole numbers of events are tried
first and examples use them where found; a proportion that is not a count ratio is allowed because the paper
appears to have pooled reported percentages (and survival proportions are Kaplan–Meier estimates).

**How.** One missing study: every size and every event count is enumerated (exhaustive), then a fine grid of
proportions. Several: least squares on the printed statistics (each measured in half printing units from the
middle of its rounding window) over proportions and log sizes, from a fixed grid of starting points plus seeded
random ones, first for every admissible scenario, then with every start for the three that came closest; each
solution is rounded to whole numbers and hill-climbed, or its proportions are re-fitted at whole sizes. Every
example is recomputed with the engine (escalc + rma) and reproduces the printed numbers to their printed
rounding. The estimate, CI, I² and p of an analysis are searched together first; if they do not fit together,
each number on its own, then the ones not ruled out together, then leave-one-out among those.

**Verdicts.** *feasible*: a configuration of the missing studies (the example) reproduces the number — together
with the analysis' other printed numbers where it says so. *feasible only if*: only when a constraint of the
paper is relaxed — the missing studies larger than the patient budget leaves (each up to the paper's whole
patient count; the reason gives about how many patients they would need), or more studies in a level than the
paper's counts allow — or, for a number that fits on its own, only so together with the analysis' other
numbers. *infeasible*: no configuration reproduces it, even relaxed — shown by arithmetic (a failed check below;
basis "analytic"), by exhaustive enumeration ("enumeration"), or not found by the deterministic search
("search"); or it fits on its own but not with the other printed numbers of its analysis, and dropping it lets
them fit (one of these "suspects" must be wrong). *not checkable*: nothing constrains it (an Egger p depends on
study-level data that are missing).

**Checks that need no missing data.** The I²/p pair fixes Q on the printed k − 1 df (both must give a common Q);
Cochran's Q can only grow when studies are added, so Q of the studies with counts is a floor for the printed Q; a
Wald CI of a raw proportion is symmetric about its estimate; a prediction interval of the same model is
symmetric about the estimate and contains it and the CI; a subgroup's k must fit the outcome's k and the paper's
study counts; one assignment of disease status to the unidentified studies must give every newly diagnosed
subgroup its k; and the CI width against the patients available. The last bounds an *effective* number of
patients: the printed CI gives SE = width/(2·1.96) and n* = p̂(1 − p̂)/SE². Under DerSimonian–Laird 1/SE² =
Σ 1/(vᵢ + τ²) ≤ Σ 1/vᵢ = Σ nᵢ/(pᵢ(1 − pᵢ)), hence Σ nᵢ·p̂(1 − p̂)/(pᵢ(1 − pᵢ)) ≥ n*: the studies' fixed-effect
information, counted in patients at the pooled proportion, is at least n* (random effects only widen the CI, so
they strengthen the bound). It bounds the actual number of patients Σ nᵢ only when the studies' proportions are
no more extreme than the pooled one — nearly so when I² ≈ 0 — because a raw proportion near 0 or 1 has a tiny
variance and earns a weight far above its size. It is therefore indicative; the search decides.

**What "feasible" does not prove.** It does not show that the paper computed the number this way, nor that the
example is what the unidentified studies contain — it shows only that the number is not contradicted by the
model, the identified studies' counts and the paper's own totals. Each analysis is checked on its own: the
configurations that make two analyses feasible need not be the same studies (only the disease-status check looks
across analyses). The identified studies are assumed to enter with the counts of our dataset; another report of
the same study would move the bounds. An "infeasible" found by search, not proved, could in principle be a
configuration the search missed. Attainable ranges of estimates and I² are found by search over continuous
sizes and proportions and are inner bounds of the true ranges.
"""


# --- small value types ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One printed number to reproduce: ``value`` in percent (estimates, bounds, I²) or as a p value; ``unit`` is
    its printing unit (a value printed as 89.0 stands for [88.95, 89.05])."""

    statistic: str
    value: float
    comparator: str = "="
    unit: float = 0.1

    @property
    def text(self) -> str:
        if self.statistic == "het_p":
            return f"p {self.comparator} {self.value:.3f}" if self.comparator != "=" else f"p = {self.value:.3f}"
        name = "I² = " if self.statistic == "i2" else ""
        return f"{name}{_fmt(self.value, _dec(self.unit))}%"


@dataclass(frozen=True)
class StudyCounts:
    label: str
    events: int
    total: int


@dataclass(frozen=True)
class Slot:
    """A study the paper pooled here but whose counts the dataset lacks. ``max_n``: an identified study's treated
    patients (its largest possible denominator); None for an unidentified study, which draws on the budget.
    ``statuses``: the disease statuses an unidentified study may have here; ``group``: its group for the limit on
    how many of a group can be newly diagnosed (a group holding monotherapy studies, which are R/R)."""

    label: str
    max_n: int | None = None
    statuses: tuple[str, ...] = STATUSES
    group: str = ""
    #: The proportions its report allows: (bound / denominator, 1) for a lower bound, (0, bound / denominator)
    #: for an upper bound (outcomes.csv ``bound``); (0, 1) when nothing is known.
    p_range: tuple[float, float] = (0.0, 1.0)

    @property
    def unidentified(self) -> bool:
        return self.max_n is None


@dataclass(frozen=True)
class Budget:
    """Patients the paper's totals leave for its unidentified studies."""

    newly_diagnosed: int
    relapsed_refractory: int
    unidentified: int  # number of unidentified studies in the paper (each keeps ≥ 1 patient)
    nd_limits: tuple[tuple[str, int], ...] = ()  # group -> most of its studies that can be newly diagnosed
    paper_patients: int = 1068  # a study's size when the budget is relaxed: at most the whole review

    def cap(self, status: str) -> int:
        return self.newly_diagnosed if status == ND else self.relapsed_refractory

    def nd_limit(self, group: str) -> int | None:
        return dict(self.nd_limits).get(group)


@dataclass(frozen=True)
class Scenario:
    """Which studies are missing in one admissible reading of the paper; ``relaxed`` names a relaxation
    (one of :data:`RELAXATIONS`) or is empty for the paper's own constraints."""

    slots: tuple[Slot, ...]
    description: str
    relaxed: str = ""

    @property
    def m(self) -> int:
        return len(self.slots)


@dataclass(frozen=True)
class MissingStudy:
    """One missing study of an example: ``events`` is a whole number, or a fractional number of events
    (proportion × size) where only a proportion that is not a count ratio reproduces the printed numbers."""

    label: str
    events: float
    total: int

    @property
    def whole(self) -> bool:
        return float(self.events).is_integer()

    @property
    def text(self) -> str:
        if self.whole:
            return f"{int(self.events)}/{self.total}"
        return f"{_fmt(100 * self.events / self.total, 4).rstrip('0').rstrip('.')}% of {self.total}"


@dataclass(frozen=True)
class Example:
    """Missing studies that reproduce printed numbers, with the values the engine recomputes (percent; p)."""

    studies: tuple[MissingStudy, ...]
    k: int
    values: tuple[tuple[str, float], ...]
    statuses: tuple[str, ...] = ()  # disease status given to each unidentified study (budget check)

    def value(self, statistic: str) -> float:
        return dict(self.values)[statistic]

    @property
    def whole(self) -> bool:
        """Every missing study has a whole number of events."""
        return all(s.whole for s in self.studies)

    @property
    def text(self) -> str:
        if not self.studies:
            return "nothing missing: " + _values_text(self.values)
        parts = []
        unid = iter(self.statuses)
        for s in self.studies:
            status = ""
            if "unidentified" in s.label and self.statuses:
                st = next(unid, "")
                status = f", {'ND' if st == ND else 'R/R'}" if st else ""
            parts.append(f"{s.label}{status}: {s.text}")
        return "; ".join(parts) + f" → k = {self.k}: " + _values_text(self.values)


@dataclass(frozen=True)
class Verdict:
    """The verdict on one printed number."""

    status: str  # one of FEASIBILITY_VERDICTS
    reason: str
    arithmetic: str = ""
    example: Example | None = None
    basis: str = ""  # "analytic", "enumeration", "search", "structure", "" (not checkable)
    checks_failed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    """A consistency check that needs no missing data."""

    name: str
    statistics: tuple[str, ...]  # the printed numbers it judges
    passed: bool
    definitive: bool  # True: a failure proves the numbers cannot all come from the apparent model
    arithmetic: str


@dataclass(frozen=True)
class KInfo:
    exact: int | None
    minimum: int
    source: str


@dataclass(frozen=True)
class AnalysisProblem:
    """Everything one analysis' check needs, as plain values."""

    outcome: str
    subgroup: str
    level: str
    known: tuple[StudyCounts, ...]
    targets: tuple[Target, ...]
    k: KInfo
    scenarios: tuple[Scenario, ...]  # under the paper's constraints
    relaxed: tuple[Scenario, ...]  # under the relaxations, in the order of RELAXATIONS
    budget: Budget
    k_max: int  # most studies the paper's counts allow for this analysis
    k_bound: int  # most studies the outcome's k allows (>= k_max)
    extra_checks: tuple[Check, ...] = ()
    notes: tuple[str, ...] = ()
    fractional: bool = True  # missing studies' proportions may be any number in [0, 1], not only x/n

    @property
    def name(self) -> str:
        return self.outcome + ("" if self.subgroup == "overall" else f" / {self.level}")


@dataclass(frozen=True)
class Search:
    """Result of searching for a configuration that reproduces a set of targets."""

    found: bool
    example: Example | None
    relaxed: str  # "" under the paper's constraints; else the relaxation that was needed
    basis: str  # "enumeration" (exhaustive over one missing study), "search", "complete data", "structure"
    closest: tuple[tuple[str, float], ...] = ()  # recomputed values at the best configuration found
    scenario: str = ""
    whole: str = ""  # whole-number events: "found"; "none found" (search); "none exist" (exhaustive)


@dataclass(frozen=True)
class AnalysisResult:
    problem: AnalysisProblem
    verdicts: tuple[tuple[str, Verdict], ...]  # statistic -> Verdict
    joint: Verdict
    checks: tuple[Check, ...]
    ranges: tuple[tuple[str, float, float], ...]  # (statistic, low, high) under the paper's constraints

    def verdict(self, statistic: str) -> Verdict:
        return dict(self.verdicts)[statistic]

    def range(self, statistic: str) -> tuple[float, float] | None:
        for s, lo, hi in self.ranges:
            if s == statistic:
                return lo, hi
        return None


# --- formatting ----------------------------------------------------------------------------------------------------


def _fmt(x: float, d: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    text = f"{x:.{d}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]
    return text.replace("-", "−")


def _p_text(p: float) -> str:
    if p < 0.001:
        return f"p = {p:.1e}".replace("e-0", "e−").replace("e-", "e−")
    return f"p = {p:.4f}"


def _values_text(values) -> str:
    v = dict(values)
    out = []
    if "estimate" in v:
        ci = f" ({_fmt(v['ci_low'], 2)}–{_fmt(v['ci_high'], 2)})" if "ci_low" in v else ""
        out.append(f"{_fmt(v['estimate'], 2)}%{ci}")
    if "pi_low" in v and not math.isnan(v["pi_low"]):
        out.append(f"PI {_fmt(v['pi_low'], 2)}–{_fmt(v['pi_high'], 2)}")
    if "i2" in v:
        out.append(f"I² {_fmt(v['i2'], 2)}%")
    if "q" in v:
        out.append(f"Q {v['q']:.3f}")
    if "het_p" in v:
        out.append(_p_text(v["het_p"]))
    return ", ".join(out)


def _decimals(value: float) -> int:
    for d in range(6):
        if abs(round(value, d) - value) < 1e-9:
            return d
    return 6


def printing_units(estimate: float | None, low: float | None, high: float | None) -> tuple[float, float, float]:
    """Printing unit (pp) of an estimate and its interval bounds printed together: 0.1 for one decimal ('89.0'
    counts as one), 0.01 for two ('−0.02'), and 1 for all three when every value is a whole number (the paper
    prints some grade ≥3 rates as '2.0 (1.0–4.0)', i.e. to whole percents: read conservatively at that
    precision, as the audit does)."""
    vals = [v for v in (estimate, low, high) if v is not None]
    if len(vals) == 3 and all(abs(v - round(v)) < 1e-9 for v in vals):
        return (1.0, 1.0, 1.0)
    return tuple(10.0 ** -max(_decimals(v), 1) if v is not None else 0.1 for v in (estimate, low, high))


# --- the apparent model: raw proportions, DerSimonian–Laird, Wald z ------------------------------------------------

_QTY = {"estimate": 0, "ci_low": 1, "ci_high": 2, "pi_low": 3, "pi_high": 4, "q": 5}


def pr_effects(events, totals) -> tuple[np.ndarray, np.ndarray]:
    """Raw proportions and their variances as ``escalc("PR", add=1/2, to="only0")``: 0.5 is added to both cells
    of a study with 0 or all events. Works on arrays of any shape."""
    x = np.asarray(events, dtype=float)
    n = np.asarray(totals, dtype=float)
    extreme = (x == 0) | (x == n)
    xc = np.where(extreme, x + 0.5, x)
    nc = np.where(extreme, n + 1.0, n)
    y = xc / nc
    return y, y * (1 - y) / nc


@functools.cache
def _t975(df: int) -> float:
    return float(stats.t.ppf(0.975, df))


def dl_batch(y: np.ndarray, v: np.ndarray, known_y=(), known_v=()) -> np.ndarray:
    """DerSimonian–Laird random-effects pooling of raw proportions for a batch of study sets: the studies
    ``y``/``v`` of shape (B, m) of each row, plus the same ``known_y``/``known_v`` studies in every row. Returns
    (B, 6): estimate, CI low, CI high, PI low, PI high (percent; PI with t(k−2), NaN for k < 3), and Cochran's Q.

    The engine's ``rma`` computes the same numbers one study set at a time (the tests compare them); the search
    evaluates tens of thousands of study sets per step, which only a batch can afford."""
    y = np.atleast_2d(np.asarray(y, float))
    v = np.atleast_2d(np.asarray(v, float))
    ky, kv = np.asarray(known_y, float), np.asarray(known_v, float)
    k = y.shape[1] + len(ky)
    w, w0 = 1.0 / v, 1.0 / kv
    sw = w0.sum() + w.sum(axis=1)
    swy = (w0 * ky).sum() + (w * y).sum(axis=1)
    swyy = (w0 * ky * ky).sum() + (w * y * y).sum(axis=1)
    sww = (w0 * w0).sum() + (w * w).sum(axis=1)
    q = np.maximum(0.0, swyy - swy * swy / sw)  # Σ wᵢ(yᵢ − μ̂_FE)², expanded
    if k > 1:
        tau2 = np.maximum(0.0, (q - (k - 1)) / (sw - sww / sw))
    else:
        q = tau2 = np.zeros_like(sw)
    t = tau2[:, None]
    ws = 1.0 / (v + t)
    sws = ws.sum(axis=1)
    swsy = (ws * y).sum(axis=1)
    if len(ky):
        wk = 1.0 / (kv[None, :] + t)
        sws = sws + wk.sum(axis=1)
        swsy = swsy + wk @ ky
    mu = swsy / sws
    se2 = 1.0 / sws
    out = np.empty((y.shape[0], 6))
    out[:, 0] = 100 * mu
    half = Z95 * np.sqrt(se2)
    out[:, 1] = 100 * (mu - half)
    out[:, 2] = 100 * (mu + half)
    if k >= 3:
        half = _t975(k - 2) * np.sqrt(se2 + tau2)
        out[:, 3] = 100 * (mu - half)
        out[:, 4] = 100 * (mu + half)
    else:
        out[:, 3:5] = np.nan
    out[:, 5] = q
    return out


def engine_values(events, totals) -> tuple[tuple[str, float], ...]:
    """The printed statistics recomputed by the engine (``escalc`` + ``rma``: PR, DL, z, t(k−2) PI, Q-based I²):
    the certificate behind every example."""
    from livingreview.engine import escalc, rma
    es = escalc("PR", np.asarray(events, float), np.asarray(totals, float))
    res = rma(es, method="DL", test="z", pi_dist="t2")
    p = res.proportion()
    return (("estimate", 100 * p.estimate), ("ci_low", 100 * p.ci_low), ("ci_high", 100 * p.ci_high),
            ("pi_low", 100 * p.pi_low), ("pi_high", 100 * p.pi_high), ("i2", res.i2_q), ("q", res.q),
            ("het_p", res.q_p if res.k > 1 else math.nan))


# --- what a printed number allows ----------------------------------------------------------------------------------


def q_interval(target: Target, df: int) -> tuple[float, float] | None:
    """The values of Cochran's Q on ``df`` degrees of freedom that print as the target's I² (Q-based,
    (Q − df)/Q) or heterogeneity p. None for other statistics or df < 1."""
    if df < 1:
        return None
    if target.statistic == "i2":
        lo_i2 = max(0.0, target.value - target.unit / 2) / 100
        hi_i2 = (target.value + target.unit / 2) / 100
        lo = df / (1 - lo_i2) if lo_i2 > 0 else 0.0
        hi = df / (1 - hi_i2) if hi_i2 < 1 else math.inf
        return lo, hi
    if target.statistic == "het_p":
        def isf(p):
            return float(stats.chi2.isf(p, df))
        if target.comparator == "<":
            return isf(target.value), math.inf
        if target.comparator == ">":
            return 0.0, isf(target.value)
        lo_p, hi_p = max(target.value - P_UNIT / 2, 1e-300), min(target.value + P_UNIT / 2, 1.0)
        return (isf(hi_p) if hi_p < 1 else 0.0), isf(lo_p)
    return None


def _windows(targets, k: int, q_floor: float = 0.0):
    """Each target as (quantity index, low, high, scale) on the pooled statistics of :func:`dl_batch`; None when
    the targets cannot all hold with k studies (empty Q window, Q window below the floor, PI with k < 3)."""
    out = []
    q_lo, q_hi = 0.0, math.inf
    for t in targets:
        if t.statistic in ("i2", "het_p"):
            iv = q_interval(t, k - 1)
            if iv is None:
                return None
            lo, hi = iv
            q_lo, q_hi = max(q_lo, lo), min(q_hi, hi)
            if math.isinf(hi):
                scale = max(0.05 * lo, 0.05)
            else:
                scale = max((hi - lo) / 2, 1e-6)
            out.append((_QTY["q"], lo, hi, scale))
        elif t.statistic in PERCENT_STATISTICS:
            if t.statistic.startswith("pi") and k < 3:
                return None
            half = t.unit / 2
            if t.comparator == "<":
                out.append((_QTY[t.statistic], -math.inf, t.value, half))
            elif t.comparator == ">":
                out.append((_QTY[t.statistic], t.value, math.inf, half))
            else:
                out.append((_QTY[t.statistic], t.value - half, t.value + half, half))
    if q_lo > q_hi or q_hi < q_floor - 1e-9:
        return None
    return out


def _coarse(windows):
    """The same windows measured in coarser units (1 pp; a tenth of Q): a smoother first stage for the search,
    whose half-window units make the objective too steep far from a solution."""
    out = []
    for j, lo, hi, scale in windows:
        if j == _QTY["q"]:
            ref = lo if math.isfinite(lo) and lo > 0 else (hi if math.isfinite(hi) else 1.0)
            out.append((j, lo, hi, max(scale, 0.1 * max(ref, 1.0))))
        else:
            out.append((j, lo, hi, max(scale, 1.0)))
    return out


def _violation(S: np.ndarray, windows, shrink: float = 1.0) -> np.ndarray:
    """Sum of squared distances (in half-windows) of the pooled statistics ``S`` (B, 6) from the target windows,
    each shrunk about its centre by ``shrink`` (< 1 aims at the middle, leaving room for integer rounding)."""
    total = np.zeros(S.shape[0])
    for j, lo, hi, scale in windows:
        s = S[:, j]
        if math.isfinite(lo) and math.isfinite(hi):
            c, h = (lo + hi) / 2, (hi - lo) / 2 * shrink
            a, b = c - h, c + h
        elif math.isfinite(lo):
            a, b = lo + (1 - shrink) * scale, math.inf
        else:
            a, b = -math.inf, hi - (1 - shrink) * scale
        d = np.maximum(0.0, np.maximum(a - s, s - b)) / scale
        total = total + np.where(np.isnan(d), 1e12, d * d)
    return total


# --- the search for missing studies --------------------------------------------------------------------------------


class _Space:
    """Sizes and proportions of the missing studies of one scenario: bounds, sum constraints, evaluation.

    ``fractional``: a study's proportion may be any number in [0, 1] (a Kaplan–Meier estimate, or a percentage
    entered directly), not only a whole number of events over its size; sizes are whole numbers either way."""

    def __init__(self, scenario: Scenario, budget: Budget, known_y, known_v, assignment=None,
                 fractional: bool = False, total_cap: float | None = None):
        self.scenario = scenario
        self.slots = scenario.slots
        self.m = len(self.slots)
        self.budget = budget
        self.fractional = fractional
        self.known_y = np.asarray(known_y, float)
        self.known_v = np.asarray(known_v, float)
        self.k = len(self.known_y) + self.m
        relaxed_budget = "budget" in scenario.relaxed
        unid = [i for i, s in enumerate(self.slots) if s.unidentified]
        self.unid = unid
        caps = []
        for i, s in enumerate(self.slots):
            if relaxed_budget:
                caps.append(budget.paper_patients)
            elif s.unidentified:
                statuses = (assignment[unid.index(i)],) if assignment is not None else s.statuses
                caps.append(max(budget.cap(st) for st in statuses))
            else:
                caps.append(int(s.max_n))
        self.caps = np.array(caps, dtype=float)
        self.p_lo = np.array([s.p_range[0] for s in self.slots], dtype=float)
        self.p_hi = np.array([s.p_range[1] for s in self.slots], dtype=float)
        self.sums: list[tuple[tuple[int, ...], float]] = []
        self.assignment = assignment
        if not relaxed_budget and unid:
            reserve = max(0, budget.unidentified - len(unid))
            self.sums.append((tuple(unid), budget.newly_diagnosed + budget.relapsed_refractory - reserve))
            if assignment is not None:
                for st in STATUSES:
                    idx = tuple(i for i, a in zip(unid, assignment) if a == st)
                    if idx:
                        self.sums.append((idx, budget.cap(st)))
            elif all(len(self.slots[i].statuses) == 1 for i in unid) and len(
                    {self.slots[i].statuses[0] for i in unid}) == 1:
                self.sums.append((tuple(unid), budget.cap(self.slots[unid[0]].statuses[0])))
        self.check_packing = not relaxed_budget and assignment is None and any(
            len(self.slots[i].statuses) > 1 for i in unid)
        if total_cap is not None:
            self.caps = np.minimum(self.caps, max(total_cap, 1.0))
            self.sums.append((tuple(range(self.m)), float(total_cap)))

    def _pool(self, y, v) -> np.ndarray:
        """:func:`dl_batch` of the known studies plus the missing ones (y, v of shape (B, m))."""
        return dl_batch(y, v, self.known_y, self.known_v)

    def stats_counts(self, x: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Pooled statistics for configurations (events x, sizes n; arrays (B, m)); x may be fractional."""
        y, v = pr_effects(x, n)
        return self._pool(y, v)

    def admissible(self, n: np.ndarray, x: np.ndarray | None = None) -> np.ndarray:
        """Sizes ``n`` (B, m) within every cap and budget sum; with events ``x``, proportions within each study's
        reported bound."""
        ok = np.all((n >= 1) & (n <= self.caps[None, :]), axis=1)
        if x is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                p = x / n  # n < 1 is already ruled out above
            ok &= np.all((p >= self.p_lo[None, :] - 1e-12) & (p <= self.p_hi[None, :] + 1e-12), axis=1)
        for idx, cap in self.sums:
            ok &= n[:, list(idx)].sum(axis=1) <= cap + 1e-9
        return ok

    def packing(self, n_row: np.ndarray):
        """A disease status for each unidentified study such that the budget holds, or None."""
        if not self.unid or "budget" in self.scenario.relaxed:
            return ()
        if self.assignment is not None:
            return tuple(self.assignment)
        return _pack([int(n_row[i]) for i in self.unid], [self.slots[i] for i in self.unid], self.budget)

    # continuous relaxation: z = (proportions, log sizes) ------------------------------------------------------
    def stats_cont(self, Zb: np.ndarray) -> np.ndarray:
        m = self.m
        n = np.exp(Zb[:, m:])
        a = 0.5 / (n + 1)
        y = np.clip(Zb[:, :m], a, 1 - a)
        return self._pool(y, y * (1 - y) / n)

    def bounds(self):
        return self.p_bounds() + [(0.0, float(np.log(c))) for c in self.caps]

    def p_bounds(self) -> list[tuple[float, float]]:
        return [(float(a), float(b)) for a, b in zip(self.p_lo, self.p_hi)]

    def constraints(self):
        m = self.m
        out = []
        for idx, cap in self.sums:
            ix = m + np.array(idx)

            def fun(z, ix=ix, cap=cap):
                return np.array([cap - np.exp(z[ix]).sum()])

            def jac(z, ix=ix):
                g = np.zeros((1, 2 * m))
                g[0, ix] = -np.exp(z[ix])
                return g

            out.append({"type": "ineq", "fun": fun, "jac": jac})
        return out

    def starts(self, p0: float) -> list[np.ndarray]:
        """Deterministic starting points: a fixed grid, then seeded random points."""
        m = self.m
        share = self.caps.copy()
        for idx, cap in self.sums:
            for i in idx:
                share[i] = min(share[i], cap / len(idx))
        share = np.maximum(share * 0.9, 1.0)
        p0 = float(np.clip(p0, 0.02, 0.98))
        alt = np.array([(-1) ** i for i in range(m)], dtype=float)
        # one large study with an extreme proportion (a huge raw-proportion weight, which inflates the DL τ²)
        # and small studies near the target: the shape many wide-CI, high-I² fits need
        side = 0.995 if p0 >= 0.5 else 0.005
        lone = np.full(m, p0)
        lone[0] = side
        lone_n = np.minimum(np.full(m, 5.0), share)
        lone_n[0] = share[0]
        lone_other = lone.copy()
        lone_other[0] = 1 - side
        grid = [
            (np.full(m, p0), share),
            (lone, lone_n),
            (np.clip(p0 + 0.2 * alt, 0.01, 0.99), share),
            (np.full(m, p0), np.maximum(share * 0.2, 1.0)),
            (np.where(alt > 0, 0.03, 0.97), share * 0.6),
            (lone_other, lone_n),
        ]
        rng = np.random.default_rng(SEED + 7 * m + len(self.known_y))
        for _ in range(RANDOM_STARTS):
            grid.append((rng.uniform(0.01, 0.99, m), np.exp(rng.uniform(0, np.log(share)))))
        return [np.concatenate([np.clip(p, self.p_lo, self.p_hi), np.log(np.clip(n, 1.0, self.caps))])
                for p, n in grid]


def _pack(sizes, slots, budget: Budget):
    """Assign a disease status to each unidentified study (of those it may have) so that the newly diagnosed
    and R/R patients stay within the budget and no group has more newly diagnosed studies than it can."""
    for combo in itertools.product(*[s.statuses for s in slots]):
        nd = sum(n for n, st in zip(sizes, combo) if st == ND)
        rr = sum(n for n, st in zip(sizes, combo) if st == RR)
        if nd > budget.newly_diagnosed or rr > budget.relapsed_refractory:
            continue
        if all(sum(1 for s, st in zip(slots, combo) if s.group == g and st == ND) <= lim
               for g, lim in budget.nd_limits):
            return combo
    return None


def _assignments(slots, budget: Budget):
    """Distinct status assignments of the unidentified slots (up to exchangeable slots) respecting group limits."""
    seen = set()
    for combo in itertools.product(*[s.statuses for s in slots]):
        key = tuple(sorted(zip([(s.statuses, s.group) for s in slots], combo)))
        if key in seen:
            continue
        seen.add(key)
        if all(sum(1 for s, st in zip(slots, combo) if s.group == g and st == ND) <= lim
               for g, lim in budget.nd_limits):
            yield combo


def _fd(values, lo, hi):
    """Objective and forward-difference gradient of a batched function, evaluated in one call."""
    d = len(lo)
    h0 = 1e-6

    def fun(z):
        z = np.clip(z, lo, hi)
        steps = np.where(z + h0 <= hi, h0, -h0)
        Zb = np.repeat(z[None, :], d + 1, axis=0)
        Zb[np.arange(1, d + 1), np.arange(d)] += steps
        f = values(Zb)
        f = np.where(np.isfinite(f), f, 1e12)
        return float(f[0]), (f[1:] - f[0]) / steps

    return fun


def _objective(space: _Space, windows, shrink: float):
    """Sum of squared window violations (:func:`_violation`) and its gradient, for the constrained solver."""
    b = space.bounds()
    lo, hi = np.array([x[0] for x in b]), np.array([x[1] for x in b])
    return _fd(lambda Zb: _violation(space.stats_cont(Zb), windows, shrink), lo, hi)


def _minimize(fun, z0, bounds, constraints=()):
    with np.errstate(all="ignore"):
        res = optimize.minimize(fun, z0, jac=True, method="SLSQP", bounds=bounds, constraints=list(constraints),
                                options={"maxiter": 200, "ftol": 1e-12})
    return np.clip(res.x, [x[0] for x in bounds], [x[1] for x in bounds])


def _round_and_climb(space: _Space, z: np.ndarray, windows) -> tuple[np.ndarray, np.ndarray, float]:
    """Round a continuous configuration to whole sizes and events, then hill-climb on the integer grid."""
    m = space.m
    p, n = z[:m], np.exp(z[m:])
    n_opts = [sorted({int(np.clip(math.floor(v), 1, c)), int(np.clip(math.ceil(v), 1, c))})
              for v, c in zip(n, space.caps)]
    if m <= 5:
        rows_n, rows_x = [], []
        for ns in itertools.product(*n_opts):
            x_opts = [sorted({int(np.clip(math.floor(pi * ni), 0, ni)), int(np.clip(math.ceil(pi * ni), 0, ni))})
                      for pi, ni in zip(p, ns)]
            for xs in itertools.product(*x_opts):
                rows_n.append(ns)
                rows_x.append(xs)
        N, X = np.array(rows_n, dtype=float), np.array(rows_x, dtype=float)
    else:
        N = np.array([[o[0] for o in n_opts]], dtype=float)
        X = np.clip(np.round(p * N), 0, N)
    ok = space.admissible(N, X)
    if not ok.any():
        N = np.clip(np.floor(n), 1, space.caps)[None, :]
        X = np.clip(np.ceil(np.maximum(p, space.p_lo) * N - 1e-9), 0, N)
        ok = space.admissible(N, X)
    viol = _violation(space.stats_counts(X, N), windows) + np.where(ok, 0.0, 1e12)
    best = int(np.argmin(viol))
    return _hill_climb(space, X[best].copy(), N[best].copy(), float(viol[best]), windows)


_MOVES = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (0, 5), (0, -5), (3, 5), (-3, -5), (2, 0), (-2, 0))


def _hill_climb(space: _Space, x, n, v, windows, iterations: int = 150):
    moves = [(j, dx, dn) for j in range(space.m) for dx, dn in _MOVES]
    J = np.array([mv[0] for mv in moves])
    DX = np.array([mv[1] for mv in moves], dtype=float)
    DN = np.array([mv[2] for mv in moves], dtype=float)
    rows = np.arange(len(moves))
    for _ in range(iterations):
        if v <= 0:
            break
        X = np.repeat(x[None, :], len(moves), axis=0)
        N = np.repeat(n[None, :], len(moves), axis=0)
        X[rows, J] += DX
        N[rows, J] += DN
        ok = space.admissible(N, X) & np.all((X >= 0) & (X <= N), axis=1)
        if not ok.any():
            break
        X, N = X[ok], N[ok]
        viol = _violation(space.stats_counts(X, N), windows)
        b = int(np.argmin(viol))
        if viol[b] >= v - 1e-15:
            break
        x, n, v = X[b].copy(), N[b].copy(), float(viol[b])
    return x, n, v


def _fractional_at(space: _Space, z: np.ndarray, windows, known, targets):
    """Whole sizes near a continuous solution, proportions re-fitted with the sizes fixed (fractional events).
    Returns (verified example or None, whether a fit failed only because the budget could not be split)."""
    m = space.m
    n0 = np.exp(z[m:])
    for rounding in (np.round, np.floor):
        n = np.clip(rounding(n0), 1, space.caps)
        if not space.admissible(n[None, :])[0]:
            continue

        def values(Pb, n=n):
            return _violation(space.stats_counts(Pb * n[None, :], np.broadcast_to(n, Pb.shape)), windows, 0.5)

        fun = _fd(values, np.zeros(m), np.ones(m))
        p = _minimize(fun, np.clip(z[:m], space.p_lo, space.p_hi), space.p_bounds())
        for digits in (4, 5, 6):
            x = np.round(p, digits) * n
            if not space.admissible(n[None, :], x[None, :])[0]:
                continue
            if _violation(space.stats_counts(x[None, :], n[None, :]), windows)[0] > 0:
                continue
            statuses = space.packing(n)
            if statuses is None:
                return None, True
            ex = _make_example(space, x, n, known, statuses)
            if _verified(ex, targets):
                return ex, False
    return None, False


def _target_centre(targets, known: tuple[StudyCounts, ...]) -> float:
    for t in targets:
        if t.statistic == "estimate":
            return t.value / 100
    for a, b in (("ci_low", "ci_high"), ("pi_low", "pi_high")):
        lo = next((t.value for t in targets if t.statistic == a), None)
        hi = next((t.value for t in targets if t.statistic == b), None)
        if lo is not None and hi is not None:
            return (lo + hi) / 200
    if known:
        return sum(s.events for s in known) / sum(s.total for s in known)
    return 0.5


def _make_example(space: _Space, x, n, known, statuses) -> Example:
    xs = [float(v) for v in x]
    ns = [round(float(v)) for v in n]
    events = [s.events for s in known] + xs
    totals = [s.total for s in known] + ns
    values = engine_values(events, totals)
    studies = tuple(MissingStudy(s.label, int(a) if float(a).is_integer() else a, b)
                    for s, a, b in zip(space.slots, xs, ns))
    return Example(studies, len(events), values, tuple(statuses or ()))


def _verified(example: Example, targets) -> bool:
    """Do the engine's values reproduce every target to its printed rounding?"""
    v = dict(example.values)
    for t in targets:
        value = v[t.statistic]
        if value is None or math.isnan(value):
            return False
        tol = (P_UNIT if t.statistic == "het_p" else t.unit) / 2 + 1e-9
        if t.comparator == "<" and not value < t.value:
            return False
        if t.comparator == ">" and not value > t.value:
            return False
        if t.comparator == "=" and abs(value - t.value) > tol:
            return False
    return True


def _known_effects(known):
    return pr_effects([s.events for s in known], [s.total for s in known])


def _q_known(known) -> float:
    if len(known) < 2:
        return 0.0
    y, v = _known_effects(known)
    return float(dl_batch(y[None, :], v[None, :])[0, 5])


def _one_study_grid(cap: int, fractional: bool):
    """Every (events, size) of one study up to ``cap``, in chunks of about 150,000 rows; with ``fractional``,
    proportions on a 0.001 grid instead of whole events."""
    start = 1
    while start <= cap:
        stop, rows = start, (start + 1 if not fractional else 1001)
        per = (lambda n: n + 1) if not fractional else (lambda n: 1001)
        while stop < cap and rows + per(stop + 1) <= 150000:
            stop += 1
            rows += per(stop)
        ns = np.arange(start, stop + 1)
        if fractional:
            grid = np.linspace(0, 1, 1001)
            N = np.repeat(ns, len(grid)).astype(float)
            X = np.tile(grid, len(ns)) * N
        else:
            N = np.repeat(ns, ns + 1).astype(float)
            X = np.concatenate([np.arange(n + 1) for n in ns]).astype(float)
        yield X[:, None], N[:, None]
        start = stop + 1


def _enumerate_one(space: _Space, windows, known, targets, fractional: bool):
    """A single missing study: every size up to its cap and every event count (exhaustive); with
    ``fractional``, a fine grid of proportions per size, the best refined by a one-dimensional search."""
    cap = int(space.caps[0])
    best_v, best_row = math.inf, None
    candidates = []
    for X, N in _one_study_grid(cap, fractional):
        ok = space.admissible(N, X)
        S = space.stats_counts(X, N)
        viol = _violation(S, windows) + np.where(ok, 0.0, 1e12)
        if not fractional:
            zero = np.flatnonzero(viol <= 0)
            if zero.size:
                inner = _violation(S[zero], windows, 0.5)
                for r in zero[np.lexsort((-N[zero, 0], inner))][:20]:
                    statuses = space.packing(N[r])
                    if statuses is None:
                        continue
                    ex = _make_example(space, X[r], N[r], known, statuses)
                    if _verified(ex, targets):
                        return ex, None, 0.0
        else:
            order = np.argsort(viol)[:10]
            candidates.extend((float(viol[r]), float(X[r, 0] / N[r, 0]), float(N[r, 0])) for r in order)
        b = int(np.argmin(viol))
        if viol[b] < best_v:
            best_v, best_row = float(viol[b]), (float(X[b, 0]), float(N[b, 0]))
    if fractional:
        for _, p, n in sorted(candidates)[:40]:
            lo, hi = max(space.p_lo[0], p - 0.001), min(space.p_hi[0], p + 0.001)
            if lo > hi:
                continue
            res = optimize.minimize_scalar(
                lambda q, n=n: float(_violation(space.stats_counts(np.array([[q * n]]), np.array([[n]])), windows,
                                                0.5)[0]),
                bounds=(lo, hi),
                method="bounded", options={"xatol": 1e-9})
            for digits in (4, 5, 6):
                x = np.array([round(float(res.x), digits) * n])
                if not space.admissible(np.array([[n]]), x[None, :])[0]:
                    continue
                if _violation(space.stats_counts(x[None, :], np.array([[n]])), windows)[0] > 0:
                    continue
                statuses = space.packing(np.array([n]))
                if statuses is None:
                    break
                ex = _make_example(space, x, np.array([n]), known, statuses)
                if _verified(ex, targets):
                    return ex, None, 0.0
    return None, best_row, best_v


#: Starts per scenario in the first pass of a search; the most promising scenarios get every start.
SCREEN_STARTS = 3
SCREEN_KEEP = 3
#: Continuous solutions rounded to whole numbers of events per search before (where proportions may be any
#: number) proportions are re-fitted at whole sizes instead.
INTEGER_ATTEMPTS = 12


def _residuals(space: _Space, windows, prefer: bool = True):
    """Residuals for least squares: each two-sided window as (statistic − centre)/half-width (|r| ≤ 1 inside
    it, 0 at its centre, which leaves the most room for rounding), one-sided windows as hinges, budget sums as
    steep hinges, and a mild pull of the log sizes towards 70% of their share (among the configurations that
    fit, realistic sizes rather than 3-patient studies). Returns (residual function, batched Jacobian)."""
    m = space.m
    share = space.caps.copy()
    for idx, cap in space.sums:
        for i in idx:
            share[i] = min(share[i], cap / len(idx))
    target = np.log(np.maximum(0.7 * share, 1.0))
    scale_t = np.maximum(np.log(space.caps), 1.0)
    b = space.bounds()
    lo_b, hi_b = np.array([x[0] for x in b]), np.array([x[1] for x in b])

    def res_batch(Zb):
        S = space.stats_cont(Zb)
        cols = []
        for j, lo, hi, scale in windows:
            x = S[:, j]
            if math.isfinite(lo) and math.isfinite(hi):
                cols.append((x - (lo + hi) / 2) / max((hi - lo) / 2, 1e-12))
            elif math.isfinite(lo):
                cols.append(np.maximum(0.0, lo + 0.5 * scale - x) / scale)
            else:
                cols.append(np.maximum(0.0, x - (hi - 0.5 * scale)) / scale)
        n = np.exp(Zb[:, m:])
        for idx, cap in space.sums:
            cols.append(100.0 * np.maximum(0.0, n[:, list(idx)].sum(axis=1) - cap) / cap)
        if prefer:
            for i in range(m):
                cols.append(SIZE_PULL * (Zb[:, m + i] - target[i]) / scale_t[i])
        R = np.column_stack(cols)
        return np.where(np.isfinite(R), R, 1e6)

    h0 = 1e-7

    def fun(z):
        return res_batch(np.clip(z, lo_b, hi_b)[None, :])[0]

    def jac(z):
        z = np.clip(z, lo_b, hi_b)
        d = len(z)
        steps = np.where(z + h0 <= hi_b, h0, -h0)
        Zb = np.repeat(z[None, :], d + 1, axis=0)
        Zb[np.arange(1, d + 1), np.arange(d)] += steps
        R = res_batch(Zb)
        return ((R[1:] - R[0]) / steps[:, None]).T

    return fun, jac, (lo_b, hi_b)


#: Weight of the pull of the missing studies' log sizes towards 70% of their share of the budget or of their
#: treated patients (a residual of least squares; small against the target residuals).
SIZE_PULL = 0.01


class _Run:
    """Continuous solutions of one scenario's space, kept between the phases of a search."""

    def __init__(self, space: _Space, windows):
        self.space = space
        self.windows = windows
        self.fun_inner = _objective(space, windows, 0.5)
        self.fun_full = _objective(space, windows, 1.0)
        self.coarse = _residuals(space, _coarse(windows), prefer=False)
        self.fine = _residuals(space, windows)
        self.solutions: list[tuple[float, float, np.ndarray]] = []  # (full violation, inner violation, z)
        self.best_int = None  # (violation, x, n)
        self.unpacked = False  # an integer configuration fitted but the budget could not be split by status
        self.done = 0

    @property
    def best(self) -> float:
        return min((s[0] for s in self.solutions), default=math.inf)

    def _solve(self, z0):
        z = z0
        for fun, jac, bounds in (self.coarse, self.fine):
            lo, hi = bounds
            z = np.clip(z, lo + 1e-12, np.maximum(hi - 1e-12, lo + 1e-12))
            with np.errstate(all="ignore"):
                try:
                    z = optimize.least_squares(fun, z, jac=jac, bounds=bounds, method="trf", max_nfev=150,
                                               xtol=1e-12, ftol=1e-12, gtol=1e-12).x
                except ValueError:
                    pass
        return z

    def starts(self, p0, upto: int):
        starts = self.space.starts(p0)
        for z0 in starts[self.done:upto]:
            z = self._solve(z0)
            f_inner, f_full = self.fun_inner(z)[0], self.fun_full(z)[0]
            if f_full > 1e-9 and self.space.sums:
                # the budget hinge may leave the sizes just over a cap: polish with the constrained solver
                z2 = _minimize(self.fun_full, z, self.space.bounds(), self.space.constraints())
                if self.fun_full(z2)[0] < f_full:
                    z, f_inner, f_full = z2, self.fun_inner(z2)[0], self.fun_full(z2)[0]
            self.solutions.append((f_full, f_inner, z))
            self.done += 1
            yield z, f_full

    def integer(self, z, known, targets):
        x, n, v = _round_and_climb(self.space, z, self.windows)
        if self.best_int is None or v < self.best_int[0]:
            self.best_int = (v, x, n)
        if v > 0:
            return None
        statuses = self.space.packing(n)
        if statuses is None:
            self.unpacked = True
            return None
        ex = _make_example(self.space, x, n, known, statuses)
        return ex if _verified(ex, targets) else None


def _fractional_run(run: _Run, known, targets):
    """Proportions re-fitted at whole sizes near the run's best continuous solutions."""
    for f_full, _, z in sorted(run.solutions, key=lambda x: (x[0], x[1]))[:4]:
        if f_full > 1e-6:
            break
        ex, unpacked = _fractional_at(run.space, z, run.windows, known, targets)
        run.unpacked |= unpacked
        if ex is not None:
            return ex
    return None


def search(known: tuple[StudyCounts, ...], scenarios, targets, budget: Budget, fractional: bool = False) -> Search:
    """Find missing studies that reproduce every target to its printed rounding, over the scenarios.

    One missing study: exhaustive enumeration of every size up to its cap and every event count. Several:
    SLSQP on continuous proportions and log sizes, aiming at the middle of the target windows, from a
    deterministic multistart — first :data:`SCREEN_STARTS` starts for every scenario, then every start for the
    :data:`SCREEN_KEEP` scenarios that came closest — each solution rounded to whole numbers and hill-climbed on
    the integer grid. Whole-number events are tried in every scenario first; with ``fractional``, then
    proportions that are not count ratios (a fine grid for one missing study; proportions re-fitted at whole
    sizes for several). Where the unidentified studies' sizes fit the combined budget but cannot be split into
    newly diagnosed and R/R, each status assignment is searched on its own. Every configuration returned is
    verified with the engine.
    """
    targets = tuple(targets)
    ky, kv = _known_effects(known) if known else (np.array([]), np.array([]))
    q_floor = _q_known(known)
    p0 = _target_centre(targets, known)
    closest = [math.inf, (), ""]
    bases = set()

    def note_closest(v, events, totals, desc):
        if v < closest[0]:
            closest[:] = [v, engine_values([s.events for s in known] + list(events),
                                           [s.total for s in known] + [int(t) for t in totals]), desc]

    def found(ex, sc, basis):
        whole = "found" if ex.whole else ("none exist" if not runs else "none found")
        return Search(True, ex, sc.relaxed, basis, ex.values, sc.description, whole)

    runs: list[tuple[Scenario, _Run]] = []
    ones: list[tuple[Scenario, _Space, list]] = []
    attempts = [0]

    def integer(run, z):
        """Whole-number events near a continuous solution, for at most INTEGER_ATTEMPTS solutions per search."""
        if attempts[0] >= INTEGER_ATTEMPTS:
            return None
        attempts[0] += 1
        return run.integer(z, known, targets)
    for sc in scenarios:
        k = len(known) + sc.m
        windows = _windows(targets, k, q_floor) if k else None
        if windows is None:
            bases.add("analytic")
            continue
        if sc.m == 0:
            bases.add("complete data")
            ex = Example((), k, engine_values([s.events for s in known], [s.total for s in known]))
            if _verified(ex, targets):
                return found(ex, sc, "complete data")
            v = float(_violation(np.array([[dict(ex.values)[s] for s in _QTY]]), windows)[0])
            if v < closest[0]:
                closest[:] = [v, ex.values, sc.description]
            continue
        space = _Space(sc, budget, ky, kv, fractional=fractional)
        if sc.m == 1:
            bases.add("enumeration")
            ex, row, v = _enumerate_one(space, windows, known, targets, False)
            if ex is not None:
                return found(ex, sc, "enumeration")
            if row is not None:
                note_closest(v, [row[0]], [row[1]], sc.description)
            ones.append((sc, space, windows))
            continue
        bases.add("search")
        run = _Run(space, windows)
        runs.append((sc, run))
        for z, f_full in run.starts(p0, SCREEN_STARTS):
            if f_full <= 1e-6:
                ex = integer(run, z)
                if ex is not None:
                    return found(ex, sc, "search")
                if fractional and attempts[0] >= INTEGER_ATTEMPTS:
                    ex = _fractional_run(run, known, targets)
                    if ex is not None:
                        return found(ex, sc, "search")
                    break
    for sc, run in sorted(runs, key=lambda r: r[1].best)[:SCREEN_KEEP]:
        if run.best <= 1e-6:
            continue
        for z, f_full in run.starts(p0, len(run.space.starts(p0))):
            if f_full <= 1e-6:
                ex = integer(run, z)
                if ex is not None:
                    return found(ex, sc, "search")
    if fractional:
        for sc, space, windows in ones:
            ex, _, _ = _enumerate_one(space, windows, known, targets, True)
            if ex is not None:
                return found(ex, sc, "enumeration")
        for sc, run in sorted(runs, key=lambda r: r[1].best):
            ex = _fractional_run(run, known, targets)
            if ex is not None:
                return found(ex, sc, "search")
    # budget split by status: search each assignment where the sizes fitted only the combined budget
    for sc, run in list(runs):
        if not run.unpacked:
            continue
        for a in _assignments([s for s in sc.slots if s.unidentified], budget):
            sub = _Run(_Space(sc, budget, ky, kv, a, fractional), run.windows)
            for z, f_full in sub.starts(p0, len(sub.space.starts(p0))):
                if f_full <= 1e-6:
                    ex = sub.integer(z, known, targets)
                    if ex is not None:
                        return found(ex, sc, "search")
            if fractional:
                ex = _fractional_run(sub, known, targets)
                if ex is not None:
                    return found(ex, sc, "search")
            runs.append((sc, sub))
    for sc, run in runs:
        if run.best_int is None and run.solutions:
            z = min(run.solutions, key=lambda s: s[0])[2]
            x, n, v = _round_and_climb(run.space, z, run.windows)
            run.best_int = (v, x, n)
        if run.best_int is not None:
            note_closest(run.best_int[0], run.best_int[1], run.best_int[2], sc.description)
    order = ("search", "enumeration", "complete data", "analytic")
    basis = next((b for b in order if b in bases), "structure")
    return Search(False, None, "", basis, closest[1], closest[2])


def attainable_range(known, scenarios, budget: Budget, statistic: str, max_scenarios: int = 6
                     ) -> tuple[float, float] | None:
    """Smallest and largest ``statistic`` ("estimate", "ci_low", "ci_high" in percent; "i2" in percent) found
    over (up to ``max_scenarios`` evenly spread) scenarios, by search over continuous sizes and proportions:
    an inner bound of the true range."""
    ky, kv = _known_effects(known) if known else (np.array([]), np.array([]))
    j = _QTY["q"] if statistic == "i2" else _QTY[statistic]
    scenarios = [s for s in scenarios if len(known) + s.m >= (2 if statistic == "i2" else 1)]
    if len(scenarios) > max_scenarios:
        idx = np.unique(np.linspace(0, len(scenarios) - 1, max_scenarios).round().astype(int))
        scenarios = [scenarios[i] for i in idx]
    lo, hi = math.inf, -math.inf
    for sc in scenarios:
        k = len(known) + sc.m
        if sc.m == 0:
            vals = [float(dl_batch(ky[None, :], kv[None, :])[0, j])]
        else:
            space = _Space(sc, budget, ky, kv)
            b = space.bounds()
            lb, ub = np.array([x[0] for x in b]), np.array([x[1] for x in b])
            vals = []
            for sign in (1.0, -1.0):
                fun = _fd(lambda Zb, sign=sign, space=space: sign * space.stats_cont(Zb)[:, j] / (
                    100.0 if j < 5 else 1.0), lb, ub)
                for z0 in space.starts(float(np.mean(ky)) if len(ky) else 0.5)[:2]:
                    z = _minimize(fun, z0, b, space.constraints())
                    vals.append(float(space.stats_cont(z[None, :])[0, j]))
        if statistic == "i2":
            vals = [100 * max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0 for q in vals]
        lo, hi = min(lo, min(vals)), max(hi, max(vals))
    return (lo, hi) if math.isfinite(lo) else None


# --- consistency checks that need no missing data ------------------------------------------------------------------


def check_i2_p(i2: Target, p: Target, dfs) -> Check:
    """Do the printed I² (as (Q − df)/Q) and heterogeneity p fix a common Q on one of the admissible ``dfs``?"""
    dfs = tuple(dfs)
    fits, lines = [], []
    for df in dfs:
        a, b = q_interval(i2, df), q_interval(p, df)
        lo, hi = max(a[0], b[0]), min(a[1], b[1])
        if lo <= hi:
            fits.append(df)
        if len(dfs) <= 3:
            lines.append(f"df = {df}: I² → Q ∈ [{a[0]:.3f}, {_inf(a[1])}], {p.text} → Q ∈ [{b[0]:.3f}, "
                         f"{_inf(b[1])}]" + (" overlap" if lo <= hi else " disjoint"))
    what = f"df ∈ {_ranges(dfs)}" if len(dfs) > 1 else f"df = {dfs[0]}" if dfs else "no admissible df"
    text = (f"{i2.text}, {p.text}; {what}: " + ("; ".join(lines) + "; " if lines else "")
            + (f"consistent for df ∈ {_ranges(fits)}" if fits else "no common Q"))
    return Check("I²/p pair", ("i2", "het_p"), bool(fits), True, text)


def _inf(x: float) -> str:
    return "∞" if math.isinf(x) else f"{x:.3f}"


def _ranges(values) -> str:
    values = sorted(values)
    if not values:
        return "{}"
    runs, start = [], values[0]
    for a, b in zip(values, values[1:] + [None]):
        if b != a + 1:
            runs.append(f"{start}" if start == a else f"{start}–{a}")
            start = b
    return "{" + ", ".join(runs) + "}"


def check_q_floor(known, targets, dfs) -> list[Check]:
    """Cochran's Q never falls when studies are added (the FE mean of the studies with counts minimises their
    weighted sum of squares), so the studies with counts give a floor for the printed Q: one check each for the
    printed I² and heterogeneity p, on the admissible ``dfs``."""
    if len(known) < 2 or not dfs:
        return []
    q0 = _q_known(known)
    studies = ", ".join(f"{s.label.split(' (')[0]} {s.events}/{s.total}" for s in known)
    out = []
    for t in targets:
        if t.statistic not in ("i2", "het_p"):
            continue
        ok_dfs = [df for df in dfs if q_interval(t, df)[1] >= q0 - 1e-9]
        top = max(dfs)
        text = (f"Q of the {len(known)} studies with counts ({studies}) = {q0:.2f}, and adding studies never "
                f"lowers Q; {t.text} needs Q ≤ {_inf(q_interval(t, top)[1])} on the largest admissible df = {top}"
                + (f" → reachable for df ∈ {_ranges(ok_dfs)}" if ok_dfs else f" < {q0:.2f} → unreachable"))
        out.append(Check(f"Q floor ({STATISTIC_LABELS[t.statistic]})", (t.statistic,), bool(ok_dfs), True, text))
    return out


def check_ci_symmetry(est: Target, lo: Target, hi: Target) -> Check:
    """A Wald interval of a raw proportion is symmetric about its estimate (within printing)."""
    mid_lo = (lo.value - lo.unit / 2 + hi.value - hi.unit / 2) / 2
    mid_hi = (lo.value + lo.unit / 2 + hi.value + hi.unit / 2) / 2
    e_lo, e_hi = est.value - est.unit / 2, est.value + est.unit / 2
    # a printed value v stands for [v − u/2, v + u/2): the two ranges must overlap in more than a point
    ok = mid_lo < e_hi - 1e-9 and e_lo < mid_hi - 1e-9
    text = (f"midpoint of {_fmt(lo.value, _dec(lo.unit))}–{_fmt(hi.value, _dec(hi.unit))} ∈ [{_fmt(mid_lo, 3)}, "
            f"{_fmt(mid_hi, 3)}] vs estimate ∈ [{_fmt(e_lo, 3)}, {_fmt(e_hi, 3)}]: "
            + ("overlap — symmetric within printing" if ok else
               f"no overlap — {_fmt(est.value - lo.value, 2)} pp below, {_fmt(hi.value - est.value, 2)} above"))
    return Check("CI symmetric about estimate", ("estimate", "ci_low", "ci_high"), ok, True, text)


def _dec(unit: float) -> int:
    return max(0, -round(math.log10(unit)))


def check_pi(est: Target, pi_lo: Target, pi_hi: Target, ci_lo: Target | None, ci_hi: Target | None,
             k: int | None = None) -> list[Check]:
    """A prediction interval of the apparent model: μ̂ ± t(k−2)·√(SE² + τ²), so symmetric about the estimate,
    containing it, and wider than the CI μ̂ ± z·SE at both ends — by at least (t(k−2) − z)·SE each, with ``k``
    the analysis' number of studies (by at least 0 when it is not known)."""
    out = []
    contains = pi_lo.value <= est.value + est.unit / 2 and est.value - est.unit / 2 <= pi_hi.value
    out.append(Check("PI contains estimate", ("pi_low", "pi_high"), contains, True,
                     f"PI {_fmt(pi_lo.value)}–{_fmt(pi_hi.value)} vs estimate {_fmt(est.value)}: "
                     + ("contains it" if contains else "excludes it")))
    if ci_lo is not None and ci_hi is not None:
        se_min = max(0.0, (ci_hi.value - ci_hi.unit / 2) - (ci_lo.value + ci_lo.unit / 2)) / (2 * Z95)
        t = _t975(k - 2) if k is not None and k >= 3 else Z95
        need = (t - Z95) * se_min
        below = (ci_lo.value + ci_lo.unit / 2) - (pi_lo.value - pi_lo.unit / 2)  # the most each gap can be
        above = (pi_hi.value + pi_hi.unit / 2) - (ci_hi.value - ci_hi.unit / 2)
        ok = below >= need - 1e-9 and above >= need - 1e-9
        rule = (f"with k = {k}, each end of the PI lies beyond the CI's by ≥ (t({k - 2}) − z)·SE ≥ ({t:.3f} − "
                f"{Z95:.3f})·{se_min:.2f} = {need:.2f} pp" if t > Z95 else "the PI contains the CI")
        out.append(Check("PI contains CI", ("pi_low", "pi_high"), ok, True,
                         f"PI {_fmt(pi_lo.value)}–{_fmt(pi_hi.value)} vs CI {_fmt(ci_lo.value)}–{_fmt(ci_hi.value)}: "
                         f"{rule}; printed (within rounding) at most {_fmt(below, 2)} pp beyond it below and "
                         f"{_fmt(above, 2)} above → " + ("consistent" if ok else "not the CI's model")))
    sym = check_ci_symmetry(est, pi_lo, pi_hi)
    out.append(Check("PI symmetric about estimate", ("pi_low", "pi_high"), sym.passed, True, sym.arithmetic))
    return out


def implied_n(est: Target, lo: Target, hi: Target) -> float:
    """The smallest p̂(1 − p̂)/SE² the printed interval allows (widest width, p̂ nearest ½ within printing)."""
    width = (hi.value + hi.unit / 2) - (lo.value - lo.unit / 2)
    se = width / 100 / (2 * Z95)
    p_lo, p_hi = (est.value - est.unit / 2) / 100, (est.value + est.unit / 2) / 100
    p = min(max(0.5, p_lo), p_hi)
    p = min(max(p, 0.0), 1.0)
    return p * (1 - p) / se**2 if se > 0 else math.inf


def check_ci_width(est: Target, lo: Target, hi: Target, known, n_missing_max: int, missing_desc: str) -> Check:
    """The CI width against the patients available (see the methods text for what n* bounds)."""
    n_star = implied_n(est, lo, hi)
    n_known = sum(s.total for s in known)
    available = n_known + n_missing_max
    se = (hi.value - lo.value) / (2 * Z95)
    p = est.value / 100
    ok = n_star <= available + 1e-9
    text = (f"SE = ({_fmt(hi.value, _dec(hi.unit))} − {_fmt(lo.value, _dec(lo.unit))})/(2·1.96) = {se:.2f} pp; "
            f"n* = p̂(1 − p̂)/SE² = {p:.3f}·{1 - p:.3f}/{se / 100:.4f}² ≈ {p * (1 - p) / (se / 100) ** 2:.0f} "
            f"(≥ {n_star:.0f} within printing): the patients at {_fmt(est.value)}% whose fixed-effect information "
            f"the studies must at least have; available: {n_known} with counts + at most {n_missing_max} in "
            f"{missing_desc} = {available}"
            + (" → enough" if ok else " → too few unless the missing studies' proportions are more extreme than "
               "the pooled one (raw-proportion weights grow as p → 0 or 1)"))
    return Check("CI width vs patients", ("ci_low", "ci_high"), ok, False, text)


# --- one analysis --------------------------------------------------------------------------------------------------


def _admissible_dfs(problem: AnalysisProblem, relaxed: bool) -> list[int]:
    scs = problem.relaxed if relaxed else problem.scenarios
    return sorted({len(problem.known) + s.m - 1 for s in scs if len(problem.known) + s.m >= 2})


def consistency_checks(problem: AnalysisProblem) -> tuple[Check, ...]:
    t = {x.statistic: x for x in problem.targets}
    out: list[Check] = []
    dfs_paper = _admissible_dfs(problem, False)
    dfs_all = sorted(set(dfs_paper) | set(_admissible_dfs(problem, True)))
    if problem.k.exact is not None:
        dfs_printed = [problem.k.exact - 1] if problem.k.exact >= 2 else []
    else:
        dfs_printed = dfs_all
    if "i2" in t and "het_p" in t and dfs_printed:
        out.append(check_i2_p(t["i2"], t["het_p"], dfs_printed))
    out.extend(check_q_floor(problem.known, problem.targets, dfs_printed if problem.k.exact else dfs_all))
    if {"estimate", "ci_low", "ci_high"} <= set(t):
        out.append(check_ci_symmetry(t["estimate"], t["ci_low"], t["ci_high"]))
        n_max, desc = _missing_capacity(problem)
        out.append(check_ci_width(t["estimate"], t["ci_low"], t["ci_high"], problem.known, n_max, desc))
    if {"estimate", "pi_low", "pi_high"} <= set(t):
        out.extend(check_pi(t["estimate"], t["pi_low"], t["pi_high"], t.get("ci_low"), t.get("ci_high"),
                            problem.k.exact))
    out.extend(problem.extra_checks)
    return tuple(out)


def _missing_capacity(problem: AnalysisProblem) -> tuple[int, str]:
    """Most patients the missing studies can hold under the paper's constraints (over its scenarios)."""
    best, desc = 0, "no missing study"
    b = problem.budget
    for sc in problem.scenarios:
        ident = sum(int(s.max_n) for s in sc.slots if not s.unidentified)
        unid = [s for s in sc.slots if s.unidentified]
        u_cap = 0
        if unid:
            reserve = max(0, b.unidentified - len(unid))
            statuses = set().union(*[set(s.statuses) for s in unid])
            u_cap = min(sum(b.cap(st) for st in statuses), b.newly_diagnosed + b.relapsed_refractory - reserve)
            if len(statuses) == 1:
                u_cap = min(u_cap, b.cap(next(iter(statuses))))
        if ident + u_cap > best:
            best = ident + u_cap
            n_id = sc.m - len(unid)
            desc = (f"the {sc.m} missing studies ({n_id} identified, {len(unid)} unidentified)" if sc.m else
                    "no missing study")
    return best, desc


def _settings(problem: AnalysisProblem):
    """(relaxation, scenarios) in the order they are tried: the paper's constraints first."""
    out = [("", problem.scenarios)] + [(r, tuple(s for s in problem.relaxed if s.relaxed == r))
                                       for r in RELAXATIONS]
    return [s for s in out if s[1]]


def _run(problem: AnalysisProblem, targets, paper_only: bool = False) -> Search:
    """Search under the paper's constraints, then under each relaxation; the first success, else the closest."""
    last = None
    for name, scs in _settings(problem)[:1 if paper_only else None]:
        res = search(problem.known, scs, targets, problem.budget, problem.fractional)
        if res.found:
            return res
        if last is None or (res.closest and not last.closest):
            last = res
    return last if last is not None else Search(False, None, "", "structure")


def judge_analysis(problem: AnalysisProblem, ranges: bool = True) -> AnalysisResult:
    """Every printed number of one analysis.

    1. Consistency checks that need no missing data (:func:`consistency_checks`); a failed definitive check
       settles the numbers it involves.
    2. The joint search: estimate, CI, I² and p together, under the paper's constraints, then each relaxation.
       If it succeeds under the paper's constraints, every number is feasible with that example.
    3. Otherwise each number on its own (the same ladder), then the others together without the numbers already
       ruled out ("the rest"); if the rest cannot be reproduced together, leave-one-out over the rest under the
       paper's constraints names the suspects (dropping any one of them lets the others fit).
    """
    checks = consistency_checks(problem)
    targets = {t.statistic: t for t in problem.targets}
    failed_definitive: dict[str, list[Check]] = {}
    failed_any: dict[str, list[str]] = {}
    for c in checks:
        if not c.passed:
            for s in c.statistics:
                failed_any.setdefault(s, []).append(c.name)
                if c.definitive:
                    failed_definitive.setdefault(s, []).append(c)
    failed_sets = [set(c.statistics) for c in checks if c.definitive and not c.passed]

    def run(ts, paper_only=False) -> Search:
        """Search, unless a failed definitive check already rules these targets out together."""
        if any(f <= {t.statistic for t in ts} for f in failed_sets):
            return Search(False, None, "", "analytic")
        return _run(problem, ts, paper_only)

    joint_stats = [s for s in JOINT_STATISTICS if s in targets]
    joint = run([targets[s] for s in joint_stats]) if joint_stats else None
    marginal: dict[str, Search] = {}
    group = _Group(joint, tuple(joint_stats), ())
    if joint is not None and joint.found and not joint.relaxed:
        marginal = {s: joint for s in joint_stats}
    for s in SOLVED_STATISTICS:
        if s in targets and s not in marginal and not (s in failed_definitive and s not in JOINT_STATISTICS):
            marginal[s] = run([targets[s]]) if s not in failed_definitive else Search(False, None, "", "analytic")
    if joint is not None and not (joint.found and not joint.relaxed):
        bad = tuple(s for s in joint_stats if s in failed_definitive or not marginal[s].found
                    or marginal[s].relaxed)
        rest = tuple(s for s in joint_stats if s not in bad)
        if bad and rest:
            res = run([targets[s] for s in rest]) if len(rest) > 1 else marginal[rest[0]]
            group = _Group(res, rest, bad)
        elif not bad:
            group = _Group(joint, tuple(joint_stats), ())
        else:
            group = _Group(None, (), bad)
        if group.search is not None and not group.search.found and len(group.members) > 1:
            suspects, loo = [], {}
            for s in group.members:
                res = run([targets[x] for x in group.members if x != s], paper_only=True)
                loo[s] = res
                if res.found:
                    suspects.append(s)
            group = _Group(group.search, group.members, group.excluded, tuple(suspects), loo)
    rng = {}
    if ranges and problem.scenarios:
        for s in ("estimate", "i2"):
            if s in targets:
                r = attainable_range(problem.known, problem.scenarios, problem.budget, s)
                if r is not None:
                    rng[s] = r
    verdicts = {}
    for t in problem.targets:
        s = t.statistic
        if s == "k":
            verdicts[s] = _k_verdict(problem, t)
        elif s == "egger_p":
            verdicts[s] = Verdict("not checkable", "Egger's test depends on every study's estimate and standard "
                                  "error, and the missing studies can take any", "", None, "")
        else:
            verdicts[s] = _number_verdict(problem, t, failed_definitive.get(s, []), failed_any.get(s, []),
                                          marginal.get(s), group, rng.get(s))
    ordered = tuple(sorted(verdicts.items(), key=lambda kv: _STAT_ORDER.get(kv[0], 99)))
    return AnalysisResult(problem, ordered, _joint_verdict(problem, joint, group), checks,
                          tuple((s, lo, hi) for s, (lo, hi) in rng.items()))


@dataclass(frozen=True)
class _Group:
    """The printed numbers of an analysis searched together: all of them, or those left when the ones already
    ruled out (``excluded``) are set aside; ``suspects`` from leave-one-out when even these do not fit."""

    search: Search | None
    members: tuple[str, ...]
    excluded: tuple[str, ...]
    suspects: tuple[str, ...] = ()
    loo: dict = field(default_factory=dict, compare=False)


def relaxation_text(relaxed: str) -> str:
    return " and ".join(RELAXATION_TEXT[r] for r in relaxed.split("+"))


def _scenario_arith(problem: AnalysisProblem, res: Search) -> str:
    ours = len(problem.known)
    text = (f"k = {res.example.k if res.example else '?'}: {ours} with counts + "
            f"{(res.example.k - ours) if res.example else '?'} missing ({res.scenario})")
    if res.example is not None and not res.example.whole:
        text += ("; no whole number of events does it" + (" (exhaustive over every size and count)"
                                                          if res.whole == "none exist" else " (none found)")
                 + ": a proportion entered as a rounded percentage or a Kaplan–Meier estimate")
    return text + _need_text(problem, res)


def _names(stats_) -> str:
    return ", ".join(STATISTIC_LABELS[s] for s in stats_)


def _joint_verdict(problem: AnalysisProblem, joint: Search | None, group: _Group) -> Verdict:
    if joint is None:
        return Verdict("not checkable", "no estimate, CI, I² or p printed for this analysis")
    names = _names(s for s in JOINT_STATISTICS if any(t.statistic == s for t in problem.targets))
    if joint.found and not joint.relaxed:
        return Verdict("feasible", f"{names} reproduced together", _scenario_arith(problem, joint), joint.example,
                       joint.basis)
    if joint.found:
        return Verdict("feasible only if", f"{names} reproduced together only if {relaxation_text(joint.relaxed)}",
                       _scenario_arith(problem, joint), joint.example, joint.basis)
    parts = []
    if group.excluded:
        parts.append(f"ruled out on their own: {_names(group.excluded)}")
        if group.search is not None and group.search.found:
            parts.append(f"the rest ({_names(group.members)}) fit together"
                         + ("" if not group.search.relaxed else f" only if {relaxation_text(group.search.relaxed)}"))
    if group.search is not None and not group.search.found and len(group.members) > 1:
        parts.append(f"dropping any one of {_names(group.suspects)} lets the others fit" if group.suspects else
                     "no single one can be dropped to make the others fit")
    closest = f"closest found: {_values_text(joint.closest)}" if joint.closest else ""
    return Verdict("infeasible", f"{names} cannot be reproduced together" + ("; " + "; ".join(parts) if parts
                                                                             else ""), closest, None, joint.basis)


def _need_text(problem: AnalysisProblem, res: Search) -> str:
    if not res.example or "budget" not in res.relaxed:
        return ""
    sizes = [s.total for s in res.example.studies]
    n_max, _ = _missing_capacity(problem)
    need = _min_patients(problem, res)
    return (f"; the missing studies need about {need} patients or more (search), the paper's constraints allow "
            f"at most {n_max} (the example has {sum(sizes)})" if need is not None else
            f"; the example's missing studies hold {sum(sizes)} patients, the paper's constraints at most {n_max}")


@functools.lru_cache(maxsize=256)
def _min_patients(problem: AnalysisProblem, res: Search, steps: int = 7) -> int | None:
    """About the fewest patients the missing studies of the successful scenario need to reproduce the targets
    (bisection on a cap on their total, continuous search at each step; rounded up to 5)."""
    sc = next((s for s in problem.relaxed if s.description == res.scenario and s.relaxed == res.relaxed), None)
    if sc is None or res.example is None:
        return None
    targets = [t for t in problem.targets if t.statistic in dict(res.example.values)
               and _verified(Example((), 0, res.example.values), [t])]
    ky, kv = _known_effects(problem.known) if problem.known else (np.array([]), np.array([]))
    windows = _windows(targets, len(problem.known) + sc.m, _q_known(problem.known))
    if windows is None:
        return None
    p0 = _target_centre(targets, problem.known)
    lo, hi = float(sc.m), float(sum(s.total for s in res.example.studies))

    def ok(total):
        run = _Run(_Space(sc, problem.budget, ky, kv, fractional=True, total_cap=total), windows)
        return any(f <= 1e-6 for _, f in run.starts(p0, 4))

    if ok(lo):
        return None
    for _ in range(steps):
        mid = (lo + hi) / 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return int(5 * math.ceil(hi / 5))


def _number_verdict(problem, t: Target, definitive, failed_names, marginal: Search | None, group: _Group,
                    rng) -> Verdict:
    failed = tuple(dict.fromkeys(failed_names))
    s = t.statistic
    range_text = f"attainable under the paper's constraints: {_fmt(rng[0])}–{_fmt(rng[1])}%" if rng else ""
    if definitive:
        return Verdict("infeasible", "; ".join(f"{c.name} fails" for c in definitive),
                       " | ".join(c.arithmetic for c in definitive), None, "analytic", failed)
    if marginal is None:
        return Verdict("not checkable", "no search was run for this number", "", None, "", failed)
    if not marginal.found:
        arith = "; ".join(x for x in (range_text, f"closest found: {_values_text(marginal.closest)}"
                                      if marginal.closest else "") if x)
        return Verdict("infeasible", "no configuration of the missing studies reproduces it, even with every "
                       "relaxation", arith, None, marginal.basis, failed)
    if marginal.relaxed:
        return Verdict("feasible only if", f"only if {relaxation_text(marginal.relaxed)}",
                       _scenario_arith(problem, marginal), marginal.example, marginal.basis, failed)
    own = "; ".join(x for x in (_scenario_arith(problem, marginal), range_text) if x)
    if s not in group.members or group.search is None:
        return Verdict("feasible", "reproduced by the example", own, marginal.example, marginal.basis, failed)
    g = group.search
    others = "the analysis' other printed numbers" + (f" except {_names(group.excluded)} (ruled out on their own)"
                                                       if group.excluded else "")
    if g.found and not g.relaxed:
        arith = "; ".join(x for x in (_scenario_arith(problem, g), range_text) if x)
        return Verdict("feasible", f"reproduced together with {others}", arith, g.example, g.basis, failed)
    if g.found:
        return Verdict("feasible only if", f"reproducible on its own, but together with {others} only "
                       f"if {relaxation_text(g.relaxed)}", own + "; together: " + _scenario_arith(problem, g),
                       g.example, g.basis, failed)
    if s in group.suspects:
        rest = [x for x in group.suspects if x != s]
        return Verdict("infeasible", f"reproducible on its own, but not together with {others}; dropping it lets "
                       "the others fit" + (f" (so does dropping {_names(rest)})" if rest else ""),
                       own, marginal.example, marginal.basis, failed)
    witness = next((group.loo[x] for x in group.suspects), None)
    if witness is not None:
        return Verdict("feasible", f"reproduced together with {others}, except {_names(group.suspects)}",
                       _scenario_arith(problem, witness), witness.example, witness.basis, failed)
    return Verdict("infeasible", f"reproducible on its own, but not together with {others}, and no single one of "
                   "them can be dropped to make the others fit", own, marginal.example, marginal.basis, failed)


def _k_verdict(problem: AnalysisProblem, t: Target) -> Verdict:
    k = int(t.value)
    ours = len(problem.known)
    arith = (f"printed k = {k}; {ours} with counts in the dataset; the paper's counts allow at most "
             f"{problem.k_max}" + (f" (the outcome's k at most {problem.k_bound})"
                                   if problem.k_bound != problem.k_max else ""))
    if ours <= k <= problem.k_max:
        return Verdict("feasible", "enough of the paper's studies lack counts here to make up the printed k",
                       arith, None, "structure")
    if k < ours:
        return Verdict("infeasible", "the dataset already pools more studies than the paper's k", arith, None,
                       "structure")
    if k <= problem.k_bound:
        return Verdict("feasible only if", "only if more studies belong here than the paper's counts allow",
                       arith, None, "structure")
    return Verdict("infeasible", "more studies than the paper has", arith, None, "structure")


# --- from the dataset to problems ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A version-1 study without counts for an outcome: a possible missing study."""

    label: str
    ref: int | None
    identified: bool
    n_treated: int | None
    regimen: str
    disease_status: str
    group: str  # unidentified: "combination" (cited as combination therapy) or "other" (may be monotherapy)
    p_range: tuple[float, float] = (0.0, 1.0)  # its proportion, where its report gives only a bound


def reported_bounds(outcomes: pd.DataFrame, outcome: str) -> dict[str, tuple[tuple[float, float], str]]:
    """Study → the proportions allowed by a count reported only as a bound (outcomes.csv ``bound``: at least
    events/total for a lower bound, at most for an upper one), with the bound in words."""
    rows = outcomes[(outcomes["outcome"] == outcome) & (outcomes["derivation"] != "missing")
                    & outcomes["bound"].isin(["lower", "upper"])]
    return {r.study_id: (((float(r.events / r.total), 1.0), f"reported ≥ {r.events}/{r.total}") if r.bound == "lower"
                         else ((0.0, float(r.events / r.total)), f"reported ≤ {r.events}/{r.total}"))
            for r in rows.itertuples()}


#: search.csv stages holding §3.1's patient totals, without which the missing studies' sizes have no bound.
BUDGET_STAGES = ("patients", "patients_newly_diagnosed", "patients_relapsed_refractory")
NO_BUDGET = ("the paper's patient totals (§3.1) are not recorded in search.csv, so the missing studies' sizes have "
             "no bound")


def has_patient_budget(search: pd.DataFrame) -> bool:
    s = search[search["data_version"] == REFERENCE_VERSION].set_index("stage")["count"]
    return all(stage in s.index and pd.notna(s[stage]) for stage in BUDGET_STAGES)


def patient_budget(search: pd.DataFrame, studies: pd.DataFrame) -> tuple[Budget, str]:
    """Patients and studies the paper's §3.1 totals leave for its unidentified studies, with the arithmetic."""
    s = search[search["data_version"] == REFERENCE_VERSION].set_index("stage")["count"]
    total, nd, rr = int(s["patients"]), int(s["patients_newly_diagnosed"]), int(s["patients_relapsed_refractory"])
    v1 = studies[studies["data_version"] <= REFERENCE_VERSION]
    ident = v1[v1["identification"] != "not identified"]
    n_nd = int(ident.loc[ident["disease_status"] == ND, "n_treated"].sum())
    n_rr = int(ident.loc[ident["disease_status"] == RR, "n_treated"].sum())
    unid = v1[v1["identification"] == "not identified"]
    mono_left = _unidentified_by_regimen(v1).get(MONOTHERAPY, 0)
    other = [int(r) for r in unid["ref_no"] if int(r) not in COMBINATION_REFS]
    limits = (("other", max(0, len(other) - mono_left)),) if other else ()
    budget = Budget(nd - n_nd, rr - n_rr, len(unid), limits, total)
    text = (f"{total:,} patients = {nd} newly diagnosed + {rr} R/R (§3.1); the {len(ident)} identified studies "
            f"treated {n_nd} ND + {n_rr} R/R = {n_nd + n_rr}; left for the {len(unid)} unidentified studies: "
            f"{nd - n_nd} ND + {rr - n_rr} R/R = {total - n_nd - n_rr}")
    return budget, text


def _unidentified_by_regimen(v1: pd.DataFrame) -> dict[str, int]:
    ident = v1[v1["identification"] != "not identified"]
    return {r: n - int((ident["regimen"] == r).sum()) for r, n in PAPER_REGIMEN_STUDIES}


def implied_dfs(i2: Target, p: Target, max_df: int = 60) -> tuple[int, ...]:
    """Degrees of freedom at which the printed I² and p agree on one Q (Q-based I²)."""
    out = []
    for df in range(1, max_df + 1):
        a, b = q_interval(i2, df), q_interval(p, df)
        if max(a[0], b[0]) <= min(a[1], b[1]):
            out.append(df)
    return tuple(out)


def _paper_k(numbers: pd.DataFrame, definitions: pd.DataFrame, outcome, subgroup, level, max_df) -> KInfo:
    rows = numbers[(numbers["outcome"] == outcome) & (numbers["subgroup"] == subgroup)
                   & (numbers["level"] == level)].set_index("statistic")
    if "k" in rows.index:
        return KInfo(int(rows.loc["k", "value"]), int(rows.loc["k", "value"]), f"printed: “{rows.loc['k', 'printed']}”")
    if subgroup == "overall":
        d = definitions.set_index("outcome").loc[outcome]
        if pd.notna(d.get("paper_k")):
            return KInfo(int(d["paper_k"]), int(d["paper_k"]), "outcome_definitions.csv paper_k")
    if "i2" in rows.index and "het_p" in rows.index:
        i2, p = _target(rows.loc["i2"]), _target(rows.loc["het_p"])
        dfs = implied_dfs(i2, p, max_df)
        if len(dfs) == 1:
            return KInfo(dfs[0] + 1, dfs[0] + 1, f"implied by {i2.text} and {p.text}: only df = {dfs[0]} fits")
        if dfs:
            return KInfo(None, dfs[0] + 1, f"{i2.text} with {p.text} needs df ≥ {dfs[0]}")
        return KInfo(None, 2, f"{i2.text} and {p.text} fit no df ≤ {max_df}")
    if "i2" in rows.index and float(rows.loc["i2", "value"]) > 0:
        return KInfo(None, 2, "an I² above 0 needs at least 2 studies")
    return KInfo(None, 1, "not printed")


def _target(row, unit: float | None = None) -> Target:
    stat = row.name if isinstance(row.name, str) else row["statistic"]
    value = float(row["value"])
    if unit is None:
        unit = P_UNIT if stat in ("het_p", "egger_p") else (0.1 if stat == "i2" else
                                                            10.0 ** -max(_decimals(value), 1))
    return Target(stat, value, row["comparator"], unit)


def _targets(rows: pd.DataFrame) -> tuple[Target, ...]:
    """Printed numbers of one analysis as targets, with the printing units of estimate/CI and PI triples."""
    rows = rows.set_index("statistic")
    def val(s):
        return float(rows.loc[s, "value"]) if s in rows.index else None
    units = {}
    ue, ul, uh = printing_units(val("estimate"), val("ci_low"), val("ci_high"))
    units.update(estimate=ue, ci_low=ul, ci_high=uh)
    if val("pi_low") is not None:
        _, pl, ph = printing_units(val("estimate"), val("pi_low"), val("pi_high"))
        units.update(pi_low=pl, pi_high=ph)
    out = []
    for s in rows.index:
        out.append(_target(rows.loc[s], units.get(s)))
    return tuple(sorted(out, key=lambda t: _STAT_ORDER.get(t.statistic, 99)))


def _label(row) -> str:
    return f"ref {int(row['ref_no'])} ({row['label']})" if pd.notna(row.get("ref_no")) else str(row["label"])


def _candidates(v1: pd.DataFrame, pooled_ids, cited, bounds=None) -> list[Candidate]:
    out = []
    for _, r in v1.iterrows():
        if r["study_id"] in pooled_ids:
            continue
        ref = int(r["ref_no"]) if pd.notna(r["ref_no"]) else None
        if cited and ref not in cited:
            continue
        ident = r["identification"] != "not identified"
        group = "" if ident else ("combination" if ref in COMBINATION_REFS else "other")
        p_range, bound = (bounds or {}).get(r["study_id"], ((0.0, 1.0), ""))
        label = _label(r) if not bound else f"{_label(r)[:-1]}, {bound})" if _label(r).endswith(")") else \
            f"{_label(r)} ({bound})"
        out.append(Candidate(label, ref, ident, int(r["n_treated"]) if pd.notna(r["n_treated"]) else None,
                             r["regimen"] if isinstance(r["regimen"], str) else "",
                             r["disease_status"] if isinstance(r["disease_status"], str) else "", group, p_range))
    return out


def _level_slots(cands: list[Candidate], subgroup: str, level: str, budget: Budget, unid_regimen: dict,
                 cited: bool, relaxed_counts: bool) -> tuple[list[Slot], list[Slot]]:
    """Identified slots (largest caps first) and unidentified slots (those that can be newly diagnosed first)
    that may fill this analysis' missing studies."""
    ident, unid = [], []
    for c in cands:
        if c.identified:
            if c.n_treated is None:
                continue
            if subgroup == "overall" or (subgroup == "regimen" and c.regimen == level) or (
                    subgroup == "disease_status" and c.disease_status == level):
                ident.append(Slot(c.label, c.n_treated, p_range=c.p_range))
    ident.sort(key=lambda s: -int(s.max_n))
    u_cands = [c for c in cands if not c.identified]
    u_cands.sort(key=lambda c: (c.group != "combination", c.ref or 0))

    def lab(c: Candidate, i: int) -> str:
        return f"{c.label}, unidentified" if cited else f"unidentified study {i + 1}"

    if subgroup == "overall":
        unid = [Slot(lab(c, i), None, STATUSES, c.group) for i, c in enumerate(u_cands)]
    elif subgroup == "disease_status":
        if relaxed_counts:
            unid = [Slot(lab(c, i), None, (level,), "") for i, c in enumerate(u_cands)]
        else:
            limit = budget.nd_limit("other")
            used_other = 0
            for i, c in enumerate(u_cands):
                if level == ND and c.group == "other":
                    if limit is not None and used_other >= limit:
                        continue
                    used_other += 1
                unid.append(Slot(lab(c, i), None, (level,), ""))
    else:  # regimen
        if relaxed_counts:
            unid = [Slot(lab(c, i), None, STATUSES, "") for i, c in enumerate(u_cands)]
        else:
            n_level = unid_regimen.get(level, 0)
            if level == MONOTHERAPY:
                pool = [c for c in u_cands if c.group != "combination"]
                unid = [Slot(lab(c, i), None, (MONOTHERAPY_STATUS,), "") for i, c in enumerate(pool[:n_level])]
            else:
                limit = budget.nd_limit("other")
                non_mono_other = limit if limit is not None else len(u_cands)
                pool, used_other = [], 0
                for c in u_cands:
                    if c.group == "other":
                        if used_other >= non_mono_other:
                            continue
                        used_other += 1
                    pool.append(c)
                unid = [Slot(lab(c, i), None, STATUSES, "") for i, c in enumerate(pool[:n_level])]
    return ident, unid


def _scenarios(ident: list[Slot], unid: list[Slot], m_values, relaxed: str = "") -> tuple[Scenario, ...]:
    out = []
    for m in sorted(set(m_values), reverse=True):
        if m < 0:
            continue
        for s in range(min(m, len(ident)), max(0, m - len(unid)) - 1, -1):
            u = m - s
            slots = tuple(ident[:s]) + tuple(unid[:u])
            parts = [x.label for x in ident[:s]]
            if u:
                parts.append(f"{u} unidentified")
            out.append(Scenario(slots, ", ".join(parts) if parts else "none", relaxed))
    return tuple(out)


def build_problems(dataset) -> tuple[tuple[AnalysisProblem, ...], dict]:
    """One :class:`AnalysisProblem` per printed analysis (outcome × overall/subgroup level), from the dataset;
    plus context (budget text, the cross-analysis check)."""
    pub = dataset.published.copy()
    pub["level"] = pub["level"].fillna("")
    defs = dataset.definitions
    studies = dataset.studies
    v1 = studies[studies["data_version"] <= REFERENCE_VERSION]
    budget, budget_text = patient_budget(dataset.search, studies)
    unid_regimen = _unidentified_by_regimen(v1)
    problems = []
    analyses = list(dict.fromkeys(zip(pub["outcome"], pub["subgroup"], pub["level"])))
    overall_k: dict[str, KInfo] = {}
    for outcome, subgroup, level in analyses:
        if subgroup == "overall":
            overall_k[outcome] = _paper_k(pub, defs, outcome, "overall", "", 60)
    for outcome, subgroup, level in analyses:
        rows = pub[(pub["outcome"] == outcome) & (pub["subgroup"] == subgroup) & (pub["level"] == level)]
        targets = _targets(rows)
        pool = dataset.pooling_table(outcome, data_version=REFERENCE_VERSION)
        k_rows = pub[(pub["outcome"] == outcome) & (pub["subgroup"] == "overall") & (pub["statistic"] == "k")]
        cited = cited_refs(k_rows["printed"].iloc[0]) if len(k_rows) else ()
        notes = []
        if not cited and outcome.startswith("ae_"):
            cited = TABLE2_REFS
            notes.append("candidates: the studies cited for Table 2 (18–24, 28)")
        if cited:
            dropped = [r for r in pool["ref_no"] if pd.notna(r) and int(r) not in cited]
            if dropped:
                notes.append(f"pooled studies not cited by the paper for this outcome ignored: refs {dropped}")
            pool = pool[pool["ref_no"].isin(cited)]
        pooled_ids = set(pool["study_id"])
        cands = _candidates(v1, pooled_ids, cited, reported_bounds(dataset.outcomes, outcome))
        level_rows = pool if subgroup == "overall" else pool[pool[subgroup] == level]
        known = tuple(StudyCounts(_label(r), int(r["events"]), int(r["total"])) for _, r in level_rows.iterrows())
        ok = overall_k[outcome]
        n_cands = len(cands)
        ours_overall = len(pool)
        overall_max = ours_overall + n_cands if ok.exact is None else ok.exact
        # the most studies this level can have: the outcome's k minus our studies of the other levels
        k_bound = overall_max - (ours_overall - len(known))
        k_info = _paper_k(pub, defs, outcome, subgroup, level, max(1, k_bound - 1))
        extra = []
        scen_paper, scen_relaxed = (), []
        for relaxed_counts in (False, True):
            ident, unid = _level_slots(cands, subgroup, level, budget, unid_regimen, bool(cited), relaxed_counts)
            m_cap = len(ident) + len(unid)
            if subgroup != "overall":
                m_cap = min(m_cap, overall_max - ours_overall)
            if k_info.exact is not None:
                m_values = [k_info.exact - len(known)] if k_info.exact - len(known) <= m_cap else []
            else:
                m_values = list(range(max(0, k_info.minimum - len(known)), m_cap + 1))
            if relaxed_counts:
                if k_info.exact is not None and k_info.exact - len(known) > m_cap:
                    m_values = []
                base = _scenarios(ident, unid, m_values)
                paper_keys = {(s.slots) for s in scen_paper}
                extra_sc = tuple(s for s in base if s.slots not in paper_keys)
                scen_relaxed.extend(Scenario(s.slots, s.description, "budget") for s in scen_paper)
                scen_relaxed.extend(Scenario(s.slots, s.description, "counts") for s in extra_sc)
                scen_relaxed.extend(Scenario(s.slots, s.description, "budget+counts") for s in extra_sc)
                k_max_relaxed = len(known) + m_cap
            else:
                scen_paper = _scenarios(ident, unid, m_values)
                k_max = len(known) + m_cap
        if subgroup != "overall":
            kk = k_info.exact if k_info.exact is not None else k_info.minimum
            ok_k = kk <= k_max
            text = (f"{'k = ' if k_info.exact else 'k ≥ '}{kk} ({k_info.source}); this level can hold "
                    f"{len(known)} studies with counts + at most {k_max - len(known)} of the paper's studies without "
                    f"counts = {k_max} under the paper's counts (regimens §3.1, monotherapy R/R)"
                    + (f"; the outcome's k = {overall_max} minus our {ours_overall - len(known)} studies of other "
                       f"levels leaves {k_bound}" if ok.exact is not None else ""))
            extra.append(Check("subgroup k fits", ("i2", "het_p"), ok_k, False, text))
        problems.append(AnalysisProblem(outcome, subgroup, level, known, targets, k_info, scen_paper,
                                        tuple(scen_relaxed), budget, k_max, max(k_max, min(k_bound, k_max_relaxed)),
                                        tuple(extra), tuple(notes)))
    cross = nd_count_check(dataset, problems)
    context = {"budget": budget, "budget_text": budget_text, "cross_check": cross}
    if cross is not None and not cross[0].passed:
        involved = cross[1]
        problems = [p if (p.outcome, p.subgroup, p.level) not in involved else
                    replace(p, extra_checks=p.extra_checks + (cross[0],)) for p in problems]
    return tuple(problems), context


def nd_count_check(dataset, problems) -> tuple[Check, set] | None:
    """Across analyses: is there one assignment of disease status to the unidentified studies under which every
    newly diagnosed subgroup's k (printed or implied by its I²/p pair) is attainable within its outcome's k?"""
    studies = dataset.studies
    v1 = studies[studies["data_version"] <= REFERENCE_VERSION]
    unid = [int(r) for r in v1.loc[v1["identification"] == "not identified", "ref_no"]]
    budget, _ = patient_budget(dataset.search, studies)
    limit = budget.nd_limit("other")
    constraints = []
    for p in problems:
        if p.subgroup != "disease_status" or p.level != ND or p.k.exact is None:
            continue
        overall = next(q for q in problems if q.outcome == p.outcome and q.subgroup == "overall")
        if overall.k.exact is None:
            continue
        pub = dataset.published
        k_rows = pub[(pub["outcome"] == p.outcome) & (pub["statistic"] == "k")]
        cited = cited_refs(k_rows["printed"].iloc[0]) if len(k_rows) else ()
        pool = dataset.pooling_table(p.outcome, data_version=REFERENCE_VERSION)
        if cited:
            pool = pool[pool["ref_no"].isin(cited)]
        cands = _candidates(v1, set(pool["study_id"]), cited)
        known_nd = int((pool["disease_status"] == ND).sum())
        m = overall.k.exact - len(pool)
        ident_nd = sum(1 for c in cands if c.identified and c.disease_status == ND)
        ident_rr = sum(1 for c in cands if c.identified and c.disease_status != ND)
        unid_refs = [c.ref for c in cands if not c.identified]
        constraints.append(((p.outcome, p.subgroup, p.level), p.k.exact - known_nd, m, ident_nd, ident_rr,
                            tuple(unid_refs), p.k.source))
    if len(constraints) < 2:
        return None

    def ok(assign_nd: frozenset, cons) -> bool:
        _, need, m, i_nd, i_rr, refs, _ = cons
        c_nd = i_nd + sum(1 for r in refs if r in assign_nd)
        c_rr = i_rr + sum(1 for r in refs if r not in assign_nd)
        return 0 <= need <= c_nd and 0 <= m - need <= c_rr

    assignments = []
    others = [r for r in unid if r not in COMBINATION_REFS]
    for bits in itertools.product((0, 1), repeat=len(unid)):
        nd_set = frozenset(r for r, b in zip(unid, bits) if b)
        if limit is not None and sum(1 for r in nd_set if r in others) > limit:
            continue
        assignments.append(nd_set)
    feasible = [a for a in assignments if all(ok(a, c) for c in constraints)]
    lines = []
    for c in constraints:
        (o, _, _), need, m, i_nd, i_rr, refs, _ = c
        lines.append(f"{o} ND k needs {need} more ND among {m} missing ({i_nd} identified ND, {i_rr} identified "
                     f"R/R, unidentified refs {list(refs) if len(refs) < len(unid) else 'any of the 7'})")
    if feasible:
        sizes = sorted({len(a) for a in feasible})
        text = ("; ".join(lines) + f" → consistent: {len(feasible)} status assignments of the unidentified "
                f"studies satisfy all, with {_ranges(sizes)} of them newly diagnosed")
        return Check("ND study count across analyses", ("i2", "het_p"), True, False, text), set()
    # minimal conflicting sets of analyses
    minimal = []
    for r in range(2, len(constraints) + 1):
        for combo in itertools.combinations(constraints, r):
            if any(set(x) <= {c[0] for c in combo} for x in minimal):
                continue
            if not any(all(ok(a, c) for c in combo) for a in assignments):
                minimal.append(tuple(c[0] for c in combo))
    conflict = "; ".join(" + ".join(f"{o} ND" for o, _, _ in combo) for combo in minimal)
    involved = set().union(*[set(c) for c in minimal]) if minimal else set()
    text = ("; ".join(lines) + f" → no assignment of disease status to the {len(unid)} unidentified studies (at most "
            f"{limit} of refs {others} newly diagnosed, since the 2 unidentified monotherapy studies are R/R) "
            f"satisfies all; minimal conflicting sets: {conflict}")
    return Check("ND study count across analyses", ("i2", "het_p"), False, False, text), involved


# --- the table -----------------------------------------------------------------------------------------------------

TABLE_COLUMNS = ["outcome", "subgroup", "level", "statistic", "printed", "value", "comparator", "verdict", "reason",
                 "arithmetic", "example", "basis", "checks_failed", "joint", "our_k", "paper_k", "missing",
                 "range_low", "range_high", "joint_reason", "joint_arithmetic", "joint_example"]


def judge_all(problems, jobs: int | None = None) -> list[AnalysisResult]:
    """:func:`judge_analysis` for every problem, in ``jobs`` processes (default: up to 2); results in the order
    of ``problems`` and identical to a serial run (every search is deterministic)."""
    problems = list(problems)
    jobs = min(2, os.cpu_count() or 1) if jobs is None else jobs
    if jobs <= 1 or len(problems) < 2:
        return [judge_analysis(p) for p in problems]
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor
    # the costliest problems first (those with most scenarios), so that the two workers finish together
    order = sorted(range(len(problems)), key=lambda i: -(len(problems[i].scenarios) + len(problems[i].relaxed)))
    # forking a process that runs threads (a Jupyter kernel) is not safe: start the workers from a clean server
    method = "fork" if threading.active_count() == 1 else "forkserver"
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(method)) as pool:
        futures = {i: pool.submit(judge_analysis, problems[i]) for i in order}
        return [futures[i].result() for i in range(len(problems))]


def feasibility_table(dataset, audit_statuses=None, analyses=None, jobs: int | None = None) -> pd.DataFrame:
    """One row per printed number: the feasibility verdict with its reason, arithmetic and example (columns
    :data:`TABLE_COLUMNS`). With ``audit_statuses`` (the audit's frame with columns outcome, subgroup, level,
    statistic, status — e.g. ``Audit.frame()`` — or a mapping (outcome, subgroup, level, statistic) → status),
    adds the audit status and the final word (:func:`final_verdicts`). ``analyses``: only these (outcome,
    subgroup, level) triples or outcomes. ``jobs``: worker processes (default up to 2)."""
    if not has_patient_budget(dataset.search):
        return _not_checkable(dataset, audit_statuses)
    problems, _ = build_problems(dataset)
    if analyses is not None:
        wanted = set(analyses)
        problems = [p for p in problems if (p.outcome, p.subgroup, p.level) in wanted or p.outcome in wanted]
    results = judge_all(problems, jobs)
    table = results_frame(results, dataset.published)
    if audit_statuses is not None:
        table = final_verdicts(table, audit_statuses)
    return table


def _not_checkable(dataset, audit_statuses) -> pd.DataFrame:
    """Every printed number "not checkable" (:data:`NO_BUDGET`): the table when the patient totals are missing."""
    pub = dataset.published.copy()
    pub["level"] = pub["level"].fillna("")
    table = pd.DataFrame([{"outcome": r.outcome, "subgroup": r.subgroup, "level": r.level, "statistic": r.statistic,
                           "printed": r.printed, "value": float(r.value), "comparator": r.comparator,
                           "verdict": "not checkable", "reason": NO_BUDGET, "joint": "not checkable"}
                          for r in pub.itertuples()], columns=TABLE_COLUMNS)
    table = table.fillna({c: "" for c in TABLE_COLUMNS if c not in ("value", "range_low", "range_high")})
    return final_verdicts(table, audit_statuses) if audit_statuses is not None else table


def results_frame(results, published: pd.DataFrame | None = None) -> pd.DataFrame:
    printed = {}
    if published is not None:
        pub = published.copy()
        pub["level"] = pub["level"].fillna("")
        printed = {(r.outcome, r.subgroup, r.level, r.statistic): r.printed for r in pub.itertuples()}
    rows = []
    for res in results:
        p = res.problem
        targets = {t.statistic: t for t in p.targets}
        for stat, v in res.verdicts:
            t = targets[stat]
            rng = res.range(stat)
            rows.append({
                "outcome": p.outcome, "subgroup": p.subgroup, "level": p.level, "statistic": stat,
                "printed": printed.get((p.outcome, p.subgroup, p.level, stat), t.text), "value": t.value,
                "comparator": t.comparator, "verdict": v.status, "reason": v.reason, "arithmetic": v.arithmetic,
                "example": v.example.text if v.example is not None else "", "basis": v.basis,
                "checks_failed": "; ".join(v.checks_failed), "joint": res.joint.status, "our_k": len(p.known),
                "paper_k": p.k.exact if p.k.exact is not None else f"≥{p.k.minimum}",
                "missing": _missing_text(p), "range_low": rng[0] if rng else math.nan,
                "range_high": rng[1] if rng else math.nan, "joint_reason": res.joint.reason,
                "joint_arithmetic": res.joint.arithmetic,
                "joint_example": res.joint.example.text if res.joint.example is not None else "",
            })
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def _missing_text(p: AnalysisProblem) -> str:
    ms = sorted({s.m for s in p.scenarios})
    return _ranges(ms) if len(ms) > 1 else (str(ms[0]) if ms else "–")


def final_word(audit_status: str | None, verdict: str) -> str:
    """The word shown for one number: the audit's own status when it could judge the number (reproduced, close,
    not reproduced), this module's verdict when the audit could not ("not reproducible") or is not available."""
    if audit_status in AUDIT_VERDICTS:
        return audit_status
    if verdict not in FEASIBILITY_VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}")
    return verdict


def _audit_lookup(audit_statuses) -> dict:
    if audit_statuses is None:
        return {}
    if isinstance(audit_statuses, pd.DataFrame):
        df = audit_statuses.copy()
        df["level"] = df["level"].fillna("")
        return {(r.outcome, r.subgroup, r.level, r.statistic): r.status for r in df.itertuples()}
    return {tuple("" if (isinstance(x, float) and math.isnan(x)) else x for x in k): v
            for k, v in dict(audit_statuses).items()}


def final_verdicts(table: pd.DataFrame, audit_statuses=None) -> pd.DataFrame:
    """``table`` with the audit's status and the final word (:data:`VERDICTS`) per number."""
    lookup = _audit_lookup(audit_statuses)
    out = table.copy()
    out["audit_status"] = [lookup.get((r.outcome, r.subgroup, r.level, r.statistic)) for r in out.itertuples()]
    out["final"] = [final_word(a, v) for a, v in zip(out["audit_status"], out["verdict"])]
    return out


def verdict_counts(table: pd.DataFrame, column: str | None = None) -> pd.DataFrame:
    """Per outcome, how many printed numbers carry each word of :data:`VERDICTS` (column "final" when present,
    else "verdict"), with a total row."""
    column = column or ("final" if "final" in table.columns else "verdict")
    counts = (table.groupby(["outcome", column]).size().unstack(fill_value=0)
              .reindex(columns=list(VERDICTS), fill_value=0))
    order = list(dict.fromkeys(table["outcome"]))
    counts = counts.reindex(order)
    counts.loc["all"] = counts.sum()
    counts.columns.name = None
    return counts.astype(int)


# --- pins and command line -----------------------------------------------------------------------------------------

PIN = ROOT / "tests" / "pins" / "feasibility_verdicts.csv"
PIN_COLUMNS = ["outcome", "subgroup", "level", "statistic", "value", "verdict", "basis", "joint", "checks_failed"]


def pin_frame(table: pd.DataFrame) -> pd.DataFrame:
    return table[PIN_COLUMNS].astype({"value": str})


def write_pins(data_dir: Path | str = ROOT / "data") -> Path:
    from livingreview.dataset import load_dataset
    table = feasibility_table(load_dataset(data_dir))
    PIN.parent.mkdir(parents=True, exist_ok=True)
    pin_frame(table).to_csv(PIN, index=False, lineterminator="\n")
    return PIN


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m livingreview.review.feasibility",
                                     description="Could each printed number have come from the paper's studies?")
    parser.add_argument("--data", default=str(ROOT / "data"))
    parser.add_argument("--write-pins", action="store_true",
                        help="rewrite tests/pins/feasibility_verdicts.csv from a fresh computation (on purpose)")
    args = parser.parse_args(argv)
    if args.write_pins:
        print(f"wrote {write_pins(args.data).relative_to(ROOT)}")
        return 0
    from livingreview.dataset import load_dataset
    table = feasibility_table(load_dataset(args.data))
    print(verdict_counts(table).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [
    "FEASIBILITY_VERDICTS",
    "METHODS_TEXT",
    "VERDICTS",
    "AnalysisProblem",
    "AnalysisResult",
    "Budget",
    "Check",
    "Example",
    "KInfo",
    "MissingStudy",
    "Scenario",
    "Search",
    "Slot",
    "StudyCounts",
    "Target",
    "Verdict",
    "attainable_range",
    "build_problems",
    "check_ci_symmetry",
    "check_ci_width",
    "check_i2_p",
    "check_pi",
    "check_q_floor",
    "consistency_checks",
    "dl_batch",
    "engine_values",
    "feasibility_table",
    "final_verdicts",
    "final_word",
    "implied_dfs",
    "implied_n",
    "judge_analysis",
    "nd_count_check",
    "patient_budget",
    "pr_effects",
    "q_interval",
    "search",
    "verdict_counts",
    "write_pins",
]
