"""What the book's notebooks call: one small object per page, whose methods return things a notebook displays.

The notebooks stay thin and narrative — a cell is one call here. No statistics are computed in this module
either: it asks :mod:`livingreview.results`, :mod:`livingreview.engine.bias`, :mod:`livingreview.engine.sensitivity` and
:mod:`livingreview.engine.glmm` and turns their answers into sentences, HTML tables and figures.
"""

from __future__ import annotations

import math
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from IPython.display import HTML, Image, Markdown

from livingreview import figures, report
from livingreview.engine import plots
from livingreview.engine.effects import study_intervals
from livingreview.config import MIN_K_BIAS, PRIMARY, ROOT, SENSITIVITY_SPECS, SUBGROUPS, Spec
from livingreview.results import OutcomeAnalysis, analyse_outcome, analysis_rows


def spec_from(measure=None, method=None, test=None, pi_dist=None) -> Spec:
    """A notebook's parameters as a Spec; None means the book's primary analysis."""
    changes = {k: v for k, v in dict(measure=measure, method=method, test=test, pi_dist=pi_dist).items() if v}
    return PRIMARY.with_(**changes)


def dataset(data_dir: str = "data"):
    """The validated dataset; a relative ``data_dir`` is taken from the repository root (notebooks run anywhere).

    ``LIVINGREVIEW_DATA_DIR`` (absolute, or relative to the repository root), if set, stands in for the repository's
    own ``data`` — the ``data_dir`` injected into the committed notebooks — so ``tests/test_regression.py`` can point
    the baseline notebooks at a modified copy of the dataset without touching them.
    """
    import os

    from livingreview.dataset import load_dataset
    path = Path(data_dir)
    if path == Path("data") and os.environ.get("LIVINGREVIEW_DATA_DIR"):
        path = Path(os.environ["LIVINGREVIEW_DATA_DIR"])
    key = str(path if path.is_absolute() else ROOT / path)
    cache = dataset.__dict__.setdefault("cache", {})  # keyed by the resolved path, so an override is never stale
    if key not in cache:
        if len(cache) >= 4:
            cache.pop(next(iter(cache)))
        cache[key] = load_dataset(Path(key))
    return cache[key]


def glue_figure(name: str, plot) -> None:
    """Glue a figure for a ``{glue:figure}`` directive (caption and alt text live in the Markdown)."""
    from myst_nb import glue
    png = plot._repr_png_() if hasattr(plot, "_repr_png_") else figures.png_bytes(plot)
    glue(name, Image(data=png, format="png"), display=False)


def html(df: pd.DataFrame, caption: str | None = None) -> HTML:
    return HTML(report.html_table(df, caption))


def _new_labels(analysis: OutcomeAnalysis, data_version) -> tuple[str, ...]:
    """Studies added in the latest data version are marked in forest plots (the living-review update)."""
    studies = analysis.studies
    if studies.empty or int(studies["data_version"].max()) <= 1:
        return ()
    latest = int(studies["data_version"].max())
    return tuple(studies.loc[studies["data_version"] == latest, "display_label"])


# --- outcome pages -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomePage:
    analysis: OutcomeAnalysis
    rows: pd.DataFrame
    outcomes: pd.DataFrame  # the outcome's rows of outcomes.csv (for provenance)
    data_version: int | None = None

    def sentence(self) -> Markdown:
        return Markdown(report.result_sentences(self.analysis, self.rows))

    def summary_table(self) -> HTML:
        if self.rows.empty:
            return HTML("<p>No pooled estimate: no study reports this outcome.</p>")
        return html(report.summary_frame(self.rows))

    def forest(self, column: str | None):
        a = self.analysis
        if a.overall is None:
            return figures.message_figure(f"No study in the dataset reports {a.label.lower()}.")
        title = a.label if column is None else f"{a.label} by {SUBGROUPS[column].lower()}"
        return plots.forest_plot(a.overall, subgroups=a.subgroups.get(column), title=title,
                                 new_studies=_new_labels(a, self.data_version))

    def study_table(self) -> HTML:
        a = self.analysis
        if a.overall is None:
            return HTML("<p>No study reports this outcome.</p>")
        est, lo, hi = study_intervals(a.overall.es, a.overall.level)
        prov = self.outcomes.set_index("study_id")
        table = pd.DataFrame({
            "Study": a.studies["display_label"],
            "Regimen": a.studies["regimen"].fillna("unknown"),
            "Disease status": a.studies["disease_status"].fillna("unknown"),
            "Events / N": [f"{e} / {n}" for e, n in zip(a.studies["events"], a.studies["total"])],
            "Proportion (95% CI)": [f"{report.pct(e)} ({report.interval(l, h)})" for e, l, h in zip(est, lo, hi)],
            "Weight": [f"{w:.1f}%" for w in a.overall.weights],
            "As printed": [prov.loc[s, "reported_value"] for s in a.studies["study_id"]],
            "Derivation": [prov.loc[s, "derivation"] for s in a.studies["study_id"]],
        })
        return html(table)

    def excluded_table(self) -> HTML:
        ex = self.analysis.excluded
        if ex.empty:
            return HTML("<p>None: every study in the dataset contributes to this outcome or is not expected to.</p>")
        table = pd.DataFrame({
            "Study": [f"{l} [{int(r)}]" if pd.notna(r) else l for l, r in zip(ex["label"], ex["ref_no"])],
            "Reason": ex["reason"],
        })
        return html(table)


