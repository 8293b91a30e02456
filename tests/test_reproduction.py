"""The reproduction audit: pinned statuses, the status rules on hand-made cases, and the detectors of the paper's
internal inconsistencies on the real ``data/published.csv``.

The pins (``tests/pins/reproduction_status.csv``: one row per published number with its status, the rule that
decided it and the closest specification; ``tests/pins/reproduction_outcomes.csv``: the best-explaining
specification per outcome) are compared exactly with a fresh computation. When a change of data or code moves
them on purpose, regenerate them with

    python -m livingreview.review.audit --write-pins

and review the diff.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from livingreview.book import (
    outcome as outcome_page,
    reproduction as audit_page,
    reproduction_methods as methods_page,
    reproduction_outcome as outcome_audit_page,
)
from livingreview.config import DATA_DIR, ROOT
from livingreview.dataset import load_dataset
from livingreview.review import audit as rp, feasibility as F
from livingreview.review.audit import pins

SYNTHETIC = ROOT / "tests" / "fixtures" / "synthetic"
REGENERATE = "python -m livingreview.review.audit --write-pins"


@pytest.fixture(scope="module")
def ds():
    return load_dataset(DATA_DIR)


@pytest.fixture(scope="module")
def audit(ds):
    return rp.audit(ds)


@pytest.fixture(scope="module")
def numbers(ds):
    return rp.published_numbers(ds)


@pytest.fixture(scope="module")
def findings(ds):
    return rp.findings(ds)


def _read_pin(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _as_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as the pin file stores it (written by to_csv, read back as text)."""
    import io
    buf = io.StringIO()
    frame.to_csv(buf, index=False, lineterminator="\n")
    buf.seek(0)
    return pd.read_csv(buf, dtype=str, keep_default_na=False)


# --- pins ----------------------------------------------------------------------------------------------------------


def test_status_pins_match_a_fresh_computation(audit):
    pinned = _read_pin(pins.STATUS_PIN)
    fresh = _as_strings(pins.status_pin_frame(audit))
    assert list(pinned.columns) == pins.STATUS_PIN_COLUMNS
    diff = pinned.merge(fresh, how="outer", indicator=True)
    changed = diff[diff["_merge"] != "both"]
    assert changed.empty, f"reproduction statuses moved; if on purpose run `{REGENERATE}`:\n{changed.to_string()}"
    pd.testing.assert_frame_equal(pinned, fresh)


def test_outcome_pins_match_a_fresh_computation(ds, audit):
    pinned = _read_pin(pins.OUTCOME_PIN)
    fresh = _as_strings(pins.outcome_pin_frame(rp.best_specifications(ds, audit)))
    pd.testing.assert_frame_equal(pinned, fresh, obj=f"best specifications (regenerate: `{REGENERATE}`)")


def test_every_published_number_has_one_status(ds, audit):
    assert len(audit.comparisons) == len(ds.published)
    assert {c.status for c in audit.comparisons} <= set(rp.STATUSES)
    assert sum(audit.counts().values()) == len(ds.published)


def test_missing_studies_make_the_overall_numbers_not_reproducible(audit):
    """Every overall analysis of the ten main outcomes has fewer studies in version 1 than the paper pooled."""
    for c in audit.comparisons:
        if c.number.subgroup == "overall" and c.paper_k.exact is not None and c.our_k < c.paper_k.exact:
            assert (c.status, c.rule) == ("not reproducible", "missing-studies"), c


def test_the_audit_uses_version_1_only(ds, audit):
    new = set(ds.studies.loc[ds.studies["data_version"] > rp.REFERENCE_VERSION, "study_id"])
    assert new, "the dataset has version-2 studies"
    for fits in audit.fits.values():
        for fit in fits.values():
            pooled = ds.pooling_table(fit.outcome, data_version=rp.REFERENCE_VERSION)
            assert fit.k <= len(pooled)


# --- the status rules on hand-made cases -----------------------------------------------------------------------------


def case(statistic="estimate", paper=89.0, ours=89.0, comparator="=", decimals=1, our_k=15, paper_k=15,
         minimum=None, short=False, subgroup=False):
    pk = rp.PaperK(paper_k, paper_k if minimum is None else minimum, "test") if paper_k is not None else \
        rp.PaperK(None, minimum or 0, "test")
    return rp.Case(statistic, comparator, paper, ours, decimals, our_k, pk, short, subgroup)


@pytest.mark.parametrize("ours, status, rule", [
    (89.04, "reproduced", "exact"),
    (88.95, "reproduced", "exact"),
    (89.06, "close", "close"),
    (89.5, "close", "close"),
    (88.5, "close", "close"),
    (89.51, "not reproduced", "otherwise"),
    (92.0, "not reproduced", "otherwise"),
])
def test_estimates_and_bounds(ours, status, rule):
    assert rp.judge(case(ours=ours)) == rp.Verdict(status, rule)


