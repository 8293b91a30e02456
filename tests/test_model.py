"""rma(): edge cases and invariants (the numbers themselves are checked against metafor in test_oracle_core.py)."""

import dataclasses

import numpy as np
import pytest
from scipy import stats

from livingreview.engine.effects import EffectSizes, escalc
from livingreview.engine.model import MetaResult, Proportion, rma

RTOL = 1e-10  # identities that hold to rounding

HET_X = [12, 45, 8, 30, 22, 61, 5, 17, 40, 9, 27, 33, 14, 50, 19]
HET_N = [40, 88, 35, 52, 60, 97, 25, 31, 66, 38, 45, 80, 20, 71, 55]


@pytest.fixture
def het():
    return escalc("PLO", HET_X, HET_N)


def test_contract_fields(het):
    res = rma(het)
    assert isinstance(res, MetaResult)
    assert (res.method, res.test, res.pi_dist, res.level, res.k) == ("REML", "z", "t2", 0.95, 15)
    assert res.tau2 > 0 and res.tau == pytest.approx(np.sqrt(res.tau2))
    assert res.ci_low < res.estimate < res.ci_high and res.pi_low < res.ci_low and res.pi_high > res.ci_high
    assert res.weights.sum() == pytest.approx(100)
    assert res.q_df == 14 and res.notes == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.tau2 = 0.0


def test_prediction_interval_formula(het):
    res = rma(het, pi_dist="t2")
    half = stats.t.ppf(0.975, 13) * np.sqrt(res.se**2 + res.tau2)
    np.testing.assert_allclose([res.pi_low, res.pi_high], [res.estimate - half, res.estimate + half], rtol=RTOL)
    z = rma(het, pi_dist="z")
    t1 = rma(het, pi_dist="t1")
    assert z.pi_high - z.pi_low < t1.pi_high - t1.pi_low < res.pi_high - res.pi_low


def test_knha_pi_uses_knha_se(het):
    res = rma(het, test="knha", pi_dist="t1")
    half = stats.t.ppf(0.975, 14) * np.sqrt(res.se**2 + res.tau2)
    assert res.pi_high - res.estimate == pytest.approx(half, rel=RTOL)
    assert res.se != pytest.approx(rma(het).se, rel=1e-3)


def test_i2_definitions(het):
    dl = rma(het, method="DL")
    assert dl.i2 == pytest.approx(dl.i2_q, rel=RTOL)  # they coincide under DL
    assert dl.i2_q == pytest.approx(100 * (dl.q - dl.q_df) / dl.q, rel=RTOL)
    reml = rma(het, method="REML")
    assert reml.i2 != pytest.approx(reml.i2_q, rel=1e-3)  # and differ under REML
    w = 1 / het.vi
    vt = 14 * w.sum() / (w.sum() ** 2 - np.sum(w**2))
    assert reml.i2 == pytest.approx(100 * reml.tau2 / (reml.tau2 + vt), rel=RTOL)
    assert reml.h2 == pytest.approx(1 + reml.tau2 / vt, rel=RTOL)


def test_adhoc_never_narrower_than_unadjusted():
    es = escalc("PLO", [30, 61, 14, 45, 24, 90], [100, 200, 50, 150, 80, 300])  # homogeneous: q < 1
    knha, adhoc, z = rma(es, test="knha"), rma(es, test="adhoc"), rma(es, test="z")
    assert knha.se < z.se  # plain HK shrinks the SE when q < 1 ...
    assert adhoc.se == pytest.approx(z.se, rel=RTOL)  # ... the ad hoc variant floors the factor at 1
    assert knha.df == adhoc.df == 5 and np.isnan(z.df)


def test_k1():
    es = escalc("PLO", [7], [23])
    res = rma(es, method="REML", test="knha", pi_dist="t2")
    assert res.k == 1 and res.test == "z"  # metafor switches to z at k = 1
    assert (res.tau2, res.q, res.q_df, res.q_p, res.i2, res.h2) == (0.0, 0.0, 0, 1.0, 0.0, 1.0)
    assert any("k = 1: no heterogeneity can be estimated" in n for n in res.notes)
    assert np.isnan(res.pi_low) and np.isnan(res.pi_high)  # t(k-2) undefined
    z = rma(es, pi_dist="z")
    assert (z.pi_low, z.pi_high) == pytest.approx((z.ci_low, z.ci_high), rel=RTOL)  # τ² = 0: PI = CI
    assert res.estimate == pytest.approx(np.log(7 / 16), rel=RTOL)


