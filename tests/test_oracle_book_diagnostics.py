"""The diagnostics the book shows on its own data against metafor 3.8-1 (tests/oracle/golden_book_diagnostics.R):
the model panel, influence, Baujat, the cumulative analysis by publication year, the τ² interval and the
meta-regressions, outcome by outcome. Tolerance as every oracle test: relative 1e-6 (GLMM 1e-4)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from scipy.special import gammaln, logit
from test_oracle_golden import assert_regenerates, close, golden

from livingreview.config import DATA_DIR, PRIMARY
from livingreview.dataset import load_dataset
from livingreview.engine.glmm import _gh, _loglik as _glmm_loglik, rma_glmm
from livingreview.review import diagnostics as dg
from livingreview.review.outcomes import analyse_outcome

GOLDEN = golden("golden_book_diagnostics")
OUTCOMES = sorted(GOLDEN["outcomes"])
GLMM_RTOL = 1e-4


@pytest.fixture(scope="module")
def ds():
    return load_dataset(DATA_DIR)


def test_golden_matches_current_data():
    for name, md5 in GOLDEN["data_md5"].items():
        assert hashlib.md5((DATA_DIR / name).read_bytes()).hexdigest() == md5, (
            f"data/{name} changed since the golden values were generated: run "
            f"`Rscript tests/oracle/golden_book_diagnostics.R` and review the differences")


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_model_panel(ds, outcome):
    g = GOLDEN["outcomes"][outcome]
    panel = dg.model_panel(ds, outcome).set_index(["measure", "method", "test"])
    assert len(panel) == len(g["panel"]) + 1  # and the GLMM
    for row in g["panel"]:
        ours = panel.loc[(row["measure"], row["method"], row["test"])]
        for field in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2"):
            close(ours[field], row[field], f"{outcome} {row['measure']}/{row['method']}/{row['test']} {field}")
    glmm = panel.xs("GLMM", level="measure").iloc[0]
    for field in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
        close(glmm[field], g["glmm"][field], f"{outcome} GLMM {field}", rtol=GLMM_RTOL)
    assert_glmm_tau2(ds, outcome, glmm["tau2"], g["glmm"])
    assert panel["primary"].sum() == 1 and panel["paper"].sum() == 1


def assert_glmm_tau2(ds, outcome, tau2, theirs):
    """τ² to 1e-4 as every GLMM value; where glmer's optimiser stopped further away on a flat likelihood (small τ²),
    the rule of tests/test_oracle_battery.py: the engine's maximum is no lower than the likelihood at metafor's
    estimate (the same adaptive Gauss–Hermite likelihood)."""
    if abs(tau2 - theirs["tau2"]) <= GLMM_RTOL * abs(theirs["tau2"]):
        return
    a = analyse_outcome(ds, outcome, PRIMARY)
    xi, ni = a.studies["events"].to_numpy(float), a.studies["total"].to_numpy(float)
    r = rma_glmm(xi, ni)
    lchoose = gammaln(ni + 1) - gammaln(xi + 1) - gammaln(ni - xi + 1)
    nodes, logw = _gh(r.n_agq)
    at_metafor = _glmm_loglik(logit(theirs["estimate"]), np.sqrt(theirs["tau2"]), xi, ni, lchoose, nodes, logw)
    assert r.loglik >= at_metafor - 1e-8, f"{outcome}: GLMM τ² {tau2} vs metafor {theirs['tau2']} and a lower maximum"


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_study_diagnostics_and_cumulative_by_year(ds, outcome):
    g = GOLDEN["outcomes"][outcome]
    a = analyse_outcome(ds, outcome, PRIMARY)
    assert list(a.studies["study_id"]) == g["study_id"]  # the same studies, in the same order
    table = dg.study_diagnostics(ds, a)
    assert list(table["study_id"]) == g["cumulative"]["study_id"]  # publication-year order, unknown last
    by_study = table.set_index("study_id").loc[g["study_id"]]
    for field in ("rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "qe_del", "hat", "weight"):
        close(by_study[field], g["influence"][field], f"{outcome} influence {field}")
    assert list(by_study["influential"]) == g["influence"]["influential"]
    close(by_study["baujat_x"], g["baujat"]["x"], f"{outcome} baujat x")
    close(by_study["baujat_y"], g["baujat"]["y"], f"{outcome} baujat y")
    for ours, theirs in (("cumulative_prop_estimate", "estimate"), ("cumulative_prop_ci_low", "ci_low"),
                         ("cumulative_prop_ci_high", "ci_high"), ("cumulative_tau2", "tau2"), ("cumulative_i2", "i2")):
        close(table[ours], g["cumulative"][theirs], f"{outcome} cumulative {theirs}")


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_tau2_interval_and_meta_regressions(ds, outcome):
    g = GOLDEN["outcomes"][outcome]
    a = analyse_outcome(ds, outcome, PRIMARY)
    ci = dg.heterogeneity_interval(a)
    close(ci.tau2, [g["confint_tau2"][f] for f in ("estimate", "ci_low", "ci_high")], f"{outcome} CI of τ²")
    regs = dg.meta_regressions(ds, a, force=True)
    for name, expected in g["regressions"].items():
        reg = regs[name.replace("_", " ")]
        assert not isinstance(reg, str), reg
        assert reg.k == expected["k"]
        for ours, theirs in (("beta", "beta"), ("se", "se"), ("pval", "pval"), ("qm", "qm"), ("qm_p", "qm_p"),
                             ("tau2", "tau2"), ("r2", "r2")):
            close(getattr(reg, ours), expected[theirs], f"{outcome} meta-regression on {name}: {ours}")


def test_unforced_meta_regression_refuses_too_few_studies(ds):
    a = analyse_outcome(ds, "vod", PRIMARY)
    regs = dg.meta_regressions(ds, a)
    refused = [r for r in regs.values() if not isinstance(r, str) and not r.applicable]
    assert refused and all("fewer than 10 per covariate" in r.reason for r in refused)
    assert all(np.isnan(r.beta).all() for r in refused)


def test_median_age_is_read_only_where_the_text_states_one():
    assert dg.median_age("≥60 years; median 68 (60–87)") == 68
    assert dg.median_age("median 52.7 y (IQR 51.9–53.5) at InO start") == 52.7
    assert np.isnan(dg.median_age("adults >18 y (median/range not in abstract)"))
    assert np.isnan(dg.median_age(None))


def test_golden_script_reproduces_committed_values(tmp_path):
    assert_regenerates("golden_book_diagnostics", tmp_path, {"metafor": "3.8.1"}, timeout=600)
