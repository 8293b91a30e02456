"""The sensitivity page of an outcome (``notebooks/sensitivity.ipynb``): leave-one-out and other specifications."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown

from livingreview import format as fmt
from livingreview.book import common, figures
from livingreview.config import SENSITIVITY_SPECS
from livingreview.review.outcomes import OutcomeAnalysis, analyse_outcome, row_choices

READS = ("studies", "outcome_definitions", "versions", "outcomes[outcome={outcome}]")


def context(ds, params: dict) -> dict:
    return {**common.outcome_context(ds, params["outcome"]), **common.spec_context(params)}


@dataclass(frozen=True)
class SensitivityPage:
    analysis: OutcomeAnalysis
    specifications: pd.DataFrame
    choices: tuple = ()

    def sentence(self) -> Markdown:
        a = self.analysis
        label = fmt.md(a.label).lower()
        if a.overall is None:
            return Markdown(f"No study reports {label}.")
        s = self.specifications
        lo, hi = s["estimate"].min(), s["estimate"].max()
        text = f"Across {len(s)} specifications the pooled {label} ranged from {fmt.pct(lo)} to {fmt.pct(hi)}."
        if a.k >= 3:
            loo = self._loo()
            text += (f" Omitting one study at a time moved the primary estimate between "
                     f"{fmt.pct(loo.prop_estimate.min())} and {fmt.pct(loo.prop_estimate.max())}.")
        else:
            text += " Leave-one-out needs at least three studies to be informative."
        return Markdown(text)

    def _loo(self):
        from livingreview.engine.sensitivity import leave_one_out
        return leave_one_out(self.analysis.overall)

    def leave_one_out_table(self) -> HTML:
        a = self.analysis
        if a.overall is None or a.k < 2:
            return HTML("<p>Not applicable: leave-one-out needs at least two studies.</p>")
        loo = self._loo()
        table = pd.DataFrame({
            "Omitted study": loo.label,
            "Estimate (95% CI)": [f"{fmt.pct(e)} ({fmt.interval(l, h)})"
                                  for e, l, h in zip(loo.prop_estimate, loo.prop_ci_low, loo.prop_ci_high)],
            "τ²": [fmt.number(t, 3) for t in loo.tau2],
            "I²": [fmt.i2_cell(i) for i in loo.i2],
        })
        return common.html(table)

    def leave_one_out_plot(self):
        a = self.analysis
        if a.overall is None or a.k < 2:
            return figures.message_figure("Leave-one-out needs at least two studies.")
        return figures.leave_one_out_figure(self._loo(), a.overall.proportion(), a.label)

    def row_choices_table(self) -> HTML:
        """The primary estimate beside the estimates from other choices of rows (population, bounds)."""
        if self.analysis.overall is None:
            return HTML("<p>No study reports this outcome.</p>")
        if len(self.choices) == 1:
            return HTML("<p>Every pooled row counts the outcome's stated population and no count is only a bound, "
                        "so no other choice of rows arises.</p>")
        rows = []
        for name, analysis, change in self.choices:
            p = analysis.overall.proportion() if analysis.overall is not None else None
            rows.append({"Rows pooled": name, "k": analysis.k,
                         "Estimate (95% CI)": f"{fmt.pct(p.estimate)} ({fmt.interval(p.ci_low, p.ci_high)})"
                         if p is not None else "no rows",
                         "I²": fmt.i2_cell(analysis.overall.i2) if p is not None else "", "What changes": change})
        return common.html(pd.DataFrame(rows))

    def specifications_table(self) -> HTML:
        if self.specifications.empty:
            return HTML("<p>No study reports this outcome.</p>")
        s = self.specifications
        table = pd.DataFrame({
            "Specification": s["specification"],
            "Estimate (95% CI)": [f"{fmt.pct(e)} ({fmt.interval(l, h)})"
                                  for e, l, h in zip(s["estimate"], s["ci_low"], s["ci_high"])],
            "95% PI": [fmt.interval(l, h) for l, h in zip(s["pi_low"], s["pi_high"])],
            "τ²": [fmt.number(t, 3) for t in s["tau2"]],
            "I²": [fmt.i2_cell(i) for i in s["i2"]],
            "Note": s["note"],
        })
        return common.html(table)


def load(outcome: str, data_dir="data", data_version=None, measure=None, method=None, test=None,
         pi_dist=None) -> SensitivityPage:
    from livingreview.engine.glmm import rma_glmm

    ds = common.dataset(READS, data_dir, f"the {outcome} sensitivity page", outcome=outcome)
    spec = common.spec_from(measure, method, test, pi_dist)
    choices = tuple(row_choices(ds, outcome, spec, data_version=data_version))
    a = choices[0][1]
    if a.overall is None:
        return SensitivityPage(a, pd.DataFrame(), choices)
    rows = []
    specs = {"This page's analysis": spec} | {k: v for k, v in SENSITIVITY_SPECS.items() if v != spec}
    for name, other in specs.items():
        res = analyse_outcome(ds, outcome, other, data_version=data_version).overall
        p = res.proportion()
        rows.append({"specification": name, "estimate": p.estimate, "ci_low": p.ci_low, "ci_high": p.ci_high,
                     "pi_low": p.pi_low, "pi_high": p.pi_high, "tau2": res.tau2, "i2": res.i2,
                     "note": "; ".join(res.notes)})
    g = rma_glmm(a.studies["events"].to_numpy(), a.studies["total"].to_numpy(),
                 labels=tuple(a.studies["display_label"]))
    gp = g.proportion()
    rows.append({"specification": "Binomial–normal GLMM (logit, ML)", "estimate": gp.estimate, "ci_low": gp.ci_low,
                 "ci_high": gp.ci_high, "pi_low": np.nan, "pi_high": np.nan, "tau2": g.tau2, "i2": np.nan,
                 "note": "; ".join(getattr(g, "notes", ()))})
    return SensitivityPage(a, pd.DataFrame(rows), choices)
