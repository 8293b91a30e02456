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
from scipy import optimize, stats

from .effects import EffectSizes
from .model import MetaResult, rma

MIN_K = 10
NAN = float("nan")


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

    ``exact`` tells whether the p-value is the exact permutation p (no ties, as ``cor.test(exact=TRUE)``) or
    the normal approximation with the tie-corrected variance (any tie in either variable); ``statistic`` is
    T (number of concordant pairs) or z accordingly.
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
    ``cor.test(method="kendall", exact=TRUE)`` — exact p when neither variable has ties (any k; metafor 3.8-1
    has no large-k fallback), otherwise R's normal approximation with tie-corrected variance, no continuity
    correction."""
    k = res.k
    reason = _refusal(k, min_k, force) or ("k < 3: no rank correlation" if k < 3 else "")
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
    if not ties:
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
    return BeggResult(k, True, "", r, float(p), False, True, z)


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


def _metareg(y: np.ndarray, v: np.ndarray, x: np.ndarray, method: str) -> tuple[float, float, float]:
    """(intercept, slope, τ²) of ``rma.uni(yi, vi, mods=x, method=)``: τ² of the meta-regression by the same
    estimator, then weighted least squares with w = 1/(v + τ²). trimfill uses the slope's sign for the side.

    P = W − WX(X'WX)⁻¹X'W enters only through P·y, tr(P) and tr(P²), computed here from p × p matrices, so
    the cost is linear in k (the k × k matrix P is never formed)."""
    X = np.column_stack([np.ones(len(y)), x])
    k, p = X.shape

    def parts(tau2):
        w = 1 / (v + tau2)
        Xw = X * w[:, None]
        xtwx_inv = np.linalg.inv(Xw.T @ X)
        return w, Xw, xtwx_inv

    def p_y(w, Xw, A):
        return w * y - Xw @ (A @ (Xw.T @ y))

    def trace_p(w, Xw, A):
        return np.sum(w) - np.trace(A @ (Xw.T @ Xw))

    def fisher(reml: bool) -> float:  # metafor's Fisher scoring, with step halving at 0
        tau2 = max(0.0, dl())
        for _ in range(10000):
            w, Xw, A = parts(tau2)
            Py = p_y(w, Xw, A)
            if reml:
                B = Xw.T @ Xw  # X'W²X
                C = (Xw * w[:, None]).T @ Xw  # X'W³X
                AB = A @ B
                trace_pp = np.sum(w**2) - 2 * np.trace(A @ C) + np.trace(AB @ AB)  # tr(P²) = Σ P_ij²
                adj = (Py @ Py - trace_p(w, Xw, A)) / trace_pp
            else:
                adj = (Py @ Py - np.sum(w)) / np.sum(w**2)
            while tau2 + adj < 0:
                adj /= 2
            tau2, old = tau2 + adj, tau2
            if abs(tau2 - old) < 1e-12:
                break
        return max(0.0, tau2)

    def dl() -> float:
        w, Xw, A = parts(0.0)
        return max(0.0, (y @ p_y(w, Xw, A) - (k - p)) / trace_p(w, Xw, A))

    if method == "FE" or k <= p:
        tau2 = 0.0
    elif method == "DL":
        tau2 = dl()
    elif method in ("REML", "ML"):
        tau2 = fisher(method == "REML")
    elif method == "PM":
        qe = lambda t: float(y @ p_y(*parts(t))) - (k - p)  # noqa: E731 — generalised Q_E(τ²) = k − p
        if qe(0.0) < 0:
            tau2 = 0.0
        else:
            hi = 100.0
            while qe(hi) > 0:
                hi *= 10
            tau2 = optimize.brentq(qe, 0.0, hi, xtol=1e-15)
    else:
        raise ValueError(f"trim-and-fill side selection: unsupported method {method!r}")
    w, Xw, A = parts(tau2)
    beta = A @ Xw.T @ y
    return float(beta[0]), float(beta[1]), float(tau2)


def _with(es: EffectSizes, yi, vi, xi, ni, labels) -> EffectSizes:
    return replace(es, yi=np.asarray(yi, float), vi=np.asarray(vi, float), xi=np.asarray(xi, float),
                   ni=np.asarray(ni, float), labels=tuple(labels))


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
        return TrimFillResult(k, False, reason, estimator, None, 0, NAN, NAN, 0, y_obs, v_obs, empty, empty, empty,
                              None)

    if side is None:
        side = "right" if _metareg(y_obs, v_obs, np.sqrt(v_obs), res.method)[1] < 0 else "left"
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
            raise RuntimeError(f"trim-and-fill did not converge in {maxiter} iterations")
        keep = k - k0
        trimmed = _with(es, ys[:keep], vs[:keep], np.full(keep, NAN), ni_s[:keep], [f"t{i}" for i in range(keep)])
        beta = rma(trimmed, method=res.method).estimate  # τ² is unchanged by the flip, μ̂ changes sign
        yc = ys - beta
        ranks = np.empty(k)
        ranks[np.argsort(np.abs(yc), kind="stable")] = np.arange(1, k + 1)  # rank(ties.method="first")
        signed = np.sign(yc) * ranks
        if estimator == "R0":
            neg = -signed[signed < 0]
            k0_raw = k - (neg.max() if neg.size else 0.0) - 1
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
    refit = rma(filled, method=res.method, test=test or res.test, pi_dist=res.pi_dist, level=res.level)
    return TrimFillResult(k, True, "", estimator, side, k0, se_k0, p_k0, it, y_obs, v_obs, yi_fill, vi_fill, ni_fill,
                          refit)
