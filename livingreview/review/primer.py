"""The methods primer's statistics: small, pure demonstrations computed on the review's own data.

Every number the primer chapters state comes from a function here; the primer chapters of :mod:`livingreview.book` only turn
the answers into sentences, tables and figures. The functions take counts (or the dataset) and return small
frozen dataclasses or DataFrames; the one simulation (:func:`egger_power`) draws from a seeded generator, so
the same arguments always give the same numbers.

Chapters: 1 transformations (:func:`weight_curves`, :func:`extreme_studies`, :func:`ft_backtransform`);
2 heterogeneity (:func:`heterogeneity_table`, :func:`i2_vs_study_size`); 3 intervals (:func:`interval_table`,
:func:`published_interval_check`); 4 subgroups (:func:`subgroup_table`, :func:`confounding_table`,
:func:`subgroup_test_by_measure`); 5 small-study effects (:func:`small_study_tests`, :func:`egger_power`);
6 sensitivity (:func:`influence_summary`, :func:`specification_grid`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit, logit

from livingreview.config import MEASURES, MIN_K_BIAS, PI_DISTS, PRIMARY, SUBGROUP_LEVELS, Spec
from livingreview.engine.effects import back_transform, escalc, ipft_hm
from livingreview.engine.model import MetaResult, rma
from livingreview.review.outcomes import outcome_ids

__all__ = [
    "weight_curves", "extreme_studies", "FTBackTransform", "ft_backtransform",
    "typical_variance", "heterogeneity_table", "I2Demo", "i2_vs_study_size",
    "interval_table", "published_interval_check",
    "subgroup_table", "confounding_table", "subgroup_test_by_measure",
    "SmallStudyTests", "small_study_tests", "EggerPower", "egger_power",
    "Influence", "influence_summary", "specification_grid",
]

TAU2_METHODS = ("DL", "REML", "PM")


def _counts(dataset, outcome: str, data_version: int | None) -> pd.DataFrame:
    from livingreview.review.outcomes import analyse_outcome
    return analyse_outcome(dataset, outcome, PRIMARY, data_version=data_version).studies


def _fit(dataset, outcome: str, spec: Spec, data_version: int | None):
    from livingreview.review.outcomes import analyse_outcome
    return analyse_outcome(dataset, outcome, spec, data_version=data_version)


# ------------------------------------------------------------------------------------ 1. transformations


def weight_curves(n: int = 100, points: int = 199) -> pd.DataFrame:
    """The inverse-variance weight each measure gives a study of size ``n`` whose proportion is p, relative to
    the weight the same study would get at p = 0.5 (columns ``p``, ``measure``, ``relative_weight``).

    PR's variance p(1 − p)/n shrinks towards 0 at the edges (weight → ∞); PLO's 1/(np(1 − p)) grows (weight → 0);
    PAS and PFT have variances that do not depend on p (weight constant) — the reason they were invented.
    """
    p = np.linspace(0.005, 0.995, points)
    variance = {
        "PR": p * (1 - p) / n,
        "PLO": 1 / (n * p * (1 - p)),
        "PAS": np.full_like(p, 1 / (4 * n)),
        "PFT": np.full_like(p, 1 / (4 * n + 2)),
    }
    at_half = {"PR": 0.25 / n, "PLO": 4 / n, "PAS": 1 / (4 * n), "PFT": 1 / (4 * n + 2)}
    rows = [pd.DataFrame({"p": p, "measure": m, "relative_weight": at_half[m] / v}) for m, v in variance.items()]
    return pd.concat(rows, ignore_index=True)


def extreme_studies(n: int) -> pd.DataFrame:
    """What each measure does with 0, 1 and n events among n patients, with metafor's default corrections
    (½ added to x and n − x at 0 or n events for PR and PLO, nothing for PAS and PFT).

    Columns: ``measure``, ``events``, ``add`` (continuity correction used), ``yi``, ``vi``, ``back`` (yi back-
    transformed, PFT with the study's own n), ``weight_ratio`` (the study's weight 1/vi relative to that of a
    study of the same size with 50% events — PR gives a 0-event study an infinite weight without correction).
    """
    rows = []
    for measure in MEASURES:
        half = escalc(measure, [round(n / 2)], [n])
        for x in (0, 1, n):
            es = escalc(measure, [x], [n])
            rows.append({"measure": measure, "events": x, "add": es.add if x in (0, n) else 0.0,
                         "yi": float(es.yi[0]), "vi": float(es.vi[0]),
                         "back": float(back_transform(measure, es.yi, ni=[n])[0]),
                         "weight_ratio": float(half.vi[0] / es.vi[0])})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class FTBackTransform:
    """One pooled Freeman–Tukey value back-transformed in every way seen in practice, against the GLMM.

    ``t``/``se``: the pooled value on metafor's halved FT scale and its SE (τ² by ``method``). ``choices``:
    one row per back-transformation (``choice``, ``n`` used — NaN for the naive sin² — and ``proportion``),
    the harmonic mean first (metafor ``transf.ipft.hm``, R meta). ``glmm``: the binomial–normal GLMM estimate;
    ``comparator``/``comparator_label``: the book's analysis (or the chosen measure) on the same studies.
    ``ft_gap_pp`` = harmonic-mean FT − GLMM in percentage points; ``n_spread_pp`` = largest − smallest of the
    back-transforms in ``choices``. ``studies``: each study's observed proportion and its own FT value
    back-transformed with the harmonic mean of all n (what an FT forest plot shows); ``study_gap_pp``/
    ``study_gap_label`` the largest absolute difference and its study.
    """

    k: int
    method: str
    t: float
    se: float
    n_harmonic: float
    choices: pd.DataFrame
    glmm: float
    comparator: float
    comparator_label: str
    ft_gap_pp: float
    n_spread_pp: float
    studies: pd.DataFrame
    study_gap_pp: float
    study_gap_label: str


def ft_backtransform(xi, ni, labels=None, method: str = "REML", comparator: Spec = PRIMARY) -> FTBackTransform:
    """Pool the Freeman–Tukey values of the studies (random effects, τ² by ``method``) and back-transform the
    pooled value with each n in use (Schwarzer et al. 2019): the harmonic mean, geometric and arithmetic mean,
    the smallest and largest study, the total N, 1/SE² of the pooled value (a shortcut seen in tutorials) and the
    naive sin²(t) that ignores n. Compare with the GLMM, which needs no back-transformation at all."""
    from livingreview.engine.glmm import rma_glmm
    x, n = np.asarray(xi, float), np.asarray(ni, float)
    es = escalc("PFT", x, n, labels=labels)
    res = rma(es, method=method)
    t = res.estimate
    hm = float(1 / np.mean(1 / n))
    options = [
        ("Harmonic mean of n (metafor, R meta)", hm),
        ("Geometric mean of n", float(np.exp(np.mean(np.log(n))))),
        ("Arithmetic mean of n", float(np.mean(n))),
        ("Smallest study", float(n.min())),
        ("Largest study", float(n.max())),
        ("Total N of all studies", float(n.sum())),
        ("1/SE² of the pooled value", float(1 / res.se ** 2)),
    ]
    rows = [{"choice": name, "n": value, "proportion": float(ipft_hm([t], [value])[0])} for name, value in options]
    rows.append({"choice": "Naive sin²(t), no n", "n": float("nan"), "proportion": float(np.sin(t) ** 2)})
    choices = pd.DataFrame(rows)
    glmm = float(rma_glmm(x, n).proportion().estimate)
    comp = rma(escalc(comparator.measure, x, n), method=comparator.method, test=comparator.test,
               pi_dist=comparator.pi_dist).proportion().estimate
    own = ipft_hm(es.yi, n)
    studies = pd.DataFrame({"study": es.labels, "events": x.astype(int), "n": n.astype(int), "observed": x / n,
                            "ft_back_hm": own})
    gaps = np.abs(own - x / n)
    worst = int(np.argmax(gaps))
    return FTBackTransform(
        k=es.k, method=res.method, t=float(t), se=float(res.se), n_harmonic=hm, choices=choices, glmm=glmm,
        comparator=float(comp), comparator_label=comparator.describe(),
        ft_gap_pp=100 * (choices["proportion"].iloc[0] - glmm),
        n_spread_pp=100 * float(choices["proportion"].max() - choices["proportion"].min()),
        studies=studies, study_gap_pp=100 * float(gaps[worst]), study_gap_label=es.labels[worst])


# ------------------------------------------------------------------------------------ 2. heterogeneity


def typical_variance(vi) -> float:
    """ṽ = (k − 1)Σw / ((Σw)² − Σw²), w = 1/vᵢ: the "typical" within-study variance in τ²-based I² and H²."""
    w = 1 / np.asarray(vi, float)
    return float((len(w) - 1) * w.sum() / (w.sum() ** 2 - np.sum(w ** 2)))


def heterogeneity_table(dataset, measure: str = PRIMARY.measure, methods=TAU2_METHODS, outcomes=None,
                        min_k: int = 2, data_version: int | None = None) -> pd.DataFrame:
    """Q, τ², I², H² of every outcome with at least ``min_k`` studies, under each τ² estimator in ``methods``.

    One row per outcome × method: ``outcome, label, k, method, q, q_df, q_p, tau2, tau, i2, h2, i2_q, vt,
    estimate`` (``i2_q`` the Q-based I² = (Q − df)/Q, ``vt`` the typical within-study variance ṽ; ``estimate`` on
    the 0–1 scale). Q does not depend on the estimator; τ², I², H² and the estimate do."""
    ids = outcome_ids(dataset, outcomes)
    labels = dict(zip(dataset.definitions["outcome"], dataset.definitions["label"]))
    rows = []
    for outcome in ids:
        studies = _counts(dataset, outcome, data_version)
        if len(studies) < min_k:
            continue
        es = escalc(measure, studies["events"].to_numpy(), studies["total"].to_numpy())
        for method in methods:
            res = rma(es, method=method)
            rows.append({"outcome": outcome, "label": labels[outcome], "k": res.k, "method": method,
                         "q": res.q, "q_df": res.q_df, "q_p": res.q_p, "tau2": res.tau2, "tau": res.tau,
                         "i2": res.i2, "h2": res.h2, "i2_q": res.i2_q, "vt": typical_variance(es.vi),
                         "estimate": res.proportion().estimate})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class I2Demo:
    """Same τ², same study proportions, different study sizes: I² = τ²/(τ² + ṽ/f) when every study is f times
    as large (its sampling variance divided by f). ``table``: ``factor, median_n, vt, i2, h2``; ``i2_at_1`` the
    outcome's own I²; ``factor_for_50``: the size multiple at which I² would be 50% (f = ṽ/τ²)."""

    measure: str
    method: str
    tau2: float
    vt: float
    median_n: float
    table: pd.DataFrame
    curve: pd.DataFrame
    i2_at_1: float
    factor_for_50: float


