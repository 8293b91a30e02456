"""leave_one_out(): refits and the PFT back-transform convention (metafor values: test_oracle_core.py)."""

import numpy as np
import pytest

from livingreview.engine.effects import back_transform, escalc
from livingreview.engine.model import rma
from livingreview.engine.sensitivity import LeaveOneOut, leave_one_out

XI, NI = [3, 6, 10, 1], [11, 17, 21, 6]


def test_rows_are_refits_without_each_study():
    es = escalc("PLO", XI, NI, labels=list("abcd"))
    res = rma(es, method="DL", test="knha")
    loo = leave_one_out(res)
    assert isinstance(loo, LeaveOneOut) and loo.label == ("a", "b", "c", "d")
    for i in range(4):
        r = rma(es.subset(np.arange(4) != i), method="DL", test="knha")
        assert (loo.estimate[i], loo.ci_low[i], loo.tau2[i], loo.q[i]) == (r.estimate, r.ci_low, r.tau2, r.q)


def test_pft_uses_all_ni_like_metafor():
    es = escalc("PFT", XI, NI)
    loo = leave_one_out(rma(es))
    np.testing.assert_allclose(loo.prop_estimate, back_transform("PFT", loo.estimate, ni=NI), rtol=1e-12)
    remaining = back_transform("PFT", loo.estimate[3], ni=NI[:3])  # what "remaining ni" would give
    assert abs(remaining - loo.prop_estimate[3]) > 1e-6  # distinguishable at the oracle's 1e-6 tolerance


def test_k2_refits_have_k1():
    loo = leave_one_out(rma(escalc("PLO", [7, 20], [23, 41]), test="knha"))
    np.testing.assert_allclose(loo.estimate, [np.log(20 / 21), np.log(7 / 16)], rtol=1e-12)
    assert np.all(loo.tau2 == 0) and np.all(loo.q == 0)


def test_k1_raises():
    with pytest.raises(ValueError, match="k >= 2"):
        leave_one_out(rma(escalc("PLO", [7], [23])))
