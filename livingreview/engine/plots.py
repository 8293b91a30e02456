"""Forest and funnel plots in plain matplotlib, laid out like metafor's ``forest()`` and ``funnel()``.

Every plot returns a frozen dataclass holding the ``Figure`` and a ``DataFrame`` of exactly what was drawn, so
tests and notebooks check numbers, not pixels. Figures are built with ``matplotlib.figure.Figure`` (no pyplot
state) inside a local ``rc_context`` (no global rcParams change); ``save_figure`` writes byte-identical files.

Layout of the forest plot: one axes holds the plot area; the text columns sit outside it, placed in points
from the axes edges (so a caller-supplied ``ax`` works too, given room on both sides).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any, Iterable, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Polygon
from matplotlib.ticker import MaxNLocator, PercentFormatter
from matplotlib.transforms import ScaledTranslation, blended_transform_factory

from .effects import study_intervals

__all__ = [
    "ForestPlot",
    "FunnelPlot",
    "forest_plot",
    "funnel_plot",
    "alt_text",
    "save_figure",
    "MEASURE_AXIS_LABELS",
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

    def _repr_png_(self):  # lets a notebook cell ending in forest_plot(...) show the picture
        return _png_bytes(self.figure)


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

    def _repr_png_(self):
        return _png_bytes(self.figure)


# --------------------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------------------


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


DATA_KINDS = ("study", "subgroup_pooled", "overall_pooled", "prediction")


def _study_rows(res: Any, group: str | None, new_studies: frozenset[str], weights: bool = True) -> list[_Row]:
    """One row per study of a fitted model; CI = back-transform of yi ± z·sqrt(vi)."""
    es = res.es
    est, lo, hi = study_intervals(es, _level_fraction(res.level))
    yi = np.asarray(es.yi, float)
    w = np.asarray(res.weights, float) if weights else np.full(len(yi), np.nan)
    labels = [str(x) for x in es.labels]
    return [
        _Row("study", labels[i], group, float(es.xi[i]), float(es.ni[i]), est[i], lo[i], hi[i], w[i],
             labels[i] in new_studies)
        for i in range(len(yi))
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


def _build_rows(res: Any, subgroups: Any, new_studies: frozenset[str]) -> list[_Row]:
    model = _model_label(res.method)
    if subgroups is None:
        rows = _study_rows(res, None, new_studies)
    else:
        rows = []
        covered: list[str] = []
        for name, sub in subgroups.levels.items():
            rows.append(_Row("heading", str(name), str(name)))
            rows += _study_rows(sub, str(name), new_studies)
            rows.append(_pooled_row(sub, "subgroup_pooled", f"{model} for subgroup", str(name)))
            rows.append(_Row("stats", _stats_text(sub), str(name)))
            rows.append(_Row("blank"))
            covered += _labels_of(sub)
        rows += _unpooled_rows(res, covered, new_studies)
    if rows[-1].kind != "blank":
        rows.append(_Row("blank"))
    rows.append(_pooled_row(res, "overall_pooled", f"{model} for all studies" if subgroups else model, None))
    if _has_pi(res):
        rows.append(_prediction_row(res, None))
    return rows


def _unpooled_rows(res: Any, covered: list[str], new_studies: frozenset[str]) -> list[_Row]:
    """Studies in the overall model that no subgroup pooled (e.g. unknown level, or a level excluded for k=1)."""
    remaining = list(covered)
    keep = []
    for i, label in enumerate(_labels_of(res)):
        if label in remaining:
            remaining.remove(label)
        else:
            keep.append(i)
    if not keep:
        return []
    rows = _study_rows(res, "Unknown (no subgroup)", new_studies, weights=False)
    return [_Row("heading", "Unknown (no subgroup)", "Unknown (no subgroup)")] + [rows[i] for i in keep] + [
        _Row("blank")
    ]


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
    return f"{row.label}  (new)" if row.new and "[new]" not in row.label else row.label


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
) -> ForestPlot:
    """Forest plot of a fitted proportion meta-analysis (optionally split by a ``SubgroupResult``).

    Rows top to bottom: header; per subgroup a heading, its studies, its pooled diamond and a heterogeneity
    line; the overall diamond; the prediction interval (RE, k ≥ 3). ``new_studies`` labels are drawn in
    orange and tagged "(new)". ``xlim`` is on the proportion scale (0–1); intervals past it end in arrows.
    """
    with matplotlib.rc_context(_STYLE):
        return _forest(res, subgroups, title, xlabel, ax, show_weights, show_counts, percent,
                       frozenset(str(s) for s in new_studies), xlim)


def _forest(res, subgroups, title, xlabel, ax, show_weights, show_counts, percent, new_studies, xlim):
    rows = _build_rows(res, subgroups, new_studies)
    ys = _row_positions(rows)
    cols = _columns(rows, show_counts, show_weights, percent)
    footer = _footer_lines(res, subgroups)
    header_y = 1.4
    top_pad_in = 0.5 if title else 0.15
    bottom_in = 0.55 + 0.2 * len(footer) + 0.1
    plot_h_in = (header_y - ys[-1] + 1.2) * ROW_HEIGHT_IN
    if ax is None:
        width = (cols.left_pt + cols.right_pt) / 72.0 + PLOT_WIDTH_IN + 0.3
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
    if percent:  # decimals follow the tick spacing (0%, 20% … or 37.5%, 40% …)
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))
    ax.set_xlabel(xlabel)

    opts = {"show_counts": show_counts, "show_weights": show_weights, "percent": percent}
    _draw_header(ax, header_y, cols, opts, res.level)
    drawn = _draw_rows(ax, rows, ys, cols, xlim, opts)
    overall = next(d for d in drawn if d["kind"] == "overall_pooled")
    ax.vlines(overall["estimate"], overall["y"], header_y - 0.6, colors="0.35", linestyles="dashed", lw=0.8,
              zorder=1)
    _draw_footer(ax, cols, footer)
    if title:
        ax.annotate(title, xy=(0, 1), xycoords="axes fraction", xytext=(cols.label_x, 6),
                    textcoords="offset points", ha="left", va="bottom", fontsize=11, fontweight="bold")
    data = pd.DataFrame(drawn)[["kind", "group", "label", "events", "total", "estimate", "ci_low", "ci_high",
                                "weight", "new", "y", "clipped_low", "clipped_high"]]
    return ForestPlot(
        figure=fig, data=data.reset_index(drop=True), measure=res.es.measure, method=res.method, level=res.level,
        q_between=None if subgroups is None else float(subgroups.q_between),
        q_between_df=None if subgroups is None else float(subgroups.q_between_df),
        q_between_p=None if subgroups is None else float(subgroups.q_between_p),
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
    # name: (axis label, value from se, se from value, inverted: small se at the top)
    "sei": ("Standard error", lambda se: se, lambda v: v, True),
    "vi": ("Variance", lambda se: se**2, lambda v: np.sqrt(v), True),
    "seinv": ("Inverse standard error", lambda se: 1 / se, lambda v: 1 / v, False),
    "vinv": ("Inverse variance", lambda se: 1 / se**2, lambda v: 1 / np.sqrt(v), False),
}


def _funnel_frame(res: Any, trimfill: Any) -> pd.DataFrame:
    es = res.es
    obs = pd.DataFrame({"kind": "observed", "label": [str(x) for x in es.labels],
                        "yi": np.asarray(es.yi, float), "vi": np.asarray(es.vi, float)})
    if trimfill is None or int(trimfill.k0) == 0:
        frame = obs
    else:
        fy, fv = np.asarray(trimfill.yi_fill, float), np.asarray(trimfill.vi_fill, float)
        filled = pd.DataFrame({"kind": "filled", "label": [f"Filled {i + 1}" for i in range(len(fy))],
                               "yi": fy, "vi": fv})
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
) -> FunnelPlot:
    """Funnel plot on the transformed scale, like metafor ``funnel()``.

    Grey background, white pseudo-confidence triangle (estimate ± z·SE, dotted edges), vertical line at the
    pooled estimate. With ``trimfill`` the triangle is centred on the adjusted estimate (as metafor does for a
    trim-and-fill object), imputed studies are open circles and the unadjusted estimate is a dashed line.
    ``egger`` (a ``bias.EggerResult``) adds Egger's line yi = b0 + b1·SE (predictor "sei" only) and its p to
    the alt text. ``yaxis``: "sei" (default), "vi", "seinv" or "vinv", as metafor.
    """
    if yaxis not in _YAXES:
        raise ValueError(f"yaxis must be one of {sorted(_YAXES)}, got {yaxis!r}")
    with matplotlib.rc_context(_STYLE):
        return _funnel(res, trimfill, ax, title, yaxis, egger, res.level if level is None else level)


def _funnel(res, trimfill, ax, title, yaxis, egger, level):
    frame = _funnel_frame(res, trimfill)
    filled = trimfill is not None and int(trimfill.k0) > 0
    centre_model = trimfill.res if filled else res  # metafor centres a trim-and-fill funnel on the adjusted fit
    centre = float(centre_model.estimate)
    ylabel, to_y, to_se, inverted = _YAXES[yaxis]
    frame["y"] = to_y(frame["sei"].to_numpy())
    if ax is None:
        fig = _new_figure(5.6, 5.0)
        ax = fig.add_axes([0.13, 0.25, 0.82, 0.66 if title else 0.7])
    fig = ax.figure
    z = _z(level)
    se_max = float(frame["sei"].max()) * 1.05  # 5% room below the least precise study
    if inverted:  # SE or variance: 0 at the top, as metafor
        y_lo, y_hi = 0.0, float(to_y(se_max))
    else:  # precision: grows upwards, the funnel narrows towards the top
        y_lo, y_hi = float(to_y(se_max)), float(to_y(float(frame["sei"].min()))) * 1.05
    x_half = z * se_max
    xs = np.concatenate([frame["yi"].to_numpy(), [centre - x_half, centre + x_half]])
    pad = 0.05 * (xs.max() - xs.min())
    ax.set_xlim(xs.min() - pad, xs.max() + pad)
    ax.set_ylim((y_hi, y_lo) if inverted else (y_lo, y_hi))
    ax.set_facecolor("#d3d3d3")
    _funnel_region(ax, centre, z, to_se, y_lo, y_hi)
    ax.yaxis.grid(True, color="white", lw=0.8)
    ax.set_axisbelow(True)
    ax.axvline(centre, color="black", lw=0.9, zorder=2,
               label="Adjusted estimate (trim-and-fill)" if filled else "Pooled estimate")
    if filled:
        ax.axvline(float(res.estimate), color="black", lw=0.9, ls="--", zorder=2, label="Unadjusted estimate")
    egger_p = _draw_egger(ax, egger, to_y)
    obs = frame[frame["kind"] == "observed"]
    ax.scatter(obs["yi"], obs["y"], s=28, color="black", zorder=4, label="Observed study")
    fil = frame[frame["kind"] == "filled"]
    if len(fil):
        ax.scatter(fil["yi"], fil["y"], s=28, facecolors="white", edgecolors="black", zorder=4,
                   label="Filled study (trim-and-fill)")
    ax.set_xlabel(MEASURE_AXIS_LABELS.get(res.es.measure, res.es.measure))
    ax.set_ylabel(ylabel)
    # Below the x label, two columns: outside the funnel so no point is hidden, inside the figure so not cut.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False, fontsize=SMALL_FONT_SIZE)
    if title:
        ax.set_title(title, loc="left", fontweight="bold")
    k0 = 0 if trimfill is None else int(trimfill.k0)
    side = None if trimfill is None else getattr(trimfill, "side", None)
    return FunnelPlot(figure=fig, data=frame.reset_index(drop=True), measure=res.es.measure, estimate=centre,
                      yaxis=yaxis, k0=k0, side=side, egger_p=egger_p,
                      estimate_proportion=float(centre_model.proportion().estimate))


def _funnel_region(ax, centre: float, z: float, to_se, y_lo: float, y_hi: float):
    """White pseudo-confidence region estimate ± z·SE with dotted edges (metafor: shade white on lightgray)."""
    grid = np.linspace(y_lo, y_hi, 200)
    se = np.where(grid > 0, to_se(np.where(grid > 0, grid, 1.0)), 0.0)
    se = np.nan_to_num(se, nan=0.0, posinf=0.0)
    left, right = centre - z * se, centre + z * se
    ax.fill_betweenx(grid, left, right, color="white", lw=0, zorder=1)
    ax.plot(left, grid, color="black", ls=":", lw=0.9, zorder=2)
    ax.plot(right, grid, color="black", ls=":", lw=0.9, zorder=2)


def _draw_egger(ax, egger: Any, to_y) -> float | None:
    """Egger's regression line yi = b0 + b1·sei (regtest, predictor "sei"), drawn in the funnel's y units."""
    if egger is None or not getattr(egger, "applicable", True):
        return None
    if getattr(egger, "predictor", "sei") == "sei" and np.isfinite([egger.intercept, egger.slope]).all():
        se = np.asarray(getattr(egger, "line_x", np.linspace(0.0, 1.0, 50)), float)
        x = float(egger.intercept) + float(egger.slope) * se
        with np.errstate(divide="ignore"):
            y = to_y(se)
        ok = np.isfinite(y)
        ax.plot(x[ok], y[ok], color="#1f78b4", lw=1.2, zorder=3, label="Egger regression line")
    p = getattr(egger, "pval", getattr(egger, "p", None))
    return None if p is None or not np.isfinite(p) else float(p)


# --------------------------------------------------------------------------------------------------------------
# Alt text and saving
# --------------------------------------------------------------------------------------------------------------


def alt_text(plot: ForestPlot | FunnelPlot) -> str:
    """One sentence describing the figure, for the book's figure alt text."""
    if isinstance(plot, ForestPlot):
        return _forest_alt(plot)
    if isinstance(plot, FunnelPlot):
        return _funnel_alt(plot)
    raise TypeError(f"alt_text needs a ForestPlot or FunnelPlot, got {type(plot).__name__}")


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
    text = f"Funnel plot of {_studies(k)} ({scale} against {_YAXES[plot.yaxis][0].lower()})"
    if plot.k0:
        side = f" on the {plot.side} side" if plot.side else ""
        text += f" with {_studies(plot.k0)} imputed by trim-and-fill{side}"
    text += f"; {'adjusted ' if plot.k0 else ''}pooled estimate {plot.estimate:.3f}"
    if plot.estimate_proportion is not None and np.isfinite(plot.estimate_proportion):
        text += f" ({_fmt_prop(plot.estimate_proportion, True)})"
    if plot.egger_p is not None:
        text += f", Egger test p {_fmt_p(plot.egger_p)}"
    return text + "."


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG, SVG or PDF (by suffix) with no version/time metadata, so reruns give equal bytes."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    metadata = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
                "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None}}
    if fmt not in metadata:
        raise ValueError(f"save_figure writes .png, .svg or .pdf, not {path.suffix!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context(_STYLE):  # fixed svg.hashsalt: SVG ids do not change between runs
        fig.savefig(path, format=fmt, dpi=fig.dpi, metadata=metadata[fmt])
    return path
