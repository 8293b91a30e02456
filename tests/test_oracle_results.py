"""The book's own numbers against metafor: every outcome × subgroup level of data/, under four specifications.

Golden values: ``Rscript tests/oracle/golden_results.R`` (writes tests/oracle/golden_results.json). They carry an
MD5 fingerprint of the data tables; when data/ changes, ``test_golden_matches_current_data`` fails until the golden
values are regenerated, so every figure the book publishes has been checked against metafor on the same data.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess

import pytest

from livingreview.config import DATA_DIR, ROOT, Spec
from livingreview.dataset import load_dataset
from livingreview.review.outcomes import analyse_outcome, results_table, row_choices

GOLDEN = ROOT / "tests" / "oracle" / "golden_results.json"
SCRIPT = ROOT / "tests" / "oracle" / "golden_results.R"
RTOL = 1e-6  # as for the engine's oracle tests; never widened
ATOL = 1e-10
FIELDS = ["k", "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2", "q", "q_p",
          "q_between", "q_between_df", "q_between_p"]

golden = json.loads(GOLDEN.read_text())


def _num(value):
    return math.nan if value in ("NA", "NaN", None) else float(value)


def _close(a, b) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= ATOL + RTOL * abs(b)


def test_golden_matches_current_data():
    for name, md5 in golden["data_md5"].items():
        current = hashlib.md5((DATA_DIR / name).read_bytes()).hexdigest()
        assert current == md5, (f"data/{name} changed since the golden values were generated: run "
                                f"`Rscript tests/oracle/golden_results.R` and review the differences")


SPECS = sorted({(r["measure"], r["method"], r["test"], r["pi_dist"]) for r in golden["rows"]})


@pytest.mark.parametrize("spec", SPECS, ids=["-".join(s) for s in SPECS])
def test_results_table_matches_metafor(spec):
    measure, method, test, pi_dist = spec
    table = results_table(load_dataset(DATA_DIR), Spec(measure, method, test, pi_dist))
    ours = {(r.outcome, r.subgroup, r.level or ""): r for r in table.itertuples()}
    expected = [r for r in golden["rows"] if (r["measure"], r["method"], r["test"], r["pi_dist"]) == spec]
    assert len(expected) == len(ours)
    bad = []
    for row in expected:
        key = (row["outcome"], row["subgroup"], row["level"])
        mine = ours[key]
        for field in FIELDS:
            a, b = float(getattr(mine, field)), _num(row[field])
            if not _close(a, b):
                bad.append(f"{key} {field}: ours {a!r}, metafor {b!r}")
    assert bad == []


CHOICE_FIELDS = ["k", "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2", "q", "q_p"]


@pytest.mark.parametrize("spec", SPECS, ids=["-".join(s) for s in SPECS])
def test_row_choices_match_metafor(spec):
    """The sensitivity analyses over which rows are pooled (stated population only; with bounds)."""
    ds = load_dataset(DATA_DIR)
    expected = [r for r in golden["choices"] if (r["measure"], r["method"], r["test"], r["pi_dist"]) == spec]
    assert {r["rows"] for r in expected} == {"population", "bounds", "overlap"}
    bad = []
    for row in expected:
        if row["rows"] == "overlap":
            a = next(a for name, a, _ in row_choices(ds, row["outcome"], Spec(*spec)) if "overlapping" in name)
        else:
            kwargs = {"bounds": True} if row["rows"] == "bounds" else {
                "population": ds.definitions.set_index("outcome").loc[row["outcome"], "population"]}
            a = analyse_outcome(ds, row["outcome"], Spec(*spec), **kwargs)
        p = a.overall.proportion()
        ours = {"k": a.k, "estimate": p.estimate, "ci_low": p.ci_low, "ci_high": p.ci_high, "pi_low": p.pi_low,
                "pi_high": p.pi_high, "tau2": a.overall.tau2, "i2": a.overall.i2, "q": a.overall.q,
                "q_p": a.overall.q_p}
        bad += [f"{row['outcome']} {row['rows']} {f}: ours {ours[f]!r}, metafor {row[f]!r}"
                for f in CHOICE_FIELDS if not _close(float(ours[f]), _num(row[f]))]
    assert bad == []


def test_golden_script_reproduces_committed_values(tmp_path):
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript not found: install r-base-core r-cran-metafor r-cran-jsonlite to run the live oracle")
    out = tmp_path / "golden_results.json"
    proc = subprocess.run(["Rscript", str(SCRIPT), str(out)], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0 and "there is no package" in proc.stderr:
        pytest.skip(f"R package missing: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text()) == golden
