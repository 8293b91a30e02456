"""The reproduction audit (``notebooks/reproduction.ipynb``): every number the paper prints, recomputed and judged.

The statistics are in :mod:`livingreview.review.audit`; this module rounds them for reading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from IPython.display import HTML, Markdown

from livingreview import format as fmt
from livingreview.book import common
from livingreview.book.common import esc as _esc, raw_table
from livingreview.review import audit as rp

READS = ("studies", "outcomes", "outcome_definitions", "published", "search", "versions")


def _labels(ds) -> dict:
    return dict(zip(ds.definitions["outcome"], ds.definitions["label"]))


def _analysis(subgroup: str, level: str) -> str:
    return common.subgroup_name(subgroup, level)


STATUS_WORDS = {
    "reproduced": "ours matches the printed value (rounds to it, or within the tolerance)",
    "close": f"estimate or bound within {rp.CLOSE_PP} pp of the printed value, but not equal after rounding",
    "not reproduced": "the studies are all there, yet no specification gives the printed value",
    "not reproducible": "cannot be checked with the data available: studies the paper pooled are missing from "
                        "the dataset, or no study reports the analysis",
}
SHORT_REASONS = {
    "no-data": "no study in the dataset reports this analysis",
    "missing-studies": "studies the paper pooled are missing",
    "outcome-incomplete": "the level's k is not printed and the outcome misses studies of unknown level",
}


def fmt_value(statistic: str, x: float, comparator: str = "=") -> str:
    """A recomputed (or printed) value the way the paper prints that statistic."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if statistic == "k":
        return str(int(round(x)))
    if statistic in ("het_p", "egger_p"):
        if comparator == "<":
            return f"<{x:.3f}"
        return "<0.001" if x < 0.001 else f"{x:.3f}"
    return fmt.signed(x, 1)


def fmt_printed(n: rp.PublishedNumber) -> str:
    if n.statistic in ("het_p", "egger_p"):
        return fmt_value(n.statistic, n.value, n.comparator)
    if n.statistic == "k":
        return str(int(n.value))
    return fmt.signed(n.value, n.decimals)


def _difference(c: rp.Comparison) -> str:
    """'+0.3 (S1)': our closest value minus the printed one, with the specification it came from."""
    n = c.number
    if not c.best_spec or n.comparator != "=" or math.isnan(c.difference):
        return "—"
    digits = 3 if n.statistic in ("het_p", "egger_p") else 0 if n.statistic == "k" else 1
    text = fmt.signed(abs(c.difference), digits)
    sign = "" if text.strip("0.") == "" else ("+" if c.difference > 0 else "−")
    return f"{sign}{text} ({c.best_spec})"


def _paper_k(k: rp.PaperK) -> str:
    if k.exact is not None:
        return str(k.exact) if k.source.startswith(("printed", "outcome_definitions")) else \
            f"{k.exact} (implied by its I² and p)"
    return f"≥ {k.minimum} (from its I² and p)" if k.minimum else "not printed"


