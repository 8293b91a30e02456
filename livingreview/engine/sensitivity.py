"""Leave-one-out and cumulative meta-analysis, as ``metafor::leave1out()`` and ``metafor::cumul()`` 3.8-1."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .effects import back_transform
from .model import MetaResult, rma

_FIELDS = ("estimate", "se", "zval", "pval", "ci_low", "ci_high", "q", "q_p", "tau2", "i2", "h2")


@dataclass(frozen=True)
class LeaveOneOut:
    """One row per omitted study (``label``), transformed scale, plus ``prop_*`` on the 0–1 scale. A row whose
    refit fails (e.g. Fisher scoring does not converge) is NaN, as metafor's NA row; ``notes`` says which."""

    label: tuple[str, ...]
    estimate: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    q: np.ndarray
    q_p: np.ndarray
    tau2: np.ndarray
    i2: np.ndarray
    h2: np.ndarray
    prop_estimate: np.ndarray
    prop_ci_low: np.ndarray
    prop_ci_high: np.ndarray
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cumulative:
    """Row i is the model of the first i studies in ``label`` order (``order`` = their original indices);
    transformed scale plus ``prop_*`` on the 0–1 scale; NaN rows where a refit fails (noted)."""

    label: tuple[str, ...]
    order: np.ndarray
    k: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    q: np.ndarray
    q_p: np.ndarray
    tau2: np.ndarray
    i2: np.ndarray
    h2: np.ndarray
    prop_estimate: np.ndarray
    prop_ci_low: np.ndarray
    prop_ci_high: np.ndarray
    notes: tuple[str, ...] = ()
    level: float = 0.95


def _refits(res: MetaResult, subsets, what) -> tuple[dict[str, np.ndarray], list[str]]:
    """Refit ``res``'s model (method, test, level and the step adjustment it converged with, as metafor's
    ``control=x$control``) on each index subset; a refit that fails gives a NaN row and a note."""
    cols = {f: np.full(len(subsets), np.nan) for f in _FIELDS}
    notes = []
    for row, idx in enumerate(subsets):
        try:
            r = rma(res.es.subset(idx), method=res.method, test=res.test, pi_dist=res.pi_dist, level=res.level,
                    stepadj=res.stepadj)
        except ValueError as err:
            notes.append(f"{what(row)}: the model cannot be fitted, row left NaN as metafor's NA ({err})")
            continue
        for f in _FIELDS:
            cols[f][row] = getattr(r, f)
    return cols, notes


def _proportions(res: MetaResult, cols) -> dict[str, np.ndarray]:
    """Back-transformed estimate and CI; PFT with the harmonic mean of *all* k study sizes (``targs=list(ni=
    dat$ni)``, as metafor is called); bounds sorted after transforming (metafor's ``.psort``)."""
    es = res.es
    est, lo, hi = (back_transform(es.measure, cols[f], ni=es.ni) for f in ("estimate", "ci_low", "ci_high"))
    return {"prop_estimate": est, "prop_ci_low": np.minimum(lo, hi), "prop_ci_high": np.maximum(lo, hi)}


def leave_one_out(res: MetaResult) -> LeaveOneOut:
    """Refit ``res``'s model (same method, test, level) k times, each time without one study.

    The study-level yi/vi are reused, not recomputed (as ``leave1out`` reuses ``x$yi.f``/``x$vi.f``). The
    PFT back-transform uses the harmonic mean of **all** k study sizes, not of the remaining k − 1: that is
    what ``leave1out(res, transf=transf.ipft.hm, targs=list(ni=dat$ni))`` does. With k = 2 every refit has
    k = 1 (so its test becomes "z", as in metafor). k = 1 raises, as metafor stops. A refit that fails (e.g.
    REML that does not converge without that study) gives a NaN row with a note, as metafor's NA row.
    """
    es = res.es
    if es.k < 2:
        raise ValueError("leave-one-out needs k >= 2 (metafor: 'Stopped because k = 1.')")
    cols, notes = _refits(res, [np.arange(es.k) != i for i in range(es.k)], lambda i: f"without {es.labels[i]}")
    return LeaveOneOut(label=es.labels, **cols, **_proportions(res, cols), notes=tuple(notes))


def _sort_order(keys, k: int, decreasing: bool) -> np.ndarray:
    if keys is None:
        return np.arange(k)
    keys = list(np.asarray(keys, dtype=object).ravel())
    if len(keys) != k:
        raise ValueError(f"order has {len(keys)} values for {k} studies (metafor: a variable to sort by)")
    return np.array(sorted(range(k), key=lambda i: keys[i], reverse=decreasing), dtype=int)  # stable, as R


def cumulative(res: MetaResult, order=None, decreasing: bool = False) -> Cumulative:
    """``metafor::cumul(res, order=, transf=)``: the model refitted to the first 1, 2, …, k studies.

    ``order`` is a variable to sort the studies by (e.g. publication year), one value per study, as in
    metafor 3.8-1 (not a permutation); ties keep the data order (R's ``order()`` is stable), ``decreasing``
    reverses. None keeps the data order. Each refit uses ``res``'s method, test and level (the first row has
    k = 1: test "z", τ² = 0, as metafor); rows whose refit fails are NaN with a note. Proportions: PFT with
    the harmonic mean of all k study sizes (``cumul(res, transf=transf.ipft.hm, targs=list(ni=dat$ni))``).
    """
    es = res.es
    idx = _sort_order(order, es.k, decreasing)
    labels = tuple(es.labels[i] for i in idx)
    cols, notes = _refits(res, [idx[: i + 1] for i in range(es.k)], lambda i: f"first {i + 1} (to {labels[i]})")
    return Cumulative(label=labels, order=idx, k=np.arange(1, es.k + 1), **cols, **_proportions(res, cols),
                      notes=tuple(notes), level=res.level)
