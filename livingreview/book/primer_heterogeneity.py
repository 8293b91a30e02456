"""Methods primer, chapter 2: heterogeneity (``notebooks/primer_heterogeneity.ipynb``)."""

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
    Chapter,
    _lower,
    _need_k,
    _new_figure,
    _outcome_studies,
    context as chapter_context,
    outcome_words,
    r_data,
    r_print,
    spec_words,
)
from livingreview.config import METHOD_LABELS, PRIMARY
from livingreview.review import primer

#: What the template's Markdown needs (the outcome's words, the analysis), shared by every chapter.
context = chapter_context

READS = ("studies", "outcomes", "outcome_definitions", "versions")


@dataclass
class HeterogeneityChapter(Chapter):
    outcome: str = ""
    label: str = ""
    table: pd.DataFrame | None = None
    demo: primer.I2Demo | None = None

    def estimators_table(self) -> HTML:
        t = self.table
        out = []
        for outcome, grp in t.groupby("outcome", sort=False):
            g = grp.set_index("method")
            first = grp.iloc[0]
            row = {"Outcome": first["label"], "k": int(first["k"]),
                   "Q (df), p": f"{first['q']:.2f} ({int(first['q_df'])}), {fmt.p_value(first['q_p'])}",
                   "ṽ": fmt.number(first["vt"], 3)}
            for m in g.index:
                row[f"{m}: τ² (I²)"] = f"{g.loc[m, 'tau2']:.3f} ({g.loc[m, 'i2']:.1f}%)"
            out.append(row)
        return common.html(pd.DataFrame(out))

    def i2_table(self) -> HTML:
        d = self.demo.table
        return common.html(pd.DataFrame({
            "Every study × ": [f"{f:g}" for f in d["factor"]],
            "Median n": [f"{n:,.0f}" for n in d["median_n"]],
            "τ² (fixed)": [fmt.number(self.demo.tau2, 3)] * len(d),
            "ṽ": [fmt.number(v, 4) for v in d["vt"]],
            "I²": [fmt.i2_cell(i) for i in d["i2"]],
            "H²": [fmt.number(h, 2) for h in d["h2"]],
        }))

    def i2_figure(self) -> Figure:
        d = self.demo
        fig, ax = _new_figure(6.0, 3.4)
        ax.plot(d.curve["factor"], d.curve["i2"], color=COLOURS["PLO"], lw=1.8)
        ax.scatter([1], [d.i2_at_1], color="black", zorder=3, s=25)
        ax.annotate(f"the studies as they are: I² = {d.i2_at_1:.1f}%", (1, d.i2_at_1), xytext=(8, -14),
                    textcoords="offset points", fontsize=8)
        ax.set_xscale("log")
        ticks = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]
        ax.set_xticks(ticks, [f"{t:g}×" for t in ticks])
        ax.minorticks_off()
        ax.set_ylim(0, 100)
        ax.set_xlabel("Every study's size multiplied by", fontsize=FONT)
        ax.set_ylabel("I² (%)", fontsize=FONT)
        ax.set_title(f"τ² held at {d.tau2:.3f} ({d.measure}, {d.method})", fontsize=FONT)
        ax.grid(color="#eeeeee")
        return fig

    def estimators_figure(self) -> Figure:
        t = self.table[self.table["k"] >= 3]
        outcomes = list(dict.fromkeys(t["label"]))
        fig, ax = _new_figure(6.4, 0.36 * len(outcomes) + 1.0)
        y = np.arange(len(outcomes))[::-1]
        marks = {"DL": ("o", "#1b9e77"), "REML": ("s", "#d95f02"), "PM": ("^", "#7570b3"), "ML": ("D", "#666666")}
        offsets = {m: (i - (t["method"].nunique() - 1) / 2) * 0.18 for i, m in enumerate(dict.fromkeys(t["method"]))}
        for method, grp in t.groupby("method", sort=False):
            pos = [y[outcomes.index(lbl)] + offsets[method] for lbl in grp["label"]]
            ax.scatter(grp["tau2"], pos, marker=marks.get(method, ("o", "k"))[0], color=marks.get(method, ("o", "k"))[1],
                       s=22, label=method, zorder=3)
        ax.set_yticks(y, outcomes, fontsize=8)
        ax.set_xlabel(f"τ² ({self.spec.measure} scale)", fontsize=FONT)
        ax.legend(fontsize=8, frameon=False, loc="lower right")
        ax.grid(axis="x", color="#eeeeee")
        return fig


