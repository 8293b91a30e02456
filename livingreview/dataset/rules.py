"""The contract's rules that the Table Schema standard cannot express: conditions between the cells of a row,
between tables, and on what a reader is shown. Each rule names the column and says what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from livingreview.dataset.read import BAD, Table
from livingreview.dataset.violations import Violation, show
from livingreview.dataset.vocabulary import QUALITY_ITEMS, SUBGROUP_LEVELS, TOTAL_ITEM

#: Public locators of a report: at least one must be given, so that a reader can open it.
LOCATORS = ("doi", "pmid", "pmcid", "nct_id", "abstract_number", "url")
#: Columns a reader sees (the book renders them); curator notes are not among them.
PUBLIC_TEXT = {
    "studies": ("label", "identification_note", "overlap_note"),
    "reports": ("citation", "note"),
    "outcomes": ("reported_value", "location", "quote", "note", "population_definition"),
    "outcome_definitions": ("label", "definition", "population_definition"),
    "versions": ("description",),
    "certainty": ("reason",),
    "published": ("note",),
    "protocol": ("description",),
    "snapshots": ("note",),
}
#: How internal curation shows up in text: references a reader cannot follow.
INTERNAL = re.compile(r"stored (sources?|corpora|cop(y|ies)|GitHub)|\bfile id\b|\bLEADS\b|\bseeds?[ /]0\d\d\b|"
                      r"look-?ups?\b|\b(curation )?pass \d\b|compendium|\bstaging/|\bcurators?\b|curator_note", re.I)
#: Outcome fields that a row with counts must have.
WITH_COUNTS = ("population", "bound", "report_id", "location")


def _rows(table: Table | None, *columns) -> Iterable[tuple[int, dict]]:
    """Rows whose given columns were all parsed (a cell that could not be parsed is reported once, by the reader)."""
    if table is None or not table.readable or any(c not in (table.header or []) for c in columns):
        return []
    return [(line, r) for line, r in table.rows if all(r.get(c) is not BAD for c in columns)]


def _outcome_rules(t: Table, tables: dict[str, Table]) -> list[Violation]:
    out = []
    bad = lambda line, col, rule, value, detail: out.append(Violation(t.file, line, col, rule, value, detail))  # noqa: E731
    for line, r in _rows(t, "events", "total"):
        if r["events"] is not None and r["total"] is not None and r["events"] > r["total"]:
            bad(line, "events", "events <= total", r["events"], f"value {r['events']} > total {r['total']}")
    for line, r in _rows(t, "derivation", "events", "total", "note"):
        if r["derivation"] is None:
            continue
        missing = r["derivation"] == "missing"
        for col in ("events", "total"):
            if r[col] is None and not missing:
                bad(line, col, f"{col} empty iff derivation = missing", None,
                    f"{col} empty but derivation {show(r['derivation'])}")
            elif r[col] is not None and missing:
                bad(line, col, f"{col} empty iff derivation = missing", r[col],
                    f"value {r[col]} but derivation 'missing'")
        if missing and r["note"] is None:
            bad(line, "note", "note says why when derivation = missing", None, "derivation 'missing' but no note "
                                                                                 "saying why")
        if not missing:
            for col in WITH_COUNTS:
                if col in r and r[col] is None:
                    bad(line, col, f"{col} given with counts", None,
                        f"empty, but the row has counts ({r['derivation']})")
    for line, r in _rows(t, "quote", "quote_status"):
        if r["quote"] is not None and r["quote_status"] is None:
            bad(line, "quote_status", "quote_status given with a quote", None, "empty, but the row has a quote")
        if r["quote"] is None and r["quote_status"] is not None:
            bad(line, "quote_status", "quote_status only with a quote", r["quote_status"], "there is no quote")
    reports = {r["report_id"]: r["study_id"] for _, r in _rows(tables.get("reports"), "report_id", "study_id")}
    for line, r in _rows(t, "report_id", "study_id"):
        owner = reports.get(r["report_id"])
        if r["report_id"] is not None and owner is not None and owner != r["study_id"]:
            bad(line, "report_id", "report of the row's study", r["report_id"],
                f"report {show(r['report_id'])} belongs to {show(owner)}, the row to {show(r['study_id'])}")
    return out


def _report_rules(t: Table, tables: dict[str, Table]) -> list[Violation]:
    out = []
    principal: dict[str, int] = {}
    for line, r in _rows(t, *LOCATORS, "role", "study_id"):
        if all(r[c] is None for c in LOCATORS):
            out.append(Violation(t.file, line, "url", "a public locator given", None,
                                 f"none of {', '.join(LOCATORS)} is given: a reader could not open the report"))
        if r["role"] == "principal":
            if r["study_id"] in principal:
                out.append(Violation(t.file, line, "role", "one principal report per study", "principal",
                                     f"{show(r['study_id'])} already has one, on line {principal[r['study_id']]}"))
            principal.setdefault(r["study_id"], line)
    return out


def _study_rules(t: Table, tables: dict[str, Table]) -> list[Violation]:
    out = []
    ids = {r["study_id"] for _, r in _rows(t, "study_id")}
    for line, r in _rows(t, "overlaps_with", "study_id"):
        for other in (r["overlaps_with"] or "").split(";"):
            if other and (other not in ids or other == r["study_id"]):
                out.append(Violation(t.file, line, "overlaps_with", "overlaps_with names other included studies",
                                     other, f"{show(other)} is " + ("the study itself" if other == r["study_id"]
                                                                    else "not a study_id of studies.csv")))
    return out


def _definition_rules(t: Table, tables: dict[str, Table]) -> list[Violation]:
    out = []
    for line, r in _rows(t, "subgroups"):
        parts = (r["subgroups"] or "").split(";")
        if r["subgroups"] and len(set(parts)) != len(parts):
            out.append(Violation(t.file, line, "subgroups", "subgroups listed once", r["subgroups"],
                                 f"value {show(r['subgroups'])} names a subgroup twice"))
    return out


def _quality_rules(t: Table, tables: dict[str, Table]) -> list[Violation]:
    out = []
    groups: dict[tuple, list] = {}
    for line, r in _rows(t, "scale", "item", "study_id"):  # a score that could not be parsed is still an item
        items = QUALITY_ITEMS.get(r["scale"])
        if items is None:
            continue
        if r["item"] not in items and r["item"] != TOTAL_ITEM:
            out.append(Violation(t.file, line, "item", "item belongs to the scale", r["item"],
                                 f"value {show(r['item'])} is not a {r['scale']} item "
                                 f"({', '.join(items)}, {TOTAL_ITEM})"))
            continue
        top = sum(m for _, m in items.values()) if r["item"] == TOTAL_ITEM else items[r["item"]][1]
        if r["score"] not in (None, BAD) and r["score"] > top:
            out.append(Violation(t.file, line, "score", "score within the item's range", r["score"],
                                 f"value {r['score']} > maximum {top} for {r['scale']} item {r['item']}"))
        groups.setdefault((r["study_id"], r["scale"]), []).append((line, r))
    for (study, scale), members in groups.items():
        items = {r["item"]: (line, r["score"]) for line, r in members}
        lacking = [i for i in list(QUALITY_ITEMS[scale]) + [TOTAL_ITEM] if i not in items]
        if lacking:
            out.append(Violation(t.file, members[0][0], "item", "every item of the scale present", study,
                                 f"{study} lacks {scale} item(s) {', '.join(lacking)}"))
            continue
        printed_line, printed = items[TOTAL_ITEM]
        scores = [items[i][1] for i in QUALITY_ITEMS[scale]]
        if printed not in (None, BAD) and None not in scores and BAD not in scores and sum(scores) != printed:
            out.append(Violation(t.file, printed_line, "score", "printed total = sum of item scores", printed,
                                 f"{study}: printed total {printed}, items sum to {sum(scores)}"))
    return out


def _published_rules(t: Table, tables: dict[str, Table]) -> list[Violation]:
    out = []
    for line, r in _rows(t, "subgroup", "level"):
        sub, level = r["subgroup"], r["level"]
        if sub == "overall" and level is not None:
            out.append(Violation(t.file, line, "level", "level matches subgroup", level,
                                 f"value {show(level)} but subgroup is 'overall' (leave level empty)"))
        elif sub in SUBGROUP_LEVELS and level not in SUBGROUP_LEVELS[sub]:
            out.append(Violation(t.file, line, "level", "level matches subgroup", level,
                                 f"value {show(level)} is not a {sub} level ({', '.join(SUBGROUP_LEVELS[sub])})"))
    return out


def _certainty_rules(t: Table, tables: dict[str, Table]) -> list[Violation]:
    """A judgement covers every GRADE domain: an outcome rated for a data version is rated in all of them."""
    domains = t.resource.field("domain").enum or ()
    seen: dict[tuple, tuple[int, set]] = {}
    for line, r in _rows(t, "outcome", "domain", "data_version"):
        _, rated = seen.setdefault((r["outcome"], r["data_version"]), (line, set()))
        rated.add(r["domain"])
    return [Violation(t.file, line, "domain", "every GRADE domain rated", outcome,
                      f"{outcome} (data version {version}) lacks {', '.join(d for d in domains if d not in rated)}")
            for (outcome, version), (line, rated) in seen.items() if not set(domains) <= rated]


def _search_rules(t: Table, tables: dict[str, Table]) -> list[Violation]:
    return [Violation(t.file, line, "count", "count empty when status = not reported", r["count"],
                      f"value {r['count']} but status 'not reported'")
            for line, r in _rows(t, "count", "status") if r["status"] == "not reported" and r["count"] is not None]


def _public_text(t: Table) -> list[Violation]:
    out = []
    for column in PUBLIC_TEXT.get(t.resource.name, ()):
        for line, r in _rows(t, column):
            m = INTERNAL.search(r[column] or "")
            if m:
                out.append(Violation(t.file, line, column, "public text names no internal source", m.group(0),
                                     f"{show(m.group(0))} refers to something a reader cannot open: cite the public "
                                     f"source (DOI, PMID, abstract number, registry id, URL), and keep curation "
                                     f"notes in curator_note"))
    return out


#: Which date fields a search window may use, per source: entry/indexing dates only, never a publication date, so
#: that a record indexed late is not missed.
DATE_FIELDS = {"pubmed": ("edat",), "europepmc": ("CREATION_DATE", "FIRST_IDATE"),
               "ctgov": ("LastUpdatePostDate", "StudyFirstPostDate")}


def _strategy_rules(t: Table, tables: dict[str, Table]) -> list[Violation]:
    return [Violation(t.file, line, "date_field", "date field of the source", r["date_field"],
                      f"value {show(r['date_field'])}; {r['source']} windows use {', '.join(DATE_FIELDS[r['source']])}")
            for line, r in _rows(t, "source", "date_field")
            if r["source"] in DATE_FIELDS and r["date_field"] not in DATE_FIELDS[r["source"]]]


def _run_rules(t: Table, tables: dict[str, Table]) -> list[Violation]:
    out = []
    bad = lambda line, col, rule, value, detail: out.append(Violation(t.file, line, col, rule, value, detail))  # noqa: E731
    per_run: dict = {}
    for _, r in _rows(tables.get("records"), "run_id", "duplicate_of"):
        per_run.setdefault(r["run_id"], []).append(r)
    cols = ("run_id", "source", "date_field", "window_start", "window_end", "status", "failure_reason",
            "records_retrieved", "records_new", "records_duplicate", "response_file", "response_sha256")
    for line, r in _rows(t, *cols):
        if r["source"] in DATE_FIELDS and r["date_field"] not in DATE_FIELDS[r["source"]]:
            bad(line, "date_field", "date field of the source", r["date_field"], f"value {show(r['date_field'])}")
        if r["window_start"] and r["window_end"] and r["window_start"] > r["window_end"]:
            bad(line, "window_start", "window_start <= window_end", r["window_start"],
                f"value {r['window_start']} > window_end {r['window_end']}")
        if (r["status"] == "failed") != (r["failure_reason"] is not None):
            bad(line, "failure_reason", "failure_reason iff status failed", r["failure_reason"],
                f"status {show(r['status'])}, failure_reason {show(r['failure_reason'])}")
        if r["status"] == "ok":
            for col in ("records_retrieved", "records_new", "records_duplicate", "response_file", "response_sha256"):
                if r[col] is None:
                    bad(line, col, "required for an ok run", None, "empty")
        rows = per_run.get(r["run_id"], [])
        counts = (r["records_retrieved"], r["records_new"], r["records_duplicate"])
        if None not in counts:
            dups = sum(1 for x in rows if x["duplicate_of"])
            if counts[0] != counts[1] + counts[2] or counts[0] != len(rows) or counts[2] != dups:
                bad(line, "records_retrieved", "retrieved = new + duplicate = rows in records.csv", counts[0],
                    f"retrieved {counts[0]}, new {counts[1]}, duplicate {counts[2]}; records.csv has {len(rows)} rows "
                    f"of this run, {dups} of them duplicates")
        elif rows and counts[0] is None:
            bad(line, "records_retrieved", "counts of a run with records", None,
                f"empty, but records.csv has {len(rows)} rows of this run")
        if r["response_file"] and t.path is not None:
            import hashlib

            stored = t.path.parent / r["response_file"]
            if not stored.is_file():
                bad(line, "response_file", "response file exists", r["response_file"], "no such file")
            elif r["response_sha256"] and hashlib.sha256(stored.read_bytes()).hexdigest() != r["response_sha256"]:
                bad(line, "response_sha256", "SHA-256 of the response file", r["response_sha256"],
                    "the stored response's bytes have changed since the run")
    return out


def _record_rules(t: Table, tables: dict[str, Table]) -> list[Violation]:
    out = []
    run_source = {r["run_id"]: r["source"] for _, r in _rows(tables.get("search_runs"), "run_id", "source")}
    rows = list(_rows(t, "record_id", "duplicate_of", "duplicate_by", "run_id", "source"))
    position = {r["record_id"]: i for i, (_, r) in enumerate(rows)}
    for i, (line, r) in enumerate(rows):
        dup = r["duplicate_of"]
        if (dup is None) != (r["duplicate_by"] is None):
            out.append(Violation(t.file, line, "duplicate_by", "duplicate_by iff duplicate_of", r["duplicate_by"],
                                 f"duplicate_of {show(dup)}, duplicate_by {show(r['duplicate_by'])}"))
        if dup in position and (position[dup] >= i or rows[position[dup]][1]["duplicate_of"]):
            out.append(Violation(t.file, line, "duplicate_of", "an earlier record that is not a duplicate", dup,
                                 f"value {show(dup)} is later or itself a duplicate"))
        if r["run_id"] in run_source and run_source[r["run_id"]] != r["source"]:
            out.append(Violation(t.file, line, "source", "source of its run", r["source"],
                                 f"value {show(r['source'])}, the run's source is {show(run_source[r['run_id']])}"))
    return out


def _screening_rules(t: Table, tables: dict[str, Table]) -> list[Violation]:
    out = []
    duplicates = {r["record_id"]: r["duplicate_of"]
                  for _, r in _rows(tables.get("records"), "record_id", "duplicate_of")}
    rows = list(_rows(t, "decision_id", "record_id", "stage", "decision", "reason", "supersedes"))
    position = {r["decision_id"]: (i, r) for i, (_, r) in enumerate(rows)}
    superseded: dict = {}
    for i, (line, d) in enumerate(rows):
        if d["stage"] == "full-text" and d["decision"] == "exclude" and d["reason"] is None:
            out.append(Violation(t.file, line, "reason", "reason required for a full-text exclude", None, "empty"))
        if duplicates.get(d["record_id"]):
            out.append(Violation(t.file, line, "record_id", "decision on a record that is not a duplicate",
                                 d["record_id"],
                                 f"value {show(d['record_id'])} duplicates {duplicates[d['record_id']]}"))
        sup = d["supersedes"]
        if sup is None:
            continue
        if sup in superseded:
            out.append(Violation(t.file, line, "supersedes", "a decision is superseded at most once", sup,
                                 f"decision {sup} is also superseded on line {superseded[sup]}"))
        superseded.setdefault(sup, line)
        if sup in position:
            j, old = position[sup]
            if j >= i or (old["record_id"], old["stage"]) != (d["record_id"], d["stage"]):
                out.append(Violation(t.file, line, "supersedes", "an earlier decision of the same record and stage",
                                     sup, f"decision {sup} is later or about another record or stage"))
    return out


def _protocol_rules(t: Table, tables: dict[str, Table]) -> list[Violation]:
    return [Violation(t.file, line, "threshold", "threshold iff kind is not certainty_change", r["threshold"],
                      f"kind {show(r['kind'])}, threshold {show(r['threshold'])}")
            for line, r in _rows(t, "kind", "threshold")
            if (r["kind"] == "certainty_change") != (r["threshold"] is None)]


def _snapshot_rules(t: Table, tables: dict[str, Table]) -> list[Violation]:
    import hashlib

    out = []
    for line, r in _rows(t, "data_version", "table", "file", "sha256"):
        if r["data_version"] is None or r["table"] is None or r["file"] is None:
            continue
        expected = f"snapshots/v{r['data_version']}/{r['table']}.csv"
        if r["file"] != expected:
            out.append(Violation(t.file, line, "file", "snapshot file of its version and table", r["file"],
                                 f"value {show(r['file'])}, expected {show(expected)}"))
        elif t.path is not None:
            stored = t.path.parent / r["file"]
            if not stored.is_file():
                out.append(Violation(t.file, line, "file", "snapshot file exists", r["file"], "no such file"))
            elif r["sha256"] and hashlib.sha256(stored.read_bytes()).hexdigest() != r["sha256"]:
                out.append(Violation(t.file, line, "sha256", "SHA-256 of the snapshot file", r["sha256"],
                                     "the frozen copy has been edited since it was written (a correction belongs "
                                     "in the current data, and shows in the next version)"))
    return out


RULES: dict[str, Callable[[Table, dict], list[Violation]]] = {
    "outcomes": _outcome_rules, "reports": _report_rules, "studies": _study_rules,
    "outcome_definitions": _definition_rules, "quality": _quality_rules, "published": _published_rules,
    "search": _search_rules, "search_strategies": _strategy_rules, "search_runs": _run_rules,
    "records": _record_rules, "screening": _screening_rules, "protocol": _protocol_rules,
    "snapshots": _snapshot_rules, "certainty": _certainty_rules,
}


def code_violations(tables: dict[str, Table]) -> list[Violation]:
    out = []
    for name, table in tables.items():
        if not table.readable:
            continue
        if name in RULES:
            out.extend(RULES[name](table, tables))
        out.extend(_public_text(table))
    return out


__all__ = ["DATE_FIELDS", "INTERNAL", "LOCATORS", "PUBLIC_TEXT", "RULES", "code_violations"]
