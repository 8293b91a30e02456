"""Effect sizes for single proportions and their back-transforms, as in R metafor 3.8-1.

``escalc()`` mirrors ``metafor::escalc(measure=, xi=, ni=, add=, to=)`` for the four proportion measures;
``back_transform()`` mirrors ``transf.ilogit``, ``transf.iarcsin`` and ``transf.ipft.hm``.

| measure | yi | vi | back-transform |
|---|---|---|---|
| PR  | p = x/n                                        | p(1-p)/n     | identity (no clipping, as metafor) |
| PLO | log(x/(n-x))                                   | 1/x + 1/(n-x) | inverse logit |
| PAS | asin(sqrt(p))                                  | 1/(4n)       | sin², clamped to [0, 1] |
| PFT | ½[asin√(x/(n+1)) + asin√((x+1)/(n+1))] (halved) | 1/(4n+2)     | Miller (1978), harmonic-mean n |
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.special import expit

from .options import MEASURES, STUDY_CI_METHODS, TO_CHOICES


@dataclass(frozen=True)
class EffectSizes:
    """Study-level estimates on the measure's scale.

    ``xi``/``ni`` are the counts as given (before any continuity correction); ``yi``/``vi`` are computed
    from the corrected counts; ``add``/``to`` record the correction actually used.
    """

    measure: str
    xi: np.ndarray
    ni: np.ndarray
    yi: np.ndarray
    vi: np.ndarray
    labels: tuple[str, ...]
    add: float
    to: str

    @property
    def k(self) -> int:
        return len(self.yi)

    def subset(self, keep) -> "EffectSizes":
        """Rows selected by a boolean mask or index array. yi/vi are *not* recomputed, like ``rma(subset=)``
        after a single ``escalc()`` call (this matters only for ``to="if0all"``)."""
        idx = np.arange(self.k)[np.asarray(keep)]
        return replace(self, xi=self.xi[idx], ni=self.ni[idx], yi=self.yi[idx], vi=self.vi[idx],
                       labels=tuple(self.labels[i] for i in idx))


def _as_counts(name: str, values) -> np.ndarray:
    """Counts as a float array. Booleans and strings are refused, not coerced: ``True`` is not one event and
    ``"12"`` is not a count (R's escalc refuses a logical or character ``xi`` as well)."""
    cells = np.atleast_1d(np.asarray(values, dtype=object))
    bad = [i for i, v in enumerate(cells.ravel()) if isinstance(v, (bool, np.bool_, str, bytes))]
    if bad:
        what = "/".join(sorted({type(cells.ravel()[i]).__name__ for i in bad}))
        raise ValueError(f"{name} must be numbers, got {what} values in studies {bad} (0-based)")
    arr = np.atleast_1d(np.asarray(values, dtype=float))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains missing or non-finite values: {arr.tolist()}")
    return arr


def escalc(measure: str, xi, ni, labels=None, add: float | None = None, to: str = "only0") -> EffectSizes:
    """Mirror of ``metafor::escalc(measure, xi=, ni=, add=, to=)`` for PR, PLO, PAS and PFT.

    Continuity correction (metafor's rules): ``add`` defaults to 1/2 for PR/PLO and to 0 for PAS/PFT
    (metafor sets ``add=0`` internally for these unless ``add`` is given). ``to="only0"`` adds it to x and
    n−x (so n becomes n+2·add) only in studies with x = 0 or x = n; ``"all"`` in every study; ``"if0all"``
    in every study if any has x = 0 or x = n; ``"none"`` never.
    """
    measure = str(measure).upper()
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; choose one of {MEASURES}")
    if to not in TO_CHOICES:
        raise ValueError(f"unknown to={to!r}; choose one of {TO_CHOICES}")
    xi = _as_counts("xi", xi)
    ni = _as_counts("ni", ni)
    if xi.shape != ni.shape:
        raise ValueError(f"xi and ni differ in length ({len(xi)} vs {len(ni)})")
    if len(xi) == 0:
        raise ValueError("no studies: xi and ni are empty")
    if np.any(xi < 0):
        raise ValueError(f"negative event counts in studies {np.flatnonzero(xi < 0).tolist()} (0-based)")
    if np.any(ni < 1):
        raise ValueError(f"sample size n < 1 in studies {np.flatnonzero(ni < 1).tolist()} (0-based)")
    if np.any(xi > ni):
        raise ValueError(f"events x > n in studies {np.flatnonzero(xi > ni).tolist()} (0-based)")
    if labels is None:
        labels = tuple(f"Study {i + 1}" for i in range(len(xi)))
    else:
        labels = tuple(str(s) for s in labels)
        if len(labels) != len(xi):
            raise ValueError(f"{len(labels)} labels for {len(xi)} studies")
    if add is None:
        add = 0.5 if measure in ("PR", "PLO") else 0.0
    add = float(add)
    if not np.isfinite(add) or add < 0:
        raise ValueError(f"add must be a finite number >= 0, got {add}")

    x, m = xi.copy(), ni - xi  # events, non-events
    extreme = (x == 0) | (m == 0)
    if to == "all" or (to == "if0all" and extreme.any()):
        x, m = x + add, m + add
    elif to == "only0":
        x, m = np.where(extreme, x + add, x), np.where(extreme, m + add, m)
    n = x + m
    p = x / n

    with np.errstate(divide="ignore"):  # uncorrected PLO at x=0 / x=n gives ±inf, as in R; rma() rejects it
        if measure == "PR":
            yi, vi = p, p * (1 - p) / n
        elif measure == "PLO":
            yi, vi = np.log(x / m), 1 / x + 1 / m
        elif measure == "PAS":
            yi, vi = np.arcsin(np.sqrt(p)), 1 / (4 * n)
        else:  # PFT: metafor's halved Freeman–Tukey
            yi = 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))
            vi = 1 / (4 * n + 2)
    return EffectSizes(measure, xi, ni, yi, vi, labels, add, to)


