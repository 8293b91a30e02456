"""The seeded battery of random and degenerate datasets against R metafor 3.8-1 (tests/oracle/golden_battery.json).

Where metafor answers, the engine gives the same numbers (rtol 1e-6; GLMM 1e-4). Where metafor stops, the engine
raises a clear ValueError (fitting) or returns a not-applicable / not-estimable result with the reason (trim-and-
fill, Egger, Begg, GLMM) — it never hangs and never returns a number without saying why. Regenerate the golden
file with ``Rscript tests/oracle/golden_battery.R`` (from the repo root; about two minutes).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import gammaln
from test_oracle_golden import ATOL, arr, assert_regenerates, close, golden

from livingreview.engine.bias import begg_test, egger_test, trimfill
from livingreview.engine.effects import escalc
from livingreview.engine.glmm import _gh, rma_glmm
from livingreview.engine.glmm import _loglik as _glmm_loglik
from livingreview.engine.model import THRESHOLD, NotEstimableError, rma
from livingreview.engine.sensitivity import leave_one_out

GLMM_RTOL, GLMM_ATOL = 1e-4, 1e-8
GOLDEN = golden("golden_battery")


def i2_atol(es, tau2) -> float:
    """I² = 100τ²/(vt + τ²) carries the 1e-12 convergence threshold of τ² (both sides) times 100/vt."""
    w = 1 / np.asarray(es.vi, float)
    if len(w) < 2:
        return ATOL
    vt = (len(w) - 1) / (w.sum() - np.sum(w**2) / w.sum())
    return ATOL + 100 * THRESHOLD / vt


def by(entries, **keys):
    return next(e for e in entries if all(e[k] == v for k, v in keys.items()))


DATASETS = GOLDEN["datasets"]


@pytest.fixture(params=DATASETS, ids=[d["name"] for d in DATASETS])
def ds(request):
    return request.param


def counts(ds):
    return arr(ds["xi"]), arr(ds["ni"])


def test_rma(ds):
    xi, ni = counts(ds)
    for g in ds["rma"]:
        es = escalc(g["measure"], xi, ni)
        what = f"{ds['name']} {g['measure']} {g['method']}"
        if "error" in g:
            with pytest.raises(ValueError):
                rma(es, method=g["method"])
            continue
        r = rma(es, method=g["method"])
        assert r.stepadj == g["stepadj"], f"{what}: step adjustment"
        if r.stepadj != 1:
            assert any("step adjustment" in n for n in r.notes), f"{what}: the retry is noted"
        for field in ("estimate", "se", "tau2", "q", "h2"):
            close(getattr(r, field), g[field], f"{what} {field}")
        close(r.i2, g["i2"], f"{what} i2", atol=i2_atol(es, r.tau2))


def test_leave1out(ds):
    xi, ni = counts(ds)
    for g in ds["leave1out"]:
        what = f"{ds['name']} {g['measure']} {g['method']}"
        if g.get("error", "").startswith("model:"):
            continue  # the full model already fails (test_rma)
        res = rma(escalc(g["measure"], xi, ni), method=g["method"])
        if "error" in g:
            with pytest.raises(ValueError):
                leave_one_out(res)
            continue
        loo = leave_one_out(res)
        for field in ("estimate", "se", "tau2", "q"):
            close(getattr(loo, field), g[field], f"{what} {field}")
        assert len(loo.notes) == int(np.isnan(loo.estimate).sum()), f"{what}: each NaN row is explained"


def test_trimfill(ds):
    xi, ni = counts(ds)
    for g in ds["trimfill"]:
        what = f"{ds['name']} {g['measure']} {g['method']}"
        if g.get("error", "").startswith("model:"):
            continue
        res = rma(escalc(g["measure"], xi, ni), method=g["method"])
        tf = trimfill(res, force=True)  # never raises for data reasons
        if res.k > 1 and np.ptp(res.es.yi) == 0:  # deliberate: metafor's side/k0 follow rounding error, or it stops
            assert not tf.applicable and "same estimate" in tf.reason, what
            continue
        if "error" in g:
            assert not tf.applicable and tf.reason, f"{what}: metafor stops ({g['error']}), the engine says why"
            assert tf.res is None and np.isnan(tf.estimate)
            continue
        assert tf.applicable, f"{what}: {tf.reason}"
        assert (tf.k0, tf.side) == (g["k0"], g["side"]), what
        for field in ("estimate", "se", "tau2"):
            close(getattr(tf.res, field), g[field], f"{what} {field}")


def test_egger_and_begg(ds):
    xi, ni = counts(ds)
    res = rma(escalc("PLO", xi, ni), method="FE")
    eg, rk = egger_test(res, force=True), begg_test(res, force=True)
    if len(xi) > 1 and np.ptp(res.es.yi) == 0:  # deliberate: metafor's t and τ here are rounding error (0/0)
        assert not eg.applicable and "same estimate" in rk.reason
        return
    g = ds["regtest"]
    if "error" in g:
        assert not eg.applicable and eg.reason
    elif eg.applicable:
        close([eg.t, eg.pval], [g["zval"], g["pval"]], f"{ds['name']} regtest")
    else:  # metafor answers with no residual df (k = 2): NaN test, the engine says why
        assert np.isnan(arr(g["pval"])).all() and "k < 3" in eg.reason
    g = ds["ranktest"]
    if "error" in g:
        assert not rk.applicable and rk.reason
    elif rk.applicable and np.isfinite(rk.tau):
        close([rk.tau, rk.pval], [g["tau"], g["pval"]], f"{ds['name']} ranktest")
    else:
        assert np.isnan(arr(g["pval"])).all() and rk.reason


GLMM_WELL_DETERMINED_TAU2 = 4.0  # τ < 2 on the logit scale


def test_glmm(ds):
    """Where metafor fits a well-determined model (no glmer warning, τ² < 4) the numbers agree to 1e-4. With
    larger τ² the likelihood is so flat that glmer's own tolerances (bobyqa, PIRLS at 1e-7 inside a finite-
    difference Hessian with step 1e-4) move τ² and SE by 1e-4 to a few per cent; there the engine must reach at
    least the log-likelihood of metafor's estimate (same AGQ likelihood), i.e. be no worse a maximum."""
    xi, ni = counts(ds)
    g = ds["glmm"]
    r = rma_glmm(xi, ni)
    if "error" in g:
        if len(xi) == 1:  # deliberate: k = 1 falls back to the FE logistic fit, named and noted
            assert r.method == "FE" and any("k = 1" in n for n in r.notes) or not r.estimable
        else:
            assert not r.estimable and r.reason and np.isnan(r.estimate), f"{ds['name']}: {g['error']}"
        return
    if not r.estimable:  # deliberate: only 0/n and n/n studies, no finite ML estimate (glmer: τ² ≈ 35,000)
        assert not ((xi > 0) & (xi < ni)).any() and "keeps growing with τ" in r.reason, ds["name"]
        return
    assert r.converged and np.isfinite([r.estimate, r.se, r.tau2]).all(), f"{ds['name']}: {r.notes}"
    if not g["warnings"] and g["tau2"] < GLMM_WELL_DETERMINED_TAU2:
        close([r.estimate, r.se, r.tau2], [g["estimate"], g["se"], g["tau2"]], f"{ds['name']} glmm",
              rtol=GLMM_RTOL, atol=GLMM_ATOL)
        return
    lchoose = gammaln(ni + 1) - gammaln(xi + 1) - gammaln(ni - xi + 1)
    nodes, logw = _gh(r.n_agq)
    at_metafor = _glmm_loglik(g["estimate"], np.sqrt(g["tau2"]), xi, ni, lchoose, nodes, logw)
    assert r.loglik >= at_metafor - 1e-8, f"{ds['name']}: engine log-lik {r.loglik} < metafor's {at_metafor}"


