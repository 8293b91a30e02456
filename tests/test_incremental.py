"""Incremental builds: only what changed is executed, and Sphinx runs only when the staged source changed.

A part of the book (9 notebooks of 6 templates, two outcomes) is built once from a copy of ``data/`` into a
temporary build directory, with its own manifest. Each test then changes one thing — one event count, one
adverse-event count, ``published.csv``, a template — and asks which notebooks the build would execute (the plan,
on a copy of the executed notebooks, so the tests do not depend on each other), then puts the data back. Timing is
not tested here: ``benchmarks/run_benchmarks.py`` measures it.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml

from livingreview.build import pipeline as lb
from livingreview.build.execute import default_jobs, execute_all, start_kernel_server
from livingreview.build.manifest import load_manifest
from livingreview.config import DATA_DIR, NOTEBOOKS_DIR
from livingreview.dataset import load_dataset

OUTCOMES = ("overall_response", "vod")


def _slug(outcome: str) -> str:
    return outcome.replace("_", "-")


def _rewrite(path: Path, change) -> None:
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    change(rows)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


def _bump(path: Path, outcome_match) -> str:
    """Change the event count of the first row (with counts) whose outcome matches; return that outcome."""
    found = []

    def change(rows):
        h = rows[0]
        io_, ie, it = h.index("outcome"), h.index("events"), h.index("total")
        for r in rows[1:]:
            if outcome_match(r[io_].strip()) and r[ie]:
                e, n = int(r[ie]), int(r[it])
                r[ie] = str(e + 1 if e < n else e - 1)
                found.append(r[io_].strip())
                return
        raise AssertionError("no row to change")

    _rewrite(path, change)
    return found[0]


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """A built part of the book: workspace, manifest, data dir, build dir, first report."""
    root = tmp_path_factory.mktemp("incremental")
    data = root / "data"
    shutil.copytree(DATA_DIR, data, ignore=shutil.ignore_patterns("staging"))
    bias = root / "templates" / "bias.ipynb"  # a copy, so that the template test can change it
    bias.parent.mkdir()
    shutil.copyfile(NOTEBOOKS_DIR / "bias.ipynb", bias)
    root_page = {"notebook": "methods", "output": "methods/statistics"}
    chapters = [{"notebook": "quality", "output": "results/quality"}]
    for o in OUTCOMES:
        chapters.append({"notebook": str(bias), "output": f"results/{_slug(o)}-bias", "parameters": {"outcome": o}})
        chapters.append({"notebook": "sensitivity", "output": f"results/{_slug(o)}-sensitivity",
                         "parameters": {"outcome": o}})
    chapters += [{"notebook": "adverse_events", "output": "results/adverse-events"},
                 {"notebook": "discussion", "output": "discussion"},
                 {"notebook": "conclusion", "output": "conclusion"}]
    manifest = root / "manifest.yml"
    manifest.write_text(yaml.safe_dump({"root": root_page, "parts": [{"caption": "Part", "chapters": chapters}]},
                                       sort_keys=False))
    build_dir = root / "build"
    first = lb.run_build(data_dir=data, build_dir=build_dir, manifest=manifest, jobs=2, log=lambda *a: None)
    return {"root": root, "data": data, "manifest": manifest, "build": build_dir, "first": first,
            "bias": bias, "outputs": [f"{c['output']}.ipynb" for c in [root_page, *chapters]]}


def _plan(book, tmp_path, force=False) -> lb.Plan:
    """Which pages would the build execute now? (On a copy of the book's executed notebooks.)"""
    work = tmp_path / "work"
    if not work.exists():
        shutil.copytree(book["build"] / "work", work)
    return lb.plan_pages(load_manifest(book["manifest"]), load_dataset(book["data"]), book["data"], None, work,
                         force)


def _executed(plan: lb.Plan) -> set[str]:
    return {job.output for job in plan.todo}


@pytest.fixture
def restore(book):
    """Put back every data file and the template a test changes."""
    saved = {p: p.read_bytes() for p in [*book["data"].glob("*.csv"), book["bias"]]}
    yield
    for path, content in saved.items():
        path.write_bytes(content)


def test_first_build_executes_every_page_in_forked_kernels(book):
    first = book["first"]
    assert set(first.executed) == set(book["outputs"]) and first.sphinx == "fresh"
    assert first.kernels == "forked"
    assert (first.published / "results" / "quality.html").is_file()


def test_second_build_executes_nothing_and_does_not_run_sphinx(book):
    report = lb.run_build(data_dir=book["data"], build_dir=book["build"], manifest=book["manifest"], jobs=2,
                          log=lambda *a: None)
    assert report.nothing_changed and report.executed == [] and not report.sphinx
    assert report.published.resolve() == book["first"].published.resolve()


def test_unchanged_staged_source_does_not_run_sphinx(book):
    """A change that reaches no page (here a comment in the manifest) goes through every step but Sphinx."""
    text = book["manifest"].read_text()
    try:
        book["manifest"].write_text("# a comment\n" + text)
        report = lb.run_build(data_dir=book["data"], build_dir=book["build"], manifest=book["manifest"],
                              jobs=2, log=lambda *a: None)
        assert not report.nothing_changed and report.executed == [] and not report.sphinx
        assert report.published.resolve() == book["first"].published.resolve()
    finally:
        book["manifest"].write_text(text)


def test_one_event_count_reruns_that_outcome_and_the_summaries(book, tmp_path, restore):
    changed = _bump(book["data"] / "outcomes.csv", lambda o: o == OUTCOMES[0])
    plan = _plan(book, tmp_path)
    s = _slug(changed)
    assert _executed(plan) == {f"results/{s}-bias.ipynb", f"results/{s}-sensitivity.ipynb", "discussion.ipynb",
                               "conclusion.ipynb"}
    assert set(plan.unchanged) == set(book["outputs"]) - _executed(plan)


def test_change_detection_reads_parsed_values(book, tmp_path, restore):
    """A row written with spaces after its commas is the same row to the loader and to change detection: a change
    of its events re-executes the pages that show it (the loader strips the spaces; a second reading of the raw
    text would not have matched the outcome)."""
    path = book["data"] / "outcomes.csv"

    def spaced(rows):
        h = rows[0]
        r = next(r for r in rows[1:] if r[h.index("outcome")] == OUTCOMES[1] and r[h.index("events")])
        r[h.index("outcome")] = " " + r[h.index("outcome")]
        r[h.index("events")] = " " + str(int(r[h.index("events")]) + 1)

    _rewrite(path, spaced)
    s = _slug(OUTCOMES[1])
    assert {f"results/{s}-bias.ipynb", f"results/{s}-sensitivity.ipynb"} <= _executed(_plan(book, tmp_path))


def test_adverse_event_count_reruns_the_adverse_events_page(book, tmp_path, restore):
    _bump(book["data"] / "outcomes.csv", lambda o: o.startswith("ae_"))
    assert _executed(_plan(book, tmp_path)) == {"results/adverse-events.ipynb", "discussion.ipynb", "conclusion.ipynb"}


def test_published_numbers_rerun_no_page_that_does_not_read_them(book, tmp_path, restore):
    def change(rows):
        rows[1][rows[0].index("note")] = "changed by test_incremental"

    _rewrite(book["data"] / "published.csv", change)
    # Of this part of the book only the discussion and the conclusion read the paper's numbers (its coverage).
    assert _executed(_plan(book, tmp_path)) == {"discussion.ipynb", "conclusion.ipynb"}


def _set_note(path: Path, outcome: str, note: str) -> None:
    def change(rows):
        h = rows[0]
        next(r for r in rows[1:] if r[h.index("outcome")] == outcome)[h.index("note")] = note

    _rewrite(path, change)


def test_outcome_rows_are_read_with_the_csv_module(book, tmp_path, restore):
    """A quoted cell may hold commas and line breaks: a change on the second line of a note is still a change of
    that outcome's row (the old filter split lines on ',' and lost continuation lines)."""
    path, outcome = book["data"] / "outcomes.csv", OUTCOMES[0]
    summaries = {"discussion.ipynb", "conclusion.ipynb"}
    ours = {f"results/{_slug(outcome)}-bias.ipynb", f"results/{_slug(outcome)}-sensitivity.ipynb"}
    original = path.read_bytes()
    _set_note(path, outcome, "first line, with a comma\nsecond line")
    first = {j.output: j.digest for j in _plan(book, tmp_path / "a").todo}
    assert set(first) == ours | summaries
    _set_note(path, outcome, "first line, with a comma\nsecond line, changed")
    second = {j.output: j.digest for j in _plan(book, tmp_path / "b").todo}
    assert set(second) == ours | summaries and all(first[o] != second[o] for o in second)
    path.write_bytes(original)
    _set_note(path, "complete_remission", "another outcome's note, with a comma\nand a line break")
    assert _executed(_plan(book, tmp_path / "c")) == summaries


def test_template_change_reruns_only_its_pages(book, tmp_path, restore):
    nb = nbformat.read(book["bias"], as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("One more sentence."))
    nbformat.write(nb, book["bias"])
    assert _executed(_plan(book, tmp_path)) == {f"results/{_slug(o)}-bias.ipynb" for o in OUTCOMES}


def test_force_executes_everything(book, tmp_path):
    plan = _plan(book, tmp_path, force=True)
    assert _executed(plan) == set(book["outputs"]) and plan.unchanged == []


def test_forked_and_plain_kernels_give_identical_notebooks(book, tmp_path, restore, monkeypatch):
    """Pre-importing in the fork server changes nothing in what a notebook shows."""
    _bump(book["data"] / "outcomes.csv", lambda o: o == OUTCOMES[1])
    outputs = {}
    for kind in ("forked", "plain"):
        if kind == "plain":
            monkeypatch.setenv("LIVINGREVIEW_FORK_KERNELS", "0")
        plan = _plan(book, tmp_path / kind)
        server = start_kernel_server(load_manifest(book["manifest"]).pages)
        try:
            _, errors, kernels = execute_all(plan.todo, default_jobs(2), server, log=lambda *a: None)
        finally:
            if server:
                server.close()
        assert errors == [] and kernels == kind and plan.todo
        outputs[kind] = {j.output: j.target.read_bytes() for j in plan.todo}
    assert outputs["forked"] == outputs["plain"]


def test_changed_sphinx_extension_writes_every_page_again(book, monkeypatch):
    """Sphinx does not notice that an extension's code changed: the build does, and writes every page."""
    from livingreview.build import sphinx

    monkeypatch.setattr(sphinx, "extensions_hash", lambda config: "an extension changed")
    text = book["manifest"].read_text()
    try:
        book["manifest"].write_text("# another comment\n" + text)  # past the nothing-changed check
        report = lb.run_build(data_dir=book["data"], build_dir=book["build"], manifest=book["manifest"],
                              jobs=2, log=lambda *a: None)
    finally:
        book["manifest"].write_text(text)
    assert report.executed == [] and report.sphinx == "fresh"


def test_cli_passes_force_and_jobs(monkeypatch):
    from livingreview import cli

    seen = {}

    def fake_build(**kw):
        seen.update(kw)
        return Path("/nowhere")

    from livingreview import build as package

    monkeypatch.setattr(package, "build", fake_build)
    assert cli.main(["build", "--force", "--jobs", "3"]) == 0
    assert seen["force"] is True and seen["jobs"] == 3


def test_the_citation_metadata_is_an_input_of_the_build(tmp_path, monkeypatch):
    """The footer, the citation block and the repository buttons come from CITATION.cff: changing it must rebuild."""
    from livingreview.build import citation
    from livingreview.build.digest import build_key
    from livingreview.config import DATA_DIR, MANIFEST, ROOT

    cff = tmp_path / "CITATION.cff"
    monkeypatch.setattr(citation, "CITATION", cff)
    keys = []
    for text in ("cff-version: 1.2.0\n", "cff-version: 1.2.0\nrepository-code: https://example.org/r\n"):
        cff.write_text(text, encoding="utf-8")
        keys.append(build_key(MANIFEST, DATA_DIR, None, tmp_path / "out", ROOT / "_config.yml"))
    assert keys[0] != keys[1]
