"""Literature surveillance for the living review: stored searches, their raw responses, every record found,
de-duplication and screening decisions — all as data (CSV tables validated by Table Schemas in ``data/schemas/``).

Public API (standard library only at import; Biopython is imported when PubMed is actually searched)::

    search(data_dir, sources=None, since=None, until=None, transport=None, log=print, *, clock=None,
           on_error="abort") -> SearchReport
    import_screening(data_dir, path, format="asreview" | "csv", reviewer=None, stage="title-abstract") -> ImportReport
    screening_queue(data_dir, stage="title-abstract") -> list[dict];  export_queue(data_dir, path) -> int
    assign_data_version(data_dir, v) -> int;  link_study(data_dir, record_id, study_id)
    init(data_dir) -> list[Path];  validate_tables(data_dir) -> list[str]
    main(argv) -> int     # python -m livingreview.surveillance {init,search,import-screening,queue,...}

The PRISMA 2020 counts of a version are computed in the review layer (``livingreview.review.flow``), so the
book and ``python -m livingreview flow`` read the same numbers.

Tables (``data/``): ``search_strategies.csv``, ``search_runs.csv``, ``records.csv``, ``screening.csv``; raw
responses in ``data/search_responses/<run_id>.json.gz``. The rules of each part are in its module's docstring:
``run`` (windows, ids, atomic writes), ``dedup``, ``screening``, ``freeze``, ``sources.*`` (the three APIs),
``transport`` (network, injectable), ``store`` (raw responses), ``validate`` (Table Schema checks).
"""

from livingreview.surveillance.errors import (DataError, NoNetworkError, SourceError,  # noqa: F401
                                              SurveillanceError)
from livingreview.surveillance.freeze import assign_data_version  # noqa: F401
from livingreview.surveillance.run import SearchReport, search  # noqa: F401
from livingreview.surveillance.screening import (ImportReport, export_queue, import_screening,  # noqa: F401
                                                 link_study, screening_queue)
from livingreview.surveillance.strategies import DEFAULT_STRATEGIES, init  # noqa: F401
from livingreview.surveillance.transport import HttpTransport, Request  # noqa: F401
from livingreview.surveillance.validate import validate_tables  # noqa: F401


def main(argv=None, **kwargs) -> int:
    from livingreview.surveillance.cli import main as _main

    return _main(argv, **kwargs)


__all__ = ["search", "import_screening", "screening_queue", "export_queue", "assign_data_version",
           "link_study", "init", "validate_tables", "main", "SearchReport", "ImportReport",
           "HttpTransport", "Request", "SurveillanceError", "NoNetworkError", "SourceError", "DataError",
           "DEFAULT_STRATEGIES"]
