"""The book's other figures: PRISMA 2020 flow diagrams (the paper's, and each updated version's), MINORS traffic
lights, leave-one-out plot, model panel, estimates across data versions.

Forest and funnel plots live in :mod:`livingreview.engine.plots`. Everything here draws on a bare ``Figure`` (no pyplot
state, so notebooks never show a figure twice) and returns it; :func:`png_bytes` renders deterministically.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """PNG without the Software/date metadata, so the same figure gives the same bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None}, bbox_inches="tight")
    return buf.getvalue()


def message_figure(text: str) -> Figure:
    fig = Figure(figsize=(6, 1.2))
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11)
    return fig


def _box(ax, x, y, w, h, text, fill="#f4f6f8", edge="#4a5a6a", weight="normal"):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.01,rounding_size=0.01",
                                linewidth=1, edgecolor=edge, facecolor=fill))
    ax.text(x, y, text, ha="center", va="center", fontsize=8.5, wrap=True, weight=weight)


def _arrow(ax, x0, y0, x1, y1):
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="-|>", color="#4a5a6a", lw=1))


def _count(search: pd.DataFrame, stage: str) -> str:
    row = search[search["stage"] == stage]
    if row.empty or row.iloc[0]["status"] != "reported" or pd.isna(row.iloc[0]["count"]):
        return "not reported"
    return f"{int(row.iloc[0]['count']):,}"


def prisma_figure(search: pd.DataFrame, studies: pd.DataFrame) -> Figure:
    """PRISMA 2020 flow diagram (new and updated reviews): previous studies + new studies → included.

    Counts come from ``search.csv`` (version 1: the paper's search) and ``studies.csv`` (studies per data version).
    """
    v1 = studies[studies["data_version"] == 1]
    new = studies[studies["data_version"] > 1]
    stages = {s: _count(search, s) for s in search["stage"]}
    get = lambda *names: next((stages[n] for n in names if n in stages), "not reported")  # noqa: E731
    fig = Figure(figsize=(9.5, 7.2))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    ax.text(0.5, 0.975, "PRISMA 2020 flow diagram", ha="center", va="top", fontsize=11, weight="bold")
    left, right = 0.33, 0.78
    _box(ax, left, 0.87, 0.40, 0.09,
         f"Records identified from databases:\nn = {get('records_databases')}\n"
         f"Registered trials: n = {get('records_registers')}")
    _box(ax, right, 0.87, 0.36, 0.09, f"Duplicates removed: {get('duplicates_removed')}")
    _box(ax, left, 0.70, 0.40, 0.08, f"Records screened: {get('records_screened')}")
    _box(ax, right, 0.70, 0.36, 0.08, f"Records excluded: {get('records_excluded_screening')}")
    _box(ax, left, 0.54, 0.40, 0.08, f"Full texts assessed for eligibility: {get('reports_assessed')}")
    _box(ax, right, 0.54, 0.36, 0.08, f"Full texts excluded, with reasons:\n{get('reports_excluded')}")
    designs = v1["design"].value_counts()
    _box(ax, left, 0.36, 0.40, 0.12,
         f"Studies in the paper (version 1): {len(v1)}\n"
         f"{designs.get('RCT', 0)} RCT · {designs.get('single-arm', 0)} single-arm · "
         f"{designs.get('registered trial', 0)} registered trial\n"
         f"not yet identified from its text: {(v1['identification'] == 'not identified').sum()}",
         fill="#e8f0fa")
    _box(ax, right, 0.36, 0.36, 0.12,
         f"New studies (later data versions):\n{len(new)}"
         + (f" · versions {', '.join(str(v) for v in sorted(new['data_version'].unique()))}" if len(new) else ""),
         fill="#eaf6ea")
    _box(ax, 0.55, 0.13, 0.60, 0.10,
         f"Total studies included in this version of the review: {len(studies)}\n"
         f"patients treated (identified studies): {int(studies['n_treated'].fillna(0).sum()):,}",
         fill="#fdf3e1", weight="bold")
    for y0, y1 in ((0.825, 0.74), (0.66, 0.58), (0.50, 0.42)):
        _arrow(ax, left, y0, left, y1)
    for y in (0.87, 0.70, 0.54):
        _arrow(ax, left + 0.20, y, right - 0.18, y)
    _arrow(ax, left, 0.30, 0.45, 0.18)
    _arrow(ax, right, 0.30, 0.68, 0.18)
    ax.text(0.02, 0.02, "'not reported': the paper does not give this count.", fontsize=7.5, color="#555")
    return fig


