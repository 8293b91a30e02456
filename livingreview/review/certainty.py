"""Certainty of the evidence (GRADE) for each pooled outcome: the reviewers' judgements and the numbers behind them.

The judgements are data — ``data/certainty.csv``, one row per outcome × domain × data version, written by the
reviewers — because rating certainty is a judgement, not a computation. What this module computes are the
*inputs* a reader needs to check each judgement, from the same analysis the outcome pages show:

* **risk of bias** — the quality scores (MINORS for single-arm studies, modified Jadad for the RCT; the paper's
  Table 1) of the pooled studies, their bands, the studies without a score and the patients from conference
  abstracts or registry records;
* **inconsistency** — τ (logit scale), I² and the width of the 95% prediction interval, not I² alone;
* **indirectness** — the pooled rows that count another denominator than the outcome states, and the mix of
  regimens and disease states;
* **imprecision** — the width of the 95% confidence interval against the stated thresholds below, and the patients;
* **publication bias** — Egger's test only where k ≥ ``MIN_K_BIAS`` (below that, no test is informative).

For event rates from cohort (single-arm) evidence, GRADE starts at **high** certainty and rates down (Iorio et al.,
BMJ 2015;350:h870; Foroutan et al., J Clin Epidemiol 2020, GRADE guidelines 28): each domain rated *serious* takes
one level off, *very serious* two, down to *very low*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from livingreview import format as fmt
from livingreview.config import MEASURE_LABELS, MIN_K_BIAS, PRIMARY, Spec
from livingreview.review.outcomes import OutcomeAnalysis, analyse_outcome

DOMAINS = ("risk of bias", "inconsistency", "indirectness", "imprecision", "publication bias")
#: Levels rated down per rating.
DOWNGRADE = {"not serious": 0, "serious": 1, "very serious": 2}
#: Evidence on event rates from cohorts starts at high certainty (Iorio 2015).
START = 4
LEVELS = {4: "High", 3: "Moderate", 2: "Low", 1: "Very low"}
SYMBOLS = {4: "⊕⊕⊕⊕", 3: "⊕⊕⊕◯", 2: "⊕⊕◯◯", 1: "⊕◯◯◯"}
#: Imprecision: a 95% CI wider than this (percentage points) is serious; wider than the second, very serious.
CI_SERIOUS_PP, CI_VERY_SERIOUS_PP = 20.0, 40.0
#: Inconsistency: a 95% PI wider than this (percentage points) is serious; wider than the second, very serious.
PI_SERIOUS_PP, PI_VERY_SERIOUS_PP = 30.0, 60.0
#: Report types whose figures a reader cannot check against a full methods section.
SHORT_REPORTS = ("conference abstract", "registry record", "product information", "news summary")


@dataclass(frozen=True)
class CertaintyInputs:
    """The numbers behind each GRADE domain of one outcome (proportions on the 0–1 scale)."""

    outcome: str
    k: int
    patients: int
    estimate: float
    ci_low: float
    ci_high: float
    pi_low: float  # NaN when the prediction interval is not estimable (k < 3)
    pi_high: float
    tau: float  # on the analysis scale (logit in the primary analysis)
    scale: str  # that scale, in words
    i2: float
    bands: dict  # quality band → pooled studies in it
    unscored: tuple[str, ...]  # pooled studies without a quality score
    short_report_patients: int  # patients counted from abstracts, registry records, product information
    other_population: tuple[str, ...]  # pooled rows counting another denominator
    regimens: tuple[str, ...]
    disease_statuses: tuple[str, ...]
    egger_p: float | None  # None when k < MIN_K_BIAS

    @property
    def ci_width_pp(self) -> float:
        return 100 * (self.ci_high - self.ci_low)

    @property
    def pi_width_pp(self) -> float:
        return 100 * (self.pi_high - self.pi_low)

    def describe(self) -> dict[str, str]:
        """Each domain's inputs in words (plain text: data labels are not Markdown-escaped here)."""
        bands = ", ".join(f"{n} {band}" for band, n in self.bands.items() if n) or "none"
        scored = sum(self.bands.values())
        rob = f"quality scores of {scored} of {fmt.plural(self.k, 'study', 'studies')}: {bands}"
        if self.unscored:
            rob += f"; not scored: {'; '.join(self.unscored)}"
        rob += (f"; {self.short_report_patients:,} of {self.patients:,} patients from abstracts, registry records or "
                f"product information")
        if self.k < 2:
            inconsistency = "one study: heterogeneity not estimable"
        else:
            pi = (f"95% PI {fmt.interval(self.pi_low, self.pi_high)} ({self.pi_width_pp:.1f} pp wide)"
                  if np.isfinite(self.pi_low) else "95% PI not estimable (k < 3)")
            inconsistency = (f"τ = {self.tau:.2f} ({self.scale} scale), {fmt.i2_text(self.i2)}; {pi}; serious above "
                             f"{PI_SERIOUS_PP:.0f} pp, very serious above {PI_VERY_SERIOUS_PP:.0f} pp")
        indirect = (f"{len(self.other_population)} of {self.k} rows count another denominator; regimens: "
                    f"{'; '.join(self.regimens) or 'unknown'}; disease status: "
                    f"{'; '.join(self.disease_statuses) or 'unknown'}")
        imprecision = (f"95% CI {fmt.interval(self.ci_low, self.ci_high)} ({self.ci_width_pp:.1f} pp wide; serious "
                       f"above {CI_SERIOUS_PP:.0f} pp, very serious above {CI_VERY_SERIOUS_PP:.0f} pp); "
                       f"{self.patients:,} patients")
        bias = (f"k = {self.k} ≥ {MIN_K_BIAS}: Egger's test {fmt.p_value(self.egger_p)}" if self.egger_p is not None
                else f"k = {self.k} < {MIN_K_BIAS}: no test is informative")
        return dict(zip(DOMAINS, (rob, inconsistency, indirect, imprecision, bias)))


