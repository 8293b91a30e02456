"""The build end to end: real and synthetic data, every page of the table of contents, atomic publishing.

One real build is shared by the tests of this module (``real_book`` in conftest.py).
"""

from __future__ import annotations

import html as htmllib
import re
import shutil
from pathlib import Path

import pytest
import yaml

from livingreview import format as fmt
from livingreview.build import BuildError, build
from livingreview.build.manifest import ManifestError, load_manifest, toc_text
from livingreview.config import DATA_DIR, MANIFEST, PRIMARY, ROOT
from livingreview.dataset import DataValidationError, load_dataset
from livingreview.review.outcomes import results_table


def toc_files(node) -> list[str]:
    out = []
    if isinstance(node, dict):
        if "file" in node:
            out.append(node["file"])
        if "root" in node:
            out.append(node["root"])
        for value in node.values():
            if isinstance(value, (list, dict)):
                out.extend(toc_files(value))
    elif isinstance(node, list):
        for item in node:
            out.extend(toc_files(item))
    return out


def page_text(html: Path, doc: str) -> str:
    return (html / f"{doc}.html").read_text(encoding="utf-8")


def write_manifest(path: Path, chapters: list, root="index") -> Path:
    path.write_text(yaml.safe_dump({"root": root, "parts": [{"caption": "Test", "chapters": chapters}]},
                                   sort_keys=False))
    return path


