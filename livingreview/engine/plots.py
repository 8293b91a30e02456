"""Forest and funnel plots in plain matplotlib, laid out like metafor's ``forest()`` and ``funnel()``.

Every plot returns a frozen dataclass holding the ``Figure`` and a ``DataFrame`` of exactly what was drawn, so
tests and notebooks check numbers, not pixels. Figures are built with ``matplotlib.figure.Figure`` (no pyplot
state) inside a local ``rc_context`` (no global rcParams change); ``save_figure`` writes byte-identical files.

Layout of the forest plot: one axes holds the plot area; the text columns sit outside it, placed in points
from the axes edges (so a caller-supplied ``ax`` works too, given room on both sides).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import NormalDist
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch, Polygon
from matplotlib.text import Text
from matplotlib.ticker import FormatStrFormatter, FuncFormatter, MaxNLocator, NullFormatter, PercentFormatter
from matplotlib.transforms import ScaledTranslation, blended_transform_factory

from .effects import back_transform, study_intervals, transform
from .options import STUDY_CI_METHODS

__all__ = [
    "MEASURE_AXIS_LABELS",
    "DiagnosticPlot",
    "ForestPlot",
    "FunnelPlot",
    "alt_text",
    "baujat_plot",
    "bubble_plot",
    "cumulative_plot",
    "forest_plot",
    "funnel_plot",
    "gosh_plot",
    "influence_plot",
    "png_bytes",
    "save_figure",
    "svg_bytes",
]

DPI = 100
FONT_SIZE = 9.0
SMALL_FONT_SIZE = 8.0
ROW_HEIGHT_IN = 0.24  # 24 px per row at 100 dpi: 9 pt text (12.5 px) with air between rows
PLOT_WIDTH_IN = 3.0
COLUMN_GAP_PT = 12.0
NEW_COLOUR = "#d95f02"
STUDY_COLOUR = "#222222"
SUBGROUP_COLOUR = "#555555"
OVERALL_COLOUR = "#000000"
MAX_SQUARE_AREA = 110.0  # pt², the heaviest study's square
MIN_SQUARE_AREA = 7.0

STUDY_CI_NAMES = {"transformed": "back-transformed Wald interval of the model's scale",
                  "clopper-pearson": "Clopper–Pearson (exact)", "wilson": "Wilson score"}

MEASURE_AXIS_LABELS = {
    "PR": "Proportion",
    "PLO": "Logit proportion",
    "PAS": "Arcsine-transformed proportion",
    "PFT": "Freeman–Tukey transformed proportion",
}

# Local style only: applied via rc_context while the figure is built, never written to global rcParams.
_STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": FONT_SIZE,
    "axes.linewidth": 0.8,
    "axes.titlesize": 10,
    "xtick.labelsize": FONT_SIZE,
    "ytick.labelsize": FONT_SIZE,
    "axes.labelsize": FONT_SIZE,
    "svg.fonttype": "path",
    "svg.hashsalt": "livingreview",
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
}


# --------------------------------------------------------------------------------------------------------------
# Result containers
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForestPlot:
    """A drawn forest plot: the figure plus one data row per drawn row (proportion scale, 0–1)."""

    figure: Figure
    data: pd.DataFrame
    measure: str
    method: str
    level: float
    q_between: float | None = None
    q_between_df: float | None = None
    q_between_p: float | None = None
    study_ci: str = "transformed"

    def _repr_png_(self):  # lets a notebook cell ending in forest_plot(...) show the picture
        return _png_bytes(self.figure)

    @property
    def alt_text(self) -> str:
        return alt_text(self)


@dataclass(frozen=True)
class FunnelPlot:
    """A drawn funnel plot: the figure plus its points (kind observed/filled, transformed scale)."""

    figure: Figure
    data: pd.DataFrame
    measure: str
    estimate: float
    yaxis: str
    k0: int = 0
    side: str | None = None
    egger_p: float | None = None
    estimate_proportion: float | None = None  # the pooled estimate back-transformed (0–1)
    contours: tuple[float, ...] = ()
    reference: float | None = None  # centre of the pseudo-confidence regions (transformed scale)

    def _repr_png_(self):
        return _png_bytes(self.figure)

    @property
    def alt_text(self) -> str:
        return alt_text(self)


# --------------------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------------------


def _plain(text) -> str:
    """A label as one line of plain text: line breaks and tabs become spaces (mathtext is off, see _literal)."""
    return re.sub(r"[\r\n\t\v\f]+", " ", str(text))


def _literal(fig: Figure) -> Figure:
    """Draw every text of the figure literally: matplotlib would read "$…$" in a study label as mathtext.

    Tick labels and axis offsets are left alone: they come from formatters (numbers, percentages, log-axis
    powers written in mathtext), never from the data's labels."""
    generated = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            generated.add(id(axis.offsetText))
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                generated.update((id(tick.label1), id(tick.label2)))
    for t in fig.findobj(Text):
        if id(t) not in generated:
            t.set_parse_math(False)
    return fig


def _percent_formatter() -> FuncFormatter:
    """Proportions as percentages with only the digits needed (60%, 37.5%)."""
    return FuncFormatter(lambda v, _pos: f"{100 * v:.4g}%")


def _level_fraction(level: float) -> float:
    """metafor speaks of level=95; accept both 95 and 0.95."""
    level = float(level)
    return level / 100.0 if level > 1 else level


def _z(level: float) -> float:
    return NormalDist().inv_cdf(1 - (1 - _level_fraction(level)) / 2)


def _level_label(level: float) -> str:
    return f"{_level_fraction(level) * 100:g}%"


def _fmt_prop(p: float, percent: bool) -> str:
    if p is None or not np.isfinite(p):
        return "NA"
    return f"{p * 100:.1f}%" if percent else f"{p:.3f}"


def _fmt_ci(est: float, lo: float, hi: float, percent: bool) -> str:
    return f"{_fmt_prop(est, percent)} [{_fmt_prop(lo, percent)}, {_fmt_prop(hi, percent)}]"


def _fmt_p(p: float | None) -> str:
    if p is None or not np.isfinite(p):
        return "NA"
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def _fmt_num(x: float | None, digits: int = 3) -> str:
    if x is None or not np.isfinite(x):
        return "NA"
    if x == 0:
        return "0"
    return f"{x:.{digits}g}" if abs(x) < 1 else f"{x:.2f}"


def _fmt_i2(i2: float) -> str:
    return "NA" if i2 is None or not np.isfinite(i2) else f"{i2:.1f}%"


def _model_label(method: str) -> str:
    return "FE model" if method.upper() in {"FE", "EE", "CE"} else "RE model"


def _text_width_pt(strings: Iterable[str], size: float, weight: str = "normal", style: str = "normal") -> float:
    """Rendered width in points of the widest string (Agg metrics at 72 dpi, i.e. in points)."""
    renderer = RendererAgg(1, 1, 72)
    prop = FontProperties(family=_STYLE["font.family"], size=size, weight=weight, style=style)
    widths = [renderer.get_text_width_height_descent(s, prop, ismath=False)[0] for s in strings if s]
    return (max(widths) if widths else 0.0) * 1.04 + 2.0  # hinting differs a little between sizes: keep slack


def _png_bytes(fig: Figure) -> bytes:
    import io

    buf = io.BytesIO()
    with matplotlib.rc_context(_STYLE):
        fig.savefig(buf, format="png", dpi=fig.dpi, metadata={"Software": None})
    return buf.getvalue()


def _new_figure(width_in: float, height_in: float) -> Figure:
    fig = Figure(figsize=(width_in, height_in), dpi=DPI)
    FigureCanvasAgg(fig)  # attach a canvas so text can be measured and the figure saved without pyplot
    fig.set_dpi(DPI)
    return fig