def certainty_inputs(dataset, analysis: OutcomeAnalysis) -> CertaintyInputs | None:
    """The inputs of every domain for a pooled outcome (None when nothing is pooled). Reads studies, reports,
    quality and the analysis' rows."""
    from livingreview.engine.bias import egger_test

    res = analysis.overall
    if res is None:
        return None
    studies = analysis.studies
    p = res.proportion()
    totals = dataset.quality_totals().drop_duplicates("study_id").set_index("study_id")
    scored = studies[studies["study_id"].isin(totals.index)]
    scored_bands = totals.loc[scored["study_id"], "quality"]
    bands = {band: int((scored_bands == band).sum()) for band in ("high", "moderate", "low")}
    reports = dataset.reports
    types = reports.set_index("report_id")["report_type"]
    row_types = studies["report_id"].map(types)
    egger = None
    if analysis.k >= MIN_K_BIAS:
        egger = float(egger_test(res, min_k=MIN_K_BIAS).pval)
    known = lambda column: tuple(v for v in dict.fromkeys(studies[column]) if isinstance(v, str) and v)  # noqa: E731
    return CertaintyInputs(
        outcome=analysis.outcome, k=analysis.k, patients=int(studies["total"].sum()), estimate=p.estimate,
        ci_low=p.ci_low, ci_high=p.ci_high, pi_low=_finite(p.pi_low), pi_high=_finite(p.pi_high),
        tau=float(np.sqrt(res.tau2)), scale=MEASURE_LABELS[analysis.spec.measure], i2=float(res.i2), bands=bands,
        unscored=tuple(studies.loc[~studies["study_id"].isin(totals.index), "display_label"]),
        short_report_patients=int(studies.loc[row_types.isin(SHORT_REPORTS).to_numpy(), "total"].sum()),
        other_population=tuple(studies.loc[studies["other_population"], "display_label"]),
        regimens=known("regimen"), disease_statuses=known("disease_status"), egger_p=egger)


def _finite(x) -> float:
    return float(x) if x is not None and np.isfinite(x) else float("nan")


@dataclass(frozen=True)
class Judgement:
    domain: str
    rating: str
    reason: str


