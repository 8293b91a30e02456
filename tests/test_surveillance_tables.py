"""Table Schemas, the validator (every written table is checked against them), the parsers on recorded responses
(verbatim Biopython and pyEuropePMC fixtures), raw-response envelopes, the atomic write, import lightness, layering."""

from __future__ import annotations

import ast
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_surveillance_support import ENTREZ, EPMC, ScriptedTransport, clock, make_data_dir, quiet, run1_steps

from livingreview.surveillance import DEFAULT_STRATEGIES, init, validate_tables
from livingreview.surveillance.sources import RawPage, europepmc
from livingreview.surveillance.store import Staging, envelope_bytes, read_envelope
from livingreview.surveillance.tables import TABLES, columns, schema_path
from livingreview.surveillance.transport import Request

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "livingreview" / "surveillance"


# --- the schema files --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("table", list(TABLES))
def test_schema_files_are_consistent_table_schemas(table):
    path = ROOT / "data" / "schemas" / f"{table}.json"
    sch = json.loads(path.read_text(encoding="utf-8"))
    names = [f["name"] for f in sch["fields"]]
    assert len(names) == len(set(names))
    assert all(f.get("type", "string") in {"string", "integer", "number", "boolean", "date", "datetime"}
               for f in sch["fields"])
    assert set(sch["primaryKey"]) <= set(names)
    for fk in sch.get("foreignKeys", []):
        assert set(fk["fields"]) <= set(names)
        assert fk["reference"]["resource"] in {"", *TABLES, "studies", "versions"}
    assert sch["missingValues"] == [""]
    assert schema_path(ROOT / "data", table) == path


def test_default_strategies_and_init(tmp_path):
    written = init(tmp_path)
    assert sorted(p.name for p in written) == sorted(TABLES.values())
    assert validate_tables(tmp_path) == []
    with open(tmp_path / "search_strategies.csv", encoding="utf-8") as fh:
        got = list(csv.DictReader(fh))
    assert [s["strategy_id"] for s in got] == ["pubmed_1", "europepmc_1", "ctgov_1"]
    assert [s["date_field"] for s in got] == ["edat", "CREATION_DATE", "LastUpdatePostDate"]
    assert got[0]["query"] == ('("acute lymphoblastic leukemia" OR "precursor cell lymphoblastic leukemia lymphoma") '
                               'AND ("Inotuzumab Ozogamicin" OR "CMC-544" OR "Besponsa")')
    assert list(got[0]) == columns(tmp_path, "search_strategies")
    assert init(tmp_path) == []  # never overwrites
    assert len(DEFAULT_STRATEGIES) == 3


# --- the validator -----------------------------------------------------------------------------------------------

@pytest.fixture
def valid(tmp_path):
    pytest.importorskip("Bio.Entrez")
    from livingreview.surveillance import search

    data = make_data_dir(tmp_path)
    search(data, transport=ScriptedTransport(run1_steps()), clock=clock("2026-11-21T09:30:00Z"), log=quiet,
           page_size=2)
    assert validate_tables(data) == []
    return data


def edit(data, table, fn):
    path = data / f"{table}.csv"
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header, rows = reader.fieldnames, list(reader)
    header, rows = fn(header, rows) or (header, rows)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def shown(problems: list[str], data) -> list[str]:
    """The problems with the data directory's path shortened to 'data/' (as the command line shows it)."""
    return [p.replace(str(data), "data") for p in problems]


def test_validator_names_file_line_column_and_rule(valid):
    def break_records(header, rows):
        rows[1]["record_id"] = rows[0]["record_id"]          # line 3: not unique
        rows[2]["doi"] = "not-a-doi"                          # line 4: pattern
        rows[3]["report_type"] = "journal article"           # line 5: enum
        rows[4]["duplicate_of"] = "pubmed:404"                # line 6: foreign key to itself
        rows[5]["year"] = "2001.0"                            # line 7: type integer
    edit(valid, "records", break_records)
    problems = shown(validate_tables(valid), valid)
    assert "data/records.csv, line 3, column 'record_id': rule 'unique record_id' broken (value 'pubmed:12091962' " \
           "already on line 2)" in problems
    assert "data/records.csv, line 4, column 'doi': rule 'matches 10\\.[^\\s]+' broken (value 'not-a-doi' breaks " \
           "pattern 10\\.[^\\s]+)" in problems
    assert "data/records.csv, line 5, column 'report_type': rule 'allowed values' broken (value 'journal article' " \
           "not one of: full paper, conference abstract, preprint, registry record, other)" in problems
    assert "data/records.csv, line 6, column 'duplicate_of': rule 'duplicate_of defined in records.csv' broken " \
           "(value 'pubmed:404' not found in records.csv (record_id))" in problems
    assert "data/records.csv, line 7, column 'year': rule 'whole number' broken (value '2001.0' is not a whole " \
           "number)" in problems
    assert len([p for p in problems if "line 3, column 'record_id'" in p]) == 1  # said once


