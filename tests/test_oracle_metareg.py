"""Meta-regression against R metafor 3.8-1: every number in tests/oracle/golden_metareg.json.

Regenerate the golden file with ``Rscript tests/oracle/golden_metareg.R`` (from the repo root).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_oracle_golden import arr, assert_regenerates, close, golden

from livingreview.engine.diagnostics import baujat, influence, rstandard
from livingreview.engine.effects import escalc
from livingreview.engine.metareg import meta_regression, predict
from livingreview.engine.model import rma

GOLDEN = golden("golden_metareg")


def mods_of(model):
    """The moderator columns as the engine takes them: numbers stay numbers, text is a factor, NA is None."""
    out = {}
    for name, values in model["columns"].items():
        if all(v is None or isinstance(v, (int, float)) or v == "NA" for v in values):
            out[name] = [np.nan if v is None or v == "NA" else float(v) for v in values]
        else:
            out[name] = [None if v is None or v == "NA" else v for v in values]
    return out


def cases():
    return [pytest.param(m, f, id=f"{m['data']}-{'+'.join(m['mods'])}-{f['measure']}-{f['method']}-{f['test']}")
            for m in GOLDEN["models"] for f in m["fits"]]


def fit(model, f):
    es = escalc(f["measure"], arr(model["xi"]), arr(model["ni"]))
    return rma(es, method=f["method"], test=f["test"], mods=mods_of(model), force=True)


@pytest.mark.parametrize("model,f", cases())
def test_meta_regression(model, f):
    if "error" in f:
        with pytest.raises(ValueError):
            fit(model, f)
        return
    reg = fit(model, f)
    assert reg.applicable and reg.k == f["k"] and reg.p == f["p"] and reg.test == f["test"]
    for ours, theirs in zip(reg.names, f["names"]):  # R: factor(x)level, engine: x[level]
        assert ours.replace("[", "").replace("]", "") == theirs.replace("factor(", "").replace(")", "")
    for field in ("beta", "se", "zval", "pval", "ci_low", "ci_high", "vb", "qm", "qm_p", "qe", "qe_p", "tau2",
                  "se_tau2", "i2", "h2", "r2"):
        close(getattr(reg, field), f[field], field)
    qm_df = arr(f["qm_df"])
    assert reg.qm_df == qm_df[0]
    np.testing.assert_array_equal(np.isnan(reg.qm_df2), np.isnan(qm_df[1]))
    if "line" in f:
        line = f["line"]
        j = reg.names.index(line["moderator"])
        Z = np.tile(reg.X[:, 1:].mean(axis=0), (len(line["x"]), 1))
        Z[:, j - 1] = arr(line["x"])
        for pi_dist, key in (("t2", "riley"), ("t1", "t")):
            reg_pi = rma(escalc(f["measure"], arr(model["xi"]), arr(model["ni"])), method=f["method"],
                         test=f["test"], pi_dist=pi_dist, mods=mods_of(model), force=True)
            pr = predict(reg_pi, Z)
            g = line[key]
            for field in ("pred", "se", "ci_low", "ci_high", "prop_pred", "prop_ci_low", "prop_ci_high"):
                close(getattr(pr, field), g[field], f"line {field}")
            if f["method"] != "EE":
                for field in ("pi_low", "pi_high", "prop_pi_low", "prop_pi_high"):
                    close(getattr(pr, field), g[field], f"line {field} ({key})")
    if "influence" in f:
        g = f["influence"]
        inf, bj, rs = influence(reg), baujat(reg), rstandard(reg)
        for field in ("rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "qe_del", "hat", "weight"):
            close(getattr(inf, field), g[field], f"influence {field}")
        close(inf.dfbetas.T, [v for col in g["dfbetas"] for v in col], "dfbetas")
        assert inf.influential.tolist() == g["influential"]
        close(bj.x, g["baujat_x"], "baujat x")
        close(bj.y, g["baujat_y"], "baujat y")
        close(rs.z, g["rstandard"], "rstandard")


@pytest.mark.parametrize("stop", GOLDEN["stops"], ids=lambda s: s["error"][:30])
def test_where_metafor_stops_the_engine_raises(stop):
    es = escalc("PLO", arr(stop["xi"]), arr(stop["ni"]))
    with pytest.raises(ValueError, match="cannot be estimated"):
        rma(es, method=stop["method"], mods={k: arr(v) for k, v in stop["columns"].items()}, force=True)


def test_aliased_moderator_is_dropped_as_metafor():
    a = GOLDEN["aliased"]
    es = escalc("PLO", arr(a["xi"]), arr(a["ni"]))
    reg = meta_regression(es, {k: arr(v) for k, v in a["columns"].items()}, force=True)
    assert list(reg.names) == a["names"] and any("redundant" in n for n in reg.notes)
    close(reg.beta, a["beta"], "beta")
    close(reg.se, a["se"], "se")
    close(reg.tau2, a["tau2"], "tau2")


def test_golden_covers_the_brief():
    """A three-level factor, a factor with a numeric moderator, a missing moderator value, a moderator constant
    within a subgroup (dropped), knha F-tests, every τ² method, and R² both zero and positive."""
    fits = [f for m in GOLDEN["models"] for f in m["fits"] if "error" not in f]
    assert any(len(f["names"]) == 3 and all("regimen" in n for n in f["names"][1:]) for f in fits)
    assert any(m["data"] == "deb_na" for m in GOLDEN["models"])
    assert any(m["data"] == "deb_other" and m["fits"][0]["names"] == ["intrcpt", "scq"] for m in GOLDEN["models"])
    assert {f["method"] for f in fits} == {"EE", "DL", "REML", "ML", "PM"}
    assert any(f["test"] == "knha" and not np.isnan(arr(f["qm_df"])[1]) for f in fits)
    assert any(f["r2"] == 0 for f in fits) and any(f["r2"] > 50 for f in fits)


def test_golden_file_regenerates_identically(tmp_path):
    assert_regenerates("golden_metareg", tmp_path, {"metafor": GOLDEN["metafor_version"]}, timeout=900)