# --- the reproduction audit --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReproductionPage:
    ds: object
    audit: rp.Audit
    findings: tuple
    explanations: tuple

    # summary
    def summary_sentence(self) -> Markdown:
        c = self.audit.counts()
        total = sum(c.values())
        v1 = self.ds.studies[self.ds.studies["data_version"] <= rp.REFERENCE_VERSION]
        rules = pd.Series([x.rule for x in self.audit.comparisons if x.status == "not reproducible"]).value_counts()
        why = "; ".join(f"{int(rules[r])}: {SHORT_REASONS[r]}" for r in SHORT_REASONS if r in rules.index)
        return Markdown(
            f"The paper prints **{total} pooled numbers** (estimates, CI and PI bounds, I², heterogeneity and Egger "
            f"p values, numbers of studies). Recomputed from the paper's set of studies (data version "
            f"{rp.REFERENCE_VERSION}: {len(v1)} studies, "
            f"{int((v1['identification'] == 'not identified').sum())} of them not yet identified), "
            f"**{c['reproduced']}** are reproduced, **{c['close']}** close, **{c['not reproduced']}** not "
            f"reproduced and **{c['not reproducible']}** not reproducible with the data available"
            + (f" ({why})." if why else "."))

    def df_sentence(self) -> Markdown:
        numbers = rp.published_numbers(self.ds)
        pairs = [(a, i, p) for a in dict.fromkeys(n.analysis for n in numbers)
                 for i, p in [(rp.published_value(numbers, a, "i2"), rp.published_value(numbers, a, "het_p"))]
                 if i is not None and p is not None]
        exact = [(a, i, p) for a, i, p in pairs if p.comparator == "="]
        fits = [x for x in exact if rp.implied_df(x[1].value, x[2].value)]
        unique = [x for x in exact if len(rp.implied_df(x[1].value, x[2].value)) == 1]
        return Markdown(
            f"The heterogeneity statistics agree. The paper prints {len(pairs)} I²/p pairs, {len(exact)} of them with "
            f"an exact p; {len(fits)} of those fit I² = (Q − df)/Q at an integer df — the Q-based I², which is "
            f"DerSimonian–Laird's and which a τ²-based REML I² does not satisfy in general — and {len(unique)} "
            f"fit "
            f"exactly one df, which tells how many studies the subgroup had (listed under "
            f"[checks that hold](#checks-that-hold)). Outcome by outcome:")

    def summary_table(self) -> HTML:
        c = self.audit.counts()
        total = sum(c.values())
        rows = [{"Status": s, "Numbers": n, "Share": f"{100 * n / total:.0f}%" if total else "—",
                 "Meaning": STATUS_WORDS[s]} for s, n in c.items()]
        rows.append({"Status": "total", "Numbers": total, "Share": "100%", "Meaning": ""})
        return common.html(pd.DataFrame(rows))

    def outcome_table(self) -> HTML:
        labels = _labels(self.ds)
        expl = {e.outcome: e for e in self.explanations}
        rows = []
        for outcome in self.audit.outcomes():
            c = self.audit.counts(outcome)
            rows.append([f'<a href="#audit-{_esc(outcome)}">{_esc(labels[outcome])}</a>', str(sum(c.values())),
                         _esc(fmt.counts_text(c)), _esc(expl[outcome].best_spec)])
        return HTML(raw_table(["Outcome", "Printed numbers", "Status", "Best-explaining specification"], rows))

    # methods
    def specifications_table(self) -> HTML:
        return common.html(pd.DataFrame([{"Key": s.key, "Name": s.name, "Specification": s.description}
                                  for s in rp.SPECIFICATIONS]))

    def tolerances_table(self) -> HTML:
        rows = [
            {"Statistic": "estimates, CI and PI bounds", "Reproduced": "ours rounds to the printed value "
             "(at its printed decimals, at least 0.1 pp)", "Close": f"within {rp.CLOSE_PP} pp"},
            {"Statistic": "I²", "Reproduced": f"within {rp.I2_TOLERANCE} points", "Close": "—"},
            {"Statistic": "p printed to three decimals", "Reproduced": f"within {rp.P_TOLERANCE}", "Close": "—"},
            {"Statistic": "p printed as p<0.001", "Reproduced": "ours < 0.001 (checked as an inequality)",
             "Close": "—"},
            {"Statistic": "k", "Reproduced": "equal", "Close": "—"},
        ]
        return common.html(pd.DataFrame(rows))

    def rules_table(self) -> HTML:
        return common.html(pd.DataFrame([{"Order": i, "Rule": r.rule, "Applies to": r.applies_to,
                                   "Condition": r.condition, "Status": r.status}
                                  for i, r in enumerate(rp.STATUS_RULES, start=1)]))

    # which specification
    def explanations_table(self) -> HTML:
        labels = _labels(self.ds)
        rows = []
        for e in self.explanations:
            fitting = e.cis - e.typos
            cis = (f"{' & '.join(e.ci_scales) or 'no common scale'} ({fitting} of {e.cis}"
                   f"{'' if e.discriminating == fitting else f', {e.discriminating} discriminating'})"
                   if fitting else "none")
            rows.append({"Outcome": labels[e.outcome], "Best-explaining specification": e.best_spec,
                         "CIs symmetric on": cis + (f"; {e.typos} on no scale (typo)" if e.typos else ""),
                         "I²/p pairs fitting a Q-based I²": e.q_based_pairs if not e.q_based_pairs.endswith(" 0")
                         else "—"})
        return common.html(pd.DataFrame(rows))

    def interval_table(self) -> HTML:
        """Every printed interval, how lopsided it is, and what a symmetric interval on each scale would give."""
        labels = _labels(self.ds)
        rows = []
        for c in rp.interval_checks(rp.published_numbers(self.ds)):
            rows.append({
                "Outcome": labels[c.outcome], "Analysis": "overall" if c.subgroup == "overall" else c.level,
                "Interval": f"{c.kind} {fmt.printed(c.estimate)} ({fmt.printed(c.low)}–{fmt.printed(c.high)})",
                "Lopsided (pp)": fmt.signed(c.asymmetry, 1),
                "If arcsine": "—" if c.kind == "PI" or not 0 < c.low < c.high < 100 else
                fmt.signed(c.predicted["arcsine"], 1),
                "If logit": "—" if c.kind == "PI" or not 0 < c.low < c.high < 100 else fmt.signed(c.predicted["logit"], 1),
                "Symmetric on": ", ".join(c.consistent) or "none",
            })
        return common.html(pd.DataFrame(rows))

    def scale_sentence(self) -> Markdown:
        checks = [c for c in rp.interval_checks(rp.published_numbers(self.ds)) if c.kind == "CI"]
        raw_only = [c for c in checks if c.consistent == ("raw",)]
        any_raw = [c for c in checks if "raw" in c.consistent]
        none = [c for c in checks if not c.consistent]
        inside = [c for c in raw_only if 0 < c.low and c.high < 100]
        pred = sorted(abs(c.predicted["arcsine"]) for c in inside)
        pred_logit = sorted(abs(c.predicted["logit"]) for c in inside)
        span = (f" For the {len(inside)} of those inside 0–100%, an interval of the same width symmetric on the "
                f"Freeman–Tukey (≈ arcsine) scale would be lopsided by {pred[0]:.1f}–{pred[-1]:.1f} pp (median "
                f"{pd.Series(pred).median():.1f}), on the logit scale by {pred_logit[0]:.1f}–{pred_logit[-1]:.1f} pp "
                f"(median {pd.Series(pred_logit).median():.1f}); the printed ones are lopsided by at most "
                f"{max(abs(c.asymmetry) for c in inside):.1f} pp, which is rounding."
                if inside else "")
        return Markdown(
            f"Of the {len(checks)} confidence intervals the paper prints, {len(any_raw)} are symmetric about their "
            f"estimate within rounding — what a Wald interval of untransformed proportions gives — and "
            f"{len(raw_only)} of them *only* on that scale.{span} {len(none)} are symmetric on no scale at all "
            f"(probable typos).")

    # inconsistencies
    def findings_table(self, verdict: str = "inconsistent", checks=None) -> HTML:
        labels = _labels(self.ds)
        rows = []
        for f in self.findings:
            if f.verdict != verdict or (checks is not None and f.check not in checks):
                continue
            if verdict == "consistent" and f.check == "interval scale":
                continue  # shown, with every other interval, in the interval table above
            where = labels.get(f.outcome, "")
            where = f"{where} ({f.analysis})" if where else f.analysis
            rows.append({"Check": f.check, "Where": where, "Evidence (computed)": f.evidence})
        if not rows:
            return HTML("<p>None.</p>")
        return common.html(pd.DataFrame(rows))

    def checks_table(self) -> HTML:
        counts = {}
        for f in self.findings:
            counts.setdefault(f.check, {"inconsistent": 0, "unverifiable": 0, "consistent": 0})[f.verdict] += 1
        return common.html(pd.DataFrame([{"Check": name, "What it tests": what,
                                   "Inconsistent": counts.get(name, {}).get("inconsistent", 0),
                                   "Unverifiable": counts.get(name, {}).get("unverifiable", 0),
                                   "Consistent": counts.get(name, {}).get("consistent", 0)}
                                  for name, what in rp.CHECKS.items()]))

    def inconsistency_count(self) -> int:
        return sum(f.verdict == "inconsistent" for f in self.findings)

    # every number
    def numbers_tables(self) -> HTML:
        """One table per outcome, each under a heading with the id ``audit-<outcome>`` that the outcome pages'
        badges link to; one group row per analysis (overall, each subgroup level) with its k and status reason."""
        labels = _labels(self.ds)
        columns = ["Statistic", "Paper", *rp.SPEC_KEYS, "Closest − paper", "Status"]
        parts = []
        for outcome in self.audit.outcomes():
            rows, current = [], None
            for c in (c for c in self.audit.comparisons if c.number.outcome == outcome):
                n = c.number
                if n.analysis != current:
                    current = n.analysis
                    group = [x for x in self.audit.comparisons if x.number.analysis == current]
                    head = (f"{_esc(_analysis(n.subgroup, n.level))} — studies: paper {_esc(_paper_k(c.paper_k))}, "
                            f"dataset {c.our_k}")
                    if all(x.status == "not reproducible" for x in group):
                        head += f" — {_esc(SHORT_REASONS.get(c.rule, c.rule))}"
                    rows.append(("group", head))
                rows.append([_esc(rp.STATISTIC_LABELS[n.statistic]), _esc(fmt_printed(n)),
                             *[_esc(fmt_value(n.statistic, c.values[k])) for k in rp.SPEC_KEYS],
                             _esc(_difference(c)), _esc(c.status)])
            counts = fmt.counts_text(self.audit.counts(outcome))
            parts.append(f'<p id="audit-{_esc(outcome)}" style="margin-top: 1.5em;"><strong>'
                         f'{_esc(labels[outcome])}</strong> — {_esc(counts)}</p>' + raw_table(columns, rows))
        return HTML("\n".join(parts))


def load(data_dir="data") -> ReproductionPage:
    ds = common.dataset(READS, data_dir, "the reproduction audit")
    result = rp.audit(ds)
    return ReproductionPage(ds, result, rp.findings(ds), rp.best_specifications(ds, result))
