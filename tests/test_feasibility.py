"""Feasibility of the paper's printed numbers (livingreview.review.feasibility).

Constructed examples with known answers (a printed value reproduced by a chosen missing study, one outside the
attainable range, one feasible only beyond the patient budget, the I²/p pair of a known dataset), the checks that
need no missing data on the paper's own numbers, and the verdicts on the paper's numbers, pinned in
tests/pins/feasibility_verdicts.csv. After a deliberate change, regenerate the pins with

    python -m livingreview.review.feasibility --write-pins

and review the diff of the CSV before committing it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from livingreview.config import DATA_DIR
from livingreview.dataset import load_dataset
from livingreview.engine import escalc, rma
from livingreview.review import feasibility as F

ND, RR = F.ND, F.RR


# --- helpers -----------------------------------------------------------------------------------------------------


def printed(events, totals, statistics=("estimate", "ci_low", "ci_high", "i2", "het_p")) -> tuple[F.Target, ...]:
    """What a paper would print for these studies under the apparent model: percentages and I² to 0.1, p to
    0.001 (or "<0.001")."""
    values = dict(F.engine_values(events, totals))
    out = []
    for s in statistics:
        if s == "het_p":
            p = values[s]
            out.append(F.Target(s, 0.001, "<", 0.001) if p < 0.001 else F.Target(s, round(p, 3), "=", 0.001))
        else:
            out.append(F.Target(s, round(values[s], 1)))
    return tuple(out)


def reproduces(example: F.Example, targets) -> bool:
    """Recompute the example's full study set with the engine and compare every target at its rounding."""
    return F._verified(example, targets)


def unidentified(n: int, status: str = ND) -> tuple[F.Slot, ...]:
    return tuple(F.Slot(f"unidentified study {i + 1}", None, (status,)) for i in range(n))


def problem(known, targets, slots, budget, relaxed=("budget",), k=None) -> F.AnalysisProblem:
    k = len(known) + len(slots) if k is None else k
    paper = (F.Scenario(slots, "test scenario"),)
    return F.AnalysisProblem("test", "overall", "", tuple(known), tuple(targets), F.KInfo(k, k, "constructed"),
                             paper, tuple(F.Scenario(slots, "test scenario", r) for r in relaxed), budget, k, k)


KNOWN = (F.StudyCounts("study a", 30, 50), F.StudyCounts("study b", 45, 60))


# --- the apparent model matches the engine ---------------------------------------------------------------------


