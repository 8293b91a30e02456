"""The sensitivity page of an outcome (``notebooks/sensitivity.ipynb``): leave-one-out, which rows are pooled, the
model panel, influence, Baujat, GOSH, the cumulative analysis, meta-regression and the heterogeneity of the
prediction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown

from livingreview import format as fmt
from livingreview.book import common, figures
from livingreview.config import MEASURE_LABELS, TEST_SHORT
from livingreview.engine import plots
from livingreview.engine.heterogeneity import MAX_K as GOSH_MAX_K
from livingreview.review import diagnostics as dg
from livingreview.review.outcomes import OutcomeAnalysis, row_choices

READS = ("studies", "reports", "outcome_definitions", "versions", "outcomes[outcome={outcome}]")
#: Influence diagnostics need k > p + 1 studies (here p = 1): with fewer, every refit is exact.
MIN_K_INFLUENCE = 3


def context(ds, params: dict) -> dict:
    return {**common.outcome_context(ds, params["outcome"]), **common.spec_context(params)}


@dataclass(frozen=True)
class SensitivityPage:
    analysis: OutcomeAnalysis
    choices: tuple = ()
    panel: pd.DataFrame | None = None
    studies: pd.DataFrame | None = None  # per-study diagnostics, in publication-year order (k ≥ 3)
    years: dict | None = None  # study_id → publication year
    regressions: dict | None = None
    force_metareg: bool = False

    @property
    def pooled(self) -> bool:
        return self.analysis.overall is not None

    def sentence(self) -> Markdown:
        a = self.analysis
        label = fmt.md(a.label).lower()
        if not self.pooled:
            return Markdown(f"No study reports {label}.")
        p = self.panel.dropna(subset=["estimate"])
        text = (f"Across {len(p)} model specifications the pooled {label} ranged from {fmt.pct(p['estimate'].min())} "
                f"to {fmt.pct(p['estimate'].max())}.")
        if a.k >= 3:
            loo = self._loo()
            text += (f" Omitting one study at a time moved the primary estimate between "
                     f"{fmt.pct(np.nanmin(loo.prop_estimate))} and {fmt.pct(np.nanmax(loo.prop_estimate))}.")
        else:
            text += " Leave-one-out needs at least three studies to be informative."
        return Markdown(text)

    def _loo(self):
        from livingreview.engine.sensitivity import leave_one_out
        return leave_one_out(self.analysis.overall)

    def leave_one_out_table(self) -> HTML:
        a = self.analysis
        if not self.pooled or a.k < 2:
            return HTML("<p>Not applicable: leave-one-out needs at least two studies.</p>")
        loo = self._loo()
        table = pd.DataFrame({
            "Omitted study": loo.label,
            "Estimate (95% CI)": [f"{fmt.pct(e)} ({fmt.interval(lo, hi)})"
                                  for e, lo, hi in zip(loo.prop_estimate, loo.prop_ci_low, loo.prop_ci_high)],
            "τ²": [fmt.number(t, 3) for t in loo.tau2],
            "I²": [fmt.i2_cell(i) for i in loo.i2],
        })
        return HTML(common.fold("The estimates in a table", common.html_table(table)))

    def leave_one_out_plot(self):
        a = self.analysis
        if not self.pooled or a.k < 2:
            return figures.message_figure("Leave-one-out needs at least two studies.")
        return figures.leave_one_out_figure(self._loo(), a.overall.proportion(), a.label)

    def row_choices_table(self) -> HTML:
        """The primary estimate beside the estimates from other choices of rows (population, overlapping cohorts,
        bounds)."""
        if not self.pooled:
            return HTML("<p>No study reports this outcome.</p>")
        if len(self.choices) == 1:
            return HTML("<p>Every pooled row counts the outcome's stated population, no two pooled studies share "
                        "patients and no count is only a bound, so no other choice of rows arises.</p>")
        rows = []
        for name, analysis, change in self.choices:
            p = analysis.overall.proportion() if analysis.overall is not None else None
            rows.append({"Rows pooled": name, "k": analysis.k,
                         "Estimate (95% CI)": f"{fmt.pct(p.estimate)} ({fmt.interval(p.ci_low, p.ci_high)})"
                         if p is not None else "no rows",
                         "I²": fmt.i2_cell(analysis.overall.i2) if p is not None else "", "What changes": change})
        return common.html(pd.DataFrame(rows))

    def panel_table(self) -> HTML:
        """Every transformation × τ² estimator × test, and the GLMM; the page's analysis and the paper's probable
        model named in the first column."""
        if not self.pooled:
            return HTML("<p>No study reports this outcome.</p>")
        p = self.panel
        spec = [("Binomial–normal GLMM (logit, ML)" if m == "GLMM" else
                 f"{MEASURE_LABELS[m].capitalize()}, {me}, {TEST_SHORT[t]}")
                + (" — this page" if primary else " — paper's probable" if paper else "")
                for m, me, t, primary, paper in zip(p["measure"], p["method"], p["test"], p["primary"], p["paper"])]
        table = pd.DataFrame({
            "Specification": spec,
            "Estimate (95% CI)": [f"{fmt.pct(e)} ({fmt.interval(lo, hi)})" if np.isfinite(e) else "not estimable"
                                  for e, lo, hi in zip(p["estimate"], p["ci_low"], p["ci_high"])],
            "95% PI": [fmt.interval(lo, hi) for lo, hi in zip(p["pi_low"], p["pi_high"])],
            "τ²": [fmt.number(t, 3) for t in p["tau2"]],
            "I²": [fmt.i2_cell(i) for i in p["i2"]],
            "Note": p["note"].fillna(""),
        })
        return HTML(common.fold(f"The {len(table)} specifications in a table", common.html_table(table)))

    def panel_plot(self):
        if not self.pooled:
            return figures.message_figure("No study reports this outcome.")
        return figures.specification_figure(self.panel, self.analysis.label)

    def influence_table(self) -> HTML:
        """metafor's influence diagnostics per study, with its flag for influential studies."""
        if not self.pooled or self.analysis.k < MIN_K_INFLUENCE:
            return HTML(f"<p>Not applicable: influence diagnostics need at least {MIN_K_INFLUENCE} studies.</p>")
        d = self.studies
        numbers = lambda column, digits: [fmt.number(x, digits) for x in d[column]]  # noqa: E731
        table = pd.DataFrame({
            "Study": d["label"], "Externally standardised residual": numbers("rstudent", 2),
            "DFFITS": numbers("dffits", 2), "Cook's distance": numbers("cook_d", 2),
            "Covariance ratio": numbers("cov_r", 2), "τ² without": numbers("tau2_del", 3),
            "Q without": numbers("qe_del", 1), "Hat": numbers("hat", 3), "Weight": [f"{x:.1f}%" for x in d["weight"]],
            "Influential": ["yes" if x else "" for x in d["influential"]],
        })
        flagged = [lab for lab, x in zip(d["label"], d["influential"]) if x]
        lead = (f"<p>Flagged as influential: {common.esc('; '.join(flagged))}.</p>" if flagged else
                "<p>No study is flagged as influential.</p>")
        return HTML(lead + common.fold("The diagnostics of each study", common.html_table(table)))

    def influence_plot(self):
        if not self.pooled or self.analysis.k < MIN_K_INFLUENCE:
            return figures.message_figure(f"Influence diagnostics need at least {MIN_K_INFLUENCE} studies.")
        return plots.influence_plot(self.analysis.overall)

    def baujat_plot(self):
        if not self.pooled or self.analysis.k < MIN_K_INFLUENCE:
            return figures.message_figure(f"The Baujat plot needs at least {MIN_K_INFLUENCE} studies.")
        return plots.baujat_plot(self.analysis.overall, labels=True)

    def gosh_plot(self):
        a = self.analysis
        if not self.pooled or not MIN_K_INFLUENCE <= a.k <= GOSH_MAX_K:
            return figures.message_figure(f"GOSH needs between {MIN_K_INFLUENCE} and {GOSH_MAX_K} studies.")
        from livingreview.engine.heterogeneity import gosh
        return plots.gosh_plot(gosh(a.overall))

    def cumulative_plot(self):
        a = self.analysis
        if not self.pooled or a.k < 2:
            return figures.message_figure("A cumulative analysis needs at least two studies.")
        from livingreview.engine.sensitivity import cumulative
        order = [self.years.get(sid, np.nan) for sid in a.studies["study_id"]]
        cum = cumulative(a.overall, order=[np.inf if np.isnan(y) else y for y in order])  # unknown years last
        return plots.cumulative_plot(cum, title=f"{a.label}: studies added in publication-year order")

    def cumulative_note(self) -> Markdown:
        if not self.pooled:
            return Markdown("")
        s = self.analysis.studies
        unknown = [lab for sid, lab in zip(s["study_id"], s["display_label"]) if np.isnan(self.years.get(sid, np.nan))]
        return Markdown(f"Added last, publication year unknown: {fmt.md('; '.join(unknown))}." if unknown else "")

    def regression_table(self) -> HTML:
        """One block of rows per moderator: its coefficients (logit scale), QM test, R², or why it is not fitted."""
        if not self.pooled:
            return HTML("<p>No study reports this outcome.</p>")
        rows = []
        for name, reg in self.regressions.items():
            if isinstance(reg, str) or not reg.applicable:
                rows.append({"Moderator": name, "Term": "", "Coefficient (95% CI)": "", "p": "", "QM test": "",
                             "R²": "", "k": "", "Note": reg if isinstance(reg, str) else
                             reg.reason.replace("use force=True", "set the page parameter force_metareg = True")})
                continue
            qm = (f"F({reg.qm_df}, {fmt.number(reg.qm_df2, 0)}) = {fmt.number(reg.qm, 2)}" if reg.test != "z"
                  else f"χ²({reg.qm_df}) = {fmt.number(reg.qm, 2)}") + f", {fmt.p_value(reg.qm_p)}"
            for i, term in enumerate(reg.names):
                coefficient = (f"{fmt.number(reg.beta[i], 3)} "
                               f"({fmt.number(reg.ci_low[i], 3)} to {fmt.number(reg.ci_high[i], 3)})")
                rows.append({"Moderator": name if i == 0 else "", "Term": term, "Coefficient (95% CI)": coefficient,
                             "p": fmt.p_value(reg.pval[i]), "QM test": qm if i == 0 else "",
                             "R²": f"{fmt.number(reg.r2, 1)}%" if i == 0 else "", "k": str(reg.k) if i == 0 else "",
                             "Note": "; ".join(reg.notes) if i == 0 else ""})
        return common.html(pd.DataFrame(rows))

    def bubble_plot(self):
        reg = (self.regressions or {}).get("publication year")
        if reg is None or isinstance(reg, str) or not reg.applicable:
            return figures.message_figure("No meta-regression on publication year (the table above says why).")
        return plots.bubble_plot(reg, "publication year", title=f"{self.analysis.label} by publication year")

    def heterogeneity_table(self) -> HTML:
        """τ² with its Q-profile 95% CI, and the probability that a new study's proportion exceeds each threshold."""
        a = self.analysis
        if not self.pooled or a.k < 2:
            return HTML("<p>Not applicable: heterogeneity needs at least two studies.</p>")
        ci = dg.heterogeneity_interval(a)
        rows = [{"Quantity": "τ² (95% CI, Q-profile)",
                 "Value": f"{fmt.number(ci.tau2[0], 3)} ({ci.lb_sign}{fmt.number(ci.tau2[1], 3)} to "
                          f"{ci.ub_sign}{fmt.number(ci.tau2[2], 3)})"},
                {"Quantity": "I² (95% CI)", "Value": f"{fmt.number(ci.i2[0], 1)}% ({fmt.number(ci.i2[1], 1)}% to "
                                                      f"{fmt.number(ci.i2[2], 1)}%)"}]
        for _, r in dg.predictive_table(a).iterrows():
            rows.append({"Quantity": f"P(a new study's proportion > {fmt.pct(r['threshold'], 0)})",
                         "Value": fmt.pct(r["probability"]) if np.isfinite(r["probability"]) else r["note"]})
        return common.html(pd.DataFrame(rows))


def load(outcome: str, data_dir="data", data_version=None, measure=None, method=None, test=None,
         pi_dist=None, force_metareg=False) -> SensitivityPage:
    ds = common.dataset(READS, data_dir, f"the {outcome} sensitivity page", outcome=outcome)
    spec = common.spec_from(measure, method, test, pi_dist)
    choices = tuple(row_choices(ds, outcome, spec, data_version=data_version))
    a = choices[0][1]
    if a.overall is None:
        return SensitivityPage(a, choices)
    return SensitivityPage(a, choices, dg.model_panel(ds, outcome, spec, data_version=data_version),
                           dg.study_diagnostics(ds, a) if a.k >= MIN_K_INFLUENCE else None, dg.study_years(ds),
                           dg.meta_regressions(ds, a, force=force_metareg), force_metareg)
