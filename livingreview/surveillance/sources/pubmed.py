"""PubMed through NCBI E-utilities, parsed with Biopython's ``Bio.Entrez``.

One search = ESearch with the history server, then EFetch pages from it (E-utilities "Application 3: retrieving
large data sets"):

1. ``esearch.fcgi?db=pubmed&term=<query>&datetype=edat&mindate=YYYY/MM/DD&maxdate=YYYY/MM/DD&usehistory=y&retmax=0``
   -> ``Count``, ``WebEnv``, ``QueryKey``. ``datetype=edat`` is the Entrez date (when the record entered PubMed), so
   a record indexed late, whatever its publication date, falls in the window of the day it entered. ``mindate`` and
   ``maxdate`` are inclusive.
2. ``efetch.fcgi?db=pubmed&query_key=..&WebEnv=..&retstart=0,page,2*page..&retmax=page&retmode=xml`` until
   ``Count`` records have been read. Each page is a ``PubmedArticleSet``.

Both responses are read with ``Bio.Entrez.read`` (DTD-validated). A response that does not parse, an esearch
without ``WebEnv``/``QueryKey`` when records exist, or a total that differs from ``Count`` is a ``SourceError``.
Windows with more than 10,000 records are refused (E-utilities' limit): split the window.
"""

from __future__ import annotations

import io
from datetime import date

from livingreview.surveillance.errors import SourceError
from livingreview.surveillance.ids import normalise_doi, normalise_pmid
from livingreview.surveillance.sources import FoundRecord, RawPage, SourceResult, clean_text, first_nct, year_of
from livingreview.surveillance.transport import Request

SOURCE = "pubmed"
BASE = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
HOST = "eutils.ncbi.nlm.nih.gov"
PAGE_SIZE = 200
MAX_RECORDS = 10_000

#: PubMed publication types that make a record something other than a full paper.
_OTHER_TYPES = {"published erratum", "comment", "editorial", "letter", "news", "retraction of publication",
                "retracted publication", "expression of concern", "interview", "biography", "portrait"}
_ABSTRACT_TYPES = {"congress", "meeting abstract", "congresses"}


def _read(source_page: str, body: bytes):
    from Bio import Entrez  # lazy: importing the surveillance package does not import Biopython

    try:
        return Entrez.read(io.BytesIO(body))
    except Exception as exc:  # ExpatError, ValidationError, CorruptedXMLError, NotXMLError, RuntimeError(<ERROR>)
        raise SourceError(SOURCE, f"malformed E-utilities response ({source_page}): {type(exc).__name__}: "
                                  f"{' '.join(str(exc).split())[:200]}") from None


def esearch_request(query: str, date_field: str, start: date, end: date) -> Request:
    return Request(SOURCE, "esearch", BASE + "esearch.fcgi", (
        ("db", "pubmed"), ("term", query), ("datetype", date_field),
        ("mindate", start.strftime("%Y/%m/%d")), ("maxdate", end.strftime("%Y/%m/%d")),
        ("usehistory", "y"), ("retmax", "0")))


def efetch_request(webenv: str, query_key: str, retstart: int, retmax: int) -> Request:
    return Request(SOURCE, "efetch", BASE + "efetch.fcgi", (
        ("db", "pubmed"), ("query_key", query_key), ("WebEnv", webenv),
        ("retstart", str(retstart)), ("retmax", str(retmax)), ("retmode", "xml")))


def _attr(element, name):
    return getattr(element, "attributes", {}).get(name)


def _entrez_date(history) -> str | None:
    for d in history or ():
        if _attr(d, "PubStatus") == "entrez":
            try:
                return date(int(d["Year"]), int(d["Month"]), int(d["Day"])).isoformat()
            except (KeyError, ValueError, TypeError):
                return None
    return None


def _report_type(pub_types) -> str:
    kinds = {str(p).strip().lower() for p in pub_types or ()}
    if kinds & _ABSTRACT_TYPES:
        return "conference abstract"
    if kinds and kinds <= _OTHER_TYPES:
        return "other"
    return "full paper"


