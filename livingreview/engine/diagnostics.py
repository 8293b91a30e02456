"""Outlier and influence diagnostics of a fitted model, as R metafor 3.8-1.

- :func:`influence` mirrors ``influence(res)`` (``influence.rma.uni``): externally standardised residuals,
  DFFITS, Cook's distance, covariance ratio, τ² and Q_E without each study, hat values, weights, DFBETAS and
  metafor's flags for influential studies;
- :func:`rstandard` / :func:`rstudent` mirror ``rstandard(res)`` / ``rstudent(res)``;
- :func:`baujat` mirrors the coordinates of ``baujat(res)``;
- :func:`study_diagnostics` puts these and the cumulative analysis side by side, one row per study.

Each works on an intercept-only :class:`~livingreview.engine.model.MetaResult` and on a
:class:`~livingreview.engine.metareg.MetaRegression`. The refits without study i reuse the model's method, test,
level and step adjustment (metafor's ``control=x$control``); a refit that fails gives NaN in that row with a
note, as metafor's NA.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .metareg import MetaRegression, UniFit, fit_uni
from .model import MetaResult
from .sensitivity import cumulative

NAN = float("nan")
EPS100 = 100 * np.finfo(float).eps  # metafor zeroes residuals below this


@dataclass(frozen=True)
class _Model:
    """What the diagnostics need of a fitted model, whatever its class."""

    y: np.ndarray
    v: np.ndarray
    X: np.ndarray
    beta: np.ndarray
    vb: np.ndarray
    tau2: float
    qe: float
    weights: np.ndarray
    method: str
    test: str
    stepadj: float
    labels: tuple[str, ...]
    names: tuple[str, ...]


def _model(res) -> _Model:
    if isinstance(res, MetaRegression):
        if not res.applicable:
            raise ValueError(f"meta-regression not fitted: {res.reason}")
        return _Model(np.asarray(res.es.yi, float), np.asarray(res.es.vi, float), res.X, res.beta, res.vb, res.tau2,
                      res.qe, res.weights, res.method, res.test, res.stepadj, res.es.labels, res.names)
    if isinstance(res, MetaResult):
        return _Model(np.asarray(res.es.yi, float), np.asarray(res.es.vi, float), np.ones((res.k, 1)),
                      np.array([res.estimate]), np.array([[res.se**2]]), res.tau2, res.q, res.weights, res.method,
                      res.test, res.stepadj, res.es.labels, ("intrcpt",))
    raise TypeError(f"needs a MetaResult or MetaRegression, got {type(res).__name__}")


def _hat_parts(m: _Model) -> tuple[np.ndarray, np.ndarray]:
    """(hat values, x_i'(X'WX)⁻¹x_i) with W = 1/(v + τ²); hat values ≥ 1 − 10ε are set to 1, as metafor."""
    w = 1 / (m.v + m.tau2)
    A = np.linalg.inv((m.X * w[:, None]).T @ m.X)
    xax = np.einsum("ij,jk,ik->i", m.X, A, m.X)
    h = w * xax
    return np.where(h > 1 - 10 * np.finfo(float).eps, 1.0, h), xax


def _residuals(m: _Model) -> np.ndarray:
    e = m.y - m.X @ m.beta
    return np.where(np.abs(e) < EPS100, 0.0, e)


def _loo(m: _Model) -> tuple[list[UniFit | None], list[str]]:
    fits, notes = [], []
    for i in range(len(m.y)):
        keep = np.arange(len(m.y)) != i
        try:
            fits.append(fit_uni(m.y[keep], m.v[keep], m.X[keep], m.method, m.test, m.stepadj))
        except ValueError as err:
            fits.append(None)
            notes.append(f"without {m.labels[i]}: the model cannot be fitted, row left NaN as metafor's NA ({err})")
    return fits, notes


# ---------------------------------------------------------------------------------------------- rstandard


@dataclass(frozen=True)
class Residuals:
    """Residuals ``resid``, their standard errors ``se`` and the standardised residuals ``z`` (metafor's
    ``list.rma`` with columns resid, se, z)."""

    label: tuple[str, ...]
    resid: np.ndarray
    se: np.ndarray
    z: np.ndarray


def rstandard(res) -> Residuals:
    """``rstandard(res)`` (type "marginal"): eᵢ = yᵢ − xᵢ'β̂ over SE(eᵢ) = √[(I − H)M(I − H)']ᵢᵢ with
    M = diag(vᵢ + τ²). Since HM = X(X'WX)⁻¹X', this is √(vᵢ + τ² − xᵢ'(X'WX)⁻¹xᵢ); it does not depend on the
    test (no knha factor), as metafor."""
    m = _model(res)
    e = _residuals(m)
    _, xax = _hat_parts(m)
    se = np.sqrt(m.v + m.tau2 - xax)
    with np.errstate(divide="ignore", invalid="ignore"):
        return Residuals(m.labels, e, se, e / se)


def _deleted(m: _Model, fits) -> dict[str, np.ndarray]:
    """Per study, from the refit without it: prediction, its variance, τ², Q_E, s2w and β."""
    k, p = m.X.shape
    out = {name: np.full(k, NAN) for name in ("pred", "vpred", "tau2", "qe", "s2w")}
    out["beta"] = np.full((k, p), NAN)
    out["vb"] = np.full((k, p, p), NAN)
    for i, f in enumerate(fits):
        if f is None:
            continue
        x = m.X[i]
        out["pred"][i], out["vpred"][i] = x @ f.beta, x @ f.vb @ x
        out["tau2"][i], out["qe"][i], out["s2w"][i] = f.tau2, f.qe, f.s2w
        out["beta"][i], out["vb"][i] = f.beta, f.vb
    return out


def rstudent(res) -> Residuals:
    """``rstudent(res)``: yᵢ minus the prediction of the model fitted without study i, over
    √(vᵢ·s2w₍₋ᵢ₎ + Var(pred₍₋ᵢ₎) + τ²₍₋ᵢ₎·s2w₍₋ᵢ₎) (s2w: the knha factor of that refit, 1 otherwise)."""
    inf = influence(res)
    return Residuals(inf.label, inf.resid, inf.se_resid, inf.rstudent)


# ---------------------------------------------------------------------------------------------- influence


@dataclass(frozen=True)
class Influence:
    """``influence(res)``: one entry per study (``label``); ``dfbetas`` is k × p (columns ``coef_names``).

    ``influential`` is metafor's "*" flag: |DFFITS| > 3√(p/(k − p)), or P(χ²_p ≤ Cook's D) > 0.5, or
    hat > 3p/k, or any |DFBETAS| > 1 (the cut-offs are the properties below). ``resid``/``se_resid`` are the
    deleted residual and its SE behind ``rstudent``.
    """

    label: tuple[str, ...]
    coef_names: tuple[str, ...]
    k: int
    p: int
    tau2: float
    qe: float
    rstudent: np.ndarray
    dffits: np.ndarray
    cook_d: np.ndarray
    cov_r: np.ndarray
    tau2_del: np.ndarray
    qe_del: np.ndarray
    hat: np.ndarray
    weight: np.ndarray
    dfbetas: np.ndarray
    influential: np.ndarray
    resid: np.ndarray
    se_resid: np.ndarray
    notes: tuple[str, ...] = ()

    @property
    def dffits_cutoff(self) -> float:
        return float(3 * np.sqrt(self.p / (self.k - self.p))) if self.k > self.p else NAN

    @property
    def cook_cutoff(self) -> float:
        """Cook's D above the median of χ²_p (metafor flags pchisq(D, p) > 0.5)."""
        return float(stats.chi2.ppf(0.5, self.p))

    @property
    def hat_cutoff(self) -> float:
        return 3 * self.p / self.k

    dfbetas_cutoff = 1.0


