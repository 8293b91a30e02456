"""Small-study / publication-bias analyses of a fitted model, as R metafor 3.8-1 does them.

- :func:`egger_test`  mirrors ``regtest(res, model="lm", predictor="sei")`` (classical Egger test).
- :func:`begg_test`   mirrors ``ranktest(res)`` (Begg & Mazumdar rank correlation, ``cor.test(method="kendall")``).
- :func:`trimfill`    mirrors ``trimfill(res, estimator="L0"/"R0", side=)`` (Duval & Tweedie trim-and-fill).

All three refuse to run below ``min_k`` = 10 studies unless ``force=True`` (Cochrane Handbook §13.3.5.4;
``meta::metabias(k.min=10)``): the result then has ``applicable=False``, a ``reason`` and NaN numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from .effects import EffectSizes
from .metareg import fit_uni
from .model import MetaResult, rma

MIN_K = 10
EXACT_KENDALL_MAX_K = 171  # R's exact Kendall p divides by gamma(k + 1), which overflows from k = 171
NAN = float("nan")


# With every estimate equal, the regression slope and the rank correlation are 0/0: metafor reports whatever
# the rounding error of its arithmetic gives (e.g. a t value of 1e16), the engine says why there is no test.
IDENTICAL = "not estimable: every study has the same estimate (the test is 0/0; metafor reports rounding error)"


def _refusal(k: int, min_k: int, force: bool) -> str:
    """Empty string when the test may run, else why not."""
    if k < min_k and not force:
        return f"not applicable, k < {min_k}"
    return ""


# ---------------------------------------------------------------------------------------------- Egger


@dataclass(frozen=True)
class EggerResult:
    """Classical Egger test: weighted (1/vi) least squares of yi on the predictor, t-test of the slope.

    ``intercept`` is b0 — with predictor "sei" the "limit estimate" (expected effect of a study with SE 0),
    with its t(k−2) interval ``ci_low``/``ci_high``. ``slope``/``se``/``t``/``pval`` test funnel asymmetry
    on ``df`` = k − 2. ``line_x``/``line_y`` are the fitted line from predictor 0 to its largest observed
    value, for drawing on a funnel plot (x = SE when predictor is "sei").
    """

    k: int
    applicable: bool
    reason: str
    predictor: str
    intercept: float
    intercept_se: float
    ci_low: float
    ci_high: float
    slope: float
    se: float
    t: float
    df: int
    pval: float
    level: float
    line_x: np.ndarray
    line_y: np.ndarray

    @property
    def zval(self) -> float:  # metafor's name for the test statistic
        return self.t

    @property
    def limit_estimate(self) -> float:
        return self.intercept


def _predictor(res: MetaResult, predictor: str) -> np.ndarray:
    if predictor == "sei":
        return np.sqrt(res.es.vi)
    if predictor == "sqrtninv":
        return 1 / np.sqrt(np.asarray(res.es.ni, float))  # metafor uses the uncorrected ni (escalc's attr "ni")
    raise ValueError(f"unknown predictor {predictor!r}; choose 'sei' or 'sqrtninv'")


def egger_test(res: MetaResult, force: bool = False, min_k: int = MIN_K, predictor: str = "sei") -> EggerResult:
    """``metafor::regtest(res, model="lm", predictor=)``: ``lm(yi ~ X, weights=1/vi)``; the slope's t value on
    the residual df k − 2 is the test (the residual variance is estimated, as ``summary.lm`` does); b0 with a
    t(k−2) interval at ``res.level`` is the limit estimate. predictor "sei" is Egger's test; "sqrtninv"
    (1/√n) is not driven by the mechanical correlation of p and its SE (METHODS §3.5)."""
    k = res.k
    x = _predictor(res, predictor)
    reason = _refusal(k, min_k, force) or ("k < 3: no residual degrees of freedom" if k < 3 else "")
    if not reason and np.ptp(x) == 0:
        reason = f"all studies have the same {predictor}: the slope is not estimable"
    if not reason and np.ptp(res.es.yi) == 0:
        reason = IDENTICAL
    if reason:
        empty = np.array([])
        return EggerResult(k, False, reason, predictor, NAN, NAN, NAN, NAN, NAN, NAN, NAN, max(k - 2, 0), NAN,
                           res.level, empty, empty)

    y, v = np.asarray(res.es.yi, float), np.asarray(res.es.vi, float)
    sw = 1 / np.sqrt(v)
    X = np.column_stack([np.ones(k), x])
    # WLS as OLS on rows scaled by sqrt(w) (numerically what lm.wfit does via QR)
    beta, *_ = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)
    df = k - 2
    sigma2 = float(np.sum((sw * (y - X @ beta)) ** 2) / df)
    cov = sigma2 * np.linalg.inv((X * (sw**2)[:, None]).T @ X)
    se0, se1 = np.sqrt(np.diag(cov))
    t = float(beta[1] / se1)
    pval = float(2 * stats.t.sf(abs(t), df))
    crit = float(stats.t.ppf(1 - (1 - res.level) / 2, df))
    line_x = np.linspace(0.0, float(x.max()), 50)
    return EggerResult(k, True, "", predictor, float(beta[0]), float(se0), float(beta[0] - crit * se0),
                       float(beta[0] + crit * se0), float(beta[1]), float(se1), t, df, pval, res.level,
                       line_x, beta[0] + beta[1] * line_x)


# ---------------------------------------------------------------------------------------------- Begg


@dataclass(frozen=True)
class BeggResult:
    """Begg & Mazumdar rank correlation: Kendall's τ (τ-b) between standardised deviates and variances.

    ``exact`` tells whether the p-value is the exact permutation p (no ties and k ≤ 170, as
    ``cor.test(exact=TRUE)``) or the normal approximation with the tie-corrected variance (any tie in either
    variable, or k > 170); ``statistic`` is T (number of concordant pairs) or z accordingly.
    """

    k: int
    applicable: bool
    reason: str
    tau: float
    pval: float
    exact: bool
    ties: bool
    statistic: float


def _kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """``cor(x, y, method="kendall")``: τ-b = Σ sgn(Δx)sgn(Δy) / √((n0 − n1)(n0 − n2)) over pairs."""
    i, j = np.triu_indices(len(x), 1)
    sx, sy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    denom = np.sqrt(np.sum(sx != 0) * np.sum(sy != 0))
    return float(np.sum(sx * sy) / denom) if denom > 0 else NAN


def _pkendall(q: int, n: int) -> float:
    """P(T ≤ q) for T = number of concordant pairs among n untied pairs under independence, as R's
    C_pKendall: (Σ_{t≤q} c(t, n)) / n! with c the Mahonian (inversion-count) numbers, here exact integers.
    The float steps are R's, so its upper tail 1 − P(T ≤ q − 1) rounds as R's does (for tiny p both are
    off from the exact tail by up to 1e-16 absolute)."""
    if q < 0:
        return 0.0
    if q >= n * (n - 1) // 2:
        return 1.0
    counts = [1]
    for size in range(2, n + 1):  # c(·, size) = c(·, size − 1) convolved with (1, 1, …, 1) of length size
        prev = counts + [0] * (size - 1)
        run, counts = 0, []
        for t in range(len(prev)):
            run += prev[t] - (prev[t - size] if t >= size else 0)
            counts.append(run)
    return float(sum(counts[: q + 1])) / float(math.factorial(n))


def _ties(values: np.ndarray) -> np.ndarray:
    """Sizes of the tie groups (values that occur more than once), like R's ``table(x[duplicated(x)]) + 1``."""
    _, counts = np.unique(values, return_counts=True)
    return counts[counts > 1].astype(float)