def test_every_toc_page_is_built(real_book):
    _, html = real_book
    files = toc_files(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    assert len(files) > 30
    missing = [f for f in files if not (html / f"{f}.html").is_file()]
    assert missing == []


def test_toc_is_generated_from_the_manifest():
    """One list of pages: the committed _toc.yml is exactly what the manifest generates."""
    assert (ROOT / "_toc.yml").read_text(encoding="utf-8") == toc_text(load_manifest(MANIFEST))


def test_every_template_and_page_module_is_in_the_manifest():
    pages = load_manifest(MANIFEST).pages
    templates = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    modules = {p.stem for p in (ROOT / "livingreview" / "book").glob("*.py")} - {"__init__", "common", "figures",
                                                                                   "chapter"}
    assert {p.name for p in pages} == templates == modules


def test_manifest_errors_name_the_entry(tmp_path):
    bad = write_manifest(tmp_path / "m.yml", [{"notebook": "outcome", "output": "x/y",
                                               "parameters": {"outcome": "vod", "colour": "red"}}])
    with pytest.raises(ManifestError, match=r"chapter 1 \(x/y\): parameter\(s\) colour not accepted by outcome"):
        load_manifest(bad)
    missing = write_manifest(tmp_path / "n.yml", [{"file": "no/such/page"}])
    with pytest.raises(ManifestError, match=r"static page book/no/such/page.md does not exist"):
        load_manifest(missing)


def test_outcome_pages_show_forest_plot_and_the_computed_estimate(real_book):
    _, html = real_book
    table = results_table(load_dataset(DATA_DIR), PRIMARY)
    overall = table[table["subgroup"] == "overall"].set_index("outcome")
    pages = {p.parameters["outcome"]: p.docname for p in load_manifest(MANIFEST).pages if p.name == "outcome"}
    assert len(pages) == 10
    for outcome, doc in pages.items():
        text = htmllib.unescape(page_text(html, doc))
        assert re.search(r'<img[^>]+alt="Forest plot of ', text), f"{doc}: no forest plot with alt text"
        if outcome in overall.index:
            row = overall.loc[outcome]
            expected = f"{fmt.pct(row['estimate'])} (95% CI: {fmt.interval(row['ci_low'], row['ci_high'])}"
            assert expected in text, f"{doc}: pooled estimate {expected} not on the page"
        audit = next(p.docname for p in load_manifest(MANIFEST).pages
                     if p.name == "reproduction_outcome" and p.parameters["outcome"] == outcome)
        assert f'href="../{audit}.html"' in text, f"{doc}: no link to its audit page"


def test_version_banner_on_every_page(real_book):
    _, html = real_book
    for doc in ["index", "results/overall-response", "methods/statistics"]:
        assert "literature searched to" in page_text(html, doc)


def test_downloads_are_published(real_book):
    _, html = real_book
    text = page_text(html, "downloads")
    for name in ("outcomes.csv", "studies.csv", "pooled_estimates.csv"):
        assert name in text
    assert list(html.glob("_downloads/*/pooled_estimates.csv"))


def test_bad_data_stops_the_build_and_keeps_the_last_good_book(real_book, tmp_path):
    build_dir, html = real_book
    before = html.resolve()
    bad = tmp_path / "data"
    shutil.copytree(DATA_DIR, bad)
    lines = (bad / "outcomes.csv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    i = next(n for n, ln in enumerate(lines) if n and ln.split(",")[2].isdigit())
    cells = lines[i].split(",")
    cells[header.index("events")] = str(int(cells[header.index("total")]) + 5)
    lines[i] = ",".join(cells)
    (bad / "outcomes.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataValidationError) as err:
        build(data_dir=bad, build_dir=build_dir, jobs=2, log=lambda *a: None)
    assert f"outcomes.csv, line {i + 1}, column 'events'" in str(err.value)
    assert html.resolve() == before and (html / "index.html").is_file()


def test_failing_notebook_is_named_with_its_cell_and_the_book_is_kept(real_book, tmp_path):
    build_dir, html = real_book
    before = html.resolve()
    template = tmp_path / "quality.ipynb"
    shutil.copyfile(ROOT / "notebooks" / "quality.ipynb", template)
    import nbformat
    nb = nbformat.read(template, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('deliberate failure')"))
    nbformat.write(nb, template)
    manifest = write_manifest(tmp_path / "manifest.yml", [], root={"notebook": str(template), "output": "results/broken"})
    with pytest.raises(BuildError) as err:
        build(data_dir=DATA_DIR, build_dir=build_dir, manifest=manifest, jobs=1, log=lambda *a: None)
    message = str(err.value)
    assert "book/results/broken.ipynb" in message and "RuntimeError: deliberate failure" in message
    assert "cell" in message
    assert html.resolve() == before and (html / "index.html").is_file()


def test_outcome_pages_show_denominators_and_bounds(real_book):
    """Each pooled row's population is on its page, a row of another population is marked, a bound is excluded
    with its reason and pooled only by the sensitivity analysis that includes bounds."""
    _, html = real_book
    ds = load_dataset(DATA_DIR)
    pages = {p.parameters["outcome"]: p.docname for p in load_manifest(MANIFEST).pages if p.name == "outcome"}
    population = ds.definitions.set_index("outcome")["population"]
    counted = ds.outcomes[ds.outcomes["derivation"] != "missing"]
    for outcome, doc in pages.items():
        text = htmllib.unescape(page_text(html, doc))
        rows = counted[counted["outcome"] == outcome]
        for pop in set(rows.loc[rows["bound"] == "exact", "population"]):
            assert f"<td>{pop}</td>" in text, f"{doc}: denominator population {pop!r} not shown"
        if (rows.loc[rows["bound"] == "exact", "population"] != population[outcome]).any():
            assert "marked *" in text, f"{doc}: rows of another population not flagged"
        for _, row in rows[rows["bound"] != "exact"].iterrows():
            assert f"only a {row['bound']} bound is reported ({row['events']}/{row['total']})" in text, doc
    vod = htmllib.unescape(page_text(html, "results/vod-sensitivity"))
    assert "Including counts that are only a bound" in vod and "(lower bound)" in vod


def test_curator_notes_never_reach_the_book(real_book):
    _, html = real_book
    ds = load_dataset(DATA_DIR)
    notes = [n for t in (ds.studies, ds.outcomes, ds.reports) for n in t["curator_note"].dropna() if len(n) >= 30]
    assert notes
    pages = {p: htmllib.unescape(p.read_text(encoding="utf-8")) for p in html.rglob("*.html")}
    for note in notes:
        shown = [str(p.relative_to(html)) for p, text in pages.items() if note[:60] in text]
        assert not shown, f"curator note {note[:60]!r} is shown on {shown}"


def test_a_downloaded_notebook_has_one_parameters_cell_that_counts():
    """papermill's injected values are written into the template's parameters cell (comments kept), so editing
    that cell of a downloaded page and re-running it changes the page."""
    import nbformat

    nb = nbformat.read(ROOT / "book" / "results" / "vod-sensitivity.ipynb", as_version=4)
    assert not [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    (params,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert 'outcome = "vod"' in params.source and 'data_dir = "data"' in params.source
    assert "# PR, PLO, PAS or PFT" in params.source  # the template's comments stay
