"""Random- and fixed-effects pooling of one set of effect sizes, as ``metafor::rma.uni()`` 3.8-1 does it.

``rma()`` mirrors ``rma(yi, vi, method=, test=, level=)`` for an intercept-only model, plus
``predict(res, pi.type=)`` for the prediction interval and ``weights(res)`` for the study weights.
Everything in :class:`MetaResult` is on the transformed (measure) scale; ``proportion()`` back-transforms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from .effects import EffectSizes, back_transform
from .options import checked_model_options

# Fisher scoring (REML/ML) stops when |Δτ²| < THRESHOLD, as metafor's control=list(threshold=); metafor's
# default is 1e-5, the oracle runs both sides at 1e-12. LL0_TOL is metafor's control$tol in its ll0 check.
THRESHOLD = 1e-12
MAXITER = 10000
LL0_TOL = 1e-12
# Step adjustments tried in turn when Fisher scoring does not converge (metafor's control=list(stepadj=)): 1 is
# metafor's default; the smaller steps damp the oscillation metafor's help suggests curing with stepadj = 0.5.
STEPADJ_RETRY = (1.0, 0.5, 0.25, 0.125)
PM_TAU2_LIMIT = 1e12  # Paule–Mandel: the bracket for the root is widened up to this τ², then the fit stops


class NotEstimableError(ValueError):
    """The data do not identify the model (e.g. an iterative estimator does not converge); metafor stops too."""


@dataclass(frozen=True)
class Proportion:
    """Pooled estimate, CI and PI back-transformed to the 0–1 proportion scale."""

    estimate: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float


@dataclass(frozen=True)
class MetaResult:
    """A fitted intercept-only model (``metafor::rma.uni``), transformed scale.

    Heterogeneity: ``i2`` and ``h2`` are τ²-based, as metafor and Stata ``meta summarize`` define them:
    ṽ = (k−1)Σw / ((Σw)² − Σw²) with w = 1/v, I² = 100·τ²/(τ² + ṽ), H² = 1 + τ²/ṽ. For FE models metafor
    uses the Q-based forms instead, and so do we. ``i2_q`` = 100·max(0, (Q − df)/Q) is the Q-based I² of
    R meta and Stata ``metan``/``metaprop`` (equal to ``i2`` under DL).

    ``test`` is the test actually used (metafor switches to "z" when k = 1); ``df`` is its degrees of
    freedom (NaN for z). ``weights`` are percent (sum 100). ``notes`` explain edge cases.
    """

    es: EffectSizes
    method: str
    test: str
    pi_dist: str
    level: float
    k: int
    estimate: float
    se: float
    zval: float
    pval: float
    ci_low: float
    ci_high: float
    crit: float
    df: float
    pi_low: float
    pi_high: float
    pi_crit: float
    pi_df: float
    tau2: float
    tau: float
    se_tau2: float
    i2: float
    h2: float
    i2_q: float
    q: float
    q_df: int
    q_p: float
    weights: np.ndarray
    notes: tuple[str, ...] = ()
    stepadj: float = 1.0  # the Fisher-scoring step adjustment that converged (metafor's control$stepadj)

    @property
    def tval(self) -> float:
        return self.zval

    def proportion(self) -> Proportion:
        """Estimate, CI and PI on the 0–1 scale (``predict(res, transf=...)``); PFT uses the harmonic mean
        of the study ni (``transf.ipft.hm``)."""
        vals = back_transform(self.es.measure, [self.estimate, self.ci_low, self.ci_high, self.pi_low,
                                                self.pi_high], ni=self.es.ni)
        return Proportion(*(float(v) for v in vals))


def _check_inputs(es: EffectSizes) -> None:
    if es.k == 0:
        raise ValueError("no studies (k = 0): there is nothing to pool")
    bad = ~np.isfinite(es.yi) | ~np.isfinite(es.vi)
    if bad.any():
        names = [es.labels[i] for i in np.flatnonzero(bad)]
        raise ValueError(f"non-finite effect size or variance for {names} (measure {es.measure}, add={es.add}): "
                         "use a continuity correction (add > 0) or another measure")
    zero = es.vi <= 0
    if zero.any():
        names = [es.labels[i] for i in np.flatnonzero(zero)]
        raise ValueError(f"sampling variance v = 0 for {names} (measure {es.measure}, add={es.add}): the "
                         "inverse-variance weight would be infinite; use a continuity correction (add > 0), "
                         "or PAS/PFT")


def _wmean(y, w):
    return float(np.sum(w * y) / np.sum(w))


def _q(y, v, tau2=0.0) -> float:
    """Σ w(y − ȳ_w)² with w = 1/(v + τ²): Cochran's Q at τ² = 0, the generalised Q otherwise."""
    w = 1 / (v + tau2)
    return float(np.sum(w * (y - _wmean(y, w)) ** 2))


