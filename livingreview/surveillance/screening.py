"""Screening decisions: import them (ASReview LAB export or a plain CSV), never overwriting; export the queue.

**Append-only.** ``screening.csv`` only grows. The *current* decision of a record at a stage is the last one in
its chain (a decision no other decision supersedes). An imported decision that equals the current one (same
decision, and the same reason or none given) is skipped as unchanged, so re-importing a file changes nothing; a
different one is appended with ``supersedes`` = the current decision's ``decision_id``. Decisions are about
primary records: a row that matches a duplicate is applied to the record it duplicates.

**Matching** an imported row to a record, first hit wins: (1) ``record_id`` equal to one of ours; (2) identifiers —
``pmid``, then ``doi`` (normalised), then ``nct_id``; (3) normalised title (``ids.normalise_title``; with ``year``
±1 when the row has one), accepted only if exactly one primary record has it. Rows that match nothing, or several
records, are reported as ``<file>, line <n>: ...`` and not imported; so are invalid rows (unknown decision, a
full-text exclude without reason, no reviewer). Everything valid is imported; the report lists the rest.

**ASReview LAB** exports (CSV, any version): the label column is the first present of ASReview's own list
``asreview_label`` (LAB 2.x), ``included`` (1.x), ``label``, ``final_included``, ``label_included``,
``included_label``, ``included_final``, ``included_flag``, ``include``: ``1`` -> include, ``0`` -> exclude,
empty or ``-1`` -> not screened (skipped, counted). ``asreview_note`` -> reason, ``asreview_time`` (``YYYY-MM-DD
hh:mm:ss``) -> date, ``asreview_user_name`` -> reviewer (else the ``reviewer`` argument). The export keeps the
columns of the file that was imported into ASReview, so a queue written by ``export_queue`` (with our
``record_id``) comes back matched by record id; ASReview's own integer ids are not ours and never match.

**Plain CSV**: columns ``record_id`` or ``pmid``/``doi``/``nct_id``/``title`` (+ ``year``), ``decision``
(include | exclude | maybe), optional ``stage`` (else the ``stage`` argument), ``reason``, ``reviewer`` (else the
argument), ``date`` (``YYYY-MM-DD``, else today).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

from livingreview.surveillance import tables
from livingreview.surveillance.errors import DataError, SurveillanceError
from livingreview.surveillance.ids import normalise_doi, normalise_nct, normalise_pmid, normalise_title
from livingreview.surveillance.store import Staging, read_envelope
from livingreview.surveillance.validate import validate_tables

STAGES = ("title-abstract", "full-text")
DECISIONS = ("include", "exclude", "maybe")
#: ASReview's label column names, in ASReview's own order of preference (asreview/data/base.py).
ASREVIEW_LABEL_COLUMNS = ("asreview_label", "included", "label", "final_included", "label_included",
                          "included_label", "included_final", "included_flag", "include")


@dataclass(frozen=True)
class ImportReport:
    file: str
    appended: int = 0
    superseded: int = 0
    unchanged: int = 0
    not_screened: int = 0
    unmatched: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    decision_ids: tuple[int, ...] = field(default=())

    def lines(self) -> list[str]:
        head = (f"import-screening: {self.file}: {self.appended} decision(s) appended ({self.superseded} superseding "
                f"an earlier one), {self.unchanged} unchanged, {self.not_screened} not screened, "
                f"{len(self.unmatched)} unmatched, {len(self.problems)} invalid")
        return [head] + [f"  unmatched: {u}" for u in self.unmatched] + [f"  invalid: {p}" for p in self.problems]


def current_decisions(decisions: list[dict]) -> dict[tuple[str, str], dict]:
    """(record_id, stage) -> the current decision (the end of its supersedes chain; the latest if several)."""
    superseded = {d["supersedes"] for d in decisions if d.get("supersedes")}
    out = {}
    for d in decisions:
        if d["decision_id"] not in superseded:
            out[(d["record_id"], d["stage"])] = d
    return out


class RecordIndex:
    """Finds the primary record an imported row means."""

    def __init__(self, records: list[dict]):
        self.by_id = {r["record_id"]: r for r in records}
        self.keys: dict[tuple[str, str], set[str]] = {}
        self.titles: dict[str, list[tuple[int | None, str]]] = {}
        for r in records:
            primary = r.get("duplicate_of") or r["record_id"]
            for name, norm in (("pmid", normalise_pmid), ("doi", normalise_doi), ("nct_id", normalise_nct)):
                v = norm(r.get(name))
                if v:
                    self.keys.setdefault((name, v), set()).add(primary)
            t = normalise_title(r.get("title"))
            if t:
                y = int(r["year"]) if r.get("year") else None
                self.titles.setdefault(t, []).append((y, primary))

    def primary(self, record_id: str) -> str:
        r = self.by_id[record_id]
        return r.get("duplicate_of") or record_id

    def match(self, row: dict) -> tuple[str | None, str]:
        """(primary record_id or None, how or why not)."""
        rid = (row.get("record_id") or "").strip()
        if rid in self.by_id:
            return self.primary(rid), "record_id"
        for name, norm in (("pmid", normalise_pmid), ("doi", normalise_doi), ("nct_id", normalise_nct)):
            v = norm(row.get(name))
            if v and (name, v) in self.keys:
                hits = self.keys[(name, v)]
                if len(hits) == 1:
                    return next(iter(hits)), name
                return None, f"{name} {v} matches {len(hits)} records ({', '.join(sorted(hits))})"
        t = normalise_title(row.get("title"))
        if t and t in self.titles:
            year = row.get("year") or row.get("publication_year") or ""
            try:
                y = int(str(year).split(".")[0]) if str(year).strip() else None
            except ValueError:
                y = None
            hits = {p for (ry, p) in self.titles[t] if y is None or ry is None or abs(ry - y) <= 1}
            if len(hits) == 1:
                return next(iter(hits)), "title"
            if hits:
                return None, f"title matches {len(hits)} records ({', '.join(sorted(hits))})"
        tried = [f"{k} {row[k]!r}" for k in ("record_id", "pmid", "doi", "nct_id") if row.get(k)]
        if row.get("title"):
            tried.append(f"title {row['title'][:60]!r}")
        return None, f"no record matches ({', '.join(tried)})" if tried else "no record_id, identifier or title"


def _read_csv(path: Path) -> list[tuple[int, dict]]:
    """(line number of the row's first line, row with lower-cased stripped keys)."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        reader.fieldnames  # reads the header, so line_num counts it
        out, prev = [], reader.line_num
        for row in reader:
            out.append((prev + 1, {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()
                                   if k is not None}))
            prev = reader.line_num
    return out


def _asreview_label(value: str):
    v = value.strip().lower()
    if v in ("", "-1", "-1.0", "nan", "none"):
        return None
    if v in ("1", "1.0", "true"):
        return "include"
    if v in ("0", "0.0", "false"):
        return "exclude"
    raise ValueError(value)


def import_screening(data_dir: Path | str | None, path: Path | str, format: str = "asreview",
                     reviewer: str | None = None, stage: str = "title-abstract", *,
                     clock: Callable[[], datetime] | None = None, log: Callable[[str], object] | None = None
                     ) -> ImportReport:
    """Append the decisions of ``path`` (``format`` ``"asreview"`` or ``"csv"``) to ``screening.csv``."""
    from livingreview.config import DATA_DIR

    data_dir = Path(data_dir) if data_dir is not None else DATA_DIR
    path = Path(path)
    if format not in ("asreview", "csv"):
        raise SurveillanceError(f"import-screening: format={format!r}; use 'asreview' or 'csv'")
    if stage not in STAGES:
        raise SurveillanceError(f"import-screening: stage={stage!r}; use one of {', '.join(STAGES)}")
    if not path.exists():
        raise SurveillanceError(f"import-screening: {path} not found; nothing was changed")
    today = (clock or (lambda: datetime.now(timezone.utc)))().astimezone(timezone.utc).date().isoformat()
    records = tables.read_table(data_dir, "records")
    s_header, decisions = tables.read_rows(tables.table_path(data_dir, "screening"))
    s_header = s_header or tables.columns(data_dir, "screening")
    index = RecordIndex(records)
    current = current_decisions(decisions)
    next_id = max((int(d["decision_id"]) for d in decisions), default=0) + 1
    rows = _read_csv(path)
    label_col = None
    if format == "asreview":
        present = set(rows[0][1]) if rows else set()
        if not rows:
            with open(path, encoding="utf-8-sig", newline="") as fh:
                present = {c.strip().lower() for c in next(csv.reader(fh), [])}
        label_col = next((c for c in ASREVIEW_LABEL_COLUMNS if c in present), None)
        if label_col is None:
            raise SurveillanceError(f"import-screening: {path.name} has no ASReview label column (one of "
                                    f"{', '.join(ASREVIEW_LABEL_COLUMNS)}); nothing was changed")
    appended, unmatched, problems, ids = [], [], [], []
    n_sup = n_same = n_unseen = 0
    for line, row in rows:
        where = f"{path.name}, line {line}"
        if format == "asreview":
            try:
                decision = _asreview_label(row.get(label_col, ""))
            except ValueError:
                problems.append(f"{where}: {label_col} {row.get(label_col)!r} is not 1, 0 or empty")
                continue
            if decision is None:
                n_unseen += 1
                continue
            row_stage, reason = stage, row.get("asreview_note", "")
            who = row.get("asreview_user_name") or reviewer
            when = (row.get("asreview_time") or "")[:10] or today
        else:
            decision = row.get("decision", "").lower()
            row_stage = row.get("stage") or stage
            reason, who, when = row.get("reason", ""), row.get("reviewer") or reviewer, row.get("date") or today
            if decision not in DECISIONS:
                problems.append(f"{where}: decision {row.get('decision', '')!r} is not one of {', '.join(DECISIONS)}")
                continue
            if row_stage not in STAGES:
                problems.append(f"{where}: stage {row_stage!r} is not one of {', '.join(STAGES)}")
                continue
        try:
            date.fromisoformat(when)
        except ValueError:
            problems.append(f"{where}: date {when!r} is not YYYY-MM-DD")
            continue
        if not who:
            problems.append(f"{where}: no reviewer (give a reviewer column or reviewer=...)")
            continue
        if row_stage == "full-text" and decision == "exclude" and not reason:
            problems.append(f"{where}: a full-text exclude needs a reason")
            continue
        record_id, how = index.match(row)
        if record_id is None:
            unmatched.append(f"{where}: {how}")
            continue
        cur = current.get((record_id, row_stage))
        if cur is not None and cur["decision"] == decision and reason in ("", cur.get("reason", "")):
            n_same += 1
            continue
        new = {"decision_id": str(next_id), "record_id": record_id, "stage": row_stage, "decision": decision,
               "reason": reason, "reviewer": who, "date": when, "imported_from": format,
               "import_file": f"{path.name}:{line}", "supersedes": cur["decision_id"] if cur else ""}
        n_sup += cur is not None
        appended.append(new)
        ids.append(next_id)
        current[(record_id, row_stage)] = new
        next_id += 1
    if appended:
        new_rows = decisions + appended
        problems_t = validate_tables(data_dir, {"screening": new_rows}, {"screening": s_header}, check_files=False)
        if problems_t:
            raise DataError(problems_t)
        st = Staging()
        st.put(tables.table_path(data_dir, "screening"), tables.to_csv_bytes(s_header, new_rows))
        st.commit()
    report = ImportReport(path.name, len(appended), n_sup, n_same, n_unseen, tuple(unmatched), tuple(problems),
                          tuple(ids))
    if log:
        for ln in report.lines():
            log(ln)
    return report


def screening_queue(data_dir: Path | str, stage: str = "title-abstract") -> list[dict]:
    """Primary records without a decision at ``stage`` (title-abstract: every new record not yet screened;
    full-text: records whose current title-abstract decision is include or maybe)."""
    records = tables.read_table(data_dir, "records")
    cur = current_decisions(tables.read_table(data_dir, "screening"))
    out = []
    for r in records:
        if r.get("duplicate_of"):
            continue
        if stage == "full-text":
            ta = cur.get((r["record_id"], "title-abstract"))
            if ta is None or ta["decision"] == "exclude":
                continue
        if (r["record_id"], stage) not in cur:
            out.append(r)
    return out


def abstracts(data_dir: Path | str, records: list[dict]) -> dict[str, str]:
    """record_id -> abstract, read back from the stored raw responses (the abstracts are not in records.csv)."""
    from livingreview.surveillance.run import CLIENTS

    data_dir = Path(data_dir)
    runs = {r["run_id"]: r for r in tables.read_table(data_dir, "search_runs")}
    wanted: dict[str, dict[str, str]] = {}
    for r in records:
        wanted.setdefault(r["run_id"], {})[r["source_id"]] = r["record_id"]
    out = {}
    for run_id, ids in wanted.items():
        run = runs.get(run_id)
        if not run or not run.get("response_file") or not (data_dir / run["response_file"]).exists():
            continue
        _, pages = read_envelope(data_dir / run["response_file"])
        client = CLIENTS[run["source"]]
        found = client.records_from_pages(pages, run["date_field"]) if run["source"] == "ctgov" else \
            client.records_from_pages(pages)
        for rec in found:
            if rec.source_id in ids and rec.abstract:
                out[ids[rec.source_id]] = rec.abstract
    return out


def export_queue(data_dir: Path | str | None, path: Path | str, stage: str = "title-abstract") -> int:
    """Write the screening queue as a CSV that ASReview LAB imports (``title``, ``abstract``, ``doi``, ``year``,
    ``authors`` absent) and that keeps our ``record_id`` for the way back. Returns the number of records."""
    from livingreview.config import DATA_DIR

    data_dir = Path(data_dir) if data_dir is not None else DATA_DIR
    queue = screening_queue(data_dir, stage)
    abs_ = abstracts(data_dir, queue)
    header = ["record_id", "title", "abstract", "doi", "pmid", "nct_id", "year", "source", "report_type", "url"]
    rows = []
    for r in queue:
        url = (f"https://pubmed.ncbi.nlm.nih.gov/{r['pmid']}/" if r.get("pmid") else
               f"https://clinicaltrials.gov/study/{r['nct_id']}" if r["source"] == "ctgov" else
               f"https://doi.org/{r['doi']}" if r.get("doi") else "")
        rows.append({"record_id": r["record_id"], "title": r.get("title", ""), "abstract": abs_.get(r["record_id"], ""),
                     "doi": r.get("doi", ""), "pmid": r.get("pmid", ""), "nct_id": r.get("nct_id", ""),
                     "year": r.get("year", ""), "source": r["source"], "report_type": r["report_type"], "url": url})
    st = Staging()
    st.put(Path(path), tables.to_csv_bytes(header, rows))
    st.commit()
    return len(rows)


def link_study(data_dir: Path | str | None, record_id: str, study_id: str) -> None:
    """Set ``study_id`` of a record (the included study it reports); checked against ``studies.csv``."""
    from livingreview.config import DATA_DIR

    data_dir = Path(data_dir) if data_dir is not None else DATA_DIR
    header, records = tables.read_rows(tables.table_path(data_dir, "records"))
    hit = [r for r in records if r["record_id"] == record_id]
    if not hit:
        raise SurveillanceError(f"link: no record {record_id!r}; nothing was changed")
    hit[0]["study_id"] = study_id
    problems = validate_tables(data_dir, {"records": records}, {"records": header}, check_files=False)
    if problems:
        raise DataError(problems)
    st = Staging()
    st.put(tables.table_path(data_dir, "records"), tables.to_csv_bytes(header, records))
    st.commit()
