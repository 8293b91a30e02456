"""Diagnostics against R metafor 3.8-1: every number in tests/oracle/golden_diagnostics.json.

influence / rstandard / rstudent / baujat / cumul / confint (τ²) / gosh, the predictive probability computed in R
from metafor's predict(), and study intervals from binom.test / prop.test. Regenerate the golden file with
``Rscript tests/oracle/golden_diagnostics.R`` (from the repo root).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_oracle_golden import ATOL, RTOL, arr, assert_regenerates, close, golden

from livingreview.engine.diagnostics import baujat, influence, rstandard, rstudent
from livingreview.engine.effects import escalc, study_intervals
from livingreview.engine.heterogeneity import gosh
from livingreview.engine.intervals import confint_tau2, predictive_probability
from livingreview.engine.model import rma
from livingreview.engine.sensitivity import cumulative

GOLDEN = golden("golden_diagnostics")
DATASETS = GOLDEN["datasets"]


def cases(key=None):
    return [pytest.param(name, f, id=f"{name}-{f['measure']}-{f['method']}-{f['test']}")
            for name, ds in DATASETS.items() for f in ds["fits"] if key is None or key in f]


def fitted(name, f):
    ds = DATASETS[name]
    res = rma(escalc(f["measure"], arr(ds["xi"]), arr(ds["ni"])), method=f["method"], test=f["test"])
    close(res.tau2, f["tau2"], "tau2")
    close(res.estimate, f["estimate"], "estimate")
    return res


@pytest.mark.parametrize("name,f", cases("influence"))
def test_influence(name, f):
    inf = influence(fitted(name, f))
    g = f["influence"]
    for field in ("rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "qe_del", "hat", "weight"):
        close(getattr(inf, field), g[field], field)
    close(inf.dfbetas[:, 0], g["dfbetas"], "dfbetas")
    assert inf.influential.tolist() == g["influential"]
    np.testing.assert_array_equal(rstudent(fitted(name, f)).z, inf.rstudent)


@pytest.mark.parametrize("name,f", cases("rstandard"))
def test_rstandard(name, f):
    r = rstandard(fitted(name, f))
    for field in ("resid", "se", "z"):
        close(getattr(r, field), f["rstandard"][field], field)


@pytest.mark.parametrize("name,f", cases("baujat"))
def test_baujat(name, f):
    b = baujat(fitted(name, f))
    close(b.x, f["baujat"]["x"], "x")
    close(b.y, f["baujat"]["y"], "y")


@pytest.mark.parametrize("name,f", cases("cumul"))
def test_cumulative(name, f):
    res = fitted(name, f)
    for g in f["cumul"]:
        c = cumulative(res, order=None if g["order"] is None else arr(g["order"]), decreasing=g["decreasing"])
        assert (c.order + 1).tolist() == [int(s) for s in g["slab"]], "study order"
        for field in ("estimate", "se", "pval", "ci_low", "ci_high", "q", "q_p", "i2", "h2", "prop_estimate",
                      "prop_ci_low", "prop_ci_high"):
            close(getattr(c, field), g[field], f"{field} (order {g['order']}, decreasing {g['decreasing']})")
        if g["tau2"] is None:  # metafor drops the column for EE models
            assert np.all(c.tau2 == 0)
        else:
            close(c.tau2, g["tau2"], "tau2")


@pytest.mark.parametrize("name,f", cases("confint"))
def test_confint_tau2(name, f):
    res = fitted(name, f)
    g = f["confint"]
    if "error" in g:
        with pytest.raises(ValueError):
            confint_tau2(res)
        return
    ci = confint_tau2(res)
    for field in ("tau2", "tau", "i2", "h2"):
        close(getattr(ci, field), g[field], field)
    assert (ci.lb_sign, ci.ub_sign, ci.ci_null) == (g["lb_sign"], g["ub_sign"], g["ci_null"])


@pytest.mark.parametrize("name,f", [c for c in cases("predprob") if c.values[1]["predprob"]])
def test_predictive_probability(name, f):
    ds = DATASETS[name]
    es = escalc(f["measure"], arr(ds["xi"]), arr(ds["ni"]))
    for g in f["predprob"]:
        res = rma(es, method=f["method"], test=f["test"], pi_dist=g["pi_dist"])
        pp = predictive_probability(res, g["threshold"])
        close(pp.probability, g["probability"], f"P(> {g['threshold']}) {g['pi_dist']}")
        below = predictive_probability(res, g["threshold"], direction="below").probability
        assert below == pytest.approx(1 - pp.probability, abs=1e-15)
        if g["pi_dist"] != "z":
            close([res.pi_low, res.pi_high], [g["pi_low"], g["pi_high"]], "the PI from the same distribution")


def gosh_cases():
    return [pytest.param(name, g, id=f"{name}-{g['measure']}-{g['method']}")
            for name, gs in GOLDEN["gosh"].items() for g in gs["fits"]]


@pytest.mark.parametrize("name,g", gosh_cases())
def test_gosh(name, g):
    gs = GOLDEN["gosh"][name]
    res = rma(escalc(g["measure"], arr(gs["xi"]), arr(gs["ni"])), method=g["method"])
    out = gosh(res)
    np.testing.assert_array_equal(out.incl.astype(int), np.array(gs["incl"]))
    assert out.fitted.tolist() == g["fit"]
    close(out.k, g["k"], "k")
    for field in ("estimate", "q", "h2", "tau2"):
        close(getattr(out, field), g[field], field)
    # I² = 100·τ²/(vt + τ²): both sides stop Fisher scoring at |Δτ²| ≤ 1e-12 (the oracle's threshold), so a τ²
    # at the boundary is known to 1e-12 only, and I² to 100·1e-12/vt — tiny, but above ATOL when vt is small.
    w = out.incl / res.es.vi[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        vt = (out.k - 1) / (w.sum(axis=1) - (w**2).sum(axis=1) / w.sum(axis=1))
        i2_atol = np.where(out.k > 1, 100 * GOLDEN["control"]["threshold"] / vt, 0.0) + ATOL
    e = arr(g["i2"])
    assert np.all(np.abs(out.i2 - e) <= RTOL * np.abs(e) + i2_atol), "i2"


@pytest.mark.parametrize("lv", GOLDEN["study_intervals"]["levels"], ids=lambda lv: f"level{lv['level']}")
def test_study_intervals_count_based(lv):
    s = GOLDEN["study_intervals"]
    es = escalc("PLO", arr(s["xi"]), arr(s["ni"]))
    for method, key in (("clopper-pearson", "cp"), ("wilson", "wilson")):
        est, lo, hi = study_intervals(es, lv["level"], method=method)
        np.testing.assert_allclose(est, arr(s["xi"]) / arr(s["ni"]), rtol=1e-15)
        close(lo, lv[f"{key}_low"], f"{method} lower")
        close(hi, lv[f"{key}_high"], f"{method} upper")


def test_golden_covers_the_brief():
    """k = 2, τ² = 0, 0/n studies, influential studies flagged and unflagged, CIs with a bound at 0."""
    fits = [f for ds in DATASETS.values() for f in ds["fits"]]
    assert any(len(arr(ds["xi"])) == 2 for ds in DATASETS.values())
    assert any(f["tau2"] == 0 for f in fits if f["method"] != "EE")
    assert any(0 in arr(ds["xi"]).tolist() for ds in DATASETS.values())
    flags = [v for f in fits if "influence" in f for v in f["influence"]["influential"]]
    assert True in flags and False in flags
    assert any(f["confint"].get("ci_null") for f in fits if "confint" in f and "error" not in f["confint"])
    assert sum(len(f["cumul"]) for f in fits if "cumul" in f) > 0


def test_golden_file_regenerates_identically(tmp_path):
    assert_regenerates("golden_diagnostics", tmp_path, {"metafor": GOLDEN["metafor_version"]}, timeout=900)
