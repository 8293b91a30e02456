"""Build the book: validate data → papermill on the manifest → jupyter-book (strict) → atomic publish.

Only what changed is redone, at three levels:

1. **Nothing changed** — the build first hashes everything it reads (data tables, manifest, templates, the
   ``livingreview`` sources, ``book/``, ``_config.yml``/``_toc.yml``, the versions of the software that produces
   the pages) into one key, and if that key is the one recorded in ``state.json`` for the release that is
   published, it stops there: no validation, no kernel, no Sphinx.
2. **Notebooks** — each executed notebook carries the hash of its inputs in ``metadata.livingreview.inputs``: its
   template, its parameters, the Markdown context rendered into it, the data it *reads* (declared per template in
   ``manifest.yml``: whole tables, or only the rows of one outcome), the ``livingreview`` modules its template
   imports (with everything they import) and the versions of numpy, scipy, pandas, matplotlib, ….
   A notebook whose inputs are unchanged is not executed again (the committed baseline in ``book/`` counts too).
   The others run in parallel (``--jobs``, default: twice the cores available), longest first (durations of the
   last build), each in its own fresh kernel; the kernels are forked from a process that has already imported the
   modules the templates import (:mod:`livingreview.forkserver`), so the imports are paid once per build.
3. **HTML** — ``src/`` (the staged book source) is synced file by file, so jupyter-book rebuilds only the pages
   that changed, and if the staged source is byte for byte the one of the published release, Sphinx does not
   run at all. Execution is off in ``_config.yml``: papermill is the only executor.

Directories (all under ``_build/`` unless ``--out`` / ``LIVINGREVIEW_BUILD_DIR`` say otherwise):

* ``work/`` — executed notebooks; ``src/`` — the staged source; ``state.json`` — hashes and timings of the last
  build; ``.html-releases/N/`` and ``html`` → ``.html-releases/N`` — the published book. The symlink is switched
  with one ``os.replace`` after everything succeeded, so a failed or interrupted build leaves the last good book.

``--force`` re-executes every notebook and rebuilds every HTML page. ``--accept`` copies the executed notebooks
into ``book/``: they are the regression baseline that ``pytest --nbval`` re-executes and compares, so accepting
new numbers is always a deliberate act.

This module imports only the standard library (and :mod:`livingreview.config`) at the top: the nothing-changed
path must not pay for pandas, nbformat, papermill or Sphinx.
"""

from __future__ import annotations

import ast
import copy
import csv
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from livingreview.config import BOOK_DIR, BUILD_DIR, DATA_DIR, MANIFEST, NOTEBOOKS_DIR, PRIMARY, ROOT, Spec, MIN_K_BIAS

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
DATA_TABLES = ("studies.csv", "outcomes.csv", "outcome_definitions.csv", "quality.csv", "published.csv",
               "search.csv", "versions.csv")
#: Distributions whose version can change what a notebook shows (``pages.software_table`` prints most of them).
NOTEBOOK_SOFTWARE = ("numpy", "scipy", "pandas", "statsmodels", "matplotlib", "pillow", "papermill", "nbformat",
                     "ipykernel", "myst-nb", "jupyter-book")
#: … and what turns the staged source into HTML.
HTML_SOFTWARE = ("jupyter-book", "sphinx", "myst-nb", "myst-parser", "sphinx-book-theme", "pydata-sphinx-theme",
                 "sphinx-design", "sphinx-togglebutton", "sphinx-copybutton")
#: Modules every notebook execution depends on, whatever its template imports. Of build.py itself only the
#: functions that shape an executed notebook count (``_rendering_source``): editing the rest of the build does
#: not make every notebook stale.
MACHINERY = ("livingreview/__init__.py", "livingreview/forkserver.py", "livingreview/config.py")
#: A ``reads:`` entry: a table, optionally only the rows whose ``column`` matches a pattern (``*``/``?`` as in
#: file names; ``{parameter}`` is the page's parameter), e.g. ``outcomes.csv[outcome={outcome}]``.
READ_ENTRY = re.compile(r"^(?P<table>[A-Za-z0-9_]+)(?:\.csv)?(?:\[(?P<column>[A-Za-z0-9_]+)=(?P<pattern>[^\]]*)\])?$")
#: The meaning of the old shorthand ``reads: outcome``: every table, but only this outcome's rows of outcomes.csv.
LEGACY_OUTCOME_READS = tuple(t for t in DATA_TABLES if t != "outcomes.csv") + ("outcomes.csv[outcome={outcome}]",)
STATE_FORMAT = 1
#: Stands for "every livingreview module" in a set of imported names.
EVERY_MODULE = "livingreview.*"
#: Modules that run builds, not notebooks: hashed when imported, but what they import is not followed.
NOT_FOLLOWED = {"livingreview.build", "livingreview.forkserver", "livingreview.run", "livingreview.cli",
                "livingreview.__main__"}


class BuildError(RuntimeError):
    """A notebook or the Sphinx build failed; the message says which and why."""