def test_a_bound_printed_to_two_decimals_is_compared_at_two_decimals():
    assert rp.judge(case("ci_low", paper=-0.02, ours=-0.024, decimals=2)).status == "reproduced"
    assert rp.judge(case("ci_low", paper=-0.02, ours=0.1, decimals=2)).status == "close"


@pytest.mark.parametrize("ours, status", [(90.1, "reproduced"), (90.18, "reproduced"), (90.0, "reproduced"),
                                          (90.25, "not reproduced"), (89.8, "not reproduced")])
def test_i2_tolerance(ours, status):
    assert rp.judge(case("i2", paper=90.1, ours=ours)).status == status


@pytest.mark.parametrize("ours, status", [(0.452, "reproduced"), (0.4529, "reproduced"), (0.451, "reproduced"),
                                          (0.4535, "not reproduced"), (0.46, "not reproduced")])
def test_three_decimal_p(ours, status):
    assert rp.judge(case("het_p", paper=0.452, ours=ours)).status == status


@pytest.mark.parametrize("ours, status", [(1e-12, "reproduced"), (0.0009, "reproduced"), (0.001, "not reproduced"),
                                          (0.0011, "not reproduced"), (0.2, "not reproduced")])
def test_p_below_0001_is_an_inequality(ours, status):
    """'p<0.001' is not the value 0.001: 0.0011 is within 0.001 of it and still fails, 1e-12 is far and passes."""
    verdict = rp.judge(case("het_p", paper=0.001, ours=ours, comparator="<", decimals=3))
    assert verdict.status == status
    if status == "reproduced":
        assert verdict.rule == "p-below"


def test_k():
    assert rp.judge(case("k", paper=15, ours=15, decimals=0)).status == "reproduced"
    assert rp.judge(case("k", paper=15, ours=16, our_k=16, decimals=0)).status == "not reproduced"


def test_a_missing_study_makes_a_number_not_reproducible_even_when_it_matches():
    verdict = rp.judge(case(ours=89.0, our_k=14, paper_k=15))
    assert verdict == rp.Verdict("not reproducible", "missing-studies")


def test_a_lower_bound_on_k_from_i2_and_p_counts_as_missing_studies():
    verdict = rp.judge(case(our_k=3, paper_k=None, minimum=5, subgroup=True))
    assert verdict == rp.Verdict("not reproducible", "missing-studies")


def test_no_data():
    assert rp.judge(case(ours=math.nan, our_k=0, paper_k=None)) == rp.Verdict("not reproducible", "no-data")


def test_subgroup_of_an_incomplete_outcome_with_unknown_k():
    incomplete = case(our_k=3, paper_k=None, minimum=2, short=True, subgroup=True)
    assert rp.judge(incomplete) == rp.Verdict("not reproducible", "outcome-incomplete")
    complete = case(our_k=3, paper_k=None, minimum=2, short=False, subgroup=True)
    assert rp.judge(complete) == rp.Verdict("reproduced", "exact")


def test_not_computable():
    assert rp.judge(case("pi_low", paper=1.2, ours=math.nan)) == rp.Verdict("not reproduced", "not-computable")


def test_the_rules_table_states_the_tolerances_once():
    conditions = " ".join(r.condition for r in rp.STATUS_RULES)
    assert f"{rp.CLOSE_PP} pp" in conditions and f"{rp.I2_TOLERANCE} points" in conditions
    assert f"{rp.P_TOLERANCE}" in conditions
    assert rp.STATUS_RULES[-1].test(case()), "the last rule must match everything"
    assert [r.rule for r in rp.STATUS_RULES if r.data_rule] == ["no-data", "missing-studies", "outcome-incomplete"]


def test_compare_takes_the_best_status_over_specifications_and_names_it():
    n = rp.PublishedNumber("overall_response", "overall", "", "estimate", 89.0, "=", "89.0%", "3.3.1")
    fits = {key: rp.Fit(key, "overall_response", "overall", "", 15, "PR", estimate=value)
            for key, value in (("S1", 89.02), ("S2", 89.3), ("S3", 91.0), ("S5", 88.0))}
    c = rp.compare(n, fits, rp.PaperK(15, 15, "test"), short=False)
    assert (c.status, c.best_spec, c.rule) == ("reproduced", "S1", "exact")
    assert c.difference == pytest.approx(0.02)
    fits["S1"] = rp.Fit("S1", "overall_response", "overall", "", 15, "PR", estimate=89.8)
    c = rp.compare(n, fits, rp.PaperK(15, 15, "test"), short=False)
    assert (c.status, c.best_spec) == ("close", "S2")