def begg_test(res: MetaResult, force: bool = False, min_k: int = MIN_K) -> BeggResult:
    """``metafor::ranktest(res)``: Kendall's τ between (yi − θ̂_FE)/√(vi − 1/Σw) and vi, tested with
    ``cor.test(method="kendall", exact=TRUE)`` — exact p when neither variable has ties, otherwise R's normal
    approximation with tie-corrected variance, no continuity correction. From k = 171 (where k! overflows a
    double) the normal approximation is used without ties too: R's exact p is NaN there, metafor 3.8-1
    returns it, current metafor falls back to ``exact=FALSE`` — as here."""
    k = res.k
    reason = _refusal(k, min_k, force) or ("k = 1: no rank correlation" if k < 2 else "")
    if not reason and np.ptp(res.es.yi) == 0:
        reason = IDENTICAL
    if reason:
        return BeggResult(k, False, reason, NAN, NAN, False, False, NAN)

    y, v = np.asarray(res.es.yi, float), np.asarray(res.es.vi, float)
    w = 1 / v
    theta = np.sum(w * y) / np.sum(w)
    ystar = (y - theta) / np.sqrt(v - 1 / np.sum(w))
    r = _kendall_tau_b(ystar, v)
    ties = min(len(np.unique(ystar)), len(np.unique(v))) < k
    if not np.isfinite(r):
        return BeggResult(k, True, "Kendall's tau undefined (a variable is constant)", NAN, NAN, False, ties, NAN)
    if not ties and k < EXACT_KENDALL_MAX_K:
        q = int(np.round((r + 1) * k * (k - 1) / 4))
        p = 1 - _pkendall(q - 1, k) if q > k * (k - 1) / 4 else _pkendall(q, k)
        return BeggResult(k, True, "", r, min(2 * p, 1.0), True, False, float(q))
    tx, ty = _ties(ystar), _ties(v)
    n = k
    t0 = n * (n - 1) / 2
    s = r * np.sqrt((t0 - np.sum(tx * (tx - 1)) / 2) * (t0 - np.sum(ty * (ty - 1)) / 2))
    var_s = ((n * (n - 1) * (2 * n + 5) - np.sum(tx * (tx - 1) * (2 * tx + 5)) - np.sum(ty * (ty - 1) * (2 * ty + 5)))
             / 18 + np.sum(tx * (tx - 1)) * np.sum(ty * (ty - 1)) / (2 * n * (n - 1))
             + np.sum(tx * (tx - 1) * (tx - 2)) * np.sum(ty * (ty - 1) * (ty - 2)) / (9 * n * (n - 1) * (n - 2)))
    z = float(s / np.sqrt(var_s))
    p = 2 * min(stats.norm.cdf(z), stats.norm.sf(z))
    return BeggResult(k, True, "", r, float(p), False, ties, z)


