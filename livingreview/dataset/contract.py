"""The extraction dataset: validated against its contract (the data package), then served as DataFrames.

``load_dataset(data_dir)`` reads every table of the package strictly (:mod:`.read`), checks it against the Table
Schemas with the Frictionless framework (:mod:`.standard`) and against the rules the standard cannot express
(:mod:`.rules`), and returns a frozen :class:`Dataset` — or raises :class:`DataValidationError` listing *every*
violation, each as

    data/outcomes.csv, line 17, column 'events': rule 'events <= total' broken (value 40 > total 31)

where the line is the 1-based line of the file, header included. ``validate=False`` skips the standard's checks
(the kernels of a build that has validated the data already); the strict reading and the rules still run.
"""

from __future__ import annotations

import fnmatch
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from livingreview.dataset.package import resources
from livingreview.dataset.read import BAD, read_table
from livingreview.dataset.reads import RESOURCES, Read, UndeclaredRead, parse_read
from livingreview.dataset.rules import code_violations
from livingreview.dataset.violations import DataValidationError, Violation
from livingreview.dataset.vocabulary import QUALITY_BANDS, QUALITY_ITEMS, TOTAL_ITEM

#: Where a row's count is left out of the primary analysis, and why (a bound is not an incidence).
BOUND_REASONS = {"lower": "only a lower bound is reported", "upper": "only an upper bound is reported"}


class Undeclared:
    """Stands in for a table a page did not declare: any use of it raises :class:`UndeclaredRead`."""

    def __init__(self, table: str, reader: str):
        self._message = (f"{reader} reads the table {table!r} but does not declare it in READS: add it there, so "
                         f"that the page is executed again when {table!r} changes")

    def __getattr__(self, name):
        raise UndeclaredRead(self._message)

    def __getitem__(self, key):
        raise UndeclaredRead(self._message)

    def __len__(self):
        raise UndeclaredRead(self._message)

    def __iter__(self):
        raise UndeclaredRead(self._message)