def pft(p, n):
    """``metafor::transf.pft``: halved Freeman–Tukey of a proportion p at sample size n."""
    x = np.asarray(p, dtype=float) * n
    return 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))


def ipft_hm(values, ni) -> np.ndarray:
    """``metafor::transf.ipft.hm``: Miller's (1978) inverse with n = harmonic mean of ``ni``.

    Outside the attainable range [pft(0, n̄), pft(1, n̄)] the result is clamped to 0 or 1; where the formula
    is undefined inside it the result is NaN (metafor: NA).
    """
    t = np.asarray(values, dtype=float)
    ni = np.asarray(ni, dtype=float)
    nhm = 1 / np.nanmean(1 / ni)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.sin(2 * t)
        z = 0.5 * (1 - np.sign(np.cos(2 * t)) * np.sqrt(1 - (s + (s - 1 / s) / nhm) ** 2))
        z = np.where(t > pft(1.0, nhm), 1.0, z)
        z = np.where(t < pft(0.0, nhm), 0.0, z)
    return z


def transform(measure: str, p, ni=None) -> np.ndarray:
    """Proportions to the measure's scale, the inverse of :func:`back_transform`: identity (PR), logit (PLO),
    arcsine square root (PAS), and for PFT ``transf.pft(p, n̄)`` at the harmonic mean n̄ of ``ni`` — the exact
    inverse of Miller's back-transform with the same n̄. p = 0 and 1 map to ∓inf under PLO."""
    measure = str(measure).upper()
    p = np.asarray(p, dtype=float)
    if measure == "PR":
        return p.copy()
    if measure == "PLO":
        with np.errstate(divide="ignore"):
            return np.log(p) - np.log1p(-p)
    if measure == "PAS":
        return np.arcsin(np.sqrt(p))
    if measure == "PFT":
        if ni is None:
            raise ValueError("PFT transform needs the study sample sizes ni (harmonic mean, as transf.ipft.hm)")
        return pft(p, 1 / np.mean(1 / np.asarray(ni, dtype=float)))
    raise ValueError(f"unknown measure {measure!r}; choose one of {MEASURES}")


