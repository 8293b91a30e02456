"""``manifest.yml``: the one list of the book's pages, and what each page's template and page module declare.

A page is a static Markdown file of ``book/`` or a notebook template of ``notebooks/`` executed with parameters.
``_toc.yml`` is generated from the manifest (:func:`toc_text`). What a template accepts is its ``parameters`` cell;
what its page reads from ``data/`` is the ``READS`` tuple of its page module ``livingreview/book/<template>.py``,
read here with :mod:`ast` so that planning a build never imports the page (or pandas).

Standard library only at import time (PyYAML is imported when the manifest is read).
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from livingreview.config import BOOK_DIR, MANIFEST, NOTEBOOKS_DIR, ROOT

#: Parameters every data page takes from the build (or from ``run``'s options), never from the manifest.
BUILD_PARAMETERS = ("data_dir", "data_version")
PAGE_MODULES = ROOT / "livingreview" / "book"
TOC_HEADER = ("# Generated from manifest.yml by `python -m livingreview build` — edit manifest.yml, not this file.\n"
              "# Chapters mirror the paper (Lao, Wen & Wen 2025): 1 Introduction, 2 Methods, 3 Results, 4 Discussion,"
              " 5 Conclusion.\n")


class ManifestError(ValueError):
    """manifest.yml, a template's parameters cell or a page module's READS is wrong; the message says where."""


@dataclass(frozen=True)
class Parameter:
    """One assignment of a template's ``parameters`` cell: its default and its trailing comment."""

    name: str
    default: object
    help: str


def template_path(template: str) -> Path:
    """A template name (``outcome``: ``notebooks/outcome.ipynb``) or the path of a copy of one (``….ipynb``)."""
    return Path(template) if template.endswith(".ipynb") else NOTEBOOKS_DIR / f"{template}.ipynb"


@dataclass(frozen=True)
class Page:
    """A notebook page: the template ``notebooks/<template>.ipynb`` executed with ``parameters`` into
    ``book/<output>``. ``template`` may also be the path of a copy of a template (tests, experiments): its page
    module is the one of the template of the same name."""

    template: str
    output: str  # path in book/, with .ipynb
    parameters: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return Path(self.template).stem

    @property
    def template_path(self) -> Path:
        return template_path(self.template)

    @property
    def module(self) -> str:
        return f"livingreview.book.{self.name}"

    @property
    def docname(self) -> str:
        return self.output.removesuffix(".ipynb")


@dataclass(frozen=True)
class Manifest:
    """The pages in reading order, the static pages, and the table of contents they form."""

    pages: tuple[Page, ...]
    static: tuple[str, ...]  # docnames of the static pages (book/<docname>.md)
    toc: dict  # the jupyter-book table of contents (format jb-book)

    def site_map(self) -> str:
        """Every notebook page as canonical JSON (sorted): what links between pages depend on."""
        return json.dumps(sorted([p.output, p.name, p.parameters] for p in self.pages), sort_keys=True)


def _read_yaml(path: Path):
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=loader)
    except yaml.YAMLError as err:
        raise ManifestError(f"{path}: not valid YAML: {err}") from None