# ---------------------------------------------------------------------------------------------- trim-and-fill


@dataclass(frozen=True)
class TrimFillResult:
    """Duval & Tweedie trim-and-fill (``metafor::trimfill``).

    ``k0`` studies estimated missing on ``side`` ("left"/"right"), ``se_k0`` its SE, ``p_k0`` (R0 only) the
    test of k0 = 0. ``yi_fill``/``vi_fill``/``ni_fill`` are the imputed studies (in metafor's order),
    ``res`` the model refitted to observed + imputed studies (the original model when k0 = 0), so
    ``res.estimate``/``res.proportion()`` are the adjusted results. ``yi_obs``/``vi_obs`` are the observed
    studies, for funnel plots. When not applicable, ``k0`` is a 0 placeholder, ``side`` None, ``res`` None.
    """

    k: int
    applicable: bool
    reason: str
    estimator: str
    side: str | None
    k0: int
    se_k0: float
    p_k0: float
    iterations: int
    yi_obs: np.ndarray
    vi_obs: np.ndarray
    yi_fill: np.ndarray
    vi_fill: np.ndarray
    ni_fill: np.ndarray
    res: MetaResult | None

    @property
    def estimate(self) -> float:
        return self.res.estimate if self.res is not None else NAN


def _metareg(y: np.ndarray, v: np.ndarray, x: np.ndarray, method: str,
             stepadj: float | None = None) -> tuple[float, float, float]:
    """(intercept, slope, τ²) of ``rma.uni(yi, vi, mods=x, method=, control=list(stepadj=))``
    (:func:`metareg.fit_uni`): trimfill uses the slope's sign for the side. Raises ValueError where metafor
    stops (k = 2 with a τ² estimator, a design not of full rank such as all-equal variances, Fisher scoring
    that does not converge with the step adjustment given)."""
    fit = fit_uni(y, v, np.column_stack([np.ones(len(y)), x]), method, stepadj=stepadj)
    return float(fit.beta[0]), float(fit.beta[1]), fit.tau2