@dataclass(frozen=True)
class Page:
    """One manifest entry: a template executed with parameters into ``output`` (relative to ``book/``).

    ``reads`` is ``"all"`` (every data table in full) or a tuple of ``reads:`` entries (see ``READ_ENTRY``);
    ``"outcome"`` is the old shorthand for ``LEGACY_OUTCOME_READS``."""

    template: str
    output: str
    parameters: dict = field(default_factory=dict)
    reads: str | tuple = "all"


@dataclass
class BuildReport:
    """What a build did. ``executed``/``copied``/``unchanged`` list manifest outputs (manifest order):
    notebooks executed, taken from the committed baseline in ``book/``, and left as they were."""

    published: Path | None = None
    executed: list = field(default_factory=list)
    copied: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    nothing_changed: bool = False  # the whole build was skipped (level 1)
    sphinx: bool = False  # whether jupyter-book ran
    kernels: str = ""  # "forked", "plain" or "" (nothing executed)
    seconds: dict = field(default_factory=dict)  # phase → wall seconds
    notebook_seconds: dict = field(default_factory=dict)  # output → seconds, for the executed notebooks


# --- manifest ------------------------------------------------------------------------------------------------


def _read_yaml(path: Path):
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=loader)


def _check_reads(entries, where: str) -> tuple:
    if isinstance(entries, str):
        entries = [entries]
    if not isinstance(entries, (list, tuple)):
        raise BuildError(f"{where}: 'reads' must be a list of tables (e.g. [studies.csv, 'outcomes.csv[outcome={{outcome}}]'])")
    out = []
    for entry in entries:
        m = READ_ENTRY.match(str(entry).strip())
        if not m or f"{m['table']}.csv" not in DATA_TABLES:
            raise BuildError(f"{where}: reads entry {entry!r} is not a data table (known: {', '.join(DATA_TABLES)}), "
                             f"optionally with [column=pattern]")
        out.append(str(entry).strip())
    return tuple(out)


def load_manifest(path: Path = MANIFEST) -> list[Page]:
    spec = _read_yaml(path) or {}
    templates = spec.get("templates") or {}
    pages = []
    for i, entry in enumerate(spec.get("pages", []), start=1):
        unknown = set(entry) - {"template", "output", "parameters", "reads"}
        if unknown or "template" not in entry or "output" not in entry:
            raise BuildError(f"{path}: page {i}: needs 'template' and 'output' (unknown keys: {sorted(unknown)})")
        if not (NOTEBOOKS_DIR / entry["template"]).is_file():
            raise BuildError(f"{path}: page {i}: template notebooks/{entry['template']} does not exist")
        params = dict(entry.get("parameters") or {})
        reads = entry.get("reads", (templates.get(entry["template"]) or {}).get("reads", "all"))
        if reads == "outcome":
            reads = LEGACY_OUTCOME_READS
        if reads != "all":
            try:
                reads = tuple(r.format(**params) for r in _check_reads(reads, f"{path}: page {i} ({entry['output']})"))
            except (KeyError, IndexError) as err:
                raise BuildError(f"{path}: page {i} ({entry['output']}): reads entry uses parameter {err} that the "
                                 f"page does not have") from None
        pages.append(Page(entry["template"], entry["output"], params, reads))
    outputs = [p.output for p in pages]
    dupes = sorted({o for o in outputs if outputs.count(o) > 1})
    if dupes:
        raise BuildError(f"{path}: output paths used twice: {dupes}")
    return pages


def page_parameters(page: Page, data_dir: Path, data_version: int | None) -> dict:
    """The parameters papermill injects: the book's primary analysis, then the page's own, then the data."""
    params = {"measure": PRIMARY.measure, "method": PRIMARY.method, "test": PRIMARY.test,
              "pi_dist": PRIMARY.pi_dist}
    params.update(page.parameters)
    params["data_dir"] = _portable(data_dir)
    params["data_version"] = data_version
    return params


def _portable(path: Path) -> str:
    """Paths inside the repository are written relative to it, so notebooks are identical on every machine."""
    path = Path(path).resolve()
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


# --- hashes --------------------------------------------------------------------------------------------------


def _sha(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def package_hash() -> str:
    """Hash of every ``livingreview`` source file (what ``run`` records; the build uses ``code_hash``)."""
    files = sorted((ROOT / "livingreview").rglob("*.py"))
    return _sha(*(f.name.encode() + f.read_bytes() for f in files))


@lru_cache(maxsize=None)
def _software(names: tuple) -> str:
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
    return _sha(_software(NOTEBOOK_SOFTWARE).encode())


def _import_names(source: str, package: str | None = None) -> set[str] | None:
    """Absolute module names imported anywhere in ``source`` (None if it cannot be parsed)."""
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
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


def _module_file(name: str) -> Path | None:
    if name != "livingreview" and not name.startswith("livingreview."):
        return None
    base = ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=None)
def _module_imports(path: Path, mtime_ns: int) -> frozenset | None:
    return _import_names(path.read_text(encoding="utf-8"), "livingreview")


