"""The loader's schema checks: each rule is broken once in a copy of the synthetic dataset, and the error must
name the file, the line (header = line 1), the column and the rule."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pandas as pd
import pytest

from livingreview.dataset import Dataset, DataValidationError, load_dataset, validate_cli

SYNTHETIC = Path(__file__).parent / "fixtures" / "synthetic"
REPO_DATA = Path(__file__).parent.parent / "data"


@pytest.fixture
def data(tmp_path) -> Path:
    """A writable copy of the valid synthetic dataset."""
    target = tmp_path / "data"
    shutil.copytree(SYNTHETIC, target)
    return target


def read(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def write(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def edit(data: Path, file: str, line: int, column: str, value: str) -> None:
    """Set one cell; ``line`` counts the header as line 1, as the error messages do."""
    rows = read(data / file)
    rows[line - 1][rows[0].index(column)] = value
    write(data / file, rows)


def errors(data: Path) -> DataValidationError:
    with pytest.raises(DataValidationError) as info:
        load_dataset(data)
    return info.value


def assert_reported(err: DataValidationError, file: str, line: int | None, column: str | None, rule: str):
    hits = [v for v in err.violations
            if v.file.endswith(file) and v.line == line and v.column == column and v.rule == rule]
    assert hits, f"expected {file}, line {line}, column {column!r}, rule {rule!r} in:\n{err}"
    text = str(hits[0])
    assert file in text and f"rule '{rule}' broken" in text
    if line is not None:
        assert f"line {line}" in text
    if column is not None:
        assert f"column '{column}'" in text
    assert text in str(err)  # the exception message lists it too
    return hits[0]


# --- the valid dataset -------------------------------------------------------------------------------------------


def test_synthetic_dataset_loads():
    ds = load_dataset(SYNTHETIC)
    assert isinstance(ds, Dataset)
    assert len(ds.studies) == 8 and ds.latest_version == 2
    assert ds.outcomes["events"].dtype == "Int64"
    pool = ds.pooling_table("complete_remission")
    assert list(pool["study_id"]) == ["alpha2019", "beta2020", "gamma2021", "epsilon2022", "zeta2022"]
    assert pool["events"].dtype == "int64" and {"regimen", "disease_status", "label", "data_version"} <= set(pool)
    excluded = ds.excluded("complete_remission")
    assert dict(zip(excluded["study_id"], excluded["reason"]))["delta2021"] == "abstract reports CR/CRi only"
    assert "eta2023" in set(excluded["study_id"]) and "theta2025" in set(excluded["study_id"])


def test_data_version_filters_studies():
    ds = load_dataset(SYNTHETIC)
    assert "theta2025" in set(ds.pooling_table("vod")["study_id"])
    assert "theta2025" not in set(ds.pooling_table("vod", data_version=1)["study_id"])
    with pytest.raises(ValueError, match="data_version 9"):
        ds.pooling_table("vod", data_version=9)
    with pytest.raises(KeyError, match="not_an_outcome"):
        ds.pooling_table("not_an_outcome")


def test_quality_totals_recomputed():
    totals = load_dataset(SYNTHETIC).quality_totals().set_index("study_id")
    assert totals.loc["alpha2019", "total"] == 4 and totals.loc["alpha2019", "quality"] == "high"
    assert totals.loc["gamma2021", "total"] == 12 and totals.loc["gamma2021", "quality"] == "moderate"
    assert (totals["total"] == totals["printed_total"]).all()


def test_validate_cli(data, capsys):
    assert validate_cli(data) == 0
    assert capsys.readouterr().out.startswith("OK:")
    edit(data, "outcomes.csv", 2, "events", "41")
    assert validate_cli(data) == 1
    assert "rule 'events <= total' broken" in capsys.readouterr().err


# --- one test per rule -------------------------------------------------------------------------------------------


def test_events_greater_than_total(data):
    edit(data, "outcomes.csv", 17, "events", "40")  # os_1y of gamma2021, total 50 → make total 31
    edit(data, "outcomes.csv", 17, "total", "31")
    v = assert_reported(errors(data), "outcomes.csv", 17, "events", "events <= total")
    assert "value 40 > total 31" in str(v)
    assert str(v) == f"{data / 'outcomes.csv'}, line 17, column 'events': rule 'events <= total' broken (value 40 > total 31)"


def test_total_zero(data):
    edit(data, "outcomes.csv", 3, "events", "0")
    edit(data, "outcomes.csv", 3, "total", "0")
    assert_reported(errors(data), "outcomes.csv", 3, "total", "total >= 1")


def test_negative_events(data):
    edit(data, "outcomes.csv", 3, "events", "-1")
    assert_reported(errors(data), "outcomes.csv", 3, "events", "events >= 0")


def test_unknown_category(data):
    edit(data, "studies.csv", 4, "regimen", "InO + chemo")
    v = assert_reported(errors(data), "studies.csv", 4, "regimen", "allowed values")
    assert "'InO + chemo'" in str(v) and "InO + chemotherapy" in str(v)


def test_unknown_derivation(data):
    edit(data, "outcomes.csv", 5, "derivation", "guessed")
    assert_reported(errors(data), "outcomes.csv", 5, "derivation", "allowed values")


def test_duplicate_key(data):
    rows = read(data / "outcomes.csv")
    rows.append(rows[1])  # alpha2019 × overall_response again, on the last line
    write(data / "outcomes.csv", rows)
    v = assert_reported(errors(data), "outcomes.csv", len(rows), "study_id, outcome", "unique (study_id, outcome)")
    assert "already on line 2" in str(v)


def test_duplicate_single_key(data):
    edit(data, "studies.csv", 3, "study_id", "alpha2019")
    errs = errors(data)
    assert_reported(errs, "studies.csv", 3, "study_id", "unique study_id")


def test_duplicate_ref_no(data):
    edit(data, "studies.csv", 3, "ref_no", "1")
    assert_reported(errors(data), "studies.csv", 3, "ref_no", "unique ref_no")


def test_unknown_study_id_in_outcomes(data):
    edit(data, "outcomes.csv", 6, "study_id", "nobody2020")
    v = assert_reported(errors(data), "outcomes.csv", 6, "study_id", "study_id defined in studies.csv")
    assert "'nobody2020'" in str(v)


def test_unknown_study_id_in_quality(data):
    edit(data, "quality.csv", 2, "study_id", "nobody2020")
    assert_reported(errors(data), "quality.csv", 2, "study_id", "study_id defined in studies.csv")


def test_undefined_outcome(data):
    edit(data, "outcomes.csv", 9, "outcome", "overall_survival")
    assert_reported(errors(data), "outcomes.csv", 9, "outcome", "outcome defined in outcome_definitions.csv")


def test_missing_source(data):
    edit(data, "outcomes.csv", 4, "source", "")
    assert_reported(errors(data), "outcomes.csv", 4, "source", "value required")


def test_missing_derivation(data):
    edit(data, "outcomes.csv", 4, "derivation", "")
    errs = errors(data)
    assert_reported(errs, "outcomes.csv", 4, "derivation", "value required")
    assert len(errs.violations) == 1  # no follow-on complaints about the counts


def test_counts_missing_without_derivation_missing(data):
    edit(data, "outcomes.csv", 4, "events", "")
    edit(data, "outcomes.csv", 4, "total", "")
    errs = errors(data)
    assert_reported(errs, "outcomes.csv", 4, "events", "events empty iff derivation = missing")
    assert_reported(errs, "outcomes.csv", 4, "total", "total empty iff derivation = missing")


def test_counts_given_with_derivation_missing(data):
    edit(data, "outcomes.csv", 12, "events", "20")
    v = assert_reported(errors(data), "outcomes.csv", 12, "events", "events empty iff derivation = missing")
    assert "derivation 'missing'" in str(v)


def test_missing_row_needs_note(data):
    edit(data, "outcomes.csv", 12, "note", "")
    assert_reported(errors(data), "outcomes.csv", 12, "note", "note says why when derivation = missing")


def test_printed_minors_total_mismatch(data):
    rows = read(data / "quality.csv")
    line = next(i for i, r in enumerate(rows, 1) if r[0] == "gamma2021" and r[2] == "total")
    edit(data, "quality.csv", line, "score", "13")
    v = assert_reported(errors(data), "quality.csv", line, "score", "printed total = sum of item scores")
    assert "gamma2021" in str(v) and "printed total 13, items sum to 12" in str(v)


def test_quality_item_out_of_range(data):
    edit(data, "quality.csv", 5, "score", "2")  # Jadad withdrawals scores 0–1
    errs = errors(data)
    assert_reported(errs, "quality.csv", 5, "score", "score within the item's range")


def test_quality_missing_item(data):
    rows = read(data / "quality.csv")
    write(data / "quality.csv", [r for r in rows if not (r[0] == "beta2020" and r[2] == "VII")])
    v = assert_reported(errors(data), "quality.csv", 7, "item", "every item of the scale present")
    assert "VII" in str(v)


def test_missing_column(data):
    rows = read(data / "outcomes.csv")
    i = rows[0].index("total")
    write(data / "outcomes.csv", [r[:i] + r[i + 1:] for r in rows])
    v = assert_reported(errors(data), "outcomes.csv", 1, "total", "column present")
    assert "header has:" in str(v)


def test_unknown_column(data):
    rows = read(data / "versions.csv")
    write(data / "versions.csv", [r + ["x"] for r in rows])
    assert_reported(errors(data), "versions.csv", 1, "x", "column known")


def test_unparseable_integer(data):
    edit(data, "outcomes.csv", 7, "total", "5O")
    v = assert_reported(errors(data), "outcomes.csv", 7, "total", "whole number")
    assert "'5O'" in str(v)


def test_unparseable_number_and_date(data):
    edit(data, "published.csv", 2, "value", "89,0")
    edit(data, "versions.csv", 3, "search_date", "30/06/2025")
    errs = errors(data)
    assert_reported(errs, "published.csv", 2, "value", "number")
    assert_reported(errs, "versions.csv", 3, "search_date", "date YYYY-MM-DD")


def test_data_version_must_exist(data):
    edit(data, "studies.csv", 9, "data_version", "3")
    assert_reported(errors(data), "studies.csv", 9, "data_version", "data_version defined in versions.csv")


def test_data_version_at_least_one(data):
    edit(data, "search.csv", 2, "data_version", "0")
    assert_reported(errors(data), "search.csv", 2, "data_version", "data_version >= 1")


def test_subgroups_and_published_levels(data):
    edit(data, "outcome_definitions.csv", 2, "subgroups", "regimen;ph_status")
    edit(data, "published.csv", 8, "level", "newly diagnosed")  # a disease status under subgroup 'regimen'
    errs = errors(data)
    assert_reported(errs, "outcome_definitions.csv", 2, "subgroups", "subgroups is a subset of regimen;disease_status")
    assert_reported(errs, "published.csv", 8, "level", "level matches subgroup")


def test_publication_type_required_when_identified(data):
    edit(data, "studies.csv", 2, "publication_type", "")
    assert_reported(errors(data), "studies.csv", 2, "publication_type",
                    "publication_type given unless identification = not identified")


def test_missing_file(data):
    (data / "search.csv").unlink()
    assert_reported(errors(data), "search.csv", None, None, "file exists")


def test_ragged_row(data):
    with open(data / "versions.csv", "a", encoding="utf-8") as fh:
        fh.write("3,2025-08-01\n")
    assert_reported(errors(data), "versions.csv", 4, None, "row has one cell per column")


def test_all_violations_in_different_files_reported(data):
    edit(data, "outcomes.csv", 17, "events", "61")
    edit(data, "studies.csv", 5, "design", "cohort")
    edit(data, "quality.csv", 3, "score", "x")
    errs = errors(data)
    assert len(errs.violations) == 3
    assert_reported(errs, "outcomes.csv", 17, "events", "events <= total")
    assert_reported(errs, "studies.csv", 5, "design", "allowed values")
    assert_reported(errs, "quality.csv", 3, "score", "whole number")
    assert isinstance(errs, ValueError)
    assert str(errs).startswith("3 data violations:")


# --- the project's own tables ------------------------------------------------------------------------------------


def test_quality_table_matches_paper():
    q = pd.read_csv(REPO_DATA / "quality.csv", dtype=str, keep_default_na=False)
    totals = q[q["item"] == "total"].set_index("study_id")["score"].astype(int)
    assert totals["kantarjian2019_inovate"] == 4
    assert len(totals) == 15 and totals.drop("kantarjian2019_inovate").between(12, 14).all()


def test_repo_dataset_validates():
    """The real dataset, once the curators' studies/outcomes tables exist, must load cleanly."""
    if not (REPO_DATA / "studies.csv").exists() or not (REPO_DATA / "outcomes.csv").exists():
        pytest.skip("data/studies.csv or data/outcomes.csv not written yet")
    ds = load_dataset(REPO_DATA)
    assert set(ds.quality["study_id"]) <= set(ds.studies["study_id"])