def test_batch_pooling_matches_the_engine():
    rng = np.random.default_rng(3)
    for k in (1, 2, 5):
        n = rng.integers(5, 200, size=k).astype(float)
        x = np.floor(rng.uniform(0, 1, size=k) * (n + 1)).clip(0, n)
        x[0] = 0  # a study with no events gets the continuity correction in both
        y, v = F.pr_effects(x, n)
        engine = dict(F.engine_values(x, n))
        # all studies in the batch, or the first ones fixed ("known") and the rest in the batch: the same pool
        for split in {0, k // 2, k - 1}:
            ours = F.dl_batch(y[None, split:], v[None, split:], y[:split], v[:split])[0]
            for i, s in enumerate(("estimate", "ci_low", "ci_high", "pi_low", "pi_high", "q")):
                if k < 3 and s.startswith("pi"):
                    assert math.isnan(ours[i])
                else:
                    assert ours[i] == pytest.approx(engine[s], abs=1e-9), (k, split, s)


# --- constructed examples with known answers ------------------------------------------------------------------


def test_a_printed_value_made_by_one_missing_study_is_found_exhaustively():
    targets = printed([30, 45, 40], [50, 60, 80])  # the missing study is 40/80
    prob = problem(KNOWN, targets, unidentified(1), F.Budget(100, 100, 1))
    result = F.judge_analysis(prob)
    assert result.joint.status == "feasible"
    assert {v.status for _, v in result.verdicts} == {"feasible"}
    example = result.joint.example
    assert example.k == 3 and example.whole
    assert reproduces(example, targets)
    assert result.verdict("estimate").basis == "enumeration"
    assert example.studies[0].total <= 100


def test_printed_values_made_by_two_missing_studies_are_found_by_search():
    targets = printed([30, 45, 40, 12], [50, 60, 80, 40])
    prob = problem(KNOWN, targets, unidentified(2), F.Budget(200, 200, 2))
    result = F.judge_analysis(prob)
    assert result.joint.status == "feasible"
    assert result.joint.basis == "search"
    assert reproduces(result.joint.example, targets)
    assert sum(s.total for s in result.joint.example.studies) <= 200


def test_an_estimate_outside_the_attainable_range_is_infeasible():
    known = (F.StudyCounts("a", 10, 100), F.StudyCounts("b", 12, 100), F.StudyCounts("c", 8, 100))
    slot = (F.Slot("ref 99 (a small identified study)", 10),)
    prob = problem(known, (F.Target("estimate", 60.0),), slot, F.Budget(100, 100, 0))
    result = F.judge_analysis(prob)
    v = result.verdict("estimate")
    assert v.status == "infeasible"
    assert v.basis == "enumeration"  # one missing study: every size and count was tried
    assert "no configuration" in v.reason
    low, high = result.range("estimate")
    assert high < 60.0 and low < high
    assert "attainable under the paper's constraints" in v.arithmetic


def test_a_printed_value_beyond_the_patient_budget_is_feasible_only_if():
    known = (F.StudyCounts("a", 20, 100),)
    targets = printed([20, 150], [100, 300])  # the missing study had 300 patients; the budget leaves 100
    prob = problem(known, targets, unidentified(1), F.Budget(100, 100, 1))
    result = F.judge_analysis(prob)
    assert result.joint.status == "feasible only if"
    assert "more patients than the budget leaves" in result.joint.reason
    assert result.joint.example.studies[0].total > 100
    assert reproduces(result.joint.example, targets)
    assert "need about" in result.joint.arithmetic
    # the budget-free search was needed: under the paper's constraints alone there is no configuration
    assert not F.search(known, prob.scenarios, targets, prob.budget, True).found


def test_q_floor_rules_out_a_homogeneous_printed_pool_analytically():
    known = (F.StudyCounts("a", 10, 100), F.StudyCounts("b", 50, 100))  # Q ≈ 42 already
    targets = (F.Target("i2", 0.0), F.Target("het_p", 0.900, "=", 0.001))
    prob = problem(known, targets, unidentified(1), F.Budget(100, 100, 1))
    result = F.judge_analysis(prob)
    for s in ("i2", "het_p"):
        v = result.verdict(s)
        assert v.status == "infeasible" and v.basis == "analytic"
        assert "Q floor" in v.reason
    assert not any(c.passed for c in result.checks if c.name.startswith("Q floor"))


def test_i2_and_p_of_a_known_dataset_fix_the_same_q_in_both_directions():
    events, totals = [12, 18, 9, 25, 14], [40, 60, 50, 90, 33]  # Q ≈ 6.37 on 4 df: I² 37.2%, p 0.173
    res = rma(escalc("PR", events, totals), method="DL", test="z")
    df = len(events) - 1
    # Q → I² and p
    assert 100 * (res.q - df) / res.q == pytest.approx(res.i2_q, abs=1e-9)
    assert stats.chi2.sf(res.q, df) == pytest.approx(res.q_p, rel=1e-9)
    # printed I² and p → Q: both windows contain the true Q, and the pair is consistent on df = k − 1
    i2 = F.Target("i2", round(res.i2_q, 1))
    p = F.Target("het_p", round(res.q_p, 3), "=", 0.001)
    for t in (i2, p):
        lo, hi = F.q_interval(t, df)
        assert lo <= res.q <= hi
    assert F.check_i2_p(i2, p, [df]).passed
    assert F.implied_dfs(i2, p) == (df,)  # the pair alone tells the number of studies
    # the same pair read on any other df does not fit
    for wrong in (1, 2, 3, 5, 6):
        assert not F.check_i2_p(i2, p, [wrong]).passed


def test_a_study_reported_only_as_a_bound_keeps_its_bound():
    """A missing identified study whose report says "at least 30 of 60": the printed pool needs it near 10%,
    which the bound forbids; without the bound the same pool is found."""
    known = (F.StudyCounts("a", 10, 100), F.StudyCounts("b", 12, 100))
    targets = printed([10, 12, 6], [100, 100, 60])
    free = F.Slot("ref 98 (a study)", 60)
    bounded = F.Slot("ref 98 (a study, reported ≥ 30/60)", 60, p_range=(0.5, 1.0))
    found = F.judge_analysis(problem(known, targets, (free,), F.Budget(0, 0, 0), relaxed=()))
    assert found.joint.status == "feasible" and reproduces(found.joint.example, targets)
    ruled_out = F.judge_analysis(problem(known, targets, (bounded,), F.Budget(0, 0, 0), relaxed=()))
    assert ruled_out.joint.status == "infeasible"
    assert ruled_out.verdict("estimate").basis == "enumeration"


def test_the_dataset_s_bounds_reach_the_slots_and_the_examples(dataset):
    bounds = F.reported_bounds(dataset.outcomes, "vod")
    rows = dataset.outcomes[(dataset.outcomes["outcome"] == "vod") & (dataset.outcomes["bound"] == "lower")]
    assert set(bounds) == set(rows["study_id"]) and bounds
    probs, _ = F.build_problems(dataset)
    vod = next(p for p in probs if p.name == "vod")
    slots = [s for sc in vod.scenarios for s in sc.slots if s.p_range != (0.0, 1.0)]
    assert slots and all("reported ≥" in s.label for s in slots)
    result = F.judge_analysis(vod, ranges=False)
    lows = {s.label: s.p_range[0] for s in slots}
    for study in result.joint.example.studies:
        if study.label in lows:
            assert study.events / study.total >= lows[study.label] - 1e-12, study


def test_budget_split_by_disease_status_is_respected():
    # two unidentified studies that must hold 200 patients together fit only as one ND + one R/R
    slots = tuple(F.Slot(f"unidentified study {i}", None, F.STATUSES) for i in (1, 2))
    budget = F.Budget(110, 110, 2)
    targets = printed([20, 55, 45], [100, 100, 100], ("estimate", "ci_low", "ci_high"))
    res = F.search((F.StudyCounts("a", 20, 100),), (F.Scenario(slots, "two"),), targets, budget, True)
    assert res.found
    sizes = [s.total for s in res.example.studies]
    statuses = res.example.statuses
    assert sorted(statuses) == [ND, RR] or sum(sizes) <= 110
    for status in (ND, RR):
        assert sum(n for n, s in zip(sizes, statuses) if s == status) <= 110


# --- checks that need no missing data, on the paper's numbers ----------------------------------------------------


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(DATA_DIR)


@pytest.fixture(scope="module")
def problems(dataset):
    probs, context = F.build_problems(dataset)
    return {p.name: p for p in probs}, context


def test_patient_budget_left_for_the_unidentified_studies(dataset):
    budget, text = F.patient_budget(dataset.search, dataset.studies)
    assert (budget.newly_diagnosed, budget.relapsed_refractory, budget.unidentified) == (129, 128, 7)
    assert "363 ND + 448 R/R" in text
    # refs 23, 25, 28, 31 hold the two unidentified monotherapy (R/R) studies: at most 2 of them ND
    assert budget.nd_limit("other") == 2


def test_ci_symmetry_check():
    t = F.Target
    assert not F.check_ci_symmetry(t("estimate", 45.8), t("ci_low", 22.7), t("ci_high", 66.8)).passed
    assert F.check_ci_symmetry(t("estimate", 1.7), t("ci_low", -0.02, unit=0.01), t("ci_high", 3.3)).passed
    # whole percents: 2 (1–5) has its midpoint in [2.5, 3.5), the estimate in [1.5, 2.5)
    whole = F.printing_units(2.0, 1.0, 5.0)
    assert whole == (1.0, 1.0, 1.0)
    assert not F.check_ci_symmetry(t("estimate", 2.0, unit=1), t("ci_low", 1.0, unit=1),
                                   t("ci_high", 5.0, unit=1)).passed
    assert F.check_ci_symmetry(t("estimate", 2.0, unit=1), t("ci_low", 1.0, unit=1),
                               t("ci_high", 4.0, unit=1)).passed


def test_prediction_interval_checks_on_the_paper(problems):
    probs, _ = problems
    vod = {c.name: c for c in F.consistency_checks(probs["vod"])}
    assert not vod["PI contains estimate"].passed  # 6.2 outside 6.6–54.5
    cr = {c.name: c for c in F.consistency_checks(probs["complete_remission"])}
    assert cr["PI contains estimate"].passed and not cr["PI contains CI"].passed  # 76.9 < 82.5
    for name in ("overall_response", "mrd_negative", "sct", "relapse"):
        checks = {c.name: c for c in F.consistency_checks(probs[name])}
        assert not checks["PI symmetric about estimate"].passed, name


def test_ci_width_of_the_five_year_pool(problems):
    probs, _ = problems
    p = probs["os_5y"]
    t = {x.statistic: x for x in p.targets}
    n_star = F.implied_n(t["estimate"], t["ci_low"], t["ci_high"])
    assert 285 < n_star < 300  # ≈ 298 at the printed values, ≥ 293 within printing
    check = next(c for c in F.consistency_checks(p) if c.name == "CI width vs patients")
    assert check.passed and not check.definitive  # 83 (Jen) + at most 252 for Marconi and Nasnas
    assert "83 with counts + at most 252" in check.arithmetic
    # with only the newly diagnosed budget (129) the same interval would need more than is available
    fails = F.check_ci_width(t["estimate"], t["ci_low"], t["ci_high"], p.known, 129, "two ND studies")
    assert not fails.passed


def test_subgroup_q_floor_on_the_paper(problems):
    probs, _ = problems
    checks = {c.name: c for c in F.consistency_checks(probs["mrd_negative / newly diagnosed"])}
    # refs 22, 27, 29, 32 alone give Q ≈ 21.5 > 15.8 allowed by I² 68.3% on 5 df
    assert not checks["Q floor (I²)"].passed and not checks["Q floor (heterogeneity p)"].passed
    assert "21.5" in checks["Q floor (I²)"].arithmetic


def test_nd_study_counts_across_analyses(problems):
    _, context = problems
    check, involved = context["cross_check"]
    assert not check.passed
    assert ("vod", "disease_status", ND) in involved
    assert ("os_1y", "disease_status", ND) in involved and ("os_3y", "disease_status", ND) in involved
    assert "os_1y ND + os_3y ND + vod ND" in check.arithmetic


# --- the verdict vocabulary ---------------------------------------------------------------------------------------


def test_final_word_prefers_the_audit_where_it_could_judge():
    assert F.final_word("reproduced", "infeasible") == "reproduced"
    assert F.final_word("close", "feasible") == "close"
    assert F.final_word("not reproduced", "feasible") == "not reproduced"
    assert F.final_word("not reproducible", "feasible only if") == "feasible only if"
    assert F.final_word(None, "not checkable") == "not checkable"
    with pytest.raises(ValueError):
        F.final_word("not reproducible", "reproduced")
    assert F.VERDICTS == ("reproduced", "close", "not reproduced", "feasible", "infeasible", "feasible only if",
                          "not checkable")


# --- the paper's numbers, pinned ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def table(dataset):
    return F.feasibility_table(dataset)


def test_one_row_per_printed_number(table, dataset):
    assert len(table) == len(dataset.published)
    assert list(table.columns[:4]) == ["outcome", "subgroup", "level", "statistic"]
    assert set(table["verdict"]) <= set(F.FEASIBILITY_VERDICTS)
    assert (table["reason"].str.len() > 0).all()
    feasible = table[table["verdict"] == "feasible"]
    assert (feasible["example"].str.len() > 0).sum() == (feasible["statistic"] != "k").sum()


def test_verdicts_match_the_pins(table):
    pinned = pd.read_csv(F.PIN, dtype=str, keep_default_na=False)
    ours = F.pin_frame(table).astype(str).reset_index(drop=True)
    assert list(pinned.columns) == F.PIN_COLUMNS
    merged = ours.merge(pinned, on=["outcome", "subgroup", "level", "statistic"], how="outer",
                        suffixes=("", "_pinned"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
    changed = merged[(merged["verdict"] != merged["verdict_pinned"]) | (merged["joint"] != merged["joint_pinned"])
                     | (merged["basis"] != merged["basis_pinned"])
                     | (merged["checks_failed"] != merged["checks_failed_pinned"])]
    assert changed.empty, ("verdicts changed (regenerate with `python -m livingreview.review.feasibility "
                           "--write-pins` if on purpose):\n" + changed.to_string())


def test_examples_on_the_paper_reproduce_their_numbers(dataset):
    """Every example behind a feasible verdict of two analyses recomputes to the printed numbers."""
    probs, _ = F.build_problems(dataset)
    for name in ("os_5y", "vod / InO + chemotherapy"):
        p = next(x for x in probs if x.name == name)
        result = F.judge_analysis(p, ranges=False)
        assert result.joint.status == "feasible", name
        joint_targets = [t for t in p.targets if t.statistic in F.JOINT_STATISTICS]
        assert reproduces(result.joint.example, joint_targets), name


def test_known_findings_on_the_paper(table):
    v = table.set_index(["outcome", "subgroup", "level", "statistic"])["verdict"]
    # asymmetric Table 2 CIs cannot come from a Wald interval
    for outcome in ("ae_thrombocytopenia_any", "ae_vomiting_any", "ae_hyperbilirubinemia_any", "ae_fatigue_g3"):
        assert v[(outcome, "overall", "", "ci_low")] == "infeasible", outcome
    # every printed prediction interval is inconsistent with the model behind the CIs
    assert set(table.loc[table["statistic"].isin(["pi_low", "pi_high"]), "verdict"]) == {"infeasible"}
    # MRD−, newly diagnosed: the four identified ND studies already exceed the printed Q
    assert v[("mrd_negative", "disease_status", ND, "i2")] == "infeasible"
    # the overall OR pool needs more patients than the budget leaves
    assert v[("overall_response", "overall", "", "ci_low")] == "feasible only if"
    assert v[("overall_response", "overall", "", "egger_p")] == "not checkable"


def test_final_verdicts_and_counts(table):
    audit = table[["outcome", "subgroup", "level", "statistic"]].copy()
    audit["status"] = "not reproducible"
    audit.loc[audit.index[0], "status"] = "close"
    final = F.final_verdicts(table, audit)
    assert final["final"].iloc[0] == "close"
    assert (final["final"].iloc[1:] == final["verdict"].iloc[1:]).all()
    counts = F.verdict_counts(final)
    assert list(counts.columns) == list(F.VERDICTS)
    assert counts.loc["all"].sum() == len(table)
    assert counts.loc["all", "close"] == 1
    per = final.groupby("outcome").size()
    for outcome, n in per.items():
        assert counts.loc[outcome].sum() == n
    # a mapping works as well as a frame
    mapping = {("os_5y", "overall", "", "estimate"): "reproduced"}
    assert F.final_verdicts(table, mapping).set_index(["outcome", "statistic"]).loc[
        ("os_5y", "estimate"), "final"] == "reproduced"


def test_parallel_and_serial_runs_agree(dataset):
    a = F.feasibility_table(dataset, analyses=["os_2y", "vod"], jobs=1)
    b = F.feasibility_table(dataset, analyses=["os_2y", "vod"], jobs=2)
    pd.testing.assert_frame_equal(a, b)
    assert not math.isnan(a.loc[a["statistic"] == "estimate", "range_low"].iloc[0])


def test_the_cached_verdict_table_is_this_fresh_computation(table, dataset):
    """What the pages show (the cached table, possibly computed by an earlier build) equals a computation now."""
    from livingreview.review.audit import audit, verdicts
    fresh = F.final_verdicts(table, audit(dataset).frame())
    pd.testing.assert_frame_equal(verdicts.verdict_table(dataset).reset_index(drop=True),
                                  fresh.reset_index(drop=True))
