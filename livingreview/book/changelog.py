"""The changelog (``notebooks/changelog.ipynb``): every data version, what it added and which estimates moved."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from IPython.display import HTML, Markdown

from livingreview import format as fmt
from livingreview.book import common
from livingreview.config import PRIMARY
from livingreview.review import versions as vs

READS = ("studies", "outcome_definitions", "versions", "outcomes")


@dataclass(frozen=True)
class ChangelogPage:
    ds: object
    entries: tuple

    def sentence(self) -> Markdown:
        last = self.entries[-1]
        return Markdown(f"{len(self.entries)} data {'version' if len(self.entries) == 1 else 'versions'} so far; "
                        f"the latest shown here is version {last.version}, literature searched to "
                        f"{fmt.long_date(last.info.search_date)}. Generated from `data/versions.csv` and the "
                        f"`data_version` column of `data/studies.csv` when the book is built.")

    def versions_table(self) -> HTML:
        rows = []
        for e in self.entries:
            rows.append({
                "Version": e.version, "Dataset frozen": fmt.long_date(e.info.date),
                "Literature searched to": fmt.long_date(e.info.search_date),
                "Studies added": len(e.added),
                "Outcomes moved": "— (first version)" if e.previous is None else len(e.moves),
            })
        return common.html(pd.DataFrame(rows))

    def entries_markdown(self) -> Markdown:
        """One section per version, newest first."""
        parts = []
        for e in reversed(self.entries):
            added = ", ".join(fmt.md(label) for label in e.added)
            parts.append(f"**Version {e.version}** — dataset of {fmt.long_date(e.info.date)}, literature searched to "
                         f"{fmt.long_date(e.info.search_date)}. {fmt.md(e.info.description)}.\n")
            if e.previous is None:
                parts.append(f"- Studies: {len(e.added)} ({added}).\n")
            else:
                parts.append(f"- Studies added: {added or 'none'}.")
                if e.moves:
                    for m in e.moves:
                        shift = ("new estimate" if m.old.k == 0 else
                                 f"{fmt.pct(m.old.estimate)} → {fmt.pct(m.new.estimate)} "
                                 f"({'+' if m.shift_pp >= 0 else '−'}{abs(m.shift_pp):.1f} pp)")
                        parts.append(f"- {fmt.md(m.label)}: k {m.old.k} → {m.new.k}, {shift}; from "
                                     f"{', '.join(fmt.md(label) for label in m.new_labels) or 'corrections'}.")
                else:
                    parts.append("- No pooled estimate moved.")
                parts.append("")
        return Markdown("\n".join(parts))


def load(data_dir="data", data_version=None) -> ChangelogPage:
    ds = common.dataset(READS, data_dir, "the changelog")
    return ChangelogPage(ds, vs.changelog(ds, PRIMARY, upto=data_version))
