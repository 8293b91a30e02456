"""Subgroup analysis with a separate τ² per subgroup and the Q-between test, as done with metafor.

Each level is fitted on its own (``rma(..., subset=)``, own τ²); the subgroup estimates are then compared with
Q_between = Σ_g (μ̂_g − μ̄)² / SE_g², μ̄ their inverse-variance mean, on G − 1 df — in metafor
``rma(yi=est, sei=se, method="EE")$QE`` (not the ``mods=~factor(g)`` QM test, which assumes one common τ²).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .effects import EffectSizes
from .model import MetaResult, rma


@dataclass(frozen=True)
class SubgroupResult:
    """``levels`` maps each level (first-appearance order in ``groups``) to its own fit. ``excluded`` lists
    the labels of studies with a missing group (None, NaN or blank), which take no part."""

    levels: dict[str, MetaResult]
    q_between: float
    q_between_df: int
    q_between_p: float
    excluded: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def df(self) -> int:
        return self.q_between_df

    @property
    def p(self) -> float:
        return self.q_between_p


def _missing(g) -> bool:
    if g is None:
        return True
    if isinstance(g, float) and math.isnan(g):
        return True
    return isinstance(g, str) and g.strip() == ""


def q_between(estimates, ses) -> tuple[float, int, float]:
    """Cochran's Q across subgroup estimates (metafor: ``rma(yi=est, sei=se, method="EE")``: QE, df, QEp)."""
    est, w = np.asarray(estimates, float), 1 / np.asarray(ses, float) ** 2
    df = len(est) - 1
    if df < 1:
        return float("nan"), df, float("nan")
    q = max(0.0, float(np.sum(w * (est - np.sum(w * est) / w.sum()) ** 2)))
    return q, df, float(stats.chi2.sf(q, df))


def subgroup_analysis(es: EffectSizes, groups, method: str = "REML", test: str = "z", pi_dist: str = "t2",
                      level: float = 0.95) -> SubgroupResult:
    """Fit ``rma()`` within each level of ``groups`` (one label per study) and test Q-between.

    Levels keep their order of first appearance. A level with k = 1 takes part with its single-study estimate
    (and SE). Q-between uses each level's ``se`` from the chosen ``test`` (so knha-scaled SEs under "knha"),
    exactly what ``rma(yi=est, sei=se, method="EE")`` does on metafor's per-level fits.
    """
    groups = list(groups)
    if len(groups) != es.k:
        raise ValueError(f"{len(groups)} group labels for {es.k} studies")
    missing = np.array([_missing(g) for g in groups])
    keys = [None if m else str(g).strip() for g, m in zip(groups, missing)]
    order = list(dict.fromkeys(k for k in keys if k is not None))
    if not order:
        raise ValueError("no study has a subgroup label")
    fits = {lv: rma(es.subset(np.array([k == lv for k in keys])), method=method, test=test, pi_dist=pi_dist,
                    level=level) for lv in order}
    qb, df, p = q_between([f.estimate for f in fits.values()], [f.se for f in fits.values()])
    notes = []
    if len(order) < 2:
        notes.append("only one subgroup level: no Q-between test")
    excluded = tuple(es.labels[i] for i in np.flatnonzero(missing))
    if excluded:
        notes.append(f"{len(excluded)} stud{'y' if len(excluded) == 1 else 'ies'} without a subgroup label excluded")
    return SubgroupResult(fits, qb, df, p, excluded, tuple(notes))
