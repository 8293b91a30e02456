"""ClinicalTrials.gov Data API v2: ``GET https://clinicaltrials.gov/api/v2/studies``.

Parameters: ``query.term=<strategy query>`` (Essie expression syntax), ``filter.advanced=AREA[<DateField>]RANGE[
YYYY-MM-DD,YYYY-MM-DD]`` (inclusive), ``pageSize=1000`` (the maximum), ``countTotal=true`` (``totalCount`` on the
first page), ``format=json``, then ``pageToken=<nextPageToken>`` until a page has no ``nextPageToken``.

Date fields: ``StudyFirstPostDate`` (first posted: new registrations only) or ``LastUpdatePostDate`` (any posted
update, so a record seen before comes back when its results are posted; it is then flagged a duplicate of its
first retrieval, and the window still catches every new registration, whose last update is at least its first
posting). The records read must number ``totalCount``, else ``SourceError``.
"""

from __future__ import annotations

import json
from datetime import date

from livingreview.surveillance.errors import SourceError
from livingreview.surveillance.ids import normalise_nct
from livingreview.surveillance.sources import FoundRecord, RawPage, SourceResult, clean_text, year_of
from livingreview.surveillance.transport import Request

SOURCE = "ctgov"
URL = "https://clinicaltrials.gov/api/v2/studies"
HOST = "clinicaltrials.gov"
PAGE_SIZE = 1000
MAX_PAGES = 1000

#: Date field of the window -> the struct in statusModule that holds its value.
DATE_STRUCTS = {"LastUpdatePostDate": "lastUpdatePostDateStruct", "StudyFirstPostDate": "studyFirstPostDateStruct"}


def studies_request(query: str, date_field: str, start: date, end: date, page_size: int, token: str | None
                    ) -> Request:
    params = [("query.term", query), ("filter.advanced", f"AREA[{date_field}]RANGE[{start.isoformat()},"
                                                           f"{end.isoformat()}]"),
              ("pageSize", str(page_size)), ("countTotal", "true"), ("format", "json")]
    if token:
        params.append(("pageToken", token))
    return Request(SOURCE, "studies", URL, tuple(params))


def study_record(study: dict, date_field: str = "LastUpdatePostDate") -> FoundRecord:
    proto = study["protocolSection"]
    ident = proto["identificationModule"]
    nct = normalise_nct(ident["nctId"])
    if nct is None:
        raise ValueError(f"nctId {ident.get('nctId')!r}")
    status = proto.get("statusModule", {})
    first_posted = status.get("studyFirstPostDateStruct", {}).get("date")
    entry = status.get(DATE_STRUCTS.get(date_field, ""), {}).get("date")
    return FoundRecord(
        source=SOURCE, source_id=nct, nct_id=nct, title=clean_text(ident.get("briefTitle") or
                                                                    ident.get("officialTitle")),
        year=year_of(first_posted), entry_date=entry if entry and len(entry) == 10 else None,
        report_type="registry record", abstract=clean_text(proto.get("descriptionModule", {}).get("briefSummary")))


def parse_page(body: bytes, where: str, date_field: str) -> tuple[dict, list[FoundRecord]]:
    try:
        doc = json.loads(body.decode("utf-8"))
        studies = doc["studies"]
        if not isinstance(studies, list):
            raise TypeError("studies is not a list")
        records = [study_record(s, date_field) for s in studies]
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise SourceError(SOURCE, f"malformed studies response ({where}): {type(exc).__name__}: "
                                  f"{' '.join(str(exc).split())[:200]}") from None
    return doc, records


def fetch(query: str, date_field: str, start: date, end: date, transport, page_size: int | None = None
          ) -> SourceResult:
    page_size = page_size or PAGE_SIZE
    token, pages, records, total, first = None, [], [], None, None
    for n in range(1, MAX_PAGES + 1):
        req = studies_request(query, date_field, start, end, page_size, token)
        first = first or req
        pages.append(RawPage(req, transport(req)))
        try:
            doc, got = parse_page(pages[-1].body, f"page {n}", date_field)
        except SourceError as exc:
            raise SourceError(SOURCE, exc.message, pages) from None
        if n == 1:
            if "totalCount" not in doc:
                raise SourceError(SOURCE, "malformed studies response (page 1): no totalCount although "
                                          "countTotal=true", pages)
            total = int(doc["totalCount"])
        records += got
        token = doc.get("nextPageToken")
        if not token:
            break
    else:
        raise SourceError(SOURCE, f"more than {MAX_PAGES} pages; narrow the window", pages)
    if len(records) != total:
        raise SourceError(SOURCE, f"totalCount {total} but {len(records)} studies were returned", pages)
    return SourceResult(SOURCE, tuple(records), tuple(pages), total, first.as_url())


def records_from_pages(pages, date_field: str = "LastUpdatePostDate") -> list[FoundRecord]:
    out = []
    for i, page in enumerate(pages, 1):
        out += parse_page(page.body, f"page {i}", date_field)[1]
    return out
