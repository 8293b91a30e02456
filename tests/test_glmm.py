"""livingreview.engine.glmm: quadrature, edge cases and fallbacks (metafor/lme4 itself is in tests/test_oracle_bias.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import expit, gammaln, logit

from livingreview.engine.glmm import _gh, _loglik, rma_glmm

TOL = 1e-10       # closed forms
QUAD_TOL = 1e-8   # AGQ with many nodes vs adaptive numerical integration

NI = np.array([17, 12, 8, 58, 10, 42, 14, 12, 41, 5, 6, 23, 68, 10])  # dat.pritz1997
XI = np.array([16, 11, 7, 43, 10, 25, 13, 12, 22, 4, 5, 18, 58, 6])


def _brute_loglik(mu, tau, x, n):
    total = 0.0
    for xi, ni in zip(x, n):
        f = lambda u: stats.binom.pmf(xi, ni, expit(mu + tau * u)) * stats.norm.pdf(u)  # noqa: E731
        total += np.log(integrate.quad(f, -12, 12, epsabs=0, epsrel=1e-13, limit=200)[0])
    return total


@pytest.mark.parametrize("mu,tau", [(1.2, 0.8), (-2.5, 1.5), (0.0, 0.0)])
def test_agq_loglik_matches_numerical_integration(mu, tau):
    x, n = XI.astype(float), NI.astype(float)
    lchoose = gammaln(n + 1) - gammaln(x + 1) - gammaln(n - x + 1)
    nodes, logw = _gh(25)
    assert _loglik(mu, tau, x, n, lchoose, nodes, logw) == pytest.approx(_brute_loglik(mu, tau, x, n), rel=QUAD_TOL)


def test_fit_is_stable_in_the_number_of_nodes():
    r7, r20 = rma_glmm(XI, NI), rma_glmm(XI, NI, n_agq=20)
    assert r7.estimate == pytest.approx(r20.estimate, rel=1e-3)
    assert r7.tau2 == pytest.approx(r20.tau2, rel=1e-2)
    laplace = rma_glmm(XI, NI, n_agq=1)
    assert laplace.n_agq == 1 and laplace.converged and laplace.estimate != r7.estimate


def test_ml_fit_basics():
    r = rma_glmm(XI, NI)
    assert r.method == "ML" and r.converged and r.k == 14 and r.tau2 > 0 and r.tau == pytest.approx(np.sqrt(r.tau2))
    assert r.ci_low < r.estimate < r.ci_high and r.pi_low < r.ci_low
    p = r.proportion()
    assert p.estimate == pytest.approx(expit(r.estimate)) and p.ci_low < p.estimate < p.ci_high
    assert r.se > rma_glmm(XI, NI, method="FE").se  # between-study variance widens the CI
    assert r.loglik > rma_glmm(XI, NI, method="FE").loglik


def test_fixed_effect_fit_is_pooled_logistic_regression():
    r = rma_glmm(XI, NI, method="FE")
    assert r.estimate == pytest.approx(logit(XI.sum() / NI.sum()), rel=TOL)
    assert r.se == pytest.approx(np.sqrt(1 / XI.sum() + 1 / (NI.sum() - XI.sum())), rel=TOL)
    assert r.tau2 == 0 and np.isnan(r.pi_low) and r.i2 == 0
    assert r.qe_lrt == pytest.approx(2 * (stats.binom.logpmf(XI, NI, XI / NI).sum()
                                          - stats.binom.logpmf(XI, NI, XI.sum() / NI.sum()).sum()), rel=TOL)


def test_tau2_on_the_boundary_is_noted():
    r = rma_glmm([20, 25, 15, 33, 39, 28, 22, 26], [50, 60, 40, 80, 100, 70, 55, 65])
    fe = rma_glmm([20, 25, 15, 33, 39, 28, 22, 26], [50, 60, 40, 80, 100, 70, 55, 65], method="FE")
    assert r.tau2 == 0 and r.converged and any("boundary 0" in s for s in r.notes)
    assert r.estimate == pytest.approx(fe.estimate, rel=1e-8) and r.se == pytest.approx(fe.se, rel=1e-6)


def test_some_zero_event_studies_need_no_correction():
    xi = [0, 1, 0, 2, 3, 0, 4, 2, 5, 6, 4, 9]
    ni = [15, 22, 30, 41, 48, 55, 60, 72, 85, 100, 120, 164]
    r = rma_glmm(xi, ni)
    assert r.converged and np.isfinite([r.estimate, r.se, r.ci_low, r.ci_high]).all()
    assert any("0 or n events" in s for s in r.notes)


@pytest.mark.parametrize("method", ["ML", "FE"])
def test_all_zero_events_are_not_estimable(method):
    """metafor stops ('Cannot fit ML model'); the engine says why and returns no number (no −inf)."""
    r = rma_glmm([0, 0, 0], [10, 20, 30], method=method)
    assert not r.estimable and not r.converged
    assert np.isnan([r.estimate, r.se, r.ci_low, r.ci_high, r.tau2]).all()
    assert np.isnan(r.proportion().estimate)
    assert "every study has 0 events" in r.reason and r.reason in r.notes


def test_all_events_are_not_estimable():
    r = rma_glmm([10, 20], [10, 20])
    assert not r.estimable and np.isnan(r.estimate) and "every study has n events" in r.reason


def test_only_zero_and_full_studies_have_no_finite_ml_fit():
    """0/n and n/n only: the likelihood keeps growing with τ (glmer returns τ² ≈ 35,000 unconverged)."""
    r = rma_glmm([0, 20, 0, 15], [10, 20, 30, 15])
    assert not r.estimable and "keeps growing with τ" in r.reason
    fe = rma_glmm([0, 20, 0, 15], [10, 20, 30, 15], method="FE")
    assert fe.estimable and fe.estimate == pytest.approx(np.log(35 / 40), rel=TOL)


def test_identical_proportions_stop_like_lme4():
    r = rma_glmm([5, 10, 20], [10, 20, 40])
    assert not r.estimable and "Response is constant" in r.reason
    assert rma_glmm([5, 10, 20], [10, 20, 40], method="FE").estimate == pytest.approx(0.0, abs=1e-12)


def test_large_tau_is_found_not_capped():
    """Mostly 0/n and n/n with one informative study: glmer finds τ² ≈ 229 (τ ≈ 15); the search reaches it."""
    r = rma_glmm([0, 20, 0, 15, 3], [10, 20, 30, 15, 10])
    assert r.estimable and r.converged and 200 < r.tau2 < 260


def test_single_study_falls_back_to_fixed_effect():
    r = rma_glmm([7], [20])
    assert r.method == "FE" and r.k == 1 and r.tau2 == 0 and r.converged
    assert r.estimate == pytest.approx(np.log(7 / 13), rel=TOL)
    assert r.se == pytest.approx(np.sqrt(1 / 7 + 1 / 13), rel=TOL)
    assert np.isnan([r.i2, r.qe_lrt, r.qe_wald]).all()
    assert any("k = 1" in s for s in r.notes)
    assert r.proportion().estimate == pytest.approx(7 / 20)


def test_single_zero_event_study():
    r = rma_glmm([0], [20])
    assert not r.estimable and np.isnan(r.proportion().estimate)


def test_bad_input():
    with pytest.raises(ValueError):
        rma_glmm([5, 30], [10, 20])  # x > n
    with pytest.raises(ValueError, match="method"):
        rma_glmm(XI, NI, method="REML")
    with pytest.raises(ValueError, match="n_agq"):
        rma_glmm(XI, NI, n_agq=0)


def test_labels_and_level():
    r = rma_glmm(XI, NI, labels=[f"s{i}" for i in range(14)], level=0.9)
    assert r.labels[0] == "s0" and r.level == 0.9
    assert r.ci_high - r.estimate == pytest.approx(stats.norm.ppf(0.95) * r.se)
