"""The project's citation metadata (``CITATION.cff``): the one place for how to cite the review and where its
repository is. ``repository-code`` is optional; without it no repository, issue, edit or launch link is shown
(none is ever invented)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from livingreview.config import ROOT

CITATION = ROOT / "CITATION.cff"


def load_citation(path: Path | None = None) -> dict:
    """CITATION.cff as a mapping (``path``: another file; default: the repository's, read at call time)."""
    return _load(Path(path or CITATION))


@lru_cache(maxsize=4)
def _load(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def repository_url(path: Path | None = None) -> str | None:
    """The repository's public URL (``repository-code``), without a trailing slash; None when not set."""
    url = (load_citation(path).get("repository-code") or "").strip().rstrip("/")
    return url or None


def _authors(cff: dict) -> str:
    names = []
    for a in cff.get("authors") or []:
        names.append(a.get("name") or " ".join(p for p in (a.get("given-names"), a.get("family-names")) if p))
    return ", ".join(n for n in names if n)


def cite_this_version(data_version: int, dataset_date: str, path: Path | None = None) -> str:
    """'The livingreview contributors. <title>. Version 0.1.0, data version 2 (dataset of 21 November 2026).' —
    plain text from CITATION.cff and the data version shown; the repository's URL only when it is set."""
    cff = load_citation(path)
    text = (f"{_authors(cff)}. {cff.get('title', '').strip()}. Version {cff.get('version', '')}, data version "
            f"{data_version} (dataset of {dataset_date}).")
    url = repository_url(path)
    return text + (f" {url}" if url else "")


def repository_links(path: Path | None = None) -> dict[str, str]:
    """Where a reader can see the code, report a data error or suggest an edit — only when ``repository-code`` is
    set (GitHub-style issue URLs); empty otherwise."""
    url = repository_url(path)
    if not url:
        return {}
    return {"Repository": url, "Report a data error": f"{url}/issues/new?title=Data%20error%3A%20",
            "Suggest an edit": f"{url}/issues/new?title=Suggested%20edit%3A%20"}


def cite_markdown(data_version: int, dataset_date: str, path: Path | None = None) -> str:
    """The "Cite this version" block of the landing page (MyST Markdown; data text escaped)."""
    from livingreview.format import md

    lines = [f"> {md(cite_this_version(data_version, dataset_date, path))}", ""]
    paper = next((r for r in load_citation(path).get("references") or [] if r.get("doi")), None)
    if paper:
        lines.append(f"Please cite the meta-analysis it re-does too: doi:[{md(paper['doi'])}]"
                     f"(https://doi.org/{paper['doi']}). Each number's source is in the dataset ({{doc}}`downloads`).")
    links = repository_links(path)
    if links:
        lines += ["", " · ".join(f"[{md(name)}]({href})" for name, href in links.items())]
    return "\n".join(lines) + "\n"


def cite_footer_html(data_version: int, dataset_date: str, path: Path | None = None) -> str:
    """The footer line of every page: how to cite this version, and the repository links when set (HTML)."""
    import html

    parts = [f"<strong>Cite this version:</strong> {html.escape(cite_this_version(data_version, dataset_date, path))}"]
    parts += [f'<a href="{html.escape(href)}">{html.escape(name)}</a>' for name, href in repository_links(path).items()]
    return '<p class="livingreview-cite">' + " · ".join(parts) + "</p>"


__all__ = ["CITATION", "cite_footer_html", "cite_markdown", "cite_this_version", "load_citation", "repository_links",
           "repository_url"]
