"""``python -m livingreview run``: execute one notebook template with a learner's own parameters.

The book executes every template with the primary analysis; ``run`` executes one of them — an outcome page, its
bias or sensitivity page, or a methods-primer chapter — with the parameters a learner chooses, exactly as the
build does (the same rendering, parameters and tidying, imported from :mod:`livingreview.build`), and writes the
executed notebook and a self-contained HTML copy to a directory of its own::

    python -m livingreview run vod --param measure=PFT --param method=DL
    python -m livingreview run overall_response --template primer_small_study_effects --param n_sims=200

Parameters are validated before anything is executed: a name the template does not have, or a value that is not
allowed (outcome ids from ``outcome_definitions.csv``; measure, method, test and pi_dist from
:mod:`livingreview.config`; otherwise the type of the template's default), is refused with the valid choices.
``hartung_knapp=true`` is a shorthand for ``test=knha`` (Hartung–Knapp–Sidik–Jonkman), ``hartung_knapp=adhoc``
for ``test=adhoc`` (never narrower than Wald) and ``hartung_knapp=false`` for ``test=z``.
"""

from __future__ import annotations

import ast
import base64
import html as _html
import re
from dataclasses import dataclass
from pathlib import Path

from livingreview.build.manifest import BUILD_PARAMETERS, ManifestError, Parameter, template_parameters
from livingreview.config import BUILD_DIR, MEASURES, METHODS, NOTEBOOKS_DIR, PI_DISTS, SUBGROUPS, TESTS

#: Parameters set by the command's own options, not by --param.
RESERVED = {"data_dir": "--data", "data_version": "--data-version"}
#: Parameters the command sets from the project itself.
FROM_CITATION = {"repository": "repository-code in CITATION.cff"}
HARTUNG_KNAPP = {"true": "knha", "yes": "knha", "on": "knha", "knha": "knha", "adhoc": "adhoc",
                 "false": "z", "no": "z", "off": "z"}
BOOLEANS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


class RunError(ValueError):
    """The learner's request cannot be run (unknown template, parameter or value); the message lists the valid ones."""


@dataclass(frozen=True)
class RunResult:
    notebook: Path
    html: Path | None
    parameters: dict


def templates() -> list[str]:
    return sorted(p.stem for p in NOTEBOOKS_DIR.glob("*.ipynb"))


def resolve_template(name: str) -> Path:
    stem = Path(name).name.removesuffix(".ipynb")
    path = NOTEBOOKS_DIR / f"{stem}.ipynb"
    if not path.is_file():
        raise RunError(f"unknown template {name!r}; valid templates: {', '.join(templates())}")
    return path


def _parameters(template: Path) -> dict[str, Parameter]:
    params = template_parameters(template)
    if not params:
        raise RunError(f"template {template.name} has no cell tagged 'parameters': it cannot be re-run with "
                       f"parameters")
    return params


def _choice(name: str, value: str, allowed, fold=str.upper) -> str:
    lookup = {fold(a): a for a in allowed}
    if fold(value) not in lookup:
        raise RunError(f"invalid value {value!r} for {name}; valid values: {', '.join(allowed)}")
    return lookup[fold(value)]