def i2_vs_study_size(xi, ni, spec: Spec = PRIMARY, factors=(0.25, 0.5, 1, 2, 4, 10)) -> I2Demo:
    """I² when the same studies (same proportions, same τ²) are ``factors`` times as large."""
    es = escalc(spec.measure, xi, ni)
    res = rma(es, method=spec.method)
    vt = typical_variance(es.vi)
    tau2 = res.tau2
    med = float(np.median(np.asarray(ni, float)))

    def i2(f):
        f = np.asarray(f, float)
        return 100 * tau2 / (tau2 + vt / f)

    table = pd.DataFrame({"factor": [float(f) for f in factors]})
    table["median_n"] = med * table["factor"]
    table["vt"] = vt / table["factor"]
    table["i2"] = i2(table["factor"])
    table["h2"] = 1 + tau2 / table["vt"]
    grid = np.exp(np.linspace(np.log(0.05), np.log(100), 121))
    curve = pd.DataFrame({"factor": grid, "i2": i2(grid)})
    f50 = vt / tau2 if tau2 > 0 else float("inf")
    return I2Demo(spec.measure, res.method, float(tau2), vt, med, table, curve, float(res.i2), float(f50))


# ------------------------------------------------------------------------------------ 3. intervals


def interval_table(dataset, spec: Spec = PRIMARY, outcomes=None, min_k: int = 3,
                   data_version: int | None = None) -> pd.DataFrame:
    """Confidence and prediction intervals of every outcome with at least ``min_k`` studies (0–1 scale).

    Columns: ``outcome, label, k, estimate, ci_low, ci_high`` (the spec's test), ``z_low, z_high`` (Wald),
    ``hk_low, hk_high`` (Hartung–Knapp), ``adhoc_low, adhoc_high`` (ad hoc HK), ``hk_factor`` (the HK variance
    multiplier Σw*(y − μ̂)²/(k − 1)), ``hk_multiplier`` (HK half-width / Wald half-width = √factor · t(k − 1)/z),
    ``hk_narrower`` (the plain HK interval is narrower than Wald's), ``pi_low, pi_high`` (the spec's
    PI), ``pi_z_low … pi_t2_high`` (the PI with each distribution: z, t(k − 1), t(k − 2)), ``pi_crit`` (the
    quantile of the spec's PI), ``tau2``, ``ci_in_pi`` (the PI contains the CI), ``width_ratio``
    (PI width / CI width)."""
    ids = outcome_ids(dataset, outcomes)
    labels = dict(zip(dataset.definitions["outcome"], dataset.definitions["label"]))
    rows = []
    for outcome in ids:
        studies = _counts(dataset, outcome, data_version)
        if len(studies) < min_k:
            continue
        es = escalc(spec.measure, studies["events"].to_numpy(), studies["total"].to_numpy())
        fits = {test: rma(es, method=spec.method, test=test, pi_dist=spec.pi_dist, level=spec.level)
                for test in ("z", "knha", "adhoc")}
        main = rma(es, method=spec.method, test=spec.test, pi_dist=spec.pi_dist, level=spec.level)
        p, pz, phk, pad = (f.proportion() for f in (main, fits["z"], fits["knha"], fits["adhoc"]))
        pis = {d: rma(es, method=spec.method, test=spec.test, pi_dist=d, level=spec.level).proportion()
               for d in PI_DISTS}
        w = 1 / (es.vi + main.tau2)
        mu = float(np.sum(w * es.yi) / w.sum())
        factor = float(np.sum(w * (es.yi - mu) ** 2) / (es.k - 1))
        z_crit = float(stats.norm.ppf(1 - (1 - spec.level) / 2))
        t_crit = float(stats.t.ppf(1 - (1 - spec.level) / 2, es.k - 1))
        rows.append({
            "outcome": outcome, "label": labels[outcome], "k": es.k, "estimate": p.estimate,
            "ci_low": p.ci_low, "ci_high": p.ci_high, "z_low": pz.ci_low, "z_high": pz.ci_high,
            "hk_low": phk.ci_low, "hk_high": phk.ci_high, "adhoc_low": pad.ci_low, "adhoc_high": pad.ci_high,
            "hk_factor": factor, "hk_multiplier": math.sqrt(factor) * t_crit / z_crit, "t_crit": t_crit,
            "z_crit": z_crit, "pi_low": p.pi_low, "pi_high": p.pi_high,
            **{f"pi_{d}_{end}": getattr(pis[d], f"pi_{end}") for d in PI_DISTS for end in ("low", "high")},
            "pi_crit": main.pi_crit, "pi_df": main.pi_df, "tau2": main.tau2,
            "hk_narrower": bool(phk.ci_high - phk.ci_low < pz.ci_high - pz.ci_low),
            "ci_in_pi": bool(p.pi_low <= p.ci_low and p.ci_high <= p.pi_high),
            "width_ratio": (p.pi_high - p.pi_low) / (p.ci_high - p.ci_low),
        })
    return pd.DataFrame(rows)


