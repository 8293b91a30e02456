"""Which specification best explains the paper's printed numbers, outcome by outcome."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from livingreview.review.audit.intervals import SCALES, interval_checks
from livingreview.review.audit.published import implied_df, paper_k, published_numbers, published_value
from livingreview.review.audit.specifications import ft_rule_measure
from livingreview.review.audit.status import Audit, audit


@dataclass(frozen=True)
class OutcomeExplanation:
    outcome: str
    best_spec: str  # e.g. "S1", "S1 = S2", "undetermined"
    ci_scales: tuple[str, ...]  # scales consistent with every CI of the outcome that fits any scale
    cis: int  # printed CIs
    discriminating: int  # CIs that tell the scales apart
    typos: int  # CIs symmetric on no scale
    q_based_pairs: str  # "k of n" I²/p pairs consistent with a Q-based I² at an integer df
    numeric: str  # the specification closest to the printed numbers where the data allow a comparison
    evidence: str


def best_specifications(dataset, result: Audit | None = None) -> tuple[OutcomeExplanation, ...]:
    """Outcome by outcome, the specification that best explains the printed numbers.

    Numeric evidence (statuses *reproduced*/*close*) counts first; where the data cannot reproduce anything, the
    printed intervals decide: the scales on which every CI is symmetric within rounding, mapped to the
    specifications that produce them (raw → S1, and S2 where the paper's I² ≤ 50%; arcsine ≈ FT → S2 where
    I² > 50%; logit → S3/S5). The I²/p pairs tell a Q-based I² (S1/S2, DL) from τ²-based REML (S3).
    """
    numbers = published_numbers(dataset)
    result = audit(dataset) if result is None else result
    checks = interval_checks(numbers)
    out = []
    for outcome in result.outcomes():
        cis = [c for c in checks if c.outcome == outcome and c.kind == "CI"]
        fitting = [c for c in cis if c.consistent]
        scales = tuple(s for s in SCALES if all(s in c.consistent for c in fitting)) if fitting else ()
        disc = sum(c.discriminating for c in fitting)
        typos = len(cis) - len(fitting)
        ft = ft_rule_measure(numbers, outcome) == "PFT"
        specs = []
        for s in scales:
            if s == "raw":
                specs.append("S1" if ft else "S1 = S2")
            elif s == "arcsine" and ft:
                specs.append("S2")
            elif s == "logit":
                specs.append("S3/S5")
        pairs = [(a, published_value(numbers, a, "i2"), published_value(numbers, a, "het_p"))
                 for a in dict.fromkeys(n.analysis for n in numbers if n.outcome == outcome)]
        pairs = [(a, i, p) for a, i, p in pairs if i is not None and p is not None]
        q_ok = sum(bool(implied_df(i.value, p.value, p.comparator)) and
                   (paper_k(numbers, a, dataset.definitions).exact is None or
                    paper_k(numbers, a, dataset.definitions).exact - 1 in implied_df(i.value, p.value, p.comparator))
                   for a, i, p in pairs)
        mine = [c for c in result.comparisons if c.number.outcome == outcome and c.status in ("reproduced", "close")]
        numeric = ""
        if mine:
            tally = pd.Series([c.best_spec for c in mine]).value_counts()
            numeric = f"{tally.index[0]} ({int(tally.iloc[0])} of {len(mine)} matched numbers)"
        if numeric:
            best = numeric.split(" ")[0]
        elif not fitting:
            best = "undetermined"
        elif disc == 0 or len(specs) > 1 and len(scales) == len(SCALES):
            best = "undetermined (CIs do not discriminate)"
        else:
            best = " or ".join(specs) if specs else "none"
        ev = []
        if fitting:
            ev.append(f"{len(fitting)} of {len(cis)} CI(s) fit a scale; all of them are symmetric on: "
                      f"{', '.join(scales) or 'no common scale'} ({disc} discriminating)")
        if typos:
            ev.append(f"{typos} CI(s) symmetric on no scale (probable typos)")
        if pairs:
            ev.append(f"{q_ok} of {len(pairs)} I²/p pair(s) fit a Q-based I² at an integer df")
        ev.append(f"numeric: {numeric}" if numeric else "numeric: nothing reproducible with the studies available")
        out.append(OutcomeExplanation(outcome, best, scales, len(cis), disc, typos, f"{q_ok} of {len(pairs)}",
                                      numeric, "; ".join(ev)))
    return tuple(out)
