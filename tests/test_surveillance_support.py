"""Shared helpers of the surveillance tests (no tests here): recorded-response transport, clock, data directories.

The three recorded searches of the scenario (run 1, a same-day rerun, run 3 a month later) are scripted request by
request: each expected request names its source, endpoint and the parameters that must be sent, and the fixture
file that answers it (tests/fixtures/surveillance/README.md says where each file comes from).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "surveillance"
ENTREZ, EPMC, SCEN = FIXTURES / "entrez", FIXTURES / "europepmc", FIXTURES / "scenario"

QUERY = ('("acute lymphoblastic leukemia" OR "precursor cell lymphoblastic leukemia lymphoma") AND '
         '("Inotuzumab Ozogamicin" OR "CMC-544" OR "Besponsa")')


class ScriptedTransport:
    """Answers each request with the next scripted fixture, after checking the request is the one expected."""

    def __init__(self, steps):
        self.steps = list(steps)
        self.seen = []

    def __call__(self, request):
        assert self.steps, f"unexpected request {request.as_url()}"
        source, endpoint, expected, answer = self.steps.pop(0)
        self.seen.append(request)
        assert (request.source, request.endpoint) == (source, endpoint), (request.source, request.endpoint)
        params = dict(request.params)
        for k, v in expected.items():
            assert params.get(k) == v, f"{source} {endpoint}: {k}={params.get(k)!r}, expected {v!r}"
        if isinstance(answer, BaseException):
            raise answer
        return answer.read_bytes() if isinstance(answer, Path) else answer

    def done(self):
        return not self.steps


def clock(iso: str):
    t = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return lambda: t


def make_data_dir(tmp_path: Path, strategies=None) -> Path:
    """A data directory with the default strategies, empty tables, and the studies/versions the keys may name."""
    from livingreview.surveillance import init

    data = tmp_path / "data"
    data.mkdir(parents=True)
    init(data, strategies) if strategies is not None else init(data)
    (data / "studies.csv").write_text("study_id,label\nnewstudy2025,New study\nkantarjian2019_inovate,INO-VATE\n",
                                      encoding="utf-8")
    (data / "versions.csv").write_text("data_version,date,search_date,description\n1,2026-11-21,2024-12-02,paper\n"
                                       "2,2026-11-21,2026-11-21,update\n", encoding="utf-8")
    return data


def snapshot(directory: Path) -> dict:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def run1_steps(page_size_pubmed=2):
    """First search: window 2024-12-02..2026-11-21, PubMed 4 records in 2 pages, Europe PMC 4 in 2, CT.gov 3 in 2."""
    return [
        ("pubmed", "esearch", {"term": QUERY, "datetype": "edat", "mindate": "2024/12/02", "maxdate": "2026/11/21",
                               "usehistory": "y"}, SCEN / "pubmed_esearch_count4.xml"),
        ("pubmed", "efetch", {"WebEnv": "MCID_constructed_run1", "query_key": "1", "retstart": "0",
                              "retmax": str(page_size_pubmed)}, ENTREZ / "pubmed1.xml"),
        ("pubmed", "efetch", {"retstart": "2"}, ENTREZ / "pubmed2.xml"),
        ("europepmc", "search", {"query": f"({QUERY}) AND CREATION_DATE:[2024-12-02 TO 2026-11-21]",
                                 "cursorMark": "*", "resultType": "core", "format": "json"},
         SCEN / "europepmc_page1.json"),
        ("europepmc", "search", {"cursorMark": "AoIIQConstructed1"}, SCEN / "europepmc_page2.json"),
        ("ctgov", "studies", {"query.term": QUERY,
                              "filter.advanced": "AREA[LastUpdatePostDate]RANGE[2024-12-02,2026-11-21]",
                              "countTotal": "true"}, SCEN / "ctgov_page1.json"),
        ("ctgov", "studies", {"pageToken": "NF0g5JKClvQ"}, SCEN / "ctgov_page2.json"),
    ]


def rerun_steps():
    """Same day again: window 2026-11-21..2026-11-21; PubMed returns two records already seen, the others none."""
    return [
        ("pubmed", "esearch", {"mindate": "2026/11/21", "maxdate": "2026/11/21"}, SCEN / "pubmed_esearch_count2.xml"),
        ("pubmed", "efetch", {"WebEnv": "MCID_constructed_run2", "retstart": "0"}, ENTREZ / "pubmed1.xml"),
        ("europepmc", "search", {"query": f"({QUERY}) AND CREATION_DATE:[2026-11-21 TO 2026-11-21]"},
         EPMC / "search_no_results.json"),
        ("ctgov", "studies", {"filter.advanced": "AREA[LastUpdatePostDate]RANGE[2026-11-21,2026-11-21]"},
         SCEN / "ctgov_empty.json"),
    ]


def run3_steps():
    """A month later: window 2026-11-21..2026-12-21; one new PubMed record; a registry record updated."""
    return [
        ("pubmed", "esearch", {"mindate": "2026/11/21", "maxdate": "2026/12/21"}, SCEN / "pubmed_esearch_count1.xml"),
        ("pubmed", "efetch", {"WebEnv": "MCID_constructed_run3", "retstart": "0"}, ENTREZ / "pubmed4.xml"),
        ("europepmc", "search", {"query": f"({QUERY}) AND CREATION_DATE:[2026-11-21 TO 2026-12-21]"},
         EPMC / "search_no_results.json"),
        ("ctgov", "studies", {"filter.advanced": "AREA[LastUpdatePostDate]RANGE[2026-11-21,2026-12-21]"},
         SCEN / "ctgov_run3.json"),
    ]


def quiet(*_):
    return None