def _typed(param: Parameter, value: str):
    """Parse a value as the type of the template's default (bool, int, float, list/tuple, str)."""
    default = param.default
    text = value.strip()
    if isinstance(default, bool):
        if text.lower() not in BOOLEANS:
            raise RunError(f"invalid value {value!r} for {param.name}; valid values: true, false")
        return BOOLEANS[text.lower()]
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise RunError(f"invalid value {value!r} for {param.name}: an integer is required "
                           f"(default {default!r})") from None
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise RunError(f"invalid value {value!r} for {param.name}: a number is required "
                           f"(default {default!r})") from None
    if isinstance(default, (list, tuple)):
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            parsed = None
        if isinstance(parsed, (int, float)):
            parsed = [parsed]
        if not isinstance(parsed, (list, tuple)) or not all(isinstance(v, (int, float)) for v in parsed):
            raise RunError(f"invalid value {value!r} for {param.name}: a list of numbers such as "
                           f"{list(default)!r} is required")
        return list(parsed)
    if isinstance(default, str):
        return text
    try:  # default None and not one of the known analysis parameters: a Python literal, else a string
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_parameters(pairs, template: Path, outcome: str | None, dataset) -> dict:
    """``["name=value", ...]`` (and the positional outcome) → validated parameters for ``template``."""
    params = _parameters(template)
    valid = [n for n in params if n not in RESERVED and n not in FROM_CITATION]
    if "test" in params:
        valid.append("hartung_knapp")
    outcomes = list(dataset.definitions["outcome"])
    out: dict = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise RunError(f"--param {pair!r}: write NAME=VALUE; valid names for {template.stem}: {', '.join(valid)}")
        name, value = (s.strip() for s in pair.split("=", 1))
        name = name.replace("-", "_")
        if name in RESERVED:
            raise RunError(f"--param {name}: use the option {RESERVED[name]} instead")
        if name in FROM_CITATION:
            raise RunError(f"--param {name}: it is read from {FROM_CITATION[name]}")
        if name not in valid:
            raise RunError(f"unknown parameter {name!r} for template {template.stem}; valid parameters: "
                           f"{', '.join(valid)}")
        if name == "hartung_knapp":
            test = HARTUNG_KNAPP.get(value.lower())
            if test is None:
                raise RunError(f"invalid value {value!r} for hartung_knapp; valid values: true (test=knha), "
                               f"adhoc (test=adhoc), false (test=z)")
            if out.get("test", test) != test:
                raise RunError(f"hartung_knapp={value} contradicts test={out['test']}")
            out["test"] = test
        elif name == "measure":
            out[name] = _choice(name, value, MEASURES)
        elif name == "method":
            out[name] = _choice(name, value, METHODS)
        elif name == "test":
            choice = _choice(name, value, TESTS, fold=str.lower)
            if out.get("test", choice) != choice:
                raise RunError(f"test={value} contradicts hartung_knapp (test={out['test']})")
            out[name] = choice
        elif name == "pi_dist":
            out[name] = _choice(name, value, PI_DISTS, fold=str.lower)
        elif name == "outcome":
            out[name] = _choice(name, value, outcomes, fold=str.lower)
        elif name == "subgroup":
            out[name] = _choice(name, value, list(SUBGROUPS), fold=str.lower)
        else:
            out[name] = _typed(params[name], value)
    if outcome is not None:
        if "outcome" not in params:
            raise RunError(f"template {template.stem} has no outcome parameter; leave OUTCOME out "
                           f"(its parameters: {', '.join(valid)})")
        chosen = _choice("OUTCOME", outcome, outcomes, fold=str.lower)
        if out.get("outcome", chosen) != chosen:
            raise RunError(f"OUTCOME {outcome!r} contradicts --param outcome={out['outcome']}")
        out["outcome"] = chosen
    elif "outcome" in params and "outcome" not in out:
        out["outcome"] = params["outcome"].default  # the template's default, so its page titles can be filled
    return out


def _slug(template: Path, params: dict) -> str:
    parts = [template.stem] + ([params["outcome"]] if "outcome" in params else [])
    parts += [f"{k}-{params[k]}" for k in sorted(params) if k != "outcome"]
    text = "-".join(str(p) for p in parts)
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text)[:150]


@dataclass(frozen=True)
class Prepared:
    """A validated request: the template, the learner's parameters, what papermill injects and the context."""

    path: Path
    chosen: dict
    params: dict
    context: dict
    name: str
    dataset: object


def prepare(template: str = "outcome", outcome: str | None = None, pairs=(), data_dir: Path | None = None,
            data_version: int | None = None) -> Prepared:
    """Validate the request and build what rendering and execution need, exactly as the build does."""
    import importlib

    from livingreview.build.manifest import declared_reads, load_manifest
    from livingreview.build.pipeline import page_parameters
    from livingreview.build.render import Href
    from livingreview.config import DATA_DIR, MANIFEST
    from livingreview.dataset import load_dataset

    data_dir = Path(data_dir) if data_dir else DATA_DIR
    path = resolve_template(template)
    dataset = load_dataset(data_dir)
    if data_version is not None and data_version not in set(dataset.versions["data_version"]):
        raise RunError(f"--data-version {data_version}: not in versions.csv "
                       f"(valid: {', '.join(str(v) for v in sorted(dataset.versions['data_version']))})")
    chosen = parse_parameters(pairs, path, outcome, dataset)
    declared = template_parameters(path)
    params = page_parameters(_RunPage(chosen), declared, data_dir, data_version)
    if "repository" in declared:
        from livingreview.build.citation import repository_url
        params["repository"] = repository_url()
    try:
        reads = tuple(r.format(**chosen) for r in declared_reads(path.stem))
    except (KeyError, ManifestError) as err:
        raise RunError(f"template {path.stem}: {err}") from None
    view = dataset.view(reads, f"notebooks/{path.name}")
    context = {**{n: p.default for n, p in declared.items() if n not in BUILD_PARAMETERS}, **chosen,
               "data_version": data_version}
    module = importlib.import_module(f"livingreview.book.{path.stem}")
    try:
        if hasattr(module, "context"):
            context.update(module.context(view, context))
    except (KeyError, ValueError) as err:
        raise RunError(str(err)) from None
    site = [(f"html/{p.output}", p.name, p.parameters) for p in load_manifest(MANIFEST).pages]
    context["href"] = Href(site, "run/page.ipynb")  # links lead into the book in _build/html
    context["in_book"] = context["href"].exists
    return Prepared(path, chosen, params, context, _slug(path, chosen), dataset)


