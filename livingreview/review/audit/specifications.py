"""The specifications under which the paper's numbers are recomputed (S1 paper-likely, S2 as described, S3
logit/REML, S5 GLMM), and the recomputation itself."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from livingreview.config import Spec
from livingreview.review.audit.published import REFERENCE_VERSION, published_numbers, published_value

#: The paper's FT rule: Freeman–Tukey "for outcomes demonstrating substantial heterogeneity (I² > 50%)".
FT_RULE_I2 = 50.0


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
    from livingreview.review.outcomes import analyse_outcome, ordered_levels
    numbers = published_numbers(dataset) if numbers is None else numbers
    spec = _SPECS[key]
    if spec.kind == "glmm":
        a = analyse_outcome(dataset, outcome, _SPECS["S3"].spec, data_version=data_version)
        if a.overall is None:
            return {}
        fits = {(outcome, "overall", ""): _glmm_fit(outcome, "overall", "", a.studies)}
        for column in a.subgroups:
            for level in ordered_levels(column, a.studies[column]):
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
        for level in ordered_levels(column, sub.levels):
            fits[(outcome, column, level)] = _rma_fit(key, outcome, column, level, sub.levels[level], spec.i2)
    return fits
