"""The outcome page (``notebooks/outcome.ipynb``): the pooled estimate, its subgroups, forest plots and studies."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from IPython.display import HTML, Markdown

from livingreview import format as fmt
from livingreview.book import common, figures
from livingreview.config import PI_SHORT, SUBGROUPS
from livingreview.engine import plots
from livingreview.engine.effects import study_intervals
from livingreview.review import paper as printed
from livingreview.review.outcomes import (
    OTHER_POPULATION,
    OutcomeAnalysis,
    analyse_outcome,
    analysis_rows,
    outcome_subgroups,
    overlap_groups,
)

# Whole tables of outcomes, published and search: the reproduction badge's verdicts rest on every analysis of the
# paper (livingreview.review.audit.verdicts.READS).
READS = ("studies", "reports", "outcome_definitions", "versions", "outcomes", "published", "search")


def context(ds, params: dict) -> dict:
    """The page title and definition, and which forest plots the page has (one per subgroup column)."""
    subgroups = outcome_subgroups(ds, params["outcome"])
    spec = common.spec_from(*(params.get(k) for k in ("measure", "method", "test", "pi_dist")))
    return {**common.outcome_context(ds, params["outcome"]), **common.spec_context(params),
            "has_regimen": "regimen" in subgroups, "has_disease_status": "disease_status" in subgroups,
            "no_subgroups": not subgroups, **choice_words(spec)}


def choice_words(spec) -> dict:
    """The words of the page's prose that depend on the analysis chosen (a common-effect model has no τ², no PI)."""
    if spec.method == "FE":
        return {"subgroup_pooling": "each subgroup level pooled with a common-effect model (τ² = 0 by assumption)",
                "pi_caption": " (a common-effect model has no prediction interval)"}
    return {"subgroup_pooling": f"each subgroup level with its own τ² ({spec.method})",
            "pi_caption": f"; the thin bar with end caps under the overall diamond is the 95% prediction interval "
                          f"({PI_SHORT[spec.pi_dist]})"}


def new_labels(analysis: OutcomeAnalysis) -> tuple[str, ...]:
    """Studies added in the latest data version are marked in forest plots (the living-review update)."""
    studies = analysis.studies
    if studies.empty or int(studies["data_version"].max()) <= 1:
        return ()
    latest = int(studies["data_version"].max())
    return tuple(studies.loc[studies["data_version"] == latest, "display_label"])


def result_sentences(analysis: OutcomeAnalysis, rows: pd.DataFrame) -> str:
    """The result in the paper's style, with the subgroup findings; Markdown."""
    label = fmt.md(analysis.label)
    if analysis.overall is None or rows.empty:
        return (f"No study in the dataset reports **{label.lower()}** with counts that can be pooled "
                f"({len(analysis.excluded)} studies are listed below with the reason).")
    overall = rows[rows["subgroup"] == "overall"].iloc[0]
    k, n = int(overall["k"]), int(overall["total"])
    text = [f"{label} was available from {fmt.plural(k, 'study', 'studies')} ({n:,} patients). "
            f"With a {'common-effect' if analysis.spec.method == 'FE' else 'random-effects'} model "
            f"({analysis.spec.describe()}), the pooled {label.lower()} rate was "
            f"{fmt.estimate_text(overall)}."]
    for column, name in SUBGROUPS.items():
        sub = rows[rows["subgroup"] == column]
        if sub.empty:
            continue
        best = sub.sort_values("estimate", ascending=False).iloc[0]
        between = sub.iloc[0]
        text.append(f"By {name.lower()}, the highest rate was with {fmt.md(best['level'])}: "
                    f"{fmt.estimate_text(best, with_pi=False)}; test for subgroup differences: "
                    f"Q = {fmt.number(between['q_between'])}, df = {int(between['q_between_df'])}, "
                    f"{fmt.p_value(between['q_between_p'])}.")
    return " ".join(text)


