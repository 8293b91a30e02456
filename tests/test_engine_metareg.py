"""Meta-regression: the rules the oracle does not exercise (metafor values: test_oracle_metareg.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from livingreview.engine.effects import escalc
from livingreview.engine.metareg import MetaRegression, predict, regression_line
from livingreview.engine.model import MetaResult, rma

# the review-like k = 30 set of golden_metareg.R (regimen with one unknown)
XI = [45, 30, 88, 12, 60, 25, 70, 9, 40, 101, 33, 18, 52, 27, 64, 14, 38, 71, 22, 49, 16, 57, 31, 80, 11, 43, 26, 66,
      35, 20]
NI = [50, 40, 100, 20, 64, 30, 90, 10, 52, 110, 45, 30, 61, 40, 70, 25, 48, 85, 35, 60, 30, 66, 44, 95, 22, 55, 37,
      80, 47, 33]
MONO, CHEMO, BLINA = "InO monotherapy", "InO + chemotherapy", "InO + blinatumomab"
REGIMEN = [MONO, CHEMO, MONO, BLINA, CHEMO, BLINA, MONO, CHEMO, None, MONO, CHEMO, BLINA, MONO, CHEMO, MONO, BLINA,
           CHEMO, MONO, BLINA, CHEMO, BLINA, MONO, CHEMO, MONO, BLINA, CHEMO, BLINA, MONO, CHEMO, BLINA]
YEAR = [2016, 2018, 2020, 2021, 2019, 2020, 2018, 2023, 2024, 2022, 2017, 2021, 2019, 2020, 2016, 2022, 2023, 2018, 2021,
        2019, 2024, 2017, 2022, 2020, 2023, 2018, 2021, 2019, 2020, 2022]
ES = escalc("PLO", XI, NI, labels=[f"S{i + 1}" for i in range(30)])


def test_rma_without_mods_is_unchanged_and_with_mods_is_a_meta_regression():
    assert isinstance(rma(ES), MetaResult)
    reg = rma(ES, mods={"year": YEAR})
    assert isinstance(reg, MetaRegression) and reg.names == ("intrcpt", "year")
    with pytest.raises(TypeError, match="without mods"):
        rma(ES, force=True)


def test_factor_reference_is_the_first_sorted_level_and_can_be_chosen():
    reg = rma(ES, mods={"regimen": REGIMEN})
    assert reg.terms[0].reference == BLINA  # "InO + b…" sorts first (as R's factor() in the C locale)
    assert reg.names == ("intrcpt", f"regimen[{CHEMO}]", f"regimen[{MONO}]")
    other = rma(ES, mods={"regimen": REGIMEN}, reference={"regimen": MONO})
    assert other.names == ("intrcpt", f"regimen[{BLINA}]", f"regimen[{CHEMO}]")
    # the same model in another coding: same fit, same τ², same test of the moderator
    np.testing.assert_allclose(predict(other).pred, predict(reg).pred, rtol=1e-10)
    assert other.tau2 == pytest.approx(reg.tau2, rel=1e-10) and other.qm == pytest.approx(reg.qm, rel=1e-8)
    assert other.beta[0] == pytest.approx(reg.beta[0] + reg.beta[2], rel=1e-10)
    with pytest.raises(ValueError, match="reference level"):
        rma(ES, mods={"regimen": REGIMEN}, reference={"regimen": "nope"})


def test_missing_moderator_value_drops_the_study_with_a_note():
    reg = rma(ES, mods={"regimen": REGIMEN})
    assert reg.k == 29 and reg.excluded == ("S9",)
    assert any("missing moderator" in n for n in reg.notes)


def test_fewer_than_ten_studies_per_covariate_is_refused_unless_forced():
    few = escalc("PLO", XI[:15], NI[:15])
    reg = rma(few, mods={"regimen": REGIMEN[:15]})  # 15 studies, 2 covariates
    assert not reg.applicable and "fewer than 10 per covariate" in reg.reason and "force=True" in reg.reason
    assert np.isnan(reg.beta).all() and np.isnan(reg.tau2) and np.isnan(reg.qm)
    with pytest.raises(ValueError, match="not fitted"):
        predict(reg)
    assert rma(few, mods={"regimen": REGIMEN[:15]}, force=True).applicable
    assert rma(few, mods={"year": YEAR[:15]}, min_per_covariate=5).applicable
    assert not rma(few, mods={"year": YEAR[:15]}, min_per_covariate=20).applicable


def test_single_level_factor_adds_no_column():
    reg = rma(ES, mods={"arm": ["single-arm"] * 30})
    assert reg.p == 1 and any("single level" in n for n in reg.notes)
    base = rma(ES)
    assert reg.beta[0] == pytest.approx(base.estimate, rel=1e-9) and reg.tau2 == pytest.approx(base.tau2, rel=1e-9)
    assert np.isnan(reg.r2) and np.isnan(reg.qm)


def test_uncentred_years_give_the_same_fit_as_centred():
    raw = rma(ES, mods={"year": YEAR})
    centred = rma(ES, mods={"year": np.array(YEAR) - 2020})
    assert raw.beta[1] == pytest.approx(centred.beta[1], rel=1e-9)
    np.testing.assert_allclose(predict(raw).pred, predict(centred).pred, rtol=1e-9)
    assert raw.tau2 == pytest.approx(centred.tau2, rel=1e-9)


def test_moderators_as_dataframe_array_and_sequence():
    frame = pd.DataFrame({"year": YEAR, "regimen": REGIMEN})
    a = rma(ES, mods=frame)
    b = rma(ES, mods={"year": YEAR, "regimen": REGIMEN})
    np.testing.assert_array_equal(a.beta, b.beta)
    one = rma(ES, mods=YEAR)
    assert one.names == ("intrcpt", "x")
    two = rma(ES, mods=np.column_stack([YEAR, np.arange(30)]), force=True)
    assert two.names == ("intrcpt", "x1", "x2")
    with pytest.raises(ValueError, match="29 values for 30 studies"):
        rma(ES, mods={"year": YEAR[:-1]})


def test_r2_is_truncated_at_zero_and_from_the_same_method():
    noise = [((7 * i) % 11) / 10 for i in range(30)]  # unrelated to the outcome
    reg = rma(ES, method="DL", mods={"noise": noise})
    base = rma(ES, method="DL")
    assert reg.tau2_re == pytest.approx(base.tau2)
    assert reg.r2 == max(0.0, 100 * (base.tau2 - reg.tau2) / base.tau2)


def test_predict_with_named_values_and_factor_levels():
    reg = rma(ES, mods={"year": YEAR, "regimen": REGIMEN}, force=True)
    pr = predict(reg, {"year": [2018, 2022], "regimen": [MONO, BLINA]})
    expected = reg.beta[0] + reg.beta[1] * np.array([2018, 2022]) + np.array([reg.beta[3], 0.0])
    np.testing.assert_allclose(pr.pred, expected, rtol=1e-12)
    np.testing.assert_allclose(pr.prop_pred, 1 / (1 + np.exp(-expected)), rtol=1e-12)
    assert np.all(pr.pi_low < pr.ci_low) and np.all(pr.ci_high < pr.pi_high)
    with pytest.raises(ValueError, match="unknown level"):
        predict(reg, {"year": [2018], "regimen": ["InO alone"]})
    with pytest.raises(ValueError, match="lacks moderator"):
        predict(reg, {"year": [2018]})


def test_knha_uses_f_test_and_t_intervals():
    reg = rma(ES, test="knha", mods={"regimen": REGIMEN})
    assert reg.df == reg.k - reg.p and reg.qm_df == 2 and reg.qm_df2 == reg.k - reg.p
    z = rma(ES, mods={"regimen": REGIMEN})
    assert np.isnan(z.qm_df2) and np.isnan(z.df)


def test_regression_line_spans_the_moderator_with_others_at_their_mean():
    reg = rma(ES, mods={"year": YEAR, "regimen": REGIMEN}, force=True)
    line = regression_line(reg, "year", n_points=11)
    assert line.x[0] == min(y for y, r in zip(YEAR, REGIMEN) if r) and line.x[-1] == max(YEAR) and len(line.x) == 11
    np.testing.assert_allclose(line.prediction.X[:, 2:], np.tile(reg.X[:, 2:].mean(axis=0), (11, 1)))
    assert len(line.study_x) == reg.k and line.study_weight.sum() == pytest.approx(100)
    with pytest.raises(ValueError, match="numeric moderator"):
        regression_line(reg, "regimen")
