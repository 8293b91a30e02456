"""Statistical analysis (``notebooks/methods.ipynb``): the software that produced the book."""

from __future__ import annotations

import importlib.metadata as md
import platform

import pandas as pd
from IPython.display import HTML

from livingreview.book import common
from livingreview.config import MIN_K_BIAS

READS = ()


def context(ds, params: dict) -> dict:
    return {**common.spec_context({}), "min_k_bias": MIN_K_BIAS}


def software_table() -> HTML:
    """Versions that produced the book (pinned in requirements.txt; Python to minor version only)."""
    names = ["livingreview", "numpy", "scipy", "pandas", "statsmodels", "matplotlib", "papermill", "jupyter-book"]
    rows = [{"Software": "Python", "Version": ".".join(platform.python_version_tuple()[:2])}]
    for name in names:
        try:
            rows.append({"Software": name, "Version": md.version(name)})
        except md.PackageNotFoundError:
            rows.append({"Software": name, "Version": "not installed"})
    return common.html(pd.DataFrame(rows))
