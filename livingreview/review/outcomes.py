"""Outcome analyses: the engine applied to the extraction dataset, one outcome at a time.

``analyse_outcome`` is what every outcome page calls; ``results_table`` is the machine-readable table of every
pooled estimate (overall and per subgroup level) that the command line prints and the book offers for download.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from livingreview.config import PRIMARY, SUBGROUP_LEVELS, Spec
from livingreview.engine.effects import escalc
from livingreview.engine.model import MetaResult, rma
from livingreview.engine.subgroups import SubgroupResult, subgroup_analysis

#: Marks a study whose denominator is another population than the one its outcome pools (in every table and plot;
#: the forest plots' daggers mark studies that share patients).
OTHER_POPULATION = "*"

RESULT_COLUMNS = [
    "outcome", "subgroup", "level", "k", "events", "total", "measure", "method", "test", "pi_dist",
    "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2", "q", "q_df", "q_p",
    "q_between", "q_between_df", "q_between_p",
]


@dataclass(frozen=True)
class OutcomeAnalysis:
    """An outcome's pooled analysis under one specification.

    ``studies`` holds the pooled rows (study_id, display_label, events, total, subgroup columns, population, and
    ``other_population``: whether it differs from the outcome's) in the order used for every plot and table;
    ``excluded`` the studies in the dataset that are not pooled, with why. ``overall`` is None when no study reports
    the outcome.
    """

    outcome: str
    label: str
    spec: Spec
    studies: pd.DataFrame
    excluded: pd.DataFrame
    overall: MetaResult | None
    subgroups: dict[str, SubgroupResult] = field(default_factory=dict)

    @property
    def k(self) -> int:
        return len(self.studies)


def display_labels(studies: pd.DataFrame, latest: int | None = None) -> list[str]:
    """'Kantarjian et al. [18]' — the paper's label with its reference number, unique within the review; a study
    added by an update is '[new]' in the ``latest`` data version shown (default: the latest in ``studies``) and
    '[v2]', '[v3]' … once a later version exists: "[new]" marks only the latest version's studies."""
    latest = int(studies["data_version"].max()) if latest is None and len(studies) else latest
    tag = lambda ref, v: str(int(ref)) if pd.notna(ref) else "new" if int(v) == latest else f"v{int(v)}"  # noqa: E731
    return [f"{label} [{tag(ref, v)}]"
            for label, ref, v in zip(studies["label"], studies["ref_no"], studies["data_version"])]


def outcome_subgroups(dataset, outcome: str) -> list[str]:
    """Subgroup columns that apply to an outcome, from ``outcome_definitions.csv``."""
    row = dataset.definitions.set_index("outcome").loc[outcome]
    value = row["subgroups"]
    if not isinstance(value, str) or not value.strip():
        return []
    return [s.strip() for s in value.split(";") if s.strip()]


def analyse_outcome(dataset, outcome: str, spec: Spec = PRIMARY, data_version: int | None = None,
                    bounds: bool = False, population: str | None = None, omit: tuple[str, ...] = ()) -> OutcomeAnalysis:
    """Pool one outcome: effect sizes, the random-effects model and one subgroup analysis per subgroup column.

    The primary analysis pools exact counts of any denominator; ``bounds`` adds counts that are only a bound,
    ``population`` keeps only rows whose denominator is that population, ``omit`` leaves out these studies (the
    sensitivity analyses)."""
    rows = dataset.pooling_table(outcome, data_version=data_version, bounds=bounds, population=population).copy()
    definition = dataset.definitions.set_index("outcome").loc[outcome]  # (pooling_table names an unknown outcome)
    label = definition["label"]
    rows = rows[~rows["study_id"].isin(omit)]
    rows = rows.sort_values(["data_version", "ref_no", "study_id"], na_position="last").reset_index(drop=True)
    rows["other_population"] = rows["population"] != definition["population"]
    latest = dataset.latest_version if data_version is None else data_version
    rows["display_label"] = [f"{lab} {OTHER_POPULATION}" if other else lab
                             for lab, other in zip(display_labels(rows, latest), rows["other_population"])]
    excluded = dataset.excluded(outcome, data_version=data_version)
    if bounds:  # the bounds it adds are pooled, so they are not "excluded"
        excluded = excluded[~excluded["study_id"].isin(rows["study_id"])].reset_index(drop=True)
    if rows.empty:
        return OutcomeAnalysis(outcome, label, spec, rows, excluded, None, {})
    es = escalc(spec.measure, rows["events"].to_numpy(), rows["total"].to_numpy(),
                labels=tuple(rows["display_label"]))
    overall = rma(es, method=spec.method, test=spec.test, pi_dist=spec.pi_dist, level=spec.level)
    subgroups = {}
    for column in outcome_subgroups(dataset, outcome):
        groups = [g if isinstance(g, str) and g else None for g in rows[column]]
        if sum(g is not None for g in groups) == 0:
            continue
        subgroups[column] = subgroup_analysis(es, groups, method=spec.method, test=spec.test,
                                              pi_dist=spec.pi_dist, level=spec.level)
    return OutcomeAnalysis(outcome, label, spec, rows, excluded, overall, subgroups)


def overlap_groups(studies: pd.DataFrame) -> dict[str, str]:
    """study_id → a group name, for studies that report some of the same patients (``overlaps_with``, either way
    round); the group is named by its members' ids. Studies without overlap are absent."""
    ids = set(studies["study_id"])
    links = {sid: set() for sid in ids}
    for sid, others in zip(studies["study_id"], studies["overlaps_with"]):
        for other in (others or "").split(";") if isinstance(others, str) else ():
            if other in ids:
                links[sid].add(other)
                links[other].add(sid)
    groups, seen = {}, set()
    for sid in sorted(ids):
        if sid in seen or not links[sid]:
            continue
        members, todo = set(), [sid]
        while todo:
            s = todo.pop()
            if s not in members:
                members.add(s)
                todo.extend(links[s] - members)
        seen |= members
        groups.update({m: " + ".join(sorted(members)) for m in members})
    return groups


def row_choices(dataset, outcome: str, spec: Spec = PRIMARY, data_version: int | None = None) -> list[tuple]:
    """The primary analysis beside the analyses that pool other rows: only the outcome's stated population, one
    study per group of overlapping cohorts (the largest), and with counts that are only a bound. Each is
    ``(name, analysis, what changes)``; a choice that pools the same rows as the primary analysis is left out."""
    primary = analyse_outcome(dataset, outcome, spec, data_version=data_version)
    population = dataset.definitions.set_index("outcome").loc[outcome, "population"]
    choices = [("Primary: exact counts, any denominator", primary, "")]
    same = analyse_outcome(dataset, outcome, spec, data_version=data_version, population=population)
    other = primary.studies.loc[primary.studies["other_population"], "display_label"]
    if len(other):
        choices.append((f"Only denominators of {population}", same, "leaves out " + "; ".join(other)))
    groups = overlap_groups(primary.studies)
    if groups:
        pooled = primary.studies[primary.studies["study_id"].isin(groups)]
        largest = (pooled.assign(group=pooled["study_id"].map(groups))  # the largest study of each group is kept
                   .sort_values("total", ascending=False, kind="stable").drop_duplicates("group")
                   .set_index("group")["study_id"])
        omit = tuple(s for s in pooled["study_id"] if largest[groups[s]] != s)
        label = primary.studies.set_index("study_id")["display_label"]
        choices.append(("One study per group of overlapping cohorts",
                        analyse_outcome(dataset, outcome, spec, data_version=data_version, omit=omit),
                        "leaves out " + "; ".join(f"{label[s]} (shares patients with {label[largest[groups[s]]]})"
                                                  for s in omit)))
    bounded = analyse_outcome(dataset, outcome, spec, data_version=data_version, bounds=True)
    added = bounded.studies.loc[bounded.studies["bound"] != "exact"]
    if len(added):
        choices.append(("Including counts that are only a bound", bounded, "adds " + "; ".join(
            f"{lab} ({b} bound)" for lab, b in zip(added["display_label"], added["bound"]))))
    return choices


def _row(analysis: OutcomeAnalysis, subgroup: str, level: str, res: MetaResult, counts: pd.DataFrame,
         between: SubgroupResult | None = None) -> dict:
    p = res.proportion()
    spec = analysis.spec
    return {
        "outcome": analysis.outcome, "subgroup": subgroup, "level": level, "k": res.k,
        "events": int(counts["events"].sum()), "total": int(counts["total"].sum()),
        "measure": spec.measure, "method": spec.method, "test": spec.test, "pi_dist": spec.pi_dist,
        "estimate": p.estimate, "ci_low": p.ci_low, "ci_high": p.ci_high, "pi_low": p.pi_low, "pi_high": p.pi_high,
        "tau2": res.tau2, "i2": res.i2, "q": res.q, "q_df": res.q_df, "q_p": res.q_p,
        "q_between": between.q_between if between else np.nan,
        "q_between_df": between.q_between_df if between else np.nan,
        "q_between_p": between.q_between_p if between else np.nan,
    }


def ordered_levels(column: str, present) -> list[str]:
    """The levels of a subgrouping column that are ``present``, in the book's order (unknown levels last)."""
    present = [p for p in dict.fromkeys(present) if isinstance(p, str) and p]
    known = [lv for lv in SUBGROUP_LEVELS.get(column, ()) if lv in present]
    return known + [lv for lv in present if lv not in known]


def analysis_rows(analysis: OutcomeAnalysis) -> list[dict]:
    """One results row for the overall fit and one per subgroup level (levels in the book's order)."""
    if analysis.overall is None:
        return []
    rows = [_row(analysis, "overall", "", analysis.overall, analysis.studies)]
    for column, sub in analysis.subgroups.items():
        for level in ordered_levels(column, sub.levels):
            counts = analysis.studies[analysis.studies[column] == level]
            rows.append(_row(analysis, column, level, sub.levels[level], counts, sub))
    return rows


def outcome_ids(dataset, outcomes=None) -> list[str]:
    """The given outcome ids, or every defined outcome in the book's display order."""
    if outcomes is not None:
        return list(outcomes)
    return list(dataset.definitions.sort_values("display_order")["outcome"])


def results_table(dataset, spec: Spec = PRIMARY, outcomes=None, data_version: int | None = None,
                  threshold: float | None = None) -> pd.DataFrame:
    """Every pooled estimate: outcome × (overall, each subgroup level); proportions on the 0–1 scale. With a
    ``threshold`` (0–1) each row also gives ``prob_above``: the probability that a new study's true proportion
    exceeds it, from the prediction distribution."""
    from livingreview.engine.intervals import predictive_probability

    rows = []
    for outcome in outcome_ids(dataset, outcomes):
        a = analyse_outcome(dataset, outcome, spec, data_version=data_version)
        new = analysis_rows(a)
        if threshold is not None and new:
            fits = [a.overall] + [sub.levels[level] for column, sub in a.subgroups.items()
                                  for level in ordered_levels(column, sub.levels)]  # analysis_rows' order
            for row, res in zip(new, fits, strict=True):
                row.update(threshold=threshold, prob_above=predictive_probability(res, threshold).probability)
        rows.extend(new)
    return pd.DataFrame(rows, columns=RESULT_COLUMNS + (["threshold", "prob_above"] if threshold is not None else []))


__all__ = ["OutcomeAnalysis", "analyse_outcome", "analysis_rows", "overlap_groups", "row_choices", "ordered_levels",
           "results_table", "RESULT_COLUMNS"]