def _template_imports(template: Path) -> set[str] | None:
    nb = json.loads(Path(template).read_text(encoding="utf-8"))
    names = set()
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            src = cell.get("source", "")
            found = _import_names("".join(src) if isinstance(src, list) else src)
            if found is None:
                return None
            names |= found
    return names


def template_modules(template: Path) -> tuple[list[str], set[str]]:
    """The ``livingreview`` modules a template depends on (what it imports, and what those import, anywhere in
    the file), and every other module name imported on the way (for the fork server to pre-import)."""
    return _closure(_template_imports(template))


def _closure(roots) -> tuple[list[str], set[str]]:
    """``livingreview`` modules reachable from the module names ``roots`` (None: all), and the other names."""
    every = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
             for p in (ROOT / "livingreview").rglob("*.py")}
    seen, others, todo = set(), set(), list(every if roots is None else roots)
    while todo:
        name = todo.pop()
        if name == EVERY_MODULE:
            todo.extend(every)
            continue
        path = _module_file(name)
        if path is None:
            if not name.startswith("livingreview"):
                others.add(name)
            continue
        if name in seen:
            continue
        seen.add(name)
        if name in NOT_FOLLOWED:
            continue
        imports = _module_imports(path, path.stat().st_mtime_ns)
        todo.extend(every if imports is None else imports)
    return sorted(seen | {"livingreview"}), others


@lru_cache(maxsize=None)
def _rendering_source() -> bytes:
    """The code of build.py that shapes an executed notebook: rendering, parameters, execution, tidying."""
    import inspect

    parts = [PLACEHOLDER.pattern] + [inspect.getsource(f) for f in (render_template, page_parameters, _portable,
                                                                     _execute, tidy_executed)]
    return "\n".join(parts).encode()


@lru_cache(maxsize=None)
def _code_hash(template: str, stamp: tuple, manifest: bytes) -> str:
    modules, _ = template_modules(Path(template))
    files = sorted({*(str(_module_file(m).relative_to(ROOT)) for m in modules), *MACHINERY})
    parts = [f.encode() + (ROOT / f).read_bytes() for f in files if (ROOT / f).is_file()]
    if "livingreview.build" in modules:  # the notebook's code reads the manifest (e.g. links between pages)
        parts.append(b"manifest.yml\0" + manifest)
    return _sha(_rendering_source(), *parts)


def code_hash(template: Path) -> str:
    """Hash of the ``livingreview`` code a template's notebook runs (its imports, followed through every
    module), of the parts of the build that shape a notebook, and of ``manifest.yml`` if that code imports
    :mod:`livingreview.build` (whose ``load_manifest`` it then presumably calls)."""
    stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted((ROOT / "livingreview").rglob("*.py")))
    manifest = MANIFEST.read_bytes() if MANIFEST.is_file() else b""
    return _code_hash(str(Path(template).resolve()), stamp, manifest)


@lru_cache(maxsize=64)
def _csv_rows(path: str, mtime_ns: int, size: int) -> tuple[list, list]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return (rows[0] if rows else []), rows[1:]


def _table_part(data_dir: Path, entry: str) -> bytes:
    m = READ_ENTRY.match(entry)
    name = f"{m['table']}.csv"
    path = Path(data_dir) / name
    if not path.exists():
        return f"{entry}: missing".encode()
    if not m["column"]:
        return name.encode() + b"\0" + path.read_bytes()
    st = path.stat()
    header, rows = _csv_rows(str(path), st.st_mtime_ns, st.st_size)
    if m["column"] not in header:
        raise BuildError(f"reads entry {entry!r}: {name} has no column {m['column']!r}")
    i = header.index(m["column"])
    keep = [r for r in rows if len(r) > i and fnmatch.fnmatchcase(r[i], m["pattern"])]
    return entry.encode() + b"\0" + json.dumps([header, keep], ensure_ascii=False).encode()


def data_hash(data_dir: Path, page: Page) -> str:
    """Hash of the data a page reads: the tables its ``reads`` names, in full or only the matching rows."""
    entries = DATA_TABLES if page.reads == "all" else page.reads
    return _sha(*(_table_part(data_dir, e) for e in entries))


def inputs_hash(page: Page, params: dict, data_dir: Path, pkg: str, context: dict | None = None) -> str:
    """Hash of everything an executed notebook depends on (``pkg``: a hash of the code it runs)."""
    template = (NOTEBOOKS_DIR / page.template).read_bytes()
    ctx = json.dumps(context, sort_keys=True, default=str).encode() if context is not None else b""
    return _sha(template, json.dumps(params, sort_keys=True).encode(), data_hash(data_dir, page).encode(),
                pkg.encode(), ctx)


def _tree_parts(root: Path, skip=("_build",)) -> list[bytes]:
    parts = []
    if not root.is_dir():
        return parts
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = sorted(d for d in dirnames if not (rel_dir == "." and d in skip) and d != "__pycache__")
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            with open(path, "rb") as f:
                parts.append(rel.encode() + b"\0" + f.read())
    return parts


