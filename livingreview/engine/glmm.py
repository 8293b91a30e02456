"""Binomial–normal random-intercept model for single proportions, as ``metafor::rma.glmm(measure="PLO")``.

Model: xᵢ ~ Bin(nᵢ, expit(μ + uᵢ)), uᵢ ~ N(0, τ²). metafor fits it by maximum likelihood with
``lme4::glmer(cbind(xi, ni - xi) ~ 1 + (1 | study), family=binomial, nAGQ=7)``; here the same marginal
likelihood is computed with adaptive Gauss–Hermite quadrature and maximised with scipy:

- per study, the conditional mode ûᵢ of the integrand (Newton), its curvature (the PIRLS weight), and
  ``n_agq`` Gauss–Hermite nodes centred on ûᵢ and scaled by the curvature — the same approximation glmer
  uses, so the ML estimates agree to optimiser precision;
- τ by Brent's method on the profile log-likelihood, μ by Brent's method for each τ;
- SE(μ̂) from the inverse of the observed information of the AGQ log-likelihood in (μ, τ) — glmer's
  ``vcov()`` inverts its finite-difference Hessian over (θ, β) and takes the β block, so it is *not*
  conditional on τ̂ (at τ̂ = 0 the two coincide);
- Wald z-test and CI, PI μ̂ ± z·√(SE² + τ²) as ``predict()`` (none for FE), back-transformed with
  ``transf.ilogit``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize, stats
from scipy.special import expit, gammaln, logsumexp

from .effects import escalc
from .model import Proportion

TAU_MAX = 50.0     # upper end of the τ search on the logit scale (glmer finds τ ≈ 15 when most studies are 0 or n)
# Beyond τ ≈ 2 the 7-node AGQ likelihood can have several local maxima in μ (and in the profile over τ): there
# each search starts from the best point of a grid (τ: denser near 0, where most estimates lie).
TAU_GRID = np.array([0.0, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50.0])
MULTIMODAL_TAU = 2.0
MU_GRID = 41
XTOL = 1e-10       # Brent tolerance for μ and τ
NEWTON_TOL = 1e-13  # conditional modes
HESS_STEP = 1e-4   # central-difference step for the observed information (glmer's deriv12 uses 1e-4 too)
NAN = float("nan")


@dataclass(frozen=True)
class GlmmResult:
    """``rma.glmm(measure="PLO")`` result on the logit scale; ``proportion()`` back-transforms.

    ``method`` is "ML" (random effects) or "FE" (τ² = 0: plain logistic regression, the fallback).
    ``loglik`` is the full binomial marginal log-likelihood (with the binomial coefficients).
    Heterogeneity as metafor: ``qe_lrt`` = 2(ℓ_saturated − ℓ_FE) and ``qe_wald`` (Wald test of the saturated
    model; studies with 0 or n events carry no information in it) on ``qe_df`` = k − 1 df; ``i2``/``h2`` from
    τ² and the typical within-study variance of the continuity-corrected logits (metafor's vt).
    ``estimable`` is False (with the ``reason``; every estimate NaN) where no finite maximum-likelihood fit
    exists or lme4 refuses the data, as metafor's ``rma.glmm`` stops there.
    """

    xi: np.ndarray
    ni: np.ndarray
    labels: tuple[str, ...]
    method: str
    level: float
    n_agq: int
    k: int
    estimate: float
    se: float
    zval: float
    pval: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    tau2: float
    tau: float
    converged: bool
    loglik: float
    i2: float
    h2: float
    qe_wald: float
    qe_lrt: float
    qe_df: int
    qe_p_wald: float
    qe_p_lrt: float
    notes: tuple[str, ...] = ()
    estimable: bool = True
    reason: str = ""

    def proportion(self) -> Proportion:
        """Estimate, CI and PI on the 0–1 scale (``predict(res, transf=transf.ilogit)``)."""
        vals = expit(np.array([self.estimate, self.ci_low, self.ci_high, self.pi_low, self.pi_high]))
        return Proportion(*(float(v) for v in vals))


def _gh(n_agq: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Hermite nodes for the standard normal density; log weights summing to 1."""
    z, w = np.polynomial.hermite_e.hermegauss(n_agq)
    return z, np.log(w / w.sum())


def _modes(mu, tau, x: np.ndarray, n: np.ndarray, u0: np.ndarray | None = None) -> np.ndarray:
    """Conditional modes of g(u) = x·η − n·log(1 + e^η) − u²/2, η = μ + τu, by Newton (g'' ≤ −1: concave).

    ``mu``/``tau`` may be arrays (one model per element; the result then has a trailing study axis); ``u0`` is a
    starting point (the modes of a nearby (μ, τ)), zeros by default."""
    mu, tau = np.asarray(mu, float)[..., None], np.asarray(tau, float)[..., None]
    shape = np.broadcast_shapes(mu.shape, tau.shape, x.shape)
    u = np.zeros(shape) if u0 is None or np.shape(u0) != shape else np.array(u0, float)

    def grad(u):
        return tau * (x - n * expit(mu + tau * u)) - u

    g1 = grad(u)
    for _ in range(200):
        p = expit(mu + tau * u)
        step = g1 / (tau**2 * n * p * (1 - p) + 1)
        new = u + step
        g_new = grad(new)
        noise = 64 * np.finfo(float).eps * (tau * n + np.abs(new))  # rounding level of g': not an overshoot
        worse = np.abs(g_new) > np.abs(g1) + noise
        for _ in range(50):  # damp the rare overshoot (g' is monotone, so halving always recovers)
            if not worse.any():
                break
            step = np.where(worse, step / 2, step)
            new = u + step
            g_new = grad(new)
            worse = worse & (np.abs(g_new) > np.abs(g1) + noise)
        u, g1 = new, g_new
        if np.max(np.abs(step)) < NEWTON_TOL * (1 + np.max(np.abs(u))):
            break
    return u


def _loglik(mu, tau, x, n, lchoose, nodes, logw, u0=None, want_modes: bool = False):
    """Adaptive Gauss–Hermite approximation of Σᵢ log ∫ Bin(xᵢ | nᵢ, expit(μ + τu)) φ(u) du (as glmer); a float,
    or an array when ``mu``/``tau`` are arrays (then evaluated for all of them at once)."""
    u = _modes(mu, tau, x, n, u0)
    mu_, tau_ = np.asarray(mu, float)[..., None], np.asarray(tau, float)[..., None]
    p = expit(mu_ + tau_ * u)
    sd = 1 / np.sqrt(tau_**2 * n * p * (1 - p) + 1)
    uk = u[..., None] + sd[..., None] * nodes
    eta = mu_[..., None] + tau_[..., None] * uk
    g = x[:, None] * eta - n[:, None] * np.logaddexp(0, eta) + lchoose[:, None] - uk**2 / 2
    out = np.sum(np.log(sd) + logsumexp(g + nodes**2 / 2 + logw, axis=-1), axis=-1)
    out = float(out) if out.ndim == 0 else out
    return (out, u) if want_modes else out


def _binom_ll(x, n, p) -> float:
    return float(np.sum(stats.binom.logpmf(x, n, p)))


def _hessian(f, a: float, b: float, h: float = HESS_STEP) -> np.ndarray:
    """Central-difference Hessian of f(a, b)."""
    f0 = f(a, b)
    faa = (f(a + h, b) - 2 * f0 + f(a - h, b)) / h**2
    fbb = (f(a, b + h) - 2 * f0 + f(a, b - h)) / h**2
    fab = (f(a + h, b + h) - f(a + h, b - h) - f(a - h, b + h) + f(a - h, b - h)) / (4 * h**2)
    return np.array([[faa, fab], [fab, fbb]])


def _polish(f, mu: float, tau: float, f0: float, h: float = 1e-5) -> tuple[float, float, float]:
    """A few Newton steps on (μ, τ) with central differences, kept only while f increases: Brent stops at
    ~1e-8 relative, this takes the optimum to ~1e-10."""
    for _ in range(3):
        g = np.array([f(mu + h, tau) - f(mu - h, tau), f(mu, tau + h) - f(mu, tau - h)]) / (2 * h)
        H = _hessian(f, mu, tau, h=10 * h)
        if not np.all(np.linalg.eigvalsh(-H) > 0):
            break
        step = np.linalg.solve(H, -g)
        new = (mu + step[0], abs(tau + step[1]))  # the likelihood is even in τ
        f_new = f(*new)
        if not f_new > f0:
            break
        (mu, tau), f0 = new, f_new
    return mu, tau, f0


def _maximise(f, lo: float, hi: float, grid=None, with_status: bool = False):
    """Maximise f on [lo, hi] by Brent's method. ``grid`` (f may have several modes): grid points, or (points,
    their f values); then Brent runs between the neighbours of the best point. Returns (x, f(x)) (and whether
    Brent converged)."""
    a, b, best = lo, hi, None
    if grid is not None:
        points, vals = grid if isinstance(grid, tuple) else (grid, np.array([f(g) for g in grid]))
        i = int(np.nanargmax(vals))
        a, b, best = points[max(i - 1, 0)], points[min(i + 1, len(points) - 1)], (float(points[i]), float(vals[i]))
    r = optimize.minimize_scalar(lambda t: -f(t), bounds=(a, b), method="bounded", options={"xatol": XTOL,
                                                                                            "maxiter": 500})
    x, fx = float(r.x), -float(r.fun)
    if best is not None and best[1] > fx:
        x, fx = best
    return (x, fx, bool(r.success)) if with_status else (x, fx)


def rma_glmm(xi, ni, labels=None, level: float = 0.95, n_agq: int = 7, method: str = "ML") -> GlmmResult:
    """``metafor::rma.glmm(measure="PLO", xi=, ni=, method=, nAGQ=n_agq)`` with test="z".

    ``method="ML"``: random-intercept logistic model by ML (AGQ); ``"FE"``: τ² = 0 (``glm``), used also as the
    fallback when k = 1 (metafor stops there: "Number of parameters to be estimated is larger than the number
    of observations"; the fallback is noted and ``method`` says "FE").

    Not estimable (``estimable=False``, a ``reason``, NaN estimates, never ±inf), where metafor stops with
    "Cannot fit ML model" or returns glmer's unconverged numbers:
    - every study has 0 events (or every study n events): the ML logit is −∞ (+∞);
    - ML, every study has 0 or n events, both present: the likelihood grows without bound in τ;
    - ML, every study has the same proportion: lme4 stops ("Response is constant"); the FE model applies.
    A τ that reaches the search limit gives ``converged=False`` with a note.
    """
    method = str(method).upper()
    method = "FE" if method in ("EE", "CE") else method
    if method not in ("ML", "FE"):
        raise ValueError(f"unknown method {method!r}; choose 'ML' or 'FE'")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if n_agq < 1:
        raise ValueError(f"n_agq must be >= 1, got {n_agq}")
    es = escalc("PLO", xi, ni, labels=labels)  # validates the counts; its corrected vi feed I² (as metafor)
    x, n, k = es.xi, es.ni, es.k
    notes: list[str] = []
    crit = float(stats.norm.ppf(1 - (1 - level) / 2))

    # heterogeneity: saturated vs common-proportion binomial models (metafor's QE.LRT and QE.Wld)
    p_fe = x.sum() / n.sum()
    ll_sat = _binom_ll(x, n, x / n)
    ll_fe = _binom_ll(x, n, p_fe)
    qe_df = k - 1
    inner = (x > 0) & (x < n)
    if k > 1:
        qe_lrt = max(0.0, 2 * (ll_sat - ll_fe))
        with np.errstate(divide="ignore"):
            w = 1 / (1 / x[inner] + 1 / (n[inner] - x[inner]))
            yl = np.log(x[inner] / (n[inner] - x[inner]))
        qe_wald = float(np.sum(w * (yl - np.sum(w * yl) / np.sum(w)) ** 2)) if inner.sum() > 1 else 0.0
        if not inner.all():
            m = int((~inner).sum())
            notes.append(f"{m} {'study' if m == 1 else 'studies'} with 0 or n events: no information in the Wald "
                         "heterogeneity test (glm's saturated fit gives them near-infinite variance)")
        qe_p_wald, qe_p_lrt = float(stats.chi2.sf(qe_wald, qe_df)), float(stats.chi2.sf(qe_lrt, qe_df))
        wv = 1 / es.vi
        vt = qe_df / (wv.sum() - np.sum(wv**2) / wv.sum())
    else:
        qe_lrt = qe_wald = qe_p_wald = qe_p_lrt = vt = NAN

    def result(method, mu, se, tau2, converged, loglik):
        zval = mu / se if np.isfinite(mu) and se > 0 else NAN
        half = crit * np.sqrt(se**2 + tau2) if method == "ML" else NAN  # predict(): no PI for FE models
        i2 = 100 * tau2 / (vt + tau2) if k > 1 else NAN
        return GlmmResult(x, n, es.labels, method, level, n_agq, k, float(mu), float(se), float(zval),
                          float(2 * stats.norm.sf(abs(zval))), float(mu - crit * se), float(mu + crit * se),
                          float(mu - half), float(mu + half), float(tau2), float(np.sqrt(tau2)), converged,
                          float(loglik), float(i2), float(1 + tau2 / vt) if k > 1 else NAN, float(qe_wald),
                          float(qe_lrt), qe_df, qe_p_wald, qe_p_lrt, tuple(notes))

    def not_estimable(reason):
        notes.append(reason)
        r = result(method, NAN, NAN, NAN, False, NAN)
        return replace(r, estimable=False, reason=reason, notes=tuple(notes))

    if x.sum() == 0 or x.sum() == n.sum():
        zero = x.sum() == 0
        return not_estimable(f"not estimable: every study has {'0' if zero else 'n'} events, so the "
                             f"maximum-likelihood logit is {'-' if zero else '+'}inf (metafor: 'Cannot fit ML model')")
    if method == "ML" and k > 1 and not inner.any():
        return not_estimable("not estimable: every study has 0 or n events, so the likelihood keeps growing with τ "
                             "(no finite ML estimate; metafor returns glmer's unconverged numbers)")
    if method == "ML" and k > 1 and np.ptp(x / n) == 0:
        return not_estimable("not estimable: every study has the same proportion; lme4 stops ('Response is "
                             "constant') and so does metafor's rma.glmm. The common-proportion model (method='FE') "
                             "applies")

    mu_fe = float(np.log(p_fe / (1 - p_fe)))
    se_fe = float(np.sqrt(1 / x.sum() + 1 / (n.sum() - x.sum())))  # glm: 1/√(Σ nᵢ p̂(1 − p̂))
    if method == "FE" or k == 1:
        if method == "ML":
            notes.append("k = 1: τ² cannot be estimated; fixed-effect (τ² = 0) logistic fit returned "
                         "(metafor's rma.glmm stops with an error)")
        return result("FE", mu_fe, se_fe, 0.0, True, ll_fe)

    lchoose = gammaln(n + 1) - gammaln(x + 1) - gammaln(n - x + 1)
    nodes, logw = _gh(n_agq)

    def ll(mu, tau):
        return _loglik(mu, tau, x, n, lchoose, nodes, logw)

    warm = {"u": None}

    def ll_search(mu, tau):  # during the search, each evaluation starts Newton at the previous modes
        value, warm["u"] = _loglik(mu, tau, x, n, lchoose, nodes, logw, u0=warm["u"], want_modes=True)
        return value

    def best_mu(tau):
        half = 15 + 5 * tau  # the optimal μ moves away from the pooled logit as τ grows (≈ 2τ when most are 0/n)
        values = None
        if tau > MULTIMODAL_TAU:
            grid = np.linspace(mu_fe - half, mu_fe + half, MU_GRID)
            values = (grid, _loglik(grid, tau, x, n, lchoose, nodes, logw))
        return _maximise(lambda m: ll_search(m, tau), mu_fe - half, mu_fe + half, values)

    tau, _, converged = _maximise(lambda t: best_mu(t)[1], 0.0, TAU_MAX, TAU_GRID, with_status=True)
    mu, ll_hat = best_mu(tau)
    mu, tau, ll_hat = _polish(ll, mu, tau, ll_hat)
    if ll_fe >= ll_hat or tau < 1e-6:  # the profile is even in τ and flat at 0: take the boundary if it is as good
        tau, mu, ll_hat = 0.0, mu_fe, ll_fe  # at τ = 0 the AGQ likelihood is exactly the binomial one
    if tau > TAU_MAX * 0.999:
        converged = False
        notes.append(f"τ reached the search limit {TAU_MAX}: the fit did not converge")

    if tau == 0.0:
        notes.append("τ² estimated at the boundary 0: the GLMM reduces to the fixed-effect (common-proportion) "
                     "logistic model")
        se = se_fe  # the likelihood is even in τ, so the cross term vanishes: SE is the FE one
    else:
        H = _hessian(ll, mu, tau)
        info = -H
        if np.all(np.linalg.eigvalsh(info) > 0):
            se = np.sqrt(np.linalg.inv(info)[0, 0])
        else:
            converged = False
            se = 1 / np.sqrt(-H[0, 0])
            notes.append("observed information not positive definite: SE conditional on τ̂ (as glmer's fallback)")
    return result("ML", mu, float(se), tau**2, converged, ll_hat)