# --------------------------------------------------------------------------------------------------------------
# Forest plot: rows
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    """One line of the forest plot. Text-only rows (heading, stats) carry no numbers."""

    kind: str  # study | subgroup_pooled | overall_pooled | prediction | heading | stats | blank
    label: str = ""
    group: str | None = None
    events: float = np.nan
    total: float = np.nan
    estimate: float = np.nan
    ci_low: float = np.nan
    ci_high: float = np.nan
    weight: float = np.nan
    new: bool = False
    subgroup_weight: float = np.nan  # the study's weight within its subgroup's own model (percent)
    shared: str = ""  # marker of the group of studies that share patients ("" if none)


DATA_KINDS = ("study", "subgroup_pooled", "overall_pooled", "prediction")
UNKNOWN_GROUP = "Unknown (no subgroup)"
SHARED_MARKERS = ("†", "‡", "§", "¶", "#")


def _study_rows(res: Any, group: str | None, opts: dict, weights=None, subgroup_weights=None) -> list[_Row]:
    """One row per study of a fitted model; CI by ``opts["study_ci"]`` (:func:`study_intervals`)."""
    es = res.es
    est, lo, hi = study_intervals(es, _level_fraction(res.level), method=opts["study_ci"])
    n = len(es.yi)
    w = np.asarray(res.weights, float) if weights is None else np.asarray(weights, float)
    sw = np.full(n, np.nan) if subgroup_weights is None else np.asarray(subgroup_weights, float)
    labels = [_plain(x) for x in es.labels]
    return [
        _Row("study", labels[i], group, float(es.xi[i]), float(es.ni[i]), est[i], lo[i], hi[i], w[i],
             str(es.labels[i]) in opts["new_studies"], sw[i], opts["shared"].get(str(es.labels[i]), ""))
        for i in range(n)
    ]


def _pooled_row(res: Any, kind: str, label: str, group: str | None) -> _Row:
    p = res.proportion()
    return _Row(kind, label, group, float(np.sum(res.es.xi)), float(np.sum(res.es.ni)),
                float(p.estimate), float(p.ci_low), float(p.ci_high), 100.0)


def _has_pi(res: Any) -> bool:
    """A prediction interval exists for RE models with finite bounds; the t(k−2) interval needs k ≥ 3."""
    if _model_label(res.method) == "FE model":
        return False
    if str(getattr(res, "pi_dist", "t2")) == "t2" and res.k < 3:
        return False
    p = res.proportion()
    return p.pi_low is not None and p.pi_high is not None and bool(np.isfinite([p.pi_low, p.pi_high]).all())


def _prediction_row(res: Any, group: str | None) -> _Row:
    p = res.proportion()
    return _Row("prediction", f"{_level_label(res.level)} prediction interval", group,
                estimate=float(p.estimate), ci_low=float(p.pi_low), ci_high=float(p.pi_high))


def _stats_text(res: Any) -> str:
    return f"I² = {_fmt_i2(res.i2)}, τ² = {_fmt_num(res.tau2)}, Q-p {_fmt_p(res.q_p)}"


def _labels_of(res: Any) -> list[str]:
    return [str(x) for x in res.es.labels]


def _overall_weights(res: Any, labels) -> np.ndarray:
    """Each study's weight in the overall model, matched by label in order (a label may repeat)."""
    queue: dict[str, list[float]] = {}
    for label, w in zip(res.es.labels, np.asarray(res.weights, float)):
        queue.setdefault(str(label), []).append(w)
    return np.array([queue[str(lb)].pop(0) if queue.get(str(lb)) else np.nan for lb in labels])


def _build_rows(res: Any, subgroups: Any, opts: dict) -> list[_Row]:
    """Rows top to bottom. With subgroups every study shows its weight in the overall analysis (RevMan's
    convention; the within-subgroup weight is kept in ``subgroup_weight``) and each subgroup's pooled row the sum
    of its studies' weights; a subgroup of one study gets neither a diamond nor a heterogeneity line."""
    model = _model_label(res.method)
    if subgroups is None:
        rows = _study_rows(res, None, opts)
    else:
        rows = []
        covered: list[str] = []
        for name, sub in subgroups.levels.items():
            name = _plain(name)
            overall = _overall_weights(res, sub.es.labels)
            rows.append(_Row("heading", name, name))
            rows += _study_rows(sub, name, opts, weights=overall, subgroup_weights=sub.weights)
            if sub.k > 1:
                pooled = _pooled_row(sub, "subgroup_pooled", f"{model} for subgroup", name)
                rows.append(replace(pooled, weight=float(np.nansum(overall)), subgroup_weight=100.0))
                rows.append(_Row("stats", _stats_text(sub), name))
            rows.append(_Row("blank"))
            covered += _labels_of(sub)
        rows += _unpooled_rows(res, covered, opts)
    if rows[-1].kind != "blank":
        rows.append(_Row("blank"))
    rows.append(_pooled_row(res, "overall_pooled", f"{model} for all studies" if subgroups else model, None))
    if _has_pi(res):
        rows.append(_prediction_row(res, None))
    return rows


def _unpooled_rows(res: Any, covered: list[str], opts: dict) -> list[_Row]:
    """Studies in the overall model that no subgroup pooled (e.g. unknown level, or a level excluded for k=1),
    with their weight in the overall analysis."""
    remaining = list(covered)
    keep = []
    for i, label in enumerate(_labels_of(res)):
        if label in remaining:
            remaining.remove(label)
        else:
            keep.append(i)
    if not keep:
        return []
    rows = _study_rows(res, UNKNOWN_GROUP, opts)
    return [_Row("heading", UNKNOWN_GROUP, UNKNOWN_GROUP)] + [rows[i] for i in keep] + [_Row("blank")]


# --------------------------------------------------------------------------------------------------------------
# Forest plot: drawing
# --------------------------------------------------------------------------------------------------------------


def _auto_xlim(frame: pd.DataFrame) -> tuple[float, float]:
    """Span every interval inside [0, 1], rounded out to a tick step so both axis ends carry a label."""
    lo = max(0.0, float(np.nanmin(frame[["estimate", "ci_low"]].to_numpy())))
    hi = min(1.0, float(np.nanmax(frame[["estimate", "ci_high"]].to_numpy())))
    for step in (0.02, 0.05, 0.1, 0.2, 0.25):
        a, b = math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step
        if (b - a) / step <= 5:
            break
    a, b = max(0.0, a), min(1.0, b)
    return (a, b) if b > a else (max(0.0, a - step), min(1.0, b + step))


def _clip_interval(ax, y: float, lo: float, hi: float, xlim: tuple[float, float], colour: str, lw: float):
    """Draw lo–hi on row y, cut at the axis limits with an arrowhead where it runs past them."""
    a, b = max(lo, xlim[0]), min(hi, xlim[1])
    if b > a:
        ax.plot([a, b], [y, y], color=colour, lw=lw, solid_capstyle="butt", zorder=2)
    if lo < xlim[0]:
        ax.plot([xlim[0]], [y], marker="<", color=colour, ms=5, clip_on=False, zorder=3)
    if hi > xlim[1]:
        ax.plot([xlim[1]], [y], marker=">", color=colour, ms=5, clip_on=False, zorder=3)
    return lo < xlim[0], hi > xlim[1]


def _diamond(ax, y: float, est: float, lo: float, hi: float, colour: str, xlim: tuple[float, float]):
    """The pooled estimate and CI; the axes clip a diamond wider than the axis, an arrow marks the cut side."""
    pts = [(lo, y), (est, y + 0.32), (hi, y), (est, y - 0.32)]
    ax.add_patch(Polygon(pts, closed=True, facecolor=colour, edgecolor=colour, lw=0.8, zorder=3))
    for x, cut, marker in ((xlim[0], lo < xlim[0], "<"), (xlim[1], hi > xlim[1], ">")):
        if cut:
            ax.plot([x], [y], marker=marker, color=colour, ms=5, clip_on=False, zorder=3)
    return lo < xlim[0], hi > xlim[1]


