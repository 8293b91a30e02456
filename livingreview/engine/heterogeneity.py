"""GOSH (graphical display of study heterogeneity), as ``metafor::gosh(res)`` 3.8-1 with every subset.

The same model is fitted to each of the 2ᵏ − 1 non-empty subsets of the k studies, all at once: a subsets × k
0/1 matrix selects the studies, and every sum over studies is one matrix–vector product. FE and DL use their
closed forms (metafor's fast path in ``.profile.rma.uni``); REML and ML run metafor's Fisher scoring on all
subsets together (each subset stops when its own step is below the threshold, so each follows exactly the
sequence of iterates a separate ``rma()`` would); PM finds each root of Q(τ²) = k − 1 by Newton steps kept
inside a shrinking bracket.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .effects import back_transform
from .model import LL0_TOL, MAXITER, PM_TAU2_LIMIT, THRESHOLD, MetaResult

MAX_K = 16  # 65,535 subsets
NAN = float("nan")


@dataclass(frozen=True)
class Gosh:
    """One row per subset, in metafor's order (by subset size; within a size, ``expand.grid`` order).

    ``incl`` is the subsets × k membership matrix (columns = studies, ``labels``), ``k`` the subset sizes,
    ``estimate``/``q``/``i2``/``h2``/``tau2`` what ``gosh()$res`` holds (for FE and DL: I² and H² from Q, as
    metafor's fast path; otherwise τ²-based), ``prop_estimate`` the estimate on the 0–1 scale (PFT: harmonic
    mean of all k study sizes), ``fitted`` False where the fit failed (NaN row, as metafor's NA).
    """

    method: str
    measure: str
    labels: tuple[str, ...]
    incl: np.ndarray
    k: np.ndarray
    estimate: np.ndarray
    q: np.ndarray
    i2: np.ndarray
    h2: np.ndarray
    tau2: np.ndarray
    prop_estimate: np.ndarray
    fitted: np.ndarray
    notes: tuple[str, ...] = ()


def subsets(k: int) -> np.ndarray:
    """All non-empty subsets of k studies as a boolean matrix, ordered as metafor's ``gosh``: the rows of
    ``expand.grid(rep(list(c(FALSE, TRUE)), k))`` (first study toggling fastest), stably sorted by size."""
    rows = np.arange(1, 2**k, dtype=np.int64)
    incl = ((rows[:, None] >> np.arange(k)) & 1).astype(bool)
    return incl[np.argsort(incl.sum(axis=1), kind="stable")]


class _Sums:
    """Σ over the studies of each subset of w·f, for w = M/(v + τ²) with one τ² per subset."""

    def __init__(self, M: np.ndarray, y: np.ndarray, v: np.ndarray):
        self.M, self.y, self.v = M, y, v

    def weights(self, tau2) -> np.ndarray:
        return self.M / (self.v[None, :] + np.asarray(tau2)[:, None])

    def q(self, w) -> tuple[np.ndarray, np.ndarray]:
        """(weighted mean, Σw(y − mean)²) per subset."""
        sw = w.sum(axis=1)
        mu = (w @ self.y) / sw
        return mu, np.einsum("ij,ij->i", w, (self.y[None, :] - mu[:, None]) ** 2)


def _fisher(s: _Sums, kk: np.ndarray, reml: bool, stepadj: float) -> tuple[np.ndarray, np.ndarray]:
    """(τ², converged) per subset by metafor's Fisher scoring (Hedges start, step × stepadj, halving at 0)."""
    y, M = s.y, s.M
    ybar = (M @ y) / kk
    rss0 = np.einsum("ij,ij->i", M, (y[None, :] - ybar[:, None]) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau2 = np.where(kk > 1, np.maximum(0.0, (rss0 - (M @ s.v) * (1 - 1 / kk)) / (kk - 1)), 0.0)
    active = kk > 1
    conv = ~active
    for it in range(1, MAXITER + 2):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        t = tau2[idx]
        w = s.M[idx] / (s.v[None, :] + t[:, None])
        sw, sw2, sw3 = w.sum(axis=1), (w**2).sum(axis=1), (w**3).sum(axis=1)
        mu = (w @ y) / sw
        ypp = np.einsum("ij,ij->i", w**2, (y[None, :] - mu[:, None]) ** 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            if reml:
                adj = (ypp - (sw - sw2 / sw)) / (sw2 - 2 * sw3 / sw + sw2**2 / sw**2) * stepadj
            else:
                adj = (ypp - sw) / sw2 * stepadj
        adj = np.where(np.isfinite(adj), adj, 0.0)
        adj = np.where((t == 0) & (adj < 0), -0.0, adj)  # halving to underflow ends at −0: τ² stays 0
        neg = t + adj < 0
        while neg.any():
            adj = np.where(neg, adj / 2, adj)
            neg = t + adj < 0
        new = t + adj
        tau2[idx] = new
        if it > MAXITER:
            active[idx] = False
            break
        done = np.abs(t - new) <= THRESHOLD
        conv[idx[done]] = True
        active[idx[done]] = False
    # metafor's ll0 check: never a τ² with a lower (RE)ML log-likelihood than τ² = 0
    ll = [_loglik(s, kk, t, reml) for t in (np.zeros_like(tau2), tau2)]
    back = conv & (kk > 1) & (ll[0] - ll[1] > LL0_TOL) & (tau2 > THRESHOLD)
    return np.where(back, 0.0, np.maximum(tau2, 0.0)), conv


def _loglik(s: _Sums, kk, tau2, reml: bool) -> np.ndarray:
    w = s.weights(tau2)
    _, rss = s.q(w)
    with np.errstate(divide="ignore"):
        logv = np.where(s.M, np.log(s.v[None, :] + tau2[:, None]), 0.0).sum(axis=1)
    if reml:
        return -0.5 * (kk - 1) * np.log(2 * np.pi) - 0.5 * logv - 0.5 * np.log(w.sum(axis=1)) - 0.5 * rss
    return -0.5 * kk * np.log(2 * np.pi) - 0.5 * logv - 0.5 * rss


def _pm(s: _Sums, kk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(τ², converged): root of Q(τ²) = k − 1 per subset, 0 where Q(0) < k − 1."""
    target = kk - 1.0
    tau2 = np.zeros(len(kk))
    _, q0 = s.q(s.weights(tau2))
    active = (kk > 1) & (q0 >= target)
    lo, hi = np.zeros(len(kk)), np.full(len(kk), 100.0)
    for _ in range(40):  # widen the bracket where Q(hi) is still above k − 1
        grow = active & (s.q(s.weights(hi))[1] > target)
        if not grow.any():
            break
        hi = np.where(grow, hi * 10, hi)
    conv = ~active | (hi <= PM_TAU2_LIMIT)
    active &= conv
    for _ in range(200):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        t = tau2[idx]
        w = s.M[idx] / (s.v[None, :] + t[:, None])
        sw = w.sum(axis=1)
        mu = (w @ s.y) / sw
        r2 = (s.y[None, :] - mu[:, None]) ** 2
        f = np.einsum("ij,ij->i", w, r2) - target[idx]
        slope = -np.einsum("ij,ij->i", w**2, r2)
        lo[idx] = np.where(f > 0, t, lo[idx])
        hi[idx] = np.where(f < 0, t, hi[idx])
        with np.errstate(divide="ignore", invalid="ignore"):
            step = t - f / slope
        inside = np.isfinite(step) & (step > lo[idx]) & (step < hi[idx])
        new = np.where(inside, step, (lo[idx] + hi[idx]) / 2)
        tau2[idx] = new
        done = (f == 0) | (np.abs(new - t) <= 1e-15 + 4 * np.finfo(float).eps * np.abs(new))
        active[idx[done]] = False
    return tau2, conv & ~active


def gosh(res: MetaResult, max_k: int = MAX_K) -> Gosh:
    """``metafor::gosh(res)`` with all 2ᵏ − 1 subsets (metafor enumerates them all when there are at most 10⁶),
    same model as ``res`` (method; the step adjustment it converged with). For each subset: estimate, Q, I²,
    H², τ² as ``gosh()$res``. k = 1 raises (metafor stops), as does k > ``max_k``.
    """
    k = res.k
    if k < 2:
        raise ValueError("GOSH needs k >= 2 (metafor: 'Stopped because k = 1.')")
    if k > max_k:
        raise ValueError(f"GOSH with all subsets is limited to k <= {max_k} ({2 ** max_k - 1} subsets); k = {k}")
    y, v = np.asarray(res.es.yi, float), np.asarray(res.es.vi, float)
    incl = subsets(k)
    M = incl.astype(float)
    kk = incl.sum(axis=1).astype(float)
    s = _Sums(M, y, v)
    notes = []
    if res.method in ("FE", "DL"):
        mu, q = s.q(M / v[None, :])
        with np.errstate(divide="ignore", invalid="ignore"):
            i2 = np.where(kk > 1, np.maximum(0.0, 100 * (q - (kk - 1)) / q), 0.0)
            h2 = np.where(kk > 1, q / (kk - 1), 1.0)
        tau2 = np.zeros(len(kk))
        if res.method == "DL":
            w0 = M / v[None, :]
            sw = w0.sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                tau2 = np.where(kk > 1, np.maximum(0.0, (q - (kk - 1)) / (sw - (w0**2).sum(axis=1) / sw)), 0.0)
            mu, _ = s.q(s.weights(tau2))
        fitted = np.ones(len(kk), bool)
    else:
        if res.method == "PM":
            tau2, fitted = _pm(s, kk)
        else:
            tau2, fitted = _fisher(s, kk, res.method == "REML", res.stepadj)
        mu, _ = s.q(s.weights(tau2))
        w0 = M / v[None, :]
        _, q = s.q(w0)
        q = np.maximum(q, 0.0)
        sw = w0.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            vt = (kk - 1) / (sw - (w0**2).sum(axis=1) / sw)
            i2 = np.where(kk > 1, 100 * tau2 / (vt + tau2), 0.0)
            h2 = np.where(kk > 1, 1 + tau2 / vt, 1.0)
        q = np.where(kk > 1, q, 0.0)
        if not fitted.all():
            notes.append(f"{int((~fitted).sum())} subset fits did not converge: NaN rows (metafor: NA)")
    rows = [mu, q, i2, h2, tau2]
    mu, q, i2, h2, tau2 = (np.where(fitted, r, NAN) for r in rows)
    return Gosh(res.method, res.es.measure, res.es.labels, incl, kk.astype(int), mu, q, i2, h2, tau2,
                back_transform(res.es.measure, mu, ni=res.es.ni), fitted, tuple(notes))
