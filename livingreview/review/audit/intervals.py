"""The scale fingerprint of a printed interval: on which scale (raw, arcsine ≈ Freeman–Tukey, logit) it is
symmetric about its estimate, allowing for the rounding of all three printed values."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import logit as _logit

from livingreview.format import decimals
from livingreview.review.audit.published import published_value

#: The scales an interval can be symmetric on, and the specifications that produce intervals on that scale.
SCALES = {
    "raw": "raw proportion (S1; S2 where I² ≤ 50%)",
    "arcsine": "arcsine ≈ Freeman–Tukey (S2 where I² > 50%)",
    "logit": "logit (S3, S5)",
}


def _to_scale(scale: str, p: float) -> float:
    if scale == "raw":
        return p
    if not 0 < p < 1:
        return math.nan
    return float(np.arcsin(np.sqrt(p))) if scale == "arcsine" else float(_logit(p))


def rounding_units(*values: float) -> tuple[float, ...]:
    """The printing unit (pp) of each of a set of values printed together: 0.1 for a value printed to one
    decimal (the usual case; '89.0' counts as one decimal), 0.01 for two ('−0.02'), and 1 for all of them when
    every value is a whole number — the paper prints some grade ≥3 rates as '2.0 (1.0–4.0)', i.e. to whole
    percents, so a triple of whole numbers is read conservatively at that precision."""
    if all(abs(v - round(v)) < 1e-9 for v in values):
        return tuple(1.0 for _ in values)
    return tuple(10.0 ** -max(decimals(v), 1) for v in values)


def symmetric_on(scale: str, estimate: float, low: float, high: float, units=(0.1, 0.1, 0.1)) -> bool:
    """Can an interval printed as ``estimate (low–high)`` (percent, each rounded to its unit in ``units``) be
    symmetric about the estimate on ``scale``? The asymmetry g(high) + g(low) − 2·g(estimate) is monotone in each
    value, so the corners of the rounding box bound it; the interval is consistent with the scale if 0 lies
    between them. A bound outside (0, 100) is consistent with the raw scale only (a back-transformed interval
    cannot leave it)."""
    if isinstance(units, (int, float)):
        units = (float(units),) * 3
    corners = []
    for de in (-units[0] / 2, units[0] / 2):
        for dl in (-units[1] / 2, units[1] / 2):
            for dh in (-units[2] / 2, units[2] / 2):
                e, lo, hi = [(x + d) / 100 for x, d in ((estimate, de), (low, dl), (high, dh))]
                g = [_to_scale(scale, x) for x in (hi, lo, e)]
                if any(math.isnan(x) for x in g):
                    return False
                corners.append(g[0] + g[1] - 2 * g[2])
    return min(corners) <= 0 <= max(corners)


def predicted_asymmetry(scale: str, estimate: float, low: float, high: float) -> float:
    """(high − e) − (e − low) in pp that an interval of the printed width, symmetric on ``scale`` about the
    printed estimate, would show once back-transformed (0 on the raw scale; NaN where undefined)."""
    if scale == "raw":
        return 0.0
    e, width = estimate / 100, (high - low) / 100
    if not 0 < e < 1 or width <= 0:
        return math.nan
    inv = (lambda t: float(np.sin(np.clip(t, 0, np.pi / 2)) ** 2)) if scale == "arcsine" else \
        (lambda t: float(1 / (1 + np.exp(-t))))
    centre = _to_scale(scale, e)

    def gap(c):
        return inv(centre + c) - inv(centre - c) - width

    hi_c = 1.0
    while gap(hi_c) < 0:
        hi_c *= 2
        if hi_c > 64:
            return math.nan
    from scipy.optimize import brentq
    c = brentq(gap, 1e-12, hi_c, xtol=1e-12)
    lo_p, hi_p = inv(centre - c), inv(centre + c)
    return 100 * ((hi_p - e) - (e - lo_p))


@dataclass(frozen=True)
class IntervalCheck:
    """The scale fingerprint of one printed interval (CI or PI)."""

    outcome: str
    subgroup: str
    level: str
    kind: str  # "CI" or "PI"
    estimate: float
    low: float
    high: float
    units: tuple[float, float, float]  # printing unit of estimate, low, high (pp)
    asymmetry: float  # (high − estimate) − (estimate − low), pp
    predicted: dict  # scale -> asymmetry predicted for an interval of this width symmetric on that scale
    consistent: tuple[str, ...]  # scales the printed interval is symmetric on, within rounding

    @property
    def discriminating(self) -> bool:
        """True when the scales disagree by more than rounding: the interval tells them apart."""
        return len(self.consistent) < len(SCALES)


def interval_checks(numbers) -> tuple[IntervalCheck, ...]:
    out = []
    analyses = list(dict.fromkeys(n.analysis for n in numbers))
    for analysis in analyses:
        est = published_value(numbers, analysis, "estimate")
        if est is None:
            continue
        for kind, (lo_s, hi_s) in (("CI", ("ci_low", "ci_high")), ("PI", ("pi_low", "pi_high"))):
            lo, hi = published_value(numbers, analysis, lo_s), published_value(numbers, analysis, hi_s)
            if lo is None or hi is None:
                continue
            units = rounding_units(est.value, lo.value, hi.value)
            consistent = tuple(s for s in SCALES if symmetric_on(s, est.value, lo.value, hi.value, units))
            predicted = {s: predicted_asymmetry(s, est.value, lo.value, hi.value) for s in SCALES}
            out.append(IntervalCheck(*analysis, kind, est.value, lo.value, hi.value, units,
                                     (hi.value - est.value) - (est.value - lo.value), predicted, consistent))
    return tuple(out)
