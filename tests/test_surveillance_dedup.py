"""De-duplication rules and identifier normalisation (no network, no Biopython)."""

from __future__ import annotations

import pytest

from livingreview.surveillance.dedup import Deduplicator
from livingreview.surveillance.ids import normalise_doi, normalise_nct, normalise_pmid, normalise_title


@pytest.mark.parametrize("raw,expected", [
    ("10.1002/CNCR.32116", "10.1002/cncr.32116"),
    ("https://doi.org/10.1002/cncr.32116", "10.1002/cncr.32116"),
    ("http://dx.doi.org/10.1002/cncr.32116", "10.1002/cncr.32116"),
    ("doi: 10.1002/cncr.32116.", "10.1002/cncr.32116"),
    ("DOI:10.1016/S0140-6736(24)02600-X", "10.1016/s0140-6736(24)02600-x"),
    ("cncr.32116", None), ("", None), (None, None),
])
def test_normalise_doi(raw, expected):
    assert normalise_doi(raw) == expected


def test_normalise_other_identifiers():
    assert normalise_pmid("0030920645") == "30920645" and normalise_pmid("PMC123") is None
    assert normalise_nct(" nct03677596 ") == "NCT03677596" and normalise_nct("NCT123") is None


def test_normalise_title_is_punctuation_case_and_accent_blind():
    a = normalise_title("Inotuzumab ozogamicin: a Phase-2 study (INO-VATE).")
    b = normalise_title("<i>INOTUZUMAB OZOGAMICIN</i> &ndash; a phase 2 study [INO VATE]")
    assert a == b == "inotuzumabozogamicinaphase2studyinovate"
    assert normalise_title("Étude de l’inotuzumab") == normalise_title("Etude de l inotuzumab")


def rec(rid, source="pubmed", **kw):
    return {"record_id": rid, "source": source, "source_id": kw.pop("source_id", rid.split(":", 1)[1]), **kw}


LONG = "Inotuzumab ozogamicin combined with mini-hyper-CVD in older adults with newly diagnosed ALL"


def classify_all(rows):
    d, out = Deduplicator(), []
    for r in rows:
        dup = d.classify(r)
        d.add(r["record_id"], r, dup[0])
        out.append(dup)
    return out


def test_rules_in_order_and_across_sources():
    got = classify_all([
        rec("pubmed:1", pmid="1", doi="10.1/a", title=LONG, year="2024"),
        rec("europepmc:MED:1", "europepmc", source_id="MED:1", pmid="1", title="other"),          # pmid
        rec("europepmc:PPR:9", "europepmc", source_id="PPR:9", doi="https://doi.org/10.1/A"),     # doi, any case
        rec("europepmc:PPR:8", "europepmc", source_id="PPR:8", title=LONG.upper() + ".", year="2025"),  # title ±1
        rec("pubmed:1@r2", source_id="1", pmid="1"),                                              # same source id
    ])
    assert got == [(None, None), ("pubmed:1", "pmid"), ("pubmed:1", "doi"), ("pubmed:1", "title_year"),
                   ("pubmed:1", "source_id")]


def test_title_needs_close_years_both_known_and_a_long_title():
    got = classify_all([
        rec("pubmed:1", title=LONG, year="2020"),
        rec("pubmed:2", title=LONG, year="2022"),            # two years apart: a different report
        rec("pubmed:3", title=LONG, year=""),                # year unknown: never merged on title
        rec("pubmed:4", title="Department of Error.", year="2025"),
        rec("pubmed:5", title="Department of Error.", year="2025"),  # short title: never merged
    ])
    assert got == [(None, None)] * 5


def test_title_picks_the_earliest_primary_and_chains_stay_one_step():
    got = classify_all([
        rec("pubmed:1", title=LONG, year="2020"),
        rec("pubmed:2", pmid="2", title=LONG, year="2022"),
        rec("europepmc:PPR:1", "europepmc", source_id="PPR:1", title=LONG, year="2021"),  # within 1 of both
        rec("europepmc:PPR:2", "europepmc", source_id="PPR:2", pmid="2"),
    ])
    assert got == [(None, None), (None, None), ("pubmed:1", "title_year"), ("pubmed:2", "pmid")]


def test_registry_and_publications_are_not_merged_by_nct_or_title():
    got = classify_all([
        rec("ctgov:NCT01564784", "ctgov", source_id="NCT01564784", nct_id="NCT01564784", title=LONG, year="2012"),
        rec("pubmed:5", nct_id="NCT01564784", title=LONG, year="2012"),   # a report of the trial, not a duplicate
        rec("ctgov:NCT01564784@r2", "ctgov", source_id="NCT01564784", nct_id="NCT01564784"),
    ])
    assert got == [(None, None), (None, None), ("ctgov:NCT01564784", "source_id")]


def test_identity_is_transitive_through_duplicates():
    got = classify_all([
        rec("europepmc:MED:7", "europepmc", source_id="MED:7", pmid="7"),           # no DOI
        rec("pubmed:7", pmid="7", doi="10.9/x"),                                    # duplicate, brings the DOI
        rec("europepmc:PPR:3", "europepmc", source_id="PPR:3", doi="10.9/X"),       # caught through pubmed:7's DOI
    ])
    assert got == [(None, None), ("europepmc:MED:7", "pmid"), ("europepmc:MED:7", "doi")]


def test_deduplicator_rebuilt_from_stored_rows_gives_the_same_verdicts():
    rows = [rec("pubmed:1", pmid="1", title=LONG, year="2024"),
            dict(rec("europepmc:MED:1", "europepmc", source_id="MED:1", pmid="1"), duplicate_of="pubmed:1")]
    d = Deduplicator(rows)
    assert d.classify(rec("europepmc:PPR:1", "europepmc", source_id="PPR:1", title=LONG, year="2023")) == \
        ("pubmed:1", "title_year")
    assert d.classify(rec("europepmc:MED:1@x", "europepmc", source_id="MED:1")) == ("pubmed:1", "source_id")