def sphinx_code_hash(config: Path | None = None) -> str:
    """Hash of the ``livingreview`` modules that Sphinx itself runs (``sphinx.extra_extensions`` and
    ``sphinx.local_extensions`` of ``_config.yml``). Sphinx does not notice when an extension's code changes,
    so when this hash changes every page is written again."""
    spec = (_read_yaml(config or ROOT / "_config.yml") or {}).get("sphinx") or {}
    names = [str(n) for n in (spec.get("extra_extensions") or [])] + [str(n) for n in (spec.get("local_extensions") or {})]
    roots = {n for n in names if n == "livingreview" or n.startswith("livingreview.")}
    if not roots:
        return ""
    modules, _ = _closure(roots)
    return _sha(*(m.encode() + b"\0" + _module_file(m).read_bytes() for m in modules))


def source_hash(src: Path, extensions: str = "") -> str:
    """Hash of the staged book source (every file but ``_build/``), of the software that renders it and of
    the ``livingreview`` Sphinx extensions (``extensions``: ``sphinx_code_hash()``)."""
    return _sha(_software(HTML_SOFTWARE).encode(), extensions.encode(), *_tree_parts(Path(src)))


def build_key(manifest: Path, data_dir: Path, data_version: int | None, out: Path, toc: Path) -> str:
    """One hash of everything a build reads (level 1): equal keys mean equal books."""
    spec = _read_yaml(manifest) or {}
    templates = sorted({str(e.get("template")) for e in spec.get("pages", []) if isinstance(e, dict)})
    parts = [f"format {STATE_FORMAT}; data_version {data_version}; data {_portable(data_dir)}; "
             f"out {Path(out).absolute()}".encode(), Path(manifest).read_bytes(), Path(toc).read_bytes(),
             (ROOT / "_config.yml").read_bytes(), _software(NOTEBOOK_SOFTWARE + HTML_SOFTWARE).encode()]
    for t in templates:
        path = NOTEBOOKS_DIR / t
        parts.append(t.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"missing"))
    for name in DATA_TABLES:
        path = Path(data_dir) / name
        parts.append(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b"missing"))
    parts += [p.relative_to(ROOT).as_posix().encode() + b"\0" + p.read_bytes() for p in sorted((ROOT / "livingreview").rglob("*.py"))]
    parts += _tree_parts(BOOK_DIR)
    return _sha(*parts)


# --- state of the last build ---------------------------------------------------------------------------------


def _load_state(path: Path) -> dict:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        return state if state.get("format") == STATE_FORMAT else {}
    except (OSError, ValueError):
        return {}


def _save_state(path: Path, state: dict) -> None:
    state["format"] = STATE_FORMAT
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _is_published(out: Path, release: str | None) -> bool:
    return bool(release) and Path(release).is_dir() and (Path(release) / "index.html").is_file() \
        and out.is_symlink() and out.resolve() == Path(release).resolve()


# --- rendering and executing notebooks -------------------------------------------------------------------------


def render_template(template: Path, context: dict):
    """Fill ``{{ name }}`` placeholders in Markdown cells (page titles, captions) before execution."""
    import nbformat

    nb = nbformat.read(template, as_version=4)
    # Cells marked {"livingreview": {"only_if": key}} are kept only where the page has that feature
    # (e.g. a forest plot by regimen only for outcomes the paper subgroups by regimen).
    nb.cells = [c for c in nb.cells if context.get(c.metadata.get("livingreview", {}).get("only_if", "_always"), True)]
    for cell in nb.cells:
        cell.metadata.pop("livingreview", None)
        if cell.cell_type != "markdown":
            continue

        def fill(match):
            key = match.group(1)
            if key not in context:
                raise BuildError(f"notebooks/{template.name}: Markdown placeholder {{{{ {key} }}}} has no value "
                                 f"(known: {', '.join(sorted(context))})")
            return str(context[key])

        cell.source = PLACEHOLDER.sub(fill, cell.source)
    return nb


