"""livingreview.engine.bias: the k < 10 rule, edge cases and independent cross-checks (metafor itself is in
tests/test_oracle_bias.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from livingreview.engine.bias import _kendall_tau_b, _metareg, _pkendall, begg_test, egger_test, trimfill
from livingreview.engine.effects import escalc
from livingreview.engine.model import rma

TOL = 1e-10  # identities that hold to rounding

# fill_left from the golden battery (k = 16, strong small-study excess of high proportions)
NI = np.array([12, 15, 18, 20, 24, 25, 30, 35, 40, 48, 60, 75, 90, 120, 150, 200])
XI = np.array([8, 9, 10, 11, 12, 12, 14, 15, 16, 18, 22, 26, 30, 38, 46, 60])
SMALL_NI = np.array([25, 40, 33, 60, 18, 90])
SMALL_XI = np.array([10, 22, 12, 30, 9, 41])


def fit(xi=XI, ni=NI, measure="PLO", method="REML", **kw):
    return rma(escalc(measure, xi, ni), method=method, **kw)


# ---------------------------------------------------------------------------------------------- k < 10 rule


@pytest.mark.parametrize("func", [egger_test, begg_test, trimfill])
def test_refused_below_ten_studies(func):
    r = func(fit(SMALL_XI, SMALL_NI))
    assert not r.applicable
    assert r.reason == "not applicable, k < 10"
    assert r.k == 6


def test_refusal_numbers_are_nan():
    res = fit(SMALL_XI, SMALL_NI)
    e, b, t = egger_test(res), begg_test(res), trimfill(res)
    assert np.isnan([e.intercept, e.slope, e.se, e.t, e.pval]).all() and e.line_x.size == 0
    assert np.isnan([b.tau, b.pval]).all()
    assert t.res is None and t.side is None and np.isnan(t.estimate) and t.yi_fill.size == 0


@pytest.mark.parametrize("func", [egger_test, begg_test, trimfill])
def test_force_computes_below_ten(func):
    r = func(fit(SMALL_XI, SMALL_NI), force=True)
    assert r.applicable and r.reason == ""


def test_min_k_is_a_parameter():
    res = fit(SMALL_XI, SMALL_NI)
    assert egger_test(res, min_k=5).applicable
    assert egger_test(fit(), min_k=20).reason == "not applicable, k < 20"


@pytest.mark.parametrize("func", [egger_test, begg_test, trimfill])
def test_too_few_studies_even_when_forced(func):
    k = 2 if func is egger_test else 1  # Begg at k = 2 answers as metafor (τ = ±1, p = 1)
    r = func(fit(SMALL_XI[:k], SMALL_NI[:k]), force=True)
    assert not r.applicable and r.reason.startswith("k ")


# ---------------------------------------------------------------------------------------------- Egger


def test_egger_equals_the_standard_normal_deviate_regression():
    """Egger's original form: regress yi/sei on 1/sei; the intercept's t equals the slope t of yi on sei."""
    res = fit()
    e = egger_test(res)
    se = np.sqrt(res.es.vi)
    ols = stats.linregress(1 / se, res.es.yi / se)
    assert e.slope == pytest.approx(ols.intercept, rel=TOL)
    assert e.intercept == pytest.approx(ols.slope, rel=TOL)
    assert e.se == pytest.approx(ols.intercept_stderr, rel=TOL)
    assert e.df == res.k - 2 and e.zval == e.t


def test_egger_line_for_the_funnel_plot():
    e = egger_test(fit())
    assert e.line_x[0] == 0 and e.line_x[-1] == pytest.approx(np.sqrt(fit().es.vi).max())
    np.testing.assert_allclose(e.line_y, e.intercept + e.slope * e.line_x, rtol=TOL)
    assert e.limit_estimate == e.intercept
    assert e.ci_low < e.intercept < e.ci_high


def test_egger_detects_small_study_asymmetry():
    assert egger_test(fit()).pval < 1e-6


def test_egger_unknown_predictor():
    with pytest.raises(ValueError, match="predictor"):
        egger_test(fit(), predictor="ni")


def test_egger_constant_predictor_is_not_applicable():
    res = fit(np.arange(10, 22), np.full(12, 50), measure="PAS")  # PAS: vi depends on n only
    e = egger_test(res)
    assert not e.applicable and "same sei" in e.reason


# ---------------------------------------------------------------------------------------------- Begg


def test_pkendall_is_the_exact_null_distribution():
    for n in (3, 7, 12):
        m = n * (n - 1) // 2
        cdf = np.array([_pkendall(q, n) for q in range(m + 1)])
        assert cdf[-1] == 1.0 and np.all(np.diff(cdf) > 0)
        np.testing.assert_allclose(cdf[:-1], 1 - cdf[::-1][1:], rtol=0, atol=1e-15)  # symmetric (1 − P rounds)
    assert _pkendall(0, 4) == pytest.approx(1 / 24)  # only the reversed permutation has no concordant pair


def test_begg_exact_matches_scipy_when_untied():
    res = fit()
    b = begg_test(res)
    w = 1 / res.es.vi
    ystar = (res.es.yi - np.sum(w * res.es.yi) / w.sum()) / np.sqrt(res.es.vi - 1 / w.sum())
    ref = stats.kendalltau(ystar, res.es.vi, method="exact")
    assert b.exact and not b.ties
    assert b.tau == pytest.approx(ref.statistic, rel=TOL)
    assert b.pval == pytest.approx(ref.pvalue, rel=1e-6)


def test_begg_ties_use_the_normal_approximation_like_scipy():
    res = fit(measure="PAS", xi=np.array([5, 9, 8, 12, 20, 11, 30, 25, 40, 33, 18, 27]),
              ni=np.array([20, 20, 30, 30, 50, 50, 80, 80, 100, 100, 60, 60]))
    b = begg_test(res)
    assert b.ties and not b.exact
    w = 1 / res.es.vi
    ystar = (res.es.yi - np.sum(w * res.es.yi) / w.sum()) / np.sqrt(res.es.vi - 1 / w.sum())
    ref = stats.kendalltau(ystar, res.es.vi, method="asymptotic")
    assert b.tau == pytest.approx(ref.statistic, rel=TOL)
    assert b.pval == pytest.approx(ref.pvalue, rel=1e-9)


def test_kendall_tau_b_constant_variable():
    assert np.isnan(_kendall_tau_b(np.arange(5.0), np.ones(5)))
    res = fit(np.arange(10, 22), np.full(12, 50), measure="PAS")
    b = begg_test(res)
    assert np.isnan(b.tau) and np.isnan(b.pval) and "undefined" in b.reason


# ---------------------------------------------------------------------------------------------- trim-and-fill


def test_trimfill_fills_left_by_reflection():
    res = fit()
    tf = trimfill(res)
    assert tf.side == "left" and tf.k0 > 0 and tf.estimator == "L0"
    assert len(tf.yi_fill) == len(tf.vi_fill) == len(tf.ni_fill) == tf.k0
    assert tf.res.k == res.k + tf.k0
    assert tf.res.es.labels[-tf.k0:] == tuple(f"Filled {i + 1}" for i in range(tf.k0))
    assert np.isnan(tf.res.es.xi[-tf.k0:]).all()
    # the filled studies mirror the k0 largest observed ones about one common centre (the trimmed estimate)
    top = np.argsort(res.es.yi)[-tf.k0:]
    centre = (np.sort(res.es.yi[top]) + np.sort(tf.yi_fill)[::-1]) / 2
    np.testing.assert_allclose(centre, centre[0], rtol=TOL)
    np.testing.assert_allclose(np.sort(tf.vi_fill), np.sort(res.es.vi[top]), rtol=TOL)
    assert tf.estimate < res.estimate  # filling on the left pulls the estimate down
    np.testing.assert_array_equal(tf.yi_obs, res.es.yi)


def test_trimfill_fills_right_when_small_studies_are_low():
    res = fit(np.array([1, 2, 3, 4, 6, 7, 9, 12, 16, 22, 28, 36, 52, 68]),
              np.array([10, 14, 16, 20, 25, 28, 32, 40, 50, 65, 80, 100, 140, 180]))
    tf = trimfill(res)
    assert tf.side == "right" and tf.k0 > 0 and np.all(tf.yi_fill > res.estimate)
    assert tf.estimate > res.estimate


def test_trimfill_k0_zero_returns_the_original_model():
    res = fit(np.array([9, 9, 13, 15, 21, 23, 33, 39, 49, 59, 13, 19]),
              np.array([20, 25, 30, 40, 50, 60, 80, 100, 120, 150, 35, 45]))
    for est in ("L0", "R0"):
        tf = trimfill(res, estimator=est)
        assert tf.k0 == 0 and tf.res is res and tf.yi_fill.size == 0
    assert trimfill(res, estimator="R0").p_k0 == 0.5
    assert np.isnan(trimfill(res).p_k0)


def test_trimfill_r0_test_of_k0():
    tf = trimfill(fit(), estimator="R0")
    assert tf.p_k0 == pytest.approx(0.5 ** (tf.k0 + 1))


def test_trimfill_refit_keeps_the_model_settings():
    res = fit(test="knha", level=0.9)
    tf = trimfill(res)
    assert tf.res.test == "knha" and tf.res.level == 0.9 and tf.res.method == "REML"
    assert trimfill(res, test="z").res.test == "z"  # what metafor's refit uses unless told otherwise


def test_trimfill_pft_back_transform_uses_filled_ni():
    res = fit(measure="PFT")
    tf = trimfill(res)
    assert tf.k0 > 0
    np.testing.assert_array_equal(tf.res.es.ni, np.concatenate([NI, tf.ni_fill]))
    assert 0 < tf.res.proportion().estimate < res.proportion().estimate


def test_trimfill_bad_arguments():
    with pytest.raises(ValueError, match="estimator"):
        trimfill(fit(), estimator="Q1")
    with pytest.raises(ValueError, match="side"):
        trimfill(fit(), side="up")


@pytest.mark.parametrize("method", ["FE", "DL", "REML", "ML", "PM"])
def test_metareg_slope_matches_weighted_least_squares(method):
    """The side-choosing meta-regression: WLS slope with the estimator's τ² (FE: ordinary WLS)."""
    res = fit()
    y, v = res.es.yi, res.es.vi
    _, slope, tau2 = _metareg(y, v, np.sqrt(v), method)
    if method == "FE":
        X = np.column_stack([np.ones_like(y), np.sqrt(v)])
        W = np.diag(1 / v)
        ref = np.linalg.solve(X.T @ W @ X, X.T @ W @ y)[1]
        assert slope == pytest.approx(ref, rel=TOL) and tau2 == 0
    assert slope > 0 and tau2 >= 0