def load(outcome: str = "overall_response", data_dir="data", data_version=None, measure=None, method=None,
                  test=None, pi_dist=None) -> HeterogeneityChapter:
    ds = common.dataset(READS, data_dir, "this chapter")
    spec = common.spec_from(measure, method, test, pi_dist)
    _need_k(ds, outcome, 3, data_version, "The heterogeneity chapter")
    studies, label = _outcome_studies(ds, outcome, data_version)
    methods = tuple(dict.fromkeys(("DL", "REML", "PM") + ((spec.method,) if spec.method not in ("FE",) else ())))
    table = primer.heterogeneity_table(ds, spec.measure, methods=methods, min_k=2, data_version=data_version)
    demo_spec = spec if spec.method != "FE" else spec.with_(method="REML")
    demo = primer.i2_vs_study_size(studies["events"].to_numpy(), studies["total"].to_numpy(), demo_spec)
    ch = HeterogeneityChapter(spec=spec, outcome=outcome, label=label, table=table, demo=demo)
    focus = table[table["outcome"] == outcome].set_index("method")
    spec_words(ch)
    outcome_words(ch, label)
    ch.md("reml_primary", ", and this book's primary analysis uses it" if PRIMARY.method == "REML" else "")
    own = demo.method  # the page's estimator (REML for a common-effect page, which has no τ² to estimate)
    f = focus.loc[own]
    said = (f"{METHOD_LABELS[own].removesuffix(' τ²')} — this page's estimator — estimates" if own == spec.method else
            f"This page's model is a common-effect model, which sets τ² = 0 (I² = 0%, H² = 1) by assumption; "
            f"{METHOD_LABELS[own].removesuffix(' τ²')} would estimate")
    ch.md("focus_sentence", f"{said} τ² = {f['tau2']:.3f} (τ = {f['tau']:.2f}), so that I² = {f['i2']:.1f}% and "
                            f"H² = {f['h2']:.1f}.")
    for name in ("tau2", "tau", "i2", "h2"):
        ch.put(f"{name}_page", f[name])
    ch.put("k", int(focus["k"].iloc[0]))
    ch.put("q", focus["q"].iloc[0])
    ch.put("q_df", int(focus["q_df"].iloc[0]))
    ch.md("q_p", fmt.p_value(focus["q_p"].iloc[0]))
    for m in ("DL", "REML", "PM"):
        ch.put(f"tau2_{m.lower()}", focus.loc[m, "tau2"])
        ch.put(f"i2_{m.lower()}", focus.loc[m, "i2"])
    ch.put("h2_reml", focus.loc["REML", "h2"])
    ch.put("i2_q", focus["i2_q"].iloc[0])
    ch.put("tau_reml", focus.loc["REML", "tau"])
    ch.put("n_outcomes", table["outcome"].nunique())
    # where do the estimators disagree most (among outcomes with k >= 3)?
    wide = table[table["k"] >= 3].pivot_table(index="outcome", columns="method", values="tau2", sort=False)
    spread = (wide.max(axis=1) - wide.min(axis=1))
    worst = spread.idxmax()
    labels = dict(zip(table["outcome"], table["label"]))
    ch.md("most_disagree", f"{fmt.md(_lower(labels[worst]))} (τ² from {wide.loc[worst].min():.3f} to {wide.loc[worst].max():.3f})")
    i2_range = table[table["method"] == demo.method]
    ch.put("i2_method", demo.method)
    # the demo
    d = demo.table.set_index("factor")
    ch.put("demo_tau2", demo.tau2)
    ch.put("demo_i2_1", demo.i2_at_1)
    ch.put("demo_factor_lo", float(d.index.min()))
    ch.put("demo_factor_hi", float(d.index.max()))
    ch.put("demo_i2_lo", d["i2"].iloc[0])
    ch.put("demo_i2_hi", d["i2"].iloc[-1])
    ch.put("demo_n_lo", d["median_n"].iloc[0])
    ch.put("demo_n_hi", d["median_n"].iloc[-1])
    ch.put("demo_median_n", demo.median_n)
    ch.put("factor_for_50", demo.factor_for_50)
    ch.put("n_for_50", demo.median_n * demo.factor_for_50)
    ch.put("i2_min_all", i2_range["i2"].min())
    ch.put("i2_max_all", i2_range["i2"].max())
    # exercises
    ch.md("ex1_answer", f"I² = τ²/(τ² + ṽ/f) is 50% when ṽ/f = τ², that is f = ṽ/τ² = {demo.vt:.4f} / "
                        f"{demo.tau2:.4f} = **{demo.factor_for_50:.3f}**: studies with a median of about "
                        f"{demo.median_n * demo.factor_for_50:,.1f} patients instead of {demo.median_n:,.0f}. "
                        f"τ² — the spread of the true rates — would be exactly the same.")
    ch.md("ex2_answer", f"Q = {focus['q'].iloc[0]:.2f} on {int(focus['q_df'].iloc[0])} df gives the Q-based "
                        f"I² = (Q − df)/Q = **{focus['i2_q'].iloc[0]:.1f}%**. The τ²-based I² is "
                        f"{focus.loc['DL', 'i2']:.1f}% with DL (identical: DL's τ² is built from Q), "
                        f"{focus.loc['REML', 'i2']:.1f}% with REML and {focus.loc['PM', 'i2']:.1f}% with PM. "
                        f"R's meta and Stata's metan report the Q-based one, metafor and Stata's meta the τ²-based one.")
    lowest = wide.loc[worst].idxmin()
    ch.md("ex3_answer", f"Among the outcomes with at least three studies the estimators disagree most for "
                        f"{fmt.md(labels[worst].lower())} (k = {int(table.loc[table['outcome'] == worst, 'k'].iloc[0])}): "
                        + ", ".join(f"{m} {wide.loc[worst, m]:.3f}" for m in wide.columns) + ". "
                        + ("DerSimonian–Laird gives the smallest value, as it tends to when heterogeneity is large "
                           "(Veroniki et al. 2016, Research Synthesis Methods 7:55)."
                           if lowest == "DL" else f"{lowest} gives the smallest value here.")
                        + " Which one is 'right' cannot be known; what matters is to say which was used and to "
                          "check that the conclusions do not depend on it (chapter 6).")
    # check yourself: I² from τ² and ṽ by hand
    ch.md("check_question", f"This page's τ² is {demo.tau2:.4f} ({demo.method}, {demo.measure} scale) and the typical "
                            f"within-study variance is ṽ = {demo.vt:.4f}. What are I² and H²?")
    ch.md("check_answer", f"I² = τ²/(τ² + ṽ) = {demo.tau2:.4f}/({demo.tau2:.4f} + {demo.vt:.4f}) = "
                          f"**{demo.i2_at_1:.1f}%**; H² = 1 + τ²/ṽ = {1 + demo.tau2 / demo.vt:.2f}.")
    # the same computation in R
    ch.r(f"""{r_data(studies["events"], studies["total"])}
dat <- escalc(measure = "{spec.measure}", xi = xi, ni = ni, data = dat)
for (m in c("DL", "REML", "PM")) {{
  res <- rma(yi, vi, data = dat, method = m, control = ctrl)
  print(round(setNames(c(res$tau2, res$I2), paste0(c("tau2_", "i2_"), tolower(m))), 4))
}}
{r_print({"q": "res$QE", "i2_q": "100 * max(0, (res$QE - (res$k - 1)) / res$QE)"})}
res <- rma(yi, vi, data = dat, method = "{own}", control = ctrl)  # this page's estimator
{r_print({"tau2_page": "res$tau2", "i2_page": "res$I2", "h2_page": "res$H2"})}""")
    return ch
