"""Meta-regression (mixed-effects models with moderators), as ``metafor::rma.uni(yi, vi, mods=~…)`` 3.8-1.

:func:`meta_regression` (also reached as ``rma(es, mods=…)``) mirrors ``rma(yi, vi, mods=~x, method=, test=)``;
:func:`predict` mirrors ``predict(res, newmods=, transf=)``; :func:`regression_line` gives the fitted line
with its CI and PI over one moderator, as ``regplot(res, mod=)`` draws it.

The same fitting core, :func:`fit_uni`, refits any model (intercept-only or not) for the diagnostics in
:mod:`livingreview.engine.diagnostics`. P = W − WX(X'WX)⁻¹X'W enters only through P·y, tr(P) and tr(P²), computed
from p × p matrices, so the cost is linear in k (the k × k matrix P is never formed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .effects import EffectSizes, back_transform
from .model import LL0_TOL, MAXITER, THRESHOLD, _check_inputs, _pm_root, _step_note, _with_step_retry, rma
from .options import checked_model_options

MIN_PER_COVARIATE = 10  # studies per covariate (Cochrane Handbook §10.11.5.1; Harrer et al. ch. 8)
REDUNDANT_TOL = 1e-7    # R's lm() (dqrdc2) tolerance for aliased columns, which rma.uni drops
EVTOL = 1e-7            # rma.uni's control$evtol: smallest eigenvalue of X'X for a full-rank design
NAN = float("nan")


# ---------------------------------------------------------------------------------------------- the design


@dataclass(frozen=True)
class Term:
    """One moderator. ``kind`` is "numeric" (one column) or "factor" (one dummy column per level other than
    ``reference``, named ``name[level]``)."""

    name: str
    kind: str
    levels: tuple[str, ...] = ()
    reference: str | None = None


def _is_missing(v) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and v.strip() == ""


def _columns(mods, k: int) -> list[tuple[str, list]]:
    """(name, values) per moderator from a dict / DataFrame, a 1-D sequence ("x") or a 2-D array ("x1", …)."""
    if hasattr(mods, "items") and not isinstance(mods, np.ndarray):
        cols = [(str(name), list(np.asarray(values, dtype=object).ravel())) for name, values in mods.items()]
    else:
        arr = np.asarray(mods, dtype=object)
        if arr.ndim == 1:
            cols = [("x", list(arr))]
        elif arr.ndim == 2:
            cols = [(f"x{j + 1}", list(arr[:, j])) for j in range(arr.shape[1])]
        else:
            raise ValueError(f"mods must be a dict of columns, a 1-D or a 2-D array, got shape {arr.shape}")
    if not cols:
        raise ValueError("mods is empty: give at least one moderator")
    for name, values in cols:
        if len(values) != k:
            raise ValueError(f"moderator {name!r} has {len(values)} values for {k} studies")
    return cols


def _numeric(values) -> bool:
    present = [v for v in values if not _is_missing(v)]
    return bool(present) and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                                 for v in present)


def design(mods, k: int, reference: dict | None = None) -> tuple[list[Term], np.ndarray, list[str], np.ndarray]:
    """(terms, X without intercept, column names, missing-row mask) for the moderators.

    Numbers make a numeric moderator; anything else (strings, booleans, categories) a factor, dummy-coded
    against its reference level: by default the first level in sorted order (what R's ``factor()`` does in the C
    locale), or ``reference[name]``. Rows with a missing value (None, NaN, blank) are flagged in the mask.
    """
    reference = dict(reference or {})
    terms, blocks, names = [], [], []
    missing = np.zeros(k, bool)
    cols = _columns(mods, k)
    for name, values in cols:
        missing |= np.array([_is_missing(v) for v in values])
    for name, values in cols:
        if _numeric(values):
            col = np.array([NAN if _is_missing(v) else float(v) for v in values])
            if missing.all():
                raise ValueError(f"moderator {name!r} has no value in any study with all moderators present")
            if not np.all(np.isfinite(col[~missing])):
                raise ValueError(f"moderator {name!r} has non-finite values")
            terms.append(Term(name, "numeric"))
            blocks.append(col[:, None])
            names.append(name)
            continue
        labels = [None if _is_missing(v) else str(v).strip() for v in values]
        levels = sorted({lab for lab, m in zip(labels, missing) if not m})
        if not levels:
            raise ValueError(f"moderator {name!r} has no value in any study with all moderators present")
        ref = reference.pop(name, levels[0])
        if ref not in levels:
            raise ValueError(f"reference level {ref!r} of {name!r} is not among its levels {levels}")
        others = [lv for lv in levels if lv != ref]
        terms.append(Term(name, "factor", tuple(levels), ref))
        blocks.append(np.array([[float(lab == lv) for lv in others] for lab in labels]).reshape(k, len(others)))
        names += [f"{name}[{lv}]" for lv in others]
    if reference:
        raise ValueError(f"reference given for unknown or numeric moderators: {sorted(reference)}")
    return terms, np.hstack(blocks), names, missing


def _redundant(X: np.ndarray) -> np.ndarray:
    """Columns aliased with earlier ones (R's lm() pivots them out; rma.uni then drops them)."""
    keep: list[int] = []
    drop = np.zeros(X.shape[1], bool)
    for j in range(X.shape[1]):
        col = X[:, j]
        norm = np.linalg.norm(col)
        if keep:
            Q, _ = np.linalg.qr(X[:, keep])
            col = col - Q @ (Q.T @ col)
        if norm == 0 or np.linalg.norm(col) < REDUNDANT_TOL * norm:
            drop[j] = True
        else:
            keep.append(j)
    return drop


# ---------------------------------------------------------------------------------------------- fitting core


@dataclass(frozen=True)
class UniFit:
    """``rma.uni`` with design X (intercept first): what the diagnostics need from a fit."""

    tau2: float
    beta: np.ndarray
    vb: np.ndarray  # includes the knha/adhoc factor s2w, as metafor's vb
    s2w: float
    se_tau2: float
    qe: float
    vt: float
    w: np.ndarray
    stepadj: float


def _parts(y, v, X, tau2):
    w = 1 / (v + tau2)
    Xw = X * w[:, None]
    A = np.linalg.inv(Xw.T @ X)
    Py = w * y - Xw @ (A @ (Xw.T @ y))
    return w, Xw, A, Py


def _trace_p(w, Xw, A):
    return float(np.sum(w) - np.trace(A @ (Xw.T @ Xw)))


def _trace_pp(w, Xw, A):
    B, C = Xw.T @ Xw, (Xw * w[:, None]).T @ Xw  # X'W²X, X'W³X
    AB = A @ B
    return float(np.sum(w**2) - 2 * np.trace(A @ C) + np.trace(AB @ AB))  # tr(P²) = Σ P_ij²


def _loglik(y, v, X, tau2, reml: bool) -> float:
    _, _, A, Py = _parts(y, v, X, tau2)
    k, p = X.shape
    rss = float(y @ Py)
    if reml:
        return float(-0.5 * (k - p) * np.log(2 * np.pi) - 0.5 * np.sum(np.log(v + tau2))
                     + 0.5 * np.linalg.slogdet(A)[1] - 0.5 * rss)
    return float(-0.5 * k * np.log(2 * np.pi) - 0.5 * np.sum(np.log(v + tau2)) - 0.5 * rss)


def _fisher(y, v, X, reml: bool, stepadj: float) -> float | None:
    """metafor's Fisher scoring with moderators: HE start, step × stepadj, halving at 0; None if unconverged."""
    k, p = X.shape
    h = np.einsum("ij,jk,ik->i", X, np.linalg.inv(X.T @ X), X)  # OLS hat values
    resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    tau2 = max(0.0, (float(resid @ resid) - float(np.sum(v * (1 - h)))) / (k - p))
    for it in range(1, MAXITER + 2):
        old = tau2
        w, Xw, A, Py = _parts(y, v, X, tau2)
        if reml:
            adj = (Py @ Py - _trace_p(w, Xw, A)) / _trace_pp(w, Xw, A)
        else:
            adj = (Py @ Py - np.sum(w)) / np.sum(w**2)
        adj = float(adj) * stepadj
        if not np.isfinite(adj):
            adj = 0.0
        while tau2 + adj < 0:
            adj /= 2
        tau2 = tau2 + adj
        if it > MAXITER:
            return None
        if abs(old - tau2) <= THRESHOLD:
            return tau2
    return None


def _tau2(y, v, X, method: str, stepadj: float | None) -> tuple[float, float]:
    """(τ², step adjustment) by ``method``, as rma.uni (DL/PM/REML/ML/FE)."""
    k, p = X.shape
    if method == "FE" or k <= p:
        return 0.0, 1.0
    if method == "DL":
        w, Xw, A, Py = _parts(y, v, X, 0.0)
        return max(0.0, (float(y @ Py) - (k - p)) / _trace_p(w, Xw, A)), 1.0
    if method == "PM":
        return _pm_root(lambda t: float(y @ _parts(y, v, X, t)[3]), k - p), 1.0
    reml = method == "REML"
    tau2, step = _with_step_retry(lambda s: _fisher(y, v, X, reml, s), method, stepadj)
    if _loglik(y, v, X, 0.0, reml) - _loglik(y, v, X, tau2, reml) > LL0_TOL and tau2 > THRESHOLD:
        tau2 = 0.0  # metafor's ll0 check
    return max(0.0, tau2), step


def fit_uni(y, v, X, method: str, test: str = "z", stepadj: float | None = None) -> UniFit:
    """Fit ``rma.uni(yi, vi, mods=X, intercept=FALSE, method=, test=)``: τ², β, Var(β) (× s2w for knha/adhoc),
    QE and the typical within-study variance vt. Raises ValueError when p (+1 for τ²) exceeds k and
    :class:`~livingreview.engine.model.NotEstimableError` when τ² cannot be estimated."""
    y, v, X = np.asarray(y, float), np.asarray(v, float), np.asarray(X, float)
    k, p = X.shape
    if k == 0:
        raise ValueError("no studies (k = 0): there is nothing to pool")
    if (p + (0 if method == "FE" or (p == 1 and k == 1) else 1)) > k:
        raise ValueError(f"{p} coefficients{'' if method == 'FE' else ' and τ²'} cannot be estimated from k = {k} "
                         "studies (metafor: 'Number of parameters to be estimated is larger than the number of "
                         "observations')")
    if k == 1:
        test = "z"  # metafor: 'Setting argument test="z" since k=1.'
    if np.min(np.linalg.eigvalsh(X.T @ X)) <= EVTOL:
        raise ValueError("the moderators' design matrix is not of full rank (metafor: 'Model matrix not of full "
                         "rank. Cannot fit model.')")
    tau2, step = _tau2(y, v, X, method, stepadj) if k > 1 else (0.0, 1.0)
    w, Xw, A, _ = _parts(y, v, X, tau2)
    beta = A @ (Xw.T @ y)
    s2w = 1.0
    if test in ("knha", "adhoc"):
        rss = float(np.sum(w * (y - X @ beta) ** 2))
        s2w = 0.0 if rss <= np.finfo(float).eps else rss / (k - p)
        if test == "adhoc":
            s2w = max(1.0, s2w)
    w0, Xw0, A0, Py0 = _parts(y, v, X, 0.0)
    if k > p:
        qe = max(0.0, float(y @ Py0))
        trp0 = _trace_p(w0, Xw0, A0)
        vt = (k - p) / trp0
    else:
        qe, vt, trp0 = 0.0, 0.0, NAN
    if k <= p:
        se_tau2 = NAN
    elif method == "ML":
        se_tau2 = math.sqrt(2 / np.sum(w**2))
    elif method == "REML":
        se_tau2 = math.sqrt(2 / _trace_pp(w, Xw, A))
    elif method == "DL":
        se_tau2 = math.sqrt((2 * (k - p) + 4 * tau2 * trp0 + 2 * tau2**2 * _trace_pp(w0, Xw0, A0)) / trp0**2)
    elif method == "PM":
        se_tau2 = math.sqrt(2 * k**2 / (k - p) / np.sum(w) ** 2)
    else:
        se_tau2 = NAN
    return UniFit(float(tau2), beta, s2w * A, s2w, se_tau2, qe, vt, w, step)


# ---------------------------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class MetaRegression:
    """A fitted meta-regression (``rma.uni`` with moderators), transformed scale.

    Coefficient arrays follow ``names`` ("intrcpt" first, then one per numeric moderator and one per non-
    reference factor level, ``name[level]``). ``vb`` is their covariance (× the knha factor under "knha"/"adhoc").
    ``qm`` tests all coefficients but the intercept: χ²(``qm_df``) under z, F(``qm_df``, ``qm_df2``) under
    t/knha/adhoc (QM/m, as metafor). ``qe`` is the test for residual heterogeneity on k − p df; ``tau2`` the
    residual τ²; ``i2``/``h2`` residual, τ²-based (Q-based for FE), as metafor. ``r2`` is metafor's pseudo-R²
    in percent: max(0, (τ²_RE − τ²)/τ²_RE) with τ²_RE from the intercept-only model by the same method (0 when
    τ²_RE = 0; for FE models the adjusted R² of the weighted least-squares fit). ``excluded`` are studies
    dropped for a missing moderator. When ``applicable`` is False (too few studies per covariate) ``reason``
    says why and every number is NaN.
    """

    es: EffectSizes
    method: str
    test: str
    pi_dist: str
    level: float
    k: int
    p: int
    names: tuple[str, ...]
    terms: tuple[Term, ...]
    X: np.ndarray
    beta: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    vb: np.ndarray
    crit: float
    df: float
    qm: float
    qm_df: int
    qm_df2: float
    qm_p: float
    qe: float
    qe_df: int
    qe_p: float
    tau2: float
    tau: float
    se_tau2: float
    i2: float
    h2: float
    r2: float
    tau2_re: float
    weights: np.ndarray
    applicable: bool = True
    reason: str = ""
    excluded: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    stepadj: float = 1.0
    s2w: float = 1.0

    @property
    def tval(self) -> np.ndarray:
        return self.zval

    def coef(self) -> dict[str, float]:
        return dict(zip(self.names, (float(b) for b in self.beta)))


def _not_applicable(es, method, test, pi_dist, level, names, terms, X, reason, excluded, notes) -> MetaRegression:
    p = len(names)
    nan_p = np.full(p, NAN)
    return MetaRegression(es, method, test, pi_dist, level, es.k, p, tuple(names), tuple(terms), X, nan_p,
                          nan_p, nan_p, nan_p, nan_p, nan_p, np.full((p, p), NAN), NAN, NAN, NAN, max(p - 1, 0), NAN,
                          NAN, NAN, max(es.k - p, 0), NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, np.full(es.k, NAN),
                          False, reason, tuple(excluded), tuple(notes))


def _adj_r2_wls(y, X, w) -> float:
    """``summary(lm(yi ~ X, weights=wi))$adj.r.squared`` (metafor's R² for FE models with moderators)."""
    k, p = X.shape
    beta = np.linalg.lstsq(X * np.sqrt(w)[:, None], y * np.sqrt(w), rcond=None)[0]
    fit = X @ beta
    rss = float(np.sum(w * (y - fit) ** 2))
    mss = float(np.sum(w * (fit - np.sum(w * fit) / np.sum(w)) ** 2))
    r2 = mss / (mss + rss)
    return 1 - (1 - r2) * (k - 1) / (k - p)


def meta_regression(es: EffectSizes, mods, method: str = "REML", test: str = "z", pi_dist: str = "t2",
                    level: float = 0.95, *, stepadj: float | None = None, reference: dict | None = None,
                    min_per_covariate: int = MIN_PER_COVARIATE, force: bool = False) -> MetaRegression:
    """``metafor::rma(yi, vi, mods=~…, method=, test=, level=)``: a mixed-effects meta-regression.

    ``mods``: a dict (or DataFrame) of moderators by name, a 1-D sequence (named "x") or a 2-D array ("x1"…).
    Numeric moderators enter as they are; any other values as a factor, dummy-coded against its reference level
    — the first level in sorted order, as R's ``factor()`` (C locale), unless ``reference={name: level}``.
    As metafor: studies with a missing moderator value are dropped (noted, listed in ``excluded``); columns
    aliased with earlier ones (e.g. a moderator constant among the studies used) are dropped with a note;
    ``method``/``test``/``level``/``stepadj`` as :func:`~livingreview.engine.model.rma`; the knha test scales
    Var(β) by Σw(y − Xβ)²/(k − p) and uses t(k − p), and QM becomes an F-test.

    Rule of thumb: fewer than ``min_per_covariate`` (10) studies per covariate (columns other than the
    intercept) gives a result with ``applicable=False`` and the reason, unless ``force=True``.
    Raises ValueError where metafor stops (more parameters than studies, a design not of full rank).
    """
    method = checked_model_options(method, test, pi_dist, level)
    terms, Z, znames, missing = design(mods, es.k, reference)
    notes: list[str] = []
    excluded = tuple(es.labels[i] for i in np.flatnonzero(missing))
    if excluded:
        notes.append(f"{len(excluded)} stud{'y' if len(excluded) == 1 else 'ies'} with a missing moderator value "
                     "omitted from the model (as metafor)")
        es, Z = es.subset(~missing), Z[~missing]
    _check_inputs(es)
    for term in terms:
        if term.kind == "factor" and len(term.levels) < 2:
            notes.append(f"factor {term.name!r} has a single level ({term.reference!r}) among the studies used: it "
                         "adds no column")
    X = np.column_stack([np.ones(es.k), Z])
    names = ["intrcpt", *znames]
    drop = _redundant(X)
    if drop.any():
        notes.append(f"redundant moderator column(s) dropped (aliased with the others among these studies, as "
                     f"metafor): {[n for n, d in zip(names, drop) if d]}")
        X, names = X[:, ~drop], [n for n, d in zip(names, drop) if not d]
    k, p = X.shape
    covariates = p - 1
    if covariates and k < min_per_covariate * covariates and not force:
        reason = (f"not applicable: {k} studies for {covariates} covariate{'s' if covariates > 1 else ''} (fewer "
                  f"than {min_per_covariate} per covariate); use force=True to fit anyway")
        return _not_applicable(es, method, test, pi_dist, level, names, terms, X, reason, excluded, notes)
    if k == 1:
        test = "z"
    fit = fit_uni(es.yi, es.vi, X, method, test, stepadj)
    if fit.stepadj != 1.0 and stepadj is None:
        notes.append(_step_note(method, fit.stepadj))
    y = np.asarray(es.yi, float)
    se = np.sqrt(np.diag(fit.vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = fit.beta / se
    alpha = 1 - level
    m = p - 1
    if test == "z":
        df, crit = NAN, float(stats.norm.ppf(1 - alpha / 2))
        pval = 2 * stats.norm.sf(np.abs(zval))
    else:
        df = float(k - p)
        crit = float(stats.t.ppf(1 - alpha / 2, df)) if df > 0 else NAN
        pval = 2 * stats.t.sf(np.abs(zval), df) if df > 0 else np.full(p, NAN)
    if m > 0:
        b = fit.beta[1:]
        try:
            qm = float(b @ np.linalg.solve(fit.vb[1:, 1:], b))
        except np.linalg.LinAlgError:
            qm = NAN
        if test == "z":
            qm_df2, qm_p = NAN, float(stats.chi2.sf(qm, m))
        else:
            qm, qm_df2 = qm / m, float(k - p)
            qm_p = float(stats.f.sf(qm, m, qm_df2)) if qm_df2 > 0 else NAN
    else:
        qm = qm_df2 = qm_p = NAN
    tau2 = fit.tau2
    if k > p:
        qe_p = float(stats.chi2.sf(fit.qe, k - p))
        if method == "FE":
            i2 = max(0.0, 100 * (fit.qe - (k - p)) / fit.qe) if fit.qe > 0 else 0.0
            h2 = fit.qe / (k - p)
        else:
            i2, h2 = 100 * tau2 / (fit.vt + tau2), 1 + tau2 / fit.vt
    else:
        qe_p, i2, h2 = 1.0, 0.0, 1.0
    tau2_re = NAN
    if m == 0:
        r2 = NAN
    elif method == "FE":
        r2 = 0.0 if np.ptp(y) == 0 else max(0.0, 100 * _adj_r2_wls(y, X, 1 / np.asarray(es.vi, float)))
    else:
        try:
            tau2_re = rma(es, method=method, test=test, stepadj=stepadj).tau2
            r2 = 0.0 if tau2_re == 0 else max(0.0, 100 * (tau2_re - tau2) / tau2_re)
        except ValueError as err:
            r2 = NAN
            notes.append(f"R² not available: the intercept-only model cannot be fitted ({err})")
    return MetaRegression(
        es=es, method=method, test=test, pi_dist=pi_dist, level=level, k=k, p=p, names=tuple(names),
        terms=tuple(terms), X=X, beta=fit.beta, se=se, zval=zval, pval=np.asarray(pval, float),
        ci_low=fit.beta - crit * se, ci_high=fit.beta + crit * se, vb=fit.vb, crit=crit, df=df, qm=qm, qm_df=m,
        qm_df2=qm_df2, qm_p=qm_p, qe=fit.qe, qe_df=k - p, qe_p=qe_p, tau2=tau2, tau=math.sqrt(tau2),
        se_tau2=fit.se_tau2, i2=float(i2), h2=float(h2), r2=float(r2), tau2_re=float(tau2_re),
        weights=100 * fit.w / fit.w.sum(), applicable=True, reason="", excluded=excluded, notes=tuple(notes),
        stepadj=fit.stepadj, s2w=fit.s2w)


# ---------------------------------------------------------------------------------------------- prediction


@dataclass(frozen=True)
class Prediction:
    """``predict(res, newmods=)``: per row the fitted value, its SE, CI and PI on the transformed scale, and
    the same back-transformed to proportions (``prop_*``; PFT with the harmonic mean of the study ni)."""

    X: np.ndarray
    pred: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    pi_low: np.ndarray
    pi_high: np.ndarray
    prop_pred: np.ndarray
    prop_ci_low: np.ndarray
    prop_ci_high: np.ndarray
    prop_pi_low: np.ndarray
    prop_pi_high: np.ndarray


def _new_design(reg: MetaRegression, newmods) -> np.ndarray:
    """Rows of the design (intercept first) for new moderator values: a dict by moderator name (factor levels as
    strings), or an array of the non-intercept columns as ``reg.names[1:]``."""
    if hasattr(newmods, "items") and not isinstance(newmods, np.ndarray):
        lengths = {len(np.atleast_1d(np.asarray(v, dtype=object))) for v in newmods.values()}
        if len(lengths) != 1:
            raise ValueError("newmods: all moderators need the same number of values")
        n = lengths.pop()
        cols = {}
        for term in reg.terms:
            if term.name not in newmods:
                raise ValueError(f"newmods lacks moderator {term.name!r}")
            vals = list(np.atleast_1d(np.asarray(newmods[term.name], dtype=object)))
            if term.kind == "numeric":
                cols[term.name] = np.array(vals, float)
            else:
                unknown = {str(v) for v in vals} - set(term.levels)
                if unknown:
                    raise ValueError(f"newmods: unknown level(s) {sorted(unknown)} of {term.name!r}")
                for lv in term.levels:
                    cols[f"{term.name}[{lv}]"] = np.array([float(str(v) == lv) for v in vals])
        return np.column_stack([np.ones(n)] + [cols[name] for name in reg.names[1:]])
    Z = np.atleast_2d(np.asarray(newmods, float))
    if reg.p == 2 and Z.shape[0] == 1 and Z.shape[1] != 1:
        Z = Z.T  # a plain sequence of values of the one moderator
    if Z.shape[1] != reg.p - 1:
        raise ValueError(f"newmods has {Z.shape[1]} columns; the model has {reg.p - 1}: {list(reg.names[1:])}")
    return np.column_stack([np.ones(len(Z)), Z])


def predict(reg: MetaRegression, newmods=None, level: float | None = None) -> Prediction:
    """``predict(res, newmods=, level=, pi.type=)`` with ``transf=`` the measure's back-transform.

    Without ``newmods`` the fitted values of the studies. The CI uses the model's test (z, or t(k − p)); the
    PI μ̂ᵢ ± c·√(SE² + τ²) uses ``reg.pi_dist``: z, t(k − p) ("t1") or t(k − p − 1) ("t2", metafor
    ``pi.type="riley"``); NaN where those df are < 1 (metafor would use df = 1) and for FE models.
    """
    if not reg.applicable:
        raise ValueError(f"meta-regression not fitted: {reg.reason}")
    level = reg.level if level is None else level
    Xn = reg.X if newmods is None else _new_design(reg, newmods)
    pred = Xn @ reg.beta
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", Xn, reg.vb, Xn), 0.0))
    alpha = 1 - level
    k, p = reg.k, reg.p
    crit = float(stats.norm.ppf(1 - alpha / 2)) if reg.test == "z" else (
        float(stats.t.ppf(1 - alpha / 2, k - p)) if k > p else NAN)
    if reg.method == "FE":
        pi_crit = NAN
    elif reg.pi_dist == "z":
        pi_crit = float(stats.norm.ppf(1 - alpha / 2)) if reg.test == "z" else crit
    else:
        pi_df = k - p if reg.pi_dist == "t1" else k - p - 1
        pi_crit = float(stats.t.ppf(1 - alpha / 2, pi_df)) if pi_df >= 1 else NAN
    half_pi = pi_crit * np.sqrt(se**2 + reg.tau2)
    out = [pred, se, pred - crit * se, pred + crit * se, pred - half_pi, pred + half_pi]
    bt = [back_transform(reg.es.measure, a, ni=reg.es.ni) for a in (out[0], *out[2:])]
    return Prediction(Xn, *out, *bt)


@dataclass(frozen=True)
class RegressionLine:
    """The fitted line over one numeric moderator (others at their mean, as ``regplot``), with its CI and PI,
    plus the studies (moderator value, observed yi/proportion, weight in percent) for a bubble plot."""

    moderator: str
    x: np.ndarray
    prediction: Prediction
    study_x: np.ndarray
    study_yi: np.ndarray
    study_prop: np.ndarray
    study_weight: np.ndarray
    labels: tuple[str, ...]


def regression_line(reg: MetaRegression, moderator: str | None = None, n_points: int = 101) -> RegressionLine:
    """The line ``regplot(res, mod=)`` draws: predictions over an even grid spanning the observed range of one
    numeric moderator, every other column of the design held at its mean (``colMeans(X)``, as regplot)."""
    numeric = [t.name for t in reg.terms if t.kind == "numeric" and t.name in reg.names]
    moderator = moderator or (numeric[0] if numeric else None)
    if moderator not in numeric:
        raise ValueError(f"a regression line needs a numeric moderator of the model; numeric: {numeric}")
    j = reg.names.index(moderator)
    xs = reg.X[:, j]
    grid = np.linspace(xs.min(), xs.max(), n_points)
    Z = np.tile(reg.X[:, 1:].mean(axis=0), (n_points, 1))
    Z[:, j - 1] = grid
    pred = predict(reg, Z)
    y = np.asarray(reg.es.yi, float)
    est = np.array([float(back_transform(reg.es.measure, [yy], ni=[n])[0]) for yy, n in zip(y, reg.es.ni)])
    return RegressionLine(moderator, grid, pred, xs, y, est, reg.weights, reg.es.labels)