def outcome_page(outcome: str, data_dir="data", data_version=None, measure=None, method=None, test=None,
                 pi_dist=None) -> OutcomePage:
    ds = dataset(str(data_dir))
    analysis = analyse_outcome(ds, outcome, spec_from(measure, method, test, pi_dist), data_version=data_version)
    rows = pd.DataFrame(analysis_rows(analysis))
    return OutcomePage(analysis, rows, ds.outcomes[ds.outcomes["outcome"] == outcome], data_version)


# --- publication bias ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BiasPage:
    analysis: OutcomeAnalysis
    egger: object | None
    begg: object | None
    trimfill: object | None

    def sentence(self) -> Markdown:
        a = self.analysis
        if a.overall is None:
            return Markdown(f"No study reports {a.label.lower()}, so there is nothing to test.")
        if not self.egger.applicable:
            return Markdown(f"With {a.k} {'study' if a.k == 1 else 'studies'} — fewer than {MIN_K_BIAS} — Egger's and "
                            f"Begg's tests and trim-and-fill are **not applicable**: they cannot tell small-study "
                            f"effects from chance at this size. The funnel plot is shown for completeness only.")
        text = (f"Egger's regression test: {report.p_value(self.egger.pval)} (k = {a.k}); "
                f"Begg's rank correlation: Kendall's τ = {self.begg.tau:.3f}, {report.p_value(self.begg.pval)}.")
        if self.trimfill is None:
            text += " Egger's p ≥ 0.05, so trim-and-fill was not triggered (the paper's rule)."
        else:
            p = self.trimfill.res.proportion()
            text += (f" Egger's p < 0.05, so trim-and-fill was applied: {self.trimfill.k0} "
                     f"{'study was' if self.trimfill.k0 == 1 else 'studies were'} imputed on the {self.trimfill.side} "
                     f"side, giving an adjusted estimate of {report.pct(p.estimate)} "
                     f"(95% CI: {report.interval(p.ci_low, p.ci_high)}) — a sensitivity analysis, not a correction.")
        return Markdown(text)

    def funnel(self):
        a = self.analysis
        if a.overall is None:
            return figures.message_figure(f"No study in the dataset reports {a.label.lower()}.")
        egger = self.egger if self.egger is not None and self.egger.applicable else None
        return plots.funnel_plot(a.overall, trimfill=self.trimfill, egger=egger, title=a.label)

    def tests_table(self) -> HTML:
        if self.analysis.overall is None or not self.egger.applicable:
            return HTML(f"<p>Not applicable (k = {self.analysis.k} &lt; {MIN_K_BIAS}).</p>")
        e, b = self.egger, self.begg
        rows = [
            {"Test": "Egger's regression (classical, weighted by 1/v, predictor SE)",
             "Statistic": f"t = {e.t:.3f} (df = {int(e.df)})", "p": report.p_value(e.pval).removeprefix("p ")},
            {"Test": "Begg's rank correlation", "Statistic": f"Kendall's τ = {b.tau:.3f}",
             "p": report.p_value(b.pval).removeprefix("p ")},
        ]
        if self.trimfill is not None:
            p = self.trimfill.res.proportion()
            rows.append({"Test": f"Trim-and-fill ({self.trimfill.estimator}), {self.trimfill.k0} imputed",
                         "Statistic": f"adjusted {report.pct(p.estimate)} ({report.interval(p.ci_low, p.ci_high)})",
                         "p": ""})
        return html(pd.DataFrame(rows))