def run(template: str = "outcome", outcome: str | None = None, pairs=(), out_dir: Path | None = None,
        data_dir: Path | None = None, data_version: int | None = None, html: bool = True, log=print) -> RunResult:
    """Validate, render, execute and tidy one notebook exactly as the build does (in a kernel of this checkout);
    optionally an HTML copy. Links to other pages point into the book at ``_build/html``."""
    from livingreview.build.digest import package_hash, sha
    from livingreview.build.execute import Job, execute

    job = prepare(template, outcome, pairs, data_dir, data_version)
    out_dir = Path(out_dir) if out_dir else BUILD_DIR / "run"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{job.name}.ipynb"
    digest = sha(package_hash().encode(), repr(sorted(job.params.items())).encode())
    log(f"executing notebooks/{job.path.name} with "
        f"{', '.join(f'{k}={v!r}' for k, v in job.chosen.items()) or 'its defaults'}")
    execute(Job(target.name, job.path, target, job.params, job.context, digest))
    page_html = None
    if html:
        import nbformat

        page_html = target.with_suffix(".html")
        page_html.write_text(notebook_html(nbformat.read(target, as_version=4), title=job.name), encoding="utf-8")
    return RunResult(target, page_html, job.params)


SPEC_PARAMETERS = ("measure", "method", "test", "pi_dist")


def compare(template: str = "outcome", outcome: str | None = None, pairs=(), against: str = "",
            out_dir: Path | None = None, data_dir: Path | None = None, data_version: int | None = None,
            log=print) -> Path:
    """One HTML page with the outcome of ``template`` under the learner's analysis and under the same analysis with
    ``against`` (``NAME=VALUE``, an analysis choice) changed, side by side. Returns the page's path."""
    from markdown_it import MarkdownIt

    from livingreview.book.chapter import compare as compare_specs, figure_png
    from livingreview.book.common import html_table, spec_from

    job = prepare(template, outcome, pairs, data_dir, data_version)
    if "outcome" not in job.chosen or not set(SPEC_PARAMETERS) <= set(template_parameters(job.path)):
        raise RunError(f"template {job.path.stem} has no outcome and analysis to compare; use outcome or a primer "
                       f"chapter")
    name = against.partition("=")[0].strip().replace("-", "_")
    if name not in (*SPEC_PARAMETERS, "hartung_knapp"):
        raise RunError(f"--compare {against!r}: name one analysis choice ({', '.join(SPEC_PARAMETERS)} or "
                       f"hartung_knapp), e.g. --compare method=DL")
    other = {k: v for k, v in parse_parameters([against], job.path, None, job.dataset).items() if k != "outcome"}
    a = spec_from(*(job.chosen.get(k) for k in SPEC_PARAMETERS))
    b = a.with_(**other)
    try:
        c = compare_specs(job.dataset, job.chosen["outcome"], a, b, data_version)
    except ValueError as err:
        raise RunError(str(err)) from None
    images = "".join(f'<figure><img alt="Forest plot of {_html.escape(c.label)}: {_html.escape(s.describe())}" '
                     f'src="data:image/png;base64,{base64.b64encode(figure_png(f)).decode()}"></figure>'
                     for f, s in zip(c.forests(), c.specs))
    body = (f"<h1>{_html.escape(c.label)}: two analyses side by side</h1>\n"
            + MarkdownIt("commonmark", {"html": False}).render(c.sentence()) + html_table(c.frame())
            + f'<div class="side-by-side">{images}</div>')
    out_dir = Path(out_dir) if out_dir else BUILD_DIR / "run"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{job.name}-vs-{'-'.join(f'{k}-{v}' for k, v in other.items())}.html"
    log(f"comparing {a.describe()} with {b.describe()}")
    target.write_text(_page(f"{c.label}: compared", body), encoding="utf-8")
    return target


@dataclass(frozen=True)
class Standalone:
    notebook: Path
    bundle: Path


