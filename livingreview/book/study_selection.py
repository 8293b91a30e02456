"""Study selection and characteristics (``notebooks/study_selection.ipynb``): PRISMA diagram and study tables."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from IPython.display import HTML, Markdown

from livingreview.book import common, figures
from livingreview.review.outcomes import display_labels

READS = ("studies", "reports", "search", "versions")


@dataclass(frozen=True)
class SelectionPage:
    ds: object
    data_version: int | None

    def _studies(self) -> pd.DataFrame:
        s = self.ds.studies
        return s if self.data_version is None else s[s["data_version"] <= self.data_version]

    def sentence(self) -> Markdown:
        s = self._studies()
        ident = s["identification"].value_counts()
        n = int(s["n_treated"].fillna(0).sum())
        return Markdown(
            f"The dataset holds {len(s)} studies: {ident.get('identified', 0)} identified, "
            f"{ident.get('probable', 0)} probable and {ident.get('not identified', 0)} not yet identified. "
            f"The identified and probable studies treated {n:,} patients in total.")

    def prisma(self):
        return figures.prisma_figure(self.ds.search, self._studies())

    def characteristics_table(self) -> HTML:
        """One row per study; the publication is its principal report, linked by its public locator."""
        s = self._studies()
        principal = self.ds.reports[self.ds.reports["role"] == "principal"].set_index("study_id")
        text = lambda value, empty="": common.esc(value if isinstance(value, str) else empty)  # noqa: E731
        rows = [[common.esc(label), text(r["design"]),
                 common.report_source(principal.loc[r["study_id"]]) if r["study_id"] in principal.index else "",
                 text(r["regimen"], "unknown"), text(r["backbone"]), text(r["disease_status"], "unknown"),
                 text(r["ph_status"]), text(r["age"]), "" if pd.isna(r["n_treated"]) else str(int(r["n_treated"])),
                 text(r["follow_up"]), str(int(r["data_version"]))]
                for label, (_, r) in zip(display_labels(s, self.data_version or self.ds.latest_version), s.iterrows())]
        return HTML(common.raw_table(["Study", "Design", "Publication", "Regimen", "Backbone", "Disease status", "Ph",
                                      "Age", "N", "Follow-up", "Version"], rows))

    def identification_table(self) -> HTML:
        s = self._studies()
        table = pd.DataFrame({
            "Study": display_labels(s, self.data_version or self.ds.latest_version),
            "Status": s["identification"], "How identified / why not": s["identification_note"].fillna(""),
            "Overlap risk": s["overlap_note"].fillna(""),
        })
        return common.html(table)


def load(data_dir="data", data_version=None) -> SelectionPage:
    return SelectionPage(common.dataset(READS, data_dir, "the study-selection page"), data_version)
