"""The metafor mirror: effect sizes → a fitted model → everything asked of the fitted model.

Arrays in, frozen results out; no data files, no configuration, no HTML. Each function's docstring names the
metafor call it mirrors, and every number is checked against metafor by the oracle tests (``tests/oracle/``).

The public API is importable from here (``from livingreview.engine import escalc, rma``); the submodules are
loaded on first use, so that ``livingreview.engine.options`` stays importable without numpy or scipy.
"""

from importlib import import_module

#: name → submodule that defines it (the curated public API).
_API = {
    "MEASURES": "options", "METHODS": "options", "TESTS": "options", "PI_DISTS": "options", "TO_CHOICES": "options",
    "STUDY_CI_METHODS": "options",
    "EffectSizes": "effects", "escalc": "effects", "back_transform": "effects", "study_intervals": "effects",
    "MetaResult": "model", "Proportion": "model", "rma": "model", "NotEstimableError": "model",
    "MetaRegression": "metareg", "meta_regression": "metareg", "predict": "metareg", "Prediction": "metareg",
    "regression_line": "metareg", "RegressionLine": "metareg",
    "SubgroupResult": "subgroups", "subgroup_analysis": "subgroups",
    "LeaveOneOut": "sensitivity", "leave_one_out": "sensitivity", "Cumulative": "sensitivity",
    "cumulative": "sensitivity",
    "Influence": "diagnostics", "influence": "diagnostics", "Residuals": "diagnostics", "rstandard": "diagnostics",
    "rstudent": "diagnostics", "Baujat": "diagnostics", "baujat": "diagnostics", "study_diagnostics": "diagnostics",
    "Gosh": "heterogeneity", "gosh": "heterogeneity",
    "ConfintTau2": "intervals", "confint_tau2": "intervals", "PredictiveProbability": "intervals",
    "predictive_probability": "intervals",
    "egger_test": "bias", "begg_test": "bias", "trimfill": "bias",
    "GlmmResult": "glmm", "rma_glmm": "glmm",
    "forest_plot": "plots", "funnel_plot": "plots", "alt_text": "plots", "save_figure": "plots", "svg_bytes": "plots",
    "png_bytes": "plots", "DiagnosticPlot": "plots", "influence_plot": "plots", "baujat_plot": "plots",
    "gosh_plot": "plots", "cumulative_plot": "plots", "bubble_plot": "plots",
}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        return getattr(import_module(f"{__name__}.{_API[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
