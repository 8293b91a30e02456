"""Methods primer, chapter 5: small-study effects (``notebooks/primer_small_study_effects.ipynb``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from IPython.display import HTML
from matplotlib.figure import Figure

from livingreview import format as fmt
from livingreview.book import common
from livingreview.book.chapter import (
    FONT,
    Chapter,
    _need_k,
    _pp,
    context as chapter_context,
    other_choice,
    outcome_words,
    r_data,
    r_fit,
    r_print,
    spec_words,
)
from livingreview.config import MEASURE_LABELS, MEASURES, MIN_K_BIAS
from livingreview.review import primer
from livingreview.review.outcomes import analyse_outcome

#: What the template's Markdown needs (the outcome's words, the analysis), shared by every chapter.
context = chapter_context

READS = ("studies", "outcomes", "outcome_definitions", "versions")


@dataclass
class SmallStudyChapter(Chapter):
    outcome: str = ""
    label: str = ""
    analysis: object = None
    tests: primer.SmallStudyTests | None = None
    power: primer.EggerPower | None = None

    def funnel(self):
        from livingreview.engine import plots
        t = self.tests
        egger = t.egger if t.egger.applicable else None
        tf = t.trimfill_l0 if t.trimfill_l0.applicable and t.trimfill_l0.k0 > 0 else None
        return plots.funnel_plot(self.analysis.overall, trimfill=tf, egger=egger, title=self.label)

    def tests_table(self) -> HTML:
        t = self.tests
        if not t.applicable:
            return HTML(f"<p>Not run: k = {t.k} &lt; {MIN_K_BIAS}. Set <code>force = True</code> to run them anyway "
                        f"(teaching only).</p>")
        rows = [
            {"Test": "Egger (classical; predictor SE)", "Statistic": f"t = {t.egger.t:.2f} (df {t.egger.df})",
             "p": fmt.p_value(t.egger.pval).removeprefix("p ")},
            {"Test": "Egger (predictor 1/√n)", "Statistic": f"t = {t.egger_sqrtninv.t:.2f} (df {t.egger_sqrtninv.df})",
             "p": fmt.p_value(t.egger_sqrtninv.pval).removeprefix("p ")},
            {"Test": "Begg (rank correlation)", "Statistic": f"Kendall's τ = {t.begg.tau:.3f}",
             "p": fmt.p_value(t.begg.pval).removeprefix("p ")},
        ]
        for tf in (t.trimfill_l0, t.trimfill_r0):
            p = tf.res.proportion()
            rows.append({"Test": f"Trim-and-fill ({tf.estimator})",
                         "Statistic": f"{tf.k0} imputed{'' if tf.k0 == 0 else ' on the ' + tf.side}; adjusted "
                                      f"{fmt.pct(p.estimate)} ({fmt.interval(p.ci_low, p.ci_high)})",
                         "p": "" if math.isnan(tf.p_k0) else fmt.p_value(tf.p_k0).removeprefix("p ")})
        return common.html(pd.DataFrame(rows))

    def power_table(self) -> HTML:
        t = self.power.table
        return common.html(pd.DataFrame({
            "Scenario": t["scenario"], "k": t["k"],
            "Egger, SE predictor": [fmt.pct(v) for v in t["egger"]],
            "Egger, 1/√n predictor": [fmt.pct(v) for v in t["egger_sqrtninv"]],
            "Begg": [fmt.pct(v) for v in t["begg"]],
        }))

    def power_figure(self) -> Figure:
        t = self.power.table
        fig = Figure(figsize=(7.0, 3.2), dpi=100)
        axes = fig.subplots(1, 2, sharey=True)
        styles = {"egger": ("Egger, SE", "#d95f02", "o"), "egger_sqrtninv": ("Egger, 1/√n", "#1b9e77", "s"),
                  "begg": ("Begg", "#7570b3", "^")}
        for ax, scenario in zip(axes, ("no selection", "selection")):
            d = t[t["scenario"] == scenario]
            for col, (name, colour, marker) in styles.items():
                ax.plot(d["k"], 100 * d[col], marker=marker, color=colour, lw=1.4, ms=4, label=name)
            ax.axhline(100 * self.power.alpha, color="#999999", lw=0.8, ls=":")
            ax.axvline(MIN_K_BIAS, color="#cccccc", lw=0.8)
            ax.set_xscale("log")
            ax.set_xticks(list(self.power.k_values), [str(k) for k in self.power.k_values])
            ax.minorticks_off()
            ax.set_ylim(0, 100)
            ax.set_xlabel("Studies in the review (k)", fontsize=FONT)
            ax.set_title("No selection: false positives" if scenario == "no selection"
                         else "Selection: power", fontsize=FONT)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            ax.tick_params(labelsize=8)
        axes[0].set_ylabel(f"Reviews with p < {self.power.alpha:g} (%)", fontsize=FONT)
        axes[1].legend(fontsize=8, frameon=False, loc="upper left")
        fig.tight_layout()
        return fig


def load(outcome: str = "overall_response", data_dir="data", data_version=None, measure=None,
                        method=None, test=None, pi_dist=None, force: bool = False, seed: int = 20250601,
                        n_sims: int = 400, publish_prob: float = 0.0, alpha: float = 0.05,
                        k_values=(5, 10, 20, 40)) -> SmallStudyChapter:
    ds = common.dataset(READS, data_dir, "this chapter")
    spec = common.spec_from(measure, method, test, pi_dist)
    _need_k(ds, outcome, 3, data_version, "The small-study chapter")
    a = analyse_outcome(ds, outcome, spec, data_version=data_version)
    tests = primer.small_study_tests(a.overall, force=bool(force), min_k=MIN_K_BIAS)
    n = a.studies["total"].to_numpy()
    # the simulation draws true logits: it needs p and τ² on the logit scale, whatever the page's measure
    logit_fit = analyse_outcome(ds, outcome, spec.with_(measure="PLO", method=spec.method if spec.method != "FE" else "REML"),
                                data_version=data_version).overall
    p_true = logit_fit.proportion().estimate
    k_values = tuple(int(k) for k in k_values)
    power = primer.egger_power(n, p_true, logit_fit.tau2, k_values=k_values, n_sims=int(n_sims), seed=int(seed),
                               alpha=float(alpha), publish_prob=float(publish_prob), measure=spec.measure)
    ch = SmallStudyChapter(spec=spec, outcome=outcome, label=a.label, analysis=a, tests=tests, power=power)
    spec_words(ch)
    outcome_words(ch, a.label)
    ch.put("k", a.k)
    ch.put("min_k", MIN_K_BIAS)
    ch.put("applicable", bool(tests.applicable))
    if tests.applicable:
        ch.md("egger_p", fmt.p_value(tests.egger.pval))
        ch.md("egger_n_p", fmt.p_value(tests.egger_sqrtninv.pval))
        ch.md("begg_p", fmt.p_value(tests.begg.pval))
        ch.put("tf_k0", tests.trimfill_l0.k0)
        ch.md("tf_side", tests.trimfill_l0.side or "")
        ch.md("tf_estimate", fmt.pct(tests.trimfill_l0.res.proportion().estimate))
        ch.md("tests_sentence",
              f"Egger's classical test gives {fmt.p_value(tests.egger.pval)}, the same regression on 1/√n "
              f"{fmt.p_value(tests.egger_sqrtninv.pval)} and Begg's rank correlation "
              f"{fmt.p_value(tests.begg.pval)}. Trim-and-fill (L0) imputes {tests.trimfill_l0.k0} "
              f"{'study' if tests.trimfill_l0.k0 == 1 else 'studies'}"
              + (f" on the {tests.trimfill_l0.side}, moving the estimate from "
                 f"{fmt.pct(a.overall.proportion().estimate)} to "
                 f"{fmt.pct(tests.trimfill_l0.res.proportion().estimate)}." if tests.trimfill_l0.k0 else "."))
    else:
        ch.md("egger_p", "not run")
        ch.md("egger_n_p", "not run")
        ch.md("begg_p", "not run")
        ch.put("tf_k0", 0)
        ch.md("tf_side", "")
        ch.md("tf_estimate", "not run")
        ch.md("tests_sentence", f"With k = {a.k} < {MIN_K_BIAS} the tests are not run (set `force = True` to run "
                                f"them anyway, for teaching).")
    ch.put("sim_seed", int(seed))
    ch.put("sim_n", int(n_sims))
    ch.put("sim_p", _pp(p_true))
    ch.put("sim_tau2", logit_fit.tau2)
    ch.put("sim_publish", float(publish_prob))
    ch.put("sim_alpha", float(alpha))
    ch.put("sim_small", float(np.median(n)))
    ch.md("sim_rule", "is never published" if float(publish_prob) == 0 else
          ("is always published (no selection at all)" if float(publish_prob) == 1 else
           f"is published with probability {float(publish_prob):g}"))
    k_ref = MIN_K_BIAS if MIN_K_BIAS in k_values else k_values[min(1, len(k_values) - 1)]
    ch.put("k_ref", k_ref)
    ch.put("fp_egger", 100 * power.rate("no selection", k_ref, "egger"))
    ch.put("fp_egger_n", 100 * power.rate("no selection", k_ref, "egger_sqrtninv"))
    ch.put("fp_begg", 100 * power.rate("no selection", k_ref, "begg"))
    ch.put("pw_egger", 100 * power.rate("selection", k_ref, "egger"))
    ch.put("pw_egger_n", 100 * power.rate("selection", k_ref, "egger_sqrtninv"))
    ch.put("pw_begg", 100 * power.rate("selection", k_ref, "begg"))
    k_top = max(k_values)
    ch.put("k_top", k_top)
    ch.put("pw_egger_n_top", 100 * power.rate("selection", k_top, "egger_sqrtninv"))
    ch.put("mcse_max", 100 * float(np.sqrt(0.25 / int(n_sims))))
    fp, fp_n = power.rate("no selection", k_ref, "egger"), power.rate("no selection", k_ref, "egger_sqrtninv")
    label = MEASURE_LABELS[spec.measure]
    ch.md("se_sentence", SE_SENTENCE[spec.measure].format(label=label))
    ch.md("egger_verdict", f"a number that means little when it rejects {100 * fp:.1f}% of reviews without selection."
          if fp > 2 * float(alpha) else
          f"against {100 * fp:.1f}% of reviews without selection: on the {label} scale the classical test is "
          f"no longer fooled by the proportion itself.")
    # exercises
    other = other_choice(spec.measure, MEASURES, prefer=("PAS", "PLO"))
    ch.contrast("measure", spec.measure, other)
    ch.md("ex1_measure_label", MEASURE_LABELS[other])
    ch.md("ex1_measure_code", f'`measure="{other}"`')
    alt = primer.egger_power(n, p_true, logit_fit.tau2, k_values=(k_ref,), n_sims=int(n_sims), seed=int(seed),
                             alpha=float(alpha), publish_prob=float(publish_prob), measure=other)
    ch.put("ex_other_fp", 100 * alt.rate("no selection", k_ref, "egger"))
    why = (f"the {MEASURE_LABELS[other]} variance depends on n only, so a study's estimate and its SE are no longer "
           f"tied together through p" if other in ("PAS", "PFT") else
           f"the {MEASURE_LABELS[other]} variance is computed from the proportion itself, so a study's estimate and "
           f"its SE are tied together through p even without any selection")
    ch.md("ex1_answer", f"With the {MEASURE_LABELS[other]} measure the false-positive rate of the SE-based Egger test "
                        f"at k = {k_ref} is **{100 * alt.rate('no selection', k_ref, 'egger'):.1f}%** (against "
                        f"{100 * fp:.1f}% on this page's {label} scale): {why}. Power under selection: "
                        f"{100 * alt.rate('selection', k_ref, 'egger'):.1f}%.")
    # check yourself
    ch.md("check_question", f"May Egger's test be run on {fmt.md(a.label[0].lower() + a.label[1:])} under the "
                            f"usual rule, and what is the false-positive rate of the 1/√n version at k = {k_ref} in "
                            f"the simulation?")
    ch.md("check_answer", f"{'Yes' if a.k >= MIN_K_BIAS else 'No'}: k = {a.k} "
                          f"{'≥' if a.k >= MIN_K_BIAS else '<'} {MIN_K_BIAS}. The 1/√n version rejects in "
                          f"{100 * fp_n:.1f}% of reviews without selection (nominal {100 * float(alpha):g}%).")
    # the same computation in R
    if tests.applicable:
        ch.put("egger_pval", tests.egger.pval)
        ch.put("egger_n_pval", tests.egger_sqrtninv.pval)
        ch.put("begg_pval", tests.begg.pval)
    ch.r(f"""{r_data(a.studies["events"], a.studies["total"])}
{r_fit(spec)}
eg <- regtest(res, model = "lm", predictor = "sei")        # Egger's classical test
egn <- regtest(res, model = "lm", predictor = "sqrtninv")  # the same regression on 1/sqrt(n)
bg <- ranktest(res)                                        # Begg's rank correlation
tf <- trimfill(res, estimator = "L0")
""" + (r_print({"egger_pval": "eg$pval", "egger_n_pval": "egn$pval", "begg_pval": "bg$pval", "tf_k0": "tf$k0"})
       if tests.applicable else f"# with k = {a.k} < {MIN_K_BIAS} this page does not report them (force = True does)"))
    if tests.applicable:
        r0 = tests.trimfill_r0
        ch.md("ex2_answer", f"R0 imputes {r0.k0} {'study' if r0.k0 == 1 else 'studies'}"
                            + (f" on the {r0.side}" if r0.k0 else "")
                            + f" (L0: {tests.trimfill_l0.k0}); adjusted estimate "
                              f"{fmt.pct(r0.res.proportion().estimate)}. Either way trim-and-fill is a "
                              f"sensitivity analysis: it assumes the asymmetry *is* publication bias.")
        ch.md("ex3_answer", f"Egger with 1/√n as the predictor: t = {tests.egger_sqrtninv.t:.2f}, "
                            f"{fmt.p_value(tests.egger_sqrtninv.pval)} (SE predictor: "
                            f"{fmt.p_value(tests.egger.pval)}). The simulation above says which of the two to "
                            f"believe for proportions.")
    else:
        ch.md("ex2_answer", "The tests were not run (k < 10); re-run with `force = True` to see them.")
        ch.md("ex3_answer", "The tests were not run (k < 10); re-run with `force = True` to see them.")
    return ch


#: Why Egger's classical test does (not) mistake the measure itself for asymmetry; {label}: the measure's name.
SE_SENTENCE = {
    "PLO": "On the {label} scale the standard error is computed from the proportion itself, so result and standard "
           "error are correlated even without any bias, and the tests mistake that for asymmetry.",
    "PR": "On the {label} scale the standard error is computed from the proportion itself, so result and standard "
          "error are correlated even without any bias, and the tests mistake that for asymmetry.",
    "PAS": "On the {label} scale the variance 1/(4n) depends on n only, so result and standard error are not tied "
           "together through the proportion; on the logit scale they would be (Exercise 1).",
    "PFT": "On the {label} scale the variance 1/(4n + 2) depends on n only, so result and standard error are not "
           "tied together through the proportion; on the logit scale they would be (Exercise 1).",
}
