"""De-duplication of retrieved records against every earlier record: deterministic, in a fixed order of rules.

Records are classified one at a time, in the order they are appended to ``records.csv`` (runs in order, each run's
records in response order), against all records before them — earlier runs and earlier records of the same run.
A record that matches is a duplicate of the *primary* record of the match (the first record of that identity,
never itself a duplicate), so ``duplicate_of`` chains are one step long. The first rule that matches wins:

1. ``source_id``: the same source and source id (the same PubMed/Europe PMC/registry record retrieved again, e.g.
   by the one-day overlap of consecutive windows, or a registry record whose update brought it back).
2. ``pmid``: equal PMIDs (Europe PMC ``MED`` records carry the PMID, so they meet their PubMed twin here).
3. ``doi``: equal DOIs, compared case-insensitively without ``https://doi.org/``/``doi:`` prefixes
   (``ids.normalise_doi``).
4. ``nct_id``: equal NCT ids, **between registry records only**. A publication that cites NCT01564784 is another
   report of that trial, not a duplicate of its registry record: it is kept and screened (and linked by study_id).
5. ``title_year``: equal normalised titles (``ids.normalise_title``: letters and digits only, case-folded,
   accents and punctuation removed) of at least ``MIN_TITLE_CHARS`` characters, both years known and at most
   ``YEAR_TOLERANCE`` (1) apart, and both records of the same kind (bibliographic or registry). ±1 year absorbs
   e-publication vs. print year and late indexing; a missing year never matches (an abstract and a later paper
   with the same title would otherwise merge); short titles ("Editorial", "Department of Error") never match.
   When several earlier primaries qualify, the earliest wins.

Every key of a record is remembered for its primary — also the keys of records found to be duplicates — so
identity is transitive: a PubMed record (PMID + DOI) matched by PMID to a Europe PMC record lends its DOI to
that identity, and a later preprint with the same DOI is caught.
"""

from __future__ import annotations

from livingreview.surveillance.ids import normalise_doi, normalise_nct, normalise_pmid, normalise_title

MIN_TITLE_CHARS = 25
YEAR_TOLERANCE = 1
RULES = ("source_id", "pmid", "doi", "nct_id", "title_year")


def _kind(source: str) -> str:
    return "registry" if source == "ctgov" else "bibliographic"


def _year(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


class Deduplicator:
    """Holds the identity keys of all records seen so far; ``classify`` one record, then it is remembered."""

    def __init__(self, rows=()):
        self._keys: dict[tuple, str] = {}            # (rule, value) -> primary record_id
        self._titles: dict[tuple, list] = {}          # (kind, normalised title) -> [(year, order, primary)]
        self._order: dict[str, int] = {}
        for row in rows:
            self.add(row["record_id"], row, row.get("duplicate_of") or None)

    @staticmethod
    def keys(row) -> list[tuple[str, str]]:
        source = row.get("source") or ""
        out = [("source_id", f"{source}:{row.get('source_id')}")] if row.get("source_id") else []
        pmid = normalise_pmid(row.get("pmid"))
        if pmid:
            out.append(("pmid", pmid))
        doi = normalise_doi(row.get("doi"))
        if doi:
            out.append(("doi", doi))
        nct = normalise_nct(row.get("nct_id"))
        if nct and _kind(source) == "registry":
            out.append(("nct_id", nct))
        return out

    def classify(self, row) -> tuple[str | None, str | None]:
        """(duplicate_of, duplicate_by) for a record not yet seen; (None, None) if it is new."""
        for rule, value in self.keys(row):
            if (rule, value) in self._keys:
                return self._keys[(rule, value)], rule
        title = normalise_title(row.get("title"))
        year = _year(row.get("year"))
        if len(title) >= MIN_TITLE_CHARS and year is not None:
            for other_year, _, primary in self._titles.get((_kind(row.get("source") or ""), title), []):
                if other_year is not None and abs(other_year - year) <= YEAR_TOLERANCE:
                    return primary, "title_year"
        return None, None

    def add(self, record_id: str, row, duplicate_of: str | None) -> None:
        primary = duplicate_of or record_id
        self._order.setdefault(record_id, len(self._order))
        for key in self.keys(row):
            self._keys.setdefault(key, primary)
        title = normalise_title(row.get("title"))
        if len(title) >= MIN_TITLE_CHARS:
            entries = self._titles.setdefault((_kind(row.get("source") or ""), title), [])
            entries.append((_year(row.get("year")), self._order[primary] if primary in self._order else
                            len(self._order), primary))
            entries.sort(key=lambda e: e[1])
