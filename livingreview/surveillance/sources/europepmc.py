"""Europe PMC REST API: ``GET https://www.ebi.ac.uk/europepmc/webservices/rest/search``.

Parameters: ``query=(<strategy query>) AND <DATE_FIELD>:[YYYY-MM-DD TO YYYY-MM-DD]``, ``resultType=core``,
``format=json``, ``pageSize=1000`` (the maximum), ``cursorMark=*`` then each response's ``nextCursorMark``.
``CREATION_DATE`` is "the date of entry into the Europe PMC database" (Europe PMC Web Service Reference, Appendix 1);
``FIRST_IDATE`` is the first index date (returned as ``firstIndexDate``). The range is inclusive at both ends.

Paging stops at a page with no results, or when ``nextCursorMark`` is absent or equal to the cursor just sent;
the records read must then number ``hitCount``, else ``SourceError``. Records are ``<source>:<id>`` (``MED:...``,
``PMC:...``, ``PPR:...`` preprints, ``AGR:...``); MED records carry their PMID, so they de-duplicate against PubMed.
"""

from __future__ import annotations

import json
from datetime import date

from livingreview.surveillance.errors import SourceError
from livingreview.surveillance.ids import normalise_doi, normalise_pmid
from livingreview.surveillance.sources import FoundRecord, RawPage, SourceResult, clean_text, year_of
from livingreview.surveillance.transport import Request

SOURCE = "europepmc"
URL = "https://www.ebi.ac.uk/europepmc/webservices/rest/search"
HOST = "www.ebi.ac.uk"
PAGE_SIZE = 1000
MAX_PAGES = 1000

_OTHER = ("erratum", "correction", "comment", "editorial", "letter", "news", "retraction")


def windowed_query(query: str, date_field: str, start: date, end: date) -> str:
    return f"({query}) AND {date_field}:[{start.isoformat()} TO {end.isoformat()}]"


def search_request(query: str, cursor: str, page_size: int) -> Request:
    return Request(SOURCE, "search", URL, (("query", query), ("resultType", "core"), ("format", "json"),
                                          ("pageSize", str(page_size)), ("cursorMark", cursor)))


def _pub_types(item) -> list[str]:
    lst = item.get("pubTypeList")
    if isinstance(lst, dict):
        types = lst.get("pubType") or []
        return [str(t) for t in (types if isinstance(types, list) else [types])]
    if item.get("pubType"):  # lite results: "research-article; journal article"
        return [t.strip() for t in str(item["pubType"]).split(";")]
    return []


def _report_type(item) -> str:
    if str(item.get("source", "")).upper() == "PPR":
        return "preprint"
    kinds = [t.lower() for t in _pub_types(item)]
    if any("congress" in k or "meeting abstract" in k or "conference" in k for k in kinds):
        return "conference abstract"
    if kinds and all(any(o in k for o in _OTHER) for k in kinds):
        return "other"
    return "full paper"


def result_record(item: dict) -> FoundRecord:
    src, rid = item.get("source"), item.get("id")
    if not src or not rid:
        raise KeyError("source/id")
    return FoundRecord(
        source=SOURCE, source_id=f"{src}:{rid}", pmid=normalise_pmid(item.get("pmid")),
        doi=normalise_doi(item.get("doi")), title=clean_text(item.get("title")), year=year_of(item.get("pubYear")),
        entry_date=(item.get("firstIndexDate") or None), report_type=_report_type(item),
        abstract=clean_text(item.get("abstractText")))


def parse_page(body: bytes, where: str) -> tuple[dict, list[FoundRecord]]:
    try:
        doc = json.loads(body.decode("utf-8"))
        hit_count = int(doc["hitCount"])
        items = doc.get("resultList", {}).get("result", [])
        if not isinstance(items, list):
            raise TypeError("resultList.result is not a list")
        records = [result_record(it) for it in items]
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise SourceError(SOURCE, f"malformed search response ({where}): {type(exc).__name__}: "
                                  f"{' '.join(str(exc).split())[:200]}") from None
    doc["hitCount"] = hit_count
    return doc, records


def fetch(query: str, date_field: str, start: date, end: date, transport, page_size: int | None = None
          ) -> SourceResult:
    page_size = page_size or PAGE_SIZE
    q = windowed_query(query, date_field, start, end)
    cursor, pages, records, hit_count, first = "*", [], [], None, None
    for n in range(1, MAX_PAGES + 1):
        req = search_request(q, cursor, page_size)
        first = first or req
        pages.append(RawPage(req, transport(req)))
        try:
            doc, got = parse_page(pages[-1].body, f"page {n}")
        except SourceError as exc:
            raise SourceError(SOURCE, exc.message, pages) from None
        hit_count = doc["hitCount"] if hit_count is None else hit_count
        records += got
        nxt = doc.get("nextCursorMark")
        if not got or not nxt or nxt == cursor or len(records) >= hit_count:
            break
        cursor = nxt
    else:
        raise SourceError(SOURCE, f"more than {MAX_PAGES} pages; narrow the window", pages)
    if len(records) != hit_count:
        raise SourceError(SOURCE, f"hitCount {hit_count} but {len(records)} records were returned", pages)
    return SourceResult(SOURCE, tuple(records), tuple(pages), hit_count, first.as_url())


def records_from_pages(pages) -> list[FoundRecord]:
    out = []
    for i, page in enumerate(pages, 1):
        out += parse_page(page.body, f"page {i}")[1]
    return out