def test_validator_checks_counts_and_response_hashes(valid):
    def tamper(header, rows):
        rows[0]["records_new"] = "3"
    edit(valid, "search_runs", tamper)
    resp = valid / "search_responses" / "ctgov-20261121T093000Z.json.gz"
    resp.write_bytes(resp.read_bytes() + b"\0")
    problems = shown(validate_tables(valid), valid)
    assert problems == [
        "data/search_runs.csv, line 2, column 'records_retrieved': rule 'retrieved = new + duplicate = rows in "
        "records.csv' broken (retrieved 4, new 3, duplicate 0; records.csv has 4 rows of this run, 0 of them "
        "duplicates)",
        "data/search_runs.csv, line 4, column 'response_sha256': rule 'SHA-256 of the response file' broken (the "
        "stored response's bytes have changed since the run)"]


def test_validator_checks_screening_rules(valid):
    (valid / "screening.csv").write_text(
        "decision_id,record_id,stage,decision,reason,reviewer,date,imported_from,import_file,supersedes\n"
        "1,pubmed:9997,full-text,exclude,,R,2026-12-01,manual,,\n"
        "2,pubmed:12091962,full-text,include,,R,2026-12-01,manual,,1\n"
        "3,europepmc:MED:11748933,title-abstract,include,,R,2026-12-01,manual,,\n"
        "4,pubmed:9997,title-abstract,maybe,,R,2026-13-01,robot,,\n", encoding="utf-8")
    assert sorted(shown(validate_tables(valid), valid)) == [
        "data/screening.csv, line 2, column 'reason': rule 'reason required for a full-text exclude' broken (empty)",
        "data/screening.csv, line 3, column 'supersedes': rule 'an earlier decision of the same record and stage' "
        "broken (decision 1 is later or about another record or stage)",
        "data/screening.csv, line 4, column 'record_id': rule 'decision on a record that is not a duplicate' broken "
        "(value 'europepmc:MED:11748933' duplicates pubmed:11748933)",
        "data/screening.csv, line 5, column 'date': rule 'date YYYY-MM-DD' broken (value '2026-13-01' is not a date "
        "YYYY-MM-DD)",
        "data/screening.csv, line 5, column 'imported_from': rule 'allowed values' broken (value 'robot' not one of: "
        "asreview, csv, manual)"]


def test_validator_checks_header_and_strategy_date_fields(tmp_path):
    data = tmp_path / "data"
    init(data)
    edit(data, "search_strategies", lambda h, rows: (h, [dict(rows[0], date_field="CREATION_DATE")]))
    assert shown(validate_tables(data), data) == [
        "data/search_strategies.csv, line 2, column 'date_field': rule 'date field of the source' broken (value "
        "'CREATION_DATE'; pubmed windows use edat)"]
    (data / "records.csv").write_text("record_id,run_id\n", encoding="utf-8")
    problems = shown(validate_tables(data), data)
    assert "data/records.csv, line 1, column 'source_id': rule 'column present' broken (header has: record_id, " \
           "run_id)" in problems
    assert len([p for p in problems if "rule 'column present'" in p]) == 12


# --- parsers on verbatim recorded responses ----------------------------------------------------------------------

def test_pubmed_parser_on_biopython_fixtures():
    pytest.importorskip("Bio.Entrez")
    from livingreview.surveillance.sources import pubmed

    es = pubmed._read("esearch", (ENTREZ / "esearch2.xml").read_bytes())
    assert (es["Count"], es["QueryKey"], es["WebEnv"]) == ("42249", "1", "MCID_6927d6e7fee3e90f880ec190")
    (rec,) = pubmed.efetch_records(pubmed._read("x", (ENTREZ / "pubmed4.xml").read_bytes()), "x")
    assert (rec.source_id, rec.doi, rec.year, rec.entry_date, rec.report_type) == (
        "27797938", "10.1136/gutjnl-2016-312510", 2017, "2016-11-01", "full paper")
    assert rec.title.startswith("Leucocyte telomere length, genetic variants at the TERT gene region")
    with pytest.raises(Exception, match="^pubmed: malformed E-utilities response"):
        pubmed._read("efetch page 1", b"<html>502</html>")


def test_europepmc_parser_on_recorded_core_page():
    doc, recs = europepmc.parse_page((EPMC / "search_cancer_core.json").read_bytes(), "page 1")
    assert (doc["hitCount"], len(recs), doc["nextCursorMark"]) == (5059039, 25, "AoIIP4ZawSg1MzEyODI1MA==")
    first, erratum = recs[0], recs[1]
    assert (first.source_id, first.pmid, first.doi, first.year, first.entry_date) == (
        "MED:39709209", "39709209", "10.1016/s0140-6736(24)02600-x", 2025, "2024-12-22")
    assert erratum.title == "Department of Error." and erratum.report_type == "other"
    assert recs[2].abstract.startswith("Objective This study investigated")  # <h4> tags removed
    lite_doc, lite = europepmc.parse_page((EPMC / "search_cancer_page2.json").read_bytes(), "page 1")
    assert [r.source_id for r in lite] == [r.source_id for r in recs[:5]]  # lite and core agree on ids


