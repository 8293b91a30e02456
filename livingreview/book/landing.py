"""The landing page (``notebooks/landing.ipynb``, the book's ``index``): a plain-language summary, the summary of
findings, what the book covers of the paper, and how to cite this version.

Every number comes from the same analysis as the outcome pages (:func:`livingreview.review.certainty
.summary_of_findings`) and from :func:`livingreview.review.paper.coverage`; the citation block is written by the build
from ``CITATION.cff`` (it is the same on every page).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from IPython.display import HTML, Markdown

from livingreview import format as fmt
from livingreview.book import common
from livingreview.book.summary_of_findings import MAIN_KINDS, sof_table
from livingreview.review import paper as printed
from livingreview.review.certainty import Finding, summary_of_findings
from livingreview.review.paper import Coverage, coverage

READS = ("studies", "reports", "outcome_definitions", "versions", "outcomes", "quality", "published", "certainty")
#: The outcomes the plain-language summary speaks of, in its order.
PLAIN = ("overall_response", "mrd_negative", "sct", "relapse", "vod")


def context(ds, params: dict) -> dict:
    return common.spec_context(params)


def _rate(f: Finding) -> str:
    """'86.4% (95% CI 74.5% to 93.3%)' — 'to' rather than a dash, for readers."""
    p = f.analysis.overall.proportion()
    return f"{fmt.pct(p.estimate)} (95% CI {fmt.pct(p.ci_low)} to {fmt.pct(p.ci_high)})"


def plain_language(findings, cov: Coverage, paper: pd.DataFrame) -> str:
    """A few sentences for a reader who is not a statistician; Markdown, every number computed."""
    by = {f.outcome: f for f in findings}
    have = {o: by[o] for o in PLAIN if o in by and by[o].inputs is not None}
    studies = pd.concat([f.analysis.studies[["study_id"]] for f in findings if f.inputs is not None]
                        or [pd.DataFrame({"study_id": []})])["study_id"].unique()
    text = ["**The question.** How often do adults with B-cell acute lymphoblastic leukaemia who are treated with "
            "inotuzumab ozogamicin — alone, or with chemotherapy or blinatumomab — respond, go on to a stem cell "
            "transplant, relapse, or develop veno-occlusive disease, a serious liver complication?"]
    found = [f"**What the studies show.** {len(studies)} studies have results this book can trace to a published "
             f"report."]
    words = {"overall_response": "of treated patients responded (complete remission, with or without full "
                                 "recovery of blood counts)",
             "mrd_negative": "of patients in remission had no measurable residual leukaemia",
             "sct": "of treated patients went on to a stem cell transplant",
             "relapse": "of patients relapsed during follow-up",
             "vod": "of treated patients developed veno-occlusive disease"}
    for outcome, f in have.items():
        found.append(f"About {_rate(f)} {words[outcome]} ({fmt.plural(f.analysis.k, 'study', 'studies')}).")
    text.append(" ".join(found))
    rated = [f for f in findings if f.kind in MAIN_KINDS and f.certainty is not None and f.inputs is not None]
    levels: dict[str, list[str]] = {}
    for f in rated:
        levels.setdefault(f.certainty.label.lower(), []).append(fmt.md(f.label[0].lower() + f.label[1:]))
    if levels:
        sure = "; ".join(f"{level} for {', '.join(names)}" for level, names in levels.items())
        text.append(f"**How sure we can be.** The reviewers rate the certainty of the evidence {sure}. The pooled "
                    f"rates count only patients who received inotuzumab ozogamicin (there is no comparison group in "
                    f"them), the studies differ in who they treated and how, and many are reported only as "
                    f"conference abstracts, so most of these rates could be quite different in another group of "
                    f"patients.")
    response = printed.paper_row(paper, "overall_response")
    if response is not None and "overall_response" in have:
        k = "" if pd.isna(response["k"]) else f" from {int(response['k'])} studies"
        text.append(f"**Compared with the paper.** The paper reported a response rate of "
                    f"{printed.percent(response['estimate'])}{k}; this book finds {_rate(have['overall_response'])} "
                    f"from {fmt.plural(have['overall_response'].analysis.k, 'study', 'studies')}. "
                    f"{cov.identification['not identified']} of the paper's {cov.paper_studies} studies could not be "
                    f"identified from its text, so the two sets of studies differ.")
    return "\n\n".join(text)


def coverage_box(cov: Coverage) -> str:
    """What this book holds of the paper's evidence (HTML)."""
    ident = cov.identification
    audit = cov.audit_counts
    checked = sum(audit.values())
    items = [
        ("Studies identified", f"{ident['identified']} of the paper's {cov.paper_studies} studies identified, "
                               f"{ident['probable']} probably, {ident['not identified']} not identified"
                               + (f"; {fmt.plural(cov.added_studies, 'study', 'studies')} added by updates"
                                  if cov.added_studies else "")),
        ("Study–outcome results", f"{cov.traced_pairs} of the {cov.paper_pairs} the paper pooled for its "
                                  f"{cov.outcomes_with_k} main outcomes traced to a source"),
        ("Numbers reproduced", f"{audit.get('reproduced', 0)} of the paper's {checked} printed pooled numbers "
                               f"reproduced ({fmt.counts_text(audit)})"),
    ]
    body = "".join(f"<dt>{common.esc(k)}</dt><dd>{common.esc(v)}</dd>" for k, v in items)
    return f'<div class="livingreview-coverage"><dl>{body}</dl></div>'


@dataclass(frozen=True)
class LandingPage:
    findings: tuple[Finding, ...]
    coverage: Coverage
    paper: pd.DataFrame
    shown_version: int

    def plain_language(self) -> Markdown:
        return Markdown(plain_language(self.findings, self.coverage, self.paper))

    def summary_table(self) -> HTML:
        main = tuple(f for f in self.findings if f.kind in MAIN_KINDS)
        return HTML(sof_table(main, self.paper, self.shown_version, "landing", folded=True))

    def coverage_box(self) -> HTML:
        return HTML(coverage_box(self.coverage))


def load(data_dir="data", data_version=None, measure=None, method=None, test=None, pi_dist=None) -> LandingPage:
    ds = common.dataset(READS, data_dir, "the landing page")
    findings = summary_of_findings(ds, common.spec_from(measure, method, test, pi_dist), data_version=data_version)
    shown = data_version if data_version is not None else ds.latest_version
    return LandingPage(findings, coverage(ds, data_version), printed.paper_results(ds), shown)
