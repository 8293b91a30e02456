"""Build the book: validate data → papermill on the manifest → jupyter-book (strict) → atomic publish.

Directories (all under ``_build/`` unless ``--out`` says otherwise):

* ``work/`` — executed notebooks, each carrying the hash of its inputs in ``metadata.livingreview.inputs``;
  a notebook whose inputs are unchanged is not executed again (the committed baseline in ``book/`` counts too,
  so a fresh clone only runs Sphinx).
* ``src/`` — the staged book source (``book/`` + executed notebooks + downloads), synced file by file so that
  Sphinx rebuilds only what changed.
* ``releases/N/`` and ``html`` → ``releases/N`` — the published book. The symlink is switched with one
  ``os.replace`` after everything succeeded, so a failed or interrupted build leaves the last good book in place.

``--accept`` copies the executed notebooks into ``book/``: they are the regression baseline that ``pytest --nbval``
re-executes and compares, so accepting new numbers is always a deliberate act.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

from livingreview.config import BOOK_DIR, BUILD_DIR, DATA_DIR, MANIFEST, NOTEBOOKS_DIR, PRIMARY, ROOT, Spec, MIN_K_BIAS

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
DATA_TABLES = ("studies.csv", "outcomes.csv", "outcome_definitions.csv", "quality.csv", "published.csv",
               "search.csv", "versions.csv")


class BuildError(RuntimeError):
    """A notebook or the Sphinx build failed; the message says which and why."""


@dataclass(frozen=True)
class Page:
    """One manifest entry: a template executed with parameters into ``output`` (relative to ``book/``)."""

    template: str
    output: str
    parameters: dict = field(default_factory=dict)
    reads: str = "all"  # "all" data tables, or "outcome" (only the rows of this page's outcome, plus studies)


def load_manifest(path: Path = MANIFEST) -> list[Page]:
    spec = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    pages = []
    for i, entry in enumerate(spec.get("pages", []), start=1):
        unknown = set(entry) - {"template", "output", "parameters", "reads"}
        if unknown or "template" not in entry or "output" not in entry:
            raise BuildError(f"{path}: page {i}: needs 'template' and 'output' (unknown keys: {sorted(unknown)})")
        if not (NOTEBOOKS_DIR / entry["template"]).is_file():
            raise BuildError(f"{path}: page {i}: template notebooks/{entry['template']} does not exist")
        pages.append(Page(entry["template"], entry["output"], dict(entry.get("parameters") or {}),
                          entry.get("reads", "all")))
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


def _sha(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def package_hash() -> str:
    files = sorted((ROOT / "livingreview").glob("*.py"))
    return _sha(*(f.name.encode() + f.read_bytes() for f in files))


def data_hash(data_dir: Path, page: Page) -> str:
    """Hash of the data a page reads: for an outcome page only that outcome's rows of outcomes.csv."""
    parts = []
    for name in DATA_TABLES:
        path = Path(data_dir) / name
        if not path.exists():
            continue
        if name == "outcomes.csv" and page.reads == "outcome":
            outcome = page.parameters["outcome"]
            lines = path.read_text(encoding="utf-8").splitlines()
            keep = [lines[0]] + [ln for ln in lines[1:] if ln.split(",")[1:2] == [outcome]]
            parts.append(("\n".join(keep)).encode())
        else:
            parts.append(path.read_bytes())
    return _sha(*parts)


def inputs_hash(page: Page, params: dict, data_dir: Path, pkg: str) -> str:
    template = (NOTEBOOKS_DIR / page.template).read_bytes()
    return _sha(template, json.dumps(params, sort_keys=True).encode(), data_hash(data_dir, page).encode(), pkg.encode())


def render_template(template: Path, context: dict) -> nbformat.NotebookNode:
    """Fill ``{{ name }}`` placeholders in Markdown cells (page titles, captions) before execution."""
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