def _matching(frame: pd.DataFrame, read: Read) -> pd.DataFrame:
    if read.column is None:
        return frame
    if read.column not in frame.columns:
        raise ValueError(f"read {read}: the table has no column {read.column!r}")
    values = frame[read.column].astype("string").fillna("")
    keep = [fnmatch.fnmatchcase(v, read.pattern) for v in values]
    return frame[keep].reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class Dataset:
    """Every table of the data package as a DataFrame, validated. Empty cells are NaN/NA; integer columns are
    ``Int64``. A *view* (:meth:`view`) holds only what a page declared it reads; the other tables raise on use."""

    studies: pd.DataFrame
    reports: pd.DataFrame
    outcomes: pd.DataFrame
    definitions: pd.DataFrame
    quality: pd.DataFrame
    published: pd.DataFrame
    search: pd.DataFrame
    versions: pd.DataFrame
    strategies: pd.DataFrame
    runs: pd.DataFrame
    records: pd.DataFrame
    screening: pd.DataFrame
    protocol: pd.DataFrame
    snapshots: pd.DataFrame
    certainty: pd.DataFrame  # the reviewers' GRADE judgements (outcome × domain × data version)
    data_dir: str = field(default="data")
    reader: str = field(default="")  # who holds this view ("" for the whole dataset)
    row_filters: tuple = field(default=())  # (Read, ...) of the tables filtered by rows

    def view(self, reads, reader: str) -> "Dataset":
        """Only the declared ``reads`` (``"studies"``, ``"outcomes[outcome=vod]"``…): undeclared tables raise
        :class:`UndeclaredRead`, and row-filtered tables hold only the matching rows."""
        parsed = [r if isinstance(r, Read) else parse_read(r) for r in reads]
        tables = {}
        for name, attr in RESOURCES.items():
            mine = [r for r in parsed if r.attribute == attr]
            if not mine:
                tables[attr] = Undeclared(name, reader)
            elif any(r.column is None for r in mine):
                tables[attr] = getattr(self, attr)
            else:
                frame = getattr(self, attr)
                tables[attr] = pd.concat([_matching(frame, r) for r in mine]).drop_duplicates().reset_index(drop=True)
        filters = tuple(r for r in parsed if r.column is not None
                        and not any(o.column is None and o.attribute == r.attribute for o in parsed))
        return replace(self, **tables, reader=reader, row_filters=filters)

    def read_bytes(self, read) -> bytes:
        """The parsed values a read covers, canonically serialised: what the build hashes to decide whether a
        page must be executed again (the values the page reads, never a second reading of the raw text)."""
        r = read if isinstance(read, Read) else parse_read(read)
        frame = _matching(getattr(self, r.attribute), r)
        return f"{r}\n".encode() + frame.to_csv(index=False, lineterminator="\n").encode()

    @property
    def latest_version(self) -> int:
        return int(self.versions["data_version"].max())

    def _studies_upto(self, data_version: int | None) -> pd.DataFrame:
        if data_version is None:
            return self.studies
        if data_version not in set(self.versions["data_version"].astype(int)):
            raise ValueError(f"data_version {data_version} is not defined in versions.csv "
                             f"(defined: {', '.join(str(v) for v in self.versions['data_version'])})")
        return self.studies[self.studies["data_version"] <= data_version]

    def _check_outcome(self, outcome: str) -> None:
        for r in self.row_filters:
            if r.attribute == "outcomes" and r.column == "outcome" and not fnmatch.fnmatchcase(outcome, r.pattern):
                raise UndeclaredRead(f"{self.reader} reads the rows of outcome {outcome!r} but declares only "
                                     f"{r} in READS")
        if outcome not in set(self.definitions["outcome"]):
            raise KeyError(f"outcome {outcome!r} is not defined in outcome_definitions.csv")

    def pooling_table(self, outcome: str, data_version: int | None = None, bounds: bool = False,
                      population: str | None = None) -> pd.DataFrame:
        """Rows with counts for ``outcome`` (studies of data versions ≤ ``data_version``; all when None), joined to
        the study's label, ref_no, regimen, disease_status and data_version, in studies.csv order. Counts that are
        only a bound are left out unless ``bounds``; ``population`` keeps only rows of that denominator."""
        self._check_outcome(outcome)
        studies = self._studies_upto(data_version)
        rows = self.outcomes[(self.outcomes["outcome"] == outcome) & (self.outcomes["derivation"] != "missing")]
        if not bounds:
            rows = rows[rows["bound"] == "exact"]
        if population is not None:
            rows = rows[rows["population"] == population]
        keep = ["study_id", "label", "ref_no", "regimen", "disease_status", "overlaps_with", "data_version"]
        cols = ["study_id", "events", "total", "derivation", "population", "population_definition", "bound",
                "report_id", "note"]
        out = studies[keep].merge(rows[cols], on="study_id", how="inner")
        out["events"] = out["events"].astype("int64")
        out["total"] = out["total"].astype("int64")
        return out[["study_id", "label", "ref_no", "events", "total", "regimen", "disease_status", "overlaps_with",
                    "data_version", "derivation", "population", "population_definition", "bound", "report_id",
                    "note"]].reset_index(drop=True)

    def excluded(self, outcome: str, data_version: int | None = None) -> pd.DataFrame:
        """Studies (of data versions ≤ ``data_version``) whose count for ``outcome`` is not pooled, and why."""
        self._check_outcome(outcome)
        studies = self._studies_upto(data_version)
        rows = self.outcomes[self.outcomes["outcome"] == outcome].set_index("study_id")
        out = []
        for _, s in studies.iterrows():
            sid = s["study_id"]
            if sid in rows.index:
                row = rows.loc[sid]
                if row["derivation"] != "missing" and row["bound"] == "exact":
                    continue
                if row["derivation"] == "missing":
                    reason = row["note"]
                else:
                    reason = (f"{BOUND_REASONS[row['bound']]} ({int(row['events'])}/{int(row['total'])}); it is "
                              f"included only in the sensitivity analysis with bounds")
            elif s["identification"] == "not identified":
                reason = f"study not identified: {s['identification_note']}"
            else:
                reason = "not reported (no row in outcomes.csv)"
            out.append({"study_id": sid, "label": s["label"], "ref_no": s["ref_no"], "reason": reason})
        return pd.DataFrame(out, columns=["study_id", "label", "ref_no", "reason"])

    def quality_totals(self) -> pd.DataFrame:
        """Per study and scale: recomputed total, printed total, maximum and the paper's §2.4 quality band."""
        return quality_totals(self.quality)


