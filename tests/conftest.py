"""Shared fixtures. ``real_book`` builds the book from data/ once per test session (about 1.5 min on 2 cores)."""

from __future__ import annotations

import pytest

from livingreview.build import build
from livingreview.config import DATA_DIR


@pytest.fixture(scope="session")
def real_book(tmp_path_factory):
    build_dir = tmp_path_factory.mktemp("build-real")
    html = build(data_dir=DATA_DIR, build_dir=build_dir, jobs=2, log=lambda *a: None)
    return build_dir, html
