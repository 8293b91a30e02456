"""``search()``: run every active search strategy over its next window, store what came back, de-duplicate, append.

**Window.** Dates are UTC calendar days, inclusive at both ends (PubMed ``mindate``/``maxdate``, Europe PMC
``[a TO b]`` and ClinicalTrials.gov ``RANGE[a,b]`` are all inclusive). For each strategy:

* ``window_end`` = today (the injected clock's UTC date), or ``until``;
* ``window_start`` = the ``window_end`` of the strategy's last run with status ``ok`` — the same day again, on
  purpose: a source still adding records to that day after the earlier run loses nothing, and the records it had
  already returned come back flagged as duplicates; with no successful run yet, the strategy's
  ``first_window_start``; ``since`` overrides both. A failed run never moves the window.

**A run.** For each selected active strategy (file order): fetch every page, keep the pages verbatim
(``search_responses/<run_id>.json.gz`` and its SHA-256), classify each record (``dedup``), append every record —
duplicates too, with ``duplicate_of`` — to ``records.csv`` and one row to ``search_runs.csv`` (``records_retrieved =
records_new + records_duplicate``). A run that finds nothing new still gets its row (``records_new`` = 0). New
records have no screening decision, which is what "awaiting screening" means.

**Ids.** ``run_id`` = ``<source>-<run_at as YYYYMMDDTHHMMSSZ>`` (``-2``, ``-3`` ... if taken); all runs of one call
share one ``run_at`` (the clock is read once). ``record_id`` = ``<source>:<source_id>``, or
``<source>:<source_id>@<run_id>`` when that source id was retrieved before.

**Failure.** Nothing is written until every source has answered; the staged tables are then validated against their
Table Schemas and rules, and all files are renamed into place together. Without network the call raises
``NoNetworkError`` (one line) and changes nothing. A malformed or inconsistent response raises ``SourceError``
naming the source and changes nothing — unless ``on_error="record"``, which records that strategy's run as
``failed`` with the reason (and whatever pages came back) and goes on with the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

from livingreview.surveillance import tables
from livingreview.surveillance.dedup import Deduplicator
from livingreview.surveillance.errors import DataError, SourceError, SurveillanceError
from livingreview.surveillance.sources import ctgov, europepmc, pubmed
from livingreview.surveillance.store import Staging, envelope_bytes, sha256_bytes
from livingreview.surveillance.transport import HttpTransport
from livingreview.surveillance.validate import DATE_FIELDS, validate_tables

CLIENTS = {"pubmed": pubmed, "europepmc": europepmc, "ctgov": ctgov}
SOURCES = tuple(CLIENTS)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    strategy_id: str
    source: str
    window_start: str
    window_end: str
    status: str
    records_retrieved: int | None
    records_new: int | None
    records_duplicate: int | None
    failure_reason: str = ""

    def line(self) -> str:
        if self.status != "ok":
            return f"{self.source}: {self.window_start}..{self.window_end}: FAILED ({self.failure_reason}); run " \
                   f"{self.run_id} recorded, window not advanced"
        return (f"{self.source}: {self.window_start}..{self.window_end}: {self.records_retrieved} retrieved, "
                f"{self.records_new} new, {self.records_duplicate} duplicates (run {self.run_id})")


@dataclass(frozen=True)
class SearchReport:
    run_at: str
    runs: tuple[RunSummary, ...]
    awaiting_screening: int
    files: tuple[str, ...]

    @property
    def records_new(self) -> int:
        return sum(r.records_new or 0 for r in self.runs)

    def lines(self) -> list[str]:
        return [r.line() for r in self.runs] + [
            f"search: {self.records_new} new record(s); {self.awaiting_screening} awaiting title-abstract screening"]


def _as_date(value, name: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise SurveillanceError(f"search: {name}={value!r} is not a date (YYYY-MM-DD)") from None


def _run_id(source: str, run_at: datetime, taken: set[str]) -> str:
    base = f"{source}-{run_at.strftime('%Y%m%dT%H%M%SZ')}"
    rid, n = base, 1
    while rid in taken:
        n += 1
        rid = f"{base}-{n}"
    taken.add(rid)
    return rid


def _record_id(source: str, source_id: str, run_id: str, taken: set[str]) -> str:
    rid = f"{source}:{source_id}"
    if rid in taken:
        rid = f"{source}:{source_id}@{run_id}"
        n = 1
        while rid in taken:
            n += 1
            rid = f"{source}:{source_id}@{run_id}.{n}"
    taken.add(rid)
    return rid


def window_for(strategy: dict, runs: list[dict], today: date, since: date | None = None,
               until: date | None = None) -> tuple[date, date]:
    """(window_start, window_end) of the strategy's next run; see the module docstring."""
    end = until or today
    if since is not None:
        start = since
    else:
        ok = [r for r in runs if r.get("strategy_id") == strategy["strategy_id"] and r.get("status") == "ok"]
        start = date.fromisoformat(ok[-1]["window_end"]) if ok else date.fromisoformat(strategy["first_window_start"])
    if start > end:
        raise SurveillanceError(f"search: {strategy['strategy_id']}: window start {start} is after its end {end}")
    return start, end


