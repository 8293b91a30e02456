"""The package's shape: five layers, each importing only downward, and a no-change build that costs nothing.

    engine | dataset   (bottom, side by side: neither imports the other)
    config, format     (standard library only)
    review             (the engine applied to the dataset)
    book               (one module per notebook template)
    build              (manifest → execute → Sphinx → publish; knows notebooks, not outcomes)
    cli, __main__      (over all)

The contract is checked on the source (every import, at the top of a module or inside a function), so a wrong-way
import fails here before it can hide anywhere.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from livingreview.config import ROOT

PACKAGE = ROOT / "livingreview"
#: layer → the layers it may import (besides itself). engine and dataset are independent bottom layers.
ALLOWED = {
    "engine": set(),
    "dataset": set(),
    "config": {"engine", "dataset"},
    "format": set(),
    "review": {"engine", "dataset", "config", "format"},
    "book": {"engine", "dataset", "config", "format", "review"},
    "build": {"engine", "dataset", "config", "format", "review", "book"},
    "surveillance": {"dataset", "config", "format"},
    "cli": {"engine", "dataset", "config", "format", "review", "book", "build", "surveillance"},
    "__main__": {"cli"},
    "__init__": set(),
}
#: Modules of the lower layers that must stay importable without numpy, scipy, pandas or matplotlib.
LIGHT = ("livingreview.config", "livingreview.format", "livingreview.engine.options", "livingreview.dataset.vocabulary",
         "livingreview.dataset.reads", "livingreview.build", "livingreview.build.manifest", "livingreview.cli")
HEAVY = {"numpy", "pandas", "scipy", "matplotlib", "IPython", "yaml", "nbformat", "papermill", "jinja2"}


def layer_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imported_layers(path: Path) -> set[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    out = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [base] + ([f"{base}.{a.name}" for a in node.names] if base == "livingreview" else [])
        for name in names:
            parts = name.split(".")
            if parts[0] == "livingreview" and len(parts) > 1:
                out.add((parts[1], node.lineno))
    return out


def test_every_import_runs_downward():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = layer_of(path)
        assert layer in ALLOWED, f"{path.relative_to(ROOT)}: module outside the known layers {sorted(ALLOWED)}"
        for target, line in imported_layers(path):
            if target != layer and target not in ALLOWED[layer]:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {layer} imports {target}")
    assert wrong == []


def test_the_contract_would_catch_a_wrong_way_import(tmp_path):
    """The checker itself: an engine module importing the dataset is reported."""
    module = PACKAGE / "engine" / "_contract_probe.py"
    module.write_text("from livingreview.dataset import load_dataset\n", encoding="utf-8")
    try:
        with pytest.raises(AssertionError, match="engine imports dataset"):
            test_every_import_runs_downward()
    finally:
        module.unlink()


@pytest.mark.parametrize("module", LIGHT)
def test_light_modules_import_nothing_heavy(module):
    code = f"import sys, {module}; print(sorted(set({sorted(HEAVY)!r}) & set(m.split('.')[0] for m in sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert proc.stdout.strip() == "[]", f"{module} imports {proc.stdout.strip()}"


def test_the_no_change_build_imports_only_the_standard_library(tmp_path):
    """After a build, building again with nothing changed stops after one hash: no pandas, numpy, scipy, matplotlib
    (nor yaml, nbformat, jinja2) is imported. Uses a tiny book (one static page) so that it is quick."""
    manifest = tmp_path / "manifest.yml"
    manifest.write_text("root: downloads\nparts:\n  - caption: Only\n    chapters:\n      - file: methods/eligibility\n")
    code = (f"import sys\nfrom pathlib import Path\nfrom livingreview.build import run_build\n"
            f"r = run_build(manifest=Path({str(manifest)!r}), build_dir=Path({str(tmp_path / 'b')!r}), "
            f"log=lambda *a: None)\n"
            f"assert r.nothing_changed, 'the second build was not a no-change build'\n"
            f"print(sorted(set({sorted(HEAVY)!r}) & set(m.split('.')[0] for m in sys.modules)))\n")
    first = subprocess.run([sys.executable, "-c", code.replace("assert r.nothing_changed", "pass  #")],
                           capture_output=True, text=True, cwd=ROOT)
    assert first.returncode == 0, first.stderr[-2000:]
    second = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.stdout.strip() == "[]"
