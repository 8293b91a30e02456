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
