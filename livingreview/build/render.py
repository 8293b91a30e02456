"""Render a notebook template before execution: jinja2 in its cells, strict, with data text kept literal.

* Markdown cells are jinja2 templates (``{{ outcome_label }}``, ``{% if has_regimen %}…{% endif %}``) with strict
  undefined: a name the page's context does not define stops the build, naming the template, the cell and the name.
* Every value interpolated into Markdown is escaped (:func:`livingreview.format.md`): a label can never become
  markup. In a directive option write ``:alt: "… {{ value | option }} …"`` (a double-quoted option value; the filter
  escapes what would end it) and in code ``{{ value | code }}``; links come from ``href("bias", outcome=outcome)``.
* A code cell may only be wrapped in a condition (``{% if … %}`` … ``{% endif %}``): it never receives a value.
* A cell that renders to nothing is dropped, so conditional sections are visible in the template itself.
"""

from __future__ import annotations

import json
import re
import posixpath
from pathlib import Path

from livingreview.format import md, option


class RenderError(ValueError):
    """A template cannot be rendered: the message names the template, the cell and the problem."""


class _Literal(str):
    """Text that is already what it should be in Markdown (a link, an option value): not escaped again."""


def _finalize(value):
    if isinstance(value, _Literal):
        return value
    if isinstance(value, bool) or value is None:
        raise RenderError(f"{value!r} cannot be written into Markdown (a condition belongs in {{% if %}})")
    return md(value)


def _environment():
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, finalize=_finalize, autoescape=False,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["option"] = lambda value: _Literal(option(value))
    env.filters["code"] = _code
    return env


def _code(value) -> _Literal:
    """A value inside a code span or block, where Markdown escapes would show: one line without backticks."""
    text = " ".join(str(value).split())
    if "`" in text:
        raise RenderError(f"{text!r} cannot go into code: it contains a backtick")
    return _Literal(text)


class Href:
    """``href(template, anchor=None, **parameters)``: the relative link from ``page_output`` to the one page of the
    site (``[(output, template, parameters)]``) with that template and those parameters. (A class, not a closure,
    so that a rendering context can be sent to the worker that executes the notebook.)"""

    def __init__(self, site: list, page_output: str):
        self.site, self.page_output = site, page_output

    def pages(self, template: str, **params) -> list[str]:
        return [out for out, tpl, p in self.site if tpl == template and all(p.get(k) == v for k, v in params.items())]

    def exists(self, template: str, **params) -> bool:
        """``in_book(template, **parameters)``: whether the book has that page (a part of the book may not)."""
        return len(self.pages(template, **params)) == 1

    def __call__(self, template: str, anchor: str | None = None, **params) -> _Literal:
        matches = self.pages(template, **params)
        if len(matches) != 1:
            raise RenderError(f"href({template!r}, {params}): {len(matches)} pages match in manifest.yml (need one)")
        # A link to a page is a link to its source, which Sphinx resolves and checks (-n); a link to an anchor in a
        # page's generated HTML (a table's id) can only be a link to the written .html.
        target = matches[0] if anchor is None else matches[0].removesuffix(".ipynb") + f".html#{anchor}"
        return _Literal(posixpath.relpath(target, posixpath.dirname(self.page_output) or "."))


def _cell_source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def render_template(template: Path, context: dict):
    """The template as an nbformat notebook, every cell rendered with ``context``; empty cells dropped."""
    import jinja2
    import nbformat

    env = _environment()
    nb = nbformat.reads(Path(template).read_text(encoding="utf-8"), as_version=4)
    kept = []
    for i, cell in enumerate(nb.cells, start=1):
        source = _cell_source(cell)
        where = f"notebooks/{Path(template).name}, cell {i}"
        if cell.cell_type == "code" and "{{" in source:
            raise RenderError(f"{where}: a code cell cannot receive a value ({{{{ … }}}}); pass it as a parameter")
        try:
            rendered = env.from_string(source).render(context)
        except jinja2.UndefinedError as err:
            known = ", ".join(sorted(k for k in context if not k.startswith("_")))
            raise RenderError(f"{where}: {err.message} (the page's context has: {known})") from None
        except jinja2.TemplateError as err:
            raise RenderError(f"{where}: {type(err).__name__}: {err}") from None
        if cell.cell_type == "code" and rendered.strip() and rendered.strip() != source.strip() \
                and not source.lstrip().startswith("{%"):
            raise RenderError(f"{where}: a code cell may only be wrapped in a {{% if %}} condition")
        if not rendered.strip():
            continue
        cell.source = rendered.strip("\n")
        kept.append(cell)
    nb.cells = kept
    return nb


def shows_nothing(cell) -> bool:
    """A code cell whose outputs a reader never sees: none at all, or only values glued for the page's prose."""
    return all("scrapbook" in output.get("metadata", {}) for output in cell.get("outputs", []))


def tidy_executed(nb, digest: str):
    """Drop run-specific metadata (timestamps, durations) so outputs diff cleanly; hide code behind a toggle.

    A quiet page: a cell that shows nothing (imports, ``page = load(...)``, glue calls) is removed from the HTML
    entirely (``remove-cell``; myst-nb still reads its glued values), so no page opens with empty "Show code" bars;
    the code of a cell that shows a result stays one click away (``hide-input``).

    The values papermill injected are written into the template's own parameters cell and the injected cell is
    dropped: a downloaded notebook has one parameters cell, the one that counts (edit it and re-run)."""
    import copy

    nb = copy.deepcopy(nb)
    nb.metadata.pop("papermill", None)
    nb.metadata["livingreview"] = {"inputs": digest}
    _merge_injected_parameters(nb)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            tags = cell.metadata.setdefault("tags", [])
            if not {"hide-input", "remove-input", "remove-cell"} & set(tags):
                tags.append("remove-cell" if shows_nothing(cell) else "hide-input")
    return nb


_ASSIGNMENT = re.compile(r"^(?P<name>[A-Za-z_]\w*)(?P<eq>\s*=\s*)(?P<value>.*?)(?P<comment>\s+#.*)?$")


def _merge_injected_parameters(nb) -> None:
    """Move papermill's injected values into the ``parameters`` cell (each line keeps its comment) and drop the
    injected cell. A value that cannot be placed (no such line) keeps the injected cell, so nothing is lost."""
    import ast

    tagged = lambda tag: [c for c in nb.cells if tag in c.metadata.get("tags", [])]  # noqa: E731
    injected, declared = tagged("injected-parameters"), tagged("parameters")
    if len(injected) != 1 or len(declared) != 1:
        return
    source = injected[0].source
    values = {node.targets[0].id: ast.get_source_segment(source, node.value)
              for node in ast.parse(source).body if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}
    lines, placed = [], set()
    for line in declared[0].source.splitlines():
        m = _ASSIGNMENT.match(line)
        if m and m["name"] in values:
            line = f"{m['name']}{m['eq']}{values[m['name']]}{m['comment'] or ''}"
            placed.add(m["name"])
        lines.append(line)
    if placed != set(values):
        return
    declared[0].source = "\n".join(lines)
    nb.cells.remove(injected[0])


def notebook_digest(path: Path) -> str | None:
    """The input digest an executed notebook was made from (None if it has none or cannot be read)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))["metadata"].get("livingreview", {}).get("inputs")
    except (OSError, ValueError, KeyError):
        return None


__all__ = ["Href", "RenderError", "notebook_digest", "render_template", "shows_nothing", "tidy_executed"]
