"""What changed (``notebooks/what_changed.ipynb``): the latest data version against the one before it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from IPython.display import HTML, Markdown

from livingreview import format as fmt
from livingreview.book import common, figures
from livingreview.book.common import esc as _esc, raw_table
from livingreview.config import PRIMARY
from livingreview.engine import plots
from livingreview.review import versions as vs

READS = ("studies", "outcome_definitions", "versions", "outcomes", "search")


def context(ds, params: dict) -> dict:
    version = params.get("data_version") or ds.latest_version
    return {"data_version_label": str(version), **common.spec_context({})}


def _estimate(p: vs.Pooled) -> str:
    if p.k == 0:
        return "no data"
    return f"{fmt.pct(p.estimate)} ({fmt.interval(p.ci_low, p.ci_high)})"


def _i2(p: vs.Pooled) -> str:
    return fmt.i2_cell(p.i2, p.k).replace("NA", "—")


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
                            f"of studies (literature searched to {fmt.long_date(info.search_date)}) — so there is no "
                            f"earlier version to compare with. The latest data version is {self.ds.latest_version}.")
        added = vs.studies_added(self.ds, self.new)
        moved = [s for s in self.shifts if s.moved]
        with_data = [s for s in self.shifts if s.new.k]
        names = "; ".join(fmt.md(label) for label in added["display_label"]) or "none"
        n_old = int((self.ds.studies["data_version"] <= self.old).sum())
        return Markdown(
            f"Data version {self.new} (literature searched to {fmt.long_date(info.search_date)}) adds {len(added)} "
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
        from livingreview.review.outcomes import analyse_outcome
        moved = [s for s in self.shifts if s.moved and s.new.k] if self.old is not None else []
        if not moved:
            return figures.message_figure("No outcome changed between data versions.")
        pngs = []
        for s in moved:
            a = analyse_outcome(self.ds, s.outcome, PRIMARY, data_version=self.new)
            fp = plots.forest_plot(a.overall, title=f"{s.label} — data version {self.new}",
                                   new_studies=s.new_labels)
            pngs.append(fp._repr_png_())
        return figures.StackedFigure(tuple(pngs))

    def changed_list(self) -> Markdown:
        moved = [s for s in self.shifts if s.moved] if self.old is not None else []
        if not moved:
            return Markdown("No outcome changed.")
        return Markdown("Forest plots below, top to bottom: " + "; ".join(fmt.md(s.label) for s in moved) + ".")


def load(data_dir="data", data_version=None) -> WhatChangedPage:
    ds = common.dataset(READS, data_dir, "the what-changed page")
    new = ds.latest_version if data_version is None else int(data_version)
    old = vs.previous_version(ds, new)
    shifts = vs.compare_versions(ds, old, new) if old is not None else ()
    return WhatChangedPage(ds, old, new, shifts)