def influence(res) -> Influence:
    """``metafor::influence(res)`` (``influence.rma.uni`` 3.8-1), for the model's own method and test.

    With β̂₍₋ᵢ₎, τ²₍₋ᵢ₎, s2w₍₋ᵢ₎ and Var(β̂₍₋ᵢ₎) from the refit without study i, hᵢ the hat value of the full
    model and W = 1/(v + τ²):
    - rstudent: (yᵢ − xᵢ'β̂₍₋ᵢ₎)/√(vᵢ s2w₍₋ᵢ₎ + xᵢ'Var(β̂₍₋ᵢ₎)xᵢ + τ²₍₋ᵢ₎ s2w₍₋ᵢ₎);
    - DFFITS: xᵢ'(β̂ − β̂₍₋ᵢ₎)/√(s2w₍₋ᵢ₎ hᵢ (τ²₍₋ᵢ₎ + vᵢ));
    - Cook's distance: (β̂ − β̂₍₋ᵢ₎)' Var(β̂)⁻¹ (β̂ − β̂₍₋ᵢ₎) over all p coefficients;
    - covariance ratio: det Var(β̂₍₋ᵢ₎) / det Var(β̂);
    - DFBETAS: (β̂ − β̂₍₋ᵢ₎)/√(s2w₍₋ᵢ₎ diag (X'W₍₋ᵢ₎X)⁻¹), W₍₋ᵢ₎ = 1/(v + τ²₍₋ᵢ₎) over all k studies;
    - τ² and Q_E of each refit, the hat values and the weights (percent) of the full model.
    k = 1 raises, as metafor stops.
    """
    m = _model(res)
    k, p = m.X.shape
    if k < 2:
        raise ValueError("influence needs k >= 2 (metafor: 'Stopped because k = 1.')")
    fits, notes = _loo(m)
    d = _deleted(m, fits)
    hat, _ = _hat_parts(m)
    pred_full = m.X @ m.beta
    vb_inv = np.linalg.inv(m.vb)
    det_vb = np.linalg.det(m.vb)
    dffits, cook, cov_r = np.full(k, NAN), np.full(k, NAN), np.full(k, NAN)
    dfbs = np.full((k, p), NAN)
    for i, f in enumerate(fits):
        if f is None:
            continue
        dffits[i] = (pred_full[i] - d["pred"][i]) / np.sqrt(f.s2w * hat[i] * (f.tau2 + m.v[i]))
        w_del = 1 / (m.v + f.tau2)
        vb_del = np.linalg.inv((m.X * w_del[:, None]).T @ m.X)
        dfb = m.beta - f.beta
        with np.errstate(divide="ignore", invalid="ignore"):
            dfbs[i] = dfb / np.sqrt(f.s2w * np.diag(vb_del))
        cook[i] = dfb @ vb_inv @ dfb
        cov_r[i] = np.linalg.det(f.vb) / det_vb
    resid = m.y - d["pred"]
    resid = np.where(np.abs(resid) < EPS100, 0.0, resid)
    se_resid = np.sqrt(m.v * d["s2w"] + d["vpred"] + d["tau2"] * d["s2w"])
    with np.errstate(divide="ignore", invalid="ignore"):
        rstud = resid / se_resid
        flags = ((np.abs(dffits) > 3 * np.sqrt(p / (k - p))) | (stats.chi2.cdf(cook, p) > 0.5)
                 | (hat > 3 * p / k) | np.any(np.abs(dfbs) > 1, axis=1))  # NaN compares False: R's NA | TRUE
    return Influence(m.labels, m.names, k, p, float(m.tau2), float(m.qe), rstud, dffits, cook, cov_r, d["tau2"],
                     d["qe"], hat, np.asarray(m.weights, float), dfbs, flags, resid, se_resid, tuple(notes))