def tidy_executed(nb: nbformat.NotebookNode, digest: str) -> nbformat.NotebookNode:
    """Drop run-specific metadata (timestamps, durations) so outputs diff cleanly; hide code behind a toggle."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("papermill", None)
    nb.metadata["livingreview"] = {"inputs": digest}
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            tags = cell.metadata.setdefault("tags", [])
            if not {"hide-input", "remove-input", "remove-cell"} & set(tags):
                tags.append("hide-input")
    return nb


def _execute(template: str, output: Path, params: dict, context: dict, digest: str) -> str:
    """Run one notebook (in a worker process). Returns the output path; raises BuildError with the cell."""
    import logging

    import papermill

    logging.getLogger("papermill").setLevel(logging.ERROR)  # its per-parameter chatter is not news
    nb = render_template(NOTEBOOKS_DIR / template, context)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        rendered = Path(tmp) / Path(template).name
        nbformat.write(nb, rendered)
        executed = Path(tmp) / "executed.ipynb"
        try:
            papermill.execute_notebook(str(rendered), str(executed), parameters=params, cwd=str(ROOT),
                                       progress_bar=False, log_output=False, kernel_name="python3")
        except papermill.PapermillExecutionError as err:
            source = (err.source or "").strip().splitlines()
            first = source[0] if source else ""
            raise BuildError(f"book/{context['_output']}: cell {err.exec_count} (`{first[:80]}`) raised "
                             f"{err.ename}: {err.evalue}") from None
        result = tidy_executed(nbformat.read(executed, as_version=4), digest)
        partial = output.with_suffix(".partial")
        nbformat.write(result, partial)
        os.replace(partial, output)
    return str(output)


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


def execute_pages(pages, data_dir: Path, data_version: int | None, dataset, work: Path, jobs: int, force: bool,
                  log=print) -> list[Path]:
    """Execute the pages whose inputs changed (in parallel); return the executed notebook paths, in manifest order."""
    pkg = package_hash()
    todo, paths = [], []
    for page in pages:
        params = page_parameters(page, data_dir, data_version)
        digest = inputs_hash(page, params, data_dir, pkg)
        out = work / page.output
        paths.append(out)
        if not force and _cached_digest(out) == digest:
            continue
        baseline = BOOK_DIR / page.output
        if not force and data_version is None and _cached_digest(baseline) == digest:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(baseline, out)
            continue
        todo.append((page, params, digest, out))
    log(f"{len(pages) - len(todo)} of {len(pages)} notebooks unchanged; executing {len(todo)} with {jobs} job(s)")
    errors = []
    if todo:
        from tqdm import tqdm
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(_execute, p.template, out, params, _page_context(p, params, dataset), digest): p
                       for p, params, digest, out in todo}
            for future in tqdm(as_completed(futures), total=len(futures), desc="notebooks", unit="nb",
                               file=sys.stderr, disable=None):
                try:
                    future.result()
                except BuildError as err:
                    errors.append(str(err))
                except Exception as err:  # a crash in papermill itself, not in a cell
                    errors.append(f"book/{futures[future].output}: {type(err).__name__}: {err}")
    if errors:
        raise BuildError("notebook execution failed:\n  " + "\n  ".join(sorted(errors)))
    return paths


def _sync_file(src: Path, dst: Path) -> None:
    """Copy only when the content differs, so unchanged pages keep their mtime and Sphinx skips them."""
    if dst.exists() and dst.read_bytes() == src.read_bytes():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def _write_if_changed(dst: Path, content: bytes) -> None:
    if dst.exists() and dst.read_bytes() == content:
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(content)


def stage_source(pages, work: Path, src: Path, data_dir: Path, dataset, data_version: int | None) -> None:
    """Lay out the book source in ``src``: static pages from book/, executed notebooks, downloads, config."""
    generated = {p.output for p in pages}
    wanted = set()
    for path in BOOK_DIR.rglob("*"):
        rel = path.relative_to(BOOK_DIR).as_posix()
        if path.is_file() and rel not in generated and not rel.startswith("_build"):
            _sync_file(path, src / rel)
            wanted.add(rel)
    for page in pages:
        _sync_file(work / page.output, src / page.output)
        wanted.add(page.output)
    # Downloads: the dataset as validated, and every pooled estimate of the primary analysis.
    from livingreview.results import results_table
    for name in DATA_TABLES:
        if (Path(data_dir) / name).exists():
            _sync_file(Path(data_dir) / name, src / "downloads" / name)
            wanted.add(f"downloads/{name}")
    table = results_table(dataset, PRIMARY, data_version=data_version)
    _write_if_changed(src / "downloads" / "pooled_estimates.csv",
                      table.to_csv(index=False, float_format="%.6f", lineterminator="\n").encode())
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
    _sync_file(ROOT / "_toc.yml", src / "_toc.yml")
    wanted |= {"_config.yml", "_toc.yml"}
    for path in list(src.rglob("*")):
        rel = path.relative_to(src).as_posix()
        if path.is_file() and not rel.startswith("_build/") and rel not in wanted:
            path.unlink()


def _long_date(value) -> str:
    import datetime as dt
    d = dt.date.fromisoformat(str(value))
    return f"{d.day} {d.strftime('%B')} {d.year}"


def sphinx_build(src: Path, log=print) -> Path:
    """jupyter-book 1.x, strict: warnings are errors (-W), references checked (-n), all problems in one pass."""
    cmd = ["jb", "build", str(src), "--path-output", str(src), "-W", "-n", "--keep-going", "-q"]
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


def build(data_dir: Path = DATA_DIR, data_version: int | None = None, out: Path | None = None,
          jobs: int | None = None, force: bool = False, accept: bool = False, manifest: Path = MANIFEST,
          build_dir: Path | None = None, log=print) -> Path:
    """The one command a review author runs. Returns the published HTML directory."""
    from livingreview.data import load_dataset

    dataset = load_dataset(data_dir)  # DataValidationError stops everything before anything is written
    if data_version is not None and data_version not in set(dataset.versions["data_version"]):
        raise BuildError(f"--data-version {data_version}: not in data/versions.csv "
                         f"(known: {sorted(dataset.versions['data_version'])})")
    pages = load_manifest(manifest)
    suffix = "" if data_version is None else f"-v{data_version}"
    base = Path(build_dir) if build_dir else BUILD_DIR
    work = base / f"work{suffix}"
    src = base / f"src{suffix}"
    out = Path(out) if out else base / f"html{suffix}"
    jobs = jobs or os.cpu_count() or 1
    execute_pages(pages, Path(data_dir), data_version, dataset, work, jobs, force, log=log)
    stage_source(pages, work, src, Path(data_dir), dataset, data_version)
    log("building HTML with jupyter-book (strict)")
    html = sphinx_build(src, log=log)
    published = publish(html, out)
    if accept:
        if data_version is not None:
            raise BuildError("--accept applies to the current data version only")
        accept_baseline(pages, work)
        log(f"accepted {len(pages)} notebooks as the regression baseline in book/")
    return published