def tidy_executed(nb, digest: str):
    """Drop run-specific metadata (timestamps, durations) so outputs diff cleanly; hide code behind a toggle.

    papermill gives the cell it injects a random id: it gets a fixed one, so that executing unchanged inputs
    again gives a byte-identical notebook (and Sphinx has nothing to rebuild)."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("papermill", None)
    nb.metadata["livingreview"] = {"inputs": digest}
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if "injected-parameters" in cell.metadata.get("tags", []) and "id" in cell:
            cell.id = "injected-parameters"
        if cell.cell_type == "code":
            tags = cell.metadata.setdefault("tags", [])
            if not {"hide-input", "remove-input", "remove-cell"} & set(tags):
                tags.append("hide-input")
    return nb


def _execute(template: str, output: Path, params: dict, context: dict, digest: str,
             kernel_server: str | None = None) -> tuple[str, float]:
    """Run one notebook (in a worker process) in a fresh kernel — forked from ``kernel_server`` if given.

    Returns the output path and the seconds it took; raises BuildError naming the cell that failed."""
    import logging

    import nbformat
    import papermill

    from livingreview import forkserver

    start = time.perf_counter()
    logging.getLogger("papermill").setLevel(logging.ERROR)  # its per-parameter chatter is not news
    nb = render_template(NOTEBOOKS_DIR / template, context)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lrnb-") as tmp:
        console = Path(tmp) / "kernel.log"  # the kernel's own stdout/stderr (not the notebook's outputs)
        manager = forkserver.kernel_manager_class(kernel_server, str(console), tmp)
        try:
            executed = papermill.execute_notebook(nb, None, parameters=params, cwd=str(ROOT), progress_bar=False,
                                                  log_output=False, kernel_name="python3",
                                                  request_save_on_cell_execute=False, shutdown_kernel="immediate",
                                                  kernel_manager_class=manager)
        except papermill.PapermillExecutionError as err:
            source = (err.source or "").strip().splitlines()
            first = source[0] if source else ""
            raise BuildError(f"book/{context['_output']}: cell {err.exec_count} (`{first[:80]}`) raised "
                             f"{err.ename}: {err.evalue}") from None
        except Exception as err:  # the kernel died or did not start: its console says why
            tail = console.read_text(errors="replace").strip().splitlines()[-15:] if console.exists() else []
            raise BuildError(f"book/{context['_output']}: {type(err).__name__}: {err}"
                             + ("\n    kernel console:\n    " + "\n    ".join(tail) if tail else "")) from None
        result = tidy_executed(executed, digest)
        partial = output.with_name(f".{output.name}.partial")
        nbformat.write(result, partial)
        os.replace(partial, output)
    return str(output), time.perf_counter() - start


def _cached_digest(path: Path) -> str | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))["metadata"].get("livingreview", {}).get("inputs")
    except (ValueError, KeyError):
        return None


def _page_context(page: Page, params: dict, dataset) -> dict:
    context = dict(params)
    context["_output"] = page.output
    version = dataset.versions.sort_values("data_version").iloc[-1] if params["data_version"] is None else \
        dataset.versions.set_index("data_version").loc[params["data_version"]]
    context["data_version_label"] = str(params["data_version"] or int(version["data_version"]))
    spec = Spec(params["measure"], params["method"], params["test"], params["pi_dist"])
    context["spec_description"] = spec.describe()
    context.update(spec.labels())
    context["min_k_bias"] = MIN_K_BIAS
    if "outcome" in params:
        from livingreview.results import outcome_subgroups
        if params["outcome"] not in set(dataset.definitions["outcome"]):
            raise BuildError(f"manifest page {page.output}: outcome {params['outcome']!r} is not defined in "
                             f"outcome_definitions.csv")
        row = dataset.definitions.set_index("outcome").loc[params["outcome"]]
        subgroups = outcome_subgroups(dataset, params["outcome"])
        stem = Path(page.output).stem
        context.update({
            "outcome_label": row["label"], "outcome_section": row["section"],
            "outcome_label_lower": row["label"][0].lower() + row["label"][1:],
            "outcome_definition": row["definition"],
            "has_regimen": "regimen" in subgroups, "has_disease_status": "disease_status" in subgroups,
            "no_subgroups": not subgroups,
            "bias_page": f"{stem}-bias.ipynb", "sensitivity_page": f"{stem}-sensitivity.ipynb",
        })
    return context


def kernel_modules(templates) -> list[str]:
    """What the fork server pre-imports for these templates: ipykernel, the inline backend, and every module
    the templates import (``livingreview`` modules with whatever they import, at the top or in a function)."""
    wanted = {"ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel.debugger",
              "matplotlib_inline.backend_inline"}
    for template in templates:
        modules, others = template_modules(NOTEBOOKS_DIR / template)
        wanted |= {m for m in modules if m not in NOT_FOLLOWED} | others
    # "from x import y" also yields "x.y", which may be a name rather than a module: the server tries and skips.
    return sorted(n for n in wanted if not n.startswith("_"))


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:
        return os.cpu_count() or 1


def _jobs(jobs: int | None) -> int:
    """Notebooks executed at the same time: ``--jobs``, or twice the cores available (at most cores + 8).

    A forked kernel spends about half a second of its life in the start/stop handshake with the client, idle;
    with more notebooks than cores in flight that time is used by the others (2 cores: 33 s cold build with
    2 jobs, 27 s with 4)."""
    if jobs:
        return max(1, int(jobs))
    cores = _cores()
    return min(2 * cores, cores + 8)


def _plan(pages, data_dir: Path, data_version: int | None, dataset, work: Path, force: bool, report: BuildReport):
    """Decide, page by page, whether the executed notebook in ``work`` is current, can be taken from the
    baseline in ``book/``, or must be executed. Returns (paths, todo)."""
    env = environment_hash()
    todo, paths = [], []
    for page in pages:
        params = page_parameters(page, data_dir, data_version)
        context = _page_context(page, params, dataset)
        code = _sha(code_hash(NOTEBOOKS_DIR / page.template).encode(), env.encode())
        digest = inputs_hash(page, params, data_dir, code, context)
        out = work / page.output
        paths.append(out)
        if not force and _cached_digest(out) == digest:
            report.unchanged.append(page.output)
            continue
        baseline = BOOK_DIR / page.output
        if not force and data_version is None and _cached_digest(baseline) == digest:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(baseline, out)
            report.copied.append(page.output)
            continue
        todo.append((page, params, context, digest, out))
    return paths, todo


def start_kernel_server(templates):
    """The fork server for these templates (started, still importing), or None if kernels are not forked here
    (``LIVINGREVIEW_FORK_KERNELS=0``, or no ``os.fork``)."""
    if os.environ.get("LIVINGREVIEW_FORK_KERNELS", "1") == "0" or not hasattr(os, "fork"):
        return None
    from livingreview import forkserver

    return forkserver.ForkServer(kernel_modules(templates), ROOT).start()


def _data_size(data_dir: Path, page: Page) -> int:
    entries = DATA_TABLES if page.reads == "all" else page.reads
    return sum(len(_table_part(data_dir, e)) for e in entries)


def _run_todo(todo, jobs: int, durations: dict, report: BuildReport, log, data_dir: Path, server=None) -> None:
    """Execute notebooks in parallel, longest first, in kernels forked from one server (``server``, or one
    started here; plain kernels if it cannot start)."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # Longest first, so that the last to finish is short: by the durations of the last build; notebooks never
    # timed come first, those that read the most data (the summaries of every outcome) before the others.
    todo = sorted(todo, key=lambda t: (-durations.get(t[0].output, float("inf")), -_data_size(data_dir, t[0])))
    own = server is None
    if own:
        server = start_kernel_server({t[0].template for t in todo})
    import nbformat  # noqa: F401 — imported once here, inherited by the workers
    import papermill  # noqa: F401
    errors = []
    try:
        t0 = time.perf_counter()
        socket_path = server.wait_ready() if server else None
        report.seconds["kernel_server_wait"] = round(time.perf_counter() - t0, 3)
        report.kernels = "forked" if socket_path else "plain"
        if server and not socket_path:
            log(f"kernel fork server unavailable ({server.error}); starting plain kernels")
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(_execute, p.template, out, params, context, digest, socket_path): p
                       for p, params, context, digest, out in todo}
            done = _progress(as_completed(futures), len(futures))
            for future in done:
                page = futures[future]
                try:
                    _, seconds = future.result()
                    report.notebook_seconds[page.output] = round(seconds, 3)
                except BuildError as err:
                    errors.append(str(err))
                except Exception as err:  # a crash in papermill itself, not in a cell
                    errors.append(f"book/{page.output}: {type(err).__name__}: {err}")
    finally:
        if server and own:
            server.close()
    if errors:
        raise BuildError("notebook execution failed:\n  " + "\n  ".join(sorted(errors)))