def quality_totals(quality: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (study, scale), g in quality.groupby(["study_id", "scale"], sort=False):
        items = g[g["item"] != TOTAL_ITEM]
        printed = g.loc[g["item"] == TOTAL_ITEM, "score"]
        total = int(items["score"].sum())
        band = next(b for top, b in QUALITY_BANDS[scale] if total <= top)
        out.append({"study_id": study, "scale": scale, "total": total,
                    "printed_total": int(printed.iloc[0]) if len(printed) else pd.NA,
                    "max_total": sum(m for _, m in QUALITY_ITEMS[scale].values()), "quality": band})
    return pd.DataFrame(out, columns=["study_id", "scale", "total", "printed_total", "max_total", "quality"])


def _frame(resource, rows: list) -> pd.DataFrame:
    data = {}
    for f in resource.fields:
        values = [row.get(f.name) for _, row in rows]
        if f.type == "integer":
            data[f.name] = pd.array(values, dtype="Int64")
        elif f.type == "number":
            data[f.name] = pd.array([float("nan") if v is None else v for v in values], dtype="float64")
        elif f.type == "boolean":
            data[f.name] = pd.array(values, dtype="boolean")
        else:
            data[f.name] = pd.Series(values, dtype="str")
    return pd.DataFrame(data)


def read_tables(data_dir, shown=None) -> dict:
    """Every table of the package in ``data_dir``, read strictly (name → :class:`~.read.Table`); messages name
    the files as in ``shown`` (default ``data_dir``)."""
    data_dir, shown = Path(data_dir), Path(shown if shown is not None else data_dir)
    return {name: read_table(data_dir / r.path, r, str(shown / r.path)) for name, r in resources().items()}


def violations(data_dir, standard: bool = True, only=None, shown=None) -> tuple[dict, list[Violation]]:
    """The tables and every violation of the contract, in file order. ``only``: the names of the tables to check
    (the others are read, when present, as the targets of foreign keys)."""
    tables = read_tables(data_dir, shown)
    if only is not None:
        tables = {n: t for n, t in tables.items() if n in only or t.readable}
    checked = [t for n, t in tables.items() if only is None or n in only]
    found = [v for t in checked for v in t.problems]
    if standard:
        from livingreview.dataset.standard import standard_violations

        found += [v for v in standard_violations(tables) if only is None or v.file in {t.file for t in checked}]
    found += [v for v in code_violations(tables) if only is None or v.file in {t.file for t in checked}]
    order = [t.file for t in tables.values()]
    unique = list(dict.fromkeys(found))
    unique.sort(key=lambda v: (order.index(v.file) if v.file in order else len(order), v.line or 0))
    return tables, unique


def load_dataset(data_dir="data", validate: bool = True) -> Dataset:
    """Read and validate every table in ``data_dir``; raise ``DataValidationError`` listing all violations."""
    tables, found = violations(data_dir, standard=validate)
    if found:
        raise DataValidationError(found)
    frames = {RESOURCES[name]: _frame(t.resource, t.rows) for name, t in tables.items()}
    return Dataset(**frames, data_dir=str(data_dir))


def read_rows(data_dir, name: str) -> tuple[tuple, list[tuple[int, dict]]]:
    """The parsed rows of one table (a resource name) with their line numbers, and its key columns; cells that
    could not be parsed are left out (``validate`` reports them)."""
    resource = resources()[name]
    table = read_table(Path(data_dir) / resource.path, resource, resource.path)
    return resource.primary_key, [(line, {k: v for k, v in row.items() if v is not BAD}) for line, row in table.rows]


def validate_cli(data_dir="data") -> int:
    """``python -m livingreview validate``: print a summary (exit 0) or every violation to stderr (exit 1)."""
    try:
        ds = load_dataset(data_dir)
    except DataValidationError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    counted = int((ds.outcomes["derivation"] != "missing").sum())
    per_version = ", ".join(f"v{v}: {n}" for v, n in ds.studies["data_version"].value_counts().sort_index().items())
    print(f"OK: {data_dir} — {len(ds.studies)} studies ({per_version}), {len(ds.reports)} reports, "
          f"{len(ds.outcomes)} outcome rows ({counted} with counts, {len(ds.outcomes) - counted} missing), "
          f"{len(ds.definitions)} outcome definitions, {len(ds.quality)} quality rows, {len(ds.published)} published "
          f"numbers, {len(ds.versions)} data versions, {len(ds.runs)} search runs, {len(ds.records)} records, "
          f"{len(ds.screening)} screening decisions")
    return 0


__all__ = ["BOUND_REASONS", "DataValidationError", "Dataset", "UndeclaredRead", "Violation", "load_dataset",
           "quality_totals", "read_rows", "read_tables", "validate_cli", "violations"]