#: The data a standalone notebook needs: the data package, its schemas and the frozen versions it validates against
#: (never the curation notes of staging/).
BUNDLED = ("datapackage.json", "README.md", "*.csv", "schemas/*", "snapshots/*/*.csv")


def standalone(template: str, outcome: str | None = None, pairs=(), out_dir: Path | None = None,
               data_dir: Path | None = None, data_version: int | None = None, log=print) -> Standalone:
    """A primer chapter a learner can take home: a clean notebook (its parameters cell is the one that counts, no
    injected cell; the prose is displayed by the chapter itself, so it follows the parameters; answers closed) and a
    zip with the notebook and the data it loads from ``data/`` next to it."""
    import zipfile

    import nbformat

    from livingreview.build.render import render_template
    from livingreview.config import DATA_DIR

    if not Path(template).name.startswith("primer_"):
        raise RunError(f"--standalone writes a methods-primer chapter (primer_*); {template!r} is not one")
    job = prepare(template, outcome, pairs, data_dir, data_version)
    nb = standalone_notebook(render_template(job.path, job.context), job.path, job.params)
    out_dir = Path(out_dir) if out_dir else BUILD_DIR / "run"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{job.name}.ipynb"
    nbformat.write(nb, target)
    source = Path(data_dir) if data_dir else DATA_DIR
    files = sorted({f for pattern in BUNDLED for f in source.glob(pattern) if f.is_file()})
    bundle = target.with_suffix(".zip")
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(target, target.name)
        for f in files:
            z.write(f, (Path("data") / f.relative_to(source)).as_posix())
    log(f"standalone notebook of notebooks/{job.path.name}: {len(files)} data files bundled")
    return Standalone(target, bundle)


INSTALL = """**Running this notebook.** Unzip it with its `data/` folder (the notebook reads the data from `data/` next
to itself), then install the `livingreview` package in the Python that runs Jupyter: in a clone of the repository,
`pip install -r requirements.txt -e .` (see its README, "Teaching with the book"). Edit the parameters cell below
and run every cell: every number, sentence and answer is computed again from your parameters."""


def standalone_notebook(nb, template: Path, params: dict):
    """Turn a rendered primer template into the clean notebook of :func:`standalone` (not executed)."""
    import nbformat

    declared = template_parameters(template)
    values = {**{n: p.default for n, p in declared.items()}, **params, "data_dir": "data"}
    cells = [nbformat.v4.new_markdown_cell(INSTALL)]
    deferred = []  # prose with computed words that comes before the chapter is loaded: shown right after it
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code" and "parameters" in tags:
            lines = ["# Parameters: edit them here and run the notebook again."]
            for name, p in declared.items():
                note = "the data/ folder next to this notebook" if name == "data_dir" else p.help
                lines.append(f"{name} = {values[name]!r}" + (f"  # {note}" if note else ""))
            cells.append(nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": ["parameters"]}))
        elif cell.cell_type == "code":
            source = cell.source.replace("from livingreview.book.common import glue_figure",
                                         "from livingreview.book.chapter import show_figure as glue_figure")
            source = source.replace("chapter.glue_numbers()\n", "")
            loads = "= load(" in source
            if loads:
                source = ("from pathlib import Path\n\ndata_dir = str(Path(data_dir).resolve())  # data/ next to this "
                          "notebook\n" + source)
            cells.append(nbformat.v4.new_code_cell(source, metadata={k: v for k, v in cell.metadata.items()
                                                                      if k == "tags"}))
            if loads:
                cells += [_show_cell(text, template) for text in deferred]
                deferred = None
        elif "{glue" in cell.source or "{dropdown}" in cell.source or "{admonition}" in cell.source:
            if deferred is None:
                cells.append(_show_cell(cell.source, template))
                continue
            heading, _, rest = cell.source.partition("\n")
            if heading.startswith("#"):
                cells.append(nbformat.v4.new_markdown_cell(heading))
            deferred.append(rest.strip() if heading.startswith("#") else cell.source)
        else:
            cells.append(nbformat.v4.new_markdown_cell(cell.source))
    out = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": nb.metadata.get("kernelspec", {}),
                                                          "language_info": {"name": "python"}})
    for i, cell in enumerate(out.cells):  # stable ids: the same request gives the same file
        cell.id = f"cell-{i:02d}"
    return out