def bias_page(outcome: str, data_dir="data", data_version=None, force=False, measure=None, method=None, test=None,
              pi_dist=None) -> BiasPage:
    from livingreview.engine.bias import begg_test, egger_test, trimfill
    ds = dataset(str(data_dir))
    a = analyse_outcome(ds, outcome, spec_from(measure, method, test, pi_dist), data_version=data_version)
    if a.overall is None:
        return BiasPage(a, None, None, None)
    eg = egger_test(a.overall, force=force, min_k=MIN_K_BIAS)
    bg = begg_test(a.overall, force=force, min_k=MIN_K_BIAS)
    tf = None
    if eg.applicable and eg.pval < 0.05:  # the paper's rule: trim-and-fill only when Egger's p < 0.05
        tf = trimfill(a.overall, force=force, min_k=MIN_K_BIAS)
    return BiasPage(a, eg, bg, tf)


# --- sensitivity -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SensitivityPage:
    analysis: OutcomeAnalysis
    specifications: pd.DataFrame

    def sentence(self) -> Markdown:
        a = self.analysis
        if a.overall is None:
            return Markdown(f"No study reports {a.label.lower()}.")
        s = self.specifications
        lo, hi = s["estimate"].min(), s["estimate"].max()
        text = (f"Across {len(s)} specifications the pooled {a.label.lower()} ranged from {report.pct(lo)} to "
                f"{report.pct(hi)}.")
        if a.k >= 3:
            loo = self._loo()
            text += (f" Omitting one study at a time moved the primary estimate between "
                     f"{report.pct(loo.prop_estimate.min())} and {report.pct(loo.prop_estimate.max())}.")
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
            "Estimate (95% CI)": [f"{report.pct(e)} ({report.interval(l, h)})"
                                  for e, l, h in zip(loo.prop_estimate, loo.prop_ci_low, loo.prop_ci_high)],
            "τ²": [report.number(t, 3) for t in loo.tau2],
            "I²": ["NA" if math.isnan(i) else f"{i:.1f}%" for i in loo.i2],
        })
        return html(table)

    def leave_one_out_plot(self):
        a = self.analysis
        if a.overall is None or a.k < 2:
            return figures.message_figure("Leave-one-out needs at least two studies.")
        return figures.leave_one_out_figure(self._loo(), a.overall.proportion(), a.label)

    def specifications_table(self) -> HTML:
        if self.specifications.empty:
            return HTML("<p>No study reports this outcome.</p>")
        s = self.specifications
        table = pd.DataFrame({
            "Specification": s["specification"],
            "Estimate (95% CI)": [f"{report.pct(e)} ({report.interval(l, h)})"
                                  for e, l, h in zip(s["estimate"], s["ci_low"], s["ci_high"])],
            "95% PI": [report.interval(l, h) for l, h in zip(s["pi_low"], s["pi_high"])],
            "τ²": [report.number(t, 3) for t in s["tau2"]],
            "I²": ["NA" if math.isnan(i) else f"{i:.1f}%" for i in s["i2"]],
            "Note": s["note"],
        })
        return html(table)


def sensitivity_page(outcome: str, data_dir="data", data_version=None, measure=None, method=None, test=None,
                     pi_dist=None) -> SensitivityPage:
    from livingreview.engine.glmm import rma_glmm
    ds = dataset(str(data_dir))
    spec = spec_from(measure, method, test, pi_dist)
    a = analyse_outcome(ds, outcome, spec, data_version=data_version)
    if a.overall is None:
        return SensitivityPage(a, pd.DataFrame())
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
    return SensitivityPage(a, pd.DataFrame(rows))


# --- study selection, quality, adverse events, discussion ----------------------------------------------------------