def test_europepmc_paging_ends_on_an_empty_page_or_when_hitcount_is_reached():
    from datetime import date

    page = json.loads((EPMC / "search_cancer_page2.json").read_text(encoding="utf-8"))  # 5 records, a next cursor
    cursor = page["nextCursorMark"]
    empty = dict(page, resultList={"result": []})
    # hitCount 6 but the next page is empty: paging ends there, and 5 != 6 is an error naming the source
    t = ScriptedTransport([
        ("europepmc", "search", {"cursorMark": "*", "pageSize": "5"}, json.dumps(dict(page, hitCount=6)).encode()),
        ("europepmc", "search", {"cursorMark": cursor}, json.dumps(dict(empty, hitCount=6)).encode())])
    with pytest.raises(Exception, match="^europepmc: hitCount 6 but 5 records were returned"):
        europepmc.fetch("cancer", "CREATION_DATE", date(2024, 1, 1), date(2024, 1, 2), t, page_size=5)
    assert t.done()
    # hitCount 5 reached on the first page: no second request
    t = ScriptedTransport([("europepmc", "search", {"cursorMark": "*"}, json.dumps(dict(page, hitCount=5)).encode())])
    res = europepmc.fetch("cancer", "CREATION_DATE", date(2024, 1, 1), date(2024, 1, 2), t, page_size=5)
    assert t.done() and len(res.records) == 5 and res.reported_count == 5


# --- raw responses and atomic writes -----------------------------------------------------------------------------

def test_envelope_round_trip_keeps_bytes_and_drops_secrets(tmp_path):
    req = Request("pubmed", "efetch", "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/efetch.fcgi",
                  (("db", "pubmed"), ("email", "me@example.org"), ("api_key", "secret")))
    pages = [RawPage(req, (ENTREZ / "pubmed2.xml").read_bytes()), RawPage(req, b"\xff\xfe not utf-8")]
    data = envelope_bytes("pubmed-20260101T000000Z", "pubmed", pages)
    assert data == envelope_bytes("pubmed-20260101T000000Z", "pubmed", pages)  # deterministic (gzip mtime 0)
    path = tmp_path / "e.json.gz"
    path.write_bytes(data)
    doc, back = read_envelope(path)
    assert [p.body for p in back] == [p.body for p in pages]
    assert doc["pages"][1]["encoding"] == "base64"
    assert b"secret" not in data and "me@example.org" not in json.dumps(doc)
    assert req.as_url() == "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/efetch.fcgi?db=pubmed"


def test_staging_restores_every_file_if_a_rename_fails(tmp_path, monkeypatch):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("old a", encoding="utf-8")
    st = Staging()
    st.put(a, b"new a")
    st.put(b, b"new b")
    st.put(tmp_path / "sub" / "c.json.gz", b"new c")
    real, calls = os.replace, []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(OSError, match="disk full"):
        st.commit()
    monkeypatch.setattr(os, "replace", real)
    assert a.read_text(encoding="utf-8") == "old a" and not b.exists()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["a.csv"]


# --- guard rails -------------------------------------------------------------------------------------------------

def test_importing_the_package_stays_light():
    code = ("import sys, livingreview.surveillance; "
            "heavy = {'pandas', 'numpy', 'scipy', 'Bio', 'matplotlib'} & {m.split('.')[0] for m in sys.modules}; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_layering_surveillance_imports_only_stdlib_config_the_dataset_and_itself():
    allowed_project = {"livingreview.config", "livingreview.dataset", "livingreview.surveillance"}
    stdlib = set(sys.stdlib_module_names)
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            for name in names:
                top = name.split(".")[0]
                if top == "livingreview":
                    assert any(name == p or name.startswith(p + ".") for p in allowed_project), (path, name)
                else:
                    assert top in stdlib or top == "Bio", (path, name)


def test_module_entry_point_init_then_validate(tmp_path):
    data = tmp_path / "data"
    run = lambda *args: subprocess.run([sys.executable, "-m", "livingreview.surveillance", "--data", str(data), *args],  # noqa: E731
                                       cwd=ROOT, capture_output=True, text=True)
    first = run("init")
    assert first.returncode == 0 and first.stdout.count("init: wrote") == 4
    checked = run("validate")
    assert (checked.returncode, checked.stdout.strip(), checked.stderr) == (0, "validate: 0 problem(s)", "")
    (data / "screening.csv").write_text("decision_id\n1\n", encoding="utf-8")
    broken = run("validate")
    assert broken.returncode == 2
    assert "screening.csv, line 1, column 'record_id': rule 'column present'" in broken.stderr
