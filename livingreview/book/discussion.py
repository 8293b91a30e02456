"""The discussion (``notebooks/discussion.ipynb``): prose written by this project, every number glued."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from livingreview import format as fmt
from livingreview.book import common
from livingreview.review.outcomes import results_table

READS = ("studies", "outcome_definitions", "versions", "outcomes", "published")


@dataclass(frozen=True)
class DiscussionPage:
    ds: object
    rows: pd.DataFrame

    def snippets(self) -> dict:
        """One Markdown snippet per outcome ('89.0% (95% CI 85.8%–92.2%; 15 studies)') and the coverage sentence."""
        overall = self.rows[self.rows["subgroup"] == "overall"].set_index("outcome")
        out = {}
        for outcome in self.ds.definitions["outcome"]:
            if outcome in overall.index:
                r = overall.loc[outcome]
                out[outcome] = (f"{fmt.pct(r['estimate'])} (95% CI {fmt.interval(r['ci_low'], r['ci_high'])}; "
                                f"{fmt.plural(int(r['k']), 'study', 'studies')})")
            else:
                out[outcome] = "not estimable (no study in the dataset)"
        out["coverage_sentence"] = self.coverage_sentence()
        return out

    def glue_numbers(self) -> None:
        common.glue_markdown(self.snippets())

    def coverage_sentence(self) -> str:
        """How much of the paper's evidence (version 1) the dataset can trace to a source."""
        from livingreview.review.paper import coverage

        c = coverage(self.ds)
        return (f"The paper pooled {c.paper_pairs} study–outcome results for its ten main outcomes; this dataset can "
                f"trace {c.traced_pairs} of them to a source. {c.identification['not identified']} of its "
                f"{c.paper_studies} included studies could not be identified "
                f"from the paper's text, so their results are missing, and where the paper's k is larger than ours "
                f"the estimates are not directly comparable.")


def load(data_dir="data", data_version=None, measure=None, method=None, test=None, pi_dist=None,
         reads=READS, reader: str = "the discussion") -> DiscussionPage:
    ds = common.dataset(reads, data_dir, reader)
    return DiscussionPage(ds, results_table(ds, common.spec_from(measure, method, test, pi_dist),
                                            data_version=data_version))
