"""The reproduction audit's summary page (``notebooks/reproduction.ipynb``), and what its other pages share.

The audit is three kinds of page: this summary (the words per outcome, with counts), the methods
(:mod:`livingreview.book.reproduction_methods`) and one page per outcome, the adverse events of Table 2 on two
(:mod:`livingreview.book.reproduction_outcome`). The statistics are in :mod:`livingreview.review.audit` and
:mod:`livingreview.review.feasibility`; the word of every printed number comes from the one cached verdict table
(:func:`livingreview.review.audit.verdicts.verdict_table`), which the outcome pages' badges read too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fnmatch import fnmatchcase

import pandas as pd
from IPython.display import HTML, Markdown

from livingreview import format as fmt
from livingreview.book import common
from livingreview.review import audit as rp
from livingreview.review.audit import verdicts as vt
from livingreview.review.feasibility import VERDICTS

#: What the audit and its verdicts read (``livingreview.review.audit.verdicts.READS``; a test checks they agree).
READS = ("studies", "outcomes", "outcome_definitions", "published", "search", "versions")

#: The adverse events of Table 2 share two pages, any grade and grade ≥ 3 (the manifest's parameters, patterns
#: over outcome ids), with their titles; every other outcome has its own page.
TABLE2 = {"ae_*_any": "Adverse events of any grade (Table 2)", "ae_*_g3": "Adverse events of grade ≥ 3 (Table 2)"}

#: What each word means (the audit's three where the data allow a recomputation, the feasibility's four where not).
WORDS = {
    "reproduced": "all the paper's studies are in the dataset, and ours matches the printed value (rounds to it, or "
                  "within the tolerance)",
    "close": f"all its studies are here; estimate or bound within {rp.CLOSE_PP} pp of the printed value, but not "
             "equal after rounding",
    "not reproduced": "all its studies are here, yet no specification gives the printed value",
    "feasible": "studies the paper pooled are missing; a configuration of them within the paper's own totals "
                "reproduces the number (an example is shown)",
    "infeasible": "no configuration of the missing studies reproduces it — ruled out by arithmetic, by enumerating "
                  "every possibility, or not found by the search — or it cannot hold together with the other "
                  "numbers of its analysis",
    "feasible only if": "only if the missing studies had more patients than the paper's totals leave, or more "
                        "studies belonged to a subgroup than its study counts allow",
    "not checkable": "nothing constrains it: an Egger p depends on every missing study",
}
BASIS_WORDS = {"analytic": "arithmetic (proof)", "enumeration": "every possibility enumerated (proof)",
               "search": "search (example verified)", "structure": "study counts", "complete data": "recomputed",
               "": "—"}
SHORT_REASONS = {
    "no-data": "no study in the dataset reports this analysis",
    "missing-studies": "studies the paper pooled are missing",
    "outcome-incomplete": "the level's k is not printed and the outcome misses studies of unknown level",
}


def labels(ds) -> dict:
    return dict(zip(ds.definitions["outcome"], ds.definitions["label"]))


def page_parameter(outcome: str) -> str:
    """The ``outcome`` parameter of the audit page that shows ``outcome`` (its own, or Table 2's)."""
    return next((p for p in TABLE2 if fnmatchcase(outcome, p)), outcome)


def page_outcomes(ds, parameter: str) -> list[str]:
    """The outcomes with printed numbers that the audit page with this parameter shows, in the book's order."""
    order = ds.definitions.sort_values("display_order")["outcome"]
    printed = set(ds.published["outcome"])
    return [o for o in order if o in printed and page_parameter(o) == parameter]


def page_title(ds, parameter: str) -> str:
    return TABLE2[parameter] if parameter in TABLE2 else labels(ds)[parameter]


def audit_pages(ds) -> list[dict]:
    """The per-outcome audit pages in the book's order: parameter, title and the key of their glued counts."""
    params = list(dict.fromkeys(page_parameter(o) for o in ds.definitions.sort_values("display_order")["outcome"]
                                if o in set(ds.published["outcome"])))
    return [{"outcome": p, "label": page_title(ds, p), "key": f"auditpage{i}"} for i, p in enumerate(params, 1)]


def context(ds, params: dict) -> dict:
    return {"audit_pages": audit_pages(ds)}


def word_counts(table: pd.DataFrame, outcomes=None) -> dict:
    """Word → how many printed numbers (of ``outcomes``; all when None) carry it, every word of VERDICTS."""
    rows = table if outcomes is None else table[table["outcome"].isin(list(outcomes))]
    return {w: int((rows["final"] == w).sum()) for w in VERDICTS}


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


def badge_text(ds, outcome: str, table: pd.DataFrame, result: rp.Audit) -> str:
    """One line (Markdown): the paper's pooled estimate beside ours, how far apart and why, and the audit's words —
    the same sentence on the outcome's page and its audit page."""
    numbers = [c for c in result.comparisons if c.number.outcome == outcome]
    if not numbers:
        return "Reproduction: the paper prints no pooled number for this outcome"
    est = next((c for c in numbers if c.number.subgroup == "overall" and c.number.statistic == "estimate"), None)
    counts = word_counts(table, (outcome,))
    tail = f"all {sum(counts.values())} printed numbers: {fmt.counts_text(counts)}"
    if est is None:
        return f"The paper prints no pooled estimate for this outcome ({tail})"
    n = est.number
    k = est.paper_k
    paper_k = k.exact if k.exact is not None else (f"≥ {k.minimum}" if k.minimum else "not printed")
    paper = f"paper {fmt_printed(n)}% (k = {paper_k})"
    ours_value = est.values.get("S1", math.nan)
    if math.isnan(ours_value):
        ours = f"ours: no study with counts (k = {est.our_k})"
    else:
        diff = ours_value - n.value
        ours = (f"ours from its studies with counts, under its apparent model: {fmt.signed(ours_value, 1)}% "
                f"(k = {est.our_k}), {'+' if diff >= 0 else '−'}{abs(diff):.1f} pp")
    word = table.set_index(["outcome", "subgroup", "level", "statistic"]).loc[
        (outcome, "overall", "", "estimate"), "final"]
    why = _why(vt.shortfall(ds, outcome, k.exact, est.our_k))
    return f"Reproduction: {paper}; {ours}{' — ' + why if why else ''}; printed estimate *{word}* ({tail})"


def _why(s: vt.Shortfall) -> str:
    parts = [(s.not_identified, "not identified"), (s.bound, "reported only as a bound"),
             (s.no_figure, "without the figure")]
    listed = ", ".join(f"{n} {what}" for n, what in parts if n)
    if s.missing is None:
        return (f"the paper does not say how many studies it pooled; of its studies, {listed} have no count here"
                if listed else "the paper does not say how many studies it pooled")
    if s.missing == 0:
        return "the same studies as the paper"
    which = f"{fmt.plural(s.missing, 'study', 'studies')} the paper pooled {'has' if s.missing == 1 else 'have'} " \
            "no count here"
    if not listed:
        return which
    return f"{which} ({listed})" if s.candidates == s.missing else f"{which} (among {listed})"


# --- the summary page ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReproductionPage:
    ds: object
    audit: rp.Audit
    table: pd.DataFrame  # the verdict table: one row per printed number, with the audit status and the final word
    findings: tuple
    explanations: tuple

    def summary_sentence(self) -> Markdown:
        c = word_counts(self.table)
        total = sum(c.values())
        v1 = self.ds.studies[self.ds.studies["data_version"] <= rp.REFERENCE_VERSION]
        audit_words = sum(c[w] for w in VERDICTS[:3])
        return Markdown(
            f"The paper prints **{total} pooled numbers** (estimates, CI and PI bounds, I², heterogeneity and Egger "
            f"p values, numbers of studies). Its set of studies (data version {rp.REFERENCE_VERSION}) has "
            f"{len(v1)} studies, {int((v1['identification'] == 'not identified').sum())} of them not identified. "
            + (f"Where every study the paper pooled has counts in the dataset, the number is recomputed: "
               f"{audit_words} numbers, of which {c['reproduced']} reproduced, {c['close']} close and "
               f"{c['not reproduced']} not reproduced. The other {total - audit_words} cannot be recomputed"
               if audit_words else f"None of the {total} can be recomputed")
            + f", because studies the paper pooled are missing; for "
            f"{'them' if audit_words else 'each'} the audit asks whether the number *could* have come "
            f"from the studies the paper describes: **{c['feasible']}** feasible, **{c['infeasible']}** "
            f"infeasible, **{c['feasible only if']}** feasible only if a constraint of the paper is relaxed, and "
            f"{c['not checkable']} not checkable.")

    def verdicts_table(self) -> HTML:
        c = word_counts(self.table)
        total = sum(c.values())
        rows = [{"Word": w, "Numbers": n, "Share": f"{100 * n / total:.0f}%" if total else "—", "Meaning": WORDS[w]}
                for w, n in c.items()]
        rows.append({"Word": "total", "Numbers": total, "Share": "100%", "Meaning": ""})
        return common.html(pd.DataFrame(rows))

    def outcome_table(self) -> HTML:
        """One row per outcome: how many of its printed numbers carry each word, and the specification that best
        explains them."""
        names = labels(self.ds)
        expl = {e.outcome: e.best_spec for e in self.explanations}
        rows = []
        for outcome in self.audit.outcomes():
            c = word_counts(self.table, (outcome,))
            rows.append({"Outcome": names[outcome], "Printed numbers": sum(c.values()),
                         **{w.capitalize(): (n if n else "") for w, n in c.items()},
                         "Best-explaining specification": expl[outcome]})
        total = word_counts(self.table)
        rows.append({"Outcome": "all", "Printed numbers": sum(total.values()),
                     **{w.capitalize(): n for w, n in total.items()}, "Best-explaining specification": ""})
        return common.html(pd.DataFrame(rows))

    def glue_pages(self) -> None:
        """For the list of per-outcome pages: each page's counts, glued as ``auditpage<i>``."""
        common.glue_markdown({p["key"]: fmt.counts_text(word_counts(self.table,
                                                                    page_outcomes(self.ds, p["outcome"])))
                              for p in audit_pages(self.ds)})

    def checks_table(self) -> HTML:
        counts = {}
        for f in self.findings:
            counts.setdefault(f.check, {"inconsistent": 0, "unverifiable": 0, "consistent": 0})[f.verdict] += 1
        return common.html(pd.DataFrame([{"Check": name, "What it tests": what,
                                          "Inconsistent": counts.get(name, {}).get("inconsistent", 0),
                                          "Unverifiable": counts.get(name, {}).get("unverifiable", 0),
                                          "Consistent": counts.get(name, {}).get("consistent", 0)}
                                         for name, what in rp.CHECKS.items()]))

    def paper_findings(self) -> HTML:
        """The findings that belong to no single outcome (the patient totals, the disease-status counts across
        analyses)."""
        rows = [{"Check": f.check, "Where": f.analysis, "Verdict": f.verdict, "Evidence (computed)": f.evidence}
                for f in self.findings if not f.outcome]
        if not rows:
            return HTML("<p>None.</p>")
        inconsistent = sum(r["Verdict"] == "inconsistent" for r in rows)
        return HTML(common.fold(f"{fmt.plural(len(rows), 'check')}, {inconsistent} inconsistent",
                                common.html_table(pd.DataFrame(rows))))

    def inconsistency_count(self) -> int:
        return sum(f.verdict == "inconsistent" for f in self.findings)


def load(data_dir="data") -> ReproductionPage:
    ds = common.dataset(READS, data_dir, "the reproduction audit")
    result = rp.audit(ds)
    return ReproductionPage(ds, result, vt.verdict_table(ds), rp.findings(ds), rp.best_specifications(ds, result))
