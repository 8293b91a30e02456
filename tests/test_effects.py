"""escalc() and back_transform(): metafor's rules, by hand (the oracle comparison is in test_oracle_core.py)."""

import dataclasses

import numpy as np
import pytest

from livingreview.engine.effects import MEASURES, back_transform, escalc, pft

RTOL = 1e-12  # closed-form formulas: agreement to rounding


def test_measures():
    assert MEASURES == ("PR", "PLO", "PAS", "PFT")


@pytest.mark.parametrize("measure,add", [("PR", 0.5), ("PLO", 0.5), ("PAS", 0.0), ("PFT", 0.0)])
def test_default_add(measure, add):
    assert escalc(measure, [0, 3], [10, 10]).add == add


def test_only0_corrects_extreme_studies_only():
    es = escalc("PLO", [0, 3, 10], [10, 10, 10], labels=["a", "b", "c"])
    np.testing.assert_allclose(es.yi, [np.log(0.5 / 10.5), np.log(3 / 7), np.log(10.5 / 0.5)], rtol=RTOL)
    np.testing.assert_allclose(es.vi, [1 / 0.5 + 1 / 10.5, 1 / 3 + 1 / 7, 1 / 10.5 + 1 / 0.5], rtol=RTOL)
    np.testing.assert_array_equal(es.xi, [0, 3, 10])  # counts kept as given
    assert es.labels == ("a", "b", "c")


def test_pr_correction_uses_n_plus_one():
    es = escalc("PR", [0], [9])
    p = 0.5 / 10
    np.testing.assert_allclose([es.yi[0], es.vi[0]], [p, p * (1 - p) / 10], rtol=RTOL)


@pytest.mark.parametrize("to,expected", [("all", [0.5 / 11, 3.5 / 11]), ("if0all", [0.5 / 11, 3.5 / 11]),
                                         ("none", [0.0, 0.3]), ("only0", [0.5 / 11, 0.3])])
def test_to_options(to, expected):
    np.testing.assert_allclose(escalc("PR", [0, 3], [10, 10], to=to).yi, expected, rtol=RTOL)


def test_if0all_without_extremes_adds_nothing():
    np.testing.assert_allclose(escalc("PR", [2, 3], [10, 10], to="if0all").yi, [0.2, 0.3], rtol=RTOL)


def test_pas_pft_need_no_correction():
    pas = escalc("PAS", [0, 10], [10, 10])
    np.testing.assert_allclose(pas.yi, [0.0, np.pi / 2], rtol=RTOL)
    np.testing.assert_allclose(pas.vi, [1 / 40, 1 / 40], rtol=RTOL)
    ft = escalc("PFT", [0, 4], [10, 10])
    y0 = 0.5 * (0 + np.arcsin(np.sqrt(1 / 11)))
    y4 = 0.5 * (np.arcsin(np.sqrt(4 / 11)) + np.arcsin(np.sqrt(5 / 11)))
    np.testing.assert_allclose(ft.yi, [y0, y4], rtol=RTOL)
    np.testing.assert_allclose(ft.vi, [1 / 42, 1 / 42], rtol=RTOL)


def test_explicit_add_applies_to_pas():
    es = escalc("PAS", [0], [10], add=0.5)
    np.testing.assert_allclose(es.yi, [np.arcsin(np.sqrt(0.5 / 11))], rtol=RTOL)


def test_uncorrected_plo_is_infinite():
    es = escalc("PLO", [0], [10], to="none")
    assert np.isneginf(es.yi[0]) and np.isinf(es.vi[0])


@pytest.mark.parametrize("kwargs,message", [
    (dict(measure="OR", xi=[1], ni=[2]), "unknown measure"),
    (dict(measure="PR", xi=[-1], ni=[2]), "negative event counts"),
    (dict(measure="PR", xi=[3], ni=[2]), "events x > n"),
    (dict(measure="PR", xi=[0], ni=[0]), "sample size n < 1"),
    (dict(measure="PR", xi=[1, 2], ni=[2]), "differ in length"),
    (dict(measure="PR", xi=[np.nan], ni=[2]), "non-finite"),
    (dict(measure="PR", xi=[], ni=[]), "no studies"),
    (dict(measure="PR", xi=[1], ni=[2], to="some"), "unknown to"),
    (dict(measure="PR", xi=[1], ni=[2], add=-1), "add must be"),
    (dict(measure="PR", xi=[1], ni=[2], labels=["a", "b"]), "2 labels for 1 studies"),
])
def test_invalid_inputs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        escalc(**kwargs)


def test_lowercase_measure_accepted():
    assert escalc("plo", [1], [4]).measure == "PLO"


def test_frozen_and_subset():
    es = escalc("PLO", [1, 2, 3], [10, 10, 10], labels=["a", "b", "c"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        es.measure = "PR"
    sub = es.subset([True, False, True])
    assert sub.labels == ("a", "c") and sub.k == 2
    np.testing.assert_array_equal(sub.yi, es.yi[[0, 2]])


def test_back_transforms():
    np.testing.assert_allclose(back_transform("PLO", [0.0, np.log(3)]), [0.5, 0.75], rtol=RTOL)
    np.testing.assert_allclose(back_transform("PAS", [-0.1, np.pi / 6, 2.0]), [0.0, 0.25, 1.0], rtol=RTOL)
    np.testing.assert_array_equal(back_transform("PR", [-0.1, 1.2]), [-0.1, 1.2])  # identity: no clipping


def test_pft_inverse_round_trip_and_clamping():
    n = 25.0
    p = np.array([0.1, 0.37, 0.8])
    np.testing.assert_allclose(back_transform("PFT", pft(p, n), ni=[n, n, n]), p, rtol=1e-10)
    assert back_transform("PFT", [-0.1], ni=[n])[0] == 0.0
    assert back_transform("PFT", [1.6], ni=[n])[0] == 1.0


def test_pft_uses_harmonic_mean():
    ni = np.array([10.0, 40.0])
    nhm = 2 / (1 / 10 + 1 / 40)  # 16
    t = pft(0.3, nhm)
    np.testing.assert_allclose(back_transform("PFT", t, ni=ni), 0.3, rtol=1e-10)


def test_pft_needs_ni():
    with pytest.raises(ValueError, match="needs the study sample sizes"):
        back_transform("PFT", [0.5])
