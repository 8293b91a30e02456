"""What every page module shares: the page's view of the dataset, the analysis its parameters choose, and the
deterministic HTML tables and glued figures a notebook cell displays.

A page module (``livingreview/book/<template>.py``, one per notebook template) declares ``READS`` — what it reads
from ``data/`` — and gets a view of the dataset holding exactly that (:func:`dataset`): a read it did not declare
raises, so a page can never be left stale by a change the build did not know it depended on.
"""

from __future__ import annotations

import html as _html
import os
from pathlib import Path

import matplotlib
from IPython.display import HTML, Image

from livingreview.config import DATA_OVERRIDE, PRIMARY, ROOT, SUBGROUPS, TEST_SHORT, Spec
from livingreview.format import md

_CACHE: dict = {}

# Text in the book's figures is drawn as written: a study label containing "$…$" must not become mathtext.
matplotlib.rcParams["text.parse_math"] = False


def dataset(reads, data_dir: str = "data", reader: str = "", **parameters):
    """The validated dataset, restricted to ``reads`` (formatted with the page's ``parameters``).

    A relative ``data_dir`` is taken from the repository root, so notebooks run from any directory.
    ``LIVINGREVIEW_DATA_DIR`` overrides the repository's own ``data`` (the ``data_dir`` injected into the committed
    notebooks), so that ``tests/test_regression.py`` can point the baseline at a modified copy without editing it."""
    from livingreview.dataset import load_dataset

    path = Path(data_dir)
    if path == Path("data") and os.environ.get(DATA_OVERRIDE):
        path = Path(os.environ[DATA_OVERRIDE])
    key = str(path if path.is_absolute() else ROOT / path)
    if key not in _CACHE:  # keyed by the resolved path, so an override is never stale
        if len(_CACHE) >= 4:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = load_dataset(Path(key))
    declared = tuple(r.format(**parameters) for r in reads)
    return _CACHE[key].view(declared, reader or "this page")


def spec_from(measure=None, method=None, test=None, pi_dist=None) -> Spec:
    """A notebook's analysis parameters as a Spec; None means the book's primary analysis."""
    changes = {k: v for k, v in dict(measure=measure, method=method, test=test, pi_dist=pi_dist).items() if v}
    return PRIMARY.with_(**changes)


def spec_context(params: dict) -> dict:
    """What a template's Markdown says about the analysis its parameters choose."""
    spec = spec_from(*(params.get(k) for k in ("measure", "method", "test", "pi_dist")))
    return {"spec_description": spec.describe(), "test_short": TEST_SHORT[spec.test], **spec.labels()}


def outcome_context(ds, outcome: str) -> dict:
    """An outcome's words for a template: label, section, definition."""
    defs = ds.definitions.set_index("outcome")
    if outcome not in defs.index:
        raise KeyError(f"outcome {outcome!r} is not defined in outcome_definitions.csv "
                       f"(defined: {', '.join(defs.index)})")
    row = defs.loc[outcome]
    return {"outcome_label": row["label"], "outcome_label_lower": row["label"][0].lower() + row["label"][1:],
            "outcome_section": row["section"], "outcome_definition": row["definition"]}


def subgroup_name(column: str, level: str | None = None) -> str:
    """'Overall', 'Treatment regimen: InO monotherapy'."""
    if column == "overall":
        return "Overall"
    return SUBGROUPS[column] if level is None else f"{SUBGROUPS[column]}: {level}"


def glue_figure(name: str, plot) -> None:
    """Glue a figure for a ``{glue:figure}`` directive (caption and alt text live in the template's Markdown)."""
    from myst_nb import glue

    from livingreview.book.figures import png_bytes

    png = plot._repr_png_() if hasattr(plot, "_repr_png_") else png_bytes(plot)
    glue(name, Image(data=png, format="png"), display=False)


def glue_markdown(values: dict) -> None:
    """Glue Markdown snippets (name → text) for ``{glue:md}`` roles in the template's prose."""
    from IPython.display import Markdown
    from myst_nb import glue

    for name, text in values.items():
        glue(name, Markdown(text), display=False)


def esc(value) -> str:
    return _html.escape("" if value is None else str(value))


def html_table(df, caption: str | None = None) -> str:
    """A plain, deterministic HTML table (pandas' Styler adds random ids, which would break the baseline)."""
    import pandas as pd

    head = "".join(f"<th>{esc(c)}</th>" for c in df.columns)
    body = []
    for _, row in df.iterrows():
        cells = "".join(f"<td>{esc('' if pd.isna(v) else v)}</td>" for v in row)
        body.append(f"<tr>{cells}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f'<table class="table livingreview-table">{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def html(df, caption: str | None = None) -> HTML:
    return HTML(html_table(df, caption))


def fold(summary: str, body: str) -> str:
    """A closed ``<details>`` block (``summary``: HTML, e.g. escaped text): secondary detail one click away, so
    that no page is longer than a few screens."""
    return f'<details class="livingreview-fold"><summary>{summary}</summary>{body}</details>'


def raw_table(columns, rows) -> str:
    """A deterministic HTML table like :func:`html_table`, whose cells are already HTML (links, group rows).

    ``rows``: lists of cell HTML, or ``("group", html)`` for a row spanning every column."""
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for row in rows:
        if isinstance(row, tuple) and row and row[0] == "group":
            body.append(f'<tr class="livingreview-group"><th colspan="{len(columns)}" style="background: #eef2f6; '
                        f'font-weight: 600;">{row[1]}</th></tr>')
        else:
            body.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    return (f'<table class="table livingreview-table"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


#: How each public locator of a report opens (``reports.csv``), in the order the book prefers them.
LOCATOR_LINKS = (("doi", "https://doi.org/{}", "doi:{}"), ("pmid", "https://pubmed.ncbi.nlm.nih.gov/{}/", "PMID {}"),
                 ("pmcid", "https://pmc.ncbi.nlm.nih.gov/articles/{}/", "{}"),
                 ("nct_id", "https://clinicaltrials.gov/study/{}", "{}"), ("url", "{}", "link"))


def report_source(report, location=None) -> str:
    """HTML for a figure's source: the report's best public locator as a link (or its abstract number), then
    where in it. ``report``: a row of reports.csv (a mapping)."""
    import pandas as pd

    present = lambda key: key in report and not pd.isna(report[key]) and report[key] != ""  # noqa: E731
    parts = []
    for key, href, text in LOCATOR_LINKS:
        if present(key):
            parts.append(f'<a href="{esc(href.format(report[key]))}">{esc(text.format(report[key]))}</a>')
            break
    if present("abstract_number"):
        parts.append(f"abstract {esc(report['abstract_number'])}")
    kind = esc(report["report_type"]) if present("report_type") else ""
    where = f"; {esc(location)}" if location is not None and not pd.isna(location) and location != "" else ""
    return f"{kind} ({', '.join(parts)}){where}" if parts else f"{kind}{where}"


def markdown(text: str):
    """A cell's Markdown output (text already escaped where it carries data: see :func:`livingreview.format.md`)."""
    from IPython.display import Markdown

    return Markdown(text)


__all__ = ["dataset", "esc", "fold", "glue_figure", "glue_markdown", "html", "html_table", "markdown", "md",
           "outcome_context", "raw_table", "spec_context", "spec_from", "subgroup_name"]
