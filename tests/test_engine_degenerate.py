"""Degenerate inputs (issue 15): each bounded, refused or explained — never a hang or a silent number.

The cases metafor decides are compared with metafor in test_oracle_battery.py; these are the engine's own rules.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from livingreview.engine import model
from livingreview.engine.bias import EXACT_KENDALL_MAX_K, begg_test, trimfill
from livingreview.engine.effects import escalc
from livingreview.engine.metareg import meta_regression
from livingreview.engine.model import NotEstimableError, rma
from livingreview.engine.options import METHODS


@pytest.mark.parametrize("xi", [[True, 3], np.array([True, False]), ["3", "4"], pd.Series([False, True]),
                                [np.bool_(True), 2]])
def test_booleans_and_strings_are_not_counts(xi):
    with pytest.raises(ValueError, match="xi must be numbers"):
        escalc("PLO", xi, [10, 10])
    with pytest.raises(ValueError, match="ni must be numbers"):
        escalc("PLO", [1, 2], xi)


def test_numeric_counts_of_any_numeric_type_still_work():
    es = escalc("PLO", pd.Series([3, 4], dtype="int64"), np.array([10.0, 12.0]))
    np.testing.assert_allclose(es.xi, [3, 4])


@pytest.mark.parametrize("method", METHODS)
def test_zero_studies_are_refused(method):
    es = escalc("PLO", [3, 4], [10, 12]).subset(np.array([False, False]))
    with pytest.raises(ValueError, match="k = 0"):
        rma(es, method=method)


def test_fisher_scoring_is_bounded_and_says_so(monkeypatch):
    monkeypatch.setattr(model, "MAXITER", 3)
    es = escalc("PLO", [0] * 15 + [41], [495, 426, 66, 483, 160, 133, 262, 393, 43, 324, 85, 42, 138, 465, 496, 357])
    with pytest.raises(NotEstimableError, match=r"did not converge in 3 iterations \(step adjustment 1, 0.5, 0.25"):
        rma(es, method="REML")


def test_step_adjustment_is_used_and_noted_only_when_needed():
    es = escalc("PLO", [0] * 15 + [41], [495, 426, 66, 483, 160, 133, 262, 393, 43, 324, 85, 42, 138, 465, 496, 357])
    r = rma(es, method="REML")
    assert r.stepadj == 0.5 and any("step adjustment 0.5" in n for n in r.notes)
    assert rma(es, method="REML", stepadj=0.5).tau2 == r.tau2  # the same iterations as asking for it
    easy = rma(escalc("PLO", [3, 6, 10, 1], [11, 17, 21, 6]), method="REML")
    assert easy.stepadj == 1.0 and not any("step" in n for n in easy.notes)


def test_paule_mandel_bracket_is_bounded(monkeypatch):
    monkeypatch.setattr(model, "PM_TAU2_LIMIT", 1e3)
    es = escalc("PR", [1, 99, 2, 98], [100, 100, 100, 100])
    es = replace(es, yi=es.yi * 1e3)  # a spread no proportion has: Q(τ²) stays above k − 1 up to the limit
    with pytest.raises(NotEstimableError, match="Paule–Mandel"):
        rma(es, method="PM")


def test_begg_uses_the_normal_approximation_from_k_171():
    rng = np.random.default_rng(3)
    k = EXACT_KENDALL_MAX_K
    n = rng.permutation(np.arange(20, 20 + 3 * k, 3))[:k]  # distinct n: no ties in vi
    x = rng.binomial(n, 0.3)
    res = rma(escalc("PLO", x, n), method="FE")
    b = begg_test(res)
    assert b.applicable and not b.exact and not b.ties and np.isfinite(b.pval)
    w = 1 / res.es.vi
    ystar = (res.es.yi - np.sum(w * res.es.yi) / w.sum()) / np.sqrt(res.es.vi - 1 / w.sum())
    ref = stats.kendalltau(ystar, res.es.vi, method="asymptotic")
    assert b.tau == pytest.approx(ref.statistic, rel=1e-12) and b.pval == pytest.approx(ref.pvalue, rel=1e-10)
    smaller = begg_test(rma(escalc("PLO", x[:-1], n[:-1]), method="FE"))
    assert smaller.exact  # k = 170: R's exact permutation p is still finite


def test_trimfill_with_equal_variances_explains_instead_of_linalg_error():
    es = escalc("PAS", [3, 8, 12, 5, 9, 14, 2, 7, 10, 6, 11], [40] * 11)
    tf = trimfill(rma(es))
    assert not tf.applicable and "side" in tf.reason and "not of full rank" in tf.reason
    assert trimfill(rma(es), side="left").applicable  # with the side given there is nothing to regress


def test_trimfill_returns_within_maxiter_with_the_reason():
    es = escalc("PLO", [45, 30, 88, 12, 60, 9, 10, 19, 8, 101], [50, 40, 100, 20, 64, 10, 10, 20, 8, 110])
    full = trimfill(rma(es))
    assert full.applicable and full.k0 > 0 and full.iterations > 2
    tf = trimfill(rma(es), maxiter=full.iterations - 1)
    assert not tf.applicable and f"did not settle in {full.iterations - 1} iterations" in tf.reason


def test_trimfill_with_identical_estimates_is_not_estimable():
    es = escalc("PLO", [5, 10, 20, 15] * 3, [10, 20, 40, 30] * 3)
    for estimator in ("L0", "R0"):
        tf = trimfill(rma(es), estimator=estimator)
        assert not tf.applicable and "same estimate" in tf.reason and tf.res is None


def test_meta_regression_needs_more_studies_than_parameters():
    es = escalc("PLO", [5, 10, 15], [20, 25, 30])
    with pytest.raises(ValueError, match="cannot be estimated from k = 3"):
        meta_regression(es, {"a": [1, 2, 3], "b": [2, 1, 5]}, force=True)
    assert meta_regression(es, {"a": [1, 2, 3]}, method="FE", force=True).applicable
