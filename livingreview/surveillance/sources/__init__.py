"""The three sources, each a module with ``fetch(query, date_field, start, end, transport, page_size)`` that pages
through the search and returns a ``SourceResult``: the normalised records in response order, every raw page
verbatim, the count the source reported and the first request.

``records_from_pages(pages)`` re-normalises stored raw pages (used to read abstracts back for the screening export
and to check that a stored response still gives the recorded records).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from livingreview.surveillance.transport import Request

REPORT_TYPES = ("full paper", "conference abstract", "preprint", "registry record", "other")


@dataclass(frozen=True)
class FoundRecord:
    """One record as a source returned it, normalised."""

    source: str
    source_id: str
    title: str | None = None
    year: int | None = None
    pmid: str | None = None
    doi: str | None = None
    nct_id: str | None = None
    entry_date: str | None = None
    report_type: str = "other"
    abstract: str | None = field(default=None, compare=False)  # for the screening export; not in records.csv


@dataclass(frozen=True)
class RawPage:
    request: Request
    body: bytes


@dataclass(frozen=True)
class SourceResult:
    source: str
    records: tuple[FoundRecord, ...]
    pages: tuple[RawPage, ...]
    reported_count: int
    first_request: str


_TAG = re.compile(r"<[^>]+>")
_NCT = re.compile(r"NCT[0-9]{8}")


def clean_text(value) -> str | None:
    """Plain text: HTML/XML tags removed, entities decoded, whitespace collapsed; None if empty."""
    if value is None:
        return None
    text = " ".join(html.unescape(_TAG.sub(" ", str(value))).split())
    return text or None


def year_of(value) -> int | None:
    m = re.search(r"(1[89][0-9]{2}|2[01][0-9]{2})", str(value or ""))
    return int(m.group(1)) if m else None


def first_nct(values) -> str | None:
    for v in values or ():
        m = _NCT.search(str(v).upper())
        if m:
            return m.group(0)
    return None