@dataclass(frozen=True)
class SelectionPage:
    ds: object
    data_version: int | None

    def _studies(self) -> pd.DataFrame:
        s = self.ds.studies
        return s if self.data_version is None else s[s["data_version"] <= self.data_version]

    def sentence(self) -> Markdown:
        s = self._studies()
        ident = s["identification"].value_counts()
        n = int(s["n_treated"].fillna(0).sum())
        return Markdown(
            f"The dataset holds {len(s)} studies: {ident.get('identified', 0)} identified, "
            f"{ident.get('probable', 0)} probable and {ident.get('not identified', 0)} not yet identified. "
            f"The identified and probable studies treated {n:,} patients in total.")

    def prisma(self):
        return figures.prisma_figure(self.ds.search, self._studies())

    def characteristics_table(self) -> HTML:
        s = self._studies()
        table = pd.DataFrame({
            "Study": [f"{l} [{int(r)}]" if pd.notna(r) else f"{l} [new]" for l, r in zip(s["label"], s["ref_no"])],
            "Design": s["design"], "Publication": s["publication_type"].fillna(""),
            "Regimen": s["regimen"].fillna("unknown"), "Backbone": s["backbone"].fillna(""),
            "Disease status": s["disease_status"].fillna("unknown"), "Ph": s["ph_status"].fillna(""),
            "Age": s["age"].fillna(""), "N": s["n_treated"].astype("Int64").astype(str).replace("<NA>", ""),
            "Follow-up": s["follow_up"].fillna(""), "Version": s["data_version"].astype(int),
        })
        return html(table)

    def identification_table(self) -> HTML:
        s = self._studies()
        table = pd.DataFrame({
            "Study": [f"{l} [{int(r)}]" if pd.notna(r) else f"{l} [new]" for l, r in zip(s["label"], s["ref_no"])],
            "Status": s["identification"], "How identified / why not": s["identification_note"].fillna(""),
            "Overlap risk": s["overlap_note"].fillna(""),
        })
        return html(table)


def selection_page(data_dir="data", data_version=None, **_) -> SelectionPage:
    return SelectionPage(dataset(str(data_dir)), data_version)


@dataclass(frozen=True)
class QualityPage:
    ds: object

    def _scores(self, scale: str, by: str = "item_label") -> pd.DataFrame:
        q = self.ds.quality
        q = q[q["scale"] == scale]
        labels = self.ds.studies.set_index("study_id")
        wide = q.pivot_table(index="study_id", columns=by, values="score", aggfunc="first", sort=False)
        wide = wide.rename(columns={c: "Total (printed)" for c in wide.columns if str(c).lower().startswith("total")})
        wide.index = [f"{labels.loc[s, 'label']} [{int(labels.loc[s, 'ref_no'])}]" for s in wide.index]
        return wide

    def sentence(self) -> Markdown:
        t = self.ds.quality_totals()
        minors = t[t["scale"] == "MINORS"]
        return Markdown(f"One randomised trial was scored with the modified Jadad scale and {len(minors)} single-arm "
                        f"studies with MINORS (totals {int(minors['total'].min())}–{int(minors['total'].max())} of 16). "
                        f"Every recomputed total matches the printed total.")

    def jadad_table(self) -> HTML:
        return html(self._scores("modified Jadad").reset_index(names="Study"))

    def minors_table(self) -> HTML:
        """Items as numerals I–VIII (the paper's Table 1B), with their meaning in the caption."""
        scores = self._scores("MINORS", by="item").reset_index(names="Study")
        q = self.ds.quality
        legend = q[(q["scale"] == "MINORS") & (q["item"] != "total")].drop_duplicates("item")
        caption = "; ".join(f"{i}: {lab}" for i, lab in zip(legend["item"], legend["item_label"]))
        return html(scores, caption=caption)

    def traffic_light(self):
        scores = self._scores("MINORS", by="item")
        items = [c for c in scores.columns if c != "Total (printed)"]
        return figures.traffic_light_figure(scores[items])


def quality_page(data_dir="data", **_) -> QualityPage:
    return QualityPage(dataset(str(data_dir)))


AE_EVENTS = ("thrombocytopenia", "neutropenia", "febrile_neutropenia", "anemia", "hyperbilirubinemia", "nausea",
             "vomiting", "fatigue")


