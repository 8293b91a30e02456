"""Methods primer, chapter 1: transformations (``notebooks/primer_transformations.ipynb``)."""

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
    COLOURS,
    FONT,
    MEASURE_NAMES,
    WEIGHT_N,
    Chapter,
    _lower,
    _need_k,
    _new_figure,
    _outcome_studies,
    _pp,
    context as chapter_context,
    other_choice,
    outcome_words,
    r_data,
    r_fit,
    r_print,
    spec_words,
)
from livingreview.review import primer

#: What the template's Markdown needs (the outcome's words, the analysis), shared by every chapter.
context = chapter_context

READS = ("studies", "outcomes", "outcome_definitions", "versions")


@dataclass
class TransformationsChapter(Chapter):
    outcome: str = ""
    label: str = ""
    ft: primer.FTBackTransform | None = None
    ft_other: primer.FTBackTransform | None = None
    extremes: pd.DataFrame | None = None
    example_n: int = 20

    def weight_figure(self) -> Figure:
        curves = primer.weight_curves(n=self.numbers["weight_n"])
        fig, ax = _new_figure(6.4, 3.6)
        for measure, grp in curves.groupby("measure", sort=False):
            ax.plot(100 * grp["p"], grp["relative_weight"], color=COLOURS[measure], lw=1.8,
                    ls="--" if measure == "PFT" else "-", label=MEASURE_NAMES[measure])
        ax.set_yscale("log")
        ax.set_ylim(0.02, 60)
        ticks = [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50]
        ax.set_yticks(ticks, [f"{t:g}×" for t in ticks])
        ax.minorticks_off()
        ax.set_xlim(0, 100)
        ax.axhline(1, color="#999999", lw=0.6)
        ax.set_xlabel("Proportion in the study (%)", fontsize=FONT)
        ax.set_ylabel("Weight relative to the same study at 50%", fontsize=FONT)
        ax.legend(fontsize=8, frameon=False, loc="upper center", ncol=2)
        return fig

    def ft_figure(self) -> Figure:
        ft = self.ft
        rows = [(r["choice"], r["proportion"], COLOURS["PFT"]) for _, r in ft.choices.iterrows()]
        rows.append(("GLMM (no back-transformation)", ft.glmm, COLOURS["GLMM"]))
        rows.append((f"This page's analysis ({self.spec.measure}, {self.spec.method})", ft.comparator, COLOURS["PLO"]))
        fig, ax = _new_figure(6.4, 0.32 * len(rows) + 0.9)
        y = np.arange(len(rows))[::-1]
        ax.scatter([100 * r[1] for r in rows], y, color=[r[2] for r in rows], s=30, zorder=3)
        ax.set_yticks(y, [r[0] for r in rows], fontsize=8)
        ax.axvline(100 * ft.glmm, color=COLOURS["GLMM"], lw=0.8, ls=":")
        values = [100 * r[1] for r in rows]
        pad = max(0.3, 0.15 * (max(values) - min(values)))
        ax.set_xlim(min(values) - pad, max(values) + pad)
        ax.set_xlabel(f"Pooled {_lower(self.label)} (%)", fontsize=FONT)
        ax.grid(axis="x", color="#eeeeee")
        return fig

    def ft_table(self) -> HTML:
        c = self.ft.choices
        return common.html(pd.DataFrame({
            "Back-transformation of the pooled FT value": c["choice"],
            "n used": ["—" if math.isnan(n) else f"{n:,.1f}" for n in c["n"]],
            "Pooled proportion": [fmt.pct(p, 2) for p in c["proportion"]],
            "Difference from the GLMM (points)": [f"{100 * (p - self.ft.glmm):+.2f}" for p in c["proportion"]],
        }))

    def studies_table(self) -> HTML:
        s = self.ft.studies
        table = pd.DataFrame({
            "Study": s["study"], "Events / N": [f"{e} / {n}" for e, n in zip(s["events"], s["n"])],
            "Observed": [fmt.pct(p, 2) for p in s["observed"]],
            "Its FT value back-transformed with the harmonic mean": [fmt.pct(p, 2) for p in s["ft_back_hm"]],
            "Difference (points)": [f"{100 * (b - o):+.2f}" for b, o in zip(s["ft_back_hm"], s["observed"])],
        })
        return HTML(common.fold(f"Each of the {len(table)} studies", common.html_table(table)))

    def extremes_table(self) -> HTML:
        e = self.extremes
        return common.html(pd.DataFrame({
            "Measure": [MEASURE_NAMES[m] for m in e["measure"]],
            "Events": [f"{x} / {self.example_n}" for x in e["events"]],
            "Added (x and n − x)": [f"{a:g}" for a in e["add"]],
            "yᵢ": [fmt.number(v, 3) for v in e["yi"]],
            "vᵢ": [fmt.number(v, 4) for v in e["vi"]],
            "Back-transformed": [fmt.pct(v, 1) for v in e["back"]],
            "Weight vs 50% study": [f"{w:.2f}×" for w in e["weight_ratio"]],
        }))