def test_synthetic_dataset_exercises_every_comparable_status():
    result = rp.audit(load_dataset(SYNTHETIC))
    counts = result.counts()
    assert counts["reproduced"] and counts["close"] and counts["not reproduced"]


# --- scales and degrees of freedom --------------------------------------------------------------------------------


def test_symmetric_intervals_fit_the_raw_scale_only():
    assert rp.symmetric_on("raw", 89.0, 85.8, 92.2)
    assert not rp.symmetric_on("arcsine", 89.0, 85.8, 92.2)
    assert not rp.symmetric_on("logit", 89.0, 85.8, 92.2)
    # a logit-symmetric interval fits the logit scale and not the raw one
    from scipy.special import expit, logit
    lo, hi = 100 * expit(logit(0.89) - 0.4), 100 * expit(logit(0.89) + 0.4)
    assert rp.symmetric_on("logit", 89.0, round(lo, 1), round(hi, 1))
    assert not rp.symmetric_on("raw", 89.0, round(lo, 1), round(hi, 1))
    # bounds outside 0–100% only fit the raw scale
    assert rp.symmetric_on("raw", 83.4, 53.6, 113.3) and not rp.symmetric_on("logit", 83.4, 53.6, 113.3)


def test_rounding_units():
    assert rp.rounding_units(89.0, 85.8, 92.2) == (0.1, 0.1, 0.1)
    assert rp.rounding_units(2.0, 1.0, 4.0) == (1.0, 1.0, 1.0)
    assert rp.rounding_units(1.7, -0.02, 3.3) == (0.1, 0.01, 0.1)


@pytest.mark.parametrize("i2, p, df", [(61.1, 0.025, 5), (42.5, 0.187, 1), (64.6, 0.093, 1), (78.1, 0.010, 2),
                                       (68.3, 0.008, 5), (62.1, 0.015, 6)])
def test_exact_i2_p_pairs_imply_one_df(i2, p, df):
    assert rp.implied_df(i2, p) == (df,)


def test_p_below_0001_gives_a_lower_bound_on_df():
    dfs = rp.implied_df(81.3, 0.001, "<")
    assert dfs[0] == 4 and len(dfs) > 10


@pytest.mark.parametrize("printed, refs", [
    ("eight included studies (19–21, 23–25, 27, 28)", (19, 20, 21, 23, 24, 25, 27, 28)),
    ("five included studies (18, 21–23, 26)", (18, 21, 22, 23, 26)),
    ("OR outcomes were reported in 15 studies", ()),
])
def test_cited_refs(printed, refs):
    assert rp.cited_refs(printed) == refs


# --- the paper's inconsistencies, found in the real published.csv --------------------------------------------------


def _where(findings, check, verdict="inconsistent"):
    return {(f.outcome, f.analysis) for f in findings if f.check == check and f.verdict == verdict}


def test_intervals_outside_0_100(findings):
    assert _where(findings, "interval outside 0–100%") == {
        ("vod", "InO + chemotherapy"), ("ae_anemia_any", "overall"), ("ae_anemia_g3", "overall"),
        ("ae_hyperbilirubinemia_any", "overall")}


def test_prediction_intervals(findings):
    assert _where(findings, "PI contains estimate") == {("vod", "overall")}
    assert _where(findings, "PI contains CI") == {("complete_remission", "overall"), ("relapse", "overall"),
                                                   ("vod", "overall")}
    # the computed check's arithmetic is the evidence: relapse's PI ends where its CI does, 1.23 pp too close
    relapse = next(f for f in findings if f.check == "PI contains CI" and f.outcome == "relapse")
    assert "(2.306 − 1.960)·3.55 = 1.23 pp" in relapse.evidence


def test_findings_use_the_feasibility_checks_where_they_overlap(ds, findings):
    """Every computed check of every analysis is a finding with the same verdict and arithmetic, once."""
    from livingreview.review import feasibility as F
    problems, context = F.build_problems(ds)
    expected = {(c.name, p.outcome, p.level or "overall", "consistent" if c.passed else "inconsistent", c.arithmetic)
                for p in problems for c in F.consistency_checks(p) if c.name in rp.COMPUTED}
    shown = {(f.check, f.outcome, f.analysis, f.verdict, f.evidence) for f in findings
             if f.check in rp.COMPUTED}
    assert shown == expected and len(shown) > 100
    cross = [f for f in findings if f.check == rp.CROSS_CHECK]
    assert len(cross) == 1 and cross[0].evidence == context["cross_check"][0].arithmetic
    assert cross[0].verdict == "inconsistent"
    # the prose detectors they replace are gone
    assert not {"PI excludes its estimate", "PI not wider than CI", "I²/p implies df", "traced heterogeneity",
                "subgroup arithmetic"} & {f.check for f in findings}
    assert {f.check for f in findings} <= set(rp.CHECKS)