# ---------------------------------------------------------------------------------------------- Baujat


@dataclass(frozen=True)
class Baujat:
    """``baujat(res)`` coordinates: ``x`` = each study's contribution to the (residual) heterogeneity,
    (yᵢ − xᵢ'β̂)²/(vᵢ + τ²) (for FE models its share of Q); ``y`` = its influence on the pooled result,
    (xᵢ'β̂₍₋ᵢ₎ − xᵢ'β̂)²/Var(xᵢ'β̂₍₋ᵢ₎). ``xlabel``/``ylabel`` are metafor's axis titles."""

    label: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    xlabel: str
    ylabel: str
    notes: tuple[str, ...] = ()


def baujat(res) -> Baujat:
    """``metafor::baujat(res)``: the returned (invisible) data frame's x and y, from refits without each study
    (method, test and level of ``res``; so under knha Var(pred₍₋ᵢ₎) carries that refit's knha factor)."""
    m = _model(res)
    if len(m.y) < 2:
        raise ValueError("Baujat plot needs k >= 2 (metafor: 'Stopped because k = 1.')")
    fits, notes = _loo(m)
    d = _deleted(m, fits)
    x = _residuals(m) ** 2 / (m.tau2 + m.v)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = (d["pred"] - m.X @ m.beta) ** 2 / d["vpred"]
    int_only = m.X.shape[1] == 1
    if m.method == "FE":
        xlabel = "Contribution to Overall Heterogeneity" if int_only else "Contribution to Residual Heterogeneity"
    else:
        xlabel = "Squared Pearson Residual"
    ylabel = "Influence on Overall Result" if int_only else "Influence on Fitted Value"
    return Baujat(m.labels, x, y, xlabel, ylabel, tuple(notes))


