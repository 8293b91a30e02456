"""The engine's option lists, as metafor names them. Standard library only, so the configuration and the
command line can offer them without importing numpy or scipy."""

#: Effect measures of ``escalc`` for single proportions.
MEASURES = ("PR", "PLO", "PAS", "PFT")
#: Continuity-correction rules of ``escalc(to=)``.
TO_CHOICES = ("only0", "all", "if0all", "none")
#: τ² estimators of ``rma(method=)`` (FE: the common-effect model).
METHODS = ("FE", "DL", "REML", "PM", "ML")
#: Tests and intervals for the pooled estimate, ``rma(test=)``.
TESTS = ("z", "t", "knha", "adhoc")
#: Prediction-interval distributions: z, t(k−1), t(k−2).
PI_DISTS = ("z", "t1", "t2")
#: Study-level confidence intervals in forest plots (``effects.study_intervals(method=)``).
STUDY_CI_METHODS = ("transformed", "clopper-pearson", "wilson")


def checked_model_options(method: str, test: str, pi_dist: str, level: float) -> str:
    """The options of ``rma`` (and of a meta-regression) checked as metafor checks them; returns the method's
    canonical name ('EE' and 'CE', metafor's names of the common-effect model, are 'FE')."""
    method = str(method).upper()
    method = "FE" if method in ("EE", "CE") else method
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS} (or 'EE')")
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; choose one of {TESTS}")
    if pi_dist not in PI_DISTS:
        raise ValueError(f"unknown pi_dist {pi_dist!r}; choose one of {PI_DISTS}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    return method
