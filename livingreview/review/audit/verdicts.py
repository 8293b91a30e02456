"""The audit's word for every printed number, computed once per data and code and shared by every page.

The word is the reproduction status where the audit could judge the number (*reproduced*, *close*, *not
reproduced*) and the feasibility verdict where it could not (*feasible*, *infeasible*, *feasible only if*, *not
checkable*: :mod:`livingreview.review.feasibility`). Computing the feasibility verdicts takes tens of seconds, and
the audit's summary, its per-outcome pages and every outcome page's badge need them, so :func:`verdict_table`
keeps the table — in memory and on disk (``<build dir>/cache/``) — under :func:`cache_key`: a hash of everything
the computation can depend on, so that a cached table is never stale:

- the parsed values of the tables it reads (:data:`READS`, ``Dataset.read_bytes``: the values, not the files);
- the source of every module it can import — the review layer and the layers below it (:data:`CODE`), a superset
  of what it does import (the layer contract, ``tests/test_layers.py``, keeps it one);
- the versions of the libraries that compute it (:data:`SOFTWARE`).

A key that differs recomputes; parallel pages of a build wait for one computation (a file lock) rather than
repeating it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from livingreview.config import BUILD_DIR, ROOT

#: The tables the verdicts read (a page that shows them declares these in its READS).
READS = ("studies", "outcomes", "outcome_definitions", "published", "search", "versions")
#: The code the verdicts can run: the review layer and every layer it may import (paths under the checkout).
CODE = ("livingreview/__init__.py", "livingreview/config.py", "livingreview/format.py", "livingreview/engine",
        "livingreview/dataset", "livingreview/review")
SOFTWARE = ("numpy", "scipy", "pandas")
#: Cached tables kept on disk (the newest; older keys are removed).
KEEP = 6
#: Bump when the layout of the cached table changes.
FORMAT = 1

_MEMO: dict[str, pd.DataFrame] = {}


def code_files(root: Path = ROOT) -> list[Path]:
    out = []
    for entry in CODE:
        path = Path(root) / entry
        out.extend(sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts) if path.is_dir() else
                   [path] if path.is_file() else [])
    return out


def software() -> str:
    import importlib.metadata as md
    return "; ".join(f"{name} {md.version(name)}" for name in SOFTWARE)


def cache_key(dataset, root: Path = ROOT) -> str:
    """Hash of the data, code and library versions the verdict table depends on. ``dataset`` must hold every
    table of :data:`READS` whole (a view restricted to some rows would hash only those)."""
    filtered = [str(r) for r in getattr(dataset, "row_filters", ()) if r.table in READS]
    if filtered:
        raise ValueError(f"the audit's verdicts read whole tables; this view holds only {', '.join(filtered)}")
    h = hashlib.sha256(f"verdicts format {FORMAT}; {software()}\n".encode())
    for read in READS:
        h.update(hashlib.sha256(dataset.read_bytes(read)).digest())
    for path in code_files(root):
        h.update(hashlib.sha256(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes()).digest())
    return h.hexdigest()


def compute(dataset, jobs: int | None = None) -> pd.DataFrame:
    """The feasibility table with the audit's status and the final word per printed number (no cache)."""
    from livingreview.review.audit.status import audit
    from livingreview.review.feasibility import feasibility_table
    return feasibility_table(dataset, audit(dataset).frame(), jobs=jobs)


def cache_dir() -> Path:
    return Path(BUILD_DIR) / "cache"


def verdict_table(dataset, directory: Path | None = None, jobs: int | None = None) -> pd.DataFrame:
    """:func:`compute`, or the table cached under the same :func:`cache_key` (a copy: callers may modify it)."""
    key = cache_key(dataset)
    if key in _MEMO:
        return _MEMO[key].copy()
    directory = Path(directory or cache_dir())
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"verdicts-{key}.pkl"
    with open(directory / "verdicts.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one computation; pages of the same build wait for it
        table = _read(path)
        if table is None:
            table = compute(dataset, jobs)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(pickle.dumps(table, protocol=pickle.HIGHEST_PROTOCOL))
            os.replace(tmp, path)
            _prune(directory)
    if len(_MEMO) >= 4:
        _MEMO.pop(next(iter(_MEMO)))
    _MEMO[key] = table
    return table.copy()


@dataclass(frozen=True)
class Shortfall:
    """Why the recomputation of an outcome's overall analysis falls short of the paper's: the paper's studies
    (of those it cites for the outcome, where it lists them) that have no usable count in the dataset, by reason."""

    paper_k: int | None
    our_k: int
    not_identified: int  # the study itself is not identified
    bound: int  # identified; its report gives only a bound on the count
    no_figure: int  # identified; its report does not give the figure

    @property
    def missing(self) -> int | None:
        """Studies the paper pooled that the recomputation lacks (None when the paper's k is unknown)."""
        return None if self.paper_k is None else max(0, self.paper_k - self.our_k)

    @property
    def candidates(self) -> int:
        return self.not_identified + self.bound + self.no_figure


def shortfall(dataset, outcome: str, paper_k: int | None, our_k: int) -> Shortfall:
    """The version-1 studies without a usable count for ``outcome``, by reason (see :class:`Shortfall`)."""
    from livingreview.review.audit.published import REFERENCE_VERSION, cited_refs

    pub = dataset.published
    k_rows = pub[(pub["outcome"] == outcome) & (pub["subgroup"] == "overall") & (pub["statistic"] == "k")]
    cited = cited_refs(k_rows["printed"].iloc[0]) if len(k_rows) else ()
    excluded = dataset.excluded(outcome, data_version=REFERENCE_VERSION)
    if cited:
        excluded = excluded[excluded["ref_no"].isin(cited)]
    studies = dataset.studies.set_index("study_id")
    rows = dataset.outcomes[dataset.outcomes["outcome"] == outcome].set_index("study_id")
    counts = {"not_identified": 0, "bound": 0, "no_figure": 0}
    for sid in excluded["study_id"]:
        if studies.loc[sid, "identification"] == "not identified":
            counts["not_identified"] += 1
        elif sid in rows.index and rows.loc[sid, "derivation"] != "missing" and rows.loc[sid, "bound"] != "exact":
            counts["bound"] += 1
        else:
            counts["no_figure"] += 1
    return Shortfall(paper_k, our_k, **counts)


def _read(path: Path) -> pd.DataFrame | None:
    try:
        return pickle.loads(path.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None


def _prune(directory: Path) -> None:
    tables = sorted(directory.glob("verdicts-*.pkl"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in tables[KEEP:]:
        old.unlink(missing_ok=True)


__all__ = ["CODE", "READS", "Shortfall", "cache_key", "code_files", "compute", "shortfall", "verdict_table"]
