"""A methodologist's diagnostics of one outcome's pooled analysis, from the one engine.

- the model panel: every transformation × τ² estimator × test of :data:`livingreview.config.PANEL`, and the
  binomial–normal GLMM, with the book's primary choice and the paper's probable one marked;
- per study: influence (``influence.rma.uni``), Baujat coordinates and the cumulative analysis in publication-year
  order (:func:`study_diagnostics`, also the ``diagnostics`` command's table);
- GOSH, meta-regression on study characteristics, the Q-profile interval of τ² and predictive probabilities.

Study characteristics come from the dataset: the publication year is that of the study's principal report (else
its earliest report); the median age is read from the ``age`` text only where it states "median N".
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from livingreview.config import PANEL, PREDICTIVE_THRESHOLDS, PRIMARY, Spec
from livingreview.engine.diagnostics import study_diagnostics as engine_study_diagnostics
from livingreview.engine.effects import escalc
from livingreview.engine.glmm import rma_glmm
from livingreview.engine.intervals import confint_tau2, predictive_probability
from livingreview.engine.metareg import meta_regression
from livingreview.engine.model import rma
from livingreview.review.audit.specifications import SPECIFICATIONS
from livingreview.review.outcomes import OutcomeAnalysis, analyse_outcome

#: The paper's probable model (the audit's paper-likely specification, S1).
PAPER_LIKELY = next(s.spec for s in SPECIFICATIONS if s.key == "S1")
#: "median 68 (60–87)", "median 52.7 y" — not "median/range not in abstract".
_MEDIAN = re.compile(r"\bmedian (\d+(?:\.\d+)?)\b")
#: Moderators offered for meta-regression, in the order shown: name → how a study's value is found.
MODERATORS = ("publication year", "median age", "regimen", "disease status")


def study_years(dataset) -> dict[str, float]:
    """study_id → publication year: the principal report's, else the earliest of its reports (NaN if none)."""
    r = dataset.reports.dropna(subset=["year"])
    principal = r[r["role"] == "principal"].set_index("study_id")["year"]
    earliest = r.groupby("study_id")["year"].min()
    return {sid: float(principal.get(sid, earliest.get(sid, math.nan))) for sid in dataset.studies["study_id"]}


def median_age(text) -> float:
    """The median age a study's ``age`` text states ("median 68 (60–87)" → 68), NaN when it states none."""
    m = _MEDIAN.search(text) if isinstance(text, str) else None
    return float(m.group(1)) if m else math.nan


def moderator_values(dataset, analysis: OutcomeAnalysis) -> dict[str, list]:
    """Each moderator's value for the pooled studies, in the analysis's order (None where unknown)."""
    years = study_years(dataset)
    ages = dataset.studies.set_index("study_id")["age"]
    known = lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) or v == "" else v  # noqa: E731
    s = analysis.studies
    return {
        "publication year": [known(years.get(sid)) for sid in s["study_id"]],
        "median age": [known(median_age(ages.get(sid))) for sid in s["study_id"]],
        "regimen": [known(v) for v in s["regimen"]],
        "disease status": [known(v) for v in s["disease_status"]],
    }


def model_panel(dataset, outcome: str, spec: Spec = PRIMARY, data_version: int | None = None) -> pd.DataFrame:
    """One row per specification of the panel (and the GLMM): estimate, CI, PI, τ², I² on the proportion scale,
    with ``primary`` (the page's analysis) and ``paper`` (the paper's probable model) marked."""
    a = analyse_outcome(dataset, outcome, spec, data_version=data_version)
    if a.overall is None:
        return pd.DataFrame()
    xi, ni, labels = a.studies["events"].to_numpy(), a.studies["total"].to_numpy(), tuple(a.studies["display_label"])
    rows = []
    for measure, method, test in PANEL:
        s = Spec(measure, method, test, spec.pi_dist, spec.level)
        try:
            res = rma(escalc(measure, xi, ni, labels=labels), method=method, test=test, pi_dist=s.pi_dist,
                      level=s.level)
        except ValueError as err:  # not estimable under this specification: say so in the row
            rows.append({"measure": measure, "method": method, "test": test, "k": a.k, "note": str(err)})
            continue
        p = res.proportion()
        rows.append({"measure": measure, "method": method, "test": test, "k": res.k, "estimate": p.estimate,
                     "ci_low": p.ci_low, "ci_high": p.ci_high, "pi_low": p.pi_low, "pi_high": p.pi_high,
                     "tau2": res.tau2, "i2": res.i2, "note": "; ".join(res.notes)})
    g = rma_glmm(xi, ni, labels=labels, level=spec.level)
    gp = g.proportion()
    rows.append({"measure": "GLMM", "method": g.method, "test": "z", "k": a.k, "estimate": gp.estimate,
                 "ci_low": gp.ci_low, "ci_high": gp.ci_high, "pi_low": gp.pi_low, "pi_high": gp.pi_high,
                 "tau2": g.tau2, "i2": math.nan, "note": "; ".join(getattr(g, "notes", ()))})
    out = pd.DataFrame(rows)
    key = list(zip(out["measure"], out["method"], out["test"]))
    out["primary"] = [k == (spec.measure, spec.method, spec.test) for k in key]
    out["paper"] = [k == (PAPER_LIKELY.measure, PAPER_LIKELY.method, PAPER_LIKELY.test) for k in key]
    return out