def summary_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Overall and subgroup estimates, formatted for reading."""
    out = []
    for _, r in rows.iterrows():
        out.append({
            "Analysis": common.subgroup_name(r["subgroup"], r["level"]), "Studies": int(r["k"]),
            "Events / patients": f"{int(r['events'])} / {int(r['total'])}",
            "Estimate": fmt.pct(r["estimate"]), "95% CI": fmt.interval(r["ci_low"], r["ci_high"]),
            "95% PI": fmt.interval(r["pi_low"], r["pi_high"]),
            "τ²": fmt.number(r["tau2"], 3), "I²": fmt.i2_cell(r["i2"]),
            "Q (df), p": "NA" if r["k"] < 2 else f"{r['q']:.2f} ({int(r['q_df'])}), {fmt.p_value(r['q_p'])}",
        })
    return pd.DataFrame(out)


def paper_cells(paper: pd.Series, name: str) -> list[str]:
    """A row of the summary table holding the paper's printed numbers for one analysis, labelled as the paper's
    (HTML cells, in the columns of :func:`summary_frame`)."""
    k = "—" if pd.isna(paper["k"]) else str(int(paper["k"]))
    return [f"<em>{common.esc(name)}: {printed.PAPER}, as printed</em>", k, "—", common.esc(printed.percent(paper["estimate"])),
            common.esc(printed.interval(paper["ci_low"], paper["ci_high"])),
            common.esc(printed.interval(paper["pi_low"], paper["pi_high"])), "—",
            common.esc(printed.percent(paper["i2"], missing="—")), "—"]


def summary_with_paper(rows: pd.DataFrame, paper: pd.DataFrame) -> str:
    """Our estimates, each followed by the paper's printed one for the same analysis (when it prints one); then the
    paper's analyses that have no study in this dataset. HTML."""
    shown = summary_frame(rows)
    body, matched = [], set()
    for (_, r), (_, cells) in zip(rows.iterrows(), shown.iterrows()):
        body.append([common.esc(v) for v in cells])
        level = r["level"] if isinstance(r["level"], str) else ""
        p = printed.paper_row(paper, r["outcome"], r["subgroup"], level)
        if p is not None:
            body.append(paper_cells(p, cells["Analysis"]))
            matched.add((r["subgroup"], level))
    for _, p in paper.iterrows():
        if (p["subgroup"], p["level"]) not in matched and not pd.isna(p["estimate"]):
            name = common.subgroup_name(p["subgroup"], p["level"] or None)
            body.append(paper_cells(p, f"{name} (no study in this dataset)"))
    return common.raw_table(list(shown.columns), body)


def reproduction_badge(ds, outcome: str) -> str:
    """One line (Markdown): the paper's pooled estimate beside ours, how far apart and why, and the audit's words for
    the outcome's printed numbers — the sentence its audit page opens with."""
    from livingreview.book.reproduction import badge_text
    from livingreview.review.audit import audit, verdicts

    if outcome not in set(ds.published["outcome"]):
        return "Reproduction: the paper prints no pooled number for this outcome"
    return badge_text(ds, outcome, verdicts.verdict_table(ds), audit(ds, outcomes=(outcome,)))