def _tau2_dl(y, v) -> float:
    w = 1 / v
    tr_p = w.sum() - np.sum(w**2) / w.sum()
    return max(0.0, (_q(y, v) - (len(y) - 1)) / tr_p)


def _pm_root(qe, target: float) -> float:
    """Paule–Mandel: the root of the generalised Q_E(τ²) = ``target`` (k − p), 0 if Q_E(0) < target (metafor:
    uniroot on [0, tau2.max]; the bracket is widened from metafor's tau2.max = 100 up to PM_TAU2_LIMIT)."""
    if qe(0.0) < target:
        return 0.0
    hi = 100.0
    while qe(hi) > target:
        hi *= 10
        if hi > PM_TAU2_LIMIT:
            raise NotEstimableError(f"Paule–Mandel: Q(τ²) > k − p even at τ² = {PM_TAU2_LIMIT:g}; no root "
                                    "(metafor: \"Value of 'tau2.max' too low\")")
    return optimize.brentq(lambda t: qe(t) - target, 0.0, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps,
                           maxiter=1000)


def _tau2_pm(y, v) -> float:
    return _pm_root(lambda t: _q(y, v, t), len(y) - 1)


def _loglik(y, v, tau2, reml: bool) -> float:
    w = 1 / (v + tau2)
    rss = np.sum(w * (y - _wmean(y, w)) ** 2)
    k = len(y)
    if reml:
        return -0.5 * (k - 1) * np.log(2 * np.pi) - 0.5 * np.sum(np.log(v + tau2)) - 0.5 * np.log(w.sum()) - 0.5 * rss
    return -0.5 * k * np.log(2 * np.pi) - 0.5 * np.sum(np.log(v + tau2)) - 0.5 * rss


def _fisher_scoring(y, v, reml: bool, stepadj: float) -> float | None:
    """metafor's Fisher scoring for ML/REML, step for step (same start, step × ``stepadj``, halving at τ² = 0,
    at most MAXITER iterations); None if it does not converge."""
    k = len(y)
    tau2 = max(0.0, (np.sum((y - y.mean()) ** 2) - np.sum(v) * (1 - 1 / k)) / (k - 1))  # Hedges-type start
    for it in range(1, MAXITER + 2):
        old = tau2
        w = 1 / (v + tau2)
        sw, sw2 = w.sum(), np.sum(w**2)
        ypp = np.sum((w * (y - np.sum(w * y) / sw)) ** 2)  # Y'PPY
        if reml:
            tr_p = sw - sw2 / sw
            tr_pp = sw2 - 2 * np.sum(w**3) / sw + sw2**2 / sw**2
            adj = (ypp - tr_p) / tr_pp * stepadj
        else:
            adj = (ypp - sw) / sw2 * stepadj
        if not np.isfinite(adj):
            adj = 0.0
        while tau2 + adj < 0:  # halve the step rather than leave the parameter space
            adj /= 2
        tau2 = tau2 + adj
        if it > MAXITER:  # metafor: the (maxiter + 1)-th iteration ends the loop unconverged
            return None
        if abs(old - tau2) <= THRESHOLD:
            return tau2
    return None


def _with_step_retry(fit_once, method: str, stepadj: float | None) -> tuple[float, float]:
    """(τ², step adjustment) from ``fit_once(step)`` (None when unconverged): ``stepadj=None`` tries
    :data:`STEPADJ_RETRY` in turn (1 first, so wherever metafor's default converges the result is metafor's);
    a number runs that step adjustment only."""
    tries = STEPADJ_RETRY if stepadj is None else (float(stepadj),)
    for step in tries:
        tau2 = fit_once(step)
        if tau2 is not None:
            return tau2, step
    raise NotEstimableError(
        f"Fisher scoring for {method} did not converge in {MAXITER} iterations (step adjustment "
        f"{', '.join(f'{t:g}' for t in tries)}); metafor stops too ('Fisher scoring algorithm did not "
        "converge'): use method='DL' or 'PM'")


def _step_note(method: str, used: float) -> str:
    return (f"Fisher scoring for {method} oscillated with metafor's default step and converged with step "
            f"adjustment {used:g} (metafor: control=list(stepadj={used:g}); its default stops)")