def _progress(iterable, total: int):
    if not sys.stderr.isatty():
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, desc="notebooks", unit="nb", file=sys.stderr)


def execute_pages(pages, data_dir: Path, data_version: int | None, dataset, work: Path, jobs: int, force: bool,
                  log=print, report: BuildReport | None = None, durations: dict | None = None,
                  kernel_server=None) -> list[Path]:
    """Execute the pages whose inputs changed (in parallel); return the executed notebook paths, in manifest order.

    ``report`` (optional) is filled with the pages executed, copied from the baseline and unchanged;
    ``durations`` (output → seconds) orders them; ``kernel_server`` is a started ``ForkServer`` to use."""
    report = report if report is not None else BuildReport()
    paths, todo = _plan(pages, Path(data_dir), data_version, dataset, work, force, report)
    jobs = _jobs(jobs)
    log(f"{len(pages) - len(todo)} of {len(pages)} notebooks unchanged; executing {len(todo)} with "
        f"{min(jobs, max(len(todo), 1))} job(s)")
    if todo:
        _run_todo(todo, min(jobs, len(todo)), durations or {}, report, log, Path(data_dir), kernel_server)
    executed = {t[0].output for t in todo}
    report.executed = [p.output for p in pages if p.output in executed]
    if report.executed:
        shown = ", ".join(report.executed[:8]) + (f" and {len(report.executed) - 8} more" if len(report.executed) > 8 else "")
        log(f"executed: {shown}")
    return paths


# --- staging, Sphinx, publishing ----------------------------------------------------------------------------


def _sync_file(src: Path, dst: Path) -> None:
    """Copy only when the content differs, so unchanged pages keep their mtime and Sphinx skips them."""
    if dst.exists() and dst.stat().st_size == src.stat().st_size and dst.read_bytes() == src.read_bytes():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.sync")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _write_if_changed(dst: Path, content: bytes) -> None:
    if dst.exists() and dst.read_bytes() == content:
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(content)