@dataclass(frozen=True)
class OutcomePage:
    ds: object
    analysis: OutcomeAnalysis
    rows: pd.DataFrame
    study_ci: str = "transformed"  # study intervals in forest plots (engine.options.STUDY_CI_METHODS)

    def sentence(self) -> Markdown:
        return Markdown(result_sentences(self.analysis, self.rows))

    def glue_badge(self) -> None:
        common.glue_markdown({"reproduction_badge": reproduction_badge(self.ds, self.analysis.outcome)})

    def summary_table(self) -> HTML:
        """Our pooled estimates with the paper's printed ones beside them (rows in italics, labelled)."""
        paper = printed.paper_results(self.ds, outcomes=(self.analysis.outcome,))
        note = "<p>No pooled estimate: no study in this dataset reports this outcome.</p>" if self.rows.empty else ""
        return HTML(note + (summary_with_paper(self.rows, paper) if not paper.empty or not self.rows.empty else ""))

    def forest(self, column: str | None):
        a = self.analysis
        if a.overall is None:
            return figures.message_figure(f"No study in the dataset reports {a.label.lower()}.")
        title = a.label if column is None else f"{a.label} by {SUBGROUPS[column].lower()}"
        groups = overlap_groups(a.studies)  # studies that report some of the same patients share a dagger
        label = dict(zip(a.studies["study_id"], a.studies["display_label"]))
        return plots.forest_plot(a.overall, subgroups=a.subgroups.get(column), title=title,
                                 new_studies=new_labels(a), study_ci=self.study_ci,
                                 shared_patients={label[s]: g for s, g in groups.items()})

    def study_table(self) -> HTML:
        """The pooled rows: counts, their denominator's population, the figure as printed, how the count was
        obtained and its public source."""
        a = self.analysis
        if a.overall is None:
            return HTML("<p>No study reports this outcome.</p>")
        est, lo, hi = study_intervals(a.overall.es, a.overall.level)
        prov = self.ds.outcomes[self.ds.outcomes["outcome"] == a.outcome].set_index("study_id")
        reports = self.ds.reports.set_index("report_id")
        rows = []
        for i, s in a.studies.iterrows():
            row = prov.loc[s["study_id"]]
            source = common.report_source(reports.loc[row["report_id"]], row["location"]) \
                if row["report_id"] in reports.index else common.esc(row["location"])
            known = lambda value: value if isinstance(value, str) else "unknown"  # noqa: E731
            rows.append([common.esc(s["display_label"]), common.esc(known(s["regimen"])),
                         common.esc(known(s["disease_status"])), f"{s['events']} / {s['total']}",
                         common.esc(f"{fmt.pct(est[i])} ({fmt.interval(lo[i], hi[i])})"),
                         f"{a.overall.weights[i]:.1f}%", common.esc(row["population"]),
                         common.esc(row["reported_value"] if isinstance(row["reported_value"], str) else ""),
                         common.esc(row["derivation"]), source])
        return HTML(common.raw_table(["Study", "Regimen", "Disease status", "Events / N", "Proportion (95% CI)",
                                      "Weight", "Denominator", "As printed", "Derivation", "Source"], rows))

    def population_note(self) -> Markdown:
        """Which population the outcome pools, and the rows that count another one (marked *), if any."""
        a = self.analysis
        definition = self.ds.definitions.set_index("outcome").loc[a.outcome]
        text = (f"This outcome pools denominators of **{fmt.md(definition['population'])}** "
                f"({fmt.md(definition['population_definition'].rstrip('.'))}).")
        other = a.studies[a.studies["other_population"]] if a.overall is not None else a.studies
        if len(other):
            listed = "; ".join(f"{fmt.md(lab.removesuffix(' ' + OTHER_POPULATION))}: {fmt.md(pop)} "
                               f"({fmt.md(d)})" for lab, pop, d in
                               zip(other["display_label"], other["population"], other["population_definition"]))
            text += (f" {fmt.plural(len(other), 'pooled row counts', 'pooled rows count')} another denominator and "
                     f"{'is' if len(other) == 1 else 'are'} marked {fmt.md(OTHER_POPULATION)}: {listed}. The sensitivity "
                     f"analyses include the estimate from the rows of the pooled population only.")
        return Markdown(text)

    def excluded_table(self) -> HTML:
        ex = self.analysis.excluded
        if ex.empty:
            return HTML("<p>None: every study in the dataset contributes to this outcome or is not expected to.</p>")
        table = pd.DataFrame({
            "Study": [f"{l} [{int(r)}]" if pd.notna(r) else l for l, r in zip(ex["label"], ex["ref_no"])],
            "Reason": ex["reason"],
        })
        return common.html(table)


def load(outcome: str, data_dir="data", data_version=None, measure=None, method=None, test=None,
         pi_dist=None, study_ci="transformed") -> OutcomePage:
    ds = common.dataset(READS, data_dir, f"the {outcome} page", outcome=outcome)
    analysis = analyse_outcome(ds, outcome, common.spec_from(measure, method, test, pi_dist),
                               data_version=data_version)
    return OutcomePage(ds, analysis, pd.DataFrame(analysis_rows(analysis)), study_ci)