def _tau2_fisher(y, v, reml: bool, stepadj: float | None = None) -> tuple[float, float]:
    """(τ², step adjustment used), with metafor's ll0 check."""
    tau2, step = _with_step_retry(lambda s: _fisher_scoring(y, v, reml, s), "REML" if reml else "ML", stepadj)
    # metafor's ll0 check: never return a τ² with a lower likelihood than τ² = 0
    if _loglik(y, v, 0.0, reml) - _loglik(y, v, tau2, reml) > LL0_TOL and tau2 > THRESHOLD:
        tau2 = 0.0
    return max(0.0, tau2), step


def _se_tau2(method: str, y, v, tau2) -> float:
    k = len(y)
    if method == "ML":
        return float(np.sqrt(2 / np.sum((1 / (v + tau2)) ** 2)))
    if method == "REML":
        w = 1 / (v + tau2)
        sw, sw2 = w.sum(), np.sum(w**2)
        return float(np.sqrt(2 / (sw2 - 2 * np.sum(w**3) / sw + sw2**2 / sw**2)))
    if method == "DL":
        w = 1 / v
        sw, sw2 = w.sum(), np.sum(w**2)
        tr_p, tr_pp = sw - sw2 / sw, sw2 - 2 * np.sum(w**3) / sw + sw2**2 / sw**2
        return float(np.sqrt((2 * (k - 1) + 4 * tau2 * tr_p + 2 * tau2**2 * tr_pp) / tr_p**2))
    if method == "PM":
        return float(np.sqrt(2 * k**2 / (k - 1) / np.sum(1 / (v + tau2)) ** 2))
    return float("nan")


