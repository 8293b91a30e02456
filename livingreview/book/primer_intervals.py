"""Methods primer, chapter 3: confidence and prediction intervals (``notebooks/primer_intervals.ipynb``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from IPython.display import HTML
from matplotlib.figure import Figure

from livingreview import format as fmt
from livingreview.book import common
from livingreview.book.chapter import (
    FONT,
    R_TRANSF,
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
    r_predict,
    r_print,
    spec_words,
)
from livingreview.config import PI_DISTS, PI_LABELS, PI_SHORT, TEST_SHORT, Spec
from livingreview.review import primer

FE_REFUSED = "method='FE' has no prediction interval (τ² = 0 by assumption); choose DL, REML, PM or ML"


def context(ds, params: dict) -> dict:
    """The outcome's words; a common-effect model is refused before anything runs (it has no PI to teach)."""
    if params.get("method") == "FE":
        raise ValueError(FE_REFUSED)
    return chapter_context(ds, params)

READS = ("studies", "outcomes", "outcome_definitions", "versions", "published")


@dataclass
class IntervalsChapter(Chapter):
    outcome: str = ""
    label: str = ""
    table: pd.DataFrame | None = None
    published: pd.DataFrame | None = None

    def interval_table_html(self) -> HTML:
        t = self.table
        return common.html(pd.DataFrame({
            "Outcome": t["label"], "k": t["k"], "Estimate": [fmt.pct(v) for v in t["estimate"]],
            f"95% CI ({TEST_SHORT[self.spec.test]})": [fmt.interval(a, b) for a, b in zip(t["ci_low"], t["ci_high"])],
            "95% CI (Wald)": [fmt.interval(a, b) for a, b in zip(t["z_low"], t["z_high"])],
            "95% CI (Hartung–Knapp)": [fmt.interval(a, b) for a, b in zip(t["hk_low"], t["hk_high"])],
            "HK factor": [fmt.number(f, 2) for f in t["hk_factor"]],
            f"95% PI ({PI_SHORT[self.spec.pi_dist]})": [fmt.interval(a, b) for a, b in zip(t["pi_low"], t["pi_high"])],
            "PI contains CI": ["yes" if v else "NO" for v in t["ci_in_pi"]],
        }))

    def published_table(self) -> HTML:
        p = self.published
        return common.html(pd.DataFrame({
            "Outcome": p["label"], "Printed estimate (95% CI)": [f"{e:.1f} ({l:.1f}–{h:.1f})" for e, l, h in
                                                                  zip(p["estimate"], p["ci_low"], p["ci_high"])],
            "Printed 95% PI": [f"{l:.1f}–{h:.1f}" for l, h in zip(p["pi_low"], p["pi_high"])],
            "Contains its estimate": ["yes" if v else "NO" for v in p["contains_estimate"]],
            "Contains its CI": ["yes" if v else "NO" for v in p["contains_ci"]],
            "PI midpoint (raw / logit)": [f"{a:.1f} / {b:.1f}" for a, b in zip(p["pi_mid_raw"], p["pi_mid_logit"])],
            "Problem": p["problem"],
        }))

    def figure(self) -> Figure:
        t = self.table
        fig, ax = _new_figure(6.4, 0.42 * len(t) + 1.0)
        y = np.arange(len(t))[::-1]
        ax.hlines(y, 100 * t["pi_low"], 100 * t["pi_high"], color="#9ecae1", lw=7, label="95% prediction interval")
        ax.hlines(y, 100 * t["ci_low"], 100 * t["ci_high"], color="#08519c", lw=3, label="95% confidence interval")
        ax.scatter(100 * t["estimate"], y, color="black", s=16, zorder=3, label="pooled estimate")
        ax.set_yticks(y, list(t["label"]), fontsize=8)
        ax.set_xlim(0, 100)
        ax.set_xlabel("Proportion (%)", fontsize=FONT)
        ax.legend(fontsize=8, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3)
        ax.grid(axis="x", color="#eeeeee")
        return fig