def _with(es: EffectSizes, yi, vi, xi, ni, labels) -> EffectSizes:
    return replace(es, yi=np.asarray(yi, float), vi=np.asarray(vi, float), xi=np.asarray(xi, float),
                   ni=np.asarray(ni, float), labels=tuple(labels))


def _tf_refused(res: MetaResult, estimator: str, reason: str, side: str | None = None) -> TrimFillResult:
    empty = np.array([])
    return TrimFillResult(res.k, False, reason, estimator, side, 0, NAN, NAN, 0, np.asarray(res.es.yi, float),
                          np.asarray(res.es.vi, float), empty, empty, empty, None)


def trimfill(res: MetaResult, estimator: str = "L0", side: str | None = None, force: bool = False,
             min_k: int = MIN_K, maxiter: int = 100, test: str | None = None) -> TrimFillResult:
    """``metafor::trimfill(res, estimator=, side=)`` for an intercept-only model.

    1. side (if None): sign of the slope of ``rma(yi, vi, mods=sqrt(vi), method=res.method)``; negative →
       studies missing on the right, otherwise on the left.
    2. Flip yi if right; sort ascending (stable); starting at k0 = 0 repeat until k0 is unchanged: refit to
       the k − k0 smallest, rank |yi − μ̂| (ties: first), sign the ranks, then
       L0 = (4·S_r − k(k+1))/(2k − 1) (S_r = sum of positive ranks) or R0 = k − (largest negative rank) − 1;
       k0 = max(0, round(·)).
    3. Fill: the k0 most extreme studies reflected about the last trimmed estimate (2μ̂ − yi, same vi, same
       ni), refit with ``res.method``.
    metafor refits with its default ``test="z"`` and 95% level whatever the model had (they are not passed
    on); here the refit keeps ``res.test``/``res.pi_dist``/``res.level`` unless ``test=`` is given.
    Filled studies have no counts (xi = NaN) and labels "Filled 1".."Filled k0" as in metafor.

    Never raises for data reasons: where metafor stops, the result has ``applicable=False`` and the reason —
    the side regression cannot be fitted (k = 2 with a τ² estimator; all variances equal, so √vi is
    constant: give ``side=``), the iteration does not settle in ``maxiter`` rounds, every study would be
    trimmed, or a refit does not converge. With one study left untrimmed, its "pooled" estimate is computed
    with metafor's own arithmetic, (chol2inv(chol(w))·w)·y: the rounding of that product decides whether the
    study counts as above or below itself, and so whether metafor stops (k0 = k) or answers. With all
    estimates identical the result is not applicable too: there is no asymmetry, and metafor's side and k0
    there follow rounding error (or it stops).
    """
    estimator = str(estimator).upper()
    if estimator not in ("L0", "R0"):
        raise ValueError(f"unknown estimator {estimator!r}; choose 'L0' or 'R0'")
    if side is not None and side not in ("left", "right"):
        raise ValueError(f"side must be 'left', 'right' or None, got {side!r}")
    es, k = res.es, res.k
    y_obs, v_obs = np.asarray(es.yi, float), np.asarray(es.vi, float)
    empty = np.array([])
    reason = _refusal(k, min_k, force) or ("k = 1: nothing to trim" if k < 2 else "")
    if reason:
        return _tf_refused(res, estimator, reason)
    if np.ptp(y_obs) == 0:
        return _tf_refused(res, estimator, "not estimable: every study has the same estimate, so there is no "
                           "asymmetry to adjust (metafor's side and k0 here follow rounding error, or it stops)", side)

    if side is None:
        try:
            side = "right" if _metareg(y_obs, v_obs, np.sqrt(v_obs), res.method, res.stepadj)[1] < 0 else "left"
        except ValueError as err:
            return _tf_refused(res, estimator, f"not estimable: the side cannot be chosen, the regression of yi on "
                               f"√vi fails ({err}); give side='left' or 'right'")
    sgn = -1.0 if side == "right" else 1.0
    ys = sgn * y_obs
    order = np.argsort(ys, kind="stable")  # R: sort(index.return=TRUE) is stable
    ys, vs = ys[order], v_obs[order]
    ni_s = np.asarray(es.ni, float)[order]

    k0, k0_prev, it = 0, -1, 0
    beta = se_k0 = NAN
    while k0 != k0_prev:
        k0_prev, it = k0, it + 1
        if it > maxiter:
            return _tf_refused(res, estimator, f"not estimable: k0 did not settle in {maxiter} iterations (metafor: "
                               "'Trim and fill algorithm did not converge.')", side)
        keep = k - k0
        if keep == 1:  # metafor's arithmetic: β = (chol2inv(chol(w))·w)·y; its rounding decides the next sign
            u = 1 / np.sqrt(1 / vs[0])
            beta = float((u * u * (1 / vs[0])) * ys[0])
        else:
            trimmed = _with(es, ys[:keep], vs[:keep], np.full(keep, NAN), ni_s[:keep], [f"t{i}" for i in range(keep)])
            try:
                beta = rma(trimmed, method=res.method, stepadj=res.stepadj).estimate  # τ² unchanged by the flip
            except ValueError as err:
                return _tf_refused(res, estimator, f"not estimable: the model of the {keep} untrimmed studies "
                                   f"cannot be fitted ({err})", side)
        yc = ys - beta
        ranks = np.empty(k)
        ranks[np.argsort(np.abs(yc), kind="stable")] = np.arange(1, k + 1)  # rank(ties.method="first")
        signed = np.sign(yc) * ranks
        if estimator == "R0":
            neg = -signed[signed < 0]
            if not neg.size:  # metafor: max() of nothing is −Inf, k0 = Inf, and the next refit stops
                return _tf_refused(res, estimator, "not estimable: no study lies below the trimmed estimate, so R0 "
                                   "is infinite", side)
            k0_raw = k - neg.max() - 1
            se_k0 = np.sqrt(2 * max(0.0, k0_raw) + 2)
        else:
            sr = np.sum(signed[signed > 0])
            k0_raw = (4 * sr - k * (k + 1)) / (2 * k - 1)
            var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0_raw**3 + 27 * k0_raw**2 + 17 * k0_raw
                      - 18 * k * k0_raw**2 - 18 * k * k0_raw + 6 * k**2 * k0_raw) / 24
            with np.errstate(invalid="ignore"):  # var_sr < 0 happens; R's sqrt gives NaN (and a warning)
                se_k0 = 4 * np.sqrt(var_sr) / (2 * k - 1)
        k0 = int(max(0, np.round(k0_raw)))  # round half to even, as R (never hit: (2k − 1) is odd)
        se_k0 = float(se_k0) if np.isnan(se_k0) else max(0.0, float(se_k0))  # R: max(0, NaN) is NaN
        if k0 >= k:
            return _tf_refused(res, estimator, f"not estimable: k0 = {k0} would trim every study (metafor stops "
                               "when refitting no studies)", side)

    p_k0 = 0.5 ** (k0 + 1) if estimator == "R0" else NAN  # metafor: 1 − Σ_{m=−1}^{k0−1} 0.5^(m+2)
    if k0 == 0:
        return TrimFillResult(k, True, "", estimator, side, 0, se_k0, p_k0, it, y_obs, v_obs, empty, empty, empty,
                              res)

    tail = slice(k - k0, k)
    yi_fill = sgn * (2 * beta - ys[tail])  # reflect about the trimmed estimate, back on the original scale
    vi_fill, ni_fill = vs[tail], ni_s[tail]
    filled = _with(es, np.concatenate([y_obs, yi_fill]), np.concatenate([v_obs, vi_fill]),
                   np.concatenate([np.asarray(es.xi, float), np.full(k0, NAN)]),
                   np.concatenate([np.asarray(es.ni, float), ni_fill]),
                   list(es.labels) + [f"Filled {i + 1}" for i in range(k0)])
    try:
        refit = rma(filled, method=res.method, test=test or res.test, pi_dist=res.pi_dist, level=res.level,
                    stepadj=res.stepadj)
    except ValueError as err:
        return _tf_refused(res, estimator, f"not estimable: the model with {k0} filled studies cannot be fitted "
                           f"({err})", side)
    return TrimFillResult(k, True, "", estimator, side, k0, se_k0, p_k0, it, y_obs, v_obs, yi_fill, vi_fill, ni_fill,
                          refit)
