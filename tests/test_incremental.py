"""Incremental builds: only what changed is executed, and Sphinx runs only when the staged source changed.

A part of the book (9 notebooks of 6 templates, two outcomes) is built once from a copy of ``data/`` into a
temporary build directory, with its own table of contents. Each test then changes one thing — one event count,
one adverse-event count, ``published.csv``, a template — and asks which notebooks the build executes, on a copy
of the executed notebooks (so the tests do not depend on each other), then puts the data back. Timing is not
tested here: ``benchmarks/run_benchmarks.py`` measures it.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml

from livingreview import build as lb
from livingreview.config import DATA_DIR, NOTEBOOKS_DIR
from livingreview.dataset import load_dataset

OUTCOMES = ("overall_response", "vod")


def _slug(outcome: str) -> str:
    return outcome.replace("_", "-")


def _bump(path: Path, outcome_match) -> str:
    """Change the event count of the first row (with counts) whose outcome matches; return that outcome."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    h = rows[0]
    io_, ie, it = h.index("outcome"), h.index("events"), h.index("total")
    for r in rows[1:]:
        if outcome_match(r[io_]) and r[ie]:
            e, n = int(r[ie]), int(r[it])
            r[ie] = str(e + 1 if e < n else e - 1)
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerows(rows)
            path.write_text(out.getvalue(), encoding="utf-8")
            return r[io_]
    raise AssertionError("no row to change")


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """A built part of the book: (workspace, manifest, toc, data dir, build dir, first report)."""
    root = tmp_path_factory.mktemp("incremental")
    data = root / "data"
    shutil.copytree(DATA_DIR, data, ignore=shutil.ignore_patterns("staging"))
    bias = root / "templates" / "bias.ipynb"  # a copy, so that the template test can change it
    bias.parent.mkdir()
    shutil.copyfile(NOTEBOOKS_DIR / "bias.ipynb", bias)
    pages = [{"template": "methods.ipynb", "output": "methods/statistics.ipynb"},
             {"template": "quality.ipynb", "output": "results/quality.ipynb"}]
    for o in OUTCOMES:
        pages.append({"template": str(bias), "output": f"results/{_slug(o)}-bias.ipynb", "parameters": {"outcome": o}})
        pages.append({"template": "sensitivity.ipynb", "output": f"results/{_slug(o)}-sensitivity.ipynb",
                      "parameters": {"outcome": o}})
    pages += [{"template": "adverse_events.ipynb", "output": "results/adverse-events.ipynb"},
              {"template": "discussion.ipynb", "output": "discussion.ipynb"},
              {"template": "conclusion.ipynb", "output": "conclusion.ipynb"}]
    real = yaml.safe_load(Path(lb.MANIFEST).read_text(encoding="utf-8"))["templates"]
    templates = {t: real[t] for t in ("methods.ipynb", "quality.ipynb", "sensitivity.ipynb", "adverse_events.ipynb",
                                      "discussion.ipynb", "conclusion.ipynb")}
    templates[str(bias)] = real["bias.ipynb"]
    manifest = root / "manifest.yml"
    manifest.write_text(yaml.safe_dump({"templates": templates, "pages": pages}, sort_keys=False))
    toc = root / "_toc.yml"
    toc.write_text(yaml.safe_dump({"format": "jb-book", "root": "methods/statistics", "chapters": [
        {"file": str(Path(p["output"]).with_suffix("").as_posix())} for p in pages[1:]]}, sort_keys=False))
    build_dir = root / "build"
    first = lb.run_build(data_dir=data, build_dir=build_dir, manifest=manifest, toc=toc, jobs=2, log=lambda *a: None)
    return {"root": root, "data": data, "manifest": manifest, "toc": toc, "build": build_dir, "first": first,
            "bias": bias, "outputs": [p["output"] for p in pages]}


def _execute(book, tmp_path, **kw) -> lb.BuildReport:
    """Execution only, on a copy of the book's executed notebooks: which pages would the build execute now?"""
    work = tmp_path / "work"
    if not work.exists():
        shutil.copytree(book["build"] / "work", work)
    report = lb.BuildReport()
    lb.execute_pages(lb.load_manifest(book["manifest"]), book["data"], None, load_dataset(book["data"]), work,
                     kw.pop("jobs", 2), kw.pop("force", False), log=lambda *a: None, report=report)
    return report


@pytest.fixture
def restore(book):
    """Put back every data file and the template a test changes."""
    saved = {p: p.read_bytes() for p in [*book["data"].glob("*.csv"), book["bias"]]}
    yield
    for path, content in saved.items():
        path.write_bytes(content)


def test_first_build_executes_every_page_in_forked_kernels(book):
    first = book["first"]
    assert set(first.executed) == set(book["outputs"]) and first.sphinx
    assert first.kernels == "forked"
    assert (first.published / "results" / "quality.html").is_file()


def test_second_build_executes_nothing_and_does_not_run_sphinx(book):
    report = lb.run_build(data_dir=book["data"], build_dir=book["build"], manifest=book["manifest"], toc=book["toc"],
                          jobs=2, log=lambda *a: None)
    assert report.nothing_changed and report.executed == [] and not report.sphinx
    assert report.published.resolve() == book["first"].published.resolve()