def load(outcome: str = "vod", data_dir="data", data_version=None, measure=None, method=None, test=None,
              pi_dist=None) -> IntervalsChapter:
    ds = common.dataset(READS, data_dir, "this chapter")
    spec = common.spec_from(measure, method, test, pi_dist)
    if spec.method == "FE":
        raise ValueError(FE_REFUSED)
    _need_k(ds, outcome, 3, data_version, "The intervals chapter")
    _, label = _outcome_studies(ds, outcome, data_version)
    table = primer.interval_table(ds, spec, min_k=3, data_version=data_version)
    published = primer.published_interval_check(ds)
    ch = IntervalsChapter(spec=spec, outcome=outcome, label=label, table=table, published=published)
    spec_words(ch)
    outcome_words(ch, label)
    f = table.set_index("outcome").loc[outcome]
    ch.put("k", int(f["k"]))
    for name in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high", "z_low", "z_high", "hk_low", "hk_high",
                 "adhoc_low", "adhoc_high", *(f"pi_{d}_{e}" for d in PI_DISTS for e in ("low", "high"))):
        ch.put(name, _pp(f[name]))
    ch.put("tau2", f["tau2"])
    ch.put("hk_factor", f["hk_factor"])
    ch.put("width_ratio", f["width_ratio"])
    ch.put("n_outcomes", len(table))
    ch.put("n_ci_in_pi", int(table["ci_in_pi"].sum()))
    ch.put("median_width_ratio", float(table["width_ratio"].median()))
    ch.put("hk_multiplier", f["hk_multiplier"])
    ch.put("t_crit", f["t_crit"])
    ch.put("z_crit", f["z_crit"])
    ch.put("n_hk_factor_below_1", int((table["hk_factor"] < 1).sum()))
    ch.put("n_hk_narrower", int(table["hk_narrower"].sum()))
    below = table[table["hk_factor"] < 1]
    ch.md("hk_below_list", ", ".join(fmt.md(_lower(l)) for l in below["label"]) or "none")
    narrower = table[table["hk_narrower"]]
    ch.md("hk_narrower_list", ", ".join(fmt.md(_lower(l)) for l in narrower["label"]) or "none")
    ch.md("hk_narrower_sentence",
          f"this happens for {len(narrower)} of them ({', '.join(fmt.md(_lower(l)) for l in narrower['label'])})"
          if len(narrower) else "in this review the t quantile always makes up for it, but with more studies, or "
                                "a factor further below 1, it would not")
    # the paper's printed prediction intervals
    ch.put("n_published_pi", len(published))
    ch.put("n_pub_excl_est", int((~published["contains_estimate"].astype(bool)).sum()))
    ch.put("n_pub_excl_ci", int((~published["contains_ci"].astype(bool)).sum()))
    ch.put("n_pub_asym", int(published["problem"].str.contains("asymmetric").sum()))
    pv = published.set_index("outcome")
    # the worked example is the paper's VOD interval (NaN, shown as "nan", if a dataset lacks it)
    v = pv.loc["vod"] if "vod" in pv.index else None
    for name in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high", "pi_mid_raw", "pi_mid_logit"):
        ch.put(f"paper_vod_{name}", v[name] if v is not None else float("nan"))
    # a raw-proportion, DL, z analysis (what the paper's symmetric CIs suggest) on the same studies
    like = primer.interval_table(ds, Spec("PR", "DL", "z", "t2"), outcomes=["vod"], data_version=data_version)
    ch.put("like_k", int(like["k"].iloc[0]) if len(like) else 0)
    for name in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
        ch.put(f"like_{name}", _pp(like[name].iloc[0]) if len(like) else float("nan"))
    # exercises
    wider = "narrower" if f["hk_narrower"] else "wider"
    ch.md("ex1_answer", f"Hartung–Knapp: {fmt.interval(f['hk_low'], f['hk_high'])} against Wald "
                        f"{fmt.interval(f['z_low'], f['z_high'])} — **{wider}**. On the {spec.measure} scale the "
                        f"half-width is multiplied by √{f['hk_factor']:.3f} × {f['t_crit']:.3f} / {f['z_crit']:.3f} = "
                        f"{f['hk_multiplier']:.3f}: the HK factor is {'above' if f['hk_factor'] > 1 else 'below'} 1 "
                        f"and the t({int(f['k']) - 1}) quantile replaces the normal one. The ad hoc variant, which "
                        f"never lets the factor fall below 1, gives {fmt.interval(f['adhoc_low'], f['adhoc_high'])}.")
    other = other_choice(spec.pi_dist, PI_DISTS, prefer={"t2": ("t1",), "t1": ("t2",), "z": ("t2",)}[spec.pi_dist])
    ch.contrast("pi_dist", spec.pi_dist, other)
    ch.md("ex2_other", PI_SHORT[other])
    alt = fmt.interval(f[f"pi_{other}_low"], f[f"pi_{other}_high"])
    ch.md("ex2_answer", f"With {PI_SHORT[other]} the PI is {alt}; "
                        f"with {PI_SHORT[spec.pi_dist]}, this page's choice, it is "
                        f"{fmt.interval(f['pi_low'], f['pi_high'])}. The estimate, its CI and τ² do not change: only "
                        f"the quantile c does ({PI_LABELS[other]} against {PI_LABELS[spec.pi_dist]}), and with "
                        f"k = {int(f['k'])} studies that matters.")
    # check yourself: the page's own PI quantile
    ch.md("check_question", f"With k = {int(f['k'])} studies, on how many degrees of freedom is this page's prediction "
                            f"interval ({PI_SHORT[spec.pi_dist]}) computed, and what is its quantile c for a 95% "
                            f"interval?")
    ch.md("check_answer", (f"{PI_LABELS[spec.pi_dist].capitalize()} has no degrees of freedom: c = "
                           f"{f['pi_crit']:.3f}, whatever k is." if spec.pi_dist == "z" else
                           f"{int(f['pi_df'])} degrees of freedom (k = {int(f['k'])}, minus "
                           f"{int(f['k']) - int(f['pi_df'])}); c = {f['pi_crit']:.3f}, against 1.960 for the normal "
                           f"distribution."))
    # the same computation in R
    studies, _ = _outcome_studies(ds, outcome, data_version)
    ch.r(f"""{r_data(studies["events"], studies["total"])}
{r_fit(spec)}
{r_predict(spec)}
{r_print({"estimate": "p$pred", "ci_low": "p$ci.lb", "ci_high": "p$ci.ub", "pi_low": "p$pi.lb", "pi_high": "p$pi.ub"},
         percent=True)}
hk <- rma(yi, vi, data = dat, method = "{spec.method}", test = "knha", control = ctrl)  # Hartung-Knapp
q <- predict(hk{R_TRANSF[spec.measure]})
{r_print({"hk_low": "q$ci.lb", "hk_high": "q$ci.ub"}, percent=True)}""")
    if "complete_remission" in pv.index:
        c = pv.loc["complete_remission"]
        ch.md("ex3_answer", f"The printed complete-remission PI ({c['pi_low']:.1f}–{c['pi_high']:.1f}) ends at "
                            f"{c['pi_high']:.1f}, below the upper CI bound {c['ci_high']:.1f}: it does not contain "
                            f"its own CI. A PI adds τ² to the variance of the same estimate, so on the same scale and "
                            f"centre it is always at least as wide as the CI on both sides.")
    else:
        ch.md("ex3_answer", "The paper prints no complete-remission prediction interval in this dataset.")
    return ch
