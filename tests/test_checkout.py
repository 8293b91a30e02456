"""A build, a ``run`` and the nbval suite compute with *this checkout's* code and data, whatever is installed.

The environment running the tests has ``livingreview`` installed in editable mode from this repository (``.ci/run``
does ``pip install -e .``). A second clone is made here and one of its counts changed: built in the second clone,
the book must show the second clone's number (not this repository's), and nbval there must fail on the moved number.
A kernel that would import the other clone's package stops instead.
"""

from __future__ import annotations

import csv
import html as htmllib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from livingreview import format as fmt
from livingreview.config import PRIMARY, ROOT
from livingreview.dataset import load_dataset
from livingreview.review.outcomes import results_table

COPIED = ("livingreview", "notebooks", "data", "book", "tests/nbval_sanitize.cfg", "manifest.yml", "_config.yml",
          "_toc.yml", "pyproject.toml", "conftest.py", "CITATION.cff")


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A second clone of the repository with the events of one VOD row changed."""
    root = tmp_path_factory.mktemp("clone") / "review"
    for name in COPIED:
        source, target = ROOT / name, root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "_build", "staging"))
        else:
            shutil.copyfile(source, target)
    path = root / "data" / "outcomes.csv"
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    h = rows[0]
    row = next(r for r in rows[1:] if r[h.index("outcome")] == "vod" and r[h.index("events")])
    row[h.index("events")] = str(int(row[h.index("events")]) + 3)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return root


def installed_from() -> Path:
    proc = subprocess.run([sys.executable, "-c", "import livingreview; print(livingreview.__file__)"],
                          capture_output=True, text=True, cwd="/", check=True,
                          env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LIVINGREVIEW_CHECKOUT")})
    return Path(proc.stdout.strip()).resolve().parent.parent


def vod_estimate(data: Path) -> str:
    row = results_table(load_dataset(data), PRIMARY, outcomes=["vod"]).iloc[0]
    return f"{fmt.pct(row['estimate'])} (95% CI: {fmt.interval(row['ci_low'], row['ci_high'])}"


def test_the_book_built_in_another_clone_shows_that_clones_numbers(clone, tmp_path):
    if installed_from() != ROOT.resolve():
        pytest.skip(f"livingreview is installed from {installed_from()}, not from this checkout: the situation of "
                    f"this test (a second clone beside the installed one) does not arise")
    theirs, ours = vod_estimate(clone / "data"), vod_estimate(ROOT / "data")
    assert theirs != ours
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LIVINGREVIEW_CHECKOUT")}
    env["LIVINGREVIEW_BUILD_DIR"] = str(tmp_path / "build")
    proc = subprocess.run([sys.executable, "-m", "livingreview", "build"], cwd=clone, env=env, capture_output=True,
                          text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = htmllib.unescape((tmp_path / "build" / "html" / "results" / "vod.html").read_text(encoding="utf-8"))
    assert theirs in page and ours not in page


def test_nbval_in_another_clone_fails_on_that_clones_moved_number(clone):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LIVINGREVIEW_CHECKOUT")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "book/results/vod.ipynb"],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "Cell outputs differ" in proc.stdout


def test_a_kernel_that_imports_another_checkout_stops(clone):
    """What every kernel of the build does: with LIVINGREVIEW_CHECKOUT naming the clone, importing the package
    installed from elsewhere is an error that says so."""
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "LIVINGREVIEW_CHECKOUT": str(clone)}
    proc = subprocess.run([sys.executable, "-c", "import livingreview"], cwd="/", env=env, capture_output=True,
                          text=True)
    if installed_from() == clone.resolve():
        pytest.skip("the clone itself is installed")
    assert proc.returncode == 1 and "ImportError" in proc.stderr
    assert f"executes the notebooks of the checkout {clone}" in proc.stderr
