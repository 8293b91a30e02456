"""The paper's internal inconsistencies: the printed numbers checked against each other and against the dataset,
each check a verdict with its evidence computed."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pandas as pd

from livingreview.config import MIN_K_BIAS, SUBGROUP_LEVELS
from livingreview.format import printed as _pct, signed as _fmt
from livingreview.review.audit.intervals import IntervalCheck, interval_checks
from livingreview.review.audit.published import (
    MAX_IMPLIED_DF,
    REFERENCE_VERSION,
    implied_df,
    p_text,
    paper_k,
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
    "PI excludes its estimate": "a prediction interval must contain the pooled estimate it is centred on",
    "PI not wider than CI": "a prediction interval on the same scale and centre is wider than the CI at both ends",
    "interval scale": "the scales on which a printed interval is symmetric about its estimate, within rounding",
    "FT rule not applied": f"I² > {FT_RULE_I2:.0f}% (the paper's rule: Freeman–Tukey) but the CIs are symmetric "
                           "on the raw scale and not on the arcsine (≈ Freeman–Tukey) scale",
    "I²/p implies df": "the df = k − 1 for which the printed I² (as (Q − df)/Q) and heterogeneity p agree",
    "k vs cited studies": "the number of references the paper cites for an outcome against its printed k, and "
                          "what the identified reports of the cited studies contain",
    "subgroup arithmetic": "studies of known disease status among those cited, against the subgroup k implied by "
                           "the I²/p pair",
    "traced heterogeneity": "Q of the studies the dataset traces for an analysis against the largest Q the printed "
                            "heterogeneity p allows on the paper's df: adding studies can only raise Q, so a traced "
                            "subset already above it rules the printed pair out (raw proportions and Freeman–Tukey)",
    "patient totals": "the totals of §3.1 against each other and against studies.csv",
    "Egger rule": f"Egger's test reported only with k ≥ {MIN_K_BIAS} (the paper's rule)",
}


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
        if c.kind == "PI":
            if not c.low <= c.estimate <= c.high:
                out.append(Finding("PI excludes its estimate", c.outcome, name, "inconsistent",
                                   f"estimate {_fmt(c.estimate)}% outside its PI {_fmt(c.low)}–{_fmt(c.high)}%"))
            ci = next((x for x in checks if x.kind == "CI" and (x.outcome, x.subgroup, x.level)
                       == (c.outcome, c.subgroup, c.level)), None)
            if ci is not None and (c.low >= ci.low or c.high <= ci.high):
                end = "lower" if c.low >= ci.low else "upper"
                out.append(Finding("PI not wider than CI", c.outcome, name, "inconsistent",
                                   f"PI {_fmt(c.low)}–{_fmt(c.high)}% vs CI {_fmt(ci.low)}–{_fmt(ci.high)}%: "
                                   f"the PI's "
                                   f"{end} bound is not outside the CI's"))
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


def df_findings(numbers, definitions) -> list[Finding]:
    out = []
    for analysis in dict.fromkeys(n.analysis for n in numbers):
        i2 = published_value(numbers, analysis, "i2")
        p = published_value(numbers, analysis, "het_p")
        if i2 is None or p is None:
            continue
        dfs = implied_df(i2.value, p.value, p.comparator)
        pk = paper_k(numbers, analysis, definitions)
        printed_k = published_value(numbers, analysis, "k")
        listed = _df_list(dfs)
        name = _analysis_name(analysis[1], analysis[2])
        base = f"I² = {_fmt(i2.value)}%, {p_text(p)}: consistent with df ∈ {listed}"
        if printed_k is not None:
            ok = int(printed_k.value) - 1 in dfs
            out.append(Finding("I²/p implies df", analysis[0], name, "consistent" if ok else "inconsistent",
                               f"{base}; printed k = {int(printed_k.value)} → df = {int(printed_k.value) - 1} "
                               f"{'fits' if ok else 'does not fit'}"))
        elif not dfs:
            out.append(Finding("I²/p implies df", analysis[0], name, "inconsistent",
                               f"I² = {_fmt(i2.value)}% and {p_text(p)} fit no df ≤ {MAX_IMPLIED_DF}"))
        else:
            extra = f" → k = {pk.exact} studies" if pk.exact else f" → k ≥ {pk.minimum}"
            out.append(Finding("I²/p implies df", analysis[0], name, "consistent", base + extra))
    return out


def _df_list(dfs) -> str:
    if not dfs:
        return "{}"
    runs, start = [], dfs[0]
    for a, b in zip(dfs, dfs[1:] + (None,)):
        if b != a + 1:
            runs.append(f"{start}" if start == a else f"{start}–{a if a < MAX_IMPLIED_DF else '…'}")
            start = b
    return "{" + ", ".join(runs) + "}"


def cited_refs(printed: str) -> tuple[int, ...]:
    """Reference numbers in a printed fragment such as 'eight included studies (19–21, 23–25, 27, 28)'."""
    m = re.search(r"\(([\d\s,–-]+)\)", printed)
    if not m:
        return ()
    refs = []
    for part in m.group(1).split(","):
        part = part.strip()
        if not part:
            continue
        bounds = re.split(r"[–-]", part)
        if len(bounds) == 2:
            refs.extend(range(int(bounds[0]), int(bounds[1]) + 1))
        else:
            refs.append(int(part))
    return tuple(refs)


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


def subgroup_arithmetic(dataset, numbers) -> list[Finding]:
    """For outcomes whose cited references are listed: the cited studies of known disease status against the
    number of newly diagnosed studies the I²/p pair implies."""
    out = []
    studies = dataset.studies[dataset.studies["data_version"] <= REFERENCE_VERSION]
    status_of = {int(r): d for r, d in zip(studies["ref_no"], studies["disease_status"]) if pd.notna(r)}
    for n in numbers:
        if n.statistic != "k" or not cited_refs(n.printed):
            continue
        refs = cited_refs(n.printed)
        for level in SUBGROUP_LEVELS["disease_status"]:
            pk = paper_k(numbers, (n.outcome, "disease_status", level), dataset.definitions)
            if pk.exact is None:
                continue
            known = [r for r in refs if status_of.get(r) == level]
            other = [r for r in refs if isinstance(status_of.get(r), str) and status_of.get(r) != level]
            unknown = [r for r in refs if not isinstance(status_of.get(r), str)]
            ok = len(known) <= pk.exact <= len(known) + len(unknown)
            need = pk.exact - len(known)
            out.append(Finding(
                "subgroup arithmetic", n.outcome, level, "consistent" if ok else "inconsistent",
                f"I²/p implies {pk.exact} {level} studies; cited refs of known status: {level} "
                f"{_refs(known)}, other {_refs(other)}; unknown {_refs(unknown)}"
                + (f" → {need} of the unknown must be {level}" if ok and need > 0 and unknown else "")))
    return out


def _refs(refs) -> str:
    return "[" + ", ".join(str(r) for r in refs) + "]" if refs else "none"


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
    if total is not None:
        known = studies[studies["n_treated"].notna()]
        n_known = int(known["n_treated"].sum())
        rest = len(studies) - len(known)
        verdict = "consistent" if n_known <= total else "inconsistent"
        text = (f"the {len(known)} studies with n_treated in studies.csv treated {n_known:,}; "
                f"{total - n_known:,} patients are left for the other {rest} studies"
                + (f" ({(total - n_known) / rest:.0f} each on average)" if rest else ""))
        for level, printed in (("newly diagnosed", nd), ("relapsed/refractory", rr)):
            if printed is None:
                continue
            sub = known[known["disease_status"] == level]
            n_sub = int(sub["n_treated"].sum())
            text += f"; {level}: {n_sub:,} of {printed:,} in {len(sub)} known studies"
            if n_sub > printed:
                verdict = "inconsistent"
        out.append(Finding("patient totals", "", "§3.1 vs studies.csv", verdict, text))
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


def traced_heterogeneity(dataset, numbers) -> list[Finding]:
    """For every printed heterogeneity p with a known number of studies: the Q of the studies of data version 1 that
    the dataset can trace for that analysis, against the largest Q the printed p allows on the paper's df (Q of a
    superset of studies is never smaller than Q of a subset, whatever the model's τ²)."""
    from scipy import stats

    from livingreview.engine.effects import escalc
    from livingreview.engine.model import rma
    from livingreview.review.outcomes import OTHER_POPULATION, analyse_outcome

    out = []
    for analysis in dict.fromkeys(n.analysis for n in numbers):
        outcome, subgroup, level = analysis
        p = published_value(numbers, analysis, "het_p")
        k = paper_k(numbers, analysis, dataset.definitions)
        overall = paper_k(numbers, (outcome, "overall", ""), dataset.definitions)
        df = k.exact - 1 if k.exact else (overall.exact - 1 if overall.exact else None)  # unknown k: the loosest df
        if p is None or p.comparator != "=" or not df:
            continue
        rows = analyse_outcome(dataset, outcome, data_version=REFERENCE_VERSION).studies
        if subgroup != "overall":
            rows = rows[rows[subgroup] == level]
        if len(rows) < 2:
            continue
        q_max = float(stats.chi2.isf(max(p.value - 0.0005, 1e-12), df))
        qs = {m: rma(escalc(m, rows["events"].to_numpy(), rows["total"].to_numpy()), method="FE").q
              for m in ("PR", "PFT")}
        above = all(q > q_max for q in qs.values())
        labels = ", ".join(f"{lab.removesuffix(' ' + OTHER_POPULATION)} ({e}/{n})"
                           for lab, e, n in zip(rows["display_label"], rows["events"], rows["total"]))
        out.append(Finding("traced heterogeneity", outcome, _analysis_name(subgroup, level),
                           "inconsistent" if above else "consistent",
                           f"printed {p_text(p)} on {df} df{'' if k.exact else ' (at most: k not known)'} allows "
                           f"Q ≤ {_fmt(q_max, 2)}; the {len(rows)} traced "
                           f"studies ({labels}) give Q = {_fmt(qs['PR'], 2)} (raw) / {_fmt(qs['PFT'], 2)} "
                           f"(Freeman–Tukey) on {len(rows) - 1} df"
))
    return out


def findings(dataset) -> tuple[Finding, ...]:
    """Every check of :data:`CHECKS`, on the real published numbers and the dataset."""
    numbers = published_numbers(dataset)
    out = (interval_findings(numbers) + ft_rule_findings(numbers) + df_findings(numbers, dataset.definitions)
           + cited_findings(dataset, numbers) + subgroup_arithmetic(dataset, numbers)
           + traced_heterogeneity(dataset, numbers) + patient_findings(dataset)
           + egger_findings(numbers))
    order = {o: i for i, o in enumerate(dataset.definitions.sort_values("display_order")["outcome"])}
    checks = list(CHECKS)
    return tuple(sorted(out, key=lambda f: (checks.index(f.check), order.get(f.outcome, -1))))