def rma(es: EffectSizes, method: str = "REML", test: str = "z", pi_dist: str = "t2", level: float = 0.95, *,
        stepadj: float | None = None, mods=None, **mods_options):
    """Fit ``metafor::rma(yi, vi, method=, test=, level=)`` (intercept only) and its prediction interval.

    With ``mods`` (moderators) this is a meta-regression, ``rma(yi, vi, mods=~…)``: see
    :func:`livingreview.engine.metareg.meta_regression`, which receives ``mods_options`` and returns a
    ``MetaRegression``. Without ``mods`` the result is a :class:`MetaResult`, as before.

    - ``method``: "FE" (alias "EE"), "DL" (truncated at 0), "REML", "ML" (Fisher scoring to |Δτ²| < 1e-12,
      step halving at the τ² = 0 boundary, as metafor), "PM" (root of Q(τ²) = k − 1, 0 if Q(0) < k − 1).
    - ``test``: "z"; "t" (t(k−1)); "knha" (Hartung–Knapp–Sidik–Jonkman: Var(μ̂) · Σw*(y−μ̂)²/(k−1), t(k−1));
      "adhoc" (as knha with the factor floored at 1).
    - ``pi_dist`` (prediction interval μ̂ ± c·√(SE² + τ²), SE from the chosen test, as ``predict.rma``):
      "z" normal; "t1" t(k−1) (metafor ``pi.type="t"``); "t2" t(k−2) (Higgins 2009; metafor
      ``pi.type="riley"``). Where the df would be < 1 the PI is NaN with a note; metafor 3.8-1 silently
      uses df = 1 there (k = 2 with t2, k = 1 with t1/t2). FE models have no PI (NaN), as in ``predict.rma``.
    - k = 1: τ² = 0, Q = 0 on 0 df, Q p = 1, I² = 0, H² = 1 and test "z", all as metafor.
    - ``stepadj`` (metafor's ``control=list(stepadj=)``, REML/ML only): None (default) runs metafor's Fisher
      scoring with step 1 and, only if that does not converge in MAXITER iterations, again with steps 0.5,
      0.25, 0.125 (noted in ``notes``; metafor's default stops there); a number uses that step only.
    Raises ValueError for k = 0, v ≤ 0 (e.g. PR without continuity correction at x = 0) or non-finite y/v, and
    :class:`NotEstimableError` (a ValueError) when an estimator does not converge.
    """
    if mods is not None:
        from .metareg import meta_regression

        return meta_regression(es, mods, method=method, test=test, pi_dist=pi_dist, level=level, stepadj=stepadj,
                               **mods_options)
    if mods_options:
        raise TypeError(f"rma() got options for a meta-regression without mods: {sorted(mods_options)}")
    method = checked_model_options(method, test, pi_dist, level)
    _check_inputs(es)
    y, v, k = np.asarray(es.yi, float), np.asarray(es.vi, float), es.k
    notes: list[str] = []
    used = 1.0 if stepadj is None else float(stepadj)

    if k == 1:
        notes.append("k = 1: no heterogeneity can be estimated (τ² = 0, Q = 0 on 0 df; I² = 0, H² = 1 as metafor "
                     "reports them)")
        if test != "z":
            notes.append(f"k = 1: test '{test}' needs k ≥ 2; the z-test was used (as metafor)")
            test = "z"
        tau2 = 0.0
    elif method == "FE":
        tau2 = 0.0
    elif method == "DL":
        tau2 = _tau2_dl(y, v)
    elif method == "PM":
        tau2 = _tau2_pm(y, v)
    else:
        tau2, used = _tau2_fisher(y, v, reml=(method == "REML"), stepadj=stepadj)
        if used != 1.0 and stepadj is None:
            notes.append(_step_note(method, used))
    se_tau2 = _se_tau2(method, y, v, tau2) if k > 1 else float("nan")

    w = 1 / (v + tau2)
    mu = _wmean(y, w)
    vb = 1 / w.sum()
    if test in ("knha", "adhoc"):
        if method == "FE":
            notes.append(f"test '{test}' is not meant for FE models (metafor warns too)")
        rss = float(np.sum(w * (y - mu) ** 2))
        s2w = 0.0 if rss <= np.finfo(float).eps else rss / (k - 1)
        vb *= max(1.0, s2w) if test == "adhoc" else s2w
    se = float(np.sqrt(vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = np.float64(mu) / np.float64(se)  # se = 0 (knha, all y equal) gives nan/inf, as in R
    alpha = 1 - level
    if test == "z":
        df = float("nan")
        crit = float(stats.norm.ppf(1 - alpha / 2))
        pval = float(2 * stats.norm.sf(abs(zval)))
    else:
        df = float(k - 1)
        crit = float(stats.t.ppf(1 - alpha / 2, df))
        pval = float(2 * stats.t.sf(abs(zval), df))

    if k > 1:
        q = max(0.0, _q(y, v))
        q_df = k - 1
        q_p = float(stats.chi2.sf(q, q_df))
        w0 = 1 / v
        vt = q_df / (w0.sum() - np.sum(w0**2) / w0.sum())  # "typical" within-study variance ṽ
        with np.errstate(divide="ignore", invalid="ignore"):
            i2_q = float(max(0.0, 100 * (q - q_df) / q)) if q > 0 else 0.0
        if method == "FE":
            i2, h2 = i2_q, q / q_df
        else:
            i2, h2 = 100 * tau2 / (vt + tau2), 1 + tau2 / vt
    else:
        q, q_df, q_p, i2, h2, i2_q = 0.0, 0, 1.0, 0.0, 1.0, 0.0

    # prediction interval (predict.rma): SE² from the chosen test, plus τ²
    if method == "FE":
        pi_low = pi_high = pi_crit = pi_df = float("nan")
        notes.append("FE model: no prediction interval (metafor's predict() gives none)")
    else:
        pi_df = {"z": float("nan"), "t1": float(k - 1), "t2": float(k - 2)}[pi_dist]
        if pi_dist == "z":
            pi_crit = float(stats.norm.ppf(1 - alpha / 2))
        elif pi_df >= 1:
            pi_crit = float(stats.t.ppf(1 - alpha / 2, pi_df))
        else:
            pi_crit = float("nan")
            notes.append(f"k = {k}: the {pi_dist} prediction interval has {int(pi_df)} df and is undefined (NaN); "
                         "metafor 3.8-1 would silently use df = 1")
        half = pi_crit * np.sqrt(vb + tau2)
        pi_low, pi_high = mu - half, mu + half

    return MetaResult(
        es=es, method=method, test=test, pi_dist=pi_dist, level=level, k=k,
        estimate=mu, se=se, zval=float(zval), pval=pval, ci_low=mu - crit * se, ci_high=mu + crit * se,
        crit=crit, df=df, pi_low=float(pi_low), pi_high=float(pi_high), pi_crit=pi_crit, pi_df=pi_df,
        tau2=float(tau2), tau=float(np.sqrt(tau2)), se_tau2=se_tau2, i2=float(i2), h2=float(h2), i2_q=i2_q,
        q=float(q), q_df=int(q_df), q_p=q_p, weights=100 * w / w.sum(), notes=tuple(notes), stepadj=used,
    )
