"""Adverse events (``notebooks/adverse_events.ipynb``): the paper's Table 2, every event at any grade and grade ≥3.

The events are the outcomes of kind ``adverse_event`` in ``outcome_definitions.csv`` (``ae_<event>_any`` and
``ae_<event>_g3``), in their display order.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from IPython.display import HTML, Markdown

from livingreview import format as fmt
from livingreview.book import common
from livingreview.review import paper as printed
from livingreview.review.outcomes import results_table

READS = ("studies", "outcome_definitions", "versions", "outcomes[outcome=ae_*]", "published[outcome=ae_*]")
GRADES = (("any", "Any grade"), ("g3", "Grade ≥3"))


def adverse_events(definitions: pd.DataFrame) -> list[str]:
    """The events (``thrombocytopenia``, …) in display order, from the adverse-event outcome ids."""
    ae = definitions[definitions["kind"] == "adverse_event"].sort_values("display_order")["outcome"]
    return list(dict.fromkeys(o.removeprefix("ae_").rsplit("_", 1)[0] for o in ae))


def paper_cell(row) -> str:
    """The paper's printed estimate, CI and k of one event and grade ('not printed' when Table 2 has none)."""
    if row is None:
        return "not printed"
    k = "k not printed" if pd.isna(row["k"]) else f"k = {int(row['k'])}"
    return f"{printed.paper_text(row)}; {k}"


@dataclass(frozen=True)
class AdverseEventsPage:
    rows: pd.DataFrame  # results rows of every adverse-event outcome (overall only)
    paper: pd.DataFrame  # the paper's printed Table 2 (review.paper.paper_results)
    labels: dict
    events: tuple[str, ...]

    def sentence(self) -> Markdown:
        pooled = self.rows[self.rows["k"] >= 1]
        return Markdown(f"{len(pooled)} of {len(GRADES) * len(self.events)} adverse-event outcomes "
                        f"({len(self.events)} events × any grade / grade ≥3) have at least one study with counts in "
                        f"the dataset.")

    def table(self) -> HTML:
        out = []
        by = self.rows.set_index("outcome")
        for event in self.events:
            line = {"Adverse event": self.labels[f"ae_{event}_any"].split(",")[0]}
            for grade, name in GRADES:
                key = f"ae_{event}_{grade}"
                if key in by.index:
                    r = by.loc[key]
                    line[f"{name}: k"] = int(r["k"])
                    ci = fmt.interval(r["ci_low"], r["ci_high"])
                    line[f"{name}: % (95% CI)"] = f"{fmt.pct(r['estimate'])} ({ci})"
                    line[f"{name}: I²"] = fmt.i2_cell(r["i2"], r["k"]).replace("NA", "—")
                else:
                    line[f"{name}: k"] = 0
                    line[f"{name}: % (95% CI)"] = "no data"
                    line[f"{name}: I²"] = ""
                line[f"{name}: {printed.PAPER}, as printed"] = paper_cell(printed.paper_row(self.paper, key))
            out.append(line)
        return common.html(pd.DataFrame(out))


def load(data_dir="data", data_version=None, measure=None, method=None, test=None,
         pi_dist=None) -> AdverseEventsPage:
    ds = common.dataset(READS, data_dir, "the adverse-events page")
    events = adverse_events(ds.definitions)
    ids = [f"ae_{e}_{g}" for e in events for g, _ in GRADES]
    rows = results_table(ds, common.spec_from(measure, method, test, pi_dist), outcomes=ids,
                         data_version=data_version)
    rows = rows[rows["subgroup"] == "overall"]
    labels = dict(zip(ds.definitions["outcome"], ds.definitions["label"]))
    return AdverseEventsPage(rows, printed.paper_results(ds, outcomes=ids), labels, tuple(events))