def article_record(article) -> FoundRecord:
    """Normalise one ``PubmedArticle`` as parsed by ``Bio.Entrez.read``."""
    citation = article["MedlineCitation"]
    art = citation["Article"]
    pmid = normalise_pmid(citation["PMID"])
    doi = None
    for aid in article.get("PubmedData", {}).get("ArticleIdList", []):
        if _attr(aid, "IdType") == "doi":
            doi = normalise_doi(aid)
            break
    if doi is None:
        for loc in art.get("ELocationID", []):
            if _attr(loc, "EIdType") == "doi":
                doi = normalise_doi(loc)
                break
    pub_date = art.get("Journal", {}).get("JournalIssue", {}).get("PubDate", {})
    year = year_of(pub_date.get("Year") or pub_date.get("MedlineDate"))
    if year is None:
        for d in art.get("ArticleDate", []):
            year = year_of(d.get("Year"))
            break
    ncts = []
    for bank in art.get("DataBankList", []):
        if str(bank.get("DataBankName", "")).lower() == "clinicaltrials.gov":
            ncts += list(bank.get("AccessionNumberList", []))
    abstract = art.get("Abstract", {}).get("AbstractText", [])
    return FoundRecord(
        source=SOURCE, source_id=pmid, pmid=pmid, doi=doi, nct_id=first_nct(ncts),
        title=clean_text(art.get("ArticleTitle")), year=year,
        entry_date=_entrez_date(article.get("PubmedData", {}).get("History")),
        report_type=_report_type(art.get("PublicationTypeList")),
        abstract=clean_text(" ".join(str(a) for a in abstract)) if abstract else None)


def book_record(book) -> FoundRecord:
    """Normalise one ``PubmedBookArticle`` (book chapters; rare in this review's searches)."""
    doc = book["BookDocument"]
    pmid = normalise_pmid(doc["PMID"])
    title = doc.get("ArticleTitle") or doc.get("Book", {}).get("BookTitle")
    year = year_of(doc.get("Book", {}).get("PubDate", {}).get("Year"))
    return FoundRecord(source=SOURCE, source_id=pmid, pmid=pmid, title=clean_text(title), year=year,
                       entry_date=_entrez_date(book.get("PubmedBookData", {}).get("History")), report_type="other")


def efetch_records(parsed, where: str) -> list[FoundRecord]:
    if not hasattr(parsed, "get") or ("PubmedArticle" not in parsed and "PubmedBookArticle" not in parsed):
        raise SourceError(SOURCE, f"malformed efetch response ({where}): no PubmedArticleSet")
    try:
        out = [article_record(a) for a in parsed.get("PubmedArticle", [])]
        out += [book_record(b) for b in parsed.get("PubmedBookArticle", [])]
    except (KeyError, TypeError, AttributeError) as exc:
        raise SourceError(SOURCE, f"malformed efetch response ({where}): missing {exc}") from None
    for r in out:
        if not r.source_id:
            raise SourceError(SOURCE, f"malformed efetch response ({where}): an article has no valid PMID")
    return out


def fetch(query: str, date_field: str, start: date, end: date, transport, page_size: int | None = None
          ) -> SourceResult:
    page_size = page_size or PAGE_SIZE
    first = esearch_request(query, date_field, start, end)
    pages = [RawPage(first, transport(first))]
    try:
        result = _read("esearch", pages[0].body)
    except SourceError as exc:
        raise SourceError(SOURCE, exc.message, pages) from None
    try:
        count = int(result["Count"])
    except (KeyError, TypeError, ValueError):
        raise SourceError(SOURCE, "malformed esearch response: no Count", pages) from None
    if count > MAX_RECORDS:
        raise SourceError(SOURCE, f"the window {start}..{end} has {count} records (> {MAX_RECORDS}, the "
                                  f"E-utilities limit); split the window", pages)
    records: list[FoundRecord] = []
    if count:
        webenv, key = result.get("WebEnv"), result.get("QueryKey")
        if not webenv or not key:
            raise SourceError(SOURCE, "malformed esearch response: Count > 0 but no WebEnv/QueryKey", pages)
        retstart = 0
        while retstart < count:
            req = efetch_request(str(webenv), str(key), retstart, page_size)
            pages.append(RawPage(req, transport(req)))
            where = f"efetch page {len(pages) - 1}"
            try:
                got = efetch_records(_read(where, pages[-1].body), where)
            except SourceError as exc:
                raise SourceError(SOURCE, exc.message, pages) from None
            if not got:
                break
            records += got
            retstart += page_size
    if len(records) != count:
        raise SourceError(SOURCE, f"esearch reported {count} records but efetch returned {len(records)}", pages)
    return SourceResult(SOURCE, tuple(records), tuple(pages), count, first.as_url())


def records_from_pages(pages) -> list[FoundRecord]:
    out = []
    for i, page in enumerate(pages):
        if page.request.endpoint == "efetch":
            out += efetch_records(_read(f"efetch page {i}", page.body), f"efetch page {i}")
    return out