def _prediction_bar(ax, y: float, lo: float, hi: float, xlim: tuple[float, float]):
    """A thin bar with end caps (metafor addpred draws the PI as a line around the diamond)."""
    clipped = _clip_interval(ax, y, lo, hi, xlim, OVERALL_COLOUR, 1.2)
    for x, cut in ((lo, clipped[0]), (hi, clipped[1])):
        if not cut:
            ax.plot([x, x], [y - 0.18, y + 0.18], color=OVERALL_COLOUR, lw=1.2, zorder=2)
    return clipped


@dataclass(frozen=True)
class _Columns:
    """Horizontal positions (points, from the axes edges) of the text columns."""

    label_x: float  # left edge of the label column, negative = left of the axes
    events_x: float  # right edge of the events/total column
    estimate_x: float  # right edge of the estimate column, measured from the axes' right edge
    weight_x: float
    left_pt: float  # total width needed left of the axes
    right_pt: float


def _columns(rows: list[_Row], show_counts: bool, show_weights: bool, percent: bool) -> _Columns:
    label_w = max(
        _text_width_pt([_display_label(r) for r in rows if r.kind in ("study", "prediction")] + ["Study"], FONT_SIZE),
        _text_width_pt([_display_label(r) for r in rows if r.kind in ("heading", "subgroup_pooled", "overall_pooled")],
                       FONT_SIZE, weight="bold"),
    )
    events_w = _text_width_pt([_events_text(r) for r in rows] + ["Events/Total"], FONT_SIZE) if show_counts else 0.0
    stats_w = _text_width_pt([r.label for r in rows if r.kind == "stats"], SMALL_FONT_SIZE, style="italic")
    left = max(label_w + (COLUMN_GAP_PT + events_w if show_counts else 0.0), stats_w) + COLUMN_GAP_PT
    est_w = _text_width_pt([_estimate_text(r, percent) for r in rows] + ["Estimate [95% CI]"], FONT_SIZE, "bold")
    weight_w = _text_width_pt(["Weight", "100.0%"], FONT_SIZE, "bold") if show_weights else 0.0
    estimate_x = COLUMN_GAP_PT + 6.0 + est_w  # room for a clipping arrow at the axis edge
    weight_x = estimate_x + COLUMN_GAP_PT + weight_w
    right = (weight_x if show_weights else estimate_x) + 6.0
    return _Columns(-left, -COLUMN_GAP_PT, estimate_x, weight_x, left, right)


def _display_label(row: _Row) -> str:
    label = f"{row.label} {row.shared}" if row.shared else row.label
    return f"{label}  (new)" if row.new and "[new]" not in row.label else label


def _events_text(row: _Row) -> str:
    if row.kind in ("study", "subgroup_pooled", "overall_pooled") and np.isfinite(row.events):
        return f"{int(row.events)}/{int(row.total)}"
    return ""


def _estimate_text(row: _Row, percent: bool) -> str:
    if row.kind == "prediction":
        return f"[{_fmt_prop(row.ci_low, percent)}, {_fmt_prop(row.ci_high, percent)}]"
    if row.kind in ("study", "subgroup_pooled", "overall_pooled"):
        return _fmt_ci(row.estimate, row.ci_low, row.ci_high, percent)
    return ""


def _weight_text(row: _Row) -> str:
    if row.kind in ("study", "subgroup_pooled", "overall_pooled") and np.isfinite(row.weight):
        return f"{row.weight:.1f}%"
    return ""


def _text_at(ax, x_pt: float, side: str, y: float, s: str, **kw):
    """Text at a point offset from the left (side='left') or right axes edge, row y in data units."""
    base = 0.0 if side == "left" else 1.0
    trans = blended_transform_factory(ax.transAxes, ax.transData) + ScaledTranslation(
        x_pt / 72.0, 0, ax.figure.dpi_scale_trans
    )
    return ax.text(base, y, s, transform=trans, va="center", clip_on=False, **kw)


def _rule(ax, y: float, cols: _Columns, lw: float = 0.6):
    """A horizontal rule spanning the text columns and the plot (metafor draws one under the header)."""
    fig = ax.figure
    trans = blended_transform_factory(ax.transAxes, ax.transData)
    width_pt = ax.get_position().width * fig.get_figwidth() * 72.0
    x0 = cols.label_x / width_pt
    x1 = 1.0 + cols.right_pt / width_pt
    ax.plot([x0, x1], [y, y], transform=trans, color="0.3", lw=lw, clip_on=False)


def _draw_rows(ax, rows: list[_Row], ys: list[float], cols: _Columns, xlim, opts) -> list[dict]:
    drawn = []
    max_w = max([r.weight for r in rows if r.kind == "study" and np.isfinite(r.weight)] or [1.0])
    for row, y in zip(rows, ys):
        colour = NEW_COLOUR if row.new else STUDY_COLOUR
        bold = "bold" if row.kind in ("heading", "subgroup_pooled", "overall_pooled") else "normal"
        if row.kind == "stats":
            _text_at(ax, cols.label_x + 8, "left", y, row.label, ha="left", fontsize=SMALL_FONT_SIZE,
                     style="italic", color="0.25")
            continue
        if row.kind == "blank":
            continue
        _text_at(ax, cols.label_x + (8 if row.kind in ("study", "prediction") and row.group else 0), "left", y,
                 _display_label(row), ha="left", fontweight=bold, color=colour if row.new else "black")
        if row.kind == "heading":
            continue
        if opts["show_counts"]:
            _text_at(ax, cols.events_x, "left", y, _events_text(row), ha="right", color="black")
        _text_at(ax, cols.estimate_x, "right", y, _estimate_text(row, opts["percent"]), ha="right",
                 fontweight=bold)
        if opts["show_weights"]:
            _text_at(ax, cols.weight_x, "right", y, _weight_text(row), ha="right", fontweight=bold)
        clipped = _draw_marks(ax, row, y, xlim, max_w, colour)
        drawn.append({**row.__dict__, "y": y, "clipped_low": clipped[0], "clipped_high": clipped[1]})
    return drawn


def _draw_marks(ax, row: _Row, y: float, xlim, max_w: float, colour: str):
    if row.kind == "study":
        clipped = _clip_interval(ax, y, row.ci_low, row.ci_high, xlim, colour, 1.0)
        w = row.weight if np.isfinite(row.weight) else 0.0
        area = max(MIN_SQUARE_AREA, MAX_SQUARE_AREA * w / max_w)  # area ∝ weight
        ax.scatter([row.estimate], [y], s=area, marker="s", color=colour, zorder=4, linewidths=0)
        return clipped
    if row.kind == "subgroup_pooled":
        return _diamond(ax, y, row.estimate, row.ci_low, row.ci_high, SUBGROUP_COLOUR, xlim)
    if row.kind == "overall_pooled":
        return _diamond(ax, y, row.estimate, row.ci_low, row.ci_high, OVERALL_COLOUR, xlim)
    return _prediction_bar(ax, y, row.ci_low, row.ci_high, xlim)


def _footer_lines(res: Any, subgroups: Any) -> list[str]:
    lines = [
        f"Heterogeneity: τ² = {_fmt_num(res.tau2)}, I² = {_fmt_i2(res.i2)}, "
        f"Q = {_fmt_num(res.q, 4)} (df = {int(res.q_df)}), p {_fmt_p(res.q_p)}"
    ]
    if subgroups is not None:
        lines.append(
            f"Test for subgroup differences: Q_between = {_fmt_num(subgroups.q_between, 4)} "
            f"(df = {int(subgroups.q_between_df)}), p {_fmt_p(subgroups.q_between_p)}"
        )
    return lines


def _row_positions(rows: list[_Row]) -> list[float]:
    """Top row at y = 0, each next row one unit lower."""
    return [-float(i) for i in range(len(rows))]