@dataclass(frozen=True)
class AdverseEventsPage:
    rows: pd.DataFrame  # results rows of every AE outcome (overall only)
    labels: dict

    def sentence(self) -> Markdown:
        pooled = self.rows[self.rows["k"] >= 1]
        return Markdown(f"{len(pooled)} of {2 * len(AE_EVENTS)} adverse-event outcomes (8 events × any grade / "
                        f"grade ≥3) have at least one study with counts in the dataset.")

    def table(self) -> HTML:
        out = []
        by = self.rows.set_index("outcome")
        for event in AE_EVENTS:
            line = {"Adverse event": self.labels[f"ae_{event}_any"].split(",")[0]}
            for grade, name in (("any", "Any grade"), ("g3", "Grade ≥3")):
                key = f"ae_{event}_{grade}"
                if key in by.index:
                    r = by.loc[key]
                    line[f"{name}: k"] = int(r["k"])
                    line[f"{name}: % (95% CI)"] = f"{report.pct(r['estimate'])} ({report.interval(r['ci_low'], r['ci_high'])})"
                    line[f"{name}: I²"] = "—" if r["k"] < 2 or math.isnan(r["i2"]) else f"{r['i2']:.1f}%"
                else:
                    line[f"{name}: k"] = 0
                    line[f"{name}: % (95% CI)"] = "no data"
                    line[f"{name}: I²"] = ""
            out.append(line)
        return html(pd.DataFrame(out))


def adverse_events_page(data_dir="data", data_version=None, measure=None, method=None, test=None, pi_dist=None,
                        **_) -> AdverseEventsPage:
    from livingreview.results import results_table
    ds = dataset(str(data_dir))
    ids = [f"ae_{e}_{g}" for e in AE_EVENTS for g in ("any", "g3")]
    rows = results_table(ds, spec_from(measure, method, test, pi_dist), outcomes=ids, data_version=data_version)
    rows = rows[rows["subgroup"] == "overall"]
    labels = dict(zip(ds.definitions["outcome"], ds.definitions["label"]))
    return AdverseEventsPage(rows, labels)


@dataclass(frozen=True)
class DiscussionPage:
    ds: object
    rows: pd.DataFrame
    data_version: int | None

    def glue_numbers(self) -> None:
        """Glue one Markdown snippet per outcome ('89.0% (95% CI 85.8%–92.2%; 15 studies)') for the prose."""
        from myst_nb import glue
        overall = self.rows[self.rows["subgroup"] == "overall"].set_index("outcome")
        for outcome in self.ds.definitions["outcome"]:
            if outcome in overall.index:
                r = overall.loc[outcome]
                text = (f"{report.pct(r['estimate'])} (95% CI {report.interval(r['ci_low'], r['ci_high'])}; "
                        f"{int(r['k'])} {'study' if r['k'] == 1 else 'studies'})")
            else:
                text = "not estimable (no study in the dataset)"
            glue(outcome, Markdown(text), display=False)
        glue("coverage_sentence", Markdown(self.coverage_sentence()), display=False)

    def coverage_sentence(self) -> str:
        """How much of the paper's evidence (version 1) the dataset can trace to a source."""
        d = self.ds.definitions.dropna(subset=["paper_k"])
        have = sum(len(self.ds.pooling_table(o, data_version=1)) for o in d["outcome"])
        want = int(d["paper_k"].sum())
        v1 = self.ds.studies[self.ds.studies["data_version"] == 1]
        missing = int((v1["identification"] == "not identified").sum())
        return (f"The paper pooled {want} study–outcome results for its ten main outcomes; this dataset can trace "
                f"{have} of them to a source. {missing} of its {len(v1)} included studies could not be identified "
                f"from the paper's text, so their results are missing, and where the paper's k is larger than ours "
                f"the estimates are not directly comparable.")


def discussion_page(data_dir="data", data_version=None, measure=None, method=None, test=None, pi_dist=None,
                    **_) -> DiscussionPage:
    from livingreview.results import results_table
    ds = dataset(str(data_dir))
    rows = results_table(ds, spec_from(measure, method, test, pi_dist), data_version=data_version)
    return DiscussionPage(ds, rows, data_version)


def software_table() -> HTML:
    """Versions that produced the book (pinned in requirements.txt; Python to minor version only)."""
    import importlib.metadata as md
    names = ["livingreview", "numpy", "scipy", "pandas", "statsmodels", "matplotlib", "papermill", "jupyter-book"]
    rows = [{"Software": "Python", "Version": ".".join(platform.python_version_tuple()[:2])}]
    for name in names:
        try:
            rows.append({"Software": name, "Version": md.version(name)})
        except md.PackageNotFoundError:
            rows.append({"Software": name, "Version": "not installed"})
    return html(pd.DataFrame(rows))
