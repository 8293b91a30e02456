"""What's new (``notebooks/what_changed.ipynb``): the book's data version against the one before it — searches,
PRISMA counts, studies added, removed and corrected, every estimate that moved, the protocol's triggers and the
update class — all computed by :mod:`livingreview.review.history` from the versions as published."""

from __future__ import annotations

import math
from dataclasses import dataclass

from IPython.display import HTML, Markdown

from livingreview import format as fmt
from livingreview.book import common, figures
from livingreview.book.common import esc as _esc, raw_table
from livingreview.config import PRIMARY
from livingreview.engine import plots
from livingreview.review import history as hs

READS = ("studies", "reports", "outcome_definitions", "versions", "outcomes", "search", "search_runs", "records",
         "screening", "snapshots", "protocol", "certainty")
SOURCE_NAMES = figures.SOURCE_NAMES


def context(ds, params: dict) -> dict:
    version = params.get("data_version") or ds.latest_version
    return {"data_version_label": str(version), **common.spec_context({})}


def _estimate_cell(row) -> str:
    if row is None:
        return "no estimate"
    pi = "" if math.isnan(row["pi_low"]) else \
        f"<br><small>95% PI {_esc(fmt.interval(row['pi_low'], row['pi_high']))}</small>"
    i2 = "" if int(row["k"]) < 2 else f" · I² = {_esc(fmt.i2_cell(row['i2'], int(row['k'])))}"
    return (f"{_esc(fmt.pct(row['estimate']))} ({_esc(fmt.interval(row['ci_low'], row['ci_high']))}){pi}"
            f"<br><small>k = {int(row['k'])}, N = {int(row['total']):,}{i2}</small>")


def search_sentence(w: hs.WhatsNew) -> str:
    """How the version's studies were found, in one or two sentences (the basis is never overstated)."""
    if w.previous is None:
        return (f"Version {w.version} is the paper's set of studies, from the paper's systematic search to "
                f"{fmt.long_date(w.search_date)}.")
    if not w.search_recorded:
        return (f"No systematic search run is recorded for version {w.version}: its studies were "
                f"{fmt.md(w.search_basis)}. The last systematic literature search it rests on is the one of "
                f"{fmt.long_date(w.search_date)}.")
    parts = [f"{SOURCE_NAMES.get(s.source, s.source)} {fmt.long_date(s.window_start)} to "
             f"{fmt.long_date(s.window_end)} ({s.retrieved:,} records, {s.new:,} new)" for s in w.searches]
    return f"Version {w.version} rests on recorded searches: {'; '.join(parts)}."


