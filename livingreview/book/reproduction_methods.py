"""How the reproduction audit checks the paper's numbers (``notebooks/reproduction_methods.ipynb``): the
specifications, tolerances and status rules of the recomputation, the feasibility checks where studies are missing
(their methods text, the patient budget and the disease-status check across analyses, each with its arithmetic),
and which specification the printed intervals point to."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from IPython.display import HTML, Markdown

from livingreview import format as fmt
from livingreview.book import common
from livingreview.book.reproduction import READS as AUDIT_READS, labels
from livingreview.review import audit as rp, feasibility as fs

READS = ("studies", "outcomes", "outcome_definitions", "published", "search", "versions")
assert READS == AUDIT_READS  # one list, literal here because the build reads it with ast


@dataclass(frozen=True)
class MethodsPage:
    ds: object
    explanations: tuple
    context: dict | None  # the feasibility's: the patient budget, the check across analyses (None: no totals)

    # the recomputation
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
        table = pd.DataFrame([{"Order": i, "Rule": r.rule, "Applies to": r.applies_to, "Condition": r.condition,
                               "Status": r.status} for i, r in enumerate(rp.STATUS_RULES, start=1)])
        return HTML(common.fold(f"The {len(table)} rules, in order", common.html_table(table)))

    # the feasibility checks
    def feasibility_methods(self) -> Markdown:
        return Markdown(fs.METHODS_TEXT)

    def budget(self) -> Markdown:
        if self.context is None:
            return Markdown(f"Not available: {fs.NO_BUDGET}; every number the audit cannot recompute is *not "
                            f"checkable*.")
        return Markdown(f"The patient budget, from data/search.csv and data/studies.csv: "
                        f"{fmt.md(self.context['budget_text'])}.")

    def cross_check(self) -> Markdown:
        cross = self.context["cross_check"] if self.context is not None else None
        if cross is None:
            return Markdown("Fewer than two newly diagnosed subgroups have a known k: nothing to check across "
                            "analyses.")
        check, _ = cross
        word = "holds" if check.passed else "fails"
        return Markdown(f"**{fmt.md(check.name)}** {word}: {fmt.md(check.arithmetic)}.")

    # which specification
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
            f"(probable typos). Each outcome's audit page lists its intervals.")

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
            f"DerSimonian–Laird's and which a τ²-based REML I² does not satisfy in general — and {len(unique)} fit "
            f"exactly one df, which tells how many studies the subgroup had. Outcome by outcome:")

    def explanations_table(self) -> HTML:
        names = labels(self.ds)
        rows = []
        for e in self.explanations:
            fitting = e.cis - e.typos
            cis = (f"{' & '.join(e.ci_scales) or 'no common scale'} ({fitting} of {e.cis}"
                   f"{'' if e.discriminating == fitting else f', {e.discriminating} discriminating'})"
                   if fitting else "none")
            rows.append({"Outcome": names[e.outcome], "Best-explaining specification": e.best_spec,
                         "CIs symmetric on": cis + (f"; {e.typos} on no scale (typo)" if e.typos else ""),
                         "I²/p pairs fitting a Q-based I²": e.q_based_pairs if not e.q_based_pairs.endswith(" 0")
                         else "—"})
        return HTML(common.fold("Outcome by outcome", common.html_table(pd.DataFrame(rows))))


def load(data_dir="data") -> MethodsPage:
    ds = common.dataset(READS, data_dir, "the audit's methods")
    context = fs.build_problems(ds)[1] if fs.has_patient_budget(ds.search) else None
    return MethodsPage(ds, rp.best_specifications(ds), context)
