"""What the methods primer's notebooks call: one object per chapter, whose methods glue numbers, draw figures
and return tables.

No statistics here: every number comes from :mod:`livingreview.primer` (or the engine it calls). A chapter
object holds ``numbers`` — name → value (Python ``float``/``int``/``str``, so ``{glue:text}`` can format
them) — and ``markdown`` — name → Markdown snippet (``{glue:md}``); ``glue_numbers()`` glues both. Tests read
the same dictionaries, so what the chapter says is what the tests check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown
from matplotlib.figure import Figure

from livingreview import primer, report
from livingreview.config import MIN_K_BIAS, SUBGROUPS, Spec
from livingreview.pages import dataset, html, spec_from
from livingreview.results import analyse_outcome

FONT = 9
WEIGHT_N = 100  # the study size of the relative-weight curves (chapter 1)
COLOURS = {"PR": "#7570b3", "PLO": "#1b9e77", "PAS": "#d95f02", "PFT": "#e7298a", "GLMM": "#000000"}
MEASURE_NAMES = {"PR": "raw proportion (PR)", "PLO": "logit (PLO)", "PAS": "arcsine (PAS)",
                 "PFT": "Freeman–Tukey (PFT)", "GLMM": "GLMM (logit, ML)"}


def _native(value):
    """numpy scalars → Python numbers, so that glued text/plain is '2.5', never 'np.float64(2.5)'."""
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    return value


def _r(value: float, digits: int = 6) -> float:
    """Round for display and byte-stable outputs (the notebooks are a regression baseline)."""
    return float(round(float(value), digits))


@dataclass
class Chapter:
    """Numbers and Markdown snippets a chapter states, glued by :meth:`glue_numbers`."""

    spec: Spec
    numbers: dict = field(default_factory=dict)
    markdown: dict = field(default_factory=dict)

    def put(self, name: str, value) -> None:
        value = _native(value)
        if isinstance(value, float):
            value = _r(value)
        self.numbers[name] = value

    def md(self, name: str, text: str) -> None:
        self.markdown[name] = text

    def glue_numbers(self) -> None:
        from myst_nb import glue
        for name, value in self.numbers.items():
            glue(name, value, display=False)
        for name, text in self.markdown.items():
            glue(name, Markdown(text), display=False)

    def spec_sentence(self) -> Markdown:
        return Markdown(f"Analysis on this page: **{self.spec.describe()}**.")


def _pp(x: float) -> float:
    """A proportion (0–1) in percent, rounded for display."""
    return _r(100 * x, 6)


def _outcome_studies(ds, outcome: str, data_version) -> tuple[pd.DataFrame, str]:
    defs = ds.definitions.set_index("outcome")
    if outcome not in defs.index:
        raise ValueError(f"unknown outcome {outcome!r}; choose one of {', '.join(ds.definitions['outcome'])}")
    a = analyse_outcome(ds, outcome, data_version=data_version)
    return a.studies, defs.loc[outcome, "label"]


def _need_k(ds, outcome: str, k_min: int, data_version, what: str) -> None:
    studies, _ = _outcome_studies(ds, outcome, data_version)
    if len(studies) < k_min:
        ok = [o for o in ds.definitions["outcome"]
              if len(analyse_outcome(ds, o, data_version=data_version).studies) >= k_min]
        raise ValueError(f"{what} needs an outcome with at least {k_min} studies; {outcome!r} has {len(studies)}. "
                         f"Choose one of: {', '.join(ok)}")


def _new_figure(width: float, height: float) -> tuple[Figure, object]:
    fig = Figure(figsize=(width, height), dpi=100)
    ax = fig.add_subplot()
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=FONT)
    return fig, ax


def _p_range(ps) -> str:
    """'p runs from 0.012 to 0.048' or 'p < 0.001 on every scale'."""
    lo, hi = float(np.min(ps)), float(np.max(ps))
    if hi < 0.001:
        return "p < 0.001 on every scale"
    return f"p runs from {report.p_value(lo).removeprefix('p ').removeprefix('= ')} to {report.p_value(hi).removeprefix('p = ')}"


def _lower(label: str) -> str:
    return label[0].lower() + label[1:]


# ===================================================================== chapter 1: transformations


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
        return html(pd.DataFrame({
            "Back-transformation of the pooled FT value": c["choice"],
            "n used": ["—" if math.isnan(n) else f"{n:,.1f}" for n in c["n"]],
            "Pooled proportion": [report.pct(p, 2) for p in c["proportion"]],
            "Difference from the GLMM (points)": [f"{100 * (p - self.ft.glmm):+.2f}" for p in c["proportion"]],
        }))

    def studies_table(self) -> HTML:
        s = self.ft.studies
        return html(pd.DataFrame({
            "Study": s["study"], "Events / N": [f"{e} / {n}" for e, n in zip(s["events"], s["n"])],
            "Observed": [report.pct(p, 2) for p in s["observed"]],
            "Its FT value back-transformed with the harmonic mean": [report.pct(p, 2) for p in s["ft_back_hm"]],
            "Difference (points)": [f"{100 * (b - o):+.2f}" for b, o in zip(s["ft_back_hm"], s["observed"])],
        }))

    def extremes_table(self) -> HTML:
        e = self.extremes
        return html(pd.DataFrame({
            "Measure": [MEASURE_NAMES[m] for m in e["measure"]],
            "Events": [f"{x} / {self.example_n}" for x in e["events"]],
            "Added (x and n − x)": [f"{a:g}" for a in e["add"]],
            "yᵢ": [report.number(v, 3) for v in e["yi"]],
            "vᵢ": [report.number(v, 4) for v in e["vi"]],
            "Back-transformed": [report.pct(v, 1) for v in e["back"]],
            "Weight vs 50% study": [f"{w:.2f}×" for w in e["weight_ratio"]],
        }))


def transformations(outcome: str = "overall_response", data_dir="data", data_version=None, measure=None,
                    method=None, test=None, pi_dist=None, example_n: int = 20) -> TransformationsChapter:
    ds = dataset(str(data_dir))
    spec = spec_from(measure, method, test, pi_dist)
    if int(example_n) < 2:
        raise ValueError(f"example_n must be at least 2, got {example_n}")
    _need_k(ds, outcome, 2, data_version, "The Freeman–Tukey comparison")
    studies, label = _outcome_studies(ds, outcome, data_version)
    x, n, labels = studies["events"].to_numpy(), studies["total"].to_numpy(), tuple(studies["display_label"])
    ft_method = spec.method if spec.method != "FE" else "REML"
    other_method = "DL" if ft_method != "DL" else "REML"
    ft = primer.ft_backtransform(x, n, labels, method=ft_method, comparator=spec)
    ft_other = primer.ft_backtransform(x, n, labels, method=other_method, comparator=spec)
    ch = TransformationsChapter(spec=spec, outcome=outcome, label=label, ft=ft, ft_other=ft_other,
                                extremes=primer.extreme_studies(int(example_n)), example_n=int(example_n))
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
    ch.md("ft_lowest", f"{report.pct(lo['proportion'], 2)} ({lo['choice'].lower()})")
    ch.md("ft_highest", f"{report.pct(hi['proportion'], 2)} ({hi['choice'].lower()})")
    ch.put("study_gap", ft.study_gap_pp)
    ch.md("study_gap_label", ft.study_gap_label)
    edge = studies[(studies["events"] == 0) | (studies["events"] == studies["total"])]
    ch.put("n_edge", len(edge))
    ch.md("edge_studies", ", ".join(f"{l} ({e}/{t})" for l, e, t in
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
    ch.md("ex1_answer", f"{ft.study_gap_label}: observed {report.pct(ft.studies.set_index('study').loc[ft.study_gap_label, 'observed'], 2)}, "
                        f"back-transformed with the harmonic mean {report.pct(ft.studies.set_index('study').loc[ft.study_gap_label, 'ft_back_hm'], 2)} — "
                        f"{ft.study_gap_pp:.2f} points apart. With its own n the inverse returns the observed proportion exactly; "
                        f"the harmonic mean of all {ft.k} study sizes ({ft.n_harmonic:.1f}) is a different n.")
    ch.md("ex2_answer", f"With {other_method} the pooled FT value back-transforms to "
                        f"{report.pct(ft_other.choices['proportion'].iloc[0], 2)} against a GLMM estimate of "
                        f"{report.pct(ft_other.glmm, 2)}: a gap of {ft_other.ft_gap_pp:+.2f} points (it {verdict}; "
                        f"with {ft.method} it was {ft.ft_gap_pp:+.2f}). The GLMM does not change: it has no τ² "
                        f"estimator to choose.")
    ch.md("ex3_answer", f"½ is added to the events and to the non-events, so the logit is "
                        f"log(0.5/{int(example_n) + 0.5:g}) = "
                        f"{e.loc[('PLO', 0), 'yi']:.3f} with variance 1/0.5 + 1/{int(example_n) + 0.5:g} = "
                        f"{e.loc[('PLO', 0), 'vi']:.3f}; it back-transforms to {report.pct(e.loc[('PLO', 0), 'back'], 1)}, "
                        f"not 0%. The study weighs {e.loc[('PLO', 0), 'weight_ratio']:.2f}× as much as the same "
                        f"study with half its patients responding.")
    return ch


# ===================================================================== chapter 2: heterogeneity


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
                   "Q (df), p": f"{first['q']:.2f} ({int(first['q_df'])}), {report.p_value(first['q_p'])}",
                   "ṽ": report.number(first["vt"], 3)}
            for m in g.index:
                row[f"{m}: τ² (I²)"] = f"{g.loc[m, 'tau2']:.3f} ({g.loc[m, 'i2']:.1f}%)"
            out.append(row)
        return html(pd.DataFrame(out))

    def i2_table(self) -> HTML:
        d = self.demo.table
        return html(pd.DataFrame({
            "Every study × ": [f"{f:g}" for f in d["factor"]],
            "Median n": [f"{n:,.0f}" for n in d["median_n"]],
            "τ² (fixed)": [report.number(self.demo.tau2, 3)] * len(d),
            "ṽ": [report.number(v, 4) for v in d["vt"]],
            "I²": [f"{i:.1f}%" for i in d["i2"]],
            "H²": [report.number(h, 2) for h in d["h2"]],
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


def heterogeneity(outcome: str = "overall_response", data_dir="data", data_version=None, measure=None, method=None,
                  test=None, pi_dist=None) -> HeterogeneityChapter:
    ds = dataset(str(data_dir))
    spec = spec_from(measure, method, test, pi_dist)
    _need_k(ds, outcome, 3, data_version, "The heterogeneity chapter")
    studies, label = _outcome_studies(ds, outcome, data_version)
    methods = tuple(dict.fromkeys(("DL", "REML", "PM") + ((spec.method,) if spec.method not in ("FE",) else ())))
    table = primer.heterogeneity_table(ds, spec.measure, methods=methods, min_k=2, data_version=data_version)
    demo_spec = spec if spec.method != "FE" else spec.with_(method="REML")
    demo = primer.i2_vs_study_size(studies["events"].to_numpy(), studies["total"].to_numpy(), demo_spec)
    ch = HeterogeneityChapter(spec=spec, outcome=outcome, label=label, table=table, demo=demo)
    focus = table[table["outcome"] == outcome].set_index("method")
    ch.put("k", int(focus["k"].iloc[0]))
    ch.put("q", focus["q"].iloc[0])
    ch.put("q_df", int(focus["q_df"].iloc[0]))
    ch.md("q_p", report.p_value(focus["q_p"].iloc[0]))
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
    ch.md("most_disagree", f"{_lower(labels[worst])} (τ² from {wide.loc[worst].min():.3f} to {wide.loc[worst].max():.3f})")
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
                        f"{labels[worst].lower()} (k = {int(table.loc[table['outcome'] == worst, 'k'].iloc[0])}): "
                        + ", ".join(f"{m} {wide.loc[worst, m]:.3f}" for m in wide.columns) + ". "
                        + ("DerSimonian–Laird gives the smallest value, as it tends to when heterogeneity is large "
                           "(Veroniki et al. 2016, Research Synthesis Methods 7:55)."
                           if lowest == "DL" else f"{lowest} gives the smallest value here.")
                        + " Which one is 'right' cannot be known; what matters is to say which was used and to "
                          "check that the conclusions do not depend on it (chapter 6).")
    return ch


# ===================================================================== chapter 3: intervals


@dataclass
class IntervalsChapter(Chapter):
    outcome: str = ""
    label: str = ""
    table: pd.DataFrame | None = None
    published: pd.DataFrame | None = None

    def interval_table_html(self) -> HTML:
        t = self.table
        return html(pd.DataFrame({
            "Outcome": t["label"], "k": t["k"], "Estimate": [report.pct(v) for v in t["estimate"]],
            "95% CI (Wald)": [report.interval(a, b) for a, b in zip(t["z_low"], t["z_high"])],
            "95% CI (Hartung–Knapp)": [report.interval(a, b) for a, b in zip(t["hk_low"], t["hk_high"])],
            "HK factor": [report.number(f, 2) for f in t["hk_factor"]],
            "95% PI": [report.interval(a, b) for a, b in zip(t["pi_low"], t["pi_high"])],
            "PI contains CI": ["yes" if v else "NO" for v in t["ci_in_pi"]],
        }))

    def published_table(self) -> HTML:
        p = self.published
        return html(pd.DataFrame({
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


def intervals(outcome: str = "vod", data_dir="data", data_version=None, measure=None, method=None, test=None,
              pi_dist=None) -> IntervalsChapter:
    ds = dataset(str(data_dir))
    spec = spec_from(measure, method, test, pi_dist)
    if spec.method == "FE":
        raise ValueError("method='FE' has no prediction interval (τ² = 0 by assumption); choose DL, REML, PM or ML")
    _need_k(ds, outcome, 3, data_version, "The intervals chapter")
    _, label = _outcome_studies(ds, outcome, data_version)
    table = primer.interval_table(ds, spec, min_k=3, data_version=data_version)
    published = primer.published_interval_check(ds)
    ch = IntervalsChapter(spec=spec, outcome=outcome, label=label, table=table, published=published)
    f = table.set_index("outcome").loc[outcome]
    ch.put("k", int(f["k"]))
    for name in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high", "z_low", "z_high", "hk_low", "hk_high",
                 "adhoc_low", "adhoc_high", "pi_t1_low", "pi_t1_high"):
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
    ch.md("hk_below_list", ", ".join(_lower(l) for l in below["label"]) or "none")
    narrower = table[table["hk_narrower"]]
    ch.md("hk_narrower_list", ", ".join(_lower(l) for l in narrower["label"]) or "none")
    ch.md("hk_narrower_sentence",
          f"this happens for {len(narrower)} of them ({', '.join(_lower(l) for l in narrower['label'])})"
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
    ch.md("ex1_answer", f"Hartung–Knapp: {report.interval(f['hk_low'], f['hk_high'])} against Wald "
                        f"{report.interval(f['z_low'], f['z_high'])} — **{wider}**. On the {spec.measure} scale the "
                        f"half-width is multiplied by √{f['hk_factor']:.3f} × {f['t_crit']:.3f} / {f['z_crit']:.3f} = "
                        f"{f['hk_multiplier']:.3f}: the HK factor is {'above' if f['hk_factor'] > 1 else 'below'} 1 "
                        f"and the t({int(f['k']) - 1}) quantile replaces the normal one. The ad hoc variant, which "
                        f"never lets the factor fall below 1, gives {report.interval(f['adhoc_low'], f['adhoc_high'])}.")
    ch.md("ex2_answer", f"With t(k − 1) the PI is {report.interval(f['pi_t1_low'], f['pi_t1_high'])}; with "
                        f"{'t(k − 2)' if spec.pi_dist == 't2' else spec.pi_dist} it is "
                        f"{report.interval(f['pi_low'], f['pi_high'])}. One degree of freedom matters when k is "
                        f"{int(f['k'])}.")
    if "complete_remission" in pv.index:
        c = pv.loc["complete_remission"]
        ch.md("ex3_answer", f"The printed complete-remission PI ({c['pi_low']:.1f}–{c['pi_high']:.1f}) ends at "
                            f"{c['pi_high']:.1f}, below the upper CI bound {c['ci_high']:.1f}: it does not contain "
                            f"its own CI. A PI adds τ² to the variance of the same estimate, so on the same scale and "
                            f"centre it is always at least as wide as the CI on both sides.")
    else:
        ch.md("ex3_answer", "The paper prints no complete-remission prediction interval in this dataset.")
    return ch


# ===================================================================== chapter 4: subgroups


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
        return html(pd.DataFrame({
            SUBGROUPS[self.column]: lv["level"], "Studies": lv["k"],
            "Events / patients": [f"{e} / {t}" for e, t in zip(lv["events"], lv["total"])],
            "Estimate (95% CI)": [f"{report.pct(e)} ({report.interval(a, b)})"
                                  for e, a, b in zip(lv["estimate"], lv["ci_low"], lv["ci_high"])],
            "τ²": [report.number(t, 3) for t in lv["tau2"]],
            "I²": [f"{i:.1f}%" for i in lv["i2"]],
        }))

    def crosstab_table(self) -> HTML:
        t = self.crosstab.copy()
        t.columns = [str(c) for c in t.columns]
        return html(t.reset_index(names="Regimen (rows) × disease status (columns)"))

    def measure_table(self) -> HTML:
        m = self.by_measure
        return html(pd.DataFrame({"Measure": [MEASURE_NAMES[x] for x in m["measure"]],
                                  "Q between": [report.number(q, 2) for q in m["q_between"]],
                                  "df": m["df"].astype(int), "p": [report.p_value(p).removeprefix("p ") for p in m["p"]]}))

    def forest(self):
        from livingreview.engine import plots
        a = self.analysis
        return plots.forest_plot(a.overall, subgroups=a.subgroups[self.column],
                                 title=f"{a.label} by {SUBGROUPS[self.column].lower()}")


def subgroups(outcome: str = "overall_response", subgroup: str = "disease_status", data_dir="data",
              data_version=None, measure=None, method=None, test=None, pi_dist=None) -> SubgroupsChapter:
    ds = dataset(str(data_dir))
    spec = spec_from(measure, method, test, pi_dist)
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
    ch.put("k", a.k)
    ch.put("n_levels", len(levels))
    ch.put("q_between", test_["q_between"])
    ch.put("q_df", int(test_["df"]))
    ch.md("q_p", report.p_value(test_["p"]))
    ch.put("single_study_levels", test_["single_study_levels"])
    ch.put("excluded", test_["excluded"])
    single, excl = test_["single_study_levels"], test_["excluded"]
    ch.md("caveats_sentence",
          ("Every subgroup has at least two studies" if single == 0 else
           f"{single} of the {len(levels)} subgroups rest{'s' if single == 1 else ''} on a single study")
          + " and " + ("every study could be placed in a subgroup." if excl == 0 else
                       f"{excl} {'study' if excl == 1 else 'studies'} could not be placed in any subgroup."))
    ch.md("subgroup_name", SUBGROUPS[subgroup].lower())
    ch.md("levels_sentence", "; ".join(f"{r['level']} {report.pct(r['estimate'])} "
                                       f"({report.interval(r['ci_low'], r['ci_high'])}; {int(r['k'])} "
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
                            f"{report.p_value(t2['p'])}; {t2['single_study_levels']} of its levels "
                            f"{'rests' if t2['single_study_levels'] == 1 else 'rest'} on a single study and "
                            f"{t2['excluded']} {'study has' if t2['excluded'] == 1 else 'studies have'} no level. Run the chapter with `subgroup={other!r}` to see the forest plot.")
    else:
        ch.md("ex1_answer", f"The paper does not analyse {_lower(a.label)} by {SUBGROUPS[other].lower()}.")
    single = levels[levels["k"] == 1]
    ch.md("ex2_answer", (f"{len(single)}: " + ", ".join(single["level"]) + ". A single study has no between-study "
                         "variance to estimate (τ² = 0), so its interval is that study's own confidence interval and "
                         "it enters Q between as if it were a precise summary of its whole subgroup.")
          if len(single) else "None: every level has at least two studies.")
    pas = by_measure.set_index("measure").loc["PAS"]
    ch.md("ex3_answer", f"On the arcsine scale Q between = {pas['q_between']:.2f} ({int(pas['df'])} df), "
                        f"{report.p_value(pas['p'])}; across the four measures {_p_range(by_measure['p'])}. "
                        f"The scale changes the weights, "
                        f"but not the confounding: the verdict on *why* the groups differ is the same.")
    return ch


# ===================================================================== chapter 5: small-study effects


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
             "p": report.p_value(t.egger.pval).removeprefix("p ")},
            {"Test": "Egger (predictor 1/√n)", "Statistic": f"t = {t.egger_sqrtninv.t:.2f} (df {t.egger_sqrtninv.df})",
             "p": report.p_value(t.egger_sqrtninv.pval).removeprefix("p ")},
            {"Test": "Begg (rank correlation)", "Statistic": f"Kendall's τ = {t.begg.tau:.3f}",
             "p": report.p_value(t.begg.pval).removeprefix("p ")},
        ]
        for tf in (t.trimfill_l0, t.trimfill_r0):
            p = tf.res.proportion()
            rows.append({"Test": f"Trim-and-fill ({tf.estimator})",
                         "Statistic": f"{tf.k0} imputed{'' if tf.k0 == 0 else ' on the ' + tf.side}; adjusted "
                                      f"{report.pct(p.estimate)} ({report.interval(p.ci_low, p.ci_high)})",
                         "p": "" if math.isnan(tf.p_k0) else report.p_value(tf.p_k0).removeprefix("p ")})
        return html(pd.DataFrame(rows))

    def power_table(self) -> HTML:
        t = self.power.table
        return html(pd.DataFrame({
            "Scenario": t["scenario"], "k": t["k"],
            "Egger, SE predictor": [f"{100 * v:.1f}%" for v in t["egger"]],
            "Egger, 1/√n predictor": [f"{100 * v:.1f}%" for v in t["egger_sqrtninv"]],
            "Begg": [f"{100 * v:.1f}%" for v in t["begg"]],
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


def small_study_effects(outcome: str = "overall_response", data_dir="data", data_version=None, measure=None,
                        method=None, test=None, pi_dist=None, force: bool = False, seed: int = 20250601,
                        n_sims: int = 400, publish_prob: float = 0.0, alpha: float = 0.05,
                        k_values=(5, 10, 20, 40)) -> SmallStudyChapter:
    ds = dataset(str(data_dir))
    spec = spec_from(measure, method, test, pi_dist)
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
    ch.put("k", a.k)
    ch.put("min_k", MIN_K_BIAS)
    ch.put("applicable", bool(tests.applicable))
    if tests.applicable:
        ch.md("egger_p", report.p_value(tests.egger.pval))
        ch.md("egger_n_p", report.p_value(tests.egger_sqrtninv.pval))
        ch.md("begg_p", report.p_value(tests.begg.pval))
        ch.put("tf_k0", tests.trimfill_l0.k0)
        ch.md("tf_side", tests.trimfill_l0.side or "")
        ch.md("tf_estimate", report.pct(tests.trimfill_l0.res.proportion().estimate))
        ch.md("tests_sentence",
              f"Egger's classical test gives {report.p_value(tests.egger.pval)}, the same regression on 1/√n "
              f"{report.p_value(tests.egger_sqrtninv.pval)} and Begg's rank correlation "
              f"{report.p_value(tests.begg.pval)}. Trim-and-fill (L0) imputes {tests.trimfill_l0.k0} "
              f"{'study' if tests.trimfill_l0.k0 == 1 else 'studies'}"
              + (f" on the {tests.trimfill_l0.side}, moving the estimate from "
                 f"{report.pct(a.overall.proportion().estimate)} to "
                 f"{report.pct(tests.trimfill_l0.res.proportion().estimate)}." if tests.trimfill_l0.k0 else "."))
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
    # exercises
    pas = primer.egger_power(n, p_true, logit_fit.tau2, k_values=(k_ref,), n_sims=int(n_sims), seed=int(seed),
                             alpha=float(alpha), publish_prob=float(publish_prob), measure="PAS")
    ch.put("ex_pas_fp", 100 * pas.rate("no selection", k_ref, "egger"))
    ch.md("ex1_answer", f"With the arcsine measure the false-positive rate of the SE-based Egger test at k = {k_ref} "
                        f"is **{100 * pas.rate('no selection', k_ref, 'egger'):.1f}%** (against "
                        f"{100 * power.rate('no selection', k_ref, 'egger'):.1f}% on the {spec.measure} scale): the "
                        f"arcsine variance 1/(4n) depends on n only, so a study's estimate and its SE are no longer "
                        f"tied together through p. Power under selection: "
                        f"{100 * pas.rate('selection', k_ref, 'egger'):.1f}%.")
    if tests.applicable:
        r0 = tests.trimfill_r0
        ch.md("ex2_answer", f"R0 imputes {r0.k0} {'study' if r0.k0 == 1 else 'studies'}"
                            + (f" on the {r0.side}" if r0.k0 else "")
                            + f" (L0: {tests.trimfill_l0.k0}); adjusted estimate "
                              f"{report.pct(r0.res.proportion().estimate)}. Either way trim-and-fill is a "
                              f"sensitivity analysis: it assumes the asymmetry *is* publication bias.")
        ch.md("ex3_answer", f"Egger with 1/√n as the predictor: t = {tests.egger_sqrtninv.t:.2f}, "
                            f"{report.p_value(tests.egger_sqrtninv.pval)} (SE predictor: "
                            f"{report.p_value(tests.egger.pval)}). The simulation above says which of the two to "
                            f"believe for proportions.")
    else:
        ch.md("ex2_answer", "The tests were not run (k < 10); re-run with `force = True` to see them.")
        ch.md("ex3_answer", "The tests were not run (k < 10); re-run with `force = True` to see them.")
    return ch


# ===================================================================== chapter 6: sensitivity


@dataclass
class SensitivityChapter(Chapter):
    outcome: str = ""
    label: str = ""
    analysis: object = None
    influence: primer.Influence | None = None
    grid: pd.DataFrame | None = None

    def loo_table(self) -> HTML:
        t = self.influence.table
        return html(pd.DataFrame({
            "Omitted study": t["omitted"],
            "Estimate (95% CI)": [f"{report.pct(e)} ({report.interval(a, b)})"
                                  for e, a, b in zip(t["estimate"], t["ci_low"], t["ci_high"])],
            "Shift (points)": [f"{s:+.1f}" for s in t["shift_pp"]],
            "τ²": [report.number(v, 3) for v in t["tau2"]],
            "I²": [f"{v:.1f}%" for v in t["i2"]],
        }))

    def loo_figure(self):
        from livingreview import figures
        from livingreview.engine.sensitivity import leave_one_out
        a = self.analysis
        return figures.leave_one_out_figure(leave_one_out(a.overall), a.overall.proportion(), a.label)

    def grid_table(self) -> HTML:
        g = self.grid
        return html(pd.DataFrame({
            "Measure": [MEASURE_NAMES[m] for m in g["measure"]], "τ² estimator": g["method"],
            "Estimate (95% CI)": [f"{report.pct(e)} ({report.interval(a, b)})"
                                  for e, a, b in zip(g["estimate"], g["ci_low"], g["ci_high"])],
            "τ² (own scale)": [report.number(v, 3) for v in g["tau2"]],
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


def sensitivity(outcome: str = "overall_response", data_dir="data", data_version=None, measure=None, method=None,
                test=None, pi_dist=None) -> SensitivityChapter:
    ds = dataset(str(data_dir))
    spec = spec_from(measure, method, test, pi_dist)
    _need_k(ds, outcome, 3, data_version, "The sensitivity chapter")
    a = analyse_outcome(ds, outcome, spec, data_version=data_version)
    x, n = a.studies["events"].to_numpy(), a.studies["total"].to_numpy()
    infl = primer.influence_summary(a.overall)
    grid = primer.specification_grid(x, n, spec)
    ch = SensitivityChapter(spec=spec, outcome=outcome, label=a.label, analysis=a, influence=infl, grid=grid)
    ch.put("k", a.k)
    ch.put("estimate", _pp(infl.full))
    ch.md("influential", infl.label)
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
    ch.md("ex1_answer", f"Omitting **{infl.label}** moves the estimate by {infl.shift_pp:+.1f} points (from "
                        f"{report.pct(infl.full)}); τ² goes from {infl.tau2_full:.3f} to {infl.tau2_without:.3f} and "
                        f"I² from {infl.i2_full:.1f}% to {infl.i2_without:.1f}%. {infl.excluding_full} of the "
                        f"{a.k} leave-one-out confidence intervals exclude the full estimate.")
    by_measure = grid[grid["measure"] != "GLMM"].groupby("measure", sort=False)["estimate"].mean()
    ch.md("ex2_answer", f"Highest: {hi['measure']}, {hi['method']} ({report.pct(hi['estimate'])}); lowest: "
                        f"{lo['measure']}, {lo['method']} ({report.pct(lo['estimate'])}). Averaged over the τ² "
                        f"estimators: " + ", ".join(f"{m} {report.pct(v)}" for m, v in by_measure.items())
                        + f"; GLMM {report.pct(glmm['estimate'])}. The measure matters more than the estimator when "
                          f"the proportions are near 0 or 1 and heterogeneity is large.")
    ch.md("ex3_answer", f"The spread across the {len(grid)} specifications is {100 * (hi['estimate'] - lo['estimate']):.1f} "
                        f"points, against a 95% CI {100 * (a.overall.proportion().ci_high - a.overall.proportion().ci_low):.1f} "
                        f"points wide in this page's analysis: "
                        + ("smaller than the statistical uncertainty — the choice of model is not what limits this estimate."
                           if hi["estimate"] - lo["estimate"] < a.overall.proportion().ci_high - a.overall.proportion().ci_low
                           else "as large as the statistical uncertainty — report the model choice prominently."))
    return ch
