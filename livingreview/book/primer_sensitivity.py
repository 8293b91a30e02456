"""Methods primer, chapter 6: sensitivity analyses (``notebooks/primer_sensitivity.ipynb``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from IPython.display import HTML
from matplotlib.figure import Figure

from livingreview import format as fmt
from livingreview.book import common
from livingreview.book.chapter import (
    COLOURS,
    FONT,
    MEASURE_NAMES,
    R_TRANSF,
    Chapter,
    _lower,
    _need_k,
    _new_figure,
    _pp,
    context as chapter_context,
    outcome_words,
    r_data,
    r_fit,
    r_predict,
    r_print,
    spec_words,
)
from livingreview.review import primer
from livingreview.review.outcomes import analyse_outcome

#: What the template's Markdown needs (the outcome's words, the analysis), shared by every chapter.
context = chapter_context

READS = ("studies", "outcomes", "outcome_definitions", "versions")


@dataclass
class SensitivityChapter(Chapter):
    outcome: str = ""
    label: str = ""
    analysis: object = None
    influence: primer.Influence | None = None
    grid: pd.DataFrame | None = None

    def loo_table(self) -> HTML:
        t = self.influence.table
        return common.html(pd.DataFrame({
            "Omitted study": t["omitted"],
            "Estimate (95% CI)": [f"{fmt.pct(e)} ({fmt.interval(a, b)})"
                                  for e, a, b in zip(t["estimate"], t["ci_low"], t["ci_high"])],
            "Shift (points)": [f"{s:+.1f}" for s in t["shift_pp"]],
            "τ²": [fmt.number(v, 3) for v in t["tau2"]],
            "I²": [fmt.i2_cell(v) for v in t["i2"]],
        }))

    def loo_figure(self):
        from livingreview.book import figures
        from livingreview.engine.sensitivity import leave_one_out
        a = self.analysis
        return figures.leave_one_out_figure(leave_one_out(a.overall), a.overall.proportion(), a.label)

    def grid_table(self) -> HTML:
        g = self.grid
        return common.html(pd.DataFrame({
            "Measure": [MEASURE_NAMES[m] for m in g["measure"]], "τ² estimator": g["method"],
            "Estimate (95% CI)": [f"{fmt.pct(e)} ({fmt.interval(a, b)})"
                                  for e, a, b in zip(g["estimate"], g["ci_low"], g["ci_high"])],
            "τ² (own scale)": [fmt.number(v, 3) for v in g["tau2"]],
            "": ["← this page's analysis" if p else "" for p in g["primary"]],
        }))

    def grid_figure(self) -> Figure:
        g = self.grid
        fig, ax = _new_figure(6.4, 0.24 * len(g) + 1.0)
        y = np.arange(len(g))[::-1]
        colours = [COLOURS.get(m, "#000000") for m in g["measure"]]
        ax.hlines(y, 100 * g["ci_low"], 100 * g["ci_high"], color=colours, lw=1.4)
        ax.scatter(100 * g["estimate"], y, color=colours, s=[40 if p else 16 for p in g["primary"]], zorder=3)
        ax.set_yticks(y, [f"{m}, {me}" for m, me in zip(g["measure"], g["method"])], fontsize=8)
        primary = g[g["primary"]]
        if not primary.empty:
            ax.axvline(100 * primary["estimate"].iloc[0], color="#999999", lw=0.8, ls=":")
        ax.set_xlabel(f"Pooled {_lower(self.label)} (%) with 95% CI", fontsize=FONT)
        ax.grid(axis="x", color="#eeeeee")
        return fig


def load(outcome: str = "overall_response", data_dir="data", data_version=None, measure=None, method=None,
                test=None, pi_dist=None) -> SensitivityChapter:
    ds = common.dataset(READS, data_dir, "this chapter")
    spec = common.spec_from(measure, method, test, pi_dist)
    _need_k(ds, outcome, 3, data_version, "The sensitivity chapter")
    a = analyse_outcome(ds, outcome, spec, data_version=data_version)
    x, n = a.studies["events"].to_numpy(), a.studies["total"].to_numpy()
    infl = primer.influence_summary(a.overall)
    methods = ("DL", "REML", "PM", "ML") + (("FE",) if spec.method == "FE" else ())  # the page's own cell is in it
    grid = primer.specification_grid(x, n, spec, methods=methods)
    ch = SensitivityChapter(spec=spec, outcome=outcome, label=a.label, analysis=a, influence=infl, grid=grid)
    spec_words(ch)
    outcome_words(ch, a.label)
    before, after = infl.tau2_full, infl.tau2_without
    ch.md("tau2_change", f"stays at {before:.3f}" + (" (a common-effect model has none)" if spec.method == "FE" else "")
          if round(before, 3) == round(after, 3) else
          f"{'falls' if after < before else 'rises'} from {before:.3f} to {after:.3f}")
    ch.put("k", a.k)
    ch.put("estimate", _pp(infl.full))
    ch.md("influential", fmt.md(infl.label))
    ch.put("shift", infl.shift_pp)
    ch.put("shift_abs", abs(infl.shift_pp))
    ch.put("loo_low", _pp(infl.low))
    ch.put("loo_high", _pp(infl.high))
    ch.put("loo_excluding", infl.excluding_full)
    ch.md("loo_excluding_sentence",
          "None of the leave-one-out confidence intervals excludes the full estimate."
          if infl.excluding_full == 0 else
          f"{infl.excluding_full} of the {a.k} leave-one-out confidence intervals exclude the full estimate.")
    ch.put("tau2_full", infl.tau2_full)
    ch.put("tau2_without", infl.tau2_without)
    ch.put("i2_full", infl.i2_full)
    ch.put("i2_without", infl.i2_without)
    ch.put("n_specs", len(grid))
    lo, hi = grid.loc[grid["estimate"].idxmin()], grid.loc[grid["estimate"].idxmax()]
    ch.put("grid_low", _pp(lo["estimate"]))
    ch.put("grid_high", _pp(hi["estimate"]))
    ch.put("grid_spread", _pp(hi["estimate"] - lo["estimate"]))
    ch.md("grid_low_spec", f"{lo['measure']}, {lo['method']}")
    ch.md("grid_high_spec", f"{hi['measure']}, {hi['method']}")
    glmm = grid[grid["measure"] == "GLMM"].iloc[0]
    ch.put("glmm", _pp(glmm["estimate"]))
    ch.put("ci_width_primary", _pp(a.overall.proportion().ci_high - a.overall.proportion().ci_low))
    # exercises
    ch.md("ex1_answer", f"Omitting **{fmt.md(infl.label)}** moves the estimate by {infl.shift_pp:+.1f} points (from "
                        f"{fmt.pct(infl.full)}); τ² goes from {infl.tau2_full:.3f} to {infl.tau2_without:.3f} and "
                        f"I² from {infl.i2_full:.1f}% to {infl.i2_without:.1f}%. {infl.excluding_full} of the "
                        f"{a.k} leave-one-out confidence intervals exclude the full estimate.")
    by_measure = grid[grid["measure"] != "GLMM"].groupby("measure", sort=False)["estimate"].mean()
    ch.md("ex2_answer", f"Highest: {hi['measure']}, {hi['method']} ({fmt.pct(hi['estimate'])}); lowest: "
                        f"{lo['measure']}, {lo['method']} ({fmt.pct(lo['estimate'])}). Averaged over the τ² "
                        f"estimators: " + ", ".join(f"{m} {fmt.pct(v)}" for m, v in by_measure.items())
                        + f"; GLMM {fmt.pct(glmm['estimate'])}. The measure matters more than the estimator when "
                          f"the proportions are near 0 or 1 and heterogeneity is large.")
    ch.md("ex3_answer", f"The spread across the {len(grid)} specifications is {100 * (hi['estimate'] - lo['estimate']):.1f} "
                        f"points, against a 95% CI {100 * (a.overall.proportion().ci_high - a.overall.proportion().ci_low):.1f} "
                        f"points wide in this page's analysis: "
                        + ("smaller than the statistical uncertainty — the choice of model is not what limits this estimate."
                           if hi["estimate"] - lo["estimate"] < a.overall.proportion().ci_high - a.overall.proportion().ci_low
                           else "as large as the statistical uncertainty — report the model choice prominently."))
    # check yourself
    full = a.overall.proportion()
    outside = infl.table[(infl.table["estimate"] < full.ci_low) | (infl.table["estimate"] > full.ci_high)]
    ch.put("loo_outside_ci", len(outside))
    ch.md("check_question", f"How many of the {a.k} leave-one-out estimates fall outside this page's 95% CI of the "
                            f"full estimate ({fmt.interval(full.ci_low, full.ci_high)})?")
    ch.md("check_answer", f"{len(outside)}: they run from {fmt.pct(infl.low)} to {fmt.pct(infl.high)}"
                          + (f"; outside: {', '.join(fmt.md(v) for v in outside['omitted'])} omitted."
                             if len(outside) else ", all inside it."))
    # the same computation in R
    ch.r(f"""{r_data(x, n, study=list(a.studies["display_label"]))}
{r_fit(spec)}
{r_predict(spec)}
l1o <- leave1out(res{R_TRANSF[spec.measure]})
print(data.frame(omitted = dat$study, estimate = round(100 * l1o$estimate, 2)))
{r_print({"estimate": "p$pred", "loo_low": "min(l1o$estimate)", "loo_high": "max(l1o$estimate)"}, percent=True)}
{r_print({"tau2_full": "res$tau2"})}""")
    return ch