def study_diagnostics(dataset, analysis: OutcomeAnalysis) -> pd.DataFrame:
    """One row per pooled study, in publication-year order (studies of unknown year last): the year, influence
    diagnostics and metafor's influence flag, Baujat coordinates, and the cumulative analysis up to the study."""
    years = study_years(dataset)
    year = np.array([years.get(sid, math.nan) for sid in analysis.studies["study_id"]], float)
    order = np.where(np.isnan(year), np.inf, year)  # unknown years sort last (metafor: NA last)
    d = engine_study_diagnostics(analysis.overall, order=order)
    out = pd.DataFrame({k: v for k, v in d.items() if k != "index"})
    out.insert(1, "year", year[d["index"]])
    out.insert(0, "study_id", analysis.studies["study_id"].to_numpy()[d["index"]])
    return out


def meta_regressions(dataset, analysis: OutcomeAnalysis, force: bool = False) -> dict:
    """moderator → MetaRegression (not ``applicable`` with the reason below 10 studies per covariate, unless
    ``force``); a moderator known for fewer than three studies, or constant among them, maps to a reason string."""
    es, spec = analysis.overall.es, analysis.spec
    out = {}
    for name, values in moderator_values(dataset, analysis).items():
        known = [v for v in values if v is not None]
        if len(known) < 3 or len(set(known)) < 2:
            out[name] = (f"not fitted: {name} is known for {len(known)} of {len(values)} studies"
                         + (" and takes one value" if known and len(set(known)) < 2 else ""))
            continue
        try:
            out[name] = meta_regression(es, {name: values}, method=spec.method, test=spec.test, pi_dist=spec.pi_dist,
                                        level=spec.level, force=force)
        except ValueError as err:
            out[name] = f"not fitted: {err}"
    return out


def heterogeneity_interval(analysis: OutcomeAnalysis):
    """The Q-profile confidence interval of τ² (and τ, I², H²), or None below two studies."""
    return confint_tau2(analysis.overall) if analysis.k >= 2 else None


def predictive_table(analysis: OutcomeAnalysis, thresholds=PREDICTIVE_THRESHOLDS) -> pd.DataFrame:
    """P(a new study's true proportion exceeds t) for each threshold t, from the prediction distribution."""
    rows = []
    for t in thresholds:
        p = predictive_probability(analysis.overall, t)
        rows.append({"threshold": t, "probability": p.probability, "note": "; ".join(p.notes)})
    return pd.DataFrame(rows)


def diagnostics_tables(dataset, outcome: str, spec: Spec = PRIMARY, data_version: int | None = None,
                       force: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``diagnostics`` command's two tables: one row per study (:func:`study_diagnostics`, influence on the
    model's scale, cumulative estimates as proportions) and the model table — each meta-regression's coefficients
    (transformed scale), its QM test, residual τ² and R², then the Q-profile interval of τ² and I²."""
    a = analyse_outcome(dataset, outcome, spec, data_version=data_version)
    if a.k < 3:
        raise ValueError(f"{outcome}: {a.k} pooled stud{'y' if a.k == 1 else 'ies'}; the diagnostics need at least 3")
    studies = study_diagnostics(dataset, a)
    rows = []
    for name, reg in meta_regressions(dataset, a, force=force).items():
        if isinstance(reg, str) or not reg.applicable:
            rows.append({"moderator": name, "note": reg if isinstance(reg, str) else reg.reason})
            continue
        for i, term in enumerate(reg.names):
            rows.append({"moderator": name, "term": term, "estimate": reg.beta[i], "se": reg.se[i],
                         "ci_low": reg.ci_low[i], "ci_high": reg.ci_high[i], "pval": reg.pval[i], "qm": reg.qm,
                         "qm_df": reg.qm_df, "qm_p": reg.qm_p, "tau2": reg.tau2, "r2": reg.r2, "k": reg.k,
                         "note": "; ".join(reg.notes)})
    ci = heterogeneity_interval(a)
    for name, (est, lo, hi) in (("tau2", ci.tau2), ("i2", ci.i2)):
        rows.append({"moderator": "(heterogeneity, Q-profile CI)", "term": name, "estimate": est, "ci_low": lo,
                     "ci_high": hi, "k": a.k})
    columns = ["moderator", "term", "estimate", "se", "ci_low", "ci_high", "pval", "qm", "qm_df", "qm_p", "tau2", "r2",
               "k", "note"]
    return studies, pd.DataFrame(rows, columns=columns)


__all__ = ["MODERATORS", "diagnostics_tables", "PAPER_LIKELY", "heterogeneity_interval", "median_age", "meta_regressions", "model_panel",
           "moderator_values", "predictive_table", "study_diagnostics", "study_years"]
