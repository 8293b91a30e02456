"""Stage the book's source and turn it into HTML with jupyter-book 1.x (strict: warnings are errors).

The staged source (``src/``) is synced file by file, so Sphinx re-reads only pages that changed. What every page
shows besides its own content — the table of contents in the sidebar, the titles of the other pages, the stylesheets
— is hashed into a *navigation key*: when it changes, every page is written again, so no page keeps an old title or
an old stylesheet link.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from livingreview.build.digest import HTML_SOFTWARE, closure, module_file, sha, software, tree_parts
from livingreview.config import BOOK_DIR, ROOT


class SphinxError(RuntimeError):
    """jupyter-book failed; the message holds the end of its output."""


def sync_file(src: Path, dst: Path) -> None:
    """Copy only when the content differs, so unchanged pages keep their mtime and Sphinx skips them."""
    if dst.exists() and dst.stat().st_size == src.stat().st_size and dst.read_bytes() == src.read_bytes():
        return
    write_if_changed(dst, src.read_bytes())


def write_if_changed(dst: Path, content: bytes) -> None:
    if dst.exists() and dst.read_bytes() == content:
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.sync")
    tmp.write_bytes(content)
    os.replace(tmp, dst)


def stage_source(src: Path, pages, work: Path, files: dict[str, bytes]) -> None:
    """Lay out the book source in ``src``: the static pages of ``book/``, the executed notebooks of ``pages`` (from
    ``work``) and ``files`` (relative path → content: configuration, table of contents, downloads); anything
    else in ``src`` (but Sphinx's own ``_build``) is removed."""
    generated = {p.output for p in pages}
    wanted = set()
    for path in BOOK_DIR.rglob("*"):
        rel = path.relative_to(BOOK_DIR).as_posix()
        if path.is_file() and rel not in generated and not rel.startswith("_build") and "__pycache__" not in rel:
            sync_file(path, src / rel)
            wanted.add(rel)
    for page in pages:
        sync_file(work / page.output, src / page.output)
        wanted.add(page.output)
    for rel, content in files.items():
        write_if_changed(src / rel, content)
        wanted.add(rel)
    for path in list(src.rglob("*")):
        rel = path.relative_to(src).as_posix()
        if path.is_file() and not rel.startswith("_build/") and rel not in wanted:
            path.unlink()


def extensions_hash(config: dict) -> str:
    """Hash of the ``livingreview`` modules that Sphinx itself runs (``sphinx.extra_extensions`` of the config).
    Sphinx does not notice when an extension's code changes, so when this hash changes every page is written."""
    spec = config.get("sphinx") or {}
    names = [str(n) for n in (spec.get("extra_extensions") or [])] + [str(n) for n in (spec.get("local_extensions") or {})]
    roots = {n for n in names if n == "livingreview" or n.startswith("livingreview.")}
    if not roots:
        return ""
    modules, _ = closure(roots)
    return sha(*(m.encode() + b"\0" + module_file(m).read_bytes() for m in modules))


_TITLE = re.compile(r"^#\s+(.+)$", re.M)


def _title(path: Path) -> str:
    """The first heading of a staged page (Markdown, or the first Markdown cell of a notebook)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        cells = json.loads(text).get("cells", [])
        text = "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                         for c in cells if c.get("cell_type") == "markdown")
    m = _TITLE.search(text)
    return m.group(1).strip() if m else ""


def navigation_key(src: Path, extensions: str) -> str:
    """What every page shows besides its own content: the table of contents, every page's title, the
    configuration, the static assets and the extensions. When it changes, every page must be written again."""
    titles = sorted(f"{p.relative_to(src).as_posix()}\0{_title(p)}" for p in src.rglob("*")
                    if p.suffix in (".md", ".ipynb") and "_build" not in p.relative_to(src).parts)
    parts = [software(HTML_SOFTWARE).encode(), extensions.encode(), "\n".join(titles).encode(),
             (src / "_toc.yml").read_bytes(), (src / "_config.yml").read_bytes()]
    parts += tree_parts(src / "_static")
    return sha(*parts)


def source_key(src: Path, navigation: str) -> str:
    """Hash of the staged source (every file but ``_build/``): equal keys mean equal HTML."""
    return sha(navigation.encode(), *tree_parts(Path(src)))


JB_COMMAND = [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.argv[0] = 'jb'; main()"]


#: Written into ``src/_build`` once Sphinx has built the HTML of a staged source completely: that source's key.
BUILT = ".built-from"


def built_from(src: Path) -> str | None:
    """The source key the HTML in ``src/_build/html`` was completely built from (None if it is not complete)."""
    marker = src / "_build" / BUILT
    return marker.read_text(encoding="utf-8") if marker.is_file() else None


def sphinx_build(src: Path, fresh: bool, source: str = "") -> Path:
    """jupyter-book 1.x, strict: warnings are errors (-W), references checked (-n), all problems in one pass.

    jupyter-book is run by the interpreter that runs the build (no ``jb`` on the PATH needed). ``fresh``: a
    clean HTML directory and every page written, so nothing of an earlier build can remain (old figures,
    search-index entries of removed pages, stale navigation)."""
    html = src / "_build" / "html"
    (src / "_build" / BUILT).unlink(missing_ok=True)
    if fresh:
        shutil.rmtree(src / "_build", ignore_errors=True)
    cmd = JB_COMMAND + ["build", str(src), "--path-output", str(src), "-W", "-n", "--keep-going", "-q"]
    if fresh:
        cmd.append("--all")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=src)
    except OSError as err:
        raise SphinxError(f"cannot run jupyter-book with {sys.executable}: {err}") from None
    if proc.returncode == 0:
        prune_unreferenced(html)
        (src / "_build" / BUILT).write_text(source, encoding="utf-8")
        return html
    output = (proc.stdout + proc.stderr).strip()
    if "No module named 'jupyter_book'" in output:
        raise SphinxError(f"jupyter-book is not installed for {sys.executable}: "
                          f"pip install -r {ROOT / 'requirements.txt'}")
    tail = "\n".join(output.splitlines()[-40:])
    raise SphinxError(f"jupyter-book build failed (exit {proc.returncode}):\n{tail}")


#: Output folders whose files Sphinx adds for the pages that use them but never removes when a page stops using
#: one (a figure that changed is written under a new name, a changed download in a new folder).
GENERATED_ASSETS = ("_images", "_downloads")


def prune_unreferenced(html: Path) -> None:
    """Remove images and downloads no page refers to any more, so that an incremental build leaves exactly what a
    build from scratch would (old figures would otherwise pile up release after release)."""
    pages = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in html.rglob("*.html"))
    for folder in GENERATED_ASSETS:
        for path in sorted((html / folder).rglob("*"), reverse=True):
            rel = path.relative_to(html).as_posix()
            if path.is_file() and rel not in pages:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()


__all__ = ["SphinxError", "built_from", "extensions_hash", "navigation_key", "source_key", "sphinx_build", "stage_source",
           "sync_file", "write_if_changed"]