@dataclass(frozen=True)
class WhatChangedPage:
    ds: object
    new: int
    whats_new: hs.WhatsNew

    @property
    def old(self) -> int | None:
        return self.whats_new.previous

    def sentence(self) -> Markdown:
        w = self.whats_new
        if w.previous is None:
            return Markdown(f"This book is built from data version {self.new} — the first version, the paper's set of "
                            f"studies (literature searched to {fmt.long_date(w.search_date)}) — so there is no "
                            f"earlier version to compare with. The latest data version is {self.ds.latest_version}.")
        moved = [m for m in w.moves if m.overall]
        frozen = ("" if w.previous_frozen else f" Version {w.previous} has no frozen snapshot, so it is shown from "
                  f"the current tables.")
        return Markdown(
            f"**Update class: {fmt.md(w.update_class)}.** {search_sentence(w)} Against version {w.previous}, version "
            f"{w.version} adds {fmt.plural(len(w.added), 'study', 'studies')}, removes {len(w.removed)} and corrects "
            f"{len(w.corrections)}; {fmt.plural(len(moved), 'overall estimate')} and "
            f"{fmt.plural(len(w.moves) - len(moved), 'subgroup estimate')} moved. Conclusions count as changed when "
            f"one of the protocol's update triggers fires. Estimates are the book's primary analysis "
            f"({PRIMARY.describe()}).{frozen}")

    def searches_table(self) -> HTML:
        w = self.whats_new
        if not w.search_recorded:
            return HTML(f"<p>No search run is recorded for data version {w.version}.</p>")
        rows = [[_esc(SOURCE_NAMES.get(s.source, s.source)), _esc(s.date_field),
                 _esc(f"{s.window_start} to {s.window_end}"), str(s.runs), f"{s.retrieved:,}", f"{s.new:,}"]
                for s in w.searches]
        return HTML(raw_table(["Source", "Date field", "Window", "Runs", "Records retrieved", "New"], rows))

    def prisma(self):
        return figures.prisma_update_figure(hs.flow_diagram(self.ds, self.new))

    def studies_table(self) -> HTML:
        w = self.whats_new
        if w.previous is None:
            return HTML("<p>The first version: every study is in the paper's set.</p>")
        rows = [["added", _esc(r["display_label"]), _esc(r["design"]),
                 "" if r["n_treated"] is None or r["n_treated"] != r["n_treated"] else str(int(r["n_treated"]))]
                for _, r in w.added.iterrows()]
        rows += [["removed", _esc(r["display_label"]), _esc(r["design"]), ""] for _, r in w.removed.iterrows()]
        if not rows:
            return HTML("<p>No study added or removed.</p>")
        return HTML(raw_table(["Change", "Study", "Design", "Patients treated"], rows))

    def corrections_table(self) -> HTML:
        w = self.whats_new
        rows = [[_esc(c.label), _esc(f.table), _esc(f.where), _esc(f.column), _esc(f.old) or "<em>empty</em>",
                 _esc(f.new) or "<em>empty</em>"] for c in w.corrections for f in c.changes]
        if not rows:
            return HTML("<p>No figure of a study already included was corrected.</p>" if w.previous is not None
                        else "<p>Nothing to compare: this is the first data version.</p>")
        return HTML(raw_table(["Study", "Table", "Row", "Field", f"Version {w.previous}", f"Version {w.version}"],
                              rows))

    def moves_table(self) -> HTML:
        w = self.whats_new
        if w.previous is None:
            return HTML("<p>Nothing to compare: this is the first data version.</p>")
        if not w.moves:
            return HTML("<p>No pooled estimate moved.</p>")
        columns = ["Outcome", "Analysis", f"Version {w.previous}", f"Version {w.version}", "Shift", "Caution"]
        rows = {True: [], False: []}  # overall estimates shown, subgroup estimates folded
        for m in w.moves:
            c = m.change
            where = "overall" if m.overall else f"{common.subgroup_name(c.subgroup)}: {c.level}"
            shift = "—" if math.isnan(m.shift_pp) else hs.pp_text(m.shift_pp)
            rows[m.overall].append([_esc(m.label), _esc(where), _estimate_cell(c.old), _estimate_cell(c.new),
                                    _esc(shift), _esc("; ".join(m.cautions)) or "—"])
        html = raw_table(columns, rows[True]) if rows[True] else "<p>No overall estimate moved.</p>"
        if rows[False]:
            html += common.fold(f"The {len(rows[False])} subgroup estimates that moved",
                                raw_table(columns, rows[False]))
        return HTML(html)

    def triggers_table(self) -> HTML:
        w = self.whats_new
        if w.previous is None:
            return HTML("<p>Nothing to compare: this is the first data version.</p>")
        rows = [[_esc(t.trigger_id), _esc(t.description),
                 "<strong>fired</strong>" if t.fired else "not assessed" if t.fired is None else "not fired",
                 _esc(t.evidence) + (" <small>(assessed retrospectively: the version predates the trigger)</small>"
                                     if t.retrospective else "")] for t in w.triggers]
        return HTML(raw_table(["Trigger", "Fixed in advance", "This version", "Why"], rows))

    def forests(self):
        from livingreview.review.outcomes import analyse_outcome

        moved = [m for m in self.whats_new.moves if m.overall and m.change.new is not None]
        if not moved:
            return figures.message_figure("No overall estimate changed between data versions.")
        vd = hs.version_data(self.ds, self.new)
        added = set(self.whats_new.added["study_id"])
        pngs = []
        for m in moved:
            a = analyse_outcome(vd.dataset, m.outcome, PRIMARY, data_version=self.new)
            new_labels = tuple(a.studies.loc[a.studies["study_id"].isin(added), "display_label"])
            fp = plots.forest_plot(a.overall, title=f"{m.label} — data version {self.new}", new_studies=new_labels)
            pngs.append(fp._repr_png_())
        return figures.StackedFigure(tuple(pngs))

    def changed_list(self) -> Markdown:
        moved = [m for m in self.whats_new.moves if m.overall and m.change.new is not None]
        if not moved:
            return Markdown("No overall estimate changed.")
        return Markdown("Forest plots below, top to bottom: " + "; ".join(fmt.md(m.label) for m in moved) + ".")


def load(data_dir="data", data_version=None) -> WhatChangedPage:
    ds = common.dataset(READS, data_dir, "the what-changed page")
    new = ds.latest_version if data_version is None else int(data_version)
    return WhatChangedPage(ds, new, hs.whats_new(ds, new))
