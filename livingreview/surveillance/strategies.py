"""The review's stored search strategies, and ``init`` that writes them (with empty tables) into a data directory.

The PubMed query is the paper's PubMed-specific search string (Lao, Wen & Wen 2025, §2.1) with its typographic
quotes made straight. Europe PMC takes the same Boolean phrase query. ClinicalTrials.gov takes it in Essie syntax as
``query.term``. The first window of each starts on 2024-12-02, the last day of the paper's search, inclusive (one
day of overlap; nothing the paper may have missed on that day is lost).
"""

from __future__ import annotations

from pathlib import Path

from livingreview.surveillance import tables
from livingreview.surveillance.store import Staging

PAPER_QUERY = ('("acute lymphoblastic leukemia" OR "precursor cell lymphoblastic leukemia lymphoma") AND '
               '("Inotuzumab Ozogamicin" OR "CMC-544" OR "Besponsa")')

DEFAULT_STRATEGIES = (
    {"strategy_id": "pubmed_1", "source": "pubmed", "query": PAPER_QUERY, "date_field": "edat",
     "first_window_start": "2024-12-02", "schedule": "monthly", "active": "true",
     "note": "The paper's PubMed string (§2.1), curly quotes made straight; window on the Entrez date (EDAT)."},
    {"strategy_id": "europepmc_1", "source": "europepmc", "query": PAPER_QUERY, "date_field": "CREATION_DATE",
     "first_window_start": "2024-12-02", "schedule": "monthly", "active": "true",
     "note": "Same Boolean phrase query in Europe PMC syntax (covers preprints and abstracts beyond PubMed); window on "
             "CREATION_DATE, the date of entry into Europe PMC."},
    {"strategy_id": "ctgov_1", "source": "ctgov", "query": PAPER_QUERY, "date_field": "LastUpdatePostDate",
     "first_window_start": "2024-12-02", "schedule": "monthly", "active": "true",
     "note": "Sent as query.term (Essie syntax); LastUpdatePostDate catches new registrations and records whose "
             "results were posted (those come back as duplicates of their first retrieval). Check the hit count "
             "against the website's search before relying on it."},
)


def init(data_dir: Path | str, strategies=DEFAULT_STRATEGIES) -> list[Path]:
    """Write ``search_strategies.csv`` (if absent) and the empty tables (if absent). Returns the files written."""
    data_dir = Path(data_dir)
    staging = Staging()
    for name in tables.TABLES:
        path = tables.table_path(data_dir, name)
        if path.exists():
            continue
        rows = list(strategies) if name == "search_strategies" else []
        staging.put(path, tables.to_csv_bytes(tables.columns(data_dir, name), rows))
    return staging.commit()