NOT_REPORTED = "not reported"
SOURCE_NAMES = {"pubmed": "PubMed", "europepmc": "Europe PMC", "ctgov": "ClinicalTrials.gov"}


def _n(value) -> str:
    """A count for a flow box: '1,234', or "not reported" when the data do not give it (never a guess)."""
    return NOT_REPORTED if value is None else f"{int(value):,}"


def _flow_axes(height: float) -> tuple[Figure, object]:
    fig = Figure(figsize=(11, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    return fig, ax


def _synthesis_box(ax, fd, y: float, h: float) -> None:
    lines = [f"{label}: {k}" for label, k in fd.synthesis] or ["no outcome has a pooled estimate"]
    half = (len(lines) + 1) // 2
    ax.text(0.5, y + h / 2 - 0.005, "Studies in the synthesis of each outcome (k, this version)", ha="center",
            va="top", fontsize=8.5, weight="bold")
    for col, chunk in ((0.06, lines[:half]), (0.53, lines[half:])):
        ax.text(col, y + h / 2 - 0.03, "\n".join(chunk), ha="left", va="top", fontsize=7.8, linespacing=1.35)
    ax.add_patch(FancyBboxPatch((0.03, y - h / 2), 0.94, h, boxstyle="round,pad=0.005,rounding_size=0.01",
                                linewidth=1, edgecolor="#4a5a6a", facecolor="#fbfbfb"))


def prisma_update_figure(fd) -> Figure:
    """The PRISMA 2020 flow diagram of one data version (``livingreview.review.history.FlowDiagram``).

    Version 1: the paper's counts (``search.csv``). A later version: the diagram for updated reviews — the previous
    version's studies and reports, new studies via databases and registers (from the recorded search runs and
    screening decisions) and via other methods (studies added without a recorded search), the total, and the
    studies in each outcome's synthesis. A count the data do not give is drawn as "not reported"."""
    n_syn = max(len(fd.synthesis), 1)
    syn_h = 0.05 + 0.018 * ((n_syn + 1) // 2)
    fig, ax = _flow_axes(8.6 + 3.2 * syn_h)
    scale = 1 - syn_h - 0.05  # the flow above, the synthesis box below
    Y = lambda y: syn_h + 0.04 + y * scale  # noqa: E731
    ax.text(0.5, 0.995, f"PRISMA 2020 flow diagram — data version {fd.version}"
            + ("" if fd.previous is None else f" (update of version {fd.previous})"),
            ha="center", va="top", fontsize=11, weight="bold")
    if fd.previous is None:
        p = fd.paper or {}
        x, side = 0.36, 0.80
        _box(ax, x, Y(0.88), 0.44, 0.07, f"Records identified from databases: n = {_n(p.get('records_databases'))}\n"
             f"Registered trials: n = {_n(p.get('records_registers'))}")
        _box(ax, side, Y(0.88), 0.30, 0.07, f"Duplicates removed: {_n(p.get('duplicates_removed'))}")
        _box(ax, x, Y(0.70), 0.44, 0.06, f"Records screened: {_n(p.get('records_screened'))}")
        _box(ax, side, Y(0.70), 0.30, 0.06, f"Records excluded: {_n(p.get('records_excluded_screening'))}")
        _box(ax, x, Y(0.52), 0.44, 0.06, f"Full texts assessed for eligibility: {_n(p.get('reports_assessed'))}")
        _box(ax, side, Y(0.52), 0.30, 0.06, f"Full texts excluded: {_n(p.get('reports_excluded'))}")
        _box(ax, x, Y(0.30), 0.50, 0.10, f"Studies included (the paper): {_n(p.get('studies_included'))}\n"
             f"in this dataset: {fd.total_studies} studies, {fd.total_reports} reports", fill="#fdf3e1",
             weight="bold")
        for y0, y1 in ((0.845, 0.73), (0.67, 0.55), (0.49, 0.35)):
            _arrow(ax, x, Y(y0), x, Y(y1))
        for y in (0.88, 0.70, 0.52):
            _arrow(ax, x + 0.22, Y(y), side - 0.15, Y(y))
        foot = "'not reported': the paper does not give this count."
    else:
        xp, xd, xo, w = 0.15, 0.50, 0.85, 0.27
        for xx, head in ((xp, "Previous studies"), (xd, "New studies via databases and registers"),
                         (xo, "New studies via other methods")):
            ax.text(xx, 0.955, head, ha="center", va="top", fontsize=9, weight="bold", color="#2b4a6a")
        _box(ax, xp, Y(0.86), w, 0.08, f"Studies included in version {fd.previous}:\nn = {_n(fd.previous_studies)}"
             f"\nReports of these studies: n = {_n(fd.previous_reports)}", fill="#e8f0fa")
        f = fd.search
        if f is None:
            _box(ax, xd, Y(0.55), w, 0.12, "No search run is recorded\nfor this version: no records\n"
                 "identified, screened or assessed", fill="#f7f7f7")
        else:
            per = "\n".join(f"{SOURCE_NAMES.get(s, s)}: n = {_n(c)}" for s, c in f.records_identified.items())
            reasons = "".join(f"\n  {r}: {c}" for r, c in f.reports_excluded_reasons.items())
            stages = [  # (position, height, text, fill): one box per PRISMA stage, top to bottom
                (0.86, 0.10, f"Records identified\n{per}", None),
                (0.745, 0.06, f"Removed before screening:\nduplicates n = {_n(f.duplicates_removed)}; "
                              f"other: {_n(f.records_removed_other)}", None),
                (0.635, 0.06, f"Records screened: n = {_n(f.records_screened)}\nexcluded: "
                              f"{_n(f.records_excluded)}; awaiting: {_n(f.records_awaiting_screening)}", None),
                (0.525, 0.06, f"Reports sought: n = {_n(f.reports_sought)}\nnot retrieved: "
                              f"{_n(f.reports_not_retrieved)}", None),
                (0.38, 0.08 + 0.02 * len(f.reports_excluded_reasons),
                 f"Reports assessed: n = {_n(f.reports_assessed)}\nexcluded: {_n(f.reports_excluded)}{reasons}"
                 f"\nawaiting: {_n(f.reports_awaiting_assessment)}", None),
                (0.215, 0.08, f"New studies included: n = {_n(f.new_studies_included)}\nreports of new studies: "
                              f"n = {_n(f.reports_of_new_studies)}\nreports of previous studies: "
                              f"n = {_n(f.reports_of_previous_studies)}", "#eaf6ea"),
            ]
            for y, h, text, fill in stages:
                _box(ax, xd, Y(y), w, h, text, **({"fill": fill} if fill else {}))
            for (y0, h0, *_), (y1, h1, *_) in zip(stages, stages[1:]):
                _arrow(ax, xd, Y(y0) - h0 / 2, xd, Y(y1) + h1 / 2)
        if fd.other_methods is None:
            _box(ax, xo, Y(0.55), w, 0.08, "None recorded", fill="#f7f7f7")
        else:
            _box(ax, xo, Y(0.86), w, 0.10, "Studies identified without a\nsystematic search (publications\n"
                 "that came to the project's attention)")
            _box(ax, xo, Y(0.55), w, 0.08, f"Records screened: {NOT_REPORTED}\nReports assessed: {NOT_REPORTED}")
            _box(ax, xo, Y(0.215), w, 0.07, f"New studies included: n = {fd.other_methods}", fill="#eaf6ea")
            _arrow(ax, xo, Y(0.81), xo, Y(0.59))
            _arrow(ax, xo, Y(0.51), xo, Y(0.215) + 0.035)
        top = Y(0.06) + 0.03
        _box(ax, 0.5, Y(0.06), 0.60, 0.06, f"Total studies included in version {fd.version}: n = {fd.total_studies}"
             f"\nreports of total included studies: n = {fd.total_reports}", fill="#fdf3e1", weight="bold")
        _arrow(ax, xp, Y(0.82), 0.30, top)
        if f is not None:
            _arrow(ax, xd, Y(0.215) - 0.04, xd, top)
        if fd.other_methods is not None:
            _arrow(ax, xo, Y(0.215) - 0.035, 0.70, top)
        foot = "'not reported': the project's search records do not give this count."
    _synthesis_box(ax, fd, syn_h / 2 + 0.02, syn_h)
    ax.text(0.02, 0.004, foot, fontsize=7.5, color="#555", va="bottom")
    return fig


def estimates_across_versions_figure(frame: pd.DataFrame) -> Figure:
    """One panel per outcome: its overall estimate (square), 95% CI (thick line) and 95% PI (thin line) in each data
    version (``livingreview.review.history.estimates_across_versions``); a version without an estimate is left empty."""
    outcomes = list(dict.fromkeys(frame["outcome"]))
    if not outcomes:
        return message_figure("No outcome has a pooled estimate in any data version.")
    versions = sorted(frame["data_version"].unique())
    cols = 3
    rows = math.ceil(len(outcomes) / cols)
    fig = Figure(figsize=(11, 0.6 + rows * (0.55 + 0.32 * len(versions))))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, outcome in zip(axes.flat, outcomes):
        g = frame[frame["outcome"] == outcome].set_index("data_version")
        for i, v in enumerate(versions):
            y = -i
            if v not in g.index or pd.isna(g.loc[v, "estimate"]):
                ax.text(50, y, "no estimate", ha="center", va="center", fontsize=7, color="#888")
                continue
            r = g.loc[v]
            if not pd.isna(r["pi_low"]):
                ax.plot([100 * r["pi_low"], 100 * r["pi_high"]], [y, y], color="#9ab", lw=1)
            ax.plot([100 * r["ci_low"], 100 * r["ci_high"]], [y, y], color="#2b5d8a", lw=3, solid_capstyle="butt")
            ax.plot([100 * r["estimate"]], [y], "s", color="black", ms=5)
            ax.text(101, y, f"k = {int(r['k'])}", va="center", fontsize=7)
        ax.set_yticks([-i for i in range(len(versions))], [f"v{v}" for v in versions], fontsize=8)
        ax.set_ylim(-len(versions) + 0.4, 0.6)
        ax.set_xlim(0, 100)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title(str(g["label"].iloc[0]), fontsize=8.5, loc="left")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    for ax in list(axes.flat)[len(outcomes):]:
        ax.axis("off")
    fig.supxlabel("pooled proportion (%) — square: estimate; thick line: 95% CI; thin line: 95% PI", fontsize=8.5)
    fig.tight_layout()
    return fig


TRAFFIC = {2: ("#2e8b57", "2"), 1: ("#f0ad4e", "1"), 0: ("#d9534f", "0")}


def traffic_light_figure(scores: pd.DataFrame) -> Figure:
    """One coloured cell per study × MINORS item (2 green, 1 amber, 0 red), as risk-of-bias charts do."""
    n_rows, n_cols = scores.shape
    fig = Figure(figsize=(1.6 + 0.55 * n_cols + 1.6, 0.8 + 0.34 * n_rows))
    ax = fig.add_subplot()
    for i, (study, row) in enumerate(scores.iterrows()):
        for j, value in enumerate(row):
            colour, text = TRAFFIC.get(int(value), ("#cccccc", "?"))
            ax.add_patch(plt_circle((j, -i), colour))
            ax.text(j, -i, text, ha="center", va="center", fontsize=8, color="white", weight="bold")
    ax.set_xlim(-0.6, n_cols - 0.4)
    ax.set_ylim(-n_rows + 0.4, 0.6)
    ax.set_xticks(range(n_cols), [str(c) for c in scores.columns], fontsize=8)
    ax.xaxis.tick_top()
    ax.set_yticks([-i for i in range(n_rows)], list(scores.index), fontsize=8)
    ax.set_aspect("equal")
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(length=0)
    ax.set_title("MINORS items", fontsize=9, pad=18)
    return fig


def plt_circle(xy, colour):
    from matplotlib.patches import Circle
    return Circle(xy, 0.38, facecolor=colour, edgecolor="none")


def leave_one_out_figure(loo, full, label: str) -> Figure:
    """Each omitted study's pooled estimate and CI (proportion scale) against the all-studies estimate."""
    k = len(loo.label)
    fig = Figure(figsize=(7.5, 1.0 + 0.32 * k))
    ax = fig.add_subplot()
    y = -np.arange(k)
    ax.axvspan(100 * full.ci_low, 100 * full.ci_high, color="#dde7f3", zorder=0, label="95% CI, all studies")
    ax.axvline(100 * full.estimate, color="#2b5d8a", lw=1, ls="--", label="estimate, all studies")
    ax.errorbar(100 * loo.prop_estimate, y,
                xerr=[100 * (loo.prop_estimate - loo.prop_ci_low), 100 * (loo.prop_ci_high - loo.prop_estimate)],
                fmt="s", color="black", ms=4, lw=1, capsize=2)
    ax.set_yticks(y, [f"without {s}" for s in loo.label], fontsize=8)
    ax.set_xlabel(f"{label} (%)")
    ax.set_ylim(-k + 0.4, 0.8)
    lo = math.floor(min(np.nanmin(loo.prop_ci_low), full.ci_low) * 20) * 5
    hi = math.ceil(max(np.nanmax(loo.prop_ci_high), full.ci_high) * 20) * 5
    ax.set_xlim(max(lo, 0), min(hi, 100))
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


def specification_figure(panel: pd.DataFrame, label: str) -> Figure:
    """The model panel as a compact forest: one row per specification (estimate and 95% CI, PI as a thin line),
    the page's analysis in blue, the paper's probable model in orange."""
    rows = panel.reset_index(drop=True)
    k = len(rows)
    fig = Figure(figsize=(7.5, 1.0 + 0.24 * k))
    ax = fig.add_subplot()
    y = -np.arange(k)
    colours = ["#2b5d8a" if p else "#d95f02" if q else "black" for p, q in zip(rows["primary"], rows["paper"])]
    for yi, r, colour in zip(y, rows.itertuples(), colours):
        if not np.isfinite(r.estimate):
            continue
        if np.isfinite(r.pi_low) and np.isfinite(r.pi_high):
            ax.plot([100 * r.pi_low, 100 * r.pi_high], [yi, yi], color=colour, lw=0.6, alpha=0.6)
        ax.plot([100 * r.ci_low, 100 * r.ci_high], [yi, yi], color=colour, lw=1.6)
        ax.plot(100 * r.estimate, yi, "s", color=colour, ms=4)
    names = [f"{m} · {me} · {'HK' if t == 'knha' else t}" if m != "GLMM" else "GLMM (logit, ML)"
             for m, me, t in zip(rows["measure"], rows["method"], rows["test"])]
    names = [n + (" — this page" if p else " — paper's probable" if q else "")
             for n, p, q in zip(names, rows["primary"], rows["paper"])]
    ax.set_yticks(y, names, fontsize=7.5)
    for tick, colour in zip(ax.get_yticklabels(), colours):
        tick.set_color(colour)
    ax.set_xlabel(f"{label} (%): estimate, 95% CI (thick) and 95% PI (thin)")
    ax.set_ylim(-k + 0.4, 0.6)
    ax.grid(axis="x", color="0.9", lw=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


@dataclass(frozen=True)
class StackedFigure:
    """Several PNGs one below the other (for a data-dependent number of forest plots in one glued figure)."""

    pngs: tuple[bytes, ...]
    gap: int = 24

    def _repr_png_(self) -> bytes:
        from PIL import Image
        images = [Image.open(io.BytesIO(p)).convert("RGB") for p in self.pngs]
        width = max(i.width for i in images)
        height = sum(i.height for i in images) + self.gap * (len(images) - 1)
        canvas = Image.new("RGB", (width, height), "white")
        y = 0
        for image in images:
            canvas.paste(image, (0, y))
            y += image.height + self.gap
        buf = io.BytesIO()
        canvas.save(buf, format="PNG", optimize=False)
        return buf.getvalue()