def forest_plot(
    res: Any,
    subgroups: Any = None,
    *,
    title: str | None = None,
    xlabel: str = "Proportion",
    ax=None,
    show_weights: bool = True,
    show_counts: bool = True,
    percent: bool = True,
    new_studies: Sequence[str] = (),
    xlim: tuple[float, float] | None = None,
    shared_patients: Iterable[str] | Mapping[str, str] = (),
    study_ci: str = "transformed",
) -> ForestPlot:
    """Forest plot of a fitted proportion meta-analysis (optionally split by a ``SubgroupResult``), laid out as
    metafor's ``forest()`` and RevMan's.

    Rows top to bottom: header; per subgroup a heading, its studies, its pooled diamond and a heterogeneity
    line (neither for a subgroup of one study); studies without a subgroup under "Unknown (no subgroup)"; the
    overall diamond; the prediction interval (RE, k ≥ 3). Weights are each study's weight in the overall
    analysis, with subgroups too (a subgroup's row shows the sum of its studies'). ``new_studies`` labels are
    drawn in orange and tagged "(new)". ``shared_patients`` marks studies that share patients: a list of labels
    (one group, marked †) or a mapping label → group name (one marker per group: †, ‡, §, ¶, #), explained in a
    legend under the plot. ``study_ci`` is the study-level interval: "transformed" (metafor's back-transformed
    Wald interval), "clopper-pearson" or "wilson" (:func:`~livingreview.engine.effects.study_intervals`); the
    footer names it unless it is the default. ``xlim`` is on the proportion scale (0–1); intervals past it end
    in arrows. Every label is drawn literally (no mathtext; newlines become spaces).
    """
    if study_ci not in STUDY_CI_METHODS:
        raise ValueError(f"unknown study CI method {study_ci!r}; choose one of {STUDY_CI_METHODS}")
    opts = {"show_counts": show_counts, "show_weights": show_weights, "percent": percent, "study_ci": study_ci,
            "new_studies": frozenset(str(s) for s in new_studies), "shared": _shared_markers(shared_patients)}
    with matplotlib.rc_context(_STYLE):
        fp = _forest(res, subgroups, title, xlabel, ax, xlim, opts)
        _literal(fp.figure)
        return fp


def _shared_markers(shared) -> dict[str, str]:
    """label → marker for studies that share patients (a list: one group; a mapping label → group)."""
    if isinstance(shared, Mapping):
        groups = list(dict.fromkeys(str(g) for g in shared.values()))
        if len(groups) > len(SHARED_MARKERS):
            raise ValueError(f"at most {len(SHARED_MARKERS)} groups of studies that share patients")
        return {str(label): SHARED_MARKERS[groups.index(str(g))] for label, g in shared.items()}
    return {str(label): SHARED_MARKERS[0] for label in shared}


def _shared_legend(rows: list[_Row]) -> list[str]:
    groups: dict[str, list[str]] = {}
    for r in rows:
        if r.kind == "study" and r.shared:
            groups.setdefault(r.shared, []).append(r.label)
    return [f"{m} Share patients (overlapping cohorts): {', '.join(labels)}" for m, labels in sorted(
        groups.items(), key=lambda kv: SHARED_MARKERS.index(kv[0]))]


def _forest(res, subgroups, title, xlabel, ax, xlim, opts):
    rows = _build_rows(res, subgroups, opts)
    ys = _row_positions(rows)
    cols = _columns(rows, opts["show_counts"], opts["show_weights"], opts["percent"])
    footer = _footer_lines(res, subgroups) + _shared_legend(rows)
    if opts["study_ci"] != "transformed":
        footer.append(f"Study confidence intervals: {STUDY_CI_NAMES[opts['study_ci']]}")
    header_y = 1.4
    top_pad_in = 0.5 if title else 0.15
    bottom_in = 0.55 + 0.2 * len(footer) + 0.1
    plot_h_in = (header_y - ys[-1] + 1.2) * ROW_HEIGHT_IN
    if ax is None:
        width = max((cols.left_pt + cols.right_pt) / 72.0 + PLOT_WIDTH_IN + 0.3,
                    _text_width_pt(footer, SMALL_FONT_SIZE) / 72.0 + 0.4)
        height = plot_h_in + top_pad_in + bottom_in
        fig = _new_figure(width, height)
        ax = fig.add_axes([(cols.left_pt / 72.0 + 0.15) / width, bottom_in / height, PLOT_WIDTH_IN / width,
                           plot_h_in / height])
    fig = ax.figure
    frame_all = pd.DataFrame([r.__dict__ for r in rows if r.kind in DATA_KINDS])
    xlim = tuple(xlim) if xlim is not None else _auto_xlim(frame_all)
    ax.set_xlim(*xlim)
    ax.set_ylim(ys[-1] - 0.8, header_y + 0.7)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_yticks([])
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
    if opts["percent"]:  # decimals follow the tick spacing (0%, 20% … or 37.5%, 40% …)
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))
    ax.set_xlabel(_plain(xlabel))

    _draw_header(ax, header_y, cols, opts, res.level)
    drawn = _draw_rows(ax, rows, ys, cols, xlim, opts)
    overall = next(d for d in drawn if d["kind"] == "overall_pooled")
    ax.vlines(overall["estimate"], overall["y"], header_y - 0.6, colors="0.35", linestyles="dashed", lw=0.8,
              zorder=1)
    _draw_footer(ax, cols, footer)
    if title:
        ax.annotate(_plain(title), xy=(0, 1), xycoords="axes fraction", xytext=(cols.label_x, 6),
                    textcoords="offset points", ha="left", va="bottom", fontsize=11, fontweight="bold")
    data = pd.DataFrame(drawn)[["kind", "group", "label", "events", "total", "estimate", "ci_low", "ci_high",
                                "weight", "new", "y", "clipped_low", "clipped_high", "subgroup_weight", "shared"]]
    return ForestPlot(
        figure=fig, data=data.reset_index(drop=True), measure=res.es.measure, method=res.method, level=res.level,
        q_between=None if subgroups is None else float(subgroups.q_between),
        q_between_df=None if subgroups is None else float(subgroups.q_between_df),
        q_between_p=None if subgroups is None else float(subgroups.q_between_p),
        study_ci=opts["study_ci"],
    )


def _draw_header(ax, y: float, cols: _Columns, opts: dict, level: float):
    _text_at(ax, cols.label_x, "left", y, "Study", ha="left", fontweight="bold")
    if opts["show_counts"]:
        _text_at(ax, cols.events_x, "left", y, "Events/Total", ha="right", fontweight="bold")
    _text_at(ax, cols.estimate_x, "right", y, f"Estimate [{_level_label(level)} CI]", ha="right",
             fontweight="bold")
    if opts["show_weights"]:
        _text_at(ax, cols.weight_x, "right", y, "Weight", ha="right", fontweight="bold")
    _rule(ax, y - 0.6, cols)


def _draw_footer(ax, cols: _Columns, lines: list[str]):
    """Heterogeneity statistics under the x-axis label, flush with the label column."""
    for i, line in enumerate(lines):
        ax.annotate(line, xy=(0, 0), xycoords="axes fraction", xytext=(cols.label_x, -38 - 14 * i),
                    textcoords="offset points", ha="left", va="top", fontsize=SMALL_FONT_SIZE)


# --------------------------------------------------------------------------------------------------------------
# Funnel plot
# --------------------------------------------------------------------------------------------------------------


_YAXES = {
    # name: (axis label, inverted: the most precise studies at the top with the axis running downwards)
    "sei": ("Standard error", True),
    "vi": ("Variance", True),
    "seinv": ("Inverse standard error", False),
    "vinv": ("Inverse variance", False),
    "sqrtninv": ("1/√n", True),
}
SCALE_NAMES = {"PR": "untransformed", "PLO": "logit scale", "PAS": "arcsine scale", "PFT": "Freeman–Tukey scale"}
CONTOUR_SHADES = ("white", "#8c8c8c", "#bfbfbf", "#a6a6a6")  # metafor's example: white, gray55, gray75