def _pooled_estimates(dataset, data_dir: Path, data_version: int | None, cache: Path) -> bytes:
    """downloads/pooled_estimates.csv, recomputed only when the data or code it comes from changed."""
    tables = ("studies.csv", "outcomes.csv", "outcome_definitions.csv", "versions.csv")
    digest = _sha(*(_table_part(data_dir, t) for t in tables), str(data_version).encode(),
                  json.dumps(PRIMARY.as_dict(), sort_keys=True).encode(), package_hash().encode(),
                  environment_hash().encode())
    stamp = cache.with_name(cache.name + ".inputs")
    if cache.exists() and stamp.exists() and stamp.read_text() == digest:
        return cache.read_bytes()
    from livingreview.results import results_table

    table = results_table(dataset, PRIMARY, data_version=data_version)
    content = table.to_csv(index=False, float_format="%.6f", lineterminator="\n").encode()
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(content)
    stamp.write_text(digest)
    return content


def stage_source(pages, work: Path, src: Path, data_dir: Path, dataset, data_version: int | None,
                 toc: Path | None = None) -> None:
    """Lay out the book source in ``src``: static pages from book/, executed notebooks, downloads, config.

    ``toc`` replaces the committed ``_toc.yml`` (e.g. for a build of part of the manifest)."""
    import yaml

    generated = {p.output for p in pages}
    wanted = set()
    for path in BOOK_DIR.rglob("*"):
        rel = path.relative_to(BOOK_DIR).as_posix()
        if path.is_file() and rel not in generated and not rel.startswith("_build") and "__pycache__" not in rel:
            _sync_file(path, src / rel)
            wanted.add(rel)
    for page in pages:
        _sync_file(work / page.output, src / page.output)
        wanted.add(page.output)
    # Downloads: the dataset as validated, and every pooled estimate of the primary analysis.
    for name in DATA_TABLES:
        if (Path(data_dir) / name).exists():
            _sync_file(Path(data_dir) / name, src / "downloads" / name)
            wanted.add(f"downloads/{name}")
    _write_if_changed(src / "downloads" / "pooled_estimates.csv",
                      _pooled_estimates(dataset, Path(data_dir), data_version, work / ".pooled_estimates.csv"))
    wanted.add("downloads/pooled_estimates.csv")
    # Configuration: the committed _config.yml and _toc.yml, plus the data version on every page.
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    versions = dataset.versions.sort_values("data_version")
    row = versions.iloc[-1] if data_version is None else versions.set_index("data_version").loc[data_version].rename(data_version)
    number = int(row["data_version"]) if data_version is None else data_version
    banner = (f"Data version {number} · literature searched to {_long_date(row['search_date'])} · "
              f"dataset of {_long_date(row['date'])}")
    config.setdefault("html", {})["announcement"] = banner
    _write_if_changed(src / "_config.yml", yaml.safe_dump(config, sort_keys=False, allow_unicode=True).encode())
    _sync_file(Path(toc) if toc else ROOT / "_toc.yml", src / "_toc.yml")
    wanted |= {"_config.yml", "_toc.yml"}
    for path in list(src.rglob("*")):
        rel = path.relative_to(src).as_posix()
        if path.is_file() and not rel.startswith("_build/") and rel not in wanted:
            path.unlink()


def _long_date(value) -> str:
    import datetime as dt
    d = dt.date.fromisoformat(str(value))
    return f"{d.day} {d.strftime('%B')} {d.year}"


def sphinx_build(src: Path, log=print, force: bool = False) -> Path:
    """jupyter-book 1.x, strict: warnings are errors (-W), references checked (-n), all problems in one pass.

    Incremental (Sphinx re-reads only changed sources) unless ``force`` (``--all``: every page written again)."""
    cmd = ["jb", "build", str(src), "--path-output", str(src), "-W", "-n", "--keep-going", "-q"]
    if force:
        cmd.append("--all")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=src)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
        raise BuildError(f"jupyter-book build failed (exit {proc.returncode}):\n{tail}")
    return src / "_build" / "html"


def publish(html: Path, out: Path) -> Path:
    """Copy the HTML into a new release and switch the ``out`` symlink to it in one atomic rename."""
    releases = out.parent / f".{out.name}-releases"
    releases.mkdir(parents=True, exist_ok=True)
    numbers = [int(p.name) for p in releases.iterdir() if p.name.isdigit()]
    release = releases / str(max(numbers, default=0) + 1)
    shutil.copytree(html, release)
    if out.exists() and not out.is_symlink():
        # A plain directory (not made by this function): a symlink cannot replace it, so set it aside first.
        os.replace(out, releases / "previous-plain-directory")
    link = out.parent / f".{out.name}.new"
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(os.path.relpath(release, out.parent), link)
    os.replace(link, out)
    for old in releases.iterdir():  # keep the current and the previous release
        if old.name.isdigit() and int(old.name) < int(release.name) - 1:
            shutil.rmtree(old, ignore_errors=True)
    return out


def accept_baseline(pages, work: Path) -> None:
    """Make the executed notebooks the committed regression baseline in ``book/``."""
    for page in pages:
        target = BOOK_DIR / page.output
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".accepting")
        shutil.copyfile(work / page.output, tmp)
        os.replace(tmp, target)


