"""Uncertainty about heterogeneity and about a new study, from a fitted model.

- :func:`confint_tau2` mirrors the random-effects part of ``confint(res)`` (``confint.rma.uni`` 3.8-1): the
  Q-profile confidence interval for τ², τ, I² and H²;
- :func:`predictive_probability`: the probability that a new study's proportion lies above (or below) a
  threshold, from the distribution behind the prediction interval (metafor has no such function; it is the
  tail area at the threshold of the distribution whose quantiles ``predict(res, pi.type=)`` reports).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from .effects import transform
from .metareg import MetaRegression, _parts, _trace_p
from .model import MetaResult

NAN = float("nan")


@dataclass(frozen=True)
class ConfintTau2:
    """Estimate and Q-profile CI of τ², τ, I² (percent) and H², each an (estimate, lower, upper) triple.

    ``lb_sign``/``ub_sign`` are metafor's markers: "<" when the bound is the lower end of the search interval
    (0) because even there Q is below the critical value, ">" when it is the upper end (the true bound lies
    beyond). ``ci_null`` is True when the whole interval is {0} (metafor prints "null").
    """

    level: float
    tau2: tuple[float, float, float]
    tau: tuple[float, float, float]
    i2: tuple[float, float, float]
    h2: tuple[float, float, float]
    lb_sign: str
    ub_sign: str
    ci_null: bool
    tau2_max: float


def _yvx(res):
    if isinstance(res, MetaRegression):
        if not res.applicable:
            raise ValueError(f"meta-regression not fitted: {res.reason}")
        return np.asarray(res.es.yi, float), np.asarray(res.es.vi, float), res.X, res.i2, res.h2
    if isinstance(res, MetaResult):
        return np.asarray(res.es.yi, float), np.asarray(res.es.vi, float), np.ones((res.k, 1)), res.i2, res.h2
    raise TypeError(f"needs a MetaResult or MetaRegression, got {type(res).__name__}")


def confint_tau2(res, level: float | None = None, tau2_max: float | None = None) -> ConfintTau2:
    """``confint(res)$random`` with metafor's default type "QP" (Q-profile; Viechtbauer 2007).

    The generalised Q_E(τ²) = y'P(τ²)y falls as τ² grows; the bounds solve Q_E(τ²) = χ²_{k−p} at 1 − α/2
    (lower bound) and at α/2 (upper bound), searched on [0, ``tau2_max``] (metafor: max(100, 10·τ̂²)). Where
    Q_E(0) is already below a critical value that bound is 0; where Q_E(tau2_max) is still above it, the
    bound is tau2_max (marked ">"). Roots to full double precision (metafor's default uniroot tolerance is
    ε^¼ ≈ 1.2e-4; the oracle runs it at 1e-12). I² and H² bounds use the model's typical within-study
    variance vt: I² = 100τ²/(vt + τ²), H² = 1 + τ²/vt. FE models and k = 1 raise, as metafor stops.
    """
    if res.method == "FE":
        raise ValueError("the model has no random-effects component (metafor: 'Model does not contain a "
                         "random-effects component.')")
    if res.k < 2:
        raise ValueError("CI for τ² needs k >= 2 (metafor: 'Stopped because k = 1.')")
    y, v, X, i2, h2 = _yvx(res)
    level = res.level if level is None else level
    k, p = X.shape
    tau2 = float(res.tau2)
    hi_end = max(100.0, 10 * tau2) if tau2_max is None else float(tau2_max)
    alpha = 1 - level
    crit_u = stats.chi2.isf(alpha / 2, k - p)  # the lower bound solves Q_E = crit_u
    crit_l = stats.chi2.ppf(alpha / 2, k - p)

    def qe(t):
        return float(y @ _parts(y, v, X, t)[3])

    q_lo, q_hi = qe(0.0), qe(hi_end)
    lb_sign = ub_sign = ""
    ci_null = False

    def root(target):
        return optimize.brentq(lambda t: qe(t) - target, 0.0, hi_end, xtol=1e-15, rtol=4 * np.finfo(float).eps,
                               maxiter=1000)

    if q_lo < crit_l:
        lb = ub = 0.0
        lb_sign = ub_sign = "<"
        ci_null = True
    else:
        if q_hi > crit_l:
            ub, ub_sign = hi_end, ">"
        else:
            ub = root(crit_l)
    if q_hi > crit_u:
        lb = ub = hi_end
        lb_sign = ub_sign = ">"
    elif q_lo < crit_u:
        lb = 0.0
    else:
        lb = root(crit_u)
    w0, Xw0, A0, _ = _parts(y, v, X, 0.0)
    vt = (k - p) / _trace_p(w0, Xw0, A0)  # the model's typical within-study variance (metafor's vt)
    bounds = (tau2, lb, ub)
    return ConfintTau2(level, bounds, tuple(math.sqrt(t) for t in bounds),
                       (i2, *(100 * t / (vt + t) for t in (lb, ub))), (h2, *(1 + t / vt for t in (lb, ub))),
                       lb_sign, ub_sign, ci_null, hi_end)


@dataclass(frozen=True)
class PredictiveProbability:
    """P(a new study's proportion is above/below ``threshold``) (``probability``), with the pieces: the
    threshold on the model's scale, the predictive mean μ̂ and scale √(SE² + τ²), and the distribution
    (``dist`` "z" or "t" with ``df``)."""

    threshold: float
    threshold_transformed: float
    direction: str
    probability: float
    mean: float
    scale: float
    dist: str
    df: float
    notes: tuple[str, ...] = ()


def predictive_probability(res: MetaResult, threshold: float, direction: str = "above") -> PredictiveProbability:
    """The probability that the true proportion of a new study exceeds (``direction="above"``) or falls below
    ``threshold`` (0–1), under the model's predictive distribution on the transformed scale:
    θ_new ~ μ̂ + √(SE² + τ²)·T, T standard normal (``pi_dist="z"``) or t with the PI's df (k − 1 for "t1",
    k − 2 for "t2") — the distribution whose quantiles are the prediction interval of ``res``.

    The threshold is moved to the model's scale with the measure's transform
    (:func:`~livingreview.engine.effects.transform`): logit (PLO), arcsine square root (PAS), identity (PR; any
    finite threshold, as raw-proportion PIs can leave [0, 1]), and for PFT the Freeman–Tukey transform at the
    harmonic mean n̄ of the study sizes, ``transf.pft(threshold, n̄)`` — the exact inverse of Miller's
    back-transform ``transf.ipft.hm`` used for the pooled estimate and the PI, so probability and PI agree (the
    threshold equals a PI bound exactly when the tail area is α/2). FE models have no PI and give NaN (noted),
    as do t PIs with < 1 df.
    """
    if direction not in ("above", "below"):
        raise ValueError(f"direction must be 'above' or 'below', got {direction!r}")
    thr = float(threshold)
    measure, ni = res.es.measure, np.asarray(res.es.ni, float)
    if not (0 <= thr <= 1 or (measure == "PR" and np.isfinite(thr))):
        raise ValueError(f"threshold must be a proportion in [0, 1], got {threshold}")
    t = float(transform(measure, thr, ni=ni))
    scale = math.sqrt(res.se**2 + res.tau2)
    notes = []
    if res.method == "FE":
        prob, dist, df = NAN, "none", NAN
        notes.append("FE model: no predictive distribution for a new study (no prediction interval)")
    elif res.pi_dist == "z":
        dist, df = "z", NAN
        prob = float(stats.norm.sf((t - res.estimate) / scale))
    elif res.pi_df >= 1:
        dist, df = "t", float(res.pi_df)
        prob = float(stats.t.sf((t - res.estimate) / scale, df))
    else:
        prob, dist, df = NAN, "t", float(res.pi_df)
        notes.append(f"the {res.pi_dist} predictive distribution has {int(res.pi_df)} df and is undefined")
    if direction == "below" and np.isfinite(prob):
        prob = 1 - prob
    return PredictiveProbability(thr, t, direction, prob, float(res.estimate), scale, dist, df, tuple(notes))
