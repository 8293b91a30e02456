"""Page objects for the reproduction audit and the living-update pages (the review's own pages are in pages.py).

Same contract as :mod:`livingreview.pages`: one small object per page whose methods return what a notebook cell
displays — Markdown sentences, deterministic HTML tables, figures to glue. No statistics here: the numbers come
from :mod:`livingreview.reproduction` and :mod:`livingreview.versions`; this module rounds them for reading.
"""

from __future__ import annotations

import html as _html
import io
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd
from IPython.display import HTML, Markdown

from livingreview import figures, report, reproduction as rp, versions as vs
from livingreview.engine import plots
from livingreview.config import PRIMARY, SUBGROUPS
from livingreview.pages import dataset, html

STATUS_WORDS = {
    "reproduced": "ours matches the printed value (rounds to it, or within the tolerance)",
    "close": f"estimate or bound within {rp.CLOSE_PP} pp of the printed value, but not equal after rounding",
    "not reproduced": "the studies are all there, yet no specification gives the printed value",
    "not reproducible": "cannot be checked with the data available: studies the paper pooled are missing from "
                        "the dataset, or no study reports the analysis",
}
STATUS_COLOURS = {"reproduced": "#2e7d32", "close": "#8a6d00", "not reproduced": "#b3261e",
                  "not reproducible": "#5f6368"}
AUDIT_TEMPLATE = "reproduction.ipynb"
SHORT_REASONS = {
    "no-data": "no study in the dataset reports this analysis",
    "missing-studies": "studies the paper pooled are missing",
    "outcome-incomplete": "the level's k is not printed and the outcome misses studies of unknown level",
}


# --- formatting ----------------------------------------------------------------------------------------------------


