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


@pytest.mark.parametrize("column", ["population", "bound", "report_id", "location"])
def test_counted_row_says_where_and_of_whom(data, column):
    edit(data, "outcomes.csv", 4, column, "")
    v = assert_reported(errors(data), "outcomes.csv", 4, column, f"{column} given with counts")
    assert "the row has counts" in str(v)


def test_population_vocabulary(data):
    edit(data, "outcomes.csv", 2, "population", "responder")
    v = assert_reported(errors(data), "outcomes.csv", 2, "population", "allowed values")
    assert "did you mean 'responders'" in str(v)
    edit(data, "outcome_definitions.csv", 2, "population", "everyone")
    assert_reported(errors(data), "outcome_definitions.csv", 2, "population", "allowed values")


def test_bound_vocabulary(data):
    edit(data, "outcomes.csv", 2, "bound", "at least")
    assert_reported(errors(data), "outcomes.csv", 2, "bound", "allowed values")


def test_report_must_belong_to_the_rows_study(data):
    edit(data, "outcomes.csv", 2, "report_id", "beta2020_r1")  # alpha2019's row citing beta2020's report
    v = assert_reported(errors(data), "outcomes.csv", 2, "report_id", "report of the row's study")
    assert "belongs to 'beta2020'" in str(v)
    edit(data, "outcomes.csv", 2, "report_id", "nobody_r1")
    assert_reported(errors(data), "outcomes.csv", 2, "report_id", "report_id defined in reports.csv")


def test_report_needs_a_public_locator(data):
    for column in ("doi", "pmid", "pmcid", "nct_id", "abstract_number", "url"):
        edit(data, "reports.csv", 2, column, "")
    v = assert_reported(errors(data), "reports.csv", 2, "url", "a public locator given")
    assert "a reader could not open the report" in str(v)


def test_malformed_locators(data):
    edit(data, "reports.csv", 2, "doi", "https://doi.org/10.9999/synth.0001")
    edit(data, "reports.csv", 2, "pmid", "PMID 10000001")
    edit(data, "reports.csv", 3, "url", "example.org/beta2020")
    errs = errors(data)
    for line, column in ((2, "doi"), (2, "pmid"), (3, "url")):
        assert any(v.line == line and v.column == column and v.rule.startswith("matches") for v in errs.violations), \
            (line, column, str(errs))


def test_one_principal_report_per_study(data):
    edit(data, "reports.csv", 3, "study_id", "alpha2019")
    edit(data, "outcomes.csv", 3, "report_id", "alpha2019_r1")  # keep beta2020's rows consistent
    errs = errors(data)
    v = assert_reported(errs, "reports.csv", 3, "role", "one principal report per study")
    assert "on line 2" in str(v)


@pytest.mark.parametrize("text", ["stored GitHub file id 12345", "see LEADS", "from stored sources",
                                  "compendium entry 7", "seeds/003"])
def test_internal_references_rejected_in_public_text(data, text):
    edit(data, "outcomes.csv", 2, "location", text)
    v = assert_reported(errors(data), "outcomes.csv", 2, "location", "public text names no internal source")
    assert "curator_note" in str(v)


def test_curator_notes_may_name_internal_sources(data):
    edit(data, "outcomes.csv", 2, "curator_note", "found through the stored GitHub file id 12345 (LEADS)")
    edit(data, "studies.csv", 2, "curator_note", "compendium entry 7")
    load_dataset(data)


def test_quote_status_goes_with_a_quote(data):
    edit(data, "outcomes.csv", 2, "quote_status", "")
    assert_reported(errors(data), "outcomes.csv", 2, "quote_status", "quote_status given with a quote")
    edit(data, "outcomes.csv", 2, "quote_status", "verified")
    edit(data, "outcomes.csv", 2, "quote", "")
    assert_reported(errors(data), "outcomes.csv", 2, "quote_status", "quote_status only with a quote")


def test_overlaps_with_names_other_studies(data):
    edit(data, "studies.csv", 2, "overlaps_with", "alpha2019")
    v = assert_reported(errors(data), "studies.csv", 2, "overlaps_with", "overlaps_with names other included studies")
    assert "the study itself" in str(v)


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
    v = assert_reported(errs, "outcome_definitions.csv", 2, "subgroups",
                        "matches (regimen|disease_status)(;(regimen|disease_status))?")
    assert "'regimen;ph_status'" in str(v)
    assert_reported(errs, "published.csv", 8, "level", "level matches subgroup")


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


# --- what a lenient CSV reader would let through -----------------------------------------------------------------


def replace_bytes(path: Path, old: bytes, new: bytes) -> None:
    raw = path.read_bytes()
    assert old in raw
    path.write_bytes(raw.replace(old, new, 1))