def test_k2_t2_pi_is_nan_with_note():
    es = escalc("PLO", [7, 20], [23, 41])
    res = rma(es, pi_dist="t2")
    assert np.isnan(res.pi_low) and np.isnan(res.pi_high) and np.isnan(res.pi_crit)
    assert any("k = 2" in n and "undefined" in n for n in res.notes)
    t1 = rma(es, pi_dist="t1")
    assert np.isfinite(t1.pi_low) and t1.pi_df == 1
    assert np.isnan(rma(es).proportion().pi_low)


def test_tau2_zero_when_homogeneous():
    es = escalc("PAS", [30, 61, 14, 45, 24, 90], [100, 200, 50, 150, 80, 300])
    for method in ("DL", "PM", "REML"):
        res = rma(es, method=method)
        assert res.tau2 == 0.0 and res.i2 == 0.0 and res.h2 == 1.0, method
    res = rma(es, method="DL", pi_dist="z")
    assert (res.pi_low, res.pi_high) == pytest.approx((res.ci_low, res.ci_high), rel=RTOL)
    fe = rma(es, method="FE")
    assert res.estimate == pytest.approx(fe.estimate, rel=RTOL)


def test_all_zero_events():
    xi, ni = [0, 0, 0, 0, 0], [12, 30, 8, 45, 20]
    plo = rma(escalc("PLO", xi, ni))  # continuity correction makes it estimable
    assert np.isfinite(plo.estimate) and plo.estimate < -2
    assert 0 < plo.proportion().estimate < 0.05
    pas = rma(escalc("PAS", xi, ni))  # no correction needed, estimate exactly 0
    assert pas.estimate == 0.0 and pas.proportion().estimate == 0.0
    with pytest.raises(ValueError, match=r"sampling variance v = 0 .*continuity correction"):
        rma(escalc("PR", xi, ni, add=0))


def test_all_events_pft_clamps_to_one():
    res = rma(escalc("PFT", [12, 30, 8, 45], [12, 30, 8, 45]))
    prop = res.proportion()
    assert prop.estimate == 1.0 and prop.ci_high == 1.0  # above pft(1, n̄): clamped, as transf.ipft.hm
    assert 0.95 < prop.ci_low < 1.0


def test_uncorrected_plo_rejected():
    with pytest.raises(ValueError, match="non-finite effect size"):
        rma(escalc("PLO", [0, 3], [10, 10], to="none"))


def test_fe_and_ee_alias():
    es = escalc("PFT", [3, 6, 10, 1], [11, 17, 21, 6])
    fe, ee = rma(es, method="FE"), rma(es, method="EE")
    assert fe.method == ee.method == "FE" and fe.estimate == ee.estimate and fe.tau2 == 0.0
    assert np.isnan(fe.pi_low) and any("no prediction interval" in n for n in fe.notes)
    assert fe.i2 == pytest.approx(fe.i2_q) and fe.h2 == pytest.approx(fe.q / fe.q_df)  # Q-based for FE, as metafor


def test_proportion_back_transforms():
    es = escalc("PLO", HET_X, HET_N)
    res = rma(es)
    p = res.proportion()
    assert isinstance(p, Proportion)
    assert p.estimate == pytest.approx(1 / (1 + np.exp(-res.estimate)), rel=RTOL)
    assert p.pi_low < p.ci_low < p.estimate < p.ci_high < p.pi_high


def test_pm_root_solves_q_equation(het):
    res = rma(het, method="PM")
    w = 1 / (het.vi + res.tau2)
    mu = np.sum(w * het.yi) / w.sum()
    assert np.sum(w * (het.yi - mu) ** 2) == pytest.approx(14, rel=1e-10)


def test_reml_score_is_zero(het):
    res = rma(het, method="REML")
    w = 1 / (het.vi + res.tau2)
    mu = np.sum(w * het.yi) / w.sum()
    score = -0.5 * w.sum() + 0.5 * np.sum(w**2 * (het.yi - mu) ** 2) + 0.5 * np.sum(w**2) / w.sum()
    assert abs(score) < 1e-8


def test_level():
    es = escalc("PLO", HET_X, HET_N)
    assert rma(es, level=0.9).ci_high - rma(es, level=0.9).ci_low < rma(es).ci_high - rma(es).ci_low


@pytest.mark.parametrize("kwargs,message", [
    (dict(method="HS"), "unknown method"), (dict(test="hksj"), "unknown test"),
    (dict(pi_dist="t3"), "unknown pi_dist"), (dict(level=95), "level must lie in"),
])
def test_invalid_options(het, kwargs, message):
    with pytest.raises(ValueError, match=message):
        rma(het, **kwargs)


def test_zero_variance_message_names_study():
    es = EffectSizes("PR", np.array([0.0, 3]), np.array([10.0, 10]), np.array([0.0, 0.3]), np.array([0.0, 0.021]),
                     ("Smith 2020", "Jones 2021"), 0.0, "only0")
    with pytest.raises(ValueError, match="Smith 2020"):
        rma(es)