def _show_cell(source: str, template: Path):
    """A Markdown cell with computed words, as a code cell that lets the chapter display it (input hidden)."""
    import nbformat

    if '"""' in source:
        raise RunError(f"{template.name}: a Markdown cell contains triple quotes")
    return nbformat.v4.new_code_cell(f'chapter.show(r"""\n{source}\n""")',
                                     metadata={"jupyter": {"source_hidden": True}})


@dataclass(frozen=True)
class _RunPage:
    parameters: dict


# --------------------------------------------------------------------------------- a readable HTML copy

RECORD = "application/papermill.record/"


def glued_outputs(nb) -> dict[str, dict]:
    """name → mime bundle of every value the notebook glued (myst-nb's ``glue``)."""
    found = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                found[name] = {k.removeprefix(RECORD): v for k, v in output.get("data", {}).items()}
    return found


def _plain(text: str):
    """A glued text/plain value as the Python value it printed (so format specs apply), else the text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def resolve_glue(markdown: str, glued: dict[str, dict]) -> str:
    """Replace myst-nb glue roles and directives by their values, as the book shows them; answers and other
    dropdowns become closed ``<details>`` (hidden until opened, as in the book)."""
    from livingreview.book.chapter import fill_glue

    texts = {k: b["text/markdown"] for k, b in glued.items() if "text/markdown" in b}
    numbers = {k: _plain(b["text/plain"]) for k, b in glued.items() if "text/markdown" not in b and "text/plain" in b}

    def figure(key, alt):
        png = glued.get(key, {}).get("image/png")
        return f"![{alt}](data:image/png;base64,{png})" if png else f"*(figure {key} not found)*"

    return fill_glue(markdown, numbers, texts, figure)


def notebook_html(nb, title: str) -> str:
    """A self-contained HTML page of an executed notebook: Markdown with glue resolved, code, and its outputs.

    nbconvert is not a dependency of the project, so the page is rendered with markdown-it-py (which the book's
    MyST parser already needs)."""
    from markdown_it import MarkdownIt
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    glued = glued_outputs(nb)
    parts = []
    for cell in nb.cells:
        tags = set(cell.metadata.get("tags", []))
        if cell.cell_type == "markdown":
            parts.append(md.render(resolve_glue(cell.source, glued)))
            continue
        if cell.cell_type != "code" or "remove-cell" in tags:
            continue
        label = "parameters" if "injected-parameters" in tags else "code"
        parts.append(f'<details class="code"><summary>{label}</summary><pre>{_html.escape(cell.source)}</pre>'
                     f"</details>")
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if output.get("metadata", {}).get("scrapbook"):
                continue
            if "text/html" in data:
                parts.append(data["text/html"])
            elif "image/png" in data:
                parts.append(f'<img alt="output" src="data:image/png;base64,{data["image/png"]}">')
            elif "text/markdown" in data:
                parts.append(md.render(data["text/markdown"]))
            elif "text/plain" in data:
                parts.append(f"<pre>{_html.escape(data['text/plain'])}</pre>")
            elif output.get("output_type") == "stream":
                parts.append(f"<pre>{_html.escape(output.get('text', ''))}</pre>")
    return _page(title, "\n".join(parts))


STYLE = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5}"
         "table{border-collapse:collapse;font-size:.9rem}td,th{border:1px solid #ccc;padding:.2rem .5rem}"
         "img{max-width:100%}details.code{color:#555;font-size:.85rem}pre{background:#f6f8fa;padding:.5rem;"
         "overflow-x:auto}details{margin:.5rem 0}summary{cursor:pointer;color:#0b5394}"
         ".side-by-side{display:flex;gap:1rem;flex-wrap:wrap}.side-by-side figure{flex:1 1 28rem;margin:0}")


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{_html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")


def describe_parameters(template: str) -> str:
    """The template's parameters with their defaults and help, for ``run --template NAME --list``."""
    path = resolve_template(template)
    params = _parameters(path)
    lines = [f"Parameters of notebooks/{path.name} (None = the book's primary analysis):"]
    for p in params.values():
        if p.name in RESERVED or p.name in FROM_CITATION:
            continue
        lines.append(f"  {p.name} = {p.default!r}" + (f"  # {p.help}" if p.help else ""))
    if "test" in params:
        lines.append("  hartung_knapp = true | adhoc | false  # shorthand for test=knha | adhoc | z")
    lines.append(f"  (data_dir and data_version: the options {', '.join(RESERVED.values())})")
    return "\n".join(lines)


__all__ = ["RunError", "RunResult", "run", "prepare", "compare", "standalone", "standalone_notebook",
           "parse_parameters", "templates",
           "resolve_template", "notebook_html", "resolve_glue", "glued_outputs", "describe_parameters"]