def test_unchanged_staged_source_does_not_run_sphinx(book):
    """A change that reaches no page (here a comment in the manifest) goes through every step but Sphinx."""
    text = book["manifest"].read_text()
    try:
        book["manifest"].write_text("# a comment\n" + text)
        report = lb.run_build(data_dir=book["data"], build_dir=book["build"], manifest=book["manifest"],
                              toc=book["toc"], jobs=2, log=lambda *a: None)
        assert not report.nothing_changed and report.executed == [] and not report.sphinx
        assert report.published.resolve() == book["first"].published.resolve()
    finally:
        book["manifest"].write_text(text)


def test_one_event_count_reruns_that_outcome_and_the_summaries(book, tmp_path, restore, capfd):
    changed = _bump(book["data"] / "outcomes.csv", lambda o: o == OUTCOMES[0])
    report = _execute(book, tmp_path)
    s = _slug(changed)
    assert set(report.executed) == {f"results/{s}-bias.ipynb", f"results/{s}-sensitivity.ipynb", "discussion.ipynb",
                                    "conclusion.ipynb"}
    assert set(report.unchanged) == set(book["outputs"]) - set(report.executed)
    err = capfd.readouterr().err
    assert "without encryption" not in err and "KeyboardInterrupt" not in err  # kernel console noise stays out


def test_adverse_event_count_reruns_the_adverse_events_page(book, tmp_path, restore):
    _bump(book["data"] / "outcomes.csv", lambda o: o.startswith("ae_"))
    report = _execute(book, tmp_path)
    assert set(report.executed) == {"results/adverse-events.ipynb", "discussion.ipynb", "conclusion.ipynb"}


def test_published_numbers_rerun_no_page_that_does_not_read_them(book, tmp_path, restore):
    path = book["data"] / "published.csv"
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    rows[1][rows[0].index("note")] = "changed by test_incremental"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    assert _execute(book, tmp_path).executed == []


def _set_note(path: Path, outcome: str, note: str) -> None:
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    h = rows[0]
    next(r for r in rows[1:] if r[h.index("outcome")] == outcome)[h.index("note")] = note
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


def test_outcome_rows_are_read_with_the_csv_module(book, tmp_path, restore):
    """A quoted cell may hold commas and line breaks: a change on the second line of a note is still a change of
    that outcome's row (the old filter split lines on ',' and lost continuation lines)."""
    path, outcome = book["data"] / "outcomes.csv", OUTCOMES[0]
    summaries = {"discussion.ipynb", "conclusion.ipynb"}
    ours = {f"results/{_slug(outcome)}-bias.ipynb", f"results/{_slug(outcome)}-sensitivity.ipynb"}
    _set_note(path, outcome, "first line, with a comma\nsecond line")
    assert set(_execute(book, tmp_path).executed) == ours | summaries
    _set_note(path, outcome, "first line, with a comma\nsecond line, changed")
    assert set(_execute(book, tmp_path).executed) == ours | summaries
    _set_note(path, "complete_remission", "another outcome's note, with a comma\nand a line break")
    assert set(_execute(book, tmp_path).executed) == summaries


def test_template_change_reruns_only_its_pages(book, tmp_path, restore):
    nb = nbformat.read(book["bias"], as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("One more sentence."))
    nbformat.write(nb, book["bias"])
    report = _execute(book, tmp_path)
    assert set(report.executed) == {f"results/{_slug(o)}-bias.ipynb" for o in OUTCOMES}


def test_force_executes_everything(book, tmp_path):
    report = _execute(book, tmp_path, force=True, jobs=1)
    assert set(report.executed) == set(book["outputs"]) and report.unchanged == []


def test_forked_and_plain_kernels_give_identical_notebooks(book, tmp_path, restore, monkeypatch):
    """Pre-importing in the fork server changes nothing in what a notebook shows."""
    _bump(book["data"] / "outcomes.csv", lambda o: o == OUTCOMES[1])
    forked = _execute(book, tmp_path / "forked")
    monkeypatch.setenv("LIVINGREVIEW_FORK_KERNELS", "0")
    plain = _execute(book, tmp_path / "plain")
    assert forked.kernels == "forked" and plain.kernels == "plain"
    assert forked.executed == plain.executed and forked.executed
    for output in forked.executed:
        assert (tmp_path / "forked" / "work" / output).read_bytes() == (tmp_path / "plain" / "work" / output).read_bytes()


def test_changed_sphinx_extension_writes_every_page_again(book, monkeypatch):
    """Sphinx does not notice that an extension's code changed: the build does, and passes --all."""
    forced = []
    real = lb.sphinx_build
    monkeypatch.setattr(lb, "sphinx_code_hash", lambda config=None: "an extension changed")
    monkeypatch.setattr(lb, "sphinx_build", lambda src, log=print, force=False: forced.append(force) or
                        real(src, log=log, force=force))
    text = book["manifest"].read_text()
    try:
        book["manifest"].write_text("# another comment\n" + text)  # past the nothing-changed check
        report = lb.run_build(data_dir=book["data"], build_dir=book["build"], manifest=book["manifest"],
                              toc=book["toc"], jobs=2, log=lambda *a: None)
    finally:
        book["manifest"].write_text(text)
    assert report.executed == [] and report.sphinx and forced == [True]


def test_cli_passes_force_and_jobs(monkeypatch):
    from livingreview import cli

    seen = {}

    def fake_build(**kw):
        seen.update(kw)
        return Path("/nowhere")

    monkeypatch.setattr(lb, "build", fake_build)
    assert cli.main(["build", "--force", "--jobs", "3"]) == 0
    assert seen["force"] is True and seen["jobs"] == 3
