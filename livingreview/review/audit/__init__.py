"""Reproduction audit: every pooled number the paper prints, recomputed from the dataset and judged.

The paper (Lao, Wen & Wen 2025) prints about two hundred pooled numbers (``data/published.csv``). For each of them

1. :mod:`.specifications` recomputes the value from the paper's set of studies (data version 1) under several
   specifications (S1 paper-likely, S2 as described, S3 logit/REML, S5 GLMM);
2. :mod:`.status` gives it a status by the first matching rule of ``STATUS_RULES`` (one table; the tolerances are
   constants there) — *reproduced*, *close*, *not reproduced*, or *not reproducible with the data available*;
3. :mod:`.findings` checks the printed numbers against each other (intervals outside 0–100%, the scale on which
   each interval is symmetric — :mod:`.intervals` — the studies the paper cites, the patient totals) and takes the
   checks that need no missing data from :mod:`livingreview.review.feasibility` with their arithmetic (prediction
   intervals against the model, I²/p pairs, Q floors, CI widths, subgroup k's);
4. :mod:`.explain` names, outcome by outcome, the specification that best explains the printed numbers;
5. :mod:`.verdicts` gives every number its final word — the status where the data allow it, the feasibility verdict
   where studies are missing — computed once per data and code (a cache keyed by their hash).

Pure functions and frozen dataclasses; nothing here formats HTML. ``python -m livingreview.review.audit
--write-pins`` rewrites the pinned statuses of ``tests/pins/`` on purpose.
"""

from livingreview.review.audit.explain import OutcomeExplanation, best_specifications
from livingreview.review.audit.findings import CHECKS, COMPUTED, CROSS_CHECK, Finding, findings
from livingreview.review.audit.intervals import SCALES, IntervalCheck, interval_checks, rounding_units, symmetric_on
from livingreview.review.audit.published import (
    MAX_IMPLIED_DF,
    PERCENT_STATS,
    REFERENCE_VERSION,
    STATISTIC_LABELS,
    PaperK,
    PublishedNumber,
    cited_refs,
    implied_df,
    paper_k,
    published_numbers,
    published_value,
)
from livingreview.review.audit.specifications import (
    FT_RULE_I2,
    SPEC_KEYS,
    SPECIFICATIONS,
    Fit,
    Specification,
    fit_outcome,
    ft_rule_measure,
)
from livingreview.review.audit.status import (
    CLOSE_PP,
    I2_TOLERANCE,
    P_TOLERANCE,
    STATUS_RULES,
    STATUSES,
    Audit,
    Case,
    Comparison,
    StatusRule,
    Verdict,
    audit,
    compare,
    judge,
)

__all__ = ["CHECKS", "CLOSE_PP", "COMPUTED", "CROSS_CHECK", "FT_RULE_I2", "I2_TOLERANCE", "MAX_IMPLIED_DF",
           "PERCENT_STATS", "P_TOLERANCE", "REFERENCE_VERSION", "SCALES", "SPECIFICATIONS", "SPEC_KEYS",
           "STATISTIC_LABELS", "STATUSES", "STATUS_RULES", "Audit", "Case", "Comparison", "Finding", "Fit",
           "IntervalCheck", "OutcomeExplanation", "PaperK", "PublishedNumber", "Specification", "StatusRule",
           "Verdict", "audit", "best_specifications", "cited_refs", "compare", "findings", "fit_outcome",
           "ft_rule_measure", "implied_df", "interval_checks", "judge", "paper_k", "published_numbers",
           "published_value", "rounding_units", "symmetric_on"]
