"""Bias analyses and the GLMM against R metafor 3.8-1 + lme4: every number in tests/oracle/golden_bias.json.

Regenerate the golden file with ``Rscript tests/oracle/golden_bias.R`` (from the repo root).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from livingreview.engine.bias import _metareg, begg_test, egger_test, trimfill
from livingreview.engine.effects import escalc
from livingreview.engine.glmm import rma_glmm
from livingreview.engine.model import rma

RTOL = 1e-6        # bias tests: relative agreement with metafor (rma converges to 1e-12 on both sides)
ATOL = 1e-10       # absolute, for values that are (near) zero (metafor's REML τ² creeps to ~1e-13, not 0)
GLMM_RTOL = 1e-4   # GLMM: two optimisers (bobyqa vs Brent) and glmer's finite-difference Hessian
GLMM_ATOL = 1e-8   # absolute, for GLMM τ² / I² on the boundary (glmer reports e.g. 4e-16 for 0)

ORACLE = Path(__file__).parent / "oracle"
GOLDEN = json.loads((ORACLE / "golden_bias.json").read_text())
DATASETS = {d["name"]: d for d in GOLDEN["datasets"]}


def arr(x):
    """JSON → float array (null = NA/NaN; jsonlite may unbox length-1 vectors)."""
    vals = x if isinstance(x, list) else [x]
    return np.array([np.nan if v is None else v for v in vals], dtype=float)


def close(actual, expected, what="", rtol=RTOL, atol=ATOL):
    a, e = np.atleast_1d(np.asarray(actual, dtype=float)), arr(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} vs metafor {e.shape}"
    np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg=f"{what}: NaN pattern differs")
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def bias_cases():
    return [pytest.param(name, b, id=f"{name}-{b['measure']}-{b['method']}")
            for name, ds in DATASETS.items() for b in ds["bias"]]


def fitted(name, b):
    ds = DATASETS[name]
    es = escalc(b["measure"], arr(ds["xi"]), arr(ds["ni"]))
    close(es.yi, b["yi"], "yi")
    close(es.vi, b["vi"], "vi")
    close(es.ni, b["ni_attr"], "ni")
    res = rma(es, method=b["method"])
    close(res.estimate, b["rma"]["estimate"], "rma estimate")
    close(res.tau2, b["rma"]["tau2"], "rma tau2")
    return res


@pytest.mark.parametrize("name,b", bias_cases())
@pytest.mark.parametrize("predictor,key", [("sei", "regtest"), ("sqrtninv", "regtest_sqrtninv")])
def test_egger(name, b, predictor, key):
    res = fitted(name, b)
    e = egger_test(res, force=True, predictor=predictor)
    g = b[key]
    assert e.applicable and e.df == g["dfs"]
    for ours, theirs in (("t", "zval"), ("pval", "pval"), ("intercept", "est"), ("ci_low", "ci_lb"),
                         ("ci_high", "ci_ub"), ("intercept_se", "intercept_se"), ("slope", "slope"),
                         ("se", "slope_se")):
        close(getattr(e, ours), g[theirs], f"{key}.{ours}")


@pytest.mark.parametrize("name,b", bias_cases())
def test_begg(name, b):
    res = fitted(name, b)
    r = begg_test(res, force=True)
    g = b["ranktest"]
    assert r.ties == g["ties"] and r.exact == (not g["ties"])
    close(r.tau, g["tau"], "tau")
    close(r.pval, g["pval"], "pval")


@pytest.mark.parametrize("name,b", bias_cases())
def test_trimfill_side_regression(name, b):
    """The meta-regression on sqrt(vi) whose slope sign picks the side (rma(yi, vi, mods=~sqrt(vi)))."""
    res = fitted(name, b)
    got = _metareg(res.es.yi, res.es.vi, np.sqrt(res.es.vi), res.method)
    for value, key in zip(got, ("intercept", "slope", "tau2")):
        close(value, b["side_regression"][key], f"side regression {key}")


@pytest.mark.parametrize("name,b", bias_cases())
@pytest.mark.parametrize("variant", ["L0", "R0", "L0_left", "L0_right"])
def test_trimfill(name, b, variant):
    res = fitted(name, b)
    estimator, _, side = variant.partition("_")
    tf = trimfill(res, estimator=estimator, side=side or None, force=True)
    g = b["trimfill"][variant]
    assert tf.applicable
    assert tf.k0 == g["k0"], "k0"
    assert tf.side == g["side"], "side"
    close(tf.se_k0, g["se_k0"], "se_k0")
    close(tf.p_k0, g["p_k0"], "p_k0")
    close(tf.yi_fill, g["yi_fill"], "filled yi")
    close(tf.vi_fill, g["vi_fill"], "filled vi")
    close(tf.ni_fill, g["ni_fill"], "filled ni")
    assert tf.res.k == g["k"]
    for ours, theirs in (("estimate", "estimate"), ("se", "se"), ("zval", "zval"), ("pval", "pval"),
                         ("ci_low", "ci_lb"), ("ci_high", "ci_ub"), ("tau2", "tau2"), ("i2", "i2")):
        close(getattr(tf.res, ours), g[theirs], f"trimfill {ours}")
    p = tf.res.proportion()
    for ours, theirs in (("estimate", "estimate"), ("ci_low", "ci_lb"), ("ci_high", "ci_ub")):
        close(getattr(p, ours), g["proportion"][theirs], f"trimfill proportion {ours}")


def glmm_cases():
    return [pytest.param(name, m, id=f"{name}-{m}") for name, ds in DATASETS.items() if ds["glmm"]
            for m in ("ML", "FE")]


@pytest.mark.parametrize("name,method", glmm_cases())
def test_glmm(name, method):
    ds = DATASETS[name]
    g = ds["glmm"][method]
    r = rma_glmm(arr(ds["xi"]), arr(ds["ni"]), method=method)
    assert r.converged and r.method == method and r.qe_df == g["qe_df"]
    for ours, theirs in (("estimate", "estimate"), ("se", "se"), ("zval", "zval"), ("pval", "pval"),
                         ("ci_low", "ci_lb"), ("ci_high", "ci_ub"), ("pi_low", "pi_lb"), ("pi_high", "pi_ub"),
                         ("tau2", "tau2"), ("i2", "i2"), ("h2", "h2"), ("qe_lrt", "qe_lrt"), ("qe_wald", "qe_wald"),
                         ("loglik", "loglik")):
        close(getattr(r, ours), g[theirs], f"glmm {ours}", rtol=GLMM_RTOL, atol=GLMM_ATOL)
    p = r.proportion()
    for ours, theirs in (("estimate", "estimate"), ("ci_low", "ci_lb"), ("ci_high", "ci_ub")):
        close(getattr(p, ours), g["proportion"][theirs], f"glmm proportion {ours}", rtol=GLMM_RTOL, atol=GLMM_ATOL)


def test_golden_covers_the_brief():
    """The battery has fills on both sides, k0 = 0, 0-event studies, ties and the exact Begg path."""
    tf = [b["trimfill"]["L0"] for ds in DATASETS.values() for b in ds["bias"]]
    assert {t["side"] for t in tf if t["k0"] > 0} == {"left", "right"}
    assert any(t["k0"] == 0 for t in tf)
    assert any(min(arr(ds["xi"])) == 0 for ds in DATASETS.values() if ds["bias"])
    ties = {b["ranktest"]["ties"] for ds in DATASETS.values() for b in ds["bias"]}
    assert ties == {True, False}
    assert any(ds["glmm"]["ML"]["tau2"] < GLMM_ATOL for ds in DATASETS.values() if ds["glmm"])


# ---------------------------------------------------------------------------------------------- live oracle


def _r_ready() -> str:
    """Why the live oracle cannot run, or "" if it can."""
    if shutil.which("Rscript") is None:
        return "Rscript not installed"
    probe = subprocess.run(["Rscript", "-e", "suppressMessages({library(metafor); library(lme4); library(jsonlite)});"
                            " cat(as.character(packageVersion('metafor')))"], capture_output=True, text=True)
    if probe.returncode != 0:
        return "R packages metafor/lme4/jsonlite not available: " + probe.stderr.strip().splitlines()[-1]
    if probe.stdout.strip() != GOLDEN["metafor_version"]:
        return f"installed metafor {probe.stdout.strip()} is not the oracle version {GOLDEN['metafor_version']}"
    return ""


def _compare(new, old, path="golden"):
    if isinstance(old, dict):
        assert isinstance(new, dict) and set(new) == set(old), f"{path}: keys differ"
        for key in old:
            _compare(new[key], old[key], f"{path}.{key}")
    elif isinstance(old, list) and not all(isinstance(v, (int, float)) or v is None for v in old):
        assert isinstance(new, list) and len(new) == len(old), f"{path}: length differs"
        for i, (a, b) in enumerate(zip(new, old)):
            _compare(a, b, f"{path}[{i}]")
    elif isinstance(old, (str, bool)):
        assert new == old, f"{path}: {new!r} != {old!r}"
    else:
        glmm = ".glmm." in path
        close(arr(new), old, path, rtol=GLMM_RTOL if glmm else RTOL, atol=GLMM_ATOL if glmm else ATOL)


def test_live_oracle_matches_committed_golden(tmp_path):
    """Rerun tests/oracle/golden_bias.R and check the committed JSON is what it produces."""
    why = _r_ready()
    if why:
        pytest.skip(f"live metafor oracle skipped: {why}")
    out = tmp_path / "golden_bias.json"
    root = Path(__file__).parent.parent
    run = subprocess.run(["Rscript", str(ORACLE / "golden_bias.R"), str(out)], cwd=root, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    skip = ("r_version", "lme4_version")  # a different R/lme4 build may differ in the last digits only
    new = {k: v for k, v in json.loads(out.read_text()).items() if k not in skip}
    _compare(new, {k: v for k, v in GOLDEN.items() if k not in skip})