def test_latin1_line_reported_with_a_guess_and_other_problems_still_found(data):
    replace_bytes(data / "studies.csv", "median 47 (18–78)".encode(), "médian 47".encode("latin-1"))
    edit_line = [i for i, line in enumerate((data / "studies.csv").read_bytes().split(b"\n"), 1) if b"m\xe9dian" in line][0]
    rows = (data / "outcomes.csv").read_text(encoding="utf-8")
    (data / "outcomes.csv").write_text(rows.replace("alpha2019,overall_response,32,40", "alpha2019,overall_response,41,40"),
                                       encoding="utf-8")
    errs = errors(data)
    v = assert_reported(errs, "studies.csv", edit_line, None, "file is UTF-8")
    assert "'é'" in str(v) and "save the file as UTF-8" in str(v)
    assert_reported(errs, "outcomes.csv", 2, "events", "events <= total")


def test_nul_bytes(data):
    replace_bytes(data / "versions.csv", b"\n2,", b"\n\x002,")
    assert_reported(errors(data), "versions.csv", 3, None, "no NUL bytes")


def test_semicolon_separated_file(data):
    text = (data / "versions.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(text.splitlines()))
    (data / "versions.csv").write_text("\n".join(";".join(r) for r in rows) + "\n", encoding="utf-8")
    errs = errors(data)
    v = assert_reported(errs, "versions.csv", 1, None, "file is comma-separated")
    assert "';'-separated" in str(v)
    assert not [x for x in errs.violations if x.file.endswith("versions.csv") and x is not v]  # nothing follows from it


def test_huge_cell_is_reported_once_and_shortened(data):
    edit(data, "studies.csv", 2, "age", "x" * 200_000)
    errs = errors(data)
    v = assert_reported(errs, "studies.csv", 2, "age", "cell at most 10,000 characters")
    assert "200,000 characters" in str(v) and len(str(errs)) < 2_000


@pytest.mark.parametrize("value, hint", [("٣٢", "digits must be 0–9"), ("8_9", "no separators between digits"),
                                         ("1,000", "no separators between digits"), ("32.0", "")])
def test_numbers_a_reader_would_misread(data, value, hint):
    edit(data, "outcomes.csv", 2, "events", value)
    errs = errors(data)
    v = assert_reported(errs, "outcomes.csv", 2, "events", "whole number")
    assert hint in str(v)
    assert len([x for x in errs.violations if x.line == 2 and x.file.endswith("outcomes.csv")]) == 1  # no cascade


def test_invisible_characters_are_spelled_out(data):
    edit(data, "studies.csv", 2, "regimen", "InO\u00a0monotherapy")
    v = assert_reported(errors(data), "studies.csv", 2, "regimen", "allowed values")
    assert "⟨U+00A0 NO-BREAK SPACE⟩" in str(v) and "did you mean 'InO monotherapy'" in str(v)


def test_surrounding_spaces_are_stripped_not_errors(data):
    edit(data, "studies.csv", 2, "regimen", "  InO monotherapy ")
    assert load_dataset(data).studies.loc[0, "regimen"] == "InO monotherapy"


def test_unknown_column_suggests_the_known_one(data):
    rows = read(data / "versions.csv")
    rows[0][rows[0].index("description")] = "descripton"
    write(data / "versions.csv", rows)
    errs = errors(data)
    v = assert_reported(errs, "versions.csv", 1, "descripton", "column known")
    assert "did you mean 'description'" in str(v)
    assert_reported(errs, "versions.csv", 1, "description", "column present")


def test_a_rejected_study_row_does_not_cascade_into_foreign_keys(data):
    rows = read(data / "studies.csv")
    rows[1].append("stray")  # alpha2019's row gets an extra cell: rejected by the reader
    write(data / "studies.csv", rows)
    errs = errors(data)
    assert_reported(errs, "studies.csv", 2, None, "row has one cell per column")
    assert not [v for v in errs.violations if "alpha2019" in str(v.value)], str(errs)


def test_frictionless_validates_the_published_package():
    """Anyone can check the dataset with the standard's own tool (no livingreview code involved)."""
    from frictionless import Package, system

    with system.use_context(trusted=True):
        report = Package(str(REPO_DATA / "datapackage.json")).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:10]


def test_data_readme_is_generated_from_the_schemas_and_data():
    from livingreview.dataset import docs

    assert docs.main(["--check"]) == 0, "run `python -m livingreview.dataset.docs` and commit data/README.md"
    with pytest.raises(KeyError, match="no_such_table"):
        docs.render("<!-- generated: columns-no_such_table -->\n<!-- end generated -->", docs.blocks())