# --- the build -----------------------------------------------------------------------------------------------


def run_build(data_dir: Path = DATA_DIR, data_version: int | None = None, out: Path | None = None,
              jobs: int | None = None, force: bool = False, accept: bool = False, manifest: Path = MANIFEST,
              build_dir: Path | None = None, log=print, toc: Path | None = None) -> BuildReport:
    """``build`` returning a :class:`BuildReport` (what was executed, whether Sphinx ran, timings)."""
    t0 = time.perf_counter()
    if os.environ.get("LIVINGREVIEW_DATA_DIR"):
        raise BuildError("LIVINGREVIEW_DATA_DIR is set: it points the notebooks at other data than the build hashes "
                         "(it is for tests/test_regression.py); unset it and build other data with --data")
    report = BuildReport()
    clock = {"start": t0}

    def phase(name):
        now = time.perf_counter()
        report.seconds[name] = round(now - clock["start"], 3)
        clock["start"] = now

    suffix = "" if data_version is None else f"-v{data_version}"
    base = Path(build_dir) if build_dir else BUILD_DIR
    work, src = base / f"work{suffix}", base / f"src{suffix}"
    out = Path(out) if out else base / f"html{suffix}"
    toc = Path(toc) if toc else ROOT / "_toc.yml"
    state_path = base / f"state{suffix}.json"
    state = _load_state(state_path)

    # Level 1: nothing that the book is made of has changed since the published release.
    key = build_key(manifest, Path(data_dir), data_version, out, toc)
    if not force and state.get("key") == key and _is_published(out, state.get("release")):
        if accept:
            accept_baseline(load_manifest(manifest), work)
            log("accepted the executed notebooks as the regression baseline in book/")
            state["key"] = build_key(manifest, Path(data_dir), data_version, out, toc)
            _save_state(state_path, state)
        report.published, report.nothing_changed = out, True
        report.unchanged = [p.output for p in load_manifest(manifest)] if accept else []
        phase("check")
        report.seconds["total"] = round(time.perf_counter() - t0, 3)
        log(f"nothing changed since the published book ({report.seconds['total']:.2f} s)")
        return report
    phase("check")

    # The kernel fork server imports while the data are validated and the notebooks planned; it is stopped at
    # once if no notebook needs executing.
    spec = _read_yaml(manifest) or {}
    server = start_kernel_server({str(e["template"]) for e in spec.get("pages", []) if isinstance(e, dict)
                                  and (NOTEBOOKS_DIR / str(e.get("template", ""))).is_file()})
    try:
        from livingreview.dataset import load_dataset

        dataset = load_dataset(data_dir)  # DataValidationError stops everything before anything is written
        if data_version is not None and data_version not in set(dataset.versions["data_version"]):
            raise BuildError(f"--data-version {data_version}: not in data/versions.csv "
                             f"(known: {sorted(dataset.versions['data_version'])})")
        pages = load_manifest(manifest)
        phase("validate")
        durations = state.get("durations", {})
        execute_pages(pages, Path(data_dir), data_version, dataset, work, jobs, force, log=log, report=report,
                      durations=durations, kernel_server=server)
    finally:
        if server:
            server.close()
    durations.update(report.notebook_seconds)
    phase("execute")
    stage_source(pages, work, src, Path(data_dir), dataset, data_version, toc=toc)
    extensions = sphinx_code_hash()
    staged = source_hash(src, extensions)
    phase("stage")
    if not force and state.get("source") == staged and _is_published(out, state.get("release")):
        log("the staged book source is the published one: HTML unchanged")
        published = out
    else:
        log("building HTML with jupyter-book (strict)")
        html = sphinx_build(src, log=log, force=force or state.get("extensions") != extensions)
        report.sphinx = True
        phase("sphinx")
        published = publish(html, out)
    phase("publish")
    if accept:
        if data_version is not None:
            raise BuildError("--accept applies to the current data version only")
        accept_baseline(pages, work)
        log(f"accepted {len(pages)} notebooks as the regression baseline in book/")
        key = build_key(manifest, Path(data_dir), data_version, out, toc)
    report.published = published
    report.seconds["total"] = round(time.perf_counter() - t0, 3)
    last = {"executed": report.executed, "copied": report.copied, "sphinx": report.sphinx, "kernels": report.kernels,
            "seconds": report.seconds}
    _save_state(state_path, {"key": key, "source": staged, "extensions": extensions,
                             "release": str(Path(published).resolve()), "durations": durations, "last_build": last})
    return report


def build(data_dir: Path = DATA_DIR, data_version: int | None = None, out: Path | None = None,
          jobs: int | None = None, force: bool = False, accept: bool = False, manifest: Path = MANIFEST,
          build_dir: Path | None = None, log=print, toc: Path | None = None) -> Path:
    """The one command a review author runs. Returns the published HTML directory."""
    return run_build(data_dir=data_dir, data_version=data_version, out=out, jobs=jobs, force=force, accept=accept,
                     manifest=manifest, build_dir=build_dir, log=log, toc=toc).published