def test_interval_scales(numbers, findings):
    checks = rp.interval_checks(numbers)
    cis = [c for c in checks if c.kind == "CI"]
    pis = [c for c in checks if c.kind == "PI"]
    assert len(cis) == 41 and len(pis) == 6
    # the three Table 2 typos are symmetric on no scale; every PI is symmetric on none either
    assert {c.outcome for c in cis if not c.consistent} == {"ae_thrombocytopenia_any", "ae_hyperbilirubinemia_any",
                                                            "ae_vomiting_any"}
    assert all(not c.consistent for c in pis)
    # every other CI is symmetric on the raw scale; the text's CIs (sections 3.3–3.7) on that scale only, except
    # the two whose three numbers are all whole (read at whole-percent precision) and 5-year OS (too narrow)
    assert all("raw" in c.consistent for c in cis if c.consistent)
    text = [c for c in cis if not c.outcome.startswith("ae_")]
    not_only_raw = {(c.outcome, c.level) for c in text if c.consistent != ("raw",)}
    assert not_only_raw == {("os_3y", "newly diagnosed"), ("os_5y", "")}


def test_ft_rule_not_applied(findings):
    flagged = {o for o, _ in _where(findings, "FT rule not applied")}
    main = {"overall_response", "complete_remission", "mrd_negative", "os_1y", "os_2y", "os_3y", "sct", "relapse",
            "vod"}
    assert main <= flagged and "os_5y" not in flagged  # 5-year OS has I² = 0: the rule keeps raw proportions


def test_implied_study_counts(numbers, ds):
    implied = {("complete_remission", "newly diagnosed"): 6, ("mrd_negative", "newly diagnosed"): 6,
               ("os_1y", "newly diagnosed"): 3, ("os_2y", "newly diagnosed"): 2, ("os_3y", "newly diagnosed"): 2,
               ("vod", "newly diagnosed"): 7}
    for (outcome, level), k in implied.items():
        assert rp.paper_k(numbers, (outcome, "disease_status", level), ds.definitions).exact == k


def test_printed_k_agrees_with_i2_p_and_with_the_references_cited(findings):
    assert not _where(findings, "I²/p pair")
    k_rows = [f for f in findings if f.check == "k vs cited studies" and "references cited" in f.evidence]
    assert len(k_rows) == 4 and all(f.verdict == "consistent" for f in k_rows)


def test_patient_totals_add_up(findings):
    totals = [f for f in findings if f.check == "patient totals"]
    assert any("492 newly diagnosed + 576 R/R = 1,068" in f.evidence and f.verdict == "consistent" for f in totals)
    assert all(f.verdict == "consistent" for f in totals)


def test_egger_only_with_k_at_least_10(findings):
    egger = [f for f in findings if f.check == "Egger rule"]
    assert len(egger) == 6 and all(f.verdict == "consistent" for f in egger)


def test_best_specification_of_the_main_outcomes(ds, audit):
    best = {e.outcome: e.best_spec for e in rp.best_specifications(ds, audit)}
    for outcome in ("overall_response", "complete_remission", "mrd_negative", "os_1y", "os_2y", "os_3y", "sct",
                    "relapse", "vod"):
        assert best[outcome] == "S1", outcome
    assert best["os_5y"] == "S1 = S2"


# --- the pages ----------------------------------------------------------------------------------------------------


def test_badge_for_an_outcome_without_published_numbers():
    ds = load_dataset(SYNTHETIC)
    assert "prints no pooled number" in outcome_page.reproduction_badge(ds, "relapse")


def test_audit_pages_render_every_part(ds):
    page = audit_page.load(data_dir="data")
    assert f"**{len(ds.published)} pooled numbers**" in page.summary_sentence().data
    for method in ("verdicts_table", "outcome_table", "checks_table", "paper_findings"):
        out = getattr(page, method)().data
        assert "0x" not in out and "<table" in out, method
    methods = methods_page.load(data_dir="data")
    for method in ("specifications_table", "tolerances_table", "rules_table", "explanations_table"):
        out = getattr(methods, method)().data
        assert "0x" not in out and "<table" in out, method
    assert methods.feasibility_methods().data == F.METHODS_TEXT
    budget = methods.budget().data
    assert "129 ND + 128 R/R" in budget  # the patient budget's arithmetic, computed from search.csv and studies.csv
    assert "ND study count across analyses" in methods.cross_check().data
    vod = outcome_audit_page.load("vod", data_dir="data")
    assert 'id="audit-vod-overall"' in vod.numbers().data