def back_transform(measure: str, values, ni=None) -> np.ndarray:
    """Back to the proportion scale, as metafor's ``transf=`` functions do.

    - PR: identity — metafor has no transform for PR, so values below 0 or above 1 are *not* clipped.
    - PLO: ``transf.ilogit`` (inverse logit).
    - PAS: ``transf.iarcsin``: sin²(t), with t < 0 → 0 and t > π/2 → 1.
    - PFT: ``transf.ipft.hm`` with ``targs=list(ni=ni)``: needs the study sample sizes ``ni``.
    Returns an array of the same shape as ``values`` (0-d for a scalar).
    """
    measure = str(measure).upper()
    t = np.asarray(values, dtype=float)
    if measure == "PR":
        return t.copy()
    if measure == "PLO":
        return expit(t)
    if measure == "PAS":
        return np.where(t < 0, 0.0, np.where(t > np.pi / 2, 1.0, np.sin(t) ** 2))
    if measure == "PFT":
        if ni is None:
            raise ValueError("PFT back-transform needs the study sample sizes ni (harmonic mean, transf.ipft.hm)")
        return ipft_hm(t, ni)
    raise ValueError(f"unknown measure {measure!r}; choose one of {MEASURES}")


def study_intervals(es: EffectSizes, level: float = 0.95, method: str = "transformed"
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each study's proportion and CI on the 0–1 scale, by ``method`` (one of :data:`STUDY_CI_METHODS`):

    - ``"transformed"`` (default; what ``forest(res, transf=)`` draws): back-transform of yᵢ and yᵢ ± z·√vᵢ on
      the measure's scale. Every study is back-transformed with its own n (for PFT, Miller's inverse with nᵢ —
      what metafor's ``forest(res, transf=transf.ipft.hm, targs=list(ni=dat$ni))`` does row by row for a single
      study).
    - ``"clopper-pearson"``: the exact interval of ``binom.test(xᵢ, nᵢ)``, from beta quantiles (0 at x = 0,
      1 at x = n); estimate xᵢ/nᵢ. R meta's default for study CIs (``method.ci.prop="CP"``).
    - ``"wilson"``: the score interval of ``prop.test(xᵢ, nᵢ, correct=FALSE)``; estimate xᵢ/nᵢ.
    The two count-based methods use the counts as given (no continuity correction); a study without counts
    (e.g. one filled in by trim-and-fill) gets NaN.
    """
    from scipy.stats import beta, norm

    if method not in STUDY_CI_METHODS:
        raise ValueError(f"unknown study CI method {method!r}; choose one of {STUDY_CI_METHODS}")
    alpha = 1 - level
    z = norm.ppf(1 - alpha / 2)
    if method != "transformed":
        x, n = np.asarray(es.xi, float), np.asarray(es.ni, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = x / n
            if method == "clopper-pearson":
                lo = np.where(x == 0, 0.0, beta.ppf(alpha / 2, x, n - x + 1))
                hi = np.where(x == n, 1.0, beta.ppf(1 - alpha / 2, x + 1, n - x))
            else:
                centre, denom = x + z**2 / 2, n + z**2
                half = z * np.sqrt(x * (n - x) / n + z**2 / 4)
                lo, hi = (centre - half) / denom, (centre + half) / denom
        return p, lo, hi
    half = z * np.sqrt(es.vi)

    def per_study(values):
        if es.measure != "PFT":
            return np.asarray(back_transform(es.measure, values, ni=es.ni), dtype=float)
        return np.array([back_transform("PFT", np.array([v]), ni=np.array([n]))[0] for v, n in zip(values, es.ni)])

    return per_study(es.yi), per_study(es.yi - half), per_study(es.yi + half)
