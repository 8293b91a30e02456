"""The update history of the living review, computed: each version's data as published, and its "What's new".

**Frozen versions.** ``python -m livingreview freeze --version N`` copies the extraction tables
(:data:`SNAPSHOT_TABLES`) into ``data/snapshots/vN/`` and records each copy's SHA-256 in ``snapshots.csv`` (a rule
rejects an edited copy). Version N's data are then that copy for ever (:func:`version_data`); the latest version's
are the current tables (they are what the book is built from). So a figure corrected after version N was published
shows up in the next version's "What's new" as a correction — old value → new value — and version N's history is
not rewritten. A version without a snapshot falls back to the current tables, and the book says so
(``VersionData.frozen``).

The surveillance tables (strategies, runs, records, screening decisions) are not copied: they are append-only ledgers
in which every run carries its ``data_version``, so a version's search is read from the current ledger
(:mod:`livingreview.review.flow`).

**What's new** (:func:`whats_new`, PRISMA-LSR items L2–L4 and Cochrane's "What's New" event): the searches of the
version (per source: window, date field, records retrieved and new) or, without a recorded run, how its studies were
found; the PRISMA 2020 counts; studies added, removed and corrected (changed fields, old → new, compared between the
two frozen datasets); every estimate that moved (outcome × overall/subgroup level, as :mod:`.changes` compares
them: k, counts, estimate, CI, PI, I² as printed), each with cautions when it rests on k ≤ 2 or when the old and
new confidence intervals overlap; the protocol's triggers (``protocol.csv``), fired or not and why; and the update
class in Cochrane's terms. Conclusions count as *changed* exactly when a trigger fired: the protocol fixes in
advance what would change them, so nothing here is a judgement made after seeing the data.

**Certainty (hook).** The ``certainty_change`` trigger needs the certainty of evidence of each outcome per version.
Pass ``certainty={version: {outcome: rating}}`` (e.g. the overall GRADE rating of each outcome from a certainty
table); without it the trigger is reported as *not assessed*, never as not fired.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import tempfile
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import pandas as pd

from livingreview import format as fmt
from livingreview.config import PRIMARY, Spec
from livingreview.review.changes import EstimateChange, estimate_changes
from livingreview.review.flow import FlowCounts, dataset_flow
from livingreview.review.outcomes import display_labels, results_table
from livingreview.review.versions import previous_version

#: The tables a snapshot copies: the extraction dataset and its protocol. Not the surveillance ledgers (append-only,
#: versioned row by row) nor ``snapshots`` itself.
SNAPSHOT_TABLES = ("studies", "reports", "outcomes", "outcome_definitions", "quality", "published", "search",
                   "versions", "protocol", "certainty")
#: Columns never compared for corrections: curation notes are not part of what a reader is shown.
NOT_COMPARED = ("curator_note", "data_version")
#: Cautions attached to a moved estimate.
CAUTION_FEW = "rests on k ≤ 2"
CAUTION_OVERLAP = "old and new 95% CIs overlap"
CERTAINTY_NOT_ASSESSED = "not assessed: no certainty ratings were supplied for both versions"


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def combined_hash(file_hashes: dict[str, str]) -> str:
    """One SHA-256 for a version's data: of the lines '<table> <sha256 of its file>', tables in name order."""
    text = "".join(f"{t} {h}\n" for t, h in sorted(file_hashes.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def snapshot_rows(ds, version: int) -> pd.DataFrame:
    s = ds.snapshots
    return s[s["data_version"] == version]


def frozen_versions(ds) -> tuple[int, ...]:
    return tuple(sorted({int(v) for v in ds.snapshots["data_version"]}))


def data_hash(ds, version: int) -> str | None:
    """The frozen version's data hash (None when the version has no snapshot)."""
    rows = snapshot_rows(ds, version)
    return combined_hash(dict(zip(rows["table"], rows["sha256"]))) if len(rows) else None


def current_hash(data_dir) -> str:
    """The same hash of the current tables (what a freeze now would record)."""
    from livingreview.dataset.package import resources

    res = resources()
    return combined_hash({t: sha256_file(Path(data_dir) / res[t].path) for t in SNAPSHOT_TABLES
                          if (Path(data_dir) / res[t].path).is_file()})


@lru_cache(maxsize=8)
def _load_snapshot(directory: str, key: str):
    from livingreview.dataset import load_dataset
    from livingreview.dataset.package import resources

    snap = Path(directory)
    with tempfile.TemporaryDirectory(prefix="lr-snapshot-") as tmp:
        for name, res in resources().items():
            source = snap / res.path
            if source.is_file():
                shutil.copyfile(source, Path(tmp) / res.path)
            else:  # a ledger, or a table the snapshot predates: empty, with the current columns
                (Path(tmp) / res.path).write_text(",".join(res.names) + "\n", encoding="utf-8")
        try:
            ds = load_dataset(tmp, validate=False)
        except Exception as err:  # noqa: BLE001 — one message naming the snapshot
            raise ValueError(f"the snapshot {snap} does not meet the current data contract (migrate it as the "
                             f"current tables were migrated): {err}") from None
    return replace(ds, data_dir=str(snap))


def load_snapshot(ds, version: int):
    """The frozen dataset of ``version`` (a full Dataset; the ledgers are empty in it)."""
    rows = snapshot_rows(ds, version)
    if not len(rows):
        raise KeyError(f"data version {version} has no snapshot in snapshots.csv")
    return _load_snapshot(str(Path(ds.data_dir) / "snapshots" / f"v{version}"), data_hash(ds, version))


@dataclass(frozen=True)
class VersionData:
    """A version's data: ``dataset`` (pool it with ``data_version=version``), and where it comes from."""

    version: int
    dataset: object
    frozen: bool  # True: the snapshot; False: the current tables


def version_data(ds, version: int) -> VersionData:
    """The latest version: the current tables. An earlier one: its snapshot, or the current tables if it has none."""
    if version != ds.latest_version and len(snapshot_rows(ds, version)):
        return VersionData(version, load_snapshot(ds, version), True)
    return VersionData(version, ds, version in frozen_versions(ds))


@lru_cache(maxsize=32)
def _results(dataset, version: int, spec: Spec) -> pd.DataFrame:
    return results_table(dataset, spec, data_version=version)


def version_results(vd: VersionData, spec: Spec = PRIMARY) -> pd.DataFrame:
    return _results(vd.dataset, vd.version, spec)


# --- versions and labels -------------------------------------------------------------------------------------------

def versions_frame(ds) -> pd.DataFrame:
    return ds.versions.sort_values("data_version").reset_index(drop=True)


# --- searches ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SourceSearch:
    """A version's successful runs of one source: the window they cover and what they retrieved."""

    source: str
    date_field: str
    window_start: str
    window_end: str
    runs: int
    retrieved: int
    new: int


def searches(ds, version: int) -> tuple[SourceSearch, ...]:
    runs = ds.runs[(ds.runs["data_version"] == version) & (ds.runs["status"] == "ok")]
    out = []
    for source, g in runs.groupby("source", sort=True):
        out.append(SourceSearch(source, ";".join(sorted(set(g["date_field"]))), str(g["window_start"].min()),
                                str(g["window_end"].max()), len(g), int(g["records_retrieved"].sum()),
                                int(g["records_new"].sum())))
    return tuple(out)


# --- study and row changes -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldChange:
    table: str  # studies | reports | outcomes
    where: str  # the row: a report id or an outcome id ('' for the study's own row)
    column: str
    old: str
    new: str


@dataclass(frozen=True)
class Correction:
    study_id: str
    label: str
    changes: tuple[FieldChange, ...]


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def _row_changes(table: str, old: pd.DataFrame, new: pd.DataFrame, key: str, where: str) -> list[FieldChange]:
    """Changed cells between the rows of two frames with the same key column (rows added or removed included)."""
    out = []
    a = {_cell(r[key]): r for r in old.to_dict("records")}
    b = {_cell(r[key]): r for r in new.to_dict("records")}
    cols = [c for c in new.columns if c not in NOT_COMPARED and c in old.columns]
    for k in list(a) + [k for k in b if k not in a]:
        ra, rb = a.get(k), b.get(k)
        label = k if where else ""
        if ra is None:
            out.append(FieldChange(table, label, "(row)", "", "added"))
        elif rb is None:
            out.append(FieldChange(table, label, "(row)", "present", "removed"))
        else:
            out.extend(FieldChange(table, label, c, _cell(ra[c]), _cell(rb[c])) for c in cols
                       if _cell(ra[c]) != _cell(rb[c]))
    return out


def corrections(old_ds, new_ds, study_ids) -> tuple[Correction, ...]:
    """Studies in both datasets whose shown data differ: their row in studies.csv, their reports, their outcome rows."""
    out = []
    labels = dict(zip(new_ds.studies["study_id"], new_ds.studies["label"]))
    for sid in study_ids:
        changes = []
        for table, attr, key in (("studies", "studies", "study_id"), ("reports", "reports", "report_id"),
                                 ("outcomes", "outcomes", "outcome")):
            a, b = getattr(old_ds, attr), getattr(new_ds, attr)
            changes += _row_changes(table, a[a["study_id"] == sid], b[b["study_id"] == sid], key,
                                    "" if table == "studies" else key)
        if changes:
            out.append(Correction(sid, labels.get(sid, sid), tuple(changes)))
    return tuple(out)


# --- estimates that moved ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Move:
    """One analysis whose shown numbers changed, with the cautions that apply to the shift."""

    change: EstimateChange
    label: str  # the outcome's label
    cautions: tuple[str, ...]

    @property
    def outcome(self) -> str:
        return self.change.outcome

    @property
    def overall(self) -> bool:
        return self.change.subgroup == "overall"

    @property
    def shift_pp(self) -> float:
        a, b = self.change.old, self.change.new
        return math.nan if a is None or b is None else 100 * (b["estimate"] - a["estimate"])


def cautions_for(old: dict | None, new: dict | None) -> tuple[str, ...]:
    out = []
    if any(r is not None and int(r["k"]) <= 2 for r in (old, new)):
        out.append(CAUTION_FEW)
    if old is not None and new is not None and old["ci_low"] <= new["ci_high"] and new["ci_low"] <= old["ci_high"]:
        out.append(CAUTION_OVERLAP)
    return tuple(out)


def moves(old: pd.DataFrame, new: pd.DataFrame, labels: dict) -> tuple[Move, ...]:
    return tuple(Move(c, labels.get(c.outcome, c.outcome), cautions_for(c.old, c.new))
                 for c in estimate_changes(old, new))


# --- triggers --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TriggerResult:
    trigger_id: str
    kind: str
    description: str
    fired: bool | None  # None: could not be assessed
    evidence: str  # why: what moved, or why not
    retrospective: bool  # the version was frozen before the trigger was adopted


def pp_text(shift: float) -> str:
    """'+6.2 pp', '−0.4 pp' (a shift in percentage points)."""
    return f"{'+' if shift > 0 else ''}{fmt.signed(shift)} pp"


def _num(x: float) -> str:
    return f"{x:g}"


def ci_side(low: float, high: float, threshold_pct: float) -> str:
    t = threshold_pct / 100
    return "below" if high < t else "above" if low > t else "including"


def _watched(outcome, labels: dict) -> list[str]:
    return list(labels) if outcome is None or (isinstance(outcome, float) and math.isnan(outcome)) or \
        pd.isna(outcome) else [outcome]


def evaluate_triggers(protocol: pd.DataFrame, version_date: str, old: pd.DataFrame, new: pd.DataFrame,
                      added: pd.DataFrame, labels: dict, certainty_old: dict | None = None,
                      certainty_new: dict | None = None) -> tuple[TriggerResult, ...]:
    """Each trigger of ``protocol`` against the overall estimates of two versions (``results_table`` frames), the
    studies added (rows of studies.csv) and, if given, the certainty ratings (outcome → rating) of both."""
    ov = lambda f: {r["outcome"]: r for r in f[f["subgroup"] == "overall"].to_dict("records")}  # noqa: E731
    a, b = ov(old), ov(new)
    out = []
    for t in protocol.to_dict("records"):
        kind, thr = t["kind"], t["threshold"]
        hits, fired = [], False
        if kind == "estimate_shift":
            for o in _watched(t["outcome"], labels):
                if o in a and o in b:
                    shift = 100 * (b[o]["estimate"] - a[o]["estimate"])
                    if abs(shift) > thr:
                        hits.append(f"{labels[o]} {fmt.pct(a[o]['estimate'])} → {fmt.pct(b[o]['estimate'])} "
                                    f"({pp_text(shift)})")
            fired = bool(hits)
            evidence = "; ".join(hits) if hits else f"no overall estimate moved by more than {_num(thr)} pp"
        elif kind == "ci_crosses":
            for o in _watched(t["outcome"], labels):
                if o in a and o in b:
                    s0, s1 = (ci_side(r["ci_low"], r["ci_high"], thr) for r in (a[o], b[o]))
                    if s0 != s1:
                        hits.append(f"{labels[o]}: 95% CI {fmt.interval(a[o]['ci_low'], a[o]['ci_high'])} "
                                    f"({s0} {_num(thr)}%) → {fmt.interval(b[o]['ci_low'], b[o]['ci_high'])} "
                                    f"({s1} {_num(thr)}%)")
            fired = bool(hits)
            evidence = "; ".join(hits) if hits else f"no 95% CI changed side of {_num(thr)}%"
        elif kind == "new_study_size":
            big = added[added["n_treated"].fillna(0) >= thr]
            hits = [f"{r['label']} ({int(r['n_treated'])} patients)" for _, r in big.iterrows()]
            fired = bool(hits)
            evidence = "; ".join(hits) if hits else (f"no new study treated {_num(thr)} or more patients"
                                                     if len(added) else "no new study")
        else:  # certainty_change
            if not certainty_old or not certainty_new:
                fired, evidence = None, CERTAINTY_NOT_ASSESSED
            else:
                for o in _watched(t["outcome"], labels):
                    r0, r1 = certainty_old.get(o), certainty_new.get(o)
                    if r0 and r1 and r0 != r1:
                        hits.append(f"{labels.get(o, o)}: {r0} → {r1}")
                fired = bool(hits)
                evidence = "; ".join(hits) if hits else "no outcome's certainty changed"
        out.append(TriggerResult(t["trigger_id"], kind, t["description"], fired, evidence,
                                 str(version_date) < str(t["adopted"])))
    return tuple(out)


# --- What's new ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WhatsNew:
    version: int
    previous: int | None
    date: str
    search_date: str
    search_basis: str
    description: str
    frozen: bool  # this version's data come from its snapshot (or it is the latest and has one)
    previous_frozen: bool
    searches: tuple[SourceSearch, ...]
    flow: FlowCounts | None  # None when no search run is recorded for the version
    added: pd.DataFrame  # rows of studies.csv (with display labels)
    removed: pd.DataFrame
    corrections: tuple[Correction, ...]
    moves: tuple[Move, ...]
    triggers: tuple[TriggerResult, ...]

    @property
    def search_recorded(self) -> bool:
        return bool(self.searches)

    @property
    def conclusions_changed(self) -> bool:
        return any(t.fired for t in self.triggers)

    @property
    def update_class(self) -> str:
        """The update in Cochrane's "What's New" terms."""
        if self.previous is None:
            return "first version"
        conclusions = "conclusions changed" if self.conclusions_changed else "conclusions unchanged"
        if self.search_recorded:
            if not len(self.added):
                return "new search, no new studies"
            return f"new search, new studies, {conclusions}"
        if len(self.added):
            return f"new studies without a new systematic search, {conclusions}"
        if self.corrections or len(self.removed):
            return f"amended (corrections, no new search), {conclusions}"
        return "amended (no new search, no change to the studies)"


def _overall_ratings(certainty, version):
    return None if certainty is None else certainty.get(version)


def certainty_ratings(ds) -> dict[int, dict[str, str]]:
    """``{data_version: {outcome: overall certainty}}`` from the reviewers' judgements (``certainty.csv``): for each
    version, the latest judgement made for it or an earlier version; unrated outcomes are absent."""
    from livingreview.review.certainty import certainty as judged

    outcomes = list(ds.definitions["outcome"])
    return {int(v): {o: c.label for o in outcomes if (c := judged(ds, o, int(v))) is not None}
            for v in ds.versions["data_version"]}


def whats_new(ds, version: int, spec: Spec = PRIMARY, certainty: dict | None = None) -> WhatsNew:
    """What ``version`` changed against the version before it (see the module docstring).

    ``certainty``: ``{data_version: {outcome: rating}}`` for the ``certainty_change`` trigger; by default the
    reviewers' judgements in the dataset (:func:`certainty_ratings`)."""
    certainty = certainty_ratings(ds) if certainty is None else certainty
    info = versions_frame(ds).set_index("data_version").loc[version]
    prev = previous_version(ds, version)
    new_vd = version_data(ds, version)
    labels = dict(zip(ds.definitions["outcome"], ds.definitions["label"]))
    new_studies = new_vd.dataset.studies[new_vd.dataset.studies["data_version"] <= version]
    with_labels = lambda s: s.assign(display_label=display_labels(s, ds.latest_version)).reset_index(drop=True)  # noqa: E731
    runs = searches(ds, version)
    flow = dataset_flow(ds, version) if runs else None
    if prev is None:
        empty = new_studies.iloc[0:0]
        return WhatsNew(version, None, str(info["date"]), str(info["search_date"]), str(info["search_basis"]),
                        str(info["description"]), new_vd.frozen, False, runs, flow, with_labels(new_studies),
                        with_labels(empty), (), (), ())
    old_vd = version_data(ds, prev)
    old_studies = old_vd.dataset.studies[old_vd.dataset.studies["data_version"] <= prev]
    old_ids, new_ids = set(old_studies["study_id"]), set(new_studies["study_id"])
    added = new_studies[~new_studies["study_id"].isin(old_ids)]
    removed = old_studies[~old_studies["study_id"].isin(new_ids)]
    kept = [s for s in new_studies["study_id"] if s in old_ids]
    corr = corrections(old_vd.dataset, new_vd.dataset, kept)
    old_res, new_res = version_results(old_vd, spec), version_results(new_vd, spec)
    protocol = ds.protocol
    trig = evaluate_triggers(protocol, str(info["date"]), old_res, new_res, added, labels,
                             _overall_ratings(certainty, prev), _overall_ratings(certainty, version))
    return WhatsNew(version, prev, str(info["date"]), str(info["search_date"]), str(info["search_basis"]),
                    str(info["description"]), new_vd.frozen, old_vd.frozen, runs, flow, with_labels(added),
                    with_labels(removed), corr, moves(old_res, new_res, labels), trig)


def history(ds, spec: Spec = PRIMARY, certainty: dict | None = None, upto: int | None = None
            ) -> tuple[WhatsNew, ...]:
    """Every version's What's new, oldest first (up to ``upto``)."""
    return tuple(whats_new(ds, int(v), spec, certainty) for v in versions_frame(ds)["data_version"]
                 if upto is None or int(v) <= upto)


# --- the PRISMA 2020 diagram of a version ----------------------------------------------------------------------------

@dataclass(frozen=True)
class FlowDiagram:
    """What the PRISMA 2020 diagram of ``version`` shows; ``None`` counts are drawn as "not reported".

    Version 1 (no previous version): the paper's counts (``paper``: stage → count or None, from search.csv).
    A later version: the previous studies arm, then the databases-and-registers column from the recorded runs
    (``search``; None when no run is recorded) and the other-methods column (``other_methods``: studies added
    without a recorded search)."""

    version: int
    previous: int | None
    paper: dict | None
    previous_studies: int | None
    previous_reports: int | None
    search: FlowCounts | None
    other_methods: int | None
    new_studies: int
    total_studies: int
    total_reports: int
    patients: int
    synthesis: tuple[tuple[str, int], ...]  # (outcome label, studies pooled), outcomes with at least one study


def _paper_counts(search: pd.DataFrame, version: int) -> dict:
    rows = search[search["data_version"] == version]
    return {r["stage"]: (None if r["status"] != "reported" or pd.isna(r["count"]) else int(r["count"]))
            for _, r in rows.iterrows()}


def flow_diagram(ds, version: int, spec: Spec = PRIMARY) -> FlowDiagram:
    vd = version_data(ds, version)
    d = vd.dataset
    studies = d.studies[d.studies["data_version"] <= version]
    reports = d.reports[d.reports["study_id"].isin(studies["study_id"])]
    res = version_results(vd, spec)
    defs = d.definitions.sort_values("display_order")
    overall = res[res["subgroup"] == "overall"].set_index("outcome")["k"]
    synthesis = tuple((label, int(overall[o])) for o, label in zip(defs["outcome"], defs["label"])
                      if o in overall.index and int(overall[o]) > 0)
    patients = int(studies["n_treated"].fillna(0).sum())
    prev = previous_version(ds, version)
    if prev is None:
        return FlowDiagram(version, None, _paper_counts(d.search, version), None, None, None, None, len(studies),
                           len(studies), len(reports), patients, synthesis)
    w = whats_new(ds, version, spec)
    old = version_data(ds, prev).dataset
    old_studies = old.studies[old.studies["data_version"] <= prev]
    old_reports = old.reports[old.reports["study_id"].isin(old_studies["study_id"])]
    other = None if w.search_recorded else len(w.added)
    return FlowDiagram(version, prev, None, len(old_studies), len(old_reports), w.flow, other, len(w.added),
                       len(studies), len(reports), patients, synthesis)


# --- estimates across versions -------------------------------------------------------------------------------------

def estimates_across_versions(ds, spec: Spec = PRIMARY) -> pd.DataFrame:
    """Each outcome's overall estimate in each version's data (as published): outcome, label, data_version, k,
    estimate, ci_low, ci_high, pi_low, pi_high (proportions 0–1); outcomes never pooled are left out."""
    rows = []
    labels = dict(zip(ds.definitions["outcome"], ds.definitions["label"]))
    for v in versions_frame(ds)["data_version"]:
        res = version_results(version_data(ds, int(v)), spec)
        for r in res[res["subgroup"] == "overall"].to_dict("records"):
            rows.append({"outcome": r["outcome"], "label": labels[r["outcome"]], "data_version": int(v),
                         **{c: r[c] for c in ("k", "estimate", "ci_low", "ci_high", "pi_low", "pi_high")}})
    cols = ["outcome", "label", "data_version", "k", "estimate", "ci_low", "ci_high", "pi_low", "pi_high"]
    return pd.DataFrame(rows, columns=cols)


__all__ = ["SNAPSHOT_TABLES", "CAUTION_FEW", "CAUTION_OVERLAP", "CERTAINTY_NOT_ASSESSED", "Correction",
           "FieldChange", "FlowDiagram", "Move", "SourceSearch", "TriggerResult", "VersionData", "WhatsNew",
           "ci_side", "combined_hash", "corrections", "current_hash", "data_hash", "estimates_across_versions",
           "evaluate_triggers", "flow_diagram", "frozen_versions", "history", "load_snapshot", "moves", "pp_text",
           "previous_version", "searches", "sha256_file", "snapshot_rows", "version_data",
           "version_results", "versions_frame", "whats_new"]