# ---------------------------------------------------------------------------------------------- per study


def study_diagnostics(res, order=None, decreasing: bool = False) -> dict[str, np.ndarray]:
    """Per-study diagnostics of an intercept-only model as a dict of equal-length arrays (one row per study),
    for tables and the command line: rows in the order of ``order`` (a variable to sort by, as
    :func:`~livingreview.engine.sensitivity.cumulative`; None = data order).

    Keys: ``index`` (0-based position in the data), ``label``, the :func:`influence` columns (``rstudent``,
    ``dffits``, ``cook_d``, ``cov_r``, ``tau2_del``, ``qe_del``, ``hat``, ``weight``, ``dfbetas``,
    ``influential``), ``rstandard``, ``baujat_x``, ``baujat_y``, and the cumulative analysis up to and
    including each row's study: ``cumulative_k``, ``cumulative_estimate``/``_ci_low``/``_ci_high``
    (transformed scale), ``cumulative_prop_estimate``/``_ci_low``/``_ci_high`` (0–1), ``cumulative_tau2``,
    ``cumulative_i2``.
    """
    if not isinstance(res, MetaResult):
        raise TypeError("study_diagnostics needs an intercept-only MetaResult (cumulative analysis, as metafor's "
                        "cumul, has no moderators)")
    cum = cumulative(res, order=order, decreasing=decreasing)
    idx = cum.order
    inf, bj, rs = influence(res), baujat(res), rstandard(res)
    out = {"index": idx, "label": np.array(res.es.labels, dtype=object)[idx]}
    for name in ("rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "qe_del", "hat", "weight", "influential"):
        out[name] = getattr(inf, name)[idx]
    out["dfbetas"] = inf.dfbetas[idx, 0]
    out["rstandard"] = rs.z[idx]
    out["baujat_x"], out["baujat_y"] = bj.x[idx], bj.y[idx]
    out["cumulative_k"] = cum.k
    for name in ("estimate", "ci_low", "ci_high", "prop_estimate", "prop_ci_low", "prop_ci_high", "tau2", "i2"):
        out[f"cumulative_{name}"] = getattr(cum, name)
    return out