@dataclass(frozen=True)
class Certainty:
    """The reviewers' certainty for one outcome: the judgements of the latest data version judged (≤ the version
    shown), and the level they give."""

    outcome: str
    judged_version: int
    judgements: tuple[Judgement, ...]

    @property
    def level(self) -> int:
        return max(1, START - sum(DOWNGRADE[j.rating] for j in self.judgements))

    @property
    def label(self) -> str:
        return LEVELS[self.level]

    @property
    def symbols(self) -> str:
        return SYMBOLS[self.level]

    def rated_down(self) -> tuple[Judgement, ...]:
        return tuple(j for j in self.judgements if DOWNGRADE[j.rating])


def certainty(dataset, outcome: str, data_version: int | None = None) -> Certainty | None:
    """The judgements of ``outcome`` made for the latest data version ≤ ``data_version`` (all versions when None);
    None when the reviewers have not rated it."""
    rows = dataset.certainty[dataset.certainty["outcome"] == outcome]
    if data_version is not None:
        rows = rows[rows["data_version"] <= data_version]
    if rows.empty:
        return None
    version = int(rows["data_version"].max())
    rows = rows[rows["data_version"] == version].set_index("domain")
    return Certainty(outcome, version, tuple(Judgement(d, rows.loc[d, "rating"], rows.loc[d, "reason"])
                                             for d in DOMAINS if d in rows.index))


@dataclass(frozen=True)
class Finding:
    """One row of the summary of findings: our pooled result, the paper's printed one, and the certainty."""

    outcome: str
    label: str
    kind: str
    analysis: OutcomeAnalysis
    inputs: CertaintyInputs | None
    certainty: Certainty | None


def summary_of_findings(dataset, spec: Spec = PRIMARY, data_version: int | None = None,
                        kinds: tuple[str, ...] | None = None) -> tuple[Finding, ...]:
    """Every outcome (of ``kinds``; all when None) in display order, with its analysis, inputs and certainty."""
    defs = dataset.definitions.sort_values("display_order")
    if kinds is not None:
        defs = defs[defs["kind"].isin(kinds)]
    shown = data_version if data_version is not None else dataset.latest_version
    out = []
    for outcome, label, kind in zip(defs["outcome"], defs["label"], defs["kind"]):
        analysis = analyse_outcome(dataset, outcome, spec, data_version=data_version)
        out.append(Finding(outcome, label, kind, analysis, certainty_inputs(dataset, analysis),
                           certainty(dataset, outcome, shown)))
    return tuple(out)


def certainty_changes(dataset, old_version: int, new_version: int) -> list[tuple[str, str | None, str | None]]:
    """Outcomes whose certainty level differs between two data versions (``(outcome, old, new)`` labels; None: not
    rated) — what a "What's new" page says when a version changes a rating."""
    out = []
    for outcome in dataset.definitions.sort_values("display_order")["outcome"]:
        old, new = certainty(dataset, outcome, old_version), certainty(dataset, outcome, new_version)
        labels = (old.label if old else None, new.label if new else None)
        if labels[0] != labels[1]:
            out.append((outcome, *labels))
    return out


def judgement_frame(findings) -> pd.DataFrame:
    """One row per pooled outcome × domain: the inputs in words, the rating and the reason (what the certainty
    table of the summary-of-findings page shows)."""
    rows = []
    for f in findings:
        if f.inputs is None:
            continue
        described = f.inputs.describe()
        judged = {j.domain: j for j in f.certainty.judgements} if f.certainty else {}
        for domain in DOMAINS:
            j = judged.get(domain)
            rows.append({"outcome": f.outcome, "label": f.label, "domain": domain, "inputs": described[domain],
                         "rating": j.rating if j else "not rated", "reason": j.reason if j else "",
                         "judged_version": f.certainty.judged_version if f.certainty else pd.NA})
    return pd.DataFrame(rows, columns=["outcome", "label", "domain", "inputs", "rating", "reason", "judged_version"])


__all__ = ["CI_SERIOUS_PP", "CI_VERY_SERIOUS_PP", "DOMAINS", "DOWNGRADE", "LEVELS", "PI_SERIOUS_PP",
           "PI_VERY_SERIOUS_PP", "START", "SYMBOLS", "Certainty", "CertaintyInputs", "Finding", "Judgement",
           "certainty", "certainty_changes", "certainty_inputs", "judgement_frame", "summary_of_findings"]
