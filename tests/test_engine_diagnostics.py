"""Cumulative analysis, influence, Baujat, GOSH, τ² CIs, predictive probabilities and study CIs: identities and
rules by hand (metafor's numbers: test_oracle_diagnostics.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import livingreview.engine.heterogeneity as gosh_module
from livingreview.engine.diagnostics import baujat, influence, rstandard, study_diagnostics
from livingreview.engine.effects import back_transform, escalc, study_intervals
from livingreview.engine.heterogeneity import gosh, subsets
from livingreview.engine.intervals import confint_tau2, predictive_probability
from livingreview.engine.model import rma
from livingreview.engine.sensitivity import cumulative

XI = [45, 30, 88, 12, 60, 25, 70, 9, 40, 101, 33, 18, 52]
NI = [50, 40, 100, 20, 64, 30, 90, 10, 52, 110, 45, 30, 61]
YEAR = [2016, 2018, 2020, 2021, 2019, 2020, 2018, 2023, 2024, 2022, 2017, 2021, 2019]
LABELS = [f"S{i + 1}" for i in range(13)]


def fit(measure="PLO", method="REML", k=13, **kw):
    return rma(escalc(measure, XI[:k], NI[:k], labels=LABELS[:k]), method=method, **kw)


# ---------------------------------------------------------------------------------------------- cumulative


def test_cumulative_runs_from_one_study_to_the_full_model_in_year_order():
    res = fit()
    c = cumulative(res, order=YEAR)
    assert c.order.tolist() == sorted(range(13), key=lambda i: YEAR[i])  # ties keep the data order
    assert c.label[0] == "S1" and c.k.tolist() == list(range(1, 14))
    assert c.estimate[0] == pytest.approx(res.es.yi[0]) and c.tau2[0] == 0 and c.q[0] == 0
    last = rma(res.es.subset(c.order), method="REML")
    assert c.estimate[-1] == pytest.approx(res.estimate, rel=1e-12) == last.estimate
    np.testing.assert_allclose(c.prop_estimate, back_transform("PLO", c.estimate))
    down = cumulative(res, order=YEAR, decreasing=True)
    assert [YEAR[i] for i in down.order] == sorted(YEAR, reverse=True)
    assert down.order[0] == 8 and down.label[1] == "S8"  # 2024, then 2023
    with pytest.raises(ValueError, match="12 values for 13 studies"):
        cumulative(res, order=YEAR[:-1])


def test_cumulative_pft_back_transforms_with_all_study_sizes():
    res = fit("PFT")
    c = cumulative(res)
    np.testing.assert_allclose(c.prop_estimate, back_transform("PFT", c.estimate, ni=NI), rtol=1e-12)


# ---------------------------------------------------------------------------------------------- influence


def test_an_outlier_is_flagged_and_the_cutoffs_are_metafors():
    xi, ni = XI[:12] + [2], NI[:12] + [200]  # 1% where the others are 60–100%
    inf = influence(rma(escalc("PLO", xi, ni, labels=LABELS), method="REML"))
    assert inf.influential[-1] and inf.influential.sum() == 1
    assert inf.rstudent[-1] < -3 and inf.tau2_del[-1] < inf.tau2 and inf.qe_del[-1] < inf.qe
    assert inf.dffits_cutoff == pytest.approx(3 * np.sqrt(1 / 12)) and inf.hat_cutoff == pytest.approx(3 / 13)
    assert inf.cook_cutoff == pytest.approx(stats.chi2.ppf(0.5, 1))
    np.testing.assert_allclose(inf.hat.sum(), 1.0)  # trace of the hat matrix = p
    np.testing.assert_allclose(inf.weight, rma(escalc("PLO", xi, ni), method="REML").weights)


def test_rstandard_of_a_common_effect_model_is_the_pearson_residual_scaled_by_the_hat():
    res = fit(method="FE")
    r = rstandard(res)
    h = influence(res).hat
    np.testing.assert_allclose(r.resid, res.es.yi - res.estimate, atol=1e-12)
    np.testing.assert_allclose(r.se, np.sqrt(res.es.vi * (1 - h)), rtol=1e-12)


def test_baujat_x_adds_up_to_q_for_a_common_effect_model():
    res = fit(method="FE")
    b = baujat(res)
    assert b.x.sum() == pytest.approx(res.q, rel=1e-12)
    assert b.xlabel == "Contribution to Overall Heterogeneity" and b.ylabel == "Influence on Overall Result"
    assert baujat(fit()).xlabel == "Squared Pearson Residual"


@pytest.mark.parametrize("func", [influence, baujat])
def test_one_study_is_refused(func):
    with pytest.raises(ValueError, match="k = 1"):
        func(fit(k=1))


def test_study_diagnostics_rows_follow_the_order():
    res = fit()
    d = study_diagnostics(res, order=YEAR)
    idx = d["index"]
    assert idx.tolist() == cumulative(res, order=YEAR).order.tolist()
    assert len({len(v) for v in d.values()}) == 1
    inf = influence(res)
    np.testing.assert_array_equal(d["cook_d"], inf.cook_d[idx])
    assert d["label"].tolist() == [LABELS[i] for i in idx]
    assert d["cumulative_k"].tolist() == list(range(1, 14))
    assert d["cumulative_prop_estimate"][-1] == pytest.approx(res.proportion().estimate)
    with pytest.raises(TypeError, match="intercept-only"):
        study_diagnostics(rma(res.es, mods={"year": YEAR}))


# ---------------------------------------------------------------------------------------------- GOSH


def test_subsets_are_in_metafors_order():
    s = subsets(3)
    assert s.astype(int).tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]]


@pytest.mark.parametrize("method", ["FE", "DL", "REML", "ML", "PM"])
def test_gosh_rows_are_the_models_of_their_subsets(method):
    res = fit(method=method, k=8)
    g = gosh(res)
    assert g.incl.shape == (255, 8) and g.fitted.all()
    for row in (0, 40, 200, 254):
        r = rma(res.es.subset(g.incl[row]), method=method)
        assert g.estimate[row] == pytest.approx(r.estimate, rel=1e-9)
        assert g.tau2[row] == pytest.approx(r.tau2, rel=1e-9, abs=1e-12)
        assert g.q[row] == pytest.approx(r.q, rel=1e-9, abs=1e-12)
    full = rma(res.es, method=method)
    assert g.estimate[-1] == pytest.approx(full.estimate, rel=1e-9)


def test_gosh_at_sixteen_studies_enumerates_every_subset():
    xi, ni = XI + [20, 31, 44], NI + [25, 40, 50]
    g = gosh(rma(escalc("PLO", xi, ni), method="REML"))
    assert g.incl.shape == (2**16 - 1, 16) and g.fitted.all()
    assert (g.k == g.incl.sum(axis=1)).all() and np.all(np.diff(g.k) >= 0)
    assert np.isfinite(g.i2).all() and (g.i2 >= 0).all() and (g.i2 < 100).all()


def test_gosh_limits_and_failed_fits(monkeypatch):
    with pytest.raises(ValueError, match="k <= 16"):
        gosh(rma(escalc("PLO", XI + XI[:4], NI + NI[:4])))
    with pytest.raises(ValueError, match="k = 1"):
        gosh(fit(k=1))
    monkeypatch.setattr(gosh_module, "MAXITER", 1)  # no subset can converge in one step
    g = gosh(fit(k=5))
    unfit = ~g.fitted
    assert unfit.any() and np.isnan(g.estimate[unfit]).all() and (g.k[unfit] > 1).all()
    assert any("did not converge" in n for n in g.notes)


# ---------------------------------------------------------------------------------------------- τ² CI


def test_confint_brackets_the_estimate_and_maps_to_i2():
    res = fit()
    ci = confint_tau2(res)
    assert ci.tau2[1] < res.tau2 < ci.tau2[2]
    assert ci.tau == pytest.approx(tuple(np.sqrt(ci.tau2)))
    assert ci.i2[0] == res.i2 and ci.i2[1] < res.i2 < ci.i2[2]
    assert confint_tau2(res, level=0.8).tau2[2] < ci.tau2[2]


def test_confint_null_when_homogeneous_and_refused_for_fe():
    res = rma(escalc("PLO", [30, 61, 14, 45, 24, 90], [100, 200, 50, 150, 80, 300]), method="REML")
    ci = confint_tau2(res)
    assert res.tau2 == 0 and ci.ci_null and ci.tau2 == (0.0, 0.0, 0.0) and ci.lb_sign == "<"
    with pytest.raises(ValueError, match="random-effects"):
        confint_tau2(fit(method="FE"))


# ---------------------------------------------------------------------------------------------- prediction


@pytest.mark.parametrize("measure", ["PR", "PLO", "PAS", "PFT"])
@pytest.mark.parametrize("pi_dist", ["z", "t1", "t2"])
def test_probability_beyond_a_pi_bound_is_half_alpha(measure, pi_dist):
    res = fit(measure, pi_dist=pi_dist)
    p = res.proportion()
    above = predictive_probability(res, p.pi_high)
    below = predictive_probability(res, p.pi_low, direction="below")
    assert above.probability == pytest.approx(0.025, rel=1e-8)
    assert below.probability == pytest.approx(0.025, rel=1e-8)
    assert above.dist == ("z" if pi_dist == "z" else "t")


def test_predictive_probability_edge_cases():
    res = fit()
    assert predictive_probability(res, 0.0).probability == 1.0
    assert predictive_probability(res, 1.0).probability == 0.0
    fe = predictive_probability(fit(method="FE"), 0.5)
    assert np.isnan(fe.probability) and fe.notes
    assert np.isnan(predictive_probability(fit(k=2), 0.5).probability)  # t(k − 2) with 0 df
    with pytest.raises(ValueError, match="threshold"):
        predictive_probability(res, 50)
    with pytest.raises(ValueError, match="direction"):
        predictive_probability(res, 0.5, direction="over")


# ---------------------------------------------------------------------------------------------- study CIs


def test_study_interval_methods():
    es = escalc("PLO", [0, 5, 10], [10, 10, 10])
    est, lo, hi = study_intervals(es, method="clopper-pearson")
    assert est.tolist() == [0, 0.5, 1] and lo[0] == 0 and hi[2] == 1
    assert hi[0] == pytest.approx(1 - 0.025 ** (1 / 10))  # exact upper bound at x = 0
    west, wlo, whi = study_intervals(es, method="wilson")
    assert wlo[0] == pytest.approx(0, abs=1e-15) and 0 < whi[0] < hi[0]  # Wilson is narrower there
    assert whi[1] - west[1] == pytest.approx(west[1] - wlo[1])  # symmetric at p = 1/2
    t_est, _, _ = study_intervals(es)
    assert t_est[0] > 0  # the transformed interval keeps the continuity correction
    with pytest.raises(ValueError, match="study CI method"):
        study_intervals(es, method="exact")
    filled = es.__class__(**{**es.__dict__, "xi": np.array([np.nan, 5, 10])})
    assert np.isnan(study_intervals(filled, method="wilson")[1][0])
