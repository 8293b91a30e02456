"""The living protocol (``notebooks/protocol.ipynb``, PRISMA-LSR item L1): the search schedule of each source, as
stored in ``search_strategies.csv`` with its last recorded run, and the update triggers of ``protocol.csv``."""

from __future__ import annotations

from dataclasses import dataclass

from IPython.display import HTML, Markdown

from livingreview import format as fmt
from livingreview.book import common, figures
from livingreview.book.common import esc as _esc, raw_table

READS = ("search_strategies", "search_runs", "protocol", "outcome_definitions")
KIND_WORDS = {"estimate_shift": "estimate moves", "ci_crosses": "95% CI changes side", "new_study_size":
              "large new study", "certainty_change": "certainty changes"}
UNITS = {"estimate_shift": "percentage points", "ci_crosses": "%", "new_study_size": "patients"}


@dataclass(frozen=True)
class ProtocolPage:
    ds: object

    def sentence(self) -> Markdown:
        s, t = self.ds.strategies, self.ds.protocol
        runs = self.ds.runs[self.ds.runs["status"] == "ok"]
        last = (f"the last recorded search ran on {fmt.long_date(str(runs['run_at'].max())[:10])}" if len(runs)
                else "no search run has been recorded yet")
        return Markdown(f"{fmt.plural(int(s['active'].sum()), 'active search strategy', 'active search strategies')} "
                        f"and {fmt.plural(len(t), 'update trigger')}; {last}.")

    def schedule_table(self) -> HTML:
        runs = self.ds.runs[self.ds.runs["status"] == "ok"]
        rows = []
        for _, s in self.ds.strategies.iterrows():
            mine = runs[runs["strategy_id"] == s["strategy_id"]]
            last = f"{mine['window_end'].max()} ({len(mine)} run{'s' if len(mine) != 1 else ''})" if len(mine) \
                else "never run"
            rows.append([_esc(figures.SOURCE_NAMES.get(s["source"], s["source"])), _esc(s["strategy_id"]),
                         f"<code>{_esc(s['query'])}</code>", _esc(s["date_field"]), _esc(s["schedule"]),
                         _esc(s["first_window_start"]), _esc(last), "yes" if s["active"] else "no (replaced)"])
        return HTML(raw_table(["Source", "Strategy", "Query (sent verbatim)", "Date field", "Schedule",
                               "First window from", "Searched to", "Active"], rows))

    def triggers_table(self) -> HTML:
        labels = dict(zip(self.ds.definitions["outcome"], self.ds.definitions["label"]))
        rows = []
        for _, t in self.ds.protocol.iterrows():
            outcome = labels.get(t["outcome"], t["outcome"]) if isinstance(t["outcome"], str) else "every outcome"
            thr = "—" if t["threshold"] != t["threshold"] else f"{t['threshold']:g} {UNITS[t['kind']]}"
            rows.append([_esc(t["trigger_id"]), _esc(KIND_WORDS[t["kind"]]), _esc(outcome), _esc(thr),
                         _esc(fmt.long_date(t["adopted"])), _esc(t["description"])])
        return HTML(raw_table(["Trigger", "Kind", "Outcome", "Threshold", "Adopted", "Description"], rows))


def load(data_dir="data", data_version=None) -> ProtocolPage:
    return ProtocolPage(common.dataset(READS, data_dir, "the living protocol"))
