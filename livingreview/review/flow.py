"""PRISMA 2020 flow counts of one data version's update search, computed from the surveillance tables.

The one home of these counts: the book (``review.history``), ``python -m livingreview flow`` and the tests read them
here. The rows are those of ``search_runs.csv``, ``records.csv`` and ``screening.csv`` as text (empty = missing):
:func:`flow_counts` takes them as lists of dicts, :func:`prisma_flow` reads them from a data directory and
:func:`dataset_flow` from a loaded :class:`~livingreview.dataset.Dataset`.

The counts follow the PRISMA 2020 flow diagram for updated systematic reviews (Page et al., BMJ 2021;372:n71,
Figure 1 "new studies via databases and registers" column). A count the tables cannot give is ``None`` — the
diagram shows it as "not reported"; nothing is estimated. The "previous studies" arm (studies and reports of the
previous version) comes from ``studies.csv``, not from here.

Which rows belong to version ``v``: the ``ok`` runs with ``data_version = v`` (``v=None``: runs not yet assigned a
version, i.e. the update in progress) and the records those runs retrieved. Decisions are the *current* ones
(``screening.current_decisions``), whenever they were made. Definitions:

=============================  ======================================================================================
records_identified             records retrieved, per source (``pubmed``, ``europepmc``: databases; ``ctgov``:
                               registers) and summed as ``records_databases`` / ``records_registers``
duplicates_removed             retrieved records flagged ``duplicate_of`` (of an earlier record of any version)
records_removed_other          ``None``: no automation tool or other reason removes records before screening
records_screened               new (non-duplicate) records with a title-abstract decision
records_awaiting_screening     new records without one
records_excluded               records whose title-abstract decision is exclude
reports_sought                 records whose title-abstract decision is include or maybe
reports_not_retrieved          ``None``: full-text retrieval is not recorded
reports_assessed               reports sought with a full-text decision include or exclude
reports_awaiting_assessment    reports sought without one (no decision, or maybe)
reports_excluded               full-text excludes; ``reports_excluded_reasons``: reason -> count
new_studies_included           distinct ``study_id`` of full-text-included records that are not previous studies:
                               neither in ``studies.csv`` with an earlier ``data_version`` (for the update in
                               progress: a version already frozen in ``snapshots.csv``) nor linked to a
                               full-text-included record of an earlier version; ``None`` while an included record has
                               no ``study_id`` (``included_reports_unlinked`` says how many)
reports_of_new_studies         full-text-included records linked to those new studies (``None`` likewise)
reports_of_previous_studies    full-text-included records linked to studies included in an earlier version
=============================  ======================================================================================
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

DATABASES = ("pubmed", "europepmc")
REGISTERS = ("ctgov",)


@dataclass(frozen=True)
class FlowCounts:
    data_version: int | None
    sources_searched: dict = field(default_factory=dict)   # source -> [first window_start, last window_end]
    records_identified: dict = field(default_factory=dict)  # source -> count
    records_databases: int = 0
    records_registers: int = 0
    duplicates_removed: int = 0
    records_removed_other: int | None = None
    records_screened: int = 0
    records_awaiting_screening: int = 0
    records_excluded: int = 0
    reports_sought: int = 0
    reports_not_retrieved: int | None = None
    reports_assessed: int = 0
    reports_awaiting_assessment: int = 0
    reports_excluded: int = 0
    reports_excluded_reasons: dict = field(default_factory=dict)
    new_studies_included: int | None = None
    reports_of_new_studies: int | None = None
    reports_of_previous_studies: int | None = None
    included_reports_unlinked: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def _text(value) -> str:
    """A cell as text: '' for missing (None, NaN, pandas NA), whole numbers without '.0'."""
    if value is None or value != value or str(value) in ("<NA>", "nan"):
        return ""
    return str(value)


def _rows(frame) -> list[dict]:
    return [{k: _text(v) for k, v in r.items()} for r in frame.to_dict("records")]


def current_decisions(decisions: list[dict]) -> dict[tuple[str, str], dict]:
    """(record_id, stage) -> the current decision: the one no other decision supersedes (the latest if several).
    The import keeps the same rule (``surveillance.screening.current_decisions``, which this layer cannot import;
    ``tests/test_living.py`` checks that both agree)."""
    superseded = {d["supersedes"] for d in decisions if d.get("supersedes")}
    out = {}
    for d in decisions:
        if d["decision_id"] not in superseded:
            out[(d["record_id"], d["stage"])] = d
    return out


def _version_of(run: dict):
    return int(run["data_version"]) if run.get("data_version") else None


def _read(data_dir: Path, name: str) -> list[dict]:
    path = Path(data_dir) / f"{name}.csv"
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", newline="") as fh:
        return [{k: (v or "").strip() for k, v in r.items() if k is not None} for r in csv.DictReader(fh)]


def prisma_flow(data_dir: Path | str | None = None, data_version: int | None = None) -> FlowCounts:
    """The counts of ``data_version``'s update (None: the runs not yet assigned a version), from the CSV files."""
    from livingreview.config import DATA_DIR

    data_dir = Path(data_dir) if data_dir is not None else DATA_DIR
    return flow_counts(_read(data_dir, "search_runs"), _read(data_dir, "records"), _read(data_dir, "screening"),
                       data_version, previous_studies(_read(data_dir, "studies"), _read(data_dir, "snapshots"),
                                                      data_version))


