"""The project's citation metadata (``CITATION.cff``): the one place for how to cite the review and where its
repository is. ``repository-code`` is optional; without it no repository, issue, edit or launch link is shown
(none is ever invented)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from livingreview.config import ROOT

CITATION = ROOT / "CITATION.cff"


@lru_cache(maxsize=4)
def load_citation(path: Path = CITATION) -> dict:
    import yaml

    return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}


def repository_url(path: Path = CITATION) -> str | None:
    """The repository's public URL (``repository-code``), without a trailing slash; None when not set."""
    url = (load_citation(path).get("repository-code") or "").strip().rstrip("/")
    return url or None


__all__ = ["CITATION", "load_citation", "repository_url"]
