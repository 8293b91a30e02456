"""search(): paging, windows, raw responses, de-duplication in a run, reruns, failures that change nothing."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import socket
import urllib.error
from datetime import date

import pytest

pytest.importorskip("Bio.Entrez")  # biopython==1.88 (requirements: see the surveillance report)

from livingreview.surveillance import (HttpTransport, NoNetworkError, SourceError, SurveillanceError, main,  # noqa: E402
                                       search, validate_tables)
from livingreview.surveillance.store import read_envelope  # noqa: E402
from test_surveillance_support import (ENTREZ, EPMC, QUERY, SCEN, ScriptedTransport, clock, make_data_dir,  # noqa: E402
                                       quiet, rerun_steps, run1_steps, run3_steps, snapshot)

T1, T2, T3 = "2026-11-21T09:30:00Z", "2026-11-21T10:00:00Z", "2026-12-21T08:00:00Z"


def rows(data, name):
    with open(data / f"{name}.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def run1(data):
    t = ScriptedTransport(run1_steps())
    report = search(data, transport=t, clock=clock(T1), log=quiet, page_size=2)
    assert t.done(), "not every scripted page was requested"
    return report


def test_first_run_pages_every_source_and_records_every_record(tmp_path):
    data = make_data_dir(tmp_path)
    report = run1(data)
    runs = rows(data, "search_runs")
    assert [(r["run_id"], r["source"], r["window_start"], r["window_end"], r["records_retrieved"], r["records_new"],
             r["records_duplicate"], r["status"]) for r in runs] == [
        ("pubmed-20261121T093000Z", "pubmed", "2024-12-02", "2026-11-21", "4", "4", "0", "ok"),
        ("europepmc-20261121T093000Z", "europepmc", "2024-12-02", "2026-11-21", "4", "1", "3", "ok"),
        ("ctgov-20261121T093000Z", "ctgov", "2024-12-02", "2026-11-21", "3", "3", "0", "ok")]
    assert all(r["run_at"] == T1 and r["data_version"] == "" and r["query"] == QUERY for r in runs)
    assert runs[0]["request"].startswith("https://eutils.ncbi.nlm.nih.gov/entrez/eutils/esearch.fcgi?db=pubmed&term=")
    assert "email" not in runs[0]["request"] and "api_key" not in runs[0]["request"]
    recs = rows(data, "records")
    assert [r["record_id"] for r in recs] == [
        "pubmed:12091962", "pubmed:9997", "pubmed:11748933", "pubmed:11700088",
        "europepmc:MED:11748933", "europepmc:CBA:CBA000001", "europepmc:PPR:PPR100001", "europepmc:PPR:PPR200002",
        "ctgov:NCT09000001", "ctgov:NCT09000002", "ctgov:NCT09000003"]
    dup = {r["record_id"]: (r["duplicate_of"], r["duplicate_by"]) for r in recs if r["duplicate_of"]}
    assert dup == {"europepmc:MED:11748933": ("pubmed:11748933", "pmid"),
                   "europepmc:CBA:CBA000001": ("pubmed:11700088", "doi"),
                   "europepmc:PPR:PPR100001": ("pubmed:9997", "title_year")}
    by_id = {r["record_id"]: r for r in recs}
    assert by_id["pubmed:9997"]["doi"] == "10.1016/0005-2795(76)90109-4"
    assert by_id["pubmed:9997"]["entry_date"] == "1976-09-28" and by_id["pubmed:9997"]["year"] == "1976"
    assert by_id["europepmc:CBA:CBA000001"]["doi"] == "10.1006/jmre.2001.2429"  # prefix removed, lower case
    assert by_id["europepmc:PPR:PPR200002"]["report_type"] == "preprint"
    assert by_id["ctgov:NCT09000003"]["report_type"] == "registry record"
    assert by_id["ctgov:NCT09000003"]["entry_date"] == "2026-03-02"  # the LastUpdatePostDate of the window
    assert report.records_new == 8 and report.awaiting_screening == 8
    assert validate_tables(data) == []


def test_raw_responses_are_stored_verbatim_with_their_sha256(tmp_path):
    data = make_data_dir(tmp_path)
    run1(data)
    run = rows(data, "search_runs")[0]
    path = data / run["response_file"]
    assert run["response_file"] == "search_responses/pubmed-20261121T093000Z.json.gz"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == run["response_sha256"]
    doc, pages = read_envelope(path)
    assert [p.request.endpoint for p in pages] == ["esearch", "efetch", "efetch"]
    assert pages[1].body == (ENTREZ / "pubmed1.xml").read_bytes()  # byte for byte
    assert pages[2].body == (ENTREZ / "pubmed2.xml").read_bytes()
    assert doc["pages"][1]["params"][:3] == [["db", "pubmed"], ["query_key", "1"], ["WebEnv", "MCID_constructed_run1"]]
    assert json.loads(gzip.decompress(path.read_bytes()))["run_id"] == "pubmed-20261121T093000Z"


def test_same_pages_give_the_same_bytes(tmp_path):
    a, b = make_data_dir(tmp_path / "a"), make_data_dir(tmp_path / "b")
    run1(a)
    run1(b)
    assert snapshot(a) == snapshot(b)


def test_rerun_finds_nothing_new_and_still_records_its_runs(tmp_path):
    data = make_data_dir(tmp_path)
    run1(data)
    t = ScriptedTransport(rerun_steps())
    report = search(data, transport=t, clock=clock(T2), log=quiet)
    assert t.done()
    runs = rows(data, "search_runs")[3:]
    assert [(r["source"], r["window_start"], r["window_end"], r["records_retrieved"], r["records_new"])
            for r in runs] == [("pubmed", "2026-11-21", "2026-11-21", "2", "0"),
                               ("europepmc", "2026-11-21", "2026-11-21", "0", "0"),
                               ("ctgov", "2026-11-21", "2026-11-21", "0", "0")]
    recs = rows(data, "records")
    assert [(r["record_id"], r["duplicate_of"], r["duplicate_by"]) for r in recs[11:]] == [
        ("pubmed:12091962@pubmed-20261121T100000Z", "pubmed:12091962", "source_id"),
        ("pubmed:9997@pubmed-20261121T100000Z", "pubmed:9997", "source_id")]
    assert report.records_new == 0
    assert validate_tables(data) == []


def test_next_window_starts_at_the_end_of_the_last_successful_run(tmp_path):
    data = make_data_dir(tmp_path)
    run1(data)
    t = ScriptedTransport(run3_steps())
    search(data, transport=t, clock=clock(T3), log=quiet)
    assert t.done()
    recs = rows(data, "records")[11:]
    assert [(r["record_id"], r["duplicate_of"]) for r in recs] == [
        ("pubmed:27797938", ""), ("ctgov:NCT09000001@ctgov-20261221T080000Z", "ctgov:NCT09000001")]
    assert recs[1]["entry_date"] == "2026-12-01"


def test_since_until_and_source_selection(tmp_path):
    data = make_data_dir(tmp_path)
    t = ScriptedTransport([("ctgov", "studies", {"filter.advanced": "AREA[LastUpdatePostDate]RANGE[2025-01-01,"
                                                                    "2025-01-31]"}, SCEN / "ctgov_empty.json")])
    search(data, sources=["ctgov"], since="2025-01-01", until=date(2025, 1, 31), transport=t, clock=clock(T1),
           log=quiet)
    assert t.done()
    assert [r["source"] for r in rows(data, "search_runs")] == ["ctgov"]
    with pytest.raises(SurveillanceError, match="window start 2025-02-01 is after its end 2025-01-31"):
        search(data, sources="ctgov", since="2025-02-01", until="2025-01-31", transport=t, clock=clock(T1), log=quiet)
    with pytest.raises(SurveillanceError, match="unknown source"):
        search(data, sources=["embase"], transport=t, clock=clock(T1), log=quiet)


def test_empty_results_record_a_run_with_zero_records(tmp_path):
    data = make_data_dir(tmp_path)
    t = ScriptedTransport([("pubmed", "esearch", {}, ENTREZ / "esearch8.xml")])  # Biopython's "No items found."
    report = search(data, sources="pubmed", transport=t, clock=clock(T1), log=quiet)
    assert t.done(), "no efetch may follow a Count of 0"
    run = rows(data, "search_runs")[0]
    assert (run["records_retrieved"], run["records_new"], run["records_duplicate"]) == ("0", "0", "0")
    assert rows(data, "records") == []
    assert report.runs[0].records_retrieved == 0
    assert validate_tables(data) == []


@pytest.mark.parametrize("source,steps,message", [
    ("pubmed", [("pubmed", "esearch", {}, SCEN / "pubmed_esearch_count4.xml"),
                ("pubmed", "efetch", {}, SCEN / "pubmed_efetch_not_xml.html")],
     r"^pubmed: malformed E-utilities response \(efetch page 1\)"),
    ("europepmc", [("europepmc", "search", {}, SCEN / "europepmc_truncated.json")],
     r"^europepmc: malformed search response \(page 1\): JSONDecodeError"),
    ("europepmc", [("europepmc", "search", {}, SCEN / "europepmc_hitcount_mismatch.json")],
     r"^europepmc: hitCount 5 but 1 records were returned"),
    ("ctgov", [("ctgov", "studies", {}, SCEN / "ctgov_no_studies_key.json")],
     r"^ctgov: malformed studies response \(page 1\): KeyError: 'studies'"),
    ("pubmed", [("pubmed", "esearch", {}, ENTREZ / "esearch2.xml")],  # Count 42249: more than E-utilities gives
     r"^pubmed: the window 2024-12-02..2026-11-21 has 42249 records"),
])
def test_malformed_response_names_the_source_and_changes_nothing(tmp_path, source, steps, message):
    data = make_data_dir(tmp_path)
    run1(data)
    before = snapshot(data)
    with pytest.raises(SourceError, match=message) as info:
        search(data, sources=source, transport=ScriptedTransport(steps), clock=clock(T2), log=quiet,
               since="2024-12-02")
    assert str(info.value).endswith("nothing was changed") and "\n" not in str(info.value)
    assert snapshot(data) == before


def test_failure_in_a_later_source_writes_nothing_of_the_earlier_ones(tmp_path):
    data = make_data_dir(tmp_path)
    before = snapshot(data)
    steps = run1_steps()[:5] + [("ctgov", "studies", {}, SCEN / "ctgov_no_studies_key.json")]
    with pytest.raises(SourceError, match="^ctgov: "):
        search(data, transport=ScriptedTransport(steps), clock=clock(T1), log=quiet, page_size=2)
    assert snapshot(data) == before
    assert not (data / "search_responses").exists()


def test_on_error_record_keeps_the_other_sources_and_does_not_advance_the_window(tmp_path):
    data = make_data_dir(tmp_path)
    steps = run1_steps()[:3] + [("europepmc", "search", {}, SCEN / "europepmc_truncated.json")] + run1_steps()[5:]
    report = search(data, transport=ScriptedTransport(steps), clock=clock(T1), log=quiet, page_size=2,
                    on_error="record")
    runs = rows(data, "search_runs")
    assert [(r["source"], r["status"]) for r in runs] == [("pubmed", "ok"), ("europepmc", "failed"), ("ctgov", "ok")]
    assert runs[1]["failure_reason"].startswith("malformed search response (page 1)")
    assert runs[1]["records_retrieved"] == "" and runs[1]["response_file"]  # the broken page is kept as evidence
    assert "FAILED" in report.runs[1].line()
    assert validate_tables(data) == []
    t = ScriptedTransport([("europepmc", "search", {"query": f"({QUERY}) AND CREATION_DATE:[2024-12-02 TO "
                                                             f"2026-11-21]"}, EPMC / "search_no_results.json")])
    search(data, sources="europepmc", transport=t, clock=clock(T2), log=quiet)
    assert t.done()  # the failed run did not move the window: it starts at first_window_start again


def test_no_network_stops_with_one_line_and_changes_nothing(tmp_path, monkeypatch, capsys):
    data = make_data_dir(tmp_path)
    run1(data)
    before = snapshot(data)

    def no_dns(host, *a, **k):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    code = main(["--data", str(data), "search"], transport=HttpTransport(timeout=1), clock=clock(T2))
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.splitlines() == ["search: no network: cannot reach eutils.ncbi.nlm.nih.gov ([Errno -2] Name or "
                                "service not known); nothing was changed"]
    assert snapshot(data) == before


def test_connection_refused_or_timeout_mid_search_changes_nothing(tmp_path, monkeypatch):
    data = make_data_dir(tmp_path)
    before = snapshot(data)

    def refused(req, timeout=None):
        raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))

    monkeypatch.setattr("urllib.request.urlopen", refused)
    http = HttpTransport(timeout=1)
    steps = run1_steps()[:3]
    scripted = ScriptedTransport(steps)

    def transport(request):  # PubMed answers from the recordings, then Europe PMC's host refuses
        return scripted(request) if request.source == "pubmed" else http(request)

    with pytest.raises(NoNetworkError) as info:
        search(data, transport=transport, clock=clock(T1), log=quiet, page_size=2)
    assert str(info.value) == ("search: no network: cannot reach www.ebi.ac.uk ([Errno 111] Connection refused); "
                               "nothing was changed")
    assert snapshot(data) == before


def test_entrez_transport_maps_network_errors(monkeypatch):
    from Bio import Entrez

    def boom(**params):
        assert "email" not in params or params["email"] == "x@example.org"
        raise urllib.error.URLError(socket.timeout("timed out"))

    monkeypatch.setattr(Entrez, "esearch", boom)
    from livingreview.surveillance.sources.pubmed import esearch_request

    req = esearch_request(QUERY, "edat", date(2025, 1, 1), date(2025, 1, 2))
    with pytest.raises(NoNetworkError, match=r"cannot reach eutils.ncbi.nlm.nih.gov \(timed out\)"):
        HttpTransport(email="x@example.org")(req)


def test_search_without_strategies_says_how_to_start(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SurveillanceError, match="python -m livingreview.surveillance init"):
        search(tmp_path / "empty", transport=ScriptedTransport([]), log=quiet)


def test_invalid_tables_are_refused_before_searching(tmp_path):
    data = make_data_dir(tmp_path)
    text = (data / "search_strategies.csv").read_text(encoding="utf-8").replace(",edat,", ",pdat,")
    (data / "search_strategies.csv").write_text(text, encoding="utf-8")
    before = snapshot(data)
    with pytest.raises(SurveillanceError, match="column 'date_field': rule 'allowed values' broken"):
        search(data, transport=ScriptedTransport([]), clock=clock(T1), log=quiet)
    assert snapshot(data) == before


def test_log_lines_summarise_each_run(tmp_path):
    data = make_data_dir(tmp_path)
    lines = []
    search(data, transport=ScriptedTransport(run1_steps()), clock=clock(T1), log=lines.append, page_size=2)
    assert lines == [
        "pubmed: 2024-12-02..2026-11-21: 4 retrieved, 4 new, 0 duplicates (run pubmed-20261121T093000Z)",
        "europepmc: 2024-12-02..2026-11-21: 4 retrieved, 1 new, 3 duplicates (run europepmc-20261121T093000Z)",
        "ctgov: 2024-12-02..2026-11-21: 3 retrieved, 3 new, 0 duplicates (run ctgov-20261121T093000Z)",
        "search: 8 new record(s); 8 awaiting title-abstract screening"]