def _num(x: float, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    text = f"{x:.{digits}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]
    return text.replace("-", "−")


def fmt_value(statistic: str, x: float, comparator: str = "=") -> str:
    """A recomputed (or printed) value the way the paper prints that statistic."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if statistic == "k":
        return str(int(round(x)))
    if statistic in ("het_p", "egger_p"):
        if comparator == "<":
            return f"<{x:.3f}"
        return "<0.001" if x < 0.001 else f"{x:.3f}"
    return _num(x, 1)


def fmt_printed(n: rp.PublishedNumber) -> str:
    if n.statistic in ("het_p", "egger_p"):
        return fmt_value(n.statistic, n.value, n.comparator)
    if n.statistic == "k":
        return str(int(n.value))
    return _num(n.value, n.decimals)


def _difference(c: rp.Comparison) -> str:
    """'+0.3 (S1)': our closest value minus the printed one, with the specification it came from."""
    n = c.number
    if not c.best_spec or n.comparator != "=" or math.isnan(c.difference):
        return "—"
    digits = 3 if n.statistic in ("het_p", "egger_p") else 0 if n.statistic == "k" else 1
    text = _num(abs(c.difference), digits)
    sign = "" if text.strip("0.") == "" else ("+" if c.difference > 0 else "−")
    return f"{sign}{text} ({c.best_spec})"


def _paper_k(k: rp.PaperK) -> str:
    if k.exact is not None:
        return str(k.exact) if k.source.startswith(("printed", "outcome_definitions")) else \
            f"{k.exact} (implied by its I² and p)"
    return f"≥ {k.minimum} (from its I² and p)" if k.minimum else "not printed"


def _analysis(subgroup: str, level: str) -> str:
    return "Overall" if subgroup == "overall" else f"{SUBGROUPS[subgroup]}: {level}"


def _labels(ds) -> dict:
    return dict(zip(ds.definitions["outcome"], ds.definitions["label"]))


def counts_text(counts: dict) -> str:
    """'2 reproduced · 1 close · 5 not reproducible' (categories with a count only)."""
    parts = [f"{n} {s}" for s, n in counts.items() if n]
    return " · ".join(parts) if parts else "nothing to check"


def _esc(value) -> str:
    return _html.escape("" if value is None else str(value))


def raw_table(columns, rows) -> str:
    """A deterministic HTML table like report.html_table, whose cells are already HTML (links, group rows).

    ``rows``: lists of cell HTML, or ``("group", html)`` for a row spanning every column."""
    head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    body = []
    for row in rows:
        if isinstance(row, tuple) and row and row[0] == "group":
            body.append(f'<tr class="livingreview-group"><th colspan="{len(columns)}" style="background: #eef2f6; '
                        f'font-weight: 600;">{row[1]}</th></tr>')
        else:
            body.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    return (f'<table class="table livingreview-table"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


# --- the reproduction audit --------------------------------------------------------------------------------------


@lru_cache(maxsize=2)
def _audit(ds):
    """The audit of a loaded dataset (cached per Dataset object, so a data-directory override is never stale)."""
    result = rp.audit(ds)
    return ds, result, rp.findings(ds), rp.best_specifications(ds, result)


@dataclass(frozen=True)
class ReproductionPage:
    ds: object
    audit: rp.Audit
    findings: tuple
    explanations: tuple

    # summary
    def summary_sentence(self) -> Markdown:
        c = self.audit.counts()
        total = sum(c.values())
        v1 = self.ds.studies[self.ds.studies["data_version"] <= rp.REFERENCE_VERSION]
        rules = pd.Series([x.rule for x in self.audit.comparisons if x.status == "not reproducible"]).value_counts()
        why = "; ".join(f"{int(rules[r])}: {SHORT_REASONS[r]}" for r in SHORT_REASONS if r in rules.index)
        return Markdown(
            f"The paper prints **{total} pooled numbers** (estimates, CI and PI bounds, I², heterogeneity and Egger "
            f"p values, numbers of studies). Recomputed from the paper's set of studies (data version "
            f"{rp.REFERENCE_VERSION}: {len(v1)} studies, "
            f"{int((v1['identification'] == 'not identified').sum())} of them not yet identified), "
            f"**{c['reproduced']}** are reproduced, **{c['close']}** close, **{c['not reproduced']}** not "
            f"reproduced and **{c['not reproducible']}** not reproducible with the data available"
            + (f" ({why})." if why else "."))

    def df_sentence(self) -> Markdown:
        numbers = rp.published_numbers(self.ds)
        pairs = [(a, i, p) for a in dict.fromkeys(n.analysis for n in numbers)
                 for i, p in [(rp.published_value(numbers, a, "i2"), rp.published_value(numbers, a, "het_p"))]
                 if i is not None and p is not None]
        exact = [(a, i, p) for a, i, p in pairs if p.comparator == "="]
        fits = [x for x in exact if rp.implied_df(x[1].value, x[2].value)]
        unique = [x for x in exact if len(rp.implied_df(x[1].value, x[2].value)) == 1]
        return Markdown(
            f"The heterogeneity statistics agree. The paper prints {len(pairs)} I²/p pairs, {len(exact)} of them with "
            f"an exact p; {len(fits)} of those fit I² = (Q − df)/Q at an integer df — the Q-based I², which is "
            f"DerSimonian–Laird's and which a τ²-based REML I² does not satisfy in general — and {len(unique)} "
            f"fit "
            f"exactly one df, which tells how many studies the subgroup had (listed under "
            f"[checks that hold](#checks-that-hold)). Outcome by outcome:")

    def summary_table(self) -> HTML:
        c = self.audit.counts()
        total = sum(c.values())
        rows = [{"Status": s, "Numbers": n, "Share": f"{100 * n / total:.0f}%" if total else "—",
                 "Meaning": STATUS_WORDS[s]} for s, n in c.items()]
        rows.append({"Status": "total", "Numbers": total, "Share": "100%", "Meaning": ""})
        return html(pd.DataFrame(rows))

    def outcome_table(self) -> HTML:
        labels = _labels(self.ds)
        expl = {e.outcome: e for e in self.explanations}
        rows = []
        for outcome in self.audit.outcomes():
            c = self.audit.counts(outcome)
            rows.append([f'<a href="#audit-{_esc(outcome)}">{_esc(labels[outcome])}</a>', str(sum(c.values())),
                         _esc(counts_text(c)), _esc(expl[outcome].best_spec)])
        return HTML(raw_table(["Outcome", "Printed numbers", "Status", "Best-explaining specification"], rows))

    # methods
    def specifications_table(self) -> HTML:
        return html(pd.DataFrame([{"Key": s.key, "Name": s.name, "Specification": s.description}
                                  for s in rp.SPECIFICATIONS]))

    def tolerances_table(self) -> HTML:
        rows = [
            {"Statistic": "estimates, CI and PI bounds", "Reproduced": "ours rounds to the printed value "
             "(at its printed decimals, at least 0.1 pp)", "Close": f"within {rp.CLOSE_PP} pp"},
            {"Statistic": "I²", "Reproduced": f"within {rp.I2_TOLERANCE} points", "Close": "—"},
            {"Statistic": "p printed to three decimals", "Reproduced": f"within {rp.P_TOLERANCE}", "Close": "—"},
            {"Statistic": "p printed as p<0.001", "Reproduced": "ours < 0.001 (checked as an inequality)",
             "Close": "—"},
            {"Statistic": "k", "Reproduced": "equal", "Close": "—"},
        ]
        return html(pd.DataFrame(rows))

    def rules_table(self) -> HTML:
        return html(pd.DataFrame([{"Order": i, "Rule": r.rule, "Applies to": r.applies_to,
                                   "Condition": r.condition, "Status": r.status}
                                  for i, r in enumerate(rp.STATUS_RULES, start=1)]))

    # which specification
    def explanations_table(self) -> HTML:
        labels = _labels(self.ds)
        rows = []
        for e in self.explanations:
            fitting = e.cis - e.typos
            cis = (f"{' & '.join(e.ci_scales) or 'no common scale'} ({fitting} of {e.cis}"
                   f"{'' if e.discriminating == fitting else f', {e.discriminating} discriminating'})"
                   if fitting else "none")
            rows.append({"Outcome": labels[e.outcome], "Best-explaining specification": e.best_spec,
                         "CIs symmetric on": cis + (f"; {e.typos} on no scale (typo)" if e.typos else ""),
                         "I²/p pairs fitting a Q-based I²": e.q_based_pairs if not e.q_based_pairs.endswith(" 0")
                         else "—"})
        return html(pd.DataFrame(rows))

    def interval_table(self) -> HTML:
        """Every printed interval, how lopsided it is, and what a symmetric interval on each scale would give."""
        labels = _labels(self.ds)
        rows = []
        for c in rp.interval_checks(rp.published_numbers(self.ds)):
            rows.append({
                "Outcome": labels[c.outcome], "Analysis": "overall" if c.subgroup == "overall" else c.level,
                "Interval": f"{c.kind} {rp._pct(c.estimate)} ({rp._pct(c.low)}–{rp._pct(c.high)})",
                "Lopsided (pp)": _num(c.asymmetry, 1),
                "If arcsine": "—" if c.kind == "PI" or not 0 < c.low < c.high < 100 else
                _num(c.predicted["arcsine"], 1),
                "If logit": "—" if c.kind == "PI" or not 0 < c.low < c.high < 100 else _num(c.predicted["logit"], 1),
                "Symmetric on": ", ".join(c.consistent) or "none",
            })
        return html(pd.DataFrame(rows))

    def scale_sentence(self) -> Markdown:
        checks = [c for c in rp.interval_checks(rp.published_numbers(self.ds)) if c.kind == "CI"]
        raw_only = [c for c in checks if c.consistent == ("raw",)]
        any_raw = [c for c in checks if "raw" in c.consistent]
        none = [c for c in checks if not c.consistent]
        inside = [c for c in raw_only if 0 < c.low and c.high < 100]
        pred = sorted(abs(c.predicted["arcsine"]) for c in inside)
        pred_logit = sorted(abs(c.predicted["logit"]) for c in inside)
        span = (f" For the {len(inside)} of those inside 0–100%, an interval of the same width symmetric on the "
                f"Freeman–Tukey (≈ arcsine) scale would be lopsided by {pred[0]:.1f}–{pred[-1]:.1f} pp (median "
                f"{pd.Series(pred).median():.1f}), on the logit scale by {pred_logit[0]:.1f}–{pred_logit[-1]:.1f} pp "
                f"(median {pd.Series(pred_logit).median():.1f}); the printed ones are lopsided by at most "
                f"{max(abs(c.asymmetry) for c in inside):.1f} pp, which is rounding."
                if inside else "")
        return Markdown(
            f"Of the {len(checks)} confidence intervals the paper prints, {len(any_raw)} are symmetric about their "
            f"estimate within rounding — what a Wald interval of untransformed proportions gives — and "
            f"{len(raw_only)} of them *only* on that scale.{span} {len(none)} are symmetric on no scale at all "
            f"(probable typos).")

    # inconsistencies
    def findings_table(self, verdict: str = "inconsistent", checks=None) -> HTML:
        labels = _labels(self.ds)
        rows = []
        for f in self.findings:
            if f.verdict != verdict or (checks is not None and f.check not in checks):
                continue
            if verdict == "consistent" and f.check == "interval scale":
                continue  # shown, with every other interval, in the interval table above
            where = labels.get(f.outcome, "")
            where = f"{where} ({f.analysis})" if where else f.analysis
            rows.append({"Check": f.check, "Where": where, "Evidence (computed)": f.evidence})
        if not rows:
            return HTML("<p>None.</p>")
        return html(pd.DataFrame(rows))

    def checks_table(self) -> HTML:
        counts = {}
        for f in self.findings:
            counts.setdefault(f.check, {"inconsistent": 0, "unverifiable": 0, "consistent": 0})[f.verdict] += 1
        return html(pd.DataFrame([{"Check": name, "What it tests": what,
                                   "Inconsistent": counts.get(name, {}).get("inconsistent", 0),
                                   "Unverifiable": counts.get(name, {}).get("unverifiable", 0),
                                   "Consistent": counts.get(name, {}).get("consistent", 0)}
                                  for name, what in rp.CHECKS.items()]))

    def inconsistency_count(self) -> int:
        return sum(f.verdict == "inconsistent" for f in self.findings)

    # every number
    def numbers_tables(self) -> HTML:
        """One table per outcome, each under a heading with the id ``audit-<outcome>`` that the outcome pages'
        badges link to; one group row per analysis (overall, each subgroup level) with its k and status reason."""
        labels = _labels(self.ds)
        columns = ["Statistic", "Paper", *rp.SPEC_KEYS, "Closest − paper", "Status"]
        parts = []
        for outcome in self.audit.outcomes():
            rows, current = [], None
            for c in (c for c in self.audit.comparisons if c.number.outcome == outcome):
                n = c.number
                if n.analysis != current:
                    current = n.analysis
                    group = [x for x in self.audit.comparisons if x.number.analysis == current]
                    head = (f"{_esc(_analysis(n.subgroup, n.level))} — studies: paper {_esc(_paper_k(c.paper_k))}, "
                            f"dataset {c.our_k}")
                    if all(x.status == "not reproducible" for x in group):
                        head += f" — {_esc(SHORT_REASONS.get(c.rule, c.rule))}"
                    rows.append(("group", head))
                rows.append([_esc(rp.STATISTIC_LABELS[n.statistic]), _esc(fmt_printed(n)),
                             *[_esc(fmt_value(n.statistic, c.values[k])) for k in rp.SPEC_KEYS],
                             _esc(_difference(c)), _esc(c.status)])
            counts = counts_text(self.audit.counts(outcome))
            parts.append(f'<p id="audit-{_esc(outcome)}" style="margin-top: 1.5em;"><strong>'
                         f'{_esc(labels[outcome])}</strong> — {_esc(counts)}</p>' + raw_table(columns, rows))
        return HTML("\n".join(parts))


def reproduction_page(data_dir="data", **_) -> ReproductionPage:
    return ReproductionPage(*_audit(dataset(str(data_dir))))


def _audit_href(outcome: str) -> str | None:
    """Relative link from the outcome's page to its rows in the audit chapter (from manifest.yml)."""
    from livingreview.build import load_manifest
    pages = load_manifest()
    audit = next((p for p in pages if p.template == AUDIT_TEMPLATE), None)
    page = next((p for p in pages if p.template == "outcome.ipynb" and p.parameters.get("outcome") == outcome), None)
    if audit is None or page is None:
        return None
    target = Path(audit.output).with_suffix(".html").as_posix()
    rel = os.path.relpath(target, Path(page.output).parent.as_posix() or ".")
    return f"{Path(rel).as_posix()}#audit-{outcome}"


def reproduction_badge(outcome: str, data_dir="data") -> HTML:
    """One line for an outcome page: how many of the paper's numbers for this outcome the audit reproduced."""
    ds = dataset(str(data_dir))
    counts = rp.audit(ds, outcomes=(outcome,)).counts(outcome)
    total = sum(counts.values())
    if total == 0:
        text = "Reproduction: the paper prints no pooled number for this outcome"
    else:
        text = f"Reproduction of the paper's {total} numbers: {counts_text(counts)}"
        if counts["not reproducible"] == total:
            text += " (studies the paper pooled are missing from the dataset)"
    best = min((s for s, n in counts.items() if n), key=rp.STATUSES.index, default="not reproducible")
    href = _audit_href(outcome)
    link = f' — <a href="{_html.escape(href)}">see the audit</a>' if href and total else ""
    style = (f"border-left: 4px solid {STATUS_COLOURS[best]}; padding: 0.3em 0.7em; background: #f6f8fa; "
             "margin: 0.5em 0;")
    return HTML(f'<p class="livingreview-badge" style="{style}">{_html.escape(text)}{link}</p>')


# --- what changed ----------------------------------------------------------------------------------------------


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


def _estimate(p: vs.Pooled) -> str:
    if p.k == 0:
        return "no data"
    return f"{report.pct(p.estimate)} ({report.interval(p.ci_low, p.ci_high)})"


def _i2(p: vs.Pooled) -> str:
    return "—" if p.k < 2 or math.isnan(p.i2) else f"{p.i2:.1f}%"


def _pooled_cell(p: vs.Pooled) -> str:
    """'86.4% (74.5%–93.3%)' with 'k = 11 · I² = 93.4%' below it."""
    if p.k == 0:
        return "no data"
    return (f"{_esc(_estimate(p))}<br><small>k = {p.k}"
            f"{'' if p.k < 2 else f' · I² = {_esc(_i2(p))}'}</small>")


@dataclass(frozen=True)
class WhatChangedPage:
    ds: object
    old: int | None
    new: int
    shifts: tuple

    def sentence(self) -> Markdown:
        info = {v.version: v for v in vs.version_info(self.ds)}[self.new]
        if self.old is None:
            return Markdown(f"This book is built from data version {self.new} — the first version, the paper's set "
                            f"of studies (literature searched to {_long_date(info.search_date)}) — so there is no "
                            f"earlier version to compare with. The latest data version is {self.ds.latest_version}.")
        added = vs.studies_added(self.ds, self.new)
        moved = [s for s in self.shifts if s.moved]
        with_data = [s for s in self.shifts if s.new.k]
        names = "; ".join(added["display_label"]) or "none"
        n_old = int((self.ds.studies["data_version"] <= self.old).sum())
        return Markdown(
            f"Data version {self.new} (literature searched to {_long_date(info.search_date)}) adds {len(added)} "
            f"{'study' if len(added) == 1 else 'studies'} to the {n_old} of version {self.old}: {names}. They "
            f"contribute to {len(moved)} of the {len(with_data)} outcomes with a pooled estimate; the other "
            f"outcomes are unchanged. Estimates are the book's primary analysis "
            f"({PRIMARY.describe()}).")

    def table(self) -> HTML:
        if self.old is None:
            return HTML("<p>Nothing to compare: this is the first data version.</p>")
        rows = []
        for s in self.shifts:
            if s.old.k == 0 and s.new.k == 0:
                continue
            shift = "—" if math.isnan(s.shift_pp) else ("unchanged" if not s.moved else
                                                        f"{'+' if s.shift_pp >= 0 else '−'}{abs(s.shift_pp):.1f} pp")
            rows.append([_esc(s.label), _pooled_cell(s.old), _pooled_cell(s.new),
                         f"<strong>{_esc(shift)}</strong>" if s.moved else _esc(shift),
                         "<br>".join(_esc(x) for x in s.new_labels) or "—"])
        return HTML(raw_table(["Outcome", f"Version {self.old}", f"Version {self.new}", "Shift", "New studies"], rows))

    def prisma(self):
        studies = self.ds.studies[self.ds.studies["data_version"] <= self.new]
        return figures.prisma_figure(self.ds.search, studies)

    def forests(self):
        from livingreview.results import analyse_outcome
        moved = [s for s in self.shifts if s.moved and s.new.k] if self.old is not None else []
        if not moved:
            return figures.message_figure("No outcome changed between data versions.")
        pngs = []
        for s in moved:
            a = analyse_outcome(self.ds, s.outcome, PRIMARY, data_version=self.new)
            fp = plots.forest_plot(a.overall, title=f"{s.label} — data version {self.new}",
                                   new_studies=s.new_labels)
            pngs.append(fp._repr_png_())
        return StackedFigure(tuple(pngs))

    def changed_list(self) -> Markdown:
        moved = [s for s in self.shifts if s.moved] if self.old is not None else []
        if not moved:
            return Markdown("No outcome changed.")
        return Markdown("Forest plots below, top to bottom: " + "; ".join(s.label for s in moved) + ".")


def what_changed_page(data_dir="data", data_version=None, **_) -> WhatChangedPage:
    ds = dataset(str(data_dir))
    new = ds.latest_version if data_version is None else int(data_version)
    old = vs.previous_version(ds, new)
    shifts = vs.compare_versions(ds, old, new) if old is not None else ()
    return WhatChangedPage(ds, old, new, shifts)


# --- changelog -------------------------------------------------------------------------------------------------


def _long_date(value: str) -> str:
    import datetime as dt
    d = dt.date.fromisoformat(str(value))
    return f"{d.day} {d.strftime('%B')} {d.year}"


@dataclass(frozen=True)
class ChangelogPage:
    ds: object
    entries: tuple

    def sentence(self) -> Markdown:
        last = self.entries[-1]
        return Markdown(f"{len(self.entries)} data {'version' if len(self.entries) == 1 else 'versions'} so far; "
                        f"the latest shown here is version {last.version}, literature searched to "
                        f"{_long_date(last.info.search_date)}. Generated from `data/versions.csv` and the "
                        f"`data_version` column of `data/studies.csv` when the book is built.")

    def versions_table(self) -> HTML:
        rows = []
        for e in self.entries:
            rows.append({
                "Version": e.version, "Dataset frozen": _long_date(e.info.date),
                "Literature searched to": _long_date(e.info.search_date),
                "Studies added": len(e.added),
                "Outcomes moved": "— (first version)" if e.previous is None else len(e.moves),
            })
        return html(pd.DataFrame(rows))

    def entries_markdown(self) -> Markdown:
        """One section per version, newest first."""
        parts = []
        for e in reversed(self.entries):
            parts.append(f"**Version {e.version}** — dataset of {_long_date(e.info.date)}, literature searched to "
                         f"{_long_date(e.info.search_date)}. {e.info.description}.\n")
            if e.previous is None:
                parts.append(f"- Studies: {len(e.added)} ({', '.join(e.added)}).\n")
            else:
                parts.append(f"- Studies added: {', '.join(e.added) if e.added else 'none'}.")
                if e.moves:
                    for m in e.moves:
                        shift = ("new estimate" if m.old.k == 0 else
                                 f"{report.pct(m.old.estimate)} → {report.pct(m.new.estimate)} "
                                 f"({'+' if m.shift_pp >= 0 else '−'}{abs(m.shift_pp):.1f} pp)")
                        parts.append(f"- {m.label}: k {m.old.k} → {m.new.k}, {shift}; from "
                                     f"{', '.join(m.new_labels) or 'corrections'}.")
                else:
                    parts.append("- No pooled estimate moved.")
                parts.append("")
        return Markdown("\n".join(parts))


def changelog_page(data_dir="data", data_version=None, **_) -> ChangelogPage:
    ds = dataset(str(data_dir))
    return ChangelogPage(ds, vs.changelog(ds, PRIMARY, upto=data_version))


__all__ = ["ReproductionPage", "reproduction_page", "reproduction_badge", "WhatChangedPage", "what_changed_page",
           "ChangelogPage", "changelog_page", "StackedFigure"]
