"""The changelog (``notebooks/changelog.ipynb``): every data version's "What's new" in brief, newest first."""

from __future__ import annotations

from dataclasses import dataclass

from IPython.display import HTML, Markdown

from livingreview import format as fmt
from livingreview.book import common
from livingreview.book.common import esc as _esc, raw_table
from livingreview.book.what_changed import search_sentence
from livingreview.config import PRIMARY
from livingreview.review import history as hs

READS = ("studies", "reports", "outcome_definitions", "versions", "outcomes", "search", "search_runs", "records",
         "screening", "snapshots", "protocol", "certainty")


@dataclass(frozen=True)
class ChangelogPage:
    ds: object
    entries: tuple  # hs.WhatsNew, oldest first

    def sentence(self) -> Markdown:
        last = self.entries[-1]
        return Markdown(f"{fmt.plural(len(self.entries), 'data version')} so far; the latest shown here is version "
                        f"{last.version}, whose last systematic literature search is of "
                        f"{fmt.long_date(last.search_date)}. Generated from the versions as published "
                        f"(`data/versions.csv`, `data/snapshots/`) and the search records when the book is built.")

    def versions_table(self) -> HTML:
        rows = []
        for e in self.entries:
            fired = [t.trigger_id for t in e.triggers if t.fired]
            rows.append([str(e.version), _esc(fmt.long_date(e.date)),
                         _esc(", ".join(f"{s.source} to {s.window_end}" for s in e.searches)
                              or f"none recorded; last systematic search {e.search_date}"),
                         _esc(e.update_class), str(len(e.added)), str(len(e.removed)), str(len(e.corrections)),
                         "—" if e.previous is None else str(sum(m.overall for m in e.moves)),
                         "—" if e.previous is None else (_esc(", ".join(fired)) or "none")])
        return HTML(raw_table(["Version", "Frozen", "Searches", "Update class", "Studies added", "Removed",
                               "Corrected", "Overall estimates moved", "Triggers fired"], rows))

    def entries_markdown(self) -> Markdown:
        """One section per version, newest first."""
        parts = []
        for e in reversed(self.entries):
            parts.append(f"**Version {e.version}** — dataset of {fmt.long_date(e.date)}; "
                         f"*{fmt.md(e.update_class)}*. {fmt.md(e.description)}. {search_sentence(e)}\n")
            names = ", ".join(fmt.md(x) for x in e.added["display_label"])
            if e.previous is None:
                parts.append(f"- Studies: {len(e.added)} ({names}).\n")
                continue
            parts.append(f"- Studies added: {names or 'none'}.")
            if len(e.removed):
                parts.append(f"- Studies removed: {', '.join(fmt.md(x) for x in e.removed['display_label'])}.")
            for c in e.corrections:
                fields = "; ".join(f"{fmt.md(f.where + ' ' if f.where else '')}{fmt.md(f.column)} "
                                   f"{fmt.md(f.old or 'empty')} → {fmt.md(f.new or 'empty')}" for f in c.changes)
                parts.append(f"- Corrected: {fmt.md(c.label)} ({fields}).")
            overall = [m for m in e.moves if m.overall]
            for m in overall:
                a, b = m.change.old, m.change.new
                shift = ("new estimate" if a is None else "no estimate any more" if b is None else
                         f"{fmt.pct(a['estimate'])} → {fmt.pct(b['estimate'])} ({hs.pp_text(m.shift_pp)})")
                ks = f"k {0 if a is None else int(a['k'])} → {0 if b is None else int(b['k'])}"
                caution = f"; caution: {'; '.join(m.cautions)}" if m.cautions else ""
                parts.append(f"- {fmt.md(m.label)}: {ks}, {shift}{fmt.md(caution)}.")
            if not overall:
                parts.append("- No overall estimate moved.")
            fired = [t for t in e.triggers if t.fired]
            parts.append("- Triggers fired: " + ("; ".join(f"{fmt.md(t.trigger_id)} ({fmt.md(t.evidence)})"
                                                           for t in fired) if fired else "none") + ".")
            parts.append("")
        return Markdown("\n".join(parts))


def load(data_dir="data", data_version=None) -> ChangelogPage:
    ds = common.dataset(READS, data_dir, "the changelog")
    return ChangelogPage(ds, hs.history(ds, PRIMARY, upto=data_version))
