"""What the oracle tests share: reading metafor's JSON, comparing with it, and regenerating a golden file live.

The comparison helpers are imported by test_oracle_diagnostics.py, test_oracle_metareg.py and
test_oracle_battery.py (pytest puts tests/ on sys.path); the test here checks that every golden file was written
by the same metafor.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ORACLE = Path(__file__).parent / "oracle"
RTOL = 1e-6   # relative agreement with metafor (both sides converge to 1e-12)
ATOL = 1e-10  # absolute, for values that are (near) zero
R_SPECIAL = {"NA": np.nan, "NaN": np.nan, "Inf": np.inf, "-Inf": -np.inf, None: np.nan}


def golden(name: str) -> dict:
    return json.loads((ORACLE / f"{name}.json").read_text())


def arr(x) -> np.ndarray:
    """JSON → float array: R writes NA/NaN/Inf as strings (or null), and jsonlite unboxes length-1 vectors."""
    vals = x if isinstance(x, list) else [x]
    return np.array([R_SPECIAL[v] if v is None or isinstance(v, str) else v for v in vals], dtype=float)


def close(actual, expected, what: str = "", rtol: float = RTOL, atol: float = ATOL) -> None:
    a, e = np.atleast_1d(np.asarray(actual, dtype=float)).ravel(), arr(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} vs metafor {e.shape}"
    np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg=f"{what}: NaN pattern differs")
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def why_no_r(versions: dict[str, str]) -> str:
    """Why the live oracle cannot run (Rscript or a package missing, another version), or "" if it can."""
    if shutil.which("Rscript") is None:
        return "Rscript not installed"
    libs = "; ".join(f"library({p})" for p in ("jsonlite", *versions))
    show = ", ".join(f"as.character(packageVersion('{p}'))" for p in versions)
    probe = subprocess.run(["Rscript", "-e", f"suppressMessages({{{libs}}}); cat({show})"], capture_output=True,
                           text=True, check=False)
    if probe.returncode != 0:
        return f"R packages {', '.join(versions)}/jsonlite not available: " + probe.stderr.strip()[-200:]
    if probe.stdout.split() != list(versions.values()):
        return f"installed {', '.join(versions)} {probe.stdout.strip()} are not the oracle's {list(versions.values())}"
    return ""


def assert_regenerates(name: str, tmp_path: Path, versions: dict[str, str], timeout: float) -> None:
    """Run tests/oracle/<name>.R live (from the repository root): its JSON must equal the committed one byte for
    byte. Skips, saying why, when R or the oracle's package versions are missing."""
    why = why_no_r(versions)
    if why:
        pytest.skip(f"live metafor oracle skipped: {why}")
    out = tmp_path / f"{name}.json"
    subprocess.run(["Rscript", str(ORACLE / f"{name}.R"), str(out)], cwd=Path(__file__).parent.parent, check=True,
                   capture_output=True, text=True, timeout=timeout)
    assert out.read_bytes() == (ORACLE / f"{name}.json").read_bytes(), f"{name}.json differs from a live run"


def test_every_golden_file_comes_from_the_same_metafor():
    files = {p.name: json.loads(p.read_text()) for p in sorted(ORACLE.glob("golden_*.json"))}
    versions = {name: g["metafor_version"] for name, g in files.items() if "metafor_version" in g}
    assert {"golden_diagnostics.json", "golden_metareg.json", "golden_battery.json"} <= set(versions)
    assert set(versions.values()) == {"3.8.1"}, versions