def test_battery_covers_the_brief():
    """k from 1 to 60, 0/n and n/n studies, identical proportions, k = 2 and 3, metafor errors of each kind."""
    ks = [len(arr(d["xi"])) for d in DATASETS]
    assert min(ks) == 1 and max(ks) >= 50 and ks.count(2) >= 20 and ks.count(3) >= 20
    assert any((arr(d["xi"]) == 0).any() for d in DATASETS) and any((arr(d["xi"]) == arr(d["ni"])).any()
                                                                    for d in DATASETS)
    assert any(d["kind"] == "identical" for d in DATASETS)
    assert any(g.get("stepadj", 1) < 1 for d in DATASETS for g in d["rma"])  # converged only with stepadj < 1
    tf_errors = {g["error"][:20] for d in DATASETS for g in d["trimfill"] if "error" in g}
    assert len(tf_errors) >= 4
    assert any("NA" in g["estimate"] for d in DATASETS for g in d["leave1out"] if isinstance(g.get("estimate"), list))
    assert any("error" in d["glmm"] for d in DATASETS)


def test_named_cases_of_the_issue():
    """The cases reported with issue 15, one by one."""
    named = {d["name"]: d for d in DATASETS if d["kind"] == "named"}
    xi, ni = counts(named["trimfill_k2"])
    tf = trimfill(rma(escalc("PR", xi, ni), method="PM"), force=True)  # used to loop for ever
    assert not tf.applicable and "side" in tf.reason
    tf = trimfill(rma(escalc("PR", xi, ni), method="FE"), force=True)  # used to "not converge"
    g = by(named["trimfill_k2"]["trimfill"], measure="PR", method="EE")
    assert tf.k0 == g["k0"] == 1 and tf.side == g["side"]
    xi, ni = counts(named["loo_refit_fails"])
    loo = leave_one_out(rma(escalc("PLO", xi, ni), method="REML"))  # used to raise RuntimeError
    assert np.isnan(loo.estimate[3]) and np.isfinite(np.delete(loo.estimate, 3)).all() and loo.notes
    xi, ni = counts(named["fisher_oscillates"])
    r = rma(escalc("PLO", xi, ni), method="REML")
    assert r.stepadj == by(named["fisher_oscillates"]["rma"], measure="PLO", method="REML")["stepadj"] == 0.5
    with pytest.raises(NotEstimableError, match="did not converge"):
        rma(escalc("PLO", xi, ni), method="REML", stepadj=1)
    xi, ni = counts(named["equal_n"])
    tf = trimfill(rma(escalc("PAS", xi, ni)), force=True)  # used to raise LinAlgError
    assert not tf.applicable and "not of full rank" in tf.reason


def test_golden_file_regenerates_identically(tmp_path):
    """About two minutes: every dataset refitted by metafor and lme4."""
    assert_regenerates("golden_battery", tmp_path, {"metafor": GOLDEN["metafor_version"],
                                                    "lme4": GOLDEN["lme4_version"]}, timeout=1800)
