"""The engine core against R metafor 3.8-1: every number in tests/oracle/golden_core.json.

Regenerate the golden file with ``Rscript tests/oracle/golden_core.R`` (from the repo root).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from livingreview.engine.effects import back_transform, escalc
from livingreview.engine.model import rma
from livingreview.engine.sensitivity import leave_one_out
from livingreview.engine.subgroups import subgroup_analysis

RTOL = 1e-6   # relative agreement required with metafor (both sides converge to 1e-12)
ATOL = 1e-10  # absolute, for values that are (near) zero

ORACLE = Path(__file__).parent / "oracle"
GOLDEN = json.loads((ORACLE / "golden_core.json").read_text())
DATASETS = GOLDEN["datasets"]


R_SPECIAL = {"NA": np.nan, "NaN": np.nan, "Inf": np.inf, "-Inf": -np.inf, None: np.nan}


def arr(x):
    """JSON → float array. The R script writes NA/NaN/Inf as strings and jsonlite unboxes length-1 vectors."""
    vals = x if isinstance(x, list) else [x]
    return np.array([R_SPECIAL[v] if v is None or isinstance(v, str) else v for v in vals], dtype=float)


def close(actual, expected, what=""):
    a, e = np.atleast_1d(np.asarray(actual, dtype=float)), arr(expected)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg=f"{what}: NaN pattern differs")
    np.testing.assert_allclose(a, e, rtol=RTOL, atol=ATOL, equal_nan=True, err_msg=what)


def cases(section):
    return [pytest.param(name, entry, id=f"{name}-{entry['measure']}-{entry['method']}-{entry['test']}")
            for name, ds in DATASETS.items() for entry in ds[section]]


def effect_sizes(name, measure):
    ds = DATASETS[name]
    return escalc(measure, arr(ds["xi"]), arr(ds["ni"]))


@pytest.mark.parametrize("name", list(DATASETS))
@pytest.mark.parametrize("measure", ["PR", "PLO", "PAS", "PFT"])
def test_escalc(name, measure):
    es = effect_sizes(name, measure)
    close(es.yi, DATASETS[name]["escalc"][measure]["yi"], "yi")
    close(es.vi, DATASETS[name]["escalc"][measure]["vi"], "vi")


@pytest.mark.parametrize("name,g", cases("fits"))
def test_fit(name, g):
    es = effect_sizes(name, g["measure"])
    res = rma(es, method=g["method"], test=g["test"], pi_dist="t2")
    assert res.test == g["test_used"]
    for field in ("estimate", "se", "zval", "pval", "ci_low", "ci_high", "tau2", "se_tau2", "i2", "h2", "q",
                  "q_p", "weights"):
        close(getattr(res, field), g[field], field)
    # prediction intervals: metafor's default pi.type uses the test's critical value (z, or t(k-1))
    k = es.k
    default = "z" if g["test_used"] == "z" else "t1"
    for ours, theirs in ((default, "z"), ("t1", "t1"), ("t2", "t2")):
        r = rma(es, method=g["method"], test=g["test"], pi_dist=ours)
        lo, hi = g[f"pi_{theirs}_low"], g[f"pi_{theirs}_high"]
        df = {"z": np.inf, "t1": k - 1, "t2": k - 2}[ours]
        if df < 1 and not np.isnan(arr(lo)[0]):
            # deliberate difference: metafor 3.8-1 silently uses df = 1 here, we return NaN with a note
            assert np.isnan(r.pi_low) and np.isnan(r.pi_high)
            assert any("undefined" in n for n in r.notes)
            continue
        close([r.pi_low, r.pi_high], [lo, hi], f"PI {ours} vs metafor {theirs}")
    p = res.proportion()
    close([p.estimate, p.ci_low, p.ci_high], [g["prop_estimate"], g["prop_ci_low"], g["prop_ci_high"]], "prop")
    if not (k - 2 < 1 and not np.isnan(arr(g["prop_pi_t2_low"])[0])):
        close([p.pi_low, p.pi_high], [g["prop_pi_t2_low"], g["prop_pi_t2_high"]], "prop PI t2")


@pytest.mark.parametrize("name,g", cases("leave1out"))
def test_leave1out(name, g):
    res = rma(effect_sizes(name, g["measure"]), method=g["method"], test=g["test"])
    loo = leave_one_out(res)
    for field in ("estimate", "se", "pval", "ci_low", "ci_high", "q", "q_p", "i2", "h2", "prop_estimate",
                  "prop_ci_low", "prop_ci_high"):
        close(getattr(loo, field), g[field], field)
    if g["tau2"] is not None:  # metafor drops the tau2 column for EE models
        close(loo.tau2, g["tau2"], "tau2")
    else:
        assert np.all(loo.tau2 == 0)


@pytest.mark.parametrize("name,g", cases("subgroups"))
def test_subgroups(name, g):
    es = effect_sizes(name, g["measure"])
    sub = subgroup_analysis(es, DATASETS[name]["groups"], method=g["method"], test=g["test"], pi_dist="t2")
    assert list(sub.levels) == [lv["level"] for lv in g["levels"]]
    for lv in g["levels"]:
        r = sub.levels[lv["level"]]
        assert r.k == lv["k"]
        for field in ("estimate", "se", "ci_low", "ci_high", "tau2", "i2", "q"):
            close(getattr(r, field), lv[field], f"{lv['level']} {field}")
        if r.k >= 3:
            close([r.pi_low, r.pi_high], [lv["pi_low_t2"], lv["pi_high_t2"]], f"{lv['level']} PI")
    close([sub.q_between, sub.q_between_p], [g["q_between"], g["q_between_p"]], "Q-between")
    assert sub.q_between_df == g["q_between_df"]


@pytest.mark.parametrize("o", GOLDEN["escalc_options"], ids=lambda o: f"{o['measure']}-add{o['add']}-{o['to']}")
def test_escalc_options(o):
    es = escalc(o["measure"], arr(o["xi"]), arr(o["ni"]), add=o["add"], to=o["to"])
    close(es.yi, o["yi"], "yi")
    close(es.vi, o["vi"], "vi")


def test_back_transforms():
    bt = GOLDEN["back_transforms"]
    close(back_transform("PLO", bt["values"]), bt["ilogit"], "ilogit")
    close(back_transform("PAS", bt["values"]), bt["iarcsin"], "iarcsin")
    close(back_transform("PFT", bt["values"], ni=bt["ni"]), bt["ipft_hm"], "ipft.hm")
    close(back_transform("PR", bt["values"]), bt["values"], "identity")


def test_golden_file_regenerates_identically(tmp_path):
    """Run the R script live; the JSON must equal the committed one byte for byte."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("Rscript not found: cannot regenerate tests/oracle/golden_core.json live")
    check = subprocess.run([rscript, "-e", "library(metafor); library(jsonlite)"], capture_output=True, text=True)
    if check.returncode != 0:
        pytest.skip(f"R packages metafor/jsonlite not available: {check.stderr.strip()[-200:]}")
    version = subprocess.run([rscript, "-e", "cat(as.character(packageVersion('metafor')))"],
                             capture_output=True, text=True).stdout.strip()
    if version != GOLDEN["metafor_version"]:
        pytest.skip(f"installed metafor {version} differs from the golden file's {GOLDEN['metafor_version']}")
    out = tmp_path / "golden_core.json"
    root = Path(__file__).parent.parent
    subprocess.run([rscript, str(ORACLE / "golden_core.R"), str(out)], cwd=root, check=True,
                   capture_output=True, text=True, timeout=600)
    assert out.read_bytes() == (ORACLE / "golden_core.json").read_bytes()
