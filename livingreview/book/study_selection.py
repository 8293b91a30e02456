"""Study selection and characteristics (``notebooks/study_selection.ipynb``): PRISMA diagram and study tables."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from IPython.display import HTML, Markdown

from livingreview.book import common, figures
from livingreview.review.outcomes import display_labels

READS = ("studies", "search", "versions")


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
        s = self._studies()
        table = pd.DataFrame({
            "Study": display_labels(s),
            "Design": s["design"], "Publication": s["publication_type"].fillna(""),
            "Regimen": s["regimen"].fillna("unknown"), "Backbone": s["backbone"].fillna(""),
            "Disease status": s["disease_status"].fillna("unknown"), "Ph": s["ph_status"].fillna(""),
            "Age": s["age"].fillna(""), "N": s["n_treated"].astype("Int64").astype(str).replace("<NA>", ""),
            "Follow-up": s["follow_up"].fillna(""), "Version": s["data_version"].astype(int),
        })
        return common.html(table)

    def identification_table(self) -> HTML:
        s = self._studies()
        table = pd.DataFrame({
            "Study": display_labels(s),
            "Status": s["identification"], "How identified / why not": s["identification_note"].fillna(""),
            "Overlap risk": s["overlap_note"].fillna(""),
        })
        return common.html(table)


def load(data_dir="data", data_version=None) -> SelectionPage:
    return SelectionPage(common.dataset(READS, data_dir, "the study-selection page"), data_version)
