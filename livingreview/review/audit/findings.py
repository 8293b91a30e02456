"""The paper's internal inconsistencies: the printed numbers checked against each other and against the dataset,
each check a verdict with its evidence computed."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from livingreview.config import MIN_K_BIAS
from livingreview.format import printed as _pct, signed as _fmt
from livingreview.review.audit.intervals import IntervalCheck, interval_checks
from livingreview.review.audit.published import (
    REFERENCE_VERSION,
    cited_refs,
    published_numbers,
    published_value,
)
from livingreview.review.audit.specifications import FT_RULE_I2, ft_rule_measure


@dataclass(frozen=True)
class Finding:
    """One check of the published numbers against each other or against the dataset."""

    check: str
    outcome: str
    analysis: str
    verdict: str  # "inconsistent", "consistent", "unverifiable"
    evidence: str


CHECKS = {
    "interval outside 0–100%": "a proportion's CI or PI bound below 0% or above 100%: only an untransformed "
                               "(raw-proportion) Wald interval can do that",
    "PI contains estimate": "a prediction interval μ̂ ± t(k−2)·√(SE² + τ²) contains the estimate it is centred on",
    "PI contains CI": "… and the CI, since √(SE² + τ²) ≥ SE and t(k−2) ≥ z",
    "interval scale": "the scales on which a printed interval is symmetric about its estimate, within rounding "
                      "(the apparent model's Wald interval of raw proportions is symmetric on the raw scale)",
    "CI symmetric about estimate": "the apparent model's Wald CI of raw proportions is symmetric about its "
                                   "estimate within printing",
    "PI symmetric about estimate": "… and so is its prediction interval",
    "FT rule not applied": f"I² > {FT_RULE_I2:.0f}% (the paper's rule: Freeman–Tukey) but the CIs are symmetric "
                           "on the raw scale and not on the arcsine (≈ Freeman–Tukey) scale",
    "I²/p pair": "the printed I² (as (Q − df)/Q) and heterogeneity p must fix a common Q on the paper's df = k − 1 "
                 "(or, where k is not printed, on some df: the df they agree on tells the number of studies)",
    "Q floor (I²)": "Q of the studies the dataset has counts for, against the largest Q the printed I² allows: "
                    "adding studies never lowers Q, so a floor above it rules the printed value out",
    "Q floor (heterogeneity p)": "the same floor against the largest Q the printed heterogeneity p allows",
    "CI width vs patients": "the patients a CI this narrow needs (n* = p̂(1 − p̂)/SE², an effective number: "
                            "indicative) against those with counts plus the most the missing studies can hold",
    "k vs cited studies": "the number of references the paper cites for an outcome against its printed k, and "
                          "what the identified reports of the cited studies contain",
    "subgroup k fits": "a subgroup level's k against the outcome's k and the paper's regimen and status counts",
    "ND study count across analyses": "one assignment of disease status to the unidentified studies must give "
                                      "every newly diagnosed subgroup its k (printed or implied by its I²/p pair)",
    "patient totals": "the totals of §3.1 against each other and against studies.csv, and the patients they leave "
                      "for the unidentified studies",
    "Egger rule": f"Egger's test reported only with k ≥ {MIN_K_BIAS} (the paper's rule)",
}
#: Feasibility checks (:func:`livingreview.review.feasibility.consistency_checks`) shown as findings, by name.
COMPUTED = ("PI contains estimate", "PI contains CI", "CI symmetric about estimate", "PI symmetric about estimate",
            "I²/p pair", "Q floor (I²)", "Q floor (heterogeneity p)", "CI width vs patients", "subgroup k fits")
CROSS_CHECK = "ND study count across analyses"


def _analysis_name(subgroup: str, level: str) -> str:
    return "overall" if subgroup == "overall" else level


def interval_findings(numbers) -> list[Finding]:
    out = []
    checks = interval_checks(numbers)
    for c in checks:
        name = _analysis_name(c.subgroup, c.level)
        printed = f"{_pct(c.estimate)} ({_pct(c.low)}–{_pct(c.high)})"
        if c.low < 0 or c.high > 100:
            out.append(Finding("interval outside 0–100%", c.outcome, name, "inconsistent",
                               f"{c.kind} {printed}: bound {'below 0' if c.low < 0 else 'above 100'}%"))
        out.append(Finding("interval scale", c.outcome, name, *_scale_evidence(c, printed, checks)))
    return out


def _scale_evidence(c: IntervalCheck, printed: str, checks) -> tuple[str, str]:
    """Verdict and evidence of the interval-scale check for one printed interval."""
    lopsided = (f"{c.kind} {printed}: {_fmt(c.estimate - c.low, 1)} pp below the estimate, "
                f"{_fmt(c.high - c.estimate, 1)} above")
    if c.kind == "PI":
        if not c.consistent:
            return "inconsistent", (f"{lopsided}; not symmetric about the estimate on the raw, arcsine or logit "
                                    "scale: not a prediction interval centred on this estimate")
        if "raw" not in c.consistent and ci_raw_only(checks, c):
            return "inconsistent", (f"{lopsided}; symmetric on the {' and '.join(c.consistent)} scale only, while "
                                    "the CI is symmetric on the raw scale only: PI and CI come from different models")
        return "consistent", f"{lopsided}; symmetric on: {', '.join(c.consistent)}"
    expected = "; ".join(f"{s} {_fmt(v, 1)}" for s, v in c.predicted.items() if not math.isnan(v))
    whole = " (all three whole numbers: read as whole percents)" if c.units[0] == 1 else ""
    if not c.consistent:
        return "inconsistent", (f"{lopsided}{whole}; a CI of this width symmetric on each scale would give: "
                                f"{expected}; symmetric on no scale — probable typo")
    return "consistent", (f"{lopsided}{whole}; symmetric on each scale would give: {expected}; consistent with: "
                          f"{', '.join(c.consistent)}")


def ci_raw_only(checks, pi: IntervalCheck) -> bool:
    ci = next((x for x in checks if x.kind == "CI" and (x.outcome, x.subgroup, x.level)
               == (pi.outcome, pi.subgroup, pi.level)), None)
    return ci is not None and ci.consistent == ("raw",)


def ft_rule_findings(numbers) -> list[Finding]:
    out = []
    checks = interval_checks(numbers)
    for outcome in dict.fromkeys(n.outcome for n in numbers):
        if ft_rule_measure(numbers, outcome) != "PFT":
            continue
        cis = [c for c in checks if c.outcome == outcome and c.kind == "CI"]
        against = [c for c in cis if "raw" in c.consistent and "arcsine" not in c.consistent]
        i2 = published_value(numbers, (outcome, "overall", ""), "i2").value
        if against:
            out.append(Finding("FT rule not applied", outcome, "overall", "inconsistent",
                               f"I² = {_fmt(i2)}% > {FT_RULE_I2:.0f}%, yet {len(against)} of the outcome's {len(cis)} "
                               f"CI(s) are symmetric on the raw scale and not on the Freeman–Tukey scale"))
    return out


def cited_findings(dataset, numbers) -> list[Finding]:
    out = []
    studies = dataset.studies[dataset.studies["data_version"] <= REFERENCE_VERSION]
    by_ref = {int(r): s for r, s in zip(studies["ref_no"], studies["study_id"]) if pd.notna(r)}
    ident = studies.set_index("study_id")
    rows = dataset.outcomes.set_index(["study_id", "outcome"])
    for n in numbers:
        if n.statistic != "k":
            continue
        refs = cited_refs(n.printed)
        if not refs:
            continue
        ok = len(refs) == int(n.value)
        out.append(Finding("k vs cited studies", n.outcome, "overall", "consistent" if ok else "inconsistent",
                           f"“{n.printed}”: {len(refs)} references cited for k = {int(n.value)}"))
        for ref in refs:
            sid = by_ref.get(ref)
            if sid is None:
                continue
            status = ident.loc[sid, "identification"]
            if status == "not identified":
                continue
            key = (sid, n.outcome)
            if key in rows.index and rows.loc[key, "derivation"] == "missing":
                note = str(rows.loc[key, "note"])
                out.append(Finding("k vs cited studies", n.outcome, "overall", "unverifiable",
                                   f"ref {ref} ({ident.loc[sid, 'label']}, {status}) is cited, but its identified "
                                   f"report does not give the figure: {note.split(';')[0].rstrip('.')}"))
    return out


def patient_findings(dataset) -> list[Finding]:
    s = dataset.search[dataset.search["data_version"] == REFERENCE_VERSION].set_index("stage")["count"]
    get = lambda name: int(s[name]) if name in s.index and pd.notna(s[name]) else None  # noqa: E731
    studies = dataset.studies[dataset.studies["data_version"] <= REFERENCE_VERSION]
    out = []
    total, nd, rr = get("patients"), get("patients_newly_diagnosed"), get("patients_relapsed_refractory")
    if None not in (total, nd, rr):
        out.append(Finding("patient totals", "", "§3.1", "consistent" if nd + rr == total else "inconsistent",
                           f"{nd} newly diagnosed + {rr} R/R = {nd + rr:,} against {total:,} patients printed"))
    k = get("studies_included")
    parts = [get(x) for x in ("studies_rct", "studies_single_arm", "studies_registered_trial")]
    if k is not None and None not in parts:
        out.append(Finding("patient totals", "", "§3.1", "consistent" if sum(parts) == k else "inconsistent",
                           f"{parts[0]} RCT + {parts[1]} single-arm + {parts[2]} registered trial = {sum(parts)} "
                           f"against {k} studies printed; studies.csv holds {len(studies)} version-1 studies"))
    full, abstract = get("studies_single_arm_full_text"), get("studies_single_arm_abstract")
    if None not in (full, abstract, parts[1]):
        ok = full + abstract == parts[1]
        out.append(Finding("patient totals", "", "§3.1", "consistent" if ok else "inconsistent",
                           f"{full} full papers + {abstract} abstracts = {full + abstract} against "
                           f"{parts[1]} single-arm studies"))
    from livingreview.review.feasibility import has_patient_budget, patient_budget

    if not has_patient_budget(dataset.search):
        return out
    budget, text = patient_budget(dataset.search, dataset.studies)
    ok = budget.newly_diagnosed >= 0 and budget.relapsed_refractory >= 0
    out.append(Finding("patient totals", "", "§3.1 vs studies.csv", "consistent" if ok else "inconsistent", text))
    return out


def egger_findings(numbers) -> list[Finding]:
    out = []
    for n in numbers:
        if n.statistic != "egger_p":
            continue
        k = published_value(numbers, n.analysis, "k")
        if k is None:
            continue
        ok = k.value >= MIN_K_BIAS  # the paper's rule is the Cochrane Handbook's, the book's own
        out.append(Finding("Egger rule", n.outcome, "overall", "consistent" if ok else "inconsistent",
                           f"Egger p = {n.value:.3f} reported with k = {int(k.value)}"
                           + ("" if ok else f" < {MIN_K_BIAS}")))
    return out


def computed_findings(dataset) -> list[Finding]:
    """The feasibility module's checks that need no missing data (:data:`COMPUTED`), one finding per analysis and
    check, with its arithmetic; the disease-status check across analyses once."""
    from livingreview.review.feasibility import build_problems, consistency_checks, has_patient_budget

    if not has_patient_budget(dataset.search):
        return []
    problems, context = build_problems(dataset)
    out = []
    for p in problems:
        for c in consistency_checks(p):
            if c.name in COMPUTED:
                out.append(Finding(c.name, p.outcome, _analysis_name(p.subgroup, p.level),
                                   "consistent" if c.passed else "inconsistent", c.arithmetic))
    cross = context["cross_check"]
    if cross is not None:
        check, involved = cross
        where = ", ".join(f"{o} ({level})" for o, _, level in sorted(involved)) or "newly diagnosed subgroups"
        out.append(Finding(CROSS_CHECK, "", where, "consistent" if check.passed else "inconsistent",
                           check.arithmetic))
    return out


def findings(dataset) -> tuple[Finding, ...]:
    """Every check of :data:`CHECKS`, on the real published numbers and the dataset."""
    numbers = published_numbers(dataset)
    out = (interval_findings(numbers) + ft_rule_findings(numbers) + computed_findings(dataset)
           + cited_findings(dataset, numbers) + patient_findings(dataset) + egger_findings(numbers))
    order = {o: i for i, o in enumerate(dataset.definitions.sort_values("display_order")["outcome"])}
    checks = list(CHECKS)
    return tuple(sorted(out, key=lambda f: (checks.index(f.check), order.get(f.outcome, -1))))