@lru_cache(maxsize=None)
def _parameters_cell(path: str, mtime_ns: int) -> dict[str, Parameter]:
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ManifestError(f"{path}: cannot read the notebook: {err}") from None
    cell = next((c for c in nb.get("cells", []) if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        return {}
    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    lines = source.splitlines()
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                default = ast.literal_eval(node.value)
            except ValueError:
                default = None
            line = lines[node.lineno - 1]
            comment = line.split("#", 1)[1].strip() if "#" in line[node.value.end_col_offset:] else ""
            out[node.targets[0].id] = Parameter(node.targets[0].id, default, comment)
    return out


def template_parameters(template: str | Path) -> dict[str, Parameter]:
    """The assignments of a template's cell tagged ``parameters`` (name → default and help), read with :mod:`ast`
    (papermill's inspector drops lines whose comment contains '=')."""
    path = template_path(str(template))
    if not path.is_file():
        raise ManifestError(f"no template {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return _parameters_cell(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=None)
def _module_reads(path: str, mtime_ns: int) -> tuple[str, ...]:
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) \
            else []
        if any(isinstance(t, ast.Name) and t.id == "READS" for t in targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                raise ManifestError(f"{path}: READS must be a literal tuple of strings") from None
            if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
                raise ManifestError(f"{path}: READS must be a tuple of strings")
            return value
    raise ManifestError(f"{path}: the page module declares no READS (what the page reads from data/)")


def declared_reads(template: str) -> tuple[str, ...]:
    """The ``READS`` of ``livingreview/book/<template>.py``, unformatted (e.g. ``"outcomes[outcome={outcome}]"``)."""
    path = PAGE_MODULES / f"{template}.py"
    if not path.is_file():
        raise ManifestError(f"template notebooks/{template}.ipynb has no page module livingreview/book/{template}.py")
    return _module_reads(str(path), path.stat().st_mtime_ns)


def page_reads(page: Page) -> tuple[str, ...]:
    """The page's declared reads with its parameters filled in."""
    try:
        return tuple(r.format(**page.parameters) for r in declared_reads(page.name))
    except (KeyError, IndexError) as err:
        raise ManifestError(f"livingreview/book/{page.name}.py: READS uses parameter {err} that page "
                            f"{page.output} does not set") from None


def _entry(raw, where: str, pages: list, static: list) -> dict:
    if not isinstance(raw, dict):
        raise ManifestError(f"{where}: expected a mapping (file: … or notebook: …), got {raw!r}")
    unknown = set(raw) - {"file", "notebook", "output", "parameters", "sections"}
    if unknown:
        raise ManifestError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    if ("file" in raw) == ("notebook" in raw):
        raise ManifestError(f"{where}: give either 'file' (a static page) or 'notebook' + 'output'")
    if "file" in raw:
        doc = str(raw["file"])
        if not (BOOK_DIR / f"{doc}.md").is_file():
            raise ManifestError(f"{where}: static page book/{doc}.md does not exist")
        static.append(doc)
    else:
        template, output = str(raw["notebook"]), raw.get("output")
        if not output:
            raise ManifestError(f"{where}: notebook {template!r} needs an 'output' (its path in book/)")
        doc = str(output).removesuffix(".ipynb")
        declared = template_parameters(template)
        params = dict(raw.get("parameters") or {})
        bad = sorted(set(params) - (set(declared) - set(BUILD_PARAMETERS)))
        if bad:
            raise ManifestError(f"{where} ({doc}): parameter(s) {', '.join(bad)} not accepted by "
                                f"{template} (its parameters: "
                                f"{', '.join(n for n in declared if n not in BUILD_PARAMETERS) or 'none'})")
        pages.append(Page(template, f"{doc}.ipynb", params))
    entry = {"file": doc}
    sections = raw.get("sections")
    if sections:
        entry["sections"] = [_entry(s, f"{where} > section {i}", pages, static) for i, s in enumerate(sections, 1)]
    return entry


def load_manifest(path: Path = MANIFEST) -> Manifest:
    spec = _read_yaml(path) or {}
    if not isinstance(spec, dict) or "parts" not in spec:
        raise ManifestError(f"{path}: needs 'root' and 'parts'")
    pages, static = [], []
    raw_root = spec.get("root", "index")
    if isinstance(raw_root, dict):  # the landing page is itself a notebook page
        root = _entry(raw_root, f"{path.name}: root", pages, static)["file"]
    else:
        root = str(raw_root)
        if not (BOOK_DIR / f"{root}.md").is_file():
            raise ManifestError(f"{path}: root page book/{root}.md does not exist")
        static.append(root)
    parts = []
    for i, part in enumerate(spec["parts"], start=1):
        where = f"{path.name}: part {i} ({part.get('caption', '?')})"
        toc_part = {"caption": str(part["caption"])}
        if part.get("numbered"):
            toc_part["numbered"] = True
        toc_part["chapters"] = [_entry(c, f"{where} > chapter {j}", pages, static)
                                for j, c in enumerate(part.get("chapters") or [], start=1)]
        parts.append(toc_part)
    docs = [p.docname for p in pages] + static
    dupes = sorted({d for d in docs if docs.count(d) > 1})
    if dupes:
        raise ManifestError(f"{path}: page(s) listed twice: {', '.join(dupes)}")
    return Manifest(tuple(pages), tuple(static), {"format": "jb-book", "root": root, "parts": parts})


def toc_text(manifest: Manifest) -> str:
    """``_toc.yml`` for jupyter-book, generated from the manifest."""
    import yaml

    return TOC_HEADER + yaml.safe_dump(manifest.toc, sort_keys=False, allow_unicode=True, width=120)


__all__ = ["BUILD_PARAMETERS", "Manifest", "ManifestError", "Page", "Parameter", "declared_reads", "load_manifest",
           "page_reads", "template_parameters", "template_path", "toc_text"]
