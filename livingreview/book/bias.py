"""The publication-bias page of an outcome (``notebooks/bias.ipynb``): funnel plot, Egger, Begg, trim-and-fill."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from IPython.display import HTML, Markdown

from livingreview import format as fmt
from livingreview.book import common, figures
from livingreview.config import MIN_K_BIAS
from livingreview.engine import plots
from livingreview.review.outcomes import OutcomeAnalysis, analyse_outcome

READS = ("studies", "outcome_definitions", "versions", "outcomes[outcome={outcome}]")
#: The contour-enhanced funnel's regions (Peters et al. 2008): where a study would be significant at these levels.
FUNNEL_CONTOURS = (0.90, 0.95, 0.99)


def context(ds, params: dict) -> dict:
    return {**common.outcome_context(ds, params["outcome"]), **common.spec_context(params), "min_k_bias": MIN_K_BIAS}


@dataclass(frozen=True)
class BiasPage:
    analysis: OutcomeAnalysis
    egger: object | None
    begg: object | None
    trimfill: object | None

    def sentence(self) -> Markdown:
        a = self.analysis
        label = fmt.md(a.label).lower()
        if a.overall is None:
            return Markdown(f"No study reports {label}, so there is nothing to test.")
        if not self.egger.applicable:
            return Markdown(f"With {a.k} {'study' if a.k == 1 else 'studies'} — fewer than {MIN_K_BIAS} — Egger's and "
                            f"Begg's tests and trim-and-fill are **not applicable**: they cannot tell small-study "
                            f"effects from chance at this size. The funnel plot is shown for completeness only.")
        text = (f"Egger's regression test: {fmt.p_value(self.egger.pval)} (k = {a.k}); "
                f"Begg's rank correlation: Kendall's τ = {self.begg.tau:.3f}, {fmt.p_value(self.begg.pval)}.")
        if self.trimfill is None:
            text += " Egger's p ≥ 0.05, so trim-and-fill was not triggered (the paper's rule)."
        else:
            p = self.trimfill.res.proportion()
            text += (f" Egger's p < 0.05, so trim-and-fill was applied: {self.trimfill.k0} "
                     f"{'study was' if self.trimfill.k0 == 1 else 'studies were'} imputed on the {self.trimfill.side} "
                     f"side, giving an adjusted estimate of {fmt.pct(p.estimate)} "
                     f"(95% CI: {fmt.interval(p.ci_low, p.ci_high)}) — a sensitivity analysis, not a correction.")
        return Markdown(text)

    def funnel(self, yaxis: str = "sei"):
        """Contour-enhanced funnel plot (90/95/99% regions around the pooled estimate), estimates labelled in
        percent; ``yaxis`` "sei" (standard error, with Egger's line where Egger applies) or "sqrtninv" (1/√n:
        the standard error of a proportion depends on the proportion itself)."""
        a = self.analysis
        if a.overall is None:
            return figures.message_figure(f"No study in the dataset reports {a.label.lower()}.")
        egger = self.egger if yaxis == "sei" and self.egger is not None and self.egger.applicable else None
        return plots.funnel_plot(a.overall, trimfill=self.trimfill, egger=egger, title=a.label, yaxis=yaxis,
                                 contours=FUNNEL_CONTOURS, percent=True)

    def tests_table(self) -> HTML:
        if self.analysis.overall is None or not self.egger.applicable:
            return HTML(f"<p>Not applicable (k = {self.analysis.k} &lt; {MIN_K_BIAS}).</p>")
        e, b = self.egger, self.begg
        rows = [
            {"Test": "Egger's regression (classical, weighted by 1/v, predictor SE)",
             "Statistic": f"t = {e.t:.3f} (df = {int(e.df)})", "p": fmt.p_value(e.pval).removeprefix("p ")},
            {"Test": "Begg's rank correlation", "Statistic": f"Kendall's τ = {b.tau:.3f}",
             "p": fmt.p_value(b.pval).removeprefix("p ")},
        ]
        if self.trimfill is not None:
            p = self.trimfill.res.proportion()
            rows.append({"Test": f"Trim-and-fill ({self.trimfill.estimator}), {self.trimfill.k0} imputed",
                         "Statistic": f"adjusted {fmt.pct(p.estimate)} ({fmt.interval(p.ci_low, p.ci_high)})",
                         "p": ""})
        return common.html(pd.DataFrame(rows))


def load(outcome: str, data_dir="data", data_version=None, force=False, measure=None, method=None, test=None,
         pi_dist=None) -> BiasPage:
    from livingreview.engine.bias import begg_test, egger_test, trimfill

    ds = common.dataset(READS, data_dir, f"the {outcome} bias page", outcome=outcome)
    a = analyse_outcome(ds, outcome, common.spec_from(measure, method, test, pi_dist), data_version=data_version)
    if a.overall is None:
        return BiasPage(a, None, None, None)
    eg = egger_test(a.overall, force=force, min_k=MIN_K_BIAS)
    bg = begg_test(a.overall, force=force, min_k=MIN_K_BIAS)
    tf = None
    if eg.applicable and eg.pval < 0.05:  # the paper's rule: trim-and-fill only when Egger's p < 0.05
        tf = trimfill(a.overall, force=force, min_k=MIN_K_BIAS)
    return BiasPage(a, eg, bg, tf)