def _y_values(yaxis: str, se: np.ndarray, n: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return {"sei": se, "vi": se**2, "seinv": 1 / se, "vinv": 1 / se**2, "sqrtninv": 1 / np.sqrt(n)}[yaxis]


def _se_of_y(yaxis: str, y: np.ndarray, measure: str, p_ref: float) -> np.ndarray:
    """The standard error at each y of the axis; for 1/√n the measure's sampling variance at n = 1/y² and the
    reference proportion (PR p(1−p)/n, PLO 1/(np(1−p)), PAS 1/(4n), PFT 1/(4n + 2))."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if yaxis == "sqrtninv":
            n = 1 / y**2
            var = {"PR": p_ref * (1 - p_ref) / n, "PLO": 1 / (n * p_ref * (1 - p_ref)), "PAS": 1 / (4 * n),
                   "PFT": 1 / (4 * n + 2)}[measure]
            se = np.sqrt(var)
        else:
            se = {"sei": y, "vi": np.sqrt(y), "seinv": 1 / y, "vinv": 1 / np.sqrt(y)}[yaxis]
    return np.nan_to_num(se, nan=0.0, posinf=0.0)


def _funnel_frame(res: Any, trimfill: Any) -> pd.DataFrame:
    es = res.es
    obs = pd.DataFrame({"kind": "observed", "label": [_plain(x) for x in es.labels],
                        "yi": np.asarray(es.yi, float), "vi": np.asarray(es.vi, float),
                        "ni": np.asarray(es.ni, float)})
    if trimfill is None or int(trimfill.k0) == 0:
        frame = obs
    else:
        fy, fv = np.asarray(trimfill.yi_fill, float), np.asarray(trimfill.vi_fill, float)
        filled = pd.DataFrame({"kind": "filled", "label": [f"Filled {i + 1}" for i in range(len(fy))],
                               "yi": fy, "vi": fv, "ni": np.asarray(trimfill.ni_fill, float)})
        frame = pd.concat([obs, filled], ignore_index=True)
    frame["sei"] = np.sqrt(frame["vi"])
    return frame


def funnel_plot(
    res: Any,
    trimfill: Any = None,
    *,
    ax=None,
    title: str | None = None,
    yaxis: str = "sei",
    egger: Any = None,
    level: float | None = None,
    contours: Sequence[float] | None = None,
    reference: float | None = None,
    percent: bool = False,
) -> FunnelPlot:
    """Funnel plot on the transformed scale, like metafor ``funnel()``.

    Grey background, white pseudo-confidence triangle (estimate ± z·SE, dotted edges), vertical line at the
    pooled estimate. With ``trimfill`` the triangle is centred on the adjusted estimate (as metafor does for a
    trim-and-fill object), imputed studies are open circles and the unadjusted estimate is a dashed line.
    ``egger`` (a ``bias.EggerResult``) adds Egger's line (predictor "sei" on an SE-type axis, "sqrtninv" on the
    1/√n axis) and its p to the alt text. ``yaxis``: "sei" (default), "vi", "seinv", "vinv" as metafor, or
    "sqrtninv" (1/√n, the Peters-type axis, from the study sizes).

    Contour-enhanced (``contours``, e.g. (0.90, 0.95, 0.99), as metafor's ``level=c(90, 95, 99)`` with
    ``shade=``): nested regions ``reference`` ± z·SE for each level, shaded from white (inside the narrowest)
    to dark grey, centred on ``reference`` — a proportion (0–1), transformed to the model's scale — or, without
    it, on the pooled estimate. On the 1/√n axis the SE of a study of size n is the measure's variance formula at
    the reference proportion (metafor draws no region on that axis). ``percent`` labels the estimate axis with
    proportions in percent, placed on the model's scale (PFT at the harmonic-mean n).
    """
    if yaxis not in _YAXES:
        raise ValueError(f"yaxis must be one of {sorted(_YAXES)}, got {yaxis!r}")
    levels = tuple(sorted(_level_fraction(c) for c in contours)) if contours else ()
    if len(levels) > len(CONTOUR_SHADES):
        raise ValueError(f"at most {len(CONTOUR_SHADES)} contour levels")
    with matplotlib.rc_context(_STYLE):
        fp = _funnel(res, trimfill, ax, title, yaxis, egger, res.level if level is None else level, levels,
                     reference, percent)
        _literal(fp.figure)
        return fp


def _funnel(res, trimfill, ax, title, yaxis, egger, level, levels, reference, percent):
    frame = _funnel_frame(res, trimfill)
    filled = trimfill is not None and int(trimfill.k0) > 0
    centre_model = trimfill.res if filled else res  # metafor centres a trim-and-fill funnel on the adjusted fit
    centre = float(centre_model.estimate)
    measure, ni = res.es.measure, res.es.ni
    region_centre = float(transform(measure, reference, ni=ni)) if reference is not None else centre
    p_ref = float(back_transform(measure, region_centre, ni=ni))
    ylabel, inverted = _YAXES[yaxis]
    frame["y"] = _y_values(yaxis, frame["sei"].to_numpy(), frame["ni"].to_numpy())
    if ax is None:
        fig = _new_figure(5.6, 5.0)
        ax = fig.add_axes([0.13, 0.25, 0.82, 0.66 if title else 0.7])
    fig = ax.figure
    z_max = _z(max(levels)) if levels else _z(level)
    ys = frame["y"].to_numpy()
    if inverted:  # SE, variance, 1/√n: 0 at the top, as metafor
        y_lo, y_hi = 0.0, float(np.nanmax(ys)) * 1.05
    else:  # precision: grows upwards, the funnel narrows towards the top
        y_lo, y_hi = float(np.nanmin(ys)) / 1.05, float(np.nanmax(ys)) * 1.05
    se_edge = float(np.max(_se_of_y(yaxis, np.array([y_hi if inverted else y_lo]), measure, p_ref)))
    x_half = z_max * se_edge
    xs = np.concatenate([frame["yi"].to_numpy(), [region_centre - x_half, region_centre + x_half]])
    pad = 0.05 * (xs.max() - xs.min())
    ax.set_xlim(xs.min() - pad, xs.max() + pad)
    ax.set_ylim((y_hi, y_lo) if inverted else (y_lo, y_hi))
    ax.set_facecolor("#d3d3d3")
    grid = np.linspace(y_lo, y_hi, 200)
    se_grid = _se_of_y(yaxis, grid, measure, p_ref)
    region_handles = []
    if levels:
        for lv, shade in sorted(zip(levels, CONTOUR_SHADES), reverse=True):  # widest first, as metafor
            z = _z(lv)
            ax.fill_betweenx(grid, region_centre - z * se_grid, region_centre + z * se_grid, color=shade, lw=0,
                             zorder=1)
        # legend as metafor's contour-enhanced funnel: the two-sided p of a study against the reference
        edges = [1.0, *(1 - lv for lv in levels)]
        for (hi, lo), shade in zip(zip(edges, edges[1:] + [0.0]), (*CONTOUR_SHADES[:len(levels)], "#d3d3d3")):
            region_handles.append(Patch(facecolor=shade, edgecolor="0.4", lw=0.5,
                                        label=f"{lo:.2f} < p ≤ {hi:.2f}" if lo > 0 else f"p ≤ {hi:.2f}"))
    else:
        z = _z(level)
        ax.fill_betweenx(grid, region_centre - z * se_grid, region_centre + z * se_grid, color="white", lw=0,
                         zorder=1)
        ax.plot(region_centre - z * se_grid, grid, color="black", ls=":", lw=0.9, zorder=2)
        ax.plot(region_centre + z * se_grid, grid, color="black", ls=":", lw=0.9, zorder=2)
    ax.yaxis.grid(True, color="white", lw=0.8)
    ax.set_axisbelow(True)
    ax.axvline(centre, color="black", lw=0.9, zorder=2,
               label="Adjusted estimate (trim-and-fill)" if filled else "Pooled estimate")
    if reference is not None:
        ax.axvline(region_centre, color="black", lw=0.9, ls=":", zorder=2,
                   label=f"Reference {_fmt_prop(reference, True)}")
    if filled:
        ax.axvline(float(res.estimate), color="black", lw=0.9, ls="--", zorder=2, label="Unadjusted estimate")
    egger_p = _draw_egger(ax, egger, yaxis)
    obs = frame[frame["kind"] == "observed"]
    ax.scatter(obs["yi"], obs["y"], s=28, color="black", zorder=4, label="Observed study")
    fil = frame[frame["kind"] == "filled"]
    if len(fil):
        ax.scatter(fil["yi"], fil["y"], s=28, facecolors="white", edgecolors="black", zorder=4,
                   label="Filled study (trim-and-fill)")
    if percent:
        _percent_axis(ax, measure, ni)
        ax.set_xlabel(f"Proportion ({SCALE_NAMES.get(measure, measure)})")
    else:
        ax.set_xlabel(MEASURE_AXIS_LABELS.get(measure, measure))
    ax.set_ylabel(ylabel)
    # Below the x label, two columns: outside the funnel so no point is hidden, inside the figure so not cut.
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=handles + region_handles, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2,
              frameon=False, fontsize=SMALL_FONT_SIZE)
    if title:
        ax.set_title(_plain(title), loc="left", fontweight="bold")
    k0 = 0 if trimfill is None else int(trimfill.k0)
    side = None if trimfill is None else getattr(trimfill, "side", None)
    return FunnelPlot(figure=fig, data=frame.reset_index(drop=True), measure=measure, estimate=centre,
                      yaxis=yaxis, k0=k0, side=side, egger_p=egger_p,
                      estimate_proportion=float(centre_model.proportion().estimate), contours=levels,
                      reference=region_centre if reference is not None else None)


PERCENT_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98,
                 0.99, 0.995, 0.998, 0.999)


def _percent_axis(ax, measure: str, ni) -> None:
    """Ticks at round proportions placed on the model's scale (denser towards 0 and 1 where a logit or arcsine
    scale stretches), labelled in percent; at most about eight, kept apart by an eighth of the axis."""
    lo, hi = ax.get_xlim()
    candidates = np.array([0.0, *PERCENT_TICKS, 1.0])
    pos = transform(measure, candidates, ni=ni)
    inside = np.isfinite(pos) & (pos >= lo) & (pos <= hi)
    chosen: list[int] = []
    for i in np.flatnonzero(inside):
        if not chosen or pos[i] - pos[chosen[-1]] >= (hi - lo) / 8:
            chosen.append(i)
    ax.set_xticks(pos[chosen], labels=[f"{100 * t:.4g}%" for t in candidates[chosen]])
    ax.set_xlim(lo, hi)


def _draw_egger(ax, egger: Any, yaxis: str) -> float | None:
    """Egger's regression line yi = b0 + b1·x (``regtest``) in the funnel's y units: predictor "sei" on the
    SE-type axes, predictor "sqrtninv" on the 1/√n axis; otherwise only its p is kept (for the alt text)."""
    if egger is None or not getattr(egger, "applicable", True):
        return None
    predictor = getattr(egger, "predictor", "sei")
    drawable = (predictor == "sqrtninv") == (yaxis == "sqrtninv")
    if drawable and np.isfinite([egger.intercept, egger.slope]).all():
        xv = np.asarray(getattr(egger, "line_x", np.linspace(0.0, 1.0, 50)), float)
        x = float(egger.intercept) + float(egger.slope) * xv
        y = xv if yaxis == "sqrtninv" else _y_values(yaxis, xv, np.full_like(xv, np.nan))
        ok = np.isfinite(y)
        ax.plot(x[ok], y[ok], color="#1f78b4", lw=1.2, zorder=3, label="Egger regression line")
    p = getattr(egger, "pval", getattr(egger, "p", None))
    return None if p is None or not np.isfinite(p) else float(p)


# --------------------------------------------------------------------------------------------------------------
# Diagnostic plots: influence panels, Baujat, GOSH, cumulative forest, bubble plot
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiagnosticPlot:
    """A drawn diagnostic plot: the figure, a ``DataFrame`` of what was drawn, and a one-sentence alt text."""

    figure: Figure
    data: pd.DataFrame
    kind: str
    alt_text: str

    def _repr_png_(self):
        return _png_bytes(self.figure)


INFLUENTIAL_COLOUR = "#d7191c"


def influence_plot(res_or_influence: Any) -> DiagnosticPlot:
    """The eight panels of metafor's ``plot(influence(res))``, four rows of two, studies numbered 1…k along
    the x-axes (labels in ``data``): rstudent (±1.96 dotted), DFFITS (±3√(p/(k − p)) dotted), Cook's distance
    (χ²_p median dotted), covariance ratio (1 dashed), τ² and Q_E without each study (the full model's value
    dashed), hat values (p/k dashed, 3p/k dotted) and weights (100/k dashed). Influential studies (metafor's
    "*") are red. Takes a fitted model or an :class:`~livingreview.engine.diagnostics.Influence`."""
    from .diagnostics import Influence, influence

    inf = res_or_influence if isinstance(res_or_influence, Influence) else influence(res_or_influence)
    k, p = inf.k, inf.p
    ids = np.arange(1, k + 1)
    panels = [
        ("rstudent", inf.rstudent, [(0, "--"), (-1.959963984540054, ":"), (1.959963984540054, ":")]),
        ("dffits", inf.dffits, [(0, "--"), (inf.dffits_cutoff, ":"), (-inf.dffits_cutoff, ":")]),
        ("cook.d", inf.cook_d, [(inf.cook_cutoff, ":")]),
        ("cov.r", inf.cov_r, [(1, "--")]),
        ("tau2.del", inf.tau2_del, [(inf.tau2, "--")]),
        ("QE.del", inf.qe_del, [(inf.qe, "--")]),
        ("hat", inf.hat, [(p / k, "--"), (inf.hat_cutoff, ":")]),
        ("weight", inf.weight, [(100 / k, "--")]),
    ]
    with matplotlib.rc_context(_STYLE):
        fig = _new_figure(7.5, 9.0)
        axes = fig.subplots(4, 2)
        for ax, (name, values, lines) in zip(axes.ravel(), panels):
            ax.plot(ids, values, color="black", lw=0.8, marker="o", ms=3.5, zorder=2)
            if inf.influential.any():
                ax.plot(ids[inf.influential], values[inf.influential], ls="none", marker="o", ms=5,
                        color=INFLUENTIAL_COLOUR, zorder=3)
            for y, style in lines:
                if np.isfinite(y):
                    ax.axhline(y, color="0.4", ls=style, lw=0.8, zorder=1)
            if name == "cov.r" and np.all(values[np.isfinite(values)] > 0):
                ax.set_yscale("log")  # as metafor; plain numbers on the ticks, the range is narrow
                ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
                ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
                ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_title(name, fontsize=FONT_SIZE)
            ax.set_xlim(0.5, k + 0.5)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=min(k, 12), integer=True))
        fig.subplots_adjust(left=0.09, right=0.98, top=0.96, bottom=0.05, hspace=0.45, wspace=0.25)
        _literal(fig)
    data = pd.DataFrame({"id": ids, "label": [_plain(x) for x in inf.label], "rstudent": inf.rstudent,
                         "dffits": inf.dffits, "cook_d": inf.cook_d, "cov_r": inf.cov_r, "tau2_del": inf.tau2_del,
                         "qe_del": inf.qe_del, "hat": inf.hat, "weight": inf.weight,
                         "influential": inf.influential})
    flagged = ids[inf.influential].tolist()
    alt = (f"Influence diagnostics of {_studies(k)} in eight panels (externally standardised residuals, DFFITS, "
           f"Cook's distances, covariance ratios, τ² and Q without each study, hat values, weights); "
           + (f"{_studies(len(flagged))} flagged as influential (number {_and(flagged)})." if flagged
              else "no study flagged as influential."))
    return DiagnosticPlot(fig, data, "influence", alt)


def baujat_plot(res_or_baujat: Any, *, labels: bool = False) -> DiagnosticPlot:
    """``baujat(res)``: each study's contribution to the heterogeneity (x) against its influence on the pooled
    result (y), marked by its number (metafor's ``symbol="ids"``) or, with ``labels=True``, its label."""
    from .diagnostics import Baujat, baujat

    b = res_or_baujat if isinstance(res_or_baujat, Baujat) else baujat(res_or_baujat)
    k = len(b.x)
    ids = np.arange(1, k + 1)
    names = [_plain(x) for x in b.label]
    with matplotlib.rc_context(_STYLE):
        fig = _new_figure(5.6, 4.8)
        ax = fig.add_axes([0.13, 0.12, 0.82, 0.8])
        ax.grid(True, color="0.85", lw=0.6)
        ax.set_axisbelow(True)
        ax.scatter(b.x, b.y, s=0)  # sets the data limits; the studies are drawn as text
        for i in range(k):
            if np.isfinite(b.x[i]) and np.isfinite(b.y[i]):
                ax.text(b.x[i], b.y[i], names[i] if labels else str(ids[i]), ha="center", va="center",
                        fontsize=SMALL_FONT_SIZE)
        ax.margins(0.08)
        ax.set_xlabel(b.xlabel)
        ax.set_ylabel(b.ylabel)
        _literal(fig)
    data = pd.DataFrame({"id": ids, "label": names, "x": b.x, "y": b.y})
    top_x, top_y = int(np.nanargmax(b.x)) + 1, int(np.nanargmax(b.y)) + 1
    alt = (f"Baujat plot of {_studies(k)}: study {top_x} contributes most to the heterogeneity "
           f"({b.x[top_x - 1]:.2f}), study {top_y} has the most influence on the pooled result "
           f"({b.y[top_y - 1]:.2f}).")
    return DiagnosticPlot(fig, data, "baujat", alt)


def gosh_plot(g: Any, *, hexbin: bool | None = None) -> DiagnosticPlot:
    """GOSH plot (metafor's ``plot(gosh(res))``, the estimate–I² panel): the pooled proportion of every subset
    (x, percent) against its I² (y). Hexagonal bins from 4,096 subsets on (or with ``hexbin=True``), points
    otherwise; the model of all studies is a red cross."""
    ok = np.asarray(g.fitted, bool)
    x, y = np.asarray(g.prop_estimate, float)[ok], np.asarray(g.i2, float)[ok]
    hexbin = len(x) >= 4096 if hexbin is None else hexbin
    with matplotlib.rc_context(_STYLE):
        fig = _new_figure(5.6, 4.8)
        ax = fig.add_axes([0.13, 0.12, 0.8 if not hexbin else 0.7, 0.8])
        if hexbin:
            hb = ax.hexbin(x, y, gridsize=40, cmap="Greys", mincnt=1, bins="log", linewidths=0)
            cax = fig.add_axes([0.86, 0.12, 0.03, 0.8])
            fig.colorbar(hb, cax=cax, label="Subsets (log scale)")
        else:
            ax.scatter(x, y, s=6, color="black", alpha=0.35, linewidths=0)
        ax.plot([g.prop_estimate[-1]], [g.i2[-1]], marker="x", color=INFLUENTIAL_COLOUR, ms=8, mew=2,
                ls="none", label="All studies")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
        ax.xaxis.set_major_formatter(_percent_formatter())
        ax.set_xlabel("Pooled proportion")
        ax.set_ylabel("I² (%)")
        ax.legend(loc="upper right", frameon=False, fontsize=SMALL_FONT_SIZE)
        _literal(fig)
    data = pd.DataFrame({"k": np.asarray(g.k)[ok], "prop_estimate": x, "i2": y})
    k = g.incl.shape[1]
    alt = (f"GOSH plot of all {len(x):,} subsets of {_studies(k)} ({g.method} model): pooled proportions from "
           f"{_fmt_prop(np.min(x), True)} to {_fmt_prop(np.max(x), True)}, I² from {np.min(y):.0f}% to "
           f"{np.max(y):.0f}%; all studies together {_fmt_prop(g.prop_estimate[-1], True)}, I² {g.i2[-1]:.0f}%.")
    return DiagnosticPlot(fig, data, "gosh", alt)


def cumulative_plot(cum: Any, *, title: str | None = None, percent: bool = True) -> DiagnosticPlot:
    """Cumulative forest plot (metafor's ``forest(cumul(res))``): row i is the pooled proportion and CI of the
    first i studies, labelled "+ study i" (the first row is the first study alone)."""
    k = len(cum.estimate)
    labels = [("" if i == 0 else "+ ") + _plain(x) for i, x in enumerate(cum.label)]
    est, lo, hi = (np.asarray(a, float) for a in (cum.prop_estimate, cum.prop_ci_low, cum.prop_ci_high))
    texts = [_fmt_ci(e, a, b, percent) for e, a, b in zip(est, lo, hi)]
    with matplotlib.rc_context(_STYLE):
        left = _text_width_pt(labels + ["Study added"], FONT_SIZE) + COLUMN_GAP_PT
        right = _text_width_pt(texts + ["Estimate [95% CI]"], FONT_SIZE) + COLUMN_GAP_PT + 6
        width = (left + right) / 72.0 + PLOT_WIDTH_IN + 0.3
        height = (k + 2.5) * ROW_HEIGHT_IN + 0.9 + (0.35 if title else 0)
        fig = _new_figure(width, height)
        ax = fig.add_axes([(left / 72.0 + 0.15) / width, 0.7 / height, PLOT_WIDTH_IN / width,
                           (k + 2.5) * ROW_HEIGHT_IN / height])
        ys = -np.arange(k, dtype=float)
        finite = np.isfinite(np.concatenate([lo, hi]))
        span = np.concatenate([lo, hi])[finite]
        xlim = _auto_xlim(pd.DataFrame({"estimate": est, "ci_low": lo, "ci_high": hi})) if span.size else (0, 1)
        ax.set_xlim(*xlim)
        ax.set_ylim(-k + 0.3, 1.6)
        for side in ("left", "right", "top"):
            ax.spines[side].set_visible(False)
        ax.set_yticks([])
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
        if percent:
            ax.xaxis.set_major_formatter(_percent_formatter())
        ax.set_xlabel("Proportion")
        cols = _Columns(-left, 0.0, right, right, left, right)
        _text_at(ax, -left, "left", 1.0, "Study added", ha="left", fontweight="bold")
        _text_at(ax, right - 6, "right", 1.0, f"Estimate [{_level_label(cum.level)} CI]", ha="right",
                 fontweight="bold")
        _rule(ax, 0.55, cols)
        for y, lab, e, a, b, t in zip(ys, labels, est, lo, hi, texts):
            _text_at(ax, -left, "left", y, lab, ha="left")
            _text_at(ax, right - 6, "right", y, t, ha="right")
            if np.isfinite([e, a, b]).all():
                _clip_interval(ax, y, a, b, xlim, STUDY_COLOUR, 1.0)
                ax.scatter([e], [y], s=22, marker="s", color=STUDY_COLOUR, zorder=4, linewidths=0)
        if np.isfinite(est[-1]):
            ax.axvline(est[-1], color="0.35", ls="--", lw=0.8, zorder=1)
        if title:
            ax.annotate(_plain(title), xy=(0, 1), xycoords="axes fraction", xytext=(-left, 6),
                        textcoords="offset points", ha="left", va="bottom", fontsize=11, fontweight="bold")
        _literal(fig)
    data = pd.DataFrame({"label": [_plain(x) for x in cum.label], "k": np.asarray(cum.k), "estimate": est,
                         "ci_low": lo, "ci_high": hi, "y": ys})
    alt = (f"Cumulative forest plot of {_studies(k)} added one at a time: the pooled proportion moves from "
           f"{_fmt_prop(est[0], True)} (first study) to {_fmt_prop(est[-1], True)} ({_fmt_prop(lo[-1], True)} to "
           f"{_fmt_prop(hi[-1], True)}) with all {k}.")
    return DiagnosticPlot(fig, data, "cumulative", alt)


def bubble_plot(reg: Any, moderator: str | None = None, *, percent: bool = True,
                title: str | None = None) -> DiagnosticPlot:
    """A ``regplot(res, mod=)``-style bubble plot on the proportion scale: each study a circle of area ∝ its
    weight at its moderator value and observed proportion, the meta-regression line (other moderators at their
    mean) with its confidence band (shaded) and prediction interval (dashed), all back-transformed from the
    model's scale (PFT: harmonic-mean n)."""
    from .metareg import regression_line

    line = regression_line(reg, moderator)
    pr = line.prediction
    w = np.asarray(line.study_weight, float)
    with matplotlib.rc_context(_STYLE):
        fig = _new_figure(5.6, 4.6)
        ax = fig.add_axes([0.13, 0.13, 0.82, 0.78 if title else 0.82])
        ax.fill_between(line.x, pr.prop_ci_low, pr.prop_ci_high, color="0.85", lw=0, zorder=1,
                        label=f"{_level_label(reg.level)} CI")
        if np.isfinite(pr.prop_pi_low).any():
            ax.plot(line.x, pr.prop_pi_low, color="0.3", ls="--", lw=0.9, zorder=2,
                    label=f"{_level_label(reg.level)} prediction interval")
            ax.plot(line.x, pr.prop_pi_high, color="0.3", ls="--", lw=0.9, zorder=2)
        ax.plot(line.x, pr.prop_pred, color="black", lw=1.4, zorder=3, label="Meta-regression line")
        sizes = 20 + 400 * w / np.nanmax(w)
        ax.scatter(line.study_x, line.study_prop, s=sizes, facecolors="none", edgecolors="black", lw=0.8,
                   zorder=4, label="Study (area ∝ weight)")
        if percent:
            ax.yaxis.set_major_formatter(_percent_formatter())
        ax.set_xlabel(_plain(line.moderator))
        ax.set_ylabel("Proportion")
        ax.legend(loc="best", frameon=False, fontsize=SMALL_FONT_SIZE)
        if title:
            ax.set_title(_plain(title), loc="left", fontweight="bold")
        _literal(fig)
    data = pd.DataFrame({"label": [_plain(x) for x in line.labels], "x": line.study_x, "proportion": line.study_prop,
                         "weight": w})
    j = reg.names.index(line.moderator)
    alt = (f"Bubble plot of {_studies(reg.k)}: proportion against {_plain(line.moderator)} with the "
           f"meta-regression line (slope {reg.beta[j]:.3g} on the {SCALE_NAMES.get(reg.es.measure, '')}, "
           f"p {_fmt_p(reg.pval[j])}), from {_fmt_prop(pr.prop_pred[0], True)} to {_fmt_prop(pr.prop_pred[-1], True)}.")
    return DiagnosticPlot(fig, data, "bubble", alt)


def _and(items) -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# --------------------------------------------------------------------------------------------------------------
# Alt text and saving
# --------------------------------------------------------------------------------------------------------------


def alt_text(plot: ForestPlot | FunnelPlot | DiagnosticPlot) -> str:
    """One sentence describing the figure, for the book's figure alt text (plain text: the page that puts it
    in an HTML attribute escapes it)."""
    if isinstance(plot, ForestPlot):
        return _forest_alt(plot)
    if isinstance(plot, FunnelPlot):
        return _funnel_alt(plot)
    if isinstance(plot, DiagnosticPlot):
        return plot.alt_text
    raise TypeError(f"alt_text needs a ForestPlot, FunnelPlot or DiagnosticPlot, got {type(plot).__name__}")


def _studies(n: int) -> str:
    return f"{n} study" if n == 1 else f"{n} studies"


def _forest_alt(plot: ForestPlot) -> str:
    d = plot.data
    k = int((d["kind"] == "study").sum())
    lvl = _level_label(plot.level)
    overall = d[d["kind"] == "overall_pooled"].iloc[0]
    text = f"Forest plot of {_studies(k)}"
    groups = list(d.loc[d["kind"] == "subgroup_pooled", "group"])
    if groups:
        text += f" in {len(groups)} subgroups ({', '.join(groups)})"
    text += f"; pooled {_fmt_prop(overall.estimate, True)} ({lvl} CI {_fmt_prop(overall.ci_low, True)} to " \
            f"{_fmt_prop(overall.ci_high, True)})"
    pi = d[d["kind"] == "prediction"]
    if len(pi):
        text += f", {lvl} prediction interval {_fmt_prop(pi.iloc[0].ci_low, True)} to " \
                f"{_fmt_prop(pi.iloc[0].ci_high, True)}"
    n_new = int(d.loc[d["kind"] == "study", "new"].sum())
    if n_new:
        text += f"; {n_new} new {'study' if n_new == 1 else 'studies'} highlighted"
    return text + "."


def _funnel_alt(plot: FunnelPlot) -> str:
    d = plot.data
    k = int((d["kind"] == "observed").sum())
    scale = MEASURE_AXIS_LABELS.get(plot.measure, plot.measure)
    scale = scale if scale.startswith("Freeman") else scale.lower()  # keep the proper noun
    text = f"{'Contour-enhanced funnel' if plot.contours else 'Funnel'} plot of {_studies(k)} ({scale} against " \
           f"{_YAXES[plot.yaxis][0].lower()})"
    if plot.k0:
        side = f" on the {plot.side} side" if plot.side else ""
        text += f" with {_studies(plot.k0)} imputed by trim-and-fill{side}"
    text += f"; {'adjusted ' if plot.k0 else ''}pooled estimate {plot.estimate:.3f}"
    if plot.estimate_proportion is not None and np.isfinite(plot.estimate_proportion):
        text += f" ({_fmt_prop(plot.estimate_proportion, True)})"
    if plot.egger_p is not None:
        text += f", Egger test p {_fmt_p(plot.egger_p)}"
    return text + "."


HIGH_DPI = 200  # PNG for print or a full-width page; SVG is resolution-independent


def _savefig_metadata(fmt: str) -> dict:
    return {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
            "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None}}[fmt]


def save_figure(fig: Figure, path: str | Path, dpi: float | None = None) -> Path:
    """Write ``fig`` as PNG, SVG or PDF (by suffix) with no version/time metadata, so reruns give equal bytes.
    ``dpi`` sets the PNG resolution (default: the figure's, 100; :data:`HIGH_DPI` for print)."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg", "pdf"):
        raise ValueError(f"save_figure writes .png, .svg or .pdf, not {path.suffix!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context(_STYLE):  # fixed svg.hashsalt: SVG ids do not change between runs
        fig.savefig(path, format=fmt, dpi=dpi or fig.dpi, metadata=_savefig_metadata(fmt))
    return path


def svg_bytes(fig: Figure) -> bytes:
    """The figure as SVG (text as paths, no date, fixed ids): vector output, legible at any width."""
    import io

    buf = io.BytesIO()
    with matplotlib.rc_context(_STYLE):
        fig.savefig(buf, format="svg", metadata=_savefig_metadata("svg"))
    return buf.getvalue()


def png_bytes(fig: Figure, dpi: float = HIGH_DPI) -> bytes:
    """The figure as PNG at ``dpi`` (default :data:`HIGH_DPI`), without the Software chunk."""
    import io

    buf = io.BytesIO()
    with matplotlib.rc_context(_STYLE):
        fig.savefig(buf, format="png", dpi=dpi, metadata=_savefig_metadata("png"))
    return buf.getvalue()
