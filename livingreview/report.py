"""Words and tables for the book: formatting of numbers and the sentences that state a result.

No statistics here — only presentation of what :mod:`livingreview.results` computed. Numbers are rounded for
display so that the executed notebooks are byte-stable (the regression baseline compares them).
"""

from __future__ import annotations

import html as _html
import math

import pandas as pd

from livingreview.config import SUBGROUPS, SUBGROUP_LEVELS


def pct(x: float, digits: int = 1) -> str:
    """0.8904 → '89.0%'; NaN → 'NA'."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NA"
    return f"{100 * x:.{digits}f}%"


def interval(lo: float, hi: float, digits: int = 1) -> str:
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (lo, hi)):
        return "NA"
    return f"{pct(lo, digits)}–{pct(hi, digits)}"


def p_value(p: float) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "p = NA"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def number(x: float, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NA"
    return f"{x:.{digits}f}"


def i2_text(i2: float) -> str:
    return "I² = NA" if i2 is None or math.isnan(i2) else f"I² = {i2:.1f}%"


def estimate_text(row, with_pi: bool = True) -> str:
    """'89.0% (95% CI: 85.8%–92.2%; 95% PI: 1.2%–99.9%; I² = 90.1%, p < 0.001)' from a results row."""
    parts = [f"95% CI: {interval(row['ci_low'], row['ci_high'])}"]
    if with_pi and not math.isnan(row["pi_low"]):
        parts.append(f"95% PI: {interval(row['pi_low'], row['pi_high'])}")
    het = f"{i2_text(row['i2'])}, {p_value(row['q_p'])}" if row["k"] > 1 else "single study, no heterogeneity"
    return f"{pct(row['estimate'])} ({'; '.join(parts)}; {het})"


def result_sentences(analysis, rows: pd.DataFrame) -> str:
    """The result in the paper's style, with the subgroup findings; Markdown."""
    label = analysis.label
    if analysis.overall is None or rows.empty:
        return (f"No study in the dataset reports **{label.lower()}** with counts that can be pooled "
                f"({len(analysis.excluded)} studies are listed below with the reason).")
    overall = rows[rows["subgroup"] == "overall"].iloc[0]
    k, n = int(overall["k"]), int(overall["total"])
    text = [f"{label} was available from {k} {'study' if k == 1 else 'studies'} ({n:,} patients). "
            f"With a random-effects model ({analysis.spec.describe()}), the pooled {label.lower()} rate was "
            f"{estimate_text(overall)}."]
    for column, name in SUBGROUPS.items():
        sub = rows[rows["subgroup"] == column]
        if sub.empty:
            continue
        best = sub.sort_values("estimate", ascending=False).iloc[0]
        between = sub.iloc[0]
        text.append(f"By {name.lower()}, the highest rate was with {best['level']}: "
                    f"{estimate_text(best, with_pi=False)}; test for subgroup differences: "
                    f"Q = {number(between['q_between'])}, df = {int(between['q_between_df'])}, "
                    f"{p_value(between['q_between_p'])}.")
    return " ".join(text)


def html_table(df: pd.DataFrame, caption: str | None = None) -> str:
    """A plain, deterministic HTML table (pandas' Styler adds random ids, which would break the baseline)."""
    head = "".join(f"<th>{_html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for _, row in df.iterrows():
        cells = "".join(f"<td>{_html.escape('' if pd.isna(v) else str(v))}</td>" for v in row)
        body.append(f"<tr>{cells}</tr>")
    cap = f"<caption>{_html.escape(caption)}</caption>" if caption else ""
    return (f'<table class="table livingreview-table">{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def summary_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Overall and subgroup estimates, formatted for reading."""
    out = []
    for _, r in rows.iterrows():
        group = "Overall" if r["subgroup"] == "overall" else f"{SUBGROUPS[r['subgroup']]}: {r['level']}"
        out.append({
            "Analysis": group, "Studies": int(r["k"]), "Events / patients": f"{int(r['events'])} / {int(r['total'])}",
            "Estimate": pct(r["estimate"]), "95% CI": interval(r["ci_low"], r["ci_high"]),
            "95% PI": interval(r["pi_low"], r["pi_high"]),
            "τ²": number(r["tau2"], 3), "I²": "NA" if math.isnan(r["i2"]) else f"{r['i2']:.1f}%",
            "Q (df), p": "NA" if r["k"] < 2 else f"{r['q']:.2f} ({int(r['q_df'])}), {p_value(r['q_p'])}",
        })
    return pd.DataFrame(out)


def level_order(column: str, levels) -> list[str]:
    known = [lv for lv in SUBGROUP_LEVELS.get(column, ()) if lv in levels]
    return known + sorted(lv for lv in levels if lv not in known)