def awaiting_screening(records: list[dict], decisions: list[dict]) -> list[dict]:
    """Records that are not duplicates and have no title-abstract decision."""
    screened = {d["record_id"] for d in decisions if d.get("stage") == "title-abstract"}
    return [r for r in records if not r.get("duplicate_of") and r["record_id"] not in screened]


def search(data_dir: Path | str | None = None, sources=None, since=None, until=None, transport=None,
           log: Callable[[str], object] | None = print, *, clock: Callable[[], datetime] | None = None,
           on_error: str = "abort", page_size: int | None = None) -> SearchReport:
    """Run the active strategies of ``data_dir/search_strategies.csv`` (all sources, or those in ``sources``).

    ``transport``: ``transport(Request) -> bytes``; default ``HttpTransport()`` (real network). ``clock``: returns
    an aware datetime (default: now, UTC). ``since``/``until``: override the window start/end (``date`` or
    ``YYYY-MM-DD``). ``on_error``: ``"abort"`` (default; any source error changes nothing) or ``"record"``.
    Returns a ``SearchReport``; raises ``NoNetworkError``/``SourceError``/``SurveillanceError`` (nothing changed).
    """
    from livingreview.config import DATA_DIR

    data_dir = Path(data_dir) if data_dir is not None else DATA_DIR
    log = log or (lambda *_: None)
    if on_error not in ("abort", "record"):
        raise SurveillanceError(f"search: on_error={on_error!r}; use 'abort' or 'record'")
    since, until = _as_date(since, "since"), _as_date(until, "until")
    wanted = tuple(SOURCES if sources is None else ([sources] if isinstance(sources, str) else sources))
    unknown = [s for s in wanted if s not in SOURCES]
    if unknown:
        raise SurveillanceError(f"search: unknown source(s) {', '.join(unknown)}; choose from {', '.join(SOURCES)}")
    strategies_path = tables.table_path(data_dir, "search_strategies")
    if not strategies_path.exists():
        raise SurveillanceError(f"search: {strategies_path} not found; write the stored strategies first with "
                                f"`python -m livingreview.surveillance init --data {data_dir}`")
    headers, current = {}, {}
    for name in tables.TABLES:
        header, rows = tables.read_rows(tables.table_path(data_dir, name))
        headers[name] = header or tables.columns(data_dir, name)
        current[name] = rows
    before = validate_tables(data_dir, current, headers)
    if before:
        raise DataError(before, "fix them before searching; nothing was changed")
    strategies = [s for s in current["search_strategies"] if s.get("active") == "true" and s["source"] in wanted]
    if not strategies:
        raise SurveillanceError(f"search: no active strategy for {', '.join(wanted)} in {strategies_path.name}")
    for s in strategies:
        if s["date_field"] not in DATE_FIELDS[s["source"]]:  # already a validation problem; belt and braces
            raise SurveillanceError(f"search: {s['strategy_id']}: date field {s['date_field']} is not allowed")

    now = (clock or utc_now)().astimezone(timezone.utc).replace(microsecond=0)
    run_at = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    transport = transport or HttpTransport()
    check = getattr(transport, "check", None)
    if callable(check):
        for host in dict.fromkeys(CLIENTS[s["source"]].HOST for s in strategies):
            check(host)  # NoNetworkError before anything is fetched

    runs, records = list(current["search_runs"]), list(current["records"])
    dedup = Deduplicator(records)
    run_ids, record_ids = {r["run_id"] for r in runs}, {r["record_id"] for r in records}
    staging, summaries = Staging(), []
    for s in strategies:
        start, end = window_for(s, runs, now.date(), since, until)
        run_id = _run_id(s["source"], now, run_ids)
        client = CLIENTS[s["source"]]
        row = {"run_id": run_id, "strategy_id": s["strategy_id"], "data_version": "", "source": s["source"],
               "query": s["query"], "date_field": s["date_field"], "window_start": start.isoformat(),
               "window_end": end.isoformat(), "run_at": run_at, "status": "ok"}
        try:
            result = client.fetch(s["query"], s["date_field"], start, end, transport, page_size)
        except SourceError as exc:
            if on_error == "abort":
                raise SourceError(exc.source, f"{exc.message}; nothing was changed", exc.pages) from None
            row.update(status="failed", failure_reason=exc.message)
            if exc.pages:
                row["request"] = exc.pages[0].request.as_url()
                data = envelope_bytes(run_id, s["source"], exc.pages)
                row.update(response_file=f"{tables.RESPONSES_DIR}/{run_id}.json.gz", response_sha256=sha256_bytes(data))
                staging.put(data_dir / row["response_file"], data)
            runs.append(row)
            summaries.append(RunSummary(run_id, s["strategy_id"], s["source"], row["window_start"],
                                        row["window_end"], "failed", None, None, None, exc.message))
            continue
        n_new = n_dup = 0
        for rec in result.records:
            rid = _record_id(rec.source, rec.source_id, run_id, record_ids)
            out = {"record_id": rid, "run_id": run_id, "source": rec.source, "source_id": rec.source_id,
                   "pmid": rec.pmid or "", "doi": rec.doi or "", "nct_id": rec.nct_id or "", "title": rec.title or "",
                   "year": "" if rec.year is None else str(rec.year), "entry_date": rec.entry_date or "",
                   "study_id": "", "report_type": rec.report_type}
            dup_of, dup_by = dedup.classify(out)
            out.update(duplicate_of=dup_of or "", duplicate_by=dup_by or "")
            dedup.add(rid, out, dup_of)
            records.append(out)
            n_dup += bool(dup_of)
            n_new += not dup_of
        data = envelope_bytes(run_id, s["source"], result.pages)
        row.update(request=result.first_request, records_retrieved=str(len(result.records)),
                   records_new=str(n_new), records_duplicate=str(n_dup),
                   response_file=f"{tables.RESPONSES_DIR}/{run_id}.json.gz", response_sha256=sha256_bytes(data))
        staging.put(data_dir / row["response_file"], data)
        runs.append(row)
        summaries.append(RunSummary(run_id, s["strategy_id"], s["source"], row["window_start"], row["window_end"],
                                    "ok", len(result.records), n_new, n_dup))

    new_tables = dict(current, search_runs=runs, records=records)
    problems = validate_tables(data_dir, new_tables, headers, check_files=False)
    if problems:
        raise DataError(problems)
    for name in ("records", "search_runs"):
        staging.put(tables.table_path(data_dir, name), tables.to_csv_bytes(headers[name], new_tables[name]))
    written = staging.commit()
    report = SearchReport(run_at, tuple(summaries),
                          len(awaiting_screening(records, current["screening"])),
                          tuple(str(p.relative_to(data_dir)) for p in written))
    for line in report.lines():
        log(line)
    return report
