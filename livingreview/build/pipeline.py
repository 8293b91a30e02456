"""The build: manifest → validate → execute what changed (papermill) → stage → Sphinx → publish atomically.

Generic: it knows notebooks, their declared parameters and reads, not outcomes. Only what changed is redone:

1. **Nothing changed** — one hash of the raw bytes of everything a build reads (:func:`.digest.build_key`); if it is
   the one recorded for the published release, the build stops there, having imported only the standard library.
2. **Notebooks** — each executed notebook carries the digest of its inputs (:func:`.digest.page_digest`: its
   template, parameters, the parsed values it declares it reads, the code it runs, library versions, the site map).
   Unchanged notebooks are kept (the committed baseline in ``book/`` counts as executed); the others run in parallel
   in fresh kernels of this checkout (:mod:`.execute`).
3. **HTML** — the staged source is synced file by file; Sphinx runs only if it changed, and writes every page when
   anything all pages show changed (table of contents, titles, stylesheets: :func:`.sphinx.navigation_key`).

Directories (under ``_build/`` unless ``--build-dir`` / ``LIVINGREVIEW_BUILD_DIR`` say otherwise): ``work/``
(executed notebooks), ``src/`` (staged source), ``state.json``, ``.html-releases/N`` and ``html`` → the release.
This module imports only the standard library at the top: the nothing-changed path pays for nothing else.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from livingreview.build.digest import build_key
from livingreview.build.manifest import BUILD_PARAMETERS, ManifestError
from livingreview.build.publish import build_lock, check_out, is_published, load_state
from livingreview.config import BUILD_DIR, DATA_DIR, DATA_OVERRIDE, MANIFEST, ROOT

CONFIG = ROOT / "_config.yml"
TOC = ROOT / "_toc.yml"
DATA_FILES = ("studies.csv", "outcomes.csv", "outcome_definitions.csv", "quality.csv", "published.csv", "search.csv",
              "versions.csv", "certainty.csv")


class BuildError(RuntimeError):
    """The build cannot go on: a notebook failed, the manifest or a template is wrong, Sphinx failed, or the book
    cannot be published where asked. The message says which and why; the last good book is untouched."""


@dataclass
class BuildReport:
    """What a build did. ``executed``/``copied``/``unchanged`` list page outputs (manifest order): notebooks
    executed, taken from the committed baseline in ``book/``, and left as they were."""

    published: Path | None = None
    executed: list = field(default_factory=list)
    copied: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    nothing_changed: bool = False  # the whole build was skipped (level 1)
    sphinx: str = ""  # "" (not run), "incremental" or "fresh"
    kernels: str = ""  # "forked", "plain" or "" (nothing executed)
    seconds: dict = field(default_factory=dict)  # phase → wall seconds
    notebook_seconds: dict = field(default_factory=dict)  # output → seconds, for the executed notebooks


def page_parameters(page, declared: dict, data_dir: Path, data_version: int | None) -> dict:
    """What papermill injects: the page's own parameters and, if the template takes them, the data location
    (repository-relative when inside it, so notebooks are identical on every machine), the data version and the
    repository a launched notebook installs from (``CITATION.cff``; None when not set)."""
    from livingreview.build.citation import repository_url

    params = dict(page.parameters)
    if "data_dir" in declared:
        params["data_dir"] = portable(data_dir)
    if "data_version" in declared:
        params["data_version"] = data_version
    if "repository" in declared:
        params["repository"] = repository_url()
    return params


def portable(path: Path) -> str:
    path = Path(path).resolve()
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


@dataclass
class Plan:
    """What a build must do with each page: execute it (``todo``), take it from the baseline in ``book/``
    (``copied``, already copied into the work directory) or leave it (``unchanged``)."""

    todo: list = field(default_factory=list)  # Jobs, longest first
    copied: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)


def plan_pages(book, dataset, data_dir: Path, data_version: int | None, work: Path, force: bool = False,
               durations: dict | None = None) -> Plan:
    """Decide page by page: current in ``work``, taken from the baseline in ``book/``, or to execute (with the
    context its template is rendered with)."""
    import importlib
    import shutil

    from livingreview.build.digest import page_digest
    from livingreview.build.execute import Job
    from livingreview.build.manifest import page_reads, template_parameters
    from livingreview.build.render import Href, notebook_digest
    from livingreview.config import BOOK_DIR

    site = [(p.output, p.name, p.parameters) for p in book.pages]
    site_map = book.site_map()
    plan = Plan()
    for page in book.pages:
        declared = template_parameters(page.template)
        params = page_parameters(page, declared, data_dir, data_version)
        reads = page_reads(page)
        view = dataset.view(reads, f"book/{page.output}")
        digest = page_digest(page.template_path, page.module, params, [view.read_bytes(r) for r in reads], site_map)
        out = Path(work) / page.output
        if not force and notebook_digest(out) == digest:
            plan.unchanged.append(page.output)
            continue
        baseline = BOOK_DIR / page.output
        if not force and data_version is None and notebook_digest(baseline) == digest:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(baseline, out)
            plan.copied.append(page.output)
            continue
        module = importlib.import_module(page.module)
        context = {**{n: p.default for n, p in declared.items() if n not in BUILD_PARAMETERS},
                   **{k: v for k, v in params.items() if k not in BUILD_PARAMETERS}, "data_version": data_version}
        if hasattr(module, "context"):
            context.update(module.context(view, context))
        context["href"] = Href(site, page.output)
        context["in_book"] = context["href"].exists
        plan.todo.append(Job(page.output, page.template_path, out, params, context, digest))
    # Longest first (durations of the last build; never timed first), so the last to finish is short.
    durations = durations or {}
    plan.todo.sort(key=lambda j: -durations.get(j.output, float("inf")))
    return plan


def _version_row(dataset, data_version: int | None):
    """The number and the versions.csv row of the data version a build shows (the latest when None)."""
    versions = dataset.versions.sort_values("data_version")
    if data_version is None:
        return int(versions.iloc[-1]["data_version"]), versions.iloc[-1]
    return data_version, versions.set_index("data_version").loc[data_version]


def _banner(dataset, data_version: int | None) -> str:
    """The line on every page: the data version, its last *systematic* search (never a search that was not run: a
    version whose studies were found otherwise says so) and when the dataset was frozen."""
    from livingreview.format import long_date

    number, row = _version_row(dataset, data_version)
    searched = f"literature searched to {long_date(row['search_date'])}"
    if row["search_basis"] != "systematic search":
        searched += " (the last systematic search); later studies added without a systematic search"
    return f"Data version {number} · {searched} · dataset of {long_date(row['date'])}"


def _staged_files(manifest, dataset, data_dir: Path, data_version: int | None) -> dict[str, bytes]:
    """The configuration (data banner, citation footer, repository buttons), the table of contents, the
    bibliography, the citation block of the landing page, and the downloads."""
    import yaml

    from livingreview.build.bibliography import bibliography
    from livingreview.build.citation import cite_footer_html, cite_markdown, repository_url
    from livingreview.build.manifest import toc_text
    from livingreview.config import BOOK_DIR, PRIMARY
    from livingreview.format import long_date
    from livingreview.review.outcomes import results_table

    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    html = config.setdefault("html", {})
    html["announcement"] = _banner(dataset, data_version)
    number, row = _version_row(dataset, data_version)
    html["extra_footer"] = cite_footer_html(number, long_date(row["date"]))
    url = repository_url()
    if url:  # never invented: the buttons and links exist only when CITATION.cff names the repository
        config["repository"] = {"url": url, "branch": "main", "path_to_book": "book"}
        html.update(use_repository_button=True, use_issues_button=True)
        config.setdefault("launch_buttons", {})["binderhub_url"] = "https://mybinder.org"
    # A notebook page shadows a static page of the same name (the landing page, index, is a notebook).
    shadowed = [f"{p.docname}.md" for p in manifest.pages if (BOOK_DIR / f"{p.docname}.md").is_file()]
    config["exclude_patterns"] = list(config.get("exclude_patterns") or []) + shadowed
    files = {"_config.yml": yaml.safe_dump(config, sort_keys=False, allow_unicode=True).encode(),
             "_toc.yml": toc_text(manifest).encode(),
             "references.bib": bibliography(dataset).encode(),
             "_cite.md": cite_markdown(number, long_date(row["date"])).encode()}
    for name in DATA_FILES:
        if (Path(data_dir) / name).is_file():
            files[f"downloads/{name}"] = (Path(data_dir) / name).read_bytes()
    table = results_table(dataset, PRIMARY, data_version=data_version)
    files["downloads/pooled_estimates.csv"] = table.to_csv(index=False, float_format="%.6f",
                                                           lineterminator="\n").encode()
    return files


def run_build(data_dir: Path = DATA_DIR, data_version: int | None = None, out: Path | None = None,
              jobs: int | None = None, force: bool = False, accept: bool = False, manifest: Path = MANIFEST,
              build_dir: Path | None = None, log=print) -> BuildReport:
    """``build`` returning a :class:`BuildReport` (what was executed, whether Sphinx ran, timings)."""
    from livingreview.build.publish import PublishError

    t0 = time.perf_counter()
    if os.environ.get(DATA_OVERRIDE):
        raise BuildError(f"{DATA_OVERRIDE} is set: it points the notebooks at other data than the build hashes "
                         f"(it is for tests/test_regression.py); unset it and build other data with --data")
    if accept and data_version is not None:
        raise BuildError("--accept applies to the current data version only")
    suffix = "" if data_version is None else f"-v{data_version}"
    base = Path(build_dir) if build_dir else BUILD_DIR
    work, src = base / f"work{suffix}", base / f"src{suffix}"
    out = Path(out) if out else base / f"html{suffix}"
    state_path = base / f"state{suffix}.json"
    try:
        check_out(out)
        with build_lock(base, log):
            return _build(Path(data_dir), data_version, out, jobs, force, accept, Path(manifest), work, src,
                          state_path, log, t0)
    except (ManifestError, PublishError) as err:
        raise BuildError(str(err)) from None


def _build(data_dir, data_version, out, jobs, force, accept, manifest, work, src, state_path, log, t0):
    report = BuildReport()
    clock = {"start": t0}

    def phase(name):
        now = time.perf_counter()
        report.seconds[name] = round(now - clock["start"], 3)
        clock["start"] = now

    state = load_state(state_path)
    key = build_key(manifest, data_dir, data_version, out, CONFIG)
    if not force and state.get("key") == key and is_published(out, state.get("release")):
        report.published, report.nothing_changed = out, True
        if accept:
            from livingreview.build.manifest import load_manifest
            from livingreview.build.publish import accept_baseline

            from livingreview.build.diff import write_pinned_estimates
            from livingreview.dataset import load_dataset

            pages = load_manifest(manifest).pages
            accept_baseline(pages, work)
            write_pinned_estimates(load_dataset(data_dir))
            report.unchanged = [p.output for p in pages]
            state["key"] = build_key(manifest, data_dir, data_version, out, CONFIG)
            from livingreview.build.publish import save_state
            save_state(state_path, state)
            log("accepted the executed notebooks as the regression baseline in book/")
        phase("check")
        report.seconds["total"] = round(time.perf_counter() - t0, 3)
        log(f"nothing changed since the published book ({report.seconds['total']:.2f} s)")
        return report
    phase("check")
    return _changed(data_dir, data_version, out, jobs, force, accept, manifest, work, src, state_path, log,
                    report, state, phase, t0)


def _changed(data_dir, data_version, out, jobs, force, accept, manifest, work, src, state_path, log, report, state,
             phase, t0):
    from livingreview.build.execute import default_jobs, execute_all, start_kernel_server
    from livingreview.build.manifest import load_manifest, toc_text
    from livingreview.build.publish import accept_baseline, publish, save_state
    from livingreview.build.sphinx import (SphinxError, built_from, extensions_hash, navigation_key, source_key,
                                           sphinx_build, stage_source)
    from livingreview.dataset import load_dataset

    book = load_manifest(manifest)
    if manifest == MANIFEST:  # keep the committed _toc.yml generated from the manifest
        text = toc_text(book)
        if not TOC.is_file() or TOC.read_text(encoding="utf-8") != text:
            TOC.write_text(text, encoding="utf-8")
            log("_toc.yml regenerated from manifest.yml")
    # The kernel fork server imports while the data are validated and the notebooks planned.
    server = start_kernel_server(book.pages)
    try:
        dataset = load_dataset(data_dir)  # DataValidationError stops everything before anything is written
        if data_version is not None and data_version not in set(dataset.versions["data_version"]):
            raise BuildError(f"--data-version {data_version}: not in versions.csv "
                             f"(known: {sorted(int(v) for v in dataset.versions['data_version'])})")
        phase("validate")
        durations = state.get("durations", {})
        plan = plan_pages(book, dataset, data_dir, data_version, work, force, durations)
        todo, report.copied, report.unchanged = plan.todo, plan.copied, plan.unchanged
        n = default_jobs(jobs)
        log(f"{len(book.pages) - len(todo)} of {len(book.pages)} notebooks unchanged; executing {len(todo)} with "
            f"{min(n, max(len(todo), 1))} job(s)")
        if todo:
            seconds, errors, report.kernels = execute_all(todo, n, server, log)
            report.notebook_seconds.update(seconds)
            if errors:
                raise BuildError("notebook execution failed:\n  " + "\n  ".join(errors))
    finally:
        if server:
            server.close()
    executed = {j.output for j in todo}
    report.executed = [p.output for p in book.pages if p.output in executed]
    if report.executed:
        shown = ", ".join(report.executed[:8]) + (f" and {len(report.executed) - 8} more"
                                                  if len(report.executed) > 8 else "")
        log(f"executed: {shown}")
    durations.update(report.notebook_seconds)
    phase("execute")
    stage_source(src, book.pages, work, _staged_files(book, dataset, data_dir, data_version))
    import yaml
    extensions = extensions_hash(yaml.safe_load(CONFIG.read_text(encoding="utf-8")) or {})
    navigation = navigation_key(src, extensions)
    staged = source_key(src, navigation)
    phase("stage")
    if not force and state.get("source") == staged and is_published(out, state.get("release")):
        log("the staged book source is the published one: HTML unchanged")
        published = out
    elif not force and built_from(src) == staged:
        log("the staged book source was built before: publishing that HTML")
        published = publish(src / "_build" / "html", out)
    else:
        fresh = force or state.get("navigation") != navigation
        log(f"building HTML with jupyter-book (strict{', every page' if fresh else ''})")
        try:
            html = sphinx_build(src, fresh=fresh, source=staged)
        except SphinxError as err:
            raise BuildError(str(err)) from None
        report.sphinx = "fresh" if fresh else "incremental"
        phase("sphinx")
        published = publish(html, out)
    phase("publish")
    key = build_key(manifest, data_dir, data_version, out, CONFIG)
    if accept:
        from livingreview.build.diff import write_pinned_estimates

        accept_baseline(book.pages, work)
        write_pinned_estimates(dataset)
        log(f"accepted {len(book.pages)} notebooks and their estimates as the regression baseline")
        key = build_key(manifest, data_dir, data_version, out, CONFIG)
    report.published = published
    report.seconds["total"] = round(time.perf_counter() - t0, 3)
    last = {"executed": report.executed, "copied": report.copied, "sphinx": report.sphinx, "kernels": report.kernels,
            "seconds": report.seconds}
    save_state(state_path, {"key": key, "source": staged, "navigation": navigation,
                            "release": str(Path(published).resolve()), "durations": durations, "last_build": last})
    return report


def build(data_dir: Path = DATA_DIR, data_version: int | None = None, out: Path | None = None,
          jobs: int | None = None, force: bool = False, accept: bool = False, manifest: Path = MANIFEST,
          build_dir: Path | None = None, log=print) -> Path:
    """The one command a review author runs. Returns the published HTML directory."""
    return run_build(data_dir=data_dir, data_version=data_version, out=out, jobs=jobs, force=force, accept=accept,
                     manifest=manifest, build_dir=build_dir, log=log).published


__all__ = ["BuildError", "BuildReport", "Plan", "build", "page_parameters", "plan_pages", "run_build"]
