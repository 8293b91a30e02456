"""Hashes that decide what a build must redo. Standard library only.

* :func:`build_key` — level 1: the raw bytes of everything a build reads. Equal keys mean an equal book, so the
  no-change path stops after this one hash (no YAML, no pandas, no kernel, no Sphinx).
* :func:`page_digest` — level 2, per page: its template, its parameters, the *parsed* values of the data it declares
  it reads (``Dataset.read_bytes``: the values the page reads, never a second reading of the raw text), the
  ``livingreview`` code it runs, the library versions and the site map its links are made from.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import sys
from functools import lru_cache
from pathlib import Path

from livingreview.config import BOOK_DIR, NOTEBOOKS_DIR, ROOT

STATE_FORMAT = 2
PACKAGE = ROOT / "livingreview"
#: Distributions whose version can change what a notebook shows (the methods page prints most of them).
NOTEBOOK_SOFTWARE = ("numpy", "scipy", "pandas", "statsmodels", "matplotlib", "pillow", "papermill", "nbformat",
                     "ipykernel", "myst-nb", "jupyter-book", "jinja2")
#: … and what turns the staged source into HTML.
HTML_SOFTWARE = ("jupyter-book", "sphinx", "myst-nb", "myst-parser", "sphinx-book-theme", "pydata-sphinx-theme",
                 "sphinx-design", "sphinx-togglebutton", "sphinx-copybutton")
#: Code that shapes every executed notebook, whatever its template imports: how a template is rendered and
#: executed. The rest of the build (planning, Sphinx, publishing) can change without re-executing a page.
MACHINERY = ("livingreview/__init__.py", "livingreview/config.py", "livingreview/build/render.py",
             "livingreview/build/execute.py", "livingreview/build/forkserver.py")
#: Stands for "every livingreview module" in a set of imported names.
EVERY_MODULE = "livingreview.*"


def sha(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


@lru_cache(maxsize=None)
def software(names: tuple) -> str:
    import importlib.metadata as md

    out = [f"python {sys.version_info[0]}.{sys.version_info[1]}"]
    for name in names:
        try:
            out.append(f"{name} {md.version(name)}")
        except md.PackageNotFoundError:
            out.append(f"{name} -")
    return "; ".join(out)


def environment_hash() -> str:
    """Python (minor version) and the versions of the libraries that compute and draw the notebooks."""
    return sha(software(NOTEBOOK_SOFTWARE).encode())


def package_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def package_hash() -> str:
    """Hash of every ``livingreview`` source file."""
    return sha(*(p.relative_to(ROOT).as_posix().encode() + b"\0" + p.read_bytes() for p in package_files()))


# --- the code a notebook runs ------------------------------------------------------------------------------------


def import_names(source: str, package: str | None = None) -> set[str] | None:
    """Absolute module names imported anywhere in ``source`` (None if it cannot be parsed)."""
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!", "{%"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return None
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
            if any(a.name == "livingreview" for a in node.names):
                names.add(EVERY_MODULE)  # `import livingreview`, then livingreview.x.y: any module may be used
        elif isinstance(node, ast.ImportFrom):
            if node.level and package:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            names.add(mod)
            names.update(f"{mod}.{a.name}" for a in node.names if a.name != "*")
    return {n for n in names if n}


def module_file(name: str) -> Path | None:
    if name != "livingreview" and not name.startswith("livingreview."):
        return None
    base = ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


@lru_cache(maxsize=None)
def _module_imports(path: Path, mtime_ns: int) -> frozenset | None:
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = import_names(path.read_text(encoding="utf-8"), package)
    return None if found is None else frozenset(found)


def template_imports(template: Path) -> set[str] | None:
    nb = json.loads(Path(template).read_text(encoding="utf-8"))
    names = set()
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            src = cell.get("source", "")
            found = import_names("".join(src) if isinstance(src, list) else src)
            if found is None:
                return None
            names |= found
    return names


def closure(roots) -> tuple[list[str], set[str]]:
    """``livingreview`` modules reachable from the module names ``roots`` (None: all) with their parent packages,
    and every other module name imported on the way (for the fork server to pre-import)."""
    every = {_module_name(p) for p in package_files()}
    seen, others, todo = set(), set(), list(every if roots is None else roots)
    while todo:
        name = todo.pop()
        if name == EVERY_MODULE:
            todo.extend(every)
            continue
        path = module_file(name)
        if path is None:
            if not name.startswith("livingreview"):
                others.add(name)
            continue
        if name in seen:
            continue
        seen.add(name)
        parent = name.rpartition(".")[0]
        if parent:
            todo.append(parent)
        imports = _module_imports(path, path.stat().st_mtime_ns)
        todo.extend(every if imports is None else imports)
    return sorted(seen), others


@lru_cache(maxsize=None)
def _code_hash(template: str, module: str, stamp: tuple) -> str:
    roots = template_imports(Path(template))
    modules, _ = closure(None if roots is None else roots | {module})
    files = sorted({*(module_file(m).relative_to(ROOT).as_posix() for m in modules), *MACHINERY})
    return sha(*(f.encode() + b"\0" + (ROOT / f).read_bytes() for f in files if (ROOT / f).is_file()))


def code_hash(template: Path, module: str) -> str:
    """Hash of the ``livingreview`` code a template's notebook runs: its page module and its imports, followed
    through every module they import, plus the code that renders and executes every notebook."""
    stamp = tuple((p.as_posix(), p.stat().st_mtime_ns, p.stat().st_size) for p in package_files())
    return _code_hash(str(Path(template).resolve()), module, stamp)


def page_digest(template: Path, module: str, params: dict, reads: list[bytes], site_map: str) -> str:
    """Hash of everything an executed notebook depends on."""
    return sha(Path(template).read_bytes(), json.dumps(params, sort_keys=True).encode(), *reads,
               code_hash(template, module).encode(), environment_hash().encode(), site_map.encode())


# --- level 1 -----------------------------------------------------------------------------------------------------


def tree_parts(root: Path, skip=("_build",)) -> list[bytes]:
    """Every file under ``root`` (path and content), in a stable order."""
    parts = []
    if not root.is_dir():
        return parts
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = sorted(d for d in dirnames if not (rel_dir == "." and d in skip) and d != "__pycache__")
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                parts.append(os.path.relpath(path, root).encode() + b"\0" + f.read())
    return parts


def build_key(manifest: Path, data_dir: Path, data_version: int | None, out: Path, config: Path) -> str:
    """One hash of everything a build reads (level 1): the manifest, the configuration, the citation metadata,
    every template, every file of the dataset, the package, ``book/`` and the software versions. Equal keys mean
    equal books."""
    from livingreview.build.citation import CITATION

    parts = [f"format {STATE_FORMAT}; data_version {data_version}; data {Path(data_dir).resolve()}; "
             f"out {Path(out).absolute()}".encode(), Path(manifest).read_bytes(), Path(config).read_bytes(),
             CITATION.read_bytes() if CITATION.is_file() else b"", software(NOTEBOOK_SOFTWARE + HTML_SOFTWARE).encode()]
    parts += tree_parts(NOTEBOOKS_DIR)
    parts += tree_parts(Path(data_dir), skip=("staging",))
    parts += [p.relative_to(ROOT).as_posix().encode() + b"\0" + p.read_bytes() for p in package_files()]
    parts += tree_parts(BOOK_DIR)
    return sha(*parts)


__all__ = ["HTML_SOFTWARE", "MACHINERY", "NOTEBOOK_SOFTWARE", "STATE_FORMAT", "build_key", "closure", "code_hash",
           "environment_hash", "package_hash", "page_digest", "sha", "software", "template_imports", "tree_parts"]