def dataset_flow(ds, data_version: int | None) -> FlowCounts:
    """The same counts from a loaded dataset (its ``runs``, ``records`` and ``screening`` frames)."""
    return flow_counts(_rows(ds.runs), _rows(ds.records), _rows(ds.screening), data_version,
                       previous_studies(_rows(ds.studies), _rows(ds.snapshots), data_version))


def previous_studies(studies: list[dict], snapshots: list[dict], data_version: int | None) -> frozenset:
    """The studies included before ``data_version`` (None: before the update in progress, i.e. in a frozen
    version); a studies table without ``data_version`` gives none."""
    frozen = {int(r["data_version"]) for r in snapshots if r.get("data_version")}
    earlier = (lambda v: v < data_version) if data_version is not None else (lambda v: v in frozen)
    return frozenset(r["study_id"] for r in studies if r.get("data_version") and earlier(int(r["data_version"])))


def flow_counts(runs: list[dict], records: list[dict], decisions: list[dict], data_version: int | None = None,
                previous: frozenset = frozenset()) -> FlowCounts:
    runs = [r for r in runs if r.get("status") == "ok"]
    cur = current_decisions(decisions)
    mine = [r for r in runs if _version_of(r) == data_version]
    if data_version is None:
        earlier = [r for r in runs if _version_of(r) is not None]
    else:
        earlier = [r for r in runs if _version_of(r) is not None and _version_of(r) < data_version]
    my_runs, earlier_runs = {r["run_id"] for r in mine}, {r["run_id"] for r in earlier}

    searched = {}
    for r in mine:
        lo, hi = searched.get(r["source"], [r["window_start"], r["window_end"]])
        searched[r["source"]] = [min(lo, r["window_start"]), max(hi, r["window_end"])]
    recs = [r for r in records if r["run_id"] in my_runs]
    identified = Counter(r["source"] for r in recs)
    primaries = [r for r in recs if not r.get("duplicate_of")]

    def dec(r, stage):
        d = cur.get((r["record_id"], stage))
        return d["decision"] if d else None

    screened = [r for r in primaries if dec(r, "title-abstract")]
    sought = [r for r in screened if dec(r, "title-abstract") in ("include", "maybe")]
    assessed = [r for r in sought if dec(r, "full-text") in ("include", "exclude")]
    excluded_ft = [r for r in assessed if dec(r, "full-text") == "exclude"]
    included = [r for r in assessed if dec(r, "full-text") == "include"]
    reasons = Counter(cur[(r["record_id"], "full-text")].get("reason", "") for r in excluded_ft)

    earlier_studies = set(previous) | {r["study_id"] for r in records
                       if r["run_id"] in earlier_runs and r.get("study_id") and not r.get("duplicate_of")
                       and dec(r, "full-text") == "include"}
    unlinked = [r for r in included if not r.get("study_id")]
    if unlinked:
        new_studies = new_reports = old_reports = None
    else:
        new = {r["study_id"] for r in included} - earlier_studies
        new_studies = len(new)
        new_reports = sum(1 for r in included if r["study_id"] in new)
        old_reports = len(included) - new_reports

    return FlowCounts(
        data_version=data_version,
        sources_searched=dict(sorted(searched.items())),
        records_identified={s: identified[s] for s in (*DATABASES, *REGISTERS) if s in searched or identified[s]},
        records_databases=sum(identified[s] for s in DATABASES),
        records_registers=sum(identified[s] for s in REGISTERS),
        duplicates_removed=len(recs) - len(primaries),
        records_screened=len(screened),
        records_awaiting_screening=len(primaries) - len(screened),
        records_excluded=sum(1 for r in screened if dec(r, "title-abstract") == "exclude"),
        reports_sought=len(sought),
        reports_assessed=len(assessed),
        reports_awaiting_assessment=len(sought) - len(assessed),
        reports_excluded=len(excluded_ft),
        reports_excluded_reasons=dict(sorted(reasons.items())),
        new_studies_included=new_studies,
        reports_of_new_studies=new_reports,
        reports_of_previous_studies=old_reports,
        included_reports_unlinked=len(unlinked),
    )
