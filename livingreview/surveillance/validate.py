"""Check the surveillance tables against their Table Schemas, then against the rules a Table Schema cannot state.

A small, standard-library implementation of the parts of Frictionless Table Schema v1 the four schemas use:
field types ``string``, ``integer``, ``number``, ``boolean`` (``trueValues``/``falseValues``), ``date``
(``YYYY-MM-DD``) and ``datetime`` (default format ``YYYY-MM-DDThh:mm:ssZ``); constraints ``required``, ``unique``,
``enum``, ``pattern`` (whole value), ``minimum``, ``maximum``, ``minLength``, ``maxLength``; ``missingValues``;
``primaryKey``; ``foreignKeys`` to the same table (``resource: ""``) or to another CSV table of the data directory
(``resource`` = file stem, e.g. ``studies`` -> ``studies.csv``). The header must list exactly the schema's fields, in
order. The ``frictionless`` library reads the same schema files unchanged.

Every problem is reported, in the dataset's style::

    data/records.csv, line 3, column 'doi': rule 'pattern' broken (value 'x/1')

(line = line of the file, header = line 1). Cross-table rules follow the field checks (see ``RULES`` below).
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime
from pathlib import Path

from livingreview.surveillance.tables import TABLES, read_rows, schema, table_path

#: Which date fields each source's window may use (entry/indexing dates only, never a publication date).
DATE_FIELDS = {
    "pubmed": ("edat",),
    "europepmc": ("CREATION_DATE", "FIRST_IDATE"),
    "ctgov": ("LastUpdatePostDate", "StudyFirstPostDate"),
}

RULES = (
    "search_strategies: date_field belongs to the source (DATE_FIELDS)",
    "search_runs: window_start <= window_end; date_field belongs to the source",
    "search_runs: failure_reason given iff status = failed; an ok run has counts, response_file and response_sha256",
    "search_runs: records_retrieved = records_new + records_duplicate = the run's rows in records.csv",
    "search_runs: response_file exists and its SHA-256 is response_sha256",
    "records: duplicate_of names an earlier record that is not itself a duplicate; duplicate_by iff duplicate_of",
    "records: source of the record = source of its run",
    "screening: reason required for a full-text exclude",
    "screening: supersedes names an earlier decision of the same record and stage, superseded at most once",
    "screening: decisions are about records that are not duplicates",
)


def _fmt(v) -> str:
    return "empty" if v in (None, "") else f"'{v}'"


def _cast(field: dict, raw: str):
    """Typed value of a non-missing cell, or raise ValueError."""
    kind = field.get("type", "string")
    if kind == "string":
        return raw
    if kind == "integer":
        if not re.fullmatch(r"[+-]?[0-9]+", raw):
            raise ValueError
        return int(raw)
    if kind == "number":
        return float(raw)
    if kind == "boolean":
        if raw in field.get("trueValues", ["true", "True", "TRUE", "1"]):
            return True
        if raw in field.get("falseValues", ["false", "False", "FALSE", "0"]):
            return False
        raise ValueError
    if kind == "date":
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
            raise ValueError
        return date.fromisoformat(raw)
    if kind == "datetime":
        return datetime.strptime(raw, "%Y-%m-%dT%H:%M:%SZ")
    raise ValueError(f"type {kind} not supported")


def check_table(label: str, header: list[str], rows: list[dict], table_schema: dict,
                others: dict[str, list[dict]]) -> list[str]:
    """Problems of one table against its Table Schema. ``others``: rows of the tables foreign keys may name."""
    problems = []
    fields = table_schema["fields"]
    names = [f["name"] for f in fields]
    missing_values = set(table_schema.get("missingValues", [""]))
    if header != names:
        missing = [n for n in names if n not in header]
        extra = [h for h in header if h not in names]
        detail = "; ".join(p for p in (f"missing {missing}" if missing else "",
                                       f"unknown {extra}" if extra else "") if p) or f"order must be {names}"
        problems.append(f"{label}, line 1: header does not match the schema ({detail})")
        if missing:
            return problems
    typed = []
    for i, row in enumerate(rows):
        line = i + 2
        out = {}
        for f in fields:
            name, cons = f["name"], f.get("constraints", {})
            raw = row.get(name, "")
            if raw in missing_values:
                out[name] = None
                if cons.get("required"):
                    problems.append(f"{label}, line {line}, column '{name}': rule 'required' broken (value empty)")
                continue
            try:
                value = _cast(f, raw)
            except ValueError:
                problems.append(f"{label}, line {line}, column '{name}': rule 'type {f.get('type')}' broken "
                                f"(value {_fmt(raw)})")
                out[name] = None
                continue
            out[name] = value
            if "enum" in cons and raw not in [str(e) for e in cons["enum"]]:
                problems.append(f"{label}, line {line}, column '{name}': rule 'enum' broken (value {_fmt(raw)}; "
                                f"allowed: {', '.join(map(str, cons['enum']))})")
            if "pattern" in cons and not re.fullmatch(cons["pattern"], raw):
                problems.append(f"{label}, line {line}, column '{name}': rule 'pattern' broken (value {_fmt(raw)})")
            if "minimum" in cons and value < cons["minimum"]:
                problems.append(f"{label}, line {line}, column '{name}': rule 'minimum {cons['minimum']}' broken "
                                f"(value {_fmt(raw)})")
            if "maximum" in cons and value > cons["maximum"]:
                problems.append(f"{label}, line {line}, column '{name}': rule 'maximum {cons['maximum']}' broken "
                                f"(value {_fmt(raw)})")
            if "minLength" in cons and len(raw) < cons["minLength"]:
                problems.append(f"{label}, line {line}, column '{name}': rule 'minLength' broken (value {_fmt(raw)})")
            if "maxLength" in cons and len(raw) > cons["maxLength"]:
                problems.append(f"{label}, line {line}, column '{name}': rule 'maxLength' broken")
        typed.append(out)
    for f in fields:
        if f.get("constraints", {}).get("unique"):
            seen = {}
            for i, row in enumerate(rows):
                v = row.get(f["name"], "")
                if v in missing_values:
                    continue
                if v in seen:
                    problems.append(f"{label}, line {i + 2}, column '{f['name']}': rule 'unique' broken "
                                    f"(value {_fmt(v)} also on line {seen[v]})")
                else:
                    seen[v] = i + 2
    pk = table_schema.get("primaryKey") or []
    if isinstance(pk, str):
        pk = [pk]
    if len(pk) > 1:
        seen = {}
        for i, row in enumerate(rows):
            key = tuple(row.get(k, "") for k in pk)
            if key in seen:
                problems.append(f"{label}, line {i + 2}: rule 'primary key {pk}' broken (also on line {seen[key]})")
            seen.setdefault(key, i + 2)
    for fk in table_schema.get("foreignKeys", []):
        cols = fk["fields"] if isinstance(fk["fields"], list) else [fk["fields"]]
        ref = fk["reference"]
        ref_cols = ref["fields"] if isinstance(ref["fields"], list) else [ref["fields"]]
        resource = ref.get("resource", "")
        ref_rows = rows if resource == "" else others.get(resource)
        used = [(i, tuple(row.get(c, "") for c in cols)) for i, row in enumerate(rows)]
        used = [(i, v) for i, v in used if not all(x in missing_values for x in v)]
        if not used:
            continue
        if ref_rows is None:
            problems.append(f"{label}: foreign key {cols} -> {resource}{ref_cols} cannot be checked "
                            f"({resource}.csv not found)")
            continue
        targets = {tuple(r.get(c, "") for c in ref_cols) for r in ref_rows}
        for i, v in used:
            if v not in targets:
                shown = v[0] if len(v) == 1 else v
                problems.append(f"{label}, line {i + 2}, column '{cols[0]}': rule 'foreign key "
                                f"{resource or 'self'}.{ref_cols[0]}' broken (value {_fmt(shown)} not found)")
    return problems


def _label(data_dir: Path, table: str) -> str:
    return f"{Path(data_dir).name}/{TABLES.get(table, table + '.csv')}"


def check_rules(data_dir: Path, t: dict[str, list[dict]], check_files: bool = True) -> list[str]:
    """The cross-field and cross-table rules of ``RULES``. ``t``: table name -> rows (text values)."""
    problems = []
    lab = {name: _label(data_dir, name) for name in TABLES}
    for i, s in enumerate(t.get("search_strategies", [])):
        if s.get("source") in DATE_FIELDS and s.get("date_field") not in DATE_FIELDS[s["source"]]:
            problems.append(f"{lab['search_strategies']}, line {i + 2}, column 'date_field': rule 'date field of the "
                            f"source' broken (value {_fmt(s.get('date_field'))}; {s['source']} allows "
                            f"{', '.join(DATE_FIELDS[s['source']])})")
    per_run: dict[str, list[dict]] = {}
    for r in t.get("records", []):
        per_run.setdefault(r.get("run_id", ""), []).append(r)
    runs = t.get("search_runs", [])
    run_source = {r.get("run_id"): r.get("source") for r in runs}
    for i, r in enumerate(runs):
        line, L = i + 2, lab["search_runs"]
        if r.get("source") in DATE_FIELDS and r.get("date_field") not in DATE_FIELDS[r["source"]]:
            problems.append(f"{L}, line {line}, column 'date_field': rule 'date field of the source' broken "
                            f"(value {_fmt(r.get('date_field'))})")
        if r.get("window_start") and r.get("window_end") and r["window_start"] > r["window_end"]:
            problems.append(f"{L}, line {line}, column 'window_start': rule 'window_start <= window_end' broken "
                            f"(value {r['window_start']} > {r['window_end']})")
        failed = r.get("status") == "failed"
        if failed != bool(r.get("failure_reason")):
            problems.append(f"{L}, line {line}, column 'failure_reason': rule 'failure_reason iff status failed' "
                            f"broken (status {_fmt(r.get('status'))}, failure_reason {_fmt(r.get('failure_reason'))})")
        rows = per_run.get(r.get("run_id"), [])
        if r.get("status") == "ok":
            for col in ("records_retrieved", "records_new", "records_duplicate", "response_file", "response_sha256"):
                if not r.get(col):
                    problems.append(f"{L}, line {line}, column '{col}': rule 'required for an ok run' broken "
                                    f"(value empty)")
        try:
            got = int(r.get("records_retrieved") or 0), int(r.get("records_new") or 0), int(
                r.get("records_duplicate") or 0)
        except ValueError:
            got = None  # reported by the type check
        if got is not None and r.get("records_retrieved"):
            n_dup = sum(1 for x in rows if x.get("duplicate_of"))
            if got[0] != got[1] + got[2] or got[0] != len(rows) or got[2] != n_dup:
                problems.append(f"{L}, line {line}, column 'records_retrieved': rule 'retrieved = new + duplicate = "
                                f"rows in records.csv' broken (retrieved {got[0]}, new {got[1]}, duplicate {got[2]}; "
                                f"records.csv has {len(rows)} rows of which {n_dup} duplicates)")
        elif rows and not r.get("records_retrieved"):
            problems.append(f"{L}, line {line}, column 'records_retrieved': rule 'counts of a run with records' "
                            f"broken (value empty, records.csv has {len(rows)} rows)")
        if check_files and r.get("response_file"):
            p = Path(data_dir) / r["response_file"]
            if not p.exists():
                problems.append(f"{L}, line {line}, column 'response_file': rule 'file exists' broken "
                                f"(value {_fmt(r['response_file'])})")
            elif r.get("response_sha256") and hashlib.sha256(p.read_bytes()).hexdigest() != r["response_sha256"]:
                problems.append(f"{L}, line {line}, column 'response_sha256': rule 'SHA-256 of response_file' broken "
                                f"(the file's bytes have changed)")
    records = t.get("records", [])
    position = {r.get("record_id"): i for i, r in enumerate(records)}
    for i, r in enumerate(records):
        line, L = i + 2, lab["records"]
        dup = r.get("duplicate_of")
        if bool(dup) != bool(r.get("duplicate_by")):
            problems.append(f"{L}, line {line}, column 'duplicate_by': rule 'duplicate_by iff duplicate_of' broken "
                            f"(duplicate_of {_fmt(dup)}, duplicate_by {_fmt(r.get('duplicate_by'))})")
        if dup and dup in position:
            target = records[position[dup]]
            if position[dup] >= i or target.get("duplicate_of"):
                problems.append(f"{L}, line {line}, column 'duplicate_of': rule 'points to an earlier record that is "
                                f"not a duplicate' broken (value {_fmt(dup)})")
        if r.get("run_id") in run_source and run_source[r["run_id"]] != r.get("source"):
            problems.append(f"{L}, line {line}, column 'source': rule 'source of its run' broken "
                            f"(value {_fmt(r.get('source'))}, run source {_fmt(run_source[r['run_id']])})")
    decisions = t.get("screening", [])
    by_id = {d.get("decision_id"): (i, d) for i, d in enumerate(decisions)}
    superseded_by: dict[str, int] = {}
    for i, d in enumerate(decisions):
        line, L = i + 2, lab["screening"]
        if d.get("stage") == "full-text" and d.get("decision") == "exclude" and not d.get("reason"):
            problems.append(f"{L}, line {line}, column 'reason': rule 'reason required for a full-text exclude' "
                            f"broken (value empty)")
        rec = records[position[d["record_id"]]] if d.get("record_id") in position else None
        if rec is not None and rec.get("duplicate_of"):
            problems.append(f"{L}, line {line}, column 'record_id': rule 'decision on a record that is not a "
                            f"duplicate' broken (value {_fmt(d['record_id'])} duplicates {rec['duplicate_of']})")
        sup = d.get("supersedes")
        if sup:
            if sup in superseded_by:
                problems.append(f"{L}, line {line}, column 'supersedes': rule 'a decision is superseded at most once' "
                                f"broken (value {sup}, also superseded on line {superseded_by[sup]})")
            superseded_by.setdefault(sup, line)
            if sup in by_id:
                j, old = by_id[sup]
                if j >= i or (old.get("record_id"), old.get("stage")) != (d.get("record_id"), d.get("stage")):
                    problems.append(f"{L}, line {line}, column 'supersedes': rule 'an earlier decision of the same "
                                    f"record and stage' broken (value {sup})")
    return problems


def validate_tables(data_dir: Path | str, tables: dict[str, list[dict]] | None = None,
                    headers: dict[str, list[str]] | None = None, check_files: bool = True) -> list[str]:
    """Every problem of the surveillance tables of ``data_dir`` (empty list: all valid).

    ``tables``/``headers`` replace the files' contents (used to check staged tables before they are written). A
    table whose file does not exist and is not given is treated as empty. Other tables a foreign key names
    (``studies``, ``versions``) are read from ``data_dir`` when present.
    """
    data_dir = Path(data_dir)
    tables, headers = dict(tables or {}), dict(headers or {})
    for name in TABLES:
        if name not in tables:
            header, rows = read_rows(table_path(data_dir, name))
            tables[name] = rows
            if header:
                headers.setdefault(name, header)
    others = dict(tables)
    for extra in ("studies", "versions"):
        p = data_dir / f"{extra}.csv"
        if p.exists():
            others[extra] = read_rows(p)[1]
    problems = []
    for name in TABLES:
        sch = schema(data_dir, name)
        header = headers.get(name) or [f["name"] for f in sch["fields"]]
        problems += check_table(_label(data_dir, name), header, tables[name], sch, others)
    problems += check_rules(data_dir, tables, check_files=check_files)
    return problems
