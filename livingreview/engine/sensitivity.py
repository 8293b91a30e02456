"""Leave-one-out sensitivity analysis, as ``metafor::leave1out()`` 3.8-1."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .effects import back_transform
from .model import MetaResult, rma


@dataclass(frozen=True)
class LeaveOneOut:
    """One row per omitted study (``label``), transformed scale, plus ``prop_*`` on the 0–1 scale."""

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


def leave_one_out(res: MetaResult) -> LeaveOneOut:
    """Refit ``res``'s model (same method, test, level) k times, each time without one study.

    The study-level yi/vi are reused, not recomputed (as ``leave1out`` reuses ``x$yi.f``/``x$vi.f``). The
    PFT back-transform uses the harmonic mean of **all** k study sizes, not of the remaining k − 1: that is
    what ``leave1out(res, transf=transf.ipft.hm, targs=list(ni=dat$ni))`` does. With k = 2 every refit has
    k = 1 (so its test becomes "z", as in metafor). k = 1 raises, as metafor stops.
    """
    es = res.es
    if es.k < 2:
        raise ValueError("leave-one-out needs k >= 2 (metafor: 'Stopped because k = 1.')")
    rows = [rma(es.subset(np.arange(es.k) != i), method=res.method, test=res.test, pi_dist=res.pi_dist,
                level=res.level) for i in range(es.k)]

    def col(name):
        return np.array([getattr(r, name) for r in rows], dtype=float)

    est, lo, hi = col("estimate"), col("ci_low"), col("ci_high")
    return LeaveOneOut(
        label=es.labels, estimate=est, se=col("se"), zval=col("zval"), pval=col("pval"), ci_low=lo, ci_high=hi,
        q=col("q"), q_p=col("q_p"), tau2=col("tau2"), i2=col("i2"), h2=col("h2"),
        prop_estimate=back_transform(es.measure, est, ni=es.ni),
        prop_ci_low=back_transform(es.measure, lo, ni=es.ni),
        prop_ci_high=back_transform(es.measure, hi, ni=es.ni),
    )
