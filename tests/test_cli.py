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
