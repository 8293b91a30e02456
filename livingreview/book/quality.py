"""Quality assessment (``notebooks/quality.ipynb``): the paper's Table 1, modified Jadad and MINORS."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from IPython.display import HTML, Markdown

from livingreview import format as fmt
from livingreview.book import common, figures
from livingreview.review.outcomes import display_labels

READS = ("quality", "studies", "versions")


@dataclass(frozen=True)
class QualityPage:
    ds: object

    def _scores(self, scale: str, by: str = "item_label") -> pd.DataFrame:
        """Study × item scores of one scale (rows labelled as everywhere in the book; studies added by an update are
        marked [new]); empty when no study was scored with the scale."""
        q = self.ds.quality
        q = q[q["scale"] == scale]
        if q.empty:
            return pd.DataFrame()
        wide = q.pivot_table(index="study_id", columns=by, values="score", aggfunc="first", sort=False)
        wide = wide.rename(columns={c: "Total (printed)" for c in wide.columns if str(c).lower().startswith("total")})
        studies = self.ds.studies.set_index("study_id").loc[list(wide.index)].reset_index()
        wide.index = display_labels(studies, self.ds.latest_version)
        return wide

    def sentence(self) -> Markdown:
        t = self.ds.quality_totals()
        if t.empty:
            return Markdown("No study has quality scores in the dataset.")
        jadad, minors = t[t["scale"] == "modified Jadad"], t[t["scale"] == "MINORS"]
        parts = []
        if len(jadad):
            parts.append(f"{'One randomised trial was' if len(jadad) == 1 else f'{len(jadad)} randomised trials were'} "
                         f"scored with the modified Jadad scale")
        if len(minors):
            parts.append(f"{fmt.plural(len(minors), 'single-arm study', 'single-arm studies')} "
                         f"{('was' if len(minors) == 1 else 'were') + ' scored ' if not len(jadad) else ''}with MINORS (totals {int(minors['total'].min())}–"
                         f"{int(minors['total'].max())} of {int(minors['max_total'].iloc[0])})")
        return Markdown(" and ".join(parts) + ". Every recomputed total matches the printed total.")

    def jadad_table(self) -> HTML:
        scores = self._scores("modified Jadad")
        if scores.empty:
            return HTML("<p>No study was scored with the modified Jadad scale.</p>")
        return common.html(scores.reset_index(names="Study"))

    def minors_table(self) -> HTML:
        """Items as numerals I–VIII (the paper's Table 1B), with their meaning in the caption."""
        scores = self._scores("MINORS", by="item")
        if scores.empty:
            return HTML("<p>No study was scored with MINORS.</p>")
        q = self.ds.quality
        legend = q[(q["scale"] == "MINORS") & (q["item"] != "total")].drop_duplicates("item")
        caption = "; ".join(f"{i}: {lab}" for i, lab in zip(legend["item"], legend["item_label"]))
        return common.html(scores.reset_index(names="Study"), caption=caption)

    def traffic_light(self):
        scores = self._scores("MINORS", by="item")
        if scores.empty:
            return figures.message_figure("No study was scored with MINORS.")
        items = [c for c in scores.columns if c != "Total (printed)"]
        return figures.traffic_light_figure(scores[items])


def load(data_dir="data") -> QualityPage:
    return QualityPage(common.dataset(READS, data_dir, "the quality page"))
