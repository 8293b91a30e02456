"""subgroup_analysis(): per-level fits, Q-between, missing labels (metafor values: test_oracle_core.py)."""

import numpy as np
import pytest
from scipy import stats

from livingreview.engine.effects import EffectSizes, escalc
from livingreview.engine.model import rma
from livingreview.engine.subgroups import SubgroupResult, q_between, subgroup_analysis

RTOL = 1e-10

X = [12, 45, 8, 30, 22, 61, 5, 17, 40, 9, 27, 33, 14, 50, 19]
N = [40, 88, 35, 52, 60, 97, 25, 31, 66, 38, 45, 80, 20, 71, 55]
G = ["A", "B", "A", "C", "B", "B", "A", None, "C", "A", "C", "B", "", "C", float("nan")]


@pytest.fixture
def es():
    return escalc("PLO", X, N, labels=[f"S{i}" for i in range(1, 16)])


def test_levels_order_and_exclusions(es):
    sub = subgroup_analysis(es, G)
    assert isinstance(sub, SubgroupResult)
    assert list(sub.levels) == ["A", "B", "C"]  # first appearance
    assert sub.excluded == ("S8", "S13", "S15")  # None, "" and NaN
    assert sum(r.k for r in sub.levels.values()) == 12
    assert any("3 studies without a subgroup label" in n for n in sub.notes)


def test_each_level_has_own_fit(es):
    sub = subgroup_analysis(es, G, method="DL", test="knha")
    a = rma(es.subset([g == "A" for g in G]), method="DL", test="knha")
    assert sub.levels["A"].estimate == a.estimate and sub.levels["A"].tau2 == a.tau2
    assert sub.levels["A"].test == "knha"


def test_q_between_formula(es):
    sub = subgroup_analysis(es, G)
    est = np.array([r.estimate for r in sub.levels.values()])
    se = np.array([r.se for r in sub.levels.values()])
    w = 1 / se**2
    q = np.sum(w * (est - np.sum(w * est) / w.sum()) ** 2)
    assert sub.q_between == pytest.approx(q, rel=RTOL)
    assert sub.q_between_df == sub.df == 2
    assert sub.q_between_p == pytest.approx(stats.chi2.sf(q, 2), rel=RTOL) and sub.p == sub.q_between_p
    # metafor: rma(yi=est, sei=se, method="EE")$QE
    meta = EffectSizes("PLO", est, est, est, se**2, ("A", "B", "C"), 0.0, "none")
    assert rma(meta, method="FE").q == pytest.approx(sub.q_between, rel=RTOL)


def test_single_study_level_participates():
    es = escalc("PLO", [0, 3, 12, 9, 0, 15, 7], [10, 25, 12, 30, 18, 15, 40])
    sub = subgroup_analysis(es, ["x", "y", "x", "y", "x", "z", "y"])
    assert sub.levels["z"].k == 1 and sub.q_between_df == 2
    assert any("k = 1" in n for n in sub.levels["z"].notes)
    assert np.isfinite(sub.q_between)


def test_one_level_gives_no_test(es):
    sub = subgroup_analysis(es, ["A"] * 15)
    assert np.isnan(sub.q_between) and np.isnan(sub.q_between_p) and sub.q_between_df == 0
    assert any("only one subgroup level" in n for n in sub.notes)


def test_q_between_helper_k1():
    q, df, p = q_between([0.1], [0.2])
    assert np.isnan(q) and df == 0


def test_errors(es):
    with pytest.raises(ValueError, match="14 group labels for 15 studies"):
        subgroup_analysis(es, G[:-1])
    with pytest.raises(ValueError, match="no study has a subgroup label"):
        subgroup_analysis(es, [None] * 15)