PUBLISHED_CHECK_COLUMNS = ["outcome", "label", "estimate", "ci_low", "ci_high", "pi_low", "pi_high",
                           "contains_estimate", "contains_ci", "ci_asymmetry", "pi_mid_raw", "pi_mid_logit", "problem"]


def published_interval_check(dataset) -> pd.DataFrame:
    """The paper's printed prediction intervals (``published.csv``, overall rows with ``pi_low``/``pi_high``)
    checked against the rules every PI obeys: it contains its own estimate and its own CI.

    Columns: ``outcome, label, estimate, ci_low, ci_high, pi_low, pi_high`` (percent, as printed),
    ``contains_estimate``, ``contains_ci``, ``ci_asymmetry`` (|(hi − est) − (est − lo)| in points: 0 for a
    symmetric raw-scale interval), ``pi_mid_raw`` (midpoint of the PI in percent) and ``pi_mid_logit`` (the
    proportion at the midpoint of the PI's logits — where a logit-scale PI would be centred), ``problem``."""
    pub = dataset.published
    pub = pub[pub["subgroup"] == "overall"]
    labels = dict(zip(dataset.definitions["outcome"], dataset.definitions["label"]))
    order = list(dataset.definitions["outcome"])
    rows = []
    for outcome in [o for o in order if o in set(pub["outcome"])]:
        values = pub[pub["outcome"] == outcome].set_index("statistic")["value"]
        if not {"estimate", "ci_low", "ci_high", "pi_low", "pi_high"} <= set(values.index):
            continue
        est, lo, hi, plo, phi = (float(values[s]) for s in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"))
        has_est = plo <= est <= phi
        has_ci = plo <= lo and hi <= phi
        mid_logit = 100 * float(expit((logit(plo / 100) + logit(phi / 100)) / 2))
        problems = []
        if not has_est:
            problems.append("excludes its own estimate")
        elif not has_ci:
            problems.append("does not contain its own CI")
        if abs((phi - est) - (est - plo)) > 5 and abs((hi - est) - (est - lo)) <= 0.15:
            problems.append("asymmetric although the CI is symmetric")
        rows.append({"outcome": outcome, "label": labels[outcome], "estimate": est, "ci_low": lo, "ci_high": hi,
                     "pi_low": plo, "pi_high": phi, "contains_estimate": has_est, "contains_ci": has_ci,
                     "ci_asymmetry": abs((hi - est) - (est - lo)), "pi_mid_raw": (plo + phi) / 2,
                     "pi_mid_logit": mid_logit, "problem": "; ".join(problems) or "none found"})
    return pd.DataFrame(rows, columns=PUBLISHED_CHECK_COLUMNS)


# ------------------------------------------------------------------------------------ 4. subgroups


def subgroup_table(dataset, outcome: str, column: str, spec: Spec = PRIMARY,
                   data_version: int | None = None) -> tuple[pd.DataFrame, dict]:
    """Each level of ``column`` pooled with its own τ² (0–1 scale), and the test for subgroup differences.

    Returns (levels, test): levels has ``level, k, events, total, estimate, ci_low, ci_high, tau2, i2``, in the
    book's order; test has ``q_between, df, p, excluded`` (studies without a level) and ``single_study_levels``."""
    a = _fit(dataset, outcome, spec, data_version)
    if column not in a.subgroups:
        raise ValueError(f"{outcome}: no subgroup analysis by {column!r} (available: {sorted(a.subgroups)})")
    sub = a.subgroups[column]
    order = [lv for lv in SUBGROUP_LEVELS.get(column, ()) if lv in sub.levels]
    order += [lv for lv in sub.levels if lv not in order]
    rows = []
    for level in order:
        res = sub.levels[level]
        counts = a.studies[a.studies[column] == level]
        p = res.proportion()
        rows.append({"level": level, "k": res.k, "events": int(counts["events"].sum()),
                     "total": int(counts["total"].sum()), "estimate": p.estimate, "ci_low": p.ci_low,
                     "ci_high": p.ci_high, "tau2": res.tau2, "i2": res.i2})
    levels = pd.DataFrame(rows)
    test = {"q_between": sub.q_between, "df": sub.q_between_df, "p": sub.q_between_p,
            "excluded": len(sub.excluded), "single_study_levels": int((levels["k"] == 1).sum())}
    return levels, test


def confounding_table(dataset, outcome: str, rows: str = "regimen", columns: str = "disease_status",
                      data_version: int | None = None) -> pd.DataFrame:
    """How many of the outcome's studies fall in each combination of two study characteristics ("unknown" for
    a missing one). In single-arm data the characteristics travel together, so a subgroup difference by one
    is also a difference by the other."""
    studies = _counts(dataset, outcome, data_version)
    a = studies[rows].fillna("unknown")
    b = studies[columns].fillna("unknown")
    table = pd.crosstab(a, b)
    row_order = [lv for lv in SUBGROUP_LEVELS.get(rows, ()) if lv in table.index]
    col_order = [lv for lv in SUBGROUP_LEVELS.get(columns, ()) if lv in table.columns]
    row_order += sorted(lv for lv in table.index if lv not in row_order)
    col_order += sorted(lv for lv in table.columns if lv not in col_order)
    return table.loc[row_order, col_order]


def subgroup_test_by_measure(dataset, outcome: str, column: str, spec: Spec = PRIMARY,
                             data_version: int | None = None) -> pd.DataFrame:
    """The test for subgroup differences under each effect measure (same τ² estimator and test): the scale
    changes the weights and so the verdict. Columns ``measure, q_between, df, p``."""
    rows = []
    for measure in MEASURES:
        _, test = subgroup_table(dataset, outcome, column, spec.with_(measure=measure), data_version)
        rows.append({"measure": measure, "q_between": test["q_between"], "df": test["df"], "p": test["p"]})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ 5. small-study effects


@dataclass(frozen=True)
class SmallStudyTests:
    """Egger (predictor SE and 1/√n), Begg, trim-and-fill (L0 and R0) of one fitted model."""

    k: int
    applicable: bool
    egger: object
    egger_sqrtninv: object
    begg: object
    trimfill_l0: object
    trimfill_r0: object


def small_study_tests(res: MetaResult, force: bool = False, min_k: int = MIN_K_BIAS) -> SmallStudyTests:
    """Every small-study test of the book on one model; with ``force`` also below ``min_k`` (teaching only)."""
    from livingreview.engine.bias import begg_test, egger_test, trimfill
    eg = egger_test(res, force=force, min_k=min_k)
    return SmallStudyTests(
        k=res.k, applicable=eg.applicable, egger=eg,
        egger_sqrtninv=egger_test(res, force=force, min_k=min_k, predictor="sqrtninv"),
        begg=begg_test(res, force=force, min_k=min_k),
        trimfill_l0=trimfill(res, estimator="L0", force=force, min_k=min_k),
        trimfill_r0=trimfill(res, estimator="R0", force=force, min_k=min_k))


@dataclass(frozen=True)
class EggerPower:
    """How often Egger's and Begg's tests reject (p < ``alpha``) in simulated reviews of k studies.

    Each simulated study draws its size from ``ni`` (the review's own study sizes, with replacement), its true
    logit from N(μ, τ²) and its events from Bin(n, expit(θ)). Scenario "no selection": every study is published
    (the rejection rate is the false-positive rate). Scenario "selection": a study smaller than the median of
    ``ni`` whose observed proportion falls below the true mean proportion is published only with probability
    ``publish_prob``; studies are drawn until k are published. Each review is pooled on ``measure`` and tested
    with the package's :func:`~livingreview.engine.bias.egger_test` and :func:`~livingreview.engine.bias.begg_test`.
    ``table``: ``scenario, k, egger, begg, egger_mcse`` (rates 0–1; Monte-Carlo SE of the Egger rate).
    """

    seed: int
    n_sims: int
    alpha: float
    measure: str
    p: float
    tau2: float
    publish_prob: float
    k_values: tuple[int, ...]
    table: pd.DataFrame

    def rate(self, scenario: str, k: int, test: str = "egger") -> float:
        row = self.table[(self.table["scenario"] == scenario) & (self.table["k"] == k)]
        if row.empty:
            raise KeyError(f"no simulation for scenario={scenario!r}, k={k} (k values: {self.k_values})")
        return float(row.iloc[0][test])


def _simulate_review(rng: np.random.Generator, k: int, ni: np.ndarray, mu: float, tau: float,
                     publish_prob: float, small: float) -> tuple[np.ndarray, np.ndarray]:
    xs, ns = [], []
    while len(xs) < k:
        batch = 2 * k
        n = rng.choice(ni, size=batch, replace=True)
        theta = mu + tau * rng.standard_normal(batch)
        x = rng.binomial(n.astype(np.int64), expit(theta))
        u = rng.random(batch)
        hidden = (n < small) & (x / n < expit(mu)) & (u >= publish_prob)
        keep = np.flatnonzero(~hidden)
        xs.extend(x[keep].tolist())
        ns.extend(n[keep].tolist())
    return np.array(xs[:k], float), np.array(ns[:k], float)


def egger_power(ni, p: float, tau2: float, k_values=(5, 10, 20, 40), n_sims: int = 400, seed: int = 20250601,
                alpha: float = 0.05, publish_prob: float = 0.25, measure: str = "PLO") -> EggerPower:
    """Simulated rejection rates of Egger's and Begg's tests (see :class:`EggerPower`); deterministic in ``seed``.

    ``p``: the true mean proportion (expit of the mean logit); ``tau2``: the between-study variance of the
    true logits. One generator (PCG64, ``seed``) drives every draw, scenario by scenario and k by k in order.
    """
    from livingreview.engine.bias import begg_test, egger_test
    if n_sims < 1:
        raise ValueError(f"n_sims must be at least 1, got {n_sims}")
    if not 0 < p < 1:
        raise ValueError(f"p must lie in (0, 1), got {p}")
    if tau2 < 0:
        raise ValueError(f"tau2 must be >= 0, got {tau2}")
    if not 0 <= publish_prob <= 1:
        raise ValueError(f"publish_prob must lie in [0, 1], got {publish_prob}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    k_values = tuple(int(k) for k in k_values)
    if any(k < 3 for k in k_values):
        raise ValueError(f"every k must be at least 3 (Egger's test needs k − 2 ≥ 1 df), got {k_values}")
    ni = np.asarray(ni, float)
    small = float(np.median(ni))
    mu, tau = float(logit(p)), math.sqrt(tau2)
    rng = np.random.default_rng(seed)
    rows = []
    for scenario, prob in (("no selection", 1.0), ("selection", publish_prob)):
        for k in k_values:
            egger = egger_n = begg = 0
            for _ in range(n_sims):
                x, n = _simulate_review(rng, k, ni, mu, tau, prob, small)
                res = rma(escalc(measure, x, n), method="FE")  # the classical tests use only yi and vi
                egger += bool(egger_test(res, force=True).pval < alpha)
                egger_n += bool(egger_test(res, force=True, predictor="sqrtninv").pval < alpha)
                begg += bool(begg_test(res, force=True).pval < alpha)
            rate = egger / n_sims
            rows.append({"scenario": scenario, "k": k, "egger": rate, "egger_sqrtninv": egger_n / n_sims,
                         "begg": begg / n_sims, "egger_mcse": math.sqrt(rate * (1 - rate) / n_sims)})
    return EggerPower(seed, n_sims, alpha, measure, float(p), float(tau2), float(publish_prob), k_values,
                      pd.DataFrame(rows))


# ------------------------------------------------------------------------------------ 6. sensitivity


@dataclass(frozen=True)
class Influence:
    """Leave-one-out read for the reader: the study whose omission moves the estimate most (``label``,
    ``shift_pp`` signed, in points), the range of the leave-one-out estimates (0–1), how many leave-one-out CIs
    exclude the full estimate, and τ²/I² with and without the most influential study."""

    label: str
    shift_pp: float
    low: float
    high: float
    full: float
    excluding_full: int
    tau2_full: float
    tau2_without: float
    i2_full: float
    i2_without: float
    table: pd.DataFrame


def influence_summary(res: MetaResult) -> Influence:
    """Summarise :func:`~livingreview.engine.sensitivity.leave_one_out` of a fitted model (k ≥ 2)."""
    from livingreview.engine.sensitivity import leave_one_out
    loo = leave_one_out(res)
    full = res.proportion().estimate
    shift = 100 * (np.asarray(loo.prop_estimate) - full)
    i = int(np.argmax(np.abs(shift)))
    excl = int(np.sum((np.asarray(loo.prop_ci_low) > full) | (np.asarray(loo.prop_ci_high) < full)))
    table = pd.DataFrame({"omitted": loo.label, "estimate": loo.prop_estimate, "ci_low": loo.prop_ci_low,
                          "ci_high": loo.prop_ci_high, "shift_pp": shift, "tau2": loo.tau2, "i2": loo.i2})
    return Influence(loo.label[i], float(shift[i]), float(np.min(loo.prop_estimate)),
                     float(np.max(loo.prop_estimate)), float(full), excl, float(res.tau2), float(loo.tau2[i]),
                     float(res.i2), float(loo.i2[i]), table)


def specification_grid(xi, ni, spec: Spec = PRIMARY, measures=MEASURES, methods=("DL", "REML", "PM", "ML")) -> pd.DataFrame:
    """The pooled proportion under every measure × τ² estimator (the spec's test and PI), plus the GLMM.

    Columns: ``measure, method, estimate, ci_low, ci_high, tau2, i2`` (0–1 scale; τ² on the measure's own
    scale, so not comparable across measures), ``primary`` (the spec's own cell)."""
    from livingreview.engine.glmm import rma_glmm
    rows = []
    for measure in measures:
        es = escalc(measure, xi, ni)
        for method in methods:
            res = rma(es, method=method, test=spec.test, pi_dist=spec.pi_dist, level=spec.level)
            p = res.proportion()
            rows.append({"measure": measure, "method": method, "estimate": p.estimate, "ci_low": p.ci_low,
                         "ci_high": p.ci_high, "tau2": res.tau2, "i2": res.i2,
                         "primary": measure == spec.measure and method == spec.method})
    g = rma_glmm(xi, ni, level=spec.level)
    gp = g.proportion()
    rows.append({"measure": "GLMM", "method": "ML", "estimate": gp.estimate, "ci_low": gp.ci_low,
                 "ci_high": gp.ci_high, "tau2": g.tau2, "i2": g.i2, "primary": False})
    return pd.DataFrame(rows)
