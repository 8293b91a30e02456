"""One outcome's part of the reproduction audit (``notebooks/reproduction_outcome.ipynb``; the adverse events of
Table 2 share two pages): every printed number with the audit's recomputation, its word, the reason, the basis,
the failed checks and — in numbered notes — the arithmetic and the example configuration; then the checks of the
printed numbers and the printed intervals."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pandas as pd
from IPython.display import HTML, Markdown

from livingreview import format as fmt
from livingreview.book import common
from livingreview.book.common import esc
from livingreview.book.reproduction import (
    BASIS_WORDS,
    READS as AUDIT_READS,
    SHORT_REASONS,
    TABLE2,
    badge_text,
    fmt_printed,
    fmt_value,
    labels,
    page_outcomes,
    page_title,
)
from livingreview.review import audit as rp
from livingreview.review.audit import verdicts as vt

READS = ("studies", "outcomes", "outcome_definitions", "published", "search", "versions")
assert READS == AUDIT_READS  # one list, literal here because the build reads it with ast

COLUMNS = ["Statistic", "Paper", *rp.SPEC_KEYS, "Audit", "Word", "Basis", "Reason", "Failed checks", "Note"]


def context(ds, params: dict) -> dict:
    parameter = params["outcome"]
    return {"audit_title": page_title(ds, parameter), "is_table2": parameter in TABLE2}


def _paper_k(k: rp.PaperK) -> str:
    if k.exact is not None:
        return str(k.exact) if k.source.startswith(("printed", "outcome_definitions")) else \
            f"{k.exact} (implied by its I² and p)"
    return f"≥ {k.minimum} (from its I² and p)" if k.minimum else "not printed"


class _Notes:
    """Numbered notes (arithmetic and example), each distinct pair once per page."""

    def __init__(self):
        self.index: dict[tuple[str, str], int] = {}

    def number(self, arithmetic: str, example: str) -> str:
        if not arithmetic and not example:
            return ""
        key = (arithmetic, example)
        self.index.setdefault(key, len(self.index) + 1)
        return f"[{self.index[key]}]"

    def html(self, keys) -> str:
        parts = []
        for key in dict.fromkeys(keys):
            arithmetic, example = key
            text = esc(arithmetic) + (f" <em>Example:</em> {esc(example)}" if example else "")
            parts.append(f"<p><strong>[{self.index[key]}]</strong> {text}</p>")
        return "".join(parts)


@dataclass(frozen=True)
class AuditOutcomePage:
    ds: object
    parameter: str
    outcomes: tuple[str, ...]
    audit: rp.Audit
    table: pd.DataFrame  # the verdict rows of these outcomes
    full_table: pd.DataFrame  # every row: the counts of a badge are the same words as on the summary
    findings: tuple

    def summary(self) -> Markdown:
        """The reproduction line of each outcome — the same sentence as its results page's badge."""
        lines = [badge_text(self.ds, o, self.full_table, self.audit) for o in self.outcomes]
        if not lines:
            return Markdown("The dataset records no printed number of the paper for this page.")
        if len(lines) == 1:
            return Markdown(lines[0] + ".")
        names = labels(self.ds)
        return Markdown("\n".join(f"- **{fmt.md(names[o])}**: {line}." for o, line in zip(self.outcomes, lines)))

    def numbers(self) -> HTML:
        """Per outcome and analysis: a caption (k, the joint verdict), one row per printed number, the notes. So that
        the page stays a few screens long, only the first analysis is open: the others (on a Table 2 page, every
        adverse event) are folded under their names."""
        rows_of = self.table.set_index(["outcome", "subgroup", "level", "statistic"])
        notes = _Notes()
        parts = []
        for outcome in self.outcomes:
            comparisons = [c for c in self.audit.comparisons if c.number.outcome == outcome]
            blocks = []
            for analysis in dict.fromkeys(c.number.analysis for c in comparisons):
                group = [c for c in comparisons if c.number.analysis == analysis]
                blocks.append((analysis, self._analysis(analysis, group, rows_of, notes)))
            if len(self.outcomes) > 1:
                words = fmt.counts_text(dict(Counter(self.table.loc[self.table["outcome"] == outcome, "final"])))
                parts.append(f'<div id="audit-{esc(outcome)}">' + common.fold(
                    f"{esc(labels(self.ds)[outcome])} — {esc(words)}", "".join(b for _, b in blocks)) + "</div>")
                continue
            for i, (analysis, block) in enumerate(blocks):
                parts.append(block if i == 0 else common.fold(
                    esc(common.subgroup_name(analysis[1], analysis[2] or None)), block))
        return HTML("\n".join(parts) or "<p>None.</p>")

    def _analysis(self, analysis, group, rows_of, notes: _Notes) -> str:
        first = group[0]
        head = rows_of.loc[(*analysis, first.number.statistic)]
        missing = (f", {fmt.plural(first.paper_k.minimum - first.our_k, 'study', 'studies')} missing"
                   if first.our_k < first.paper_k.minimum else "")
        caption = (f"<strong>{esc(common.subgroup_name(analysis[1], analysis[2] or None))}</strong> — studies: paper "
                   f"{esc(_paper_k(first.paper_k))}, dataset {first.our_k} with counts{esc(missing)}")
        if all(c.status == "not reproducible" for c in group):
            if first.rule != "missing-studies":
                caption += f" ({esc(SHORT_REASONS.get(first.rule, first.rule))})"
            joint_note = notes.number(head["joint_arithmetic"], head["joint_example"])
            caption += (f"; the estimate, CI, I² and p together: <em>{esc(head['joint'])}</em> — "
                        f"{esc(head['joint_reason'])} {joint_note}")
        rows, used = [], []
        for c in group:
            r = rows_of.loc[(*analysis, c.number.statistic)]
            note = notes.number(r["arithmetic"], r["example"])
            if note:
                used.append((r["arithmetic"], r["example"]))
            rows.append([esc(rp.STATISTIC_LABELS[c.number.statistic]), esc(fmt_printed(c.number)),
                         *[esc(fmt_value(c.number.statistic, c.values[k])) for k in rp.SPEC_KEYS],
                         esc(c.status), f"<strong>{esc(r['final'])}</strong>",
                         esc(BASIS_WORDS.get(r["basis"], r["basis"]) if r["final"] == r["verdict"] else "recomputed"),
                         esc(r["reason"] if r["final"] == r["verdict"] else c.reason),
                         esc(r["checks_failed"]), note])
        joint_key = (head["joint_arithmetic"], head["joint_example"])
        keys = ([joint_key] if joint_key in notes.index and all(c.status == "not reproducible" for c in group)
                else []) + used
        return (f'<p id="audit-{esc("-".join(x for x in analysis if x))}" style="margin-top: 1em;">{caption}</p>'
                + common.raw_table(COLUMNS, rows) + notes.html(keys))

    def findings_table(self) -> HTML:
        """The checks of these outcomes' printed numbers (inconsistent first), with the computed evidence; the
        interval scales are in the table of intervals below."""
        order = {"inconsistent": 0, "unverifiable": 1, "consistent": 2}
        names = labels(self.ds)
        mine = sorted((f for f in self.findings if f.outcome in self.outcomes and f.check != "interval scale"),
                      key=lambda f: (order[f.verdict], self.outcomes.index(f.outcome)))
        rows = [{**({"Outcome": names[f.outcome]} if len(self.outcomes) > 1 else {}), "Analysis": f.analysis,
                 "Check": f.check, "Verdict": f.verdict, "Evidence (computed)": f.evidence} for f in mine]
        if not rows:
            return HTML("<p>None.</p>")
        inconsistent = sum(r["Verdict"] == "inconsistent" for r in rows)
        return HTML(common.fold(f"{fmt.plural(len(rows), 'check')}, {inconsistent} inconsistent",
                                common.html_table(pd.DataFrame(rows))))

    def intervals(self) -> HTML:
        """These outcomes' printed intervals: how lopsided, and what a symmetric interval on each scale would give."""
        names = labels(self.ds)
        rows = []
        for c in rp.interval_checks(rp.published_numbers(self.ds)):
            if c.outcome not in self.outcomes:
                continue
            inside = c.kind == "CI" and 0 < c.low < c.high < 100
            rows.append({
                **({"Outcome": names[c.outcome]} if len(self.outcomes) > 1 else {}),
                "Analysis": "overall" if c.subgroup == "overall" else c.level,
                "Interval": f"{c.kind} {fmt.printed(c.estimate)} ({fmt.printed(c.low)}–{fmt.printed(c.high)})",
                "Lopsided (pp)": fmt.signed(c.asymmetry, 1),
                "If arcsine": fmt.signed(c.predicted["arcsine"], 1) if inside else "—",
                "If logit": fmt.signed(c.predicted["logit"], 1) if inside else "—",
                "Symmetric on": ", ".join(c.consistent) or "none",
            })
        if not rows:
            return HTML("<p>No interval printed.</p>")
        return HTML(common.fold(f"{fmt.plural(len(rows), 'printed interval')}", common.html_table(pd.DataFrame(rows))))


def load(outcome: str, data_dir="data") -> AuditOutcomePage:
    ds = common.dataset(READS, data_dir, f"the audit page of {outcome}")
    outcomes = tuple(page_outcomes(ds, outcome))
    table = vt.verdict_table(ds)
    return AuditOutcomePage(ds, outcome, outcomes, rp.audit(ds, outcomes=outcomes),
                            table[table["outcome"].isin(outcomes)], table, rp.findings(ds))
