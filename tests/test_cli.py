"""The command line: results table (CSV/JSON), validation, clear errors."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from livingreview.cli import main
from livingreview.config import ROOT, Spec
from livingreview.dataset import load_dataset
from livingreview.review.outcomes import RESULT_COLUMNS, results_table

SYNTHETIC = ROOT / "tests" / "fixtures" / "synthetic"
REQUIRED = ["outcome", "subgroup", "level", "k", "events", "total", "measure", "method", "estimate", "ci_low",
            "ci_high", "pi_low", "pi_high", "tau2", "i2", "q", "q_df", "q_p"]


def run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_results_csv_has_the_documented_columns_and_the_engine_numbers(capsys):
    code, out, _ = run(["results", "--measure", "PFT", "--method", "DL", "--data", str(SYNTHETIC)], capsys)
    assert code == 0
    table = pd.read_csv(io.StringIO(out), keep_default_na=True)
    assert list(table.columns) == RESULT_COLUMNS and set(REQUIRED) <= set(table.columns)
    expected = results_table(load_dataset(SYNTHETIC), Spec("PFT", "DL"))
    assert len(table) == len(expected) > 0
    assert set(table["measure"]) == {"PFT"} and set(table["method"]) == {"DL"}
    row = table[(table["outcome"] == "overall_response") & (table["subgroup"] == "overall")].iloc[0]
    want = expected[(expected["outcome"] == "overall_response") & (expected["subgroup"] == "overall")].iloc[0]
    assert row["estimate"] == pytest.approx(want["estimate"], rel=1e-9)
    assert 0 <= row["ci_low"] <= row["estimate"] <= row["ci_high"] <= 1
    # every subgroup level of an outcome with subgroups is a row
    assert {"overall", "regimen", "disease_status"} <= set(table.loc[table["outcome"] == "overall_response", "subgroup"])


def test_results_json(capsys):
    code, out, _ = run(["results", "--measure", "PLO", "--method", "REML", "--data", str(SYNTHETIC),
                        "--format", "json", "--outcome", "vod"], capsys)
    assert code == 0
    records = json.loads(out)
    assert records and {r["outcome"] for r in records} == {"vod"}
    assert set(REQUIRED) <= set(records[0])


def test_results_on_invalid_data_names_file_line_column_rule(tmp_path, capsys):
    bad = tmp_path / "data"
    shutil.copytree(SYNTHETIC, bad)
    text = (bad / "outcomes.csv").read_text().splitlines()
    header = text[0].split(",")
    cells = text[1].split(",")
    cells[header.index("total")] = "0"
    text[1] = ",".join(cells)
    (bad / "outcomes.csv").write_text("\n".join(text) + "\n")
    code, _, err = run(["results", "--measure", "PLO", "--method", "REML", "--data", str(bad)], capsys)
    assert code == 1
    assert "outcomes.csv, line 2, column 'total'" in err


def test_invalid_choice_lists_valid_ones():
    proc = subprocess.run([sys.executable, "-m", "livingreview", "results", "--measure", "LOGIT"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert "PR" in proc.stderr and "PLO" in proc.stderr and "PFT" in proc.stderr


def test_validate_command(capsys):
    code, out, _ = run(["validate", "--data", str(SYNTHETIC)], capsys)
    assert code == 0 and out.startswith("OK:")


def test_results_threshold_adds_the_predictive_probability(capsys):
    from livingreview.engine.intervals import predictive_probability
    from livingreview.review.outcomes import analyse_outcome

    code, out, _ = run(["results", "--outcome", "vod", "--threshold", "0.1"], capsys)
    assert code == 0
    table = pd.read_csv(io.StringIO(out))
    assert list(table.columns) == RESULT_COLUMNS + ["threshold", "prob_above"]
    overall = table[table["subgroup"] == "overall"].iloc[0]
    res = analyse_outcome(load_dataset(ROOT / "data"), "vod").overall
    assert overall["prob_above"] == pytest.approx(predictive_probability(res, 0.1).probability, rel=1e-9)
    assert (table["threshold"] == 0.1).all()
    known = table["prob_above"].notna()
    assert table.loc[known, "prob_above"].between(0, 1).all()
    assert (table.loc[~known, "k"] < 3).all()  # no prediction distribution below 3 studies (PI on k − 2 df)


@pytest.mark.parametrize("value", ["10", "0", "1", "x"])
def test_results_threshold_must_be_a_proportion(value):
    proc = subprocess.run([sys.executable, "-m", "livingreview", "results", "--threshold", value], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "--threshold" in proc.stderr and "Traceback" not in proc.stderr


def test_diagnostics_studies_table(capsys):
    from livingreview.review.diagnostics import study_diagnostics
    from livingreview.review.outcomes import analyse_outcome

    code, out, _ = run(["diagnostics", "vod"], capsys)
    assert code == 0
    table = pd.read_csv(io.StringIO(out))
    ds = load_dataset(ROOT / "data")
    expected = study_diagnostics(ds, analyse_outcome(ds, "vod"))
    assert list(table["study_id"]) == list(expected["study_id"])  # publication-year order
    assert table["year"].is_monotonic_increasing or table["year"].isna().any()
    for column in ("rstudent", "cook_d", "hat", "baujat_x", "cumulative_prop_estimate"):
        assert table[column].to_numpy() == pytest.approx(expected[column].to_numpy(dtype=float), rel=1e-9)


def test_diagnostics_model_table_json(capsys):
    code, out, _ = run(["diagnostics", "overall_response", "--table", "model", "--format", "json"], capsys)
    assert code == 0
    rows = json.loads(out)
    terms = {(r["moderator"], r["term"]) for r in rows}
    assert ("(heterogeneity, Q-profile CI)", "tau2") in terms and ("disease status", "intrcpt") in terms
    refused = [r for r in rows if r["moderator"] == "regimen"]
    assert len(refused) == 1 and "fewer than 10 per covariate" in refused[0]["note"]
    code, out, _ = run(["diagnostics", "overall_response", "--table", "model", "--force"], capsys)
    assert "regimen[InO monotherapy]" in out


@pytest.mark.parametrize("outcome, message", [("os_2y", "need at least 3"), ("nope", "is not defined")])
def test_diagnostics_refuses_clearly(outcome, message, capsys):
    code, _, err = run(["diagnostics", outcome], capsys)
    assert code == 2 and message in err
