"""Methods primer, chapter 4: subgroups (``notebooks/primer_subgroups.ipynb``)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from IPython.display import HTML

from livingreview import format as fmt
from livingreview.book import common
from livingreview.book.chapter import (
    MEASURE_NAMES,
    R_TRANSF,
    Chapter,
    _lower,
    _need_k,
    _p_range,
    context as chapter_context,
    other_choice,
    outcome_words,
    r_data,
    r_print,
    spec_words,
)
from livingreview.config import MEASURE_LABELS, MEASURES, PRIMARY, SUBGROUPS
from livingreview.review import primer
from livingreview.review.outcomes import analyse_outcome

#: What the template's Markdown needs (the outcome's words, the analysis), shared by every chapter.
context = chapter_context

READS = ("studies", "outcomes", "outcome_definitions", "versions")


@dataclass
class SubgroupsChapter(Chapter):
    outcome: str = ""
    label: str = ""
    column: str = ""
    levels: pd.DataFrame | None = None
    test: dict | None = None
    crosstab: pd.DataFrame | None = None
    by_measure: pd.DataFrame | None = None
    analysis: object = None

    def levels_table(self) -> HTML:
        lv = self.levels
        return common.html(pd.DataFrame({
            SUBGROUPS[self.column]: lv["level"], "Studies": lv["k"],
            "Events / patients": [f"{e} / {t}" for e, t in zip(lv["events"], lv["total"])],
            "Estimate (95% CI)": [f"{fmt.pct(e)} ({fmt.interval(a, b)})"
                                  for e, a, b in zip(lv["estimate"], lv["ci_low"], lv["ci_high"])],
            "τ²": [fmt.number(t, 3) for t in lv["tau2"]],
            "I²": [fmt.i2_cell(i) for i in lv["i2"]],
        }))

    def crosstab_table(self) -> HTML:
        t = self.crosstab.copy()
        t.columns = [str(c) for c in t.columns]
        return common.html(t.reset_index(names="Regimen (rows) × disease status (columns)"))

    def measure_table(self) -> HTML:
        m = self.by_measure
        return common.html(pd.DataFrame({"Measure": [MEASURE_NAMES[x] for x in m["measure"]],
                                  "Q between": [fmt.number(q, 2) for q in m["q_between"]],
                                  "df": m["df"].astype(int), "p": [fmt.p_value(p).removeprefix("p ") for p in m["p"]]}))

    def forest(self):
        from livingreview.engine import plots
        a = self.analysis
        return plots.forest_plot(a.overall, subgroups=a.subgroups[self.column],
                                 title=f"{a.label} by {SUBGROUPS[self.column].lower()}")


def load(outcome: str = "overall_response", subgroup: str = "disease_status", data_dir="data",
              data_version=None, measure=None, method=None, test=None, pi_dist=None) -> SubgroupsChapter:
    ds = common.dataset(READS, data_dir, "this chapter")
    spec = common.spec_from(measure, method, test, pi_dist)
    if subgroup not in SUBGROUPS:
        raise ValueError(f"unknown subgroup {subgroup!r}; choose one of {', '.join(SUBGROUPS)}")
    _need_k(ds, outcome, 3, data_version, "The subgroups chapter")
    a = analyse_outcome(ds, outcome, spec, data_version=data_version)
    if subgroup not in a.subgroups:
        raise ValueError(f"{outcome}: the paper does not analyse it by {subgroup}; choose an outcome whose "
                         f"subgroups in outcome_definitions.csv include it")
    levels, test_ = primer.subgroup_table(ds, outcome, subgroup, spec, data_version)
    other = next(c for c in SUBGROUPS if c != subgroup)
    crosstab = primer.confounding_table(ds, outcome, "regimen", "disease_status", data_version)
    by_measure = primer.subgroup_test_by_measure(ds, outcome, subgroup, spec, data_version)
    ch = SubgroupsChapter(spec=spec, outcome=outcome, label=a.label, column=subgroup, levels=levels, test=test_,
                          crosstab=crosstab, by_measure=by_measure, analysis=a)
    spec_words(ch)
    outcome_words(ch, a.label)
    ch.contrast("subgroup", subgroup, other)
    ch.md("other_name", SUBGROUPS[other].lower())
    ch.md("pooling_sentence", "Each subgroup is pooled on its own with a common-effect model, as the page's analysis "
                              "is: τ² = 0 by assumption, within every subgroup." if spec.method == "FE" else
                              f"Each subgroup is pooled on its own, with its own τ² ({spec.method}; a subgroup with "
                              f"one study has none).")
    ch.put("k", a.k)
    ch.put("n_levels", len(levels))
    ch.put("q_between", test_["q_between"])
    ch.put("q_df", int(test_["df"]))
    ch.md("q_p", fmt.p_value(test_["p"]))
    ch.put("single_study_levels", test_["single_study_levels"])
    ch.put("excluded", test_["excluded"])
    single, excl = test_["single_study_levels"], test_["excluded"]
    ch.md("caveats_sentence",
          ("Every subgroup has at least two studies" if single == 0 else
           f"{single} of the {len(levels)} subgroups rest{'s' if single == 1 else ''} on a single study")
          + " and " + ("every study could be placed in a subgroup." if excl == 0 else
                       f"{excl} {'study' if excl == 1 else 'studies'} could not be placed in any subgroup."))
    ch.md("subgroup_name", SUBGROUPS[subgroup].lower())
    ch.md("levels_sentence", "; ".join(f"{r['level']} {fmt.pct(r['estimate'])} "
                                       f"({fmt.interval(r['ci_low'], r['ci_high'])}; {int(r['k'])} "
                                       f"{'study' if r['k'] == 1 else 'studies'})" for _, r in levels.iterrows()))
    # how the two characteristics travel together, in words
    by_col = crosstab if subgroup == "disease_status" else crosstab.T
    parts = []
    for lv in by_col.columns:
        counts = by_col[lv][by_col[lv] > 0]
        parts.append(f"*{lv}*: " + ", ".join(f"{int(c)} {name}" for name, c in counts.items()))
    ch.md("crosstab_sentence", "; ".join(parts))
    ch.put("q_min_measure", float(by_measure["q_between"].min()))
    ch.put("q_max_measure", float(by_measure["q_between"].max()))
    ch.put("p_min_measure", float(by_measure["p"].min()))
    ch.put("p_max_measure", float(by_measure["p"].max()))
    ch.md("p_range_measure", _p_range(by_measure["p"]))
    # exercises
    if other in a.subgroups:
        _, t2 = primer.subgroup_table(ds, outcome, other, spec, data_version)
        ch.md("ex1_answer", f"By {SUBGROUPS[other].lower()}: Q between = {t2['q_between']:.2f} on {int(t2['df'])} df, "
                            f"{fmt.p_value(t2['p'])}; {t2['single_study_levels']} of its levels "
                            f"{'rests' if t2['single_study_levels'] == 1 else 'rest'} on a single study and "
                            f"{t2['excluded']} {'study has' if t2['excluded'] == 1 else 'studies have'} no level. Run the chapter with `subgroup={other!r}` to see the forest plot.")
    else:
        ch.md("ex1_answer", f"The paper does not analyse {fmt.md(_lower(a.label))} by {SUBGROUPS[other].lower()}.")
    single = levels[levels["k"] == 1]
    ch.md("ex2_answer", (f"{len(single)}: " + ", ".join(single["level"]) + ". A single study has no between-study "
                         "variance to estimate (τ² = 0), so its interval is that study's own confidence interval and "
                         "it enters Q between as if it were a precise summary of its whole subgroup.")
          if len(single) else "None: every level has at least two studies.")
    ex3 = other_choice(spec.measure, MEASURES, prefer=("PAS", PRIMARY.measure))
    ch.contrast("measure", spec.measure, ex3)
    ch.md("ex3_measure_label", MEASURE_LABELS[ex3])
    alt = by_measure.set_index("measure").loc[ex3]
    here = by_measure.set_index("measure").loc[spec.measure]
    ch.md("ex3_answer", f"On the {MEASURE_LABELS[ex3]} scale Q between = {alt['q_between']:.2f} ({int(alt['df'])} df), "
                        f"{fmt.p_value(alt['p'])}, against {here['q_between']:.2f}, {fmt.p_value(here['p'])} on this "
                        f"page's {MEASURE_LABELS[spec.measure]} scale; across the four measures "
                        f"{_p_range(by_measure['p'])}. The scale changes the weights, "
                        f"but not the confounding: the verdict on *why* the groups differ is the same.")
    # check yourself
    ch.md("check_question", f"How many degrees of freedom does the test for subgroup differences by "
                            f"{SUBGROUPS[subgroup].lower()} have here, and why that many?")
    ch.md("check_answer", f"{int(test_['df'])}: one fewer than the {len(levels)} subgroups with a pooled estimate "
                          f"(G − 1); the test compares {len(levels)} estimates with their weighted mean.")
    # the same computation in R: each level with its own τ², then the Wald-type test between them
    known = a.studies[a.studies[subgroup].notna()]
    transf = R_TRANSF[spec.measure].replace("dat$ni", "fits[[g]]$ni")
    fit = f'method = "{spec.method}", test = "{spec.test}", control = ctrl'
    ch.r(f"""{r_data(known["events"], known["total"], group=[str(v) for v in known[subgroup]])}
dat <- escalc(measure = "{spec.measure}", xi = xi, ni = ni, data = dat)
fits <- lapply(split(dat, dat$group), function(d) rma(yi, vi, data = d, {fit}))
for (g in names(fits)) {{ print(g); print(predict(fits[[g]]{transf})) }}
between <- rma(sapply(fits, coef), sei = sapply(fits, function(f) f$se), mods = ~ names(fits), method = "FE")
{r_print({"q_between": "between$QM", "q_df": "between$QMdf[1]"})}""")
    return ch
