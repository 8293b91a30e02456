"""Summary of findings (``notebooks/summary_of_findings.ipynb``): per outcome, our pooled proportion with its CI and
PI, the paper's printed value with its k, and the certainty of the evidence (GRADE) with a footnote per domain
rated down; then every judgement beside the numbers it rests on (:mod:`livingreview.review.certainty`).

The landing page shows the same table (:func:`sof_table`), from the same analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown

from livingreview import format as fmt
from livingreview.book import common
from livingreview.review import paper as printed
from livingreview.review.certainty import (
    CI_SERIOUS_PP,
    CI_VERY_SERIOUS_PP,
    DOMAINS,
    LEVELS,
    PI_SERIOUS_PP,
    PI_VERY_SERIOUS_PP,
    SYMBOLS,
    Finding,
    judgement_frame,
    summary_of_findings,
)

READS = ("studies", "reports", "outcome_definitions", "versions", "outcomes", "quality", "published", "certainty")
#: The outcomes of the main table; adverse events (Table 2) have a table of their own.
MAIN_KINDS = ("efficacy", "survival", "transplant", "relapse", "safety")
SOF_COLUMNS = ["Outcome", "Studies (patients)", "Pooled proportion (95% CI)", "95% prediction interval",
               f"{printed.PAPER}, as printed (k)", "Certainty of the evidence (GRADE)"]


def context(ds, params: dict) -> dict:
    """The analysis and the thresholds the template states (from the module that applies them)."""
    return {**common.spec_context(params), "ci_serious": f"{CI_SERIOUS_PP:.0f}",
            "ci_very_serious": f"{CI_VERY_SERIOUS_PP:.0f}", "pi_serious": f"{PI_SERIOUS_PP:.0f}",
            "pi_very_serious": f"{PI_VERY_SERIOUS_PP:.0f}"}


def ours(f: Finding) -> tuple[str, str, str]:
    """Studies (patients), pooled proportion (95% CI) and PI of one finding, as the outcome page shows them."""
    res = f.analysis.overall
    if res is None:
        return "0", "no study with counts", "—"
    p = res.proportion()
    pi = fmt.interval(p.pi_low, p.pi_high) if np.isfinite(p.pi_low) else f"not estimable (k = {res.k})"
    return (f"{res.k} ({int(f.analysis.studies['total'].sum()):,})",
            f"{fmt.pct(p.estimate)} ({fmt.interval(p.ci_low, p.ci_high)})", pi)


def theirs(paper: pd.DataFrame, outcome: str) -> str:
    row = printed.paper_row(paper, outcome)
    if row is None or pd.isna(row["estimate"]):
        return "not printed"
    ci = printed.interval(row["ci_low"], row["ci_high"], missing="")
    k = "k not printed" if pd.isna(row["k"]) else f"k = {int(row['k'])}"
    return f"{printed.percent(row['estimate'])}{f' ({ci})' if ci else ''}; {k}"


def sof_rows(findings, paper: pd.DataFrame, shown_version: int, prefix: str = "sof") -> tuple[list, list]:
    """The table's rows (HTML cells) and its footnotes (HTML), numbered in order; footnote ids are
    ``{prefix}-note-N``."""
    rows, notes = [], []
    for f in findings:
        studies, estimate, pi = ours(f)
        c = f.certainty
        if f.inputs is None:
            grade = "—"
        elif c is None:
            grade = "not rated"
        else:
            marks = []
            for j in c.rated_down():
                notes.append(f"{common.esc(f.label)}, {j.domain} ({j.rating}): {common.esc(j.reason)}")
                n = len(notes)
                marks.append(f'<a href="#{prefix}-note-{n}">{n}</a>')
            if c.judged_version < shown_version:
                notes.append(f"{common.esc(f.label)}: judged for data version {c.judged_version}; not yet "
                             f"judged again for version {shown_version}.")
                marks.append(f'<a href="#{prefix}-note-{len(notes)}">{len(notes)}</a>')
            grade = (f'<span class="livingreview-grade" title="{c.label}">{c.symbols}</span> {c.label}'
                     + (f"<sup>{','.join(marks)}</sup>" if marks else ""))
        rows.append([common.esc(f.label), studies, common.esc(estimate), common.esc(pi),
                     common.esc(theirs(paper, f.outcome)), grade])
    return rows, notes


def sof_table(findings, paper: pd.DataFrame, shown_version: int, prefix: str = "sof", folded: bool = False) -> str:
    """The summary-of-findings table with its numbered footnotes (HTML); ``folded``: the footnotes behind a
    disclosure (the landing page), which the browser opens when a footnote mark is followed."""
    rows, notes = sof_rows(findings, paper, shown_version, prefix)
    listed = "".join(f'<li id="{prefix}-note-{i}">{note}</li>' for i, note in enumerate(notes, start=1))
    legend = " · ".join(f"{SYMBOLS[level]} {LEVELS[level]}" for level in sorted(LEVELS, reverse=True))
    notes_html = f'<ol class="livingreview-footnotes">{listed}</ol>' if listed else ""
    if notes_html and folded:
        notes_html = (f"<details><summary>Footnotes: why each certainty was rated down ({len(notes)})</summary>"
                      f"{notes_html}</details>")
    return (common.raw_table(SOF_COLUMNS, rows) + f'<p class="livingreview-legend">Certainty: {legend}. '
            f"Footnotes: the domains rated down, with the reviewers' reasons.</p>" + notes_html)


@dataclass(frozen=True)
class SummaryPage:
    findings: tuple[Finding, ...]
    paper: pd.DataFrame
    shown_version: int

    def main(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.kind in MAIN_KINDS)

    def adverse(self) -> tuple[Finding, ...]:
        """The adverse events with at least one study with counts."""
        return tuple(f for f in self.findings if f.kind == "adverse_event" and f.inputs is not None)

    def sentence(self) -> Markdown:
        rated = [f for f in self.findings if f.certainty is not None and f.inputs is not None]
        levels = pd.Series([f.certainty.label for f in rated]).value_counts()
        counts = ", ".join(f"{levels[lv]} {lv.lower()}" for lv in LEVELS.values() if lv in levels)
        pooled = sum(f.inputs is not None for f in self.findings)
        return Markdown(f"{pooled} of {len(self.findings)} outcomes have at least one study with counts (data "
                        f"version {self.shown_version}); the reviewers rated the certainty of {len(rated)} of "
                        f"them: {counts or 'none'}.")

    def table(self) -> HTML:
        return HTML(sof_table(self.main(), self.paper, self.shown_version, "sof", folded=True))

    def adverse_table(self) -> HTML:
        if not self.adverse():
            return HTML("<p>No adverse event has a study with counts in this dataset.</p>")
        return HTML(sof_table(self.adverse(), self.paper, self.shown_version, "sof-ae", folded=True))

    def judgements_table(self) -> HTML:
        """Every judgement beside the numbers it rests on: one folded table per outcome, headed by its certainty."""
        frame = judgement_frame(self.findings)
        certainty = {f.outcome: f.certainty for f in self.findings}
        blocks = []
        for (outcome, label), g in frame.groupby(["outcome", "label"], sort=False):
            c = certainty[outcome]
            head = (f"{common.esc(label)}: not rated" if c is None else
                    f'{common.esc(label)}: <span class="livingreview-grade">{c.symbols}</span> {c.label} '
                    f"(judged for data version {c.judged_version})")
            rows = [[common.esc(r["domain"]), common.esc(r["inputs"]), common.esc(r["rating"]),
                     common.esc(r["reason"])] for _, r in g.iterrows()]
            table = common.raw_table(["Domain", "Inputs (computed)", "Rating", "Reviewers' reason"], rows)
            blocks.append(f'<details class="livingreview-judgements" id="judgements-{outcome.replace("_", "-")}">'
                          f"<summary>{head}</summary>{table}</details>")
        return HTML("".join(blocks))


def load(data_dir="data", data_version=None, measure=None, method=None, test=None, pi_dist=None,
         reads=READS, reader: str = "the summary of findings") -> SummaryPage:
    ds = common.dataset(reads, data_dir, reader)
    findings = summary_of_findings(ds, common.spec_from(measure, method, test, pi_dist), data_version=data_version)
    shown = data_version if data_version is not None else ds.latest_version
    return SummaryPage(findings, printed.paper_results(ds), shown)


__all__ = ["DOMAINS", "MAIN_KINDS", "READS", "SummaryPage", "context", "load", "sof_table"]