def load(outcome: str = "overall_response", data_dir="data", data_version=None, measure=None,
                    method=None, test=None, pi_dist=None, example_n: int = 20) -> TransformationsChapter:
    ds = common.dataset(READS, data_dir, "this chapter")
    spec = common.spec_from(measure, method, test, pi_dist)
    if int(example_n) < 2:
        raise ValueError(f"example_n must be at least 2, got {example_n}")
    _need_k(ds, outcome, 2, data_version, "The Freeman–Tukey comparison")
    studies, label = _outcome_studies(ds, outcome, data_version)
    x, n, labels = studies["events"].to_numpy(), studies["total"].to_numpy(), tuple(studies["display_label"])
    ft_method = spec.method if spec.method != "FE" else "REML"
    other_method = other_choice(ft_method, ("DL", "REML"))
    ft = primer.ft_backtransform(x, n, labels, method=ft_method, comparator=spec)
    ft_other = primer.ft_backtransform(x, n, labels, method=other_method, comparator=spec)
    ch = TransformationsChapter(spec=spec, outcome=outcome, label=label, ft=ft, ft_other=ft_other,
                                extremes=primer.extreme_studies(int(example_n)), example_n=int(example_n))
    spec_words(ch)
    outcome_words(ch, label)
    ch.contrast("method", ft_method, other_method)
    ch.md("comparator_label", ft.comparator_label)
    ch.md("glmm_why", GLMM_WHY[spec.measure])
    ch.put("k", ft.k)
    ch.put("weight_n", WEIGHT_N)
    ch.put("n_min", int(n.min()))
    ch.put("n_max", int(n.max()))
    ch.put("n_harmonic", ft.n_harmonic)
    ch.put("ft_t", ft.t)
    ch.put("ft_method", ft.method)
    ch.put("ft_hm", _pp(ft.choices["proportion"].iloc[0]))
    ch.put("ft_glmm", _pp(ft.glmm))
    ch.put("ft_comparator", _pp(ft.comparator))
    ch.put("ft_gap", ft.ft_gap_pp)
    ch.put("ft_gap_abs", abs(ft.ft_gap_pp))
    ch.md("ft_gap_direction", "higher" if ft.ft_gap_pp > 0 else "lower")
    ch.put("ft_n_spread", ft.n_spread_pp)
    lo = ft.choices.loc[ft.choices["proportion"].idxmin()]
    hi = ft.choices.loc[ft.choices["proportion"].idxmax()]
    ch.md("ft_lowest", f"{fmt.pct(lo['proportion'], 2)} ({lo['choice'].lower()})")
    ch.md("ft_highest", f"{fmt.pct(hi['proportion'], 2)} ({hi['choice'].lower()})")
    ch.put("study_gap", ft.study_gap_pp)
    ch.md("study_gap_label", fmt.md(ft.study_gap_label))
    edge = studies[(studies["events"] == 0) | (studies["events"] == studies["total"])]
    ch.put("n_edge", len(edge))
    ch.md("edge_studies", ", ".join(f"{fmt.md(l)} ({e}/{t})" for l, e, t in
                                     zip(edge["display_label"], edge["events"], edge["total"])) or "none")
    e = ch.extremes.set_index(["measure", "events"])
    ch.put("example_n", int(example_n))
    ch.put("plo0_y", e.loc[("PLO", 0), "yi"])
    ch.put("plo0_v", e.loc[("PLO", 0), "vi"])
    ch.put("plo0_back", _pp(e.loc[("PLO", 0), "back"]))
    ch.put("plo0_weight", e.loc[("PLO", 0), "weight_ratio"])
    ch.put("pr0_back", _pp(e.loc[("PR", 0), "back"]))
    ch.put("pr0_weight", e.loc[("PR", 0), "weight_ratio"])
    ch.put("pft0_back", _pp(e.loc[("PFT", 0), "back"]))
    # exercises
    ch.put("ex_other_method", other_method)
    ch.put("ex_other_gap", ft_other.ft_gap_pp)
    verdict = "grows" if abs(ft_other.ft_gap_pp) > abs(ft.ft_gap_pp) else "shrinks"
    ch.md("ex1_answer", f"{fmt.md(ft.study_gap_label)}: observed {fmt.pct(ft.studies.set_index('study').loc[ft.study_gap_label, 'observed'], 2)}, "
                        f"back-transformed with the harmonic mean {fmt.pct(ft.studies.set_index('study').loc[ft.study_gap_label, 'ft_back_hm'], 2)} — "
                        f"{ft.study_gap_pp:.2f} points apart. With its own n the inverse returns the observed proportion exactly; "
                        f"the harmonic mean of all {ft.k} study sizes ({ft.n_harmonic:.1f}) is a different n.")
    ch.md("ex2_answer", f"With {other_method} the pooled FT value back-transforms to "
                        f"{fmt.pct(ft_other.choices['proportion'].iloc[0], 2)} against a GLMM estimate of "
                        f"{fmt.pct(ft_other.glmm, 2)}: a gap of {ft_other.ft_gap_pp:+.2f} points (it {verdict}; "
                        f"with {ft.method} it was {ft.ft_gap_pp:+.2f}). The GLMM does not change: it has no τ² "
                        f"estimator to choose.")
    ch.md("ex3_answer", f"½ is added to the events and to the non-events, so the logit is "
                        f"log(0.5/{int(example_n) + 0.5:g}) = "
                        f"{e.loc[('PLO', 0), 'yi']:.3f} with variance 1/0.5 + 1/{int(example_n) + 0.5:g} = "
                        f"{e.loc[('PLO', 0), 'vi']:.3f}; it back-transforms to {fmt.pct(e.loc[('PLO', 0), 'back'], 1)}, "
                        f"not 0%. The study weighs {e.loc[('PLO', 0), 'weight_ratio']:.2f}× as much as the same "
                        f"study with half its patients responding.")
    # check yourself: Miller's inverse at the harmonic mean, by hand
    ch.md("check_question", f"The pooled Freeman–Tukey value is t = {ft.t:.4f} and the harmonic mean of the "
                            f"{ft.k} study sizes is {ft.n_harmonic:.1f}. Which proportion does Miller's inverse give, "
                            f"and which does the naive sin²(t) give?")
    naive = ft.choices.set_index("choice")["proportion"].iloc[-1]
    hm = fmt.pct(ft.choices["proportion"].iloc[0], 2)
    ch.md("check_answer", f"Miller's inverse with n = {ft.n_harmonic:.1f}: **{hm}**; "
                          f"sin²({ft.t:.4f}) = {fmt.pct(naive, 2)}, which ignores n (metafor's `transf.ipft.hm` "
                          f"gives the first).")
    # the same computation in R
    ft_spec = spec.with_(measure="PFT", method=ft_method)
    ch.r(f"""{r_data(x, n)}
{r_fit(ft_spec)}
p <- predict(res, transf = transf.ipft.hm, targs = list(ni = dat$ni))  # Miller's inverse, harmonic mean of n
g <- rma.glmm(measure = "PLO", xi = xi, ni = ni, data = dat)           # the binomial-normal GLMM
q <- predict(g, transf = transf.ilogit)
{r_print({"ft_hm": "p$pred", "ft_glmm": "q$pred"}, percent=True)}
{r_print({"ft_t": "c(res$b)", "n_harmonic": "1 / mean(1 / dat$ni)"})}""")
    return ch


#: Why the GLMM and this page's inverse-variance analysis differ, by the page's measure.
GLMM_WHY = {
    "PLO": "The two differ not because one is wrong but because the GLMM uses the exact binomial likelihood: "
           "inverse-variance weights on the logit scale under-weight studies near 0% or 100%, whose estimated "
           "variances are large.",
    "PR": "The two differ not because one is wrong but because the GLMM uses the exact binomial likelihood: "
          "inverse-variance weights on the raw scale over-weight studies near 0% or 100%, whose estimated variances "
          "are small.",
    "PAS": "The two differ not because one is wrong but because the GLMM uses the exact binomial likelihood: the "
           "arcsine variance ignores the proportion, and the pooled value is turned back into a proportion on "
           "another scale than the one it was averaged on.",
    "PFT": "The two differ not because one is wrong but because the GLMM uses the exact binomial likelihood, while "
           "the Freeman–Tukey analysis adds the back-transformation problem of the section above.",
}
